"""Clients see `mlflow-artifacts:` only: native locations are mapped out of answers and back into requests."""

from __future__ import annotations

import pytest

from flowport.adapters.mlflow_rest.artifact_uris import ArtifactUriMap
from flowport.v1 import registry_pb2, tracing_pb2, tracking_pb2

S3 = ArtifactUriMap("s3://bucket/mlflow/")
PROXIED = ArtifactUriMap("mlflow-artifacts:/")


@pytest.mark.parametrize(
    "native, client",
    [
        ("s3://bucket/mlflow/1/abc/artifacts", "mlflow-artifacts:/1/abc/artifacts"),
        ("s3://bucket/mlflow", "mlflow-artifacts:/"),
        ("mlflow-artifacts://remote-host:5000/1/abc", "mlflow-artifacts:/1/abc"),
    ],
)
def test_native_locations_under_the_root_become_mlflow_artifacts(native, client):
    assert S3.to_client(native) == client


def test_locations_outside_the_root_are_left_alone():
    # A prefix that merely starts the same is another folder, not ours.
    assert S3.to_client("s3://bucket/mlflow-other/1") == "s3://bucket/mlflow-other/1"
    assert S3.to_client("gs://elsewhere/x") == "gs://elsewhere/x"


def test_requests_map_back_to_the_native_root():
    assert (
        S3.to_native("mlflow-artifacts:/1/abc/artifacts/model") == "s3://bucket/mlflow/1/abc/artifacts/model"
    )
    assert S3.to_native("runs:/abc/model") == "runs:/abc/model"
    # A remote that proxies its own artifacts keeps `mlflow-artifacts:` paths, authority dropped.
    assert PROXIED.to_native("mlflow-artifacts://host:1/1/abc") == "mlflow-artifacts:/1/abc"
    assert PROXIED.to_client("mlflow-artifacts:/1/abc") == "mlflow-artifacts:/1/abc"


def test_messages_are_rewritten_field_by_field():
    run = tracking_pb2.Run()
    run.info.artifact_uri = "s3://bucket/mlflow/3/r1/artifacts"
    run.data.tags.add(key="mlflow.artifactLocation", value="s3://bucket/mlflow/3/traces")
    run.data.tags.add(key="team", value="s3://bucket/mlflow/not-a-location-tag")
    S3.outbound(run)
    assert run.info.artifact_uri == "mlflow-artifacts:/3/r1/artifacts"
    assert [t.value for t in run.data.tags] == [
        "mlflow-artifacts:/3/traces",
        "s3://bucket/mlflow/not-a-location-tag",
    ]

    trace = tracing_pb2.TraceInfoV3()
    trace.tags["mlflow.artifactLocation"] = "s3://bucket/mlflow/3/traces/tr-1/artifacts"
    S3.outbound(trace)
    assert trace.tags["mlflow.artifactLocation"] == "mlflow-artifacts:/3/traces/tr-1/artifacts"

    request = registry_pb2.CreateModelVersion(name="m", source="mlflow-artifacts:/3/r1/artifacts/model")
    sent = S3.inbound(request)
    assert sent.source == "s3://bucket/mlflow/3/r1/artifacts/model"
    assert request.source == "mlflow-artifacts:/3/r1/artifacts/model"  # the caller's copy is untouched
