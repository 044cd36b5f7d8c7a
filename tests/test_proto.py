"""The API in proto/: generated code is fresh, and every message matches MLflow's wire format."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from google.protobuf.descriptor import Descriptor
from mlflow.protos import databricks_pb2, mlflow_artifacts_pb2, model_registry_pb2, service_pb2

from flowport.v1 import artifacts_pb2, http_rules, registry_pb2, tracking_pb2

# flowport's additions, which MLflow lacks (decision 1 in DESIGN.md): whole RPCs, and fields
# numbered from 1000 in MLflow's messages (e.g. GetLoggedModel.allow_deleted, a query flag in MLflow).
FLOWPORT_ONLY = {"LogSpans", "LogMetricStream"}
FLOWPORT_FIELD_NUMBERS = 1000


def test_generated_code_is_fresh():
    result = subprocess.run([sys.executable, "proto/generate.py", "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _shape(d: Descriptor, seen: set[str] | None = None) -> dict:
    """Field name → (number, type, repeated, nested shape): what decides JSON and wire compatibility."""
    seen = seen or set()
    out = {}
    for f in d.fields:
        if f.number >= FLOWPORT_FIELD_NUMBERS:
            continue
        nested = None
        if f.message_type is not None and f.message_type.full_name not in seen:
            nested = _shape(f.message_type, seen | {d.full_name})
        enum = sorted((v.name, v.number) for v in f.enum_type.values) if f.enum_type else None
        out[f.name] = (f.number, f.type, f.is_repeated, nested, enum)
    return out


def _mlflow_methods():
    for mod, svc in ((service_pb2, "MlflowService"), (model_registry_pb2, "ModelRegistryService")):
        yield from mod.DESCRIPTOR.services_by_name[svc].methods


def _ours():
    """Our tracking, registry and tracing RPCs by name (artifacts have their own package and test)."""
    return {
        m.name: m
        for svc in http_rules.SERVICES
        # MLflow defines its auth API outside its protos (tests/auth checks those paths against it).
        if svc.name not in ("ArtifactsService", "AuthService")
        for m in svc.methods
        if m.name not in FLOWPORT_ONLY
    }


def _unnamed(template: str) -> str:
    """`/traces/{assessment.trace_id}` → `/traces/{}`: MLflow names some path variables after fields
    its messages lack (UpdateAssessment's `{trace_id}`); we bind the field that holds the value."""
    return re.sub(r"\{[^}]*\}", "{}", template)


def _mlflow_counterpart(rpc: str):
    for m in _mlflow_methods():
        if m.name[0].upper() + m.name[1:] == rpc:
            return m
    raise AssertionError(f"{rpc} has no MLflow counterpart")


@pytest.mark.parametrize("rpc", sorted(_ours()))
def test_messages_match_mlflow(rpc):
    ours, theirs = _ours()[rpc], _mlflow_counterpart(rpc)
    assert ours.input_type.name == theirs.input_type.name
    assert _shape(ours.input_type) == _shape(theirs.input_type)
    assert _shape(ours.output_type) == _shape(theirs.output_type)


def test_http_paths_match_mlflow():
    """Every RPC we share with MLflow is served at MLflow's path and method."""
    ours = {(r.rpc, r.http_method, _unnamed(r.template)) for r in http_rules.all_rules()}
    shared = 0
    for m in _mlflow_methods():
        rpc = m.name[0].upper() + m.name[1:]
        if rpc not in _ours():
            continue
        for e in m.GetOptions().Extensions[databricks_pb2.rpc].endpoints:
            path = e.path if e.path.startswith("/") else "/" + e.path
            assert (rpc, e.method, _unnamed(f"/api/{e.since.major}.0{path}")) in ours
            shared += 1
    assert shared >= 73


def test_artifact_routes_match_mlflow():
    ours = {(r.http_method, r.template) for r in http_rules.all_rules()}
    for m in mlflow_artifacts_pb2.DESCRIPTOR.services_by_name["MlflowArtifactsService"].methods:
        for e in m.GetOptions().Extensions[databricks_pb2.rpc].endpoints:
            template = e.path.replace("<path:artifact_path>", "{artifact_path=**}")
            assert (e.method, f"/api/2.0{template}") in ours


def _mlflow_artifact_methods():
    return mlflow_artifacts_pb2.DESCRIPTOR.services_by_name["MlflowArtifactsService"].methods


@pytest.mark.parametrize("rpc", [m.name for m in _mlflow_artifact_methods()])
def test_artifact_messages_match_mlflow(rpc):
    """MLflow carries the artifact path in the URL only; our messages hold it in the field the
    path binds (so gRPC has it too). Every other field matches MLflow's."""
    theirs = next(m for m in _mlflow_artifact_methods() if m.name == rpc)
    ours = artifacts_pb2.DESCRIPTOR.services_by_name["ArtifactsService"].methods_by_name[
        rpc[0].upper() + rpc[1:]
    ]
    assert ours.input_type.name == theirs.input_type.name
    if ours.server_streaming or ours.client_streaming:
        return  # bytes: raw over HTTP, a stream of chunks over gRPC
    bound = {f for r in http_rules.all_rules() if r.method is ours for f in r.path_fields}
    shape = {k: v for k, v in _shape(ours.input_type).items() if k not in bound}
    assert shape == _shape(theirs.input_type)
    assert _shape(ours.output_type) == _shape(theirs.output_type)


def test_every_rpc_has_an_http_rule():
    with_rules = {r.method.full_name for r in http_rules.all_rules()}
    for svc in http_rules.SERVICES:
        for m in svc.methods:
            assert m.full_name in with_rules, m.full_name


def test_routes_are_unambiguous():
    """No two RPCs claim the same method + path."""
    seen = {}
    for r in http_rules.all_rules():
        key = (r.http_method, r.template)
        assert key not in seen, f"{key} bound to {seen[key]} and {r.rpc}"
        seen[key] = r.rpc


def test_registry_and_tracking_share_no_names():
    assert not set(tracking_pb2.DESCRIPTOR.message_types_by_name) & set(
        registry_pb2.DESCRIPTOR.message_types_by_name
    )
