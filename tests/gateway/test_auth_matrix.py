"""The permission matrix: every RPC the gateway serves × {anonymous, viewer, editor, manager, admin,
explicitly denied} → allowed or refused, from a table written here independently of auth/policy.py.

It drives the governance at the seam both doors and `GatewayService.call` use (`Governance.govern`
for unary calls, `Governance.guard` for streamed artifacts) with a recording stand-in for the rest of
the call path, because what must be shown is that a refused call never reaches it: the recorder sees
each call that got through, and the lookups the governance made to find a run's or trace's experiment
as calls of their own. The state database, the authenticator (real tokens) and the audit sink are
the real ones, and every call must leave exactly one audit record with the right outcome.
The same policy end to end, through real processes and the stock mlflow client, is in
test_auth_gateway.py.
"""

from __future__ import annotations

import asyncio
import pathlib

import pytest
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from flowport.auth import audit
from flowport.auth.access import Grant, ResourceKind, Role
from flowport.auth.config import AuthConfig
from flowport.auth.credentials import Credentials
from flowport.auth.store import AuthStore
from flowport.gateway.authorization import Governance
from flowport.gateway.call import Call
from flowport.gateway.service import make_snapshot
from flowport.v1 import registry_pb2, tracing_pb2, tracking_pb2
from flowport.v1.errors import ApiError
from flowport.v1.http_rules import SERVICES

# RPC → (the least a caller needs, whether the sample request targets experiment 1 / model "m").
# "any": any signed-in caller (searches: results are filtered); "admin": a gateway administrator.
EXPECTED: dict[str, tuple[str, bool]] = {
    # tracking
    "TrackingService.GetExperimentByName": ("viewer", True),
    "TrackingService.CreateExperiment": ("editor", False),
    "TrackingService.SearchExperiments": ("any", False),
    "TrackingService.GetExperiment": ("viewer", True),
    "TrackingService.DeleteExperiment": ("manager", True),
    "TrackingService.RestoreExperiment": ("manager", True),
    "TrackingService.UpdateExperiment": ("editor", True),
    "TrackingService.CreateRun": ("editor", True),
    "TrackingService.UpdateRun": ("editor", True),
    "TrackingService.DeleteRun": ("manager", True),
    "TrackingService.RestoreRun": ("manager", True),
    "TrackingService.LogMetric": ("editor", True),
    "TrackingService.LogParam": ("editor", True),
    "TrackingService.SetExperimentTag": ("editor", True),
    "TrackingService.DeleteExperimentTag": ("editor", True),
    "TrackingService.SetTag": ("editor", True),
    "TrackingService.DeleteTag": ("editor", True),
    "TrackingService.GetRun": ("viewer", True),
    "TrackingService.SearchRuns": ("any", False),
    "TrackingService.ListArtifacts": ("viewer", True),
    "TrackingService.GetMetricHistory": ("viewer", True),
    "TrackingService.GetMetricHistoryBulkInterval": ("viewer", True),
    "TrackingService.LogBatch": ("editor", True),
    "TrackingService.LogMetricStream": ("editor", True),
    "TrackingService.LogModel": ("editor", True),
    "TrackingService.LogInputs": ("editor", True),
    "TrackingService.LogOutputs": ("editor", True),
    "TrackingService.CreateLoggedModel": ("editor", True),
    "TrackingService.FinalizeLoggedModel": ("editor", True),
    "TrackingService.GetLoggedModel": ("viewer", True),
    "TrackingService.DeleteLoggedModel": ("manager", True),
    "TrackingService.SearchLoggedModels": ("any", False),
    "TrackingService.SetLoggedModelTags": ("editor", True),
    "TrackingService.DeleteLoggedModelTag": ("editor", True),
    "TrackingService.ListLoggedModelArtifacts": ("viewer", True),
    "TrackingService.LogLoggedModelParams": ("editor", True),
    # registry
    "ModelRegistryService.CreateRegisteredModel": ("editor", False),
    "ModelRegistryService.RenameRegisteredModel": ("editor", True),
    "ModelRegistryService.UpdateRegisteredModel": ("editor", True),
    "ModelRegistryService.DeleteRegisteredModel": ("manager", True),
    "ModelRegistryService.GetRegisteredModel": ("viewer", True),
    "ModelRegistryService.SearchRegisteredModels": ("any", False),
    "ModelRegistryService.GetLatestVersions": ("viewer", True),
    "ModelRegistryService.CreateModelVersion": ("editor", True),
    "ModelRegistryService.UpdateModelVersion": ("editor", True),
    "ModelRegistryService.TransitionModelVersionStage": ("editor", True),
    "ModelRegistryService.DeleteModelVersion": ("manager", True),
    "ModelRegistryService.GetModelVersion": ("viewer", True),
    "ModelRegistryService.SearchModelVersions": ("any", False),
    "ModelRegistryService.GetModelVersionDownloadUri": ("viewer", True),
    "ModelRegistryService.SetRegisteredModelTag": ("editor", True),
    "ModelRegistryService.SetModelVersionTag": ("editor", True),
    "ModelRegistryService.DeleteRegisteredModelTag": ("editor", True),
    "ModelRegistryService.DeleteModelVersionTag": ("manager", True),
    "ModelRegistryService.SetRegisteredModelAlias": ("editor", True),
    "ModelRegistryService.DeleteRegisteredModelAlias": ("manager", True),
    "ModelRegistryService.GetModelVersionByAlias": ("viewer", True),
    # tracing
    "TracingService.StartTraceV3": ("editor", True),
    "TracingService.GetTraceInfoV3": ("viewer", True),
    "TracingService.GetTrace": ("viewer", True),
    "TracingService.BatchGetTraces": ("viewer", True),
    "TracingService.BatchGetTraceInfos": ("viewer", True),
    "TracingService.SearchTracesV3": ("any", False),
    "TracingService.SetTraceTag": ("editor", True),
    "TracingService.DeleteTraceTag": ("editor", True),
    "TracingService.SetTraceTagV3": ("editor", True),
    "TracingService.DeleteTraceTagV3": ("editor", True),
    "TracingService.DeleteTraces": ("manager", True),
    "TracingService.DeleteTracesV3": ("manager", True),
    "TracingService.LinkTracesToRun": ("editor", True),
    "TracingService.LinkPromptsToTrace": ("editor", True),
    "TracingService.CreateAssessment": ("editor", True),
    "TracingService.GetAssessment": ("viewer", True),
    "TracingService.UpdateAssessment": ("editor", True),
    "TracingService.DeleteAssessment": ("editor", True),
    "TracingService.LogSpans": ("editor", True),
    # artifacts (paths under experiment 1)
    "ArtifactsService.DownloadArtifact": ("viewer", True),
    "ArtifactsService.UploadArtifact": ("editor", True),
    "ArtifactsService.ListArtifacts": ("viewer", True),
    "ArtifactsService.DeleteArtifact": ("editor", True),
    "ArtifactsService.CreateMultipartUpload": ("editor", True),
    "ArtifactsService.UploadMultipartPart": ("editor", True),
    "ArtifactsService.CompleteMultipartUpload": ("editor", True),
    "ArtifactsService.AbortMultipartUpload": ("editor", True),
    "ArtifactsService.GetPresignedDownloadUrl": ("viewer", True),
    # workspaces
    "WorkspaceService.ListWorkspaces": ("any", False),
    "WorkspaceService.GetWorkspace": ("viewer", False),
    "WorkspaceService.CreateWorkspace": ("admin", False),
    "WorkspaceService.UpdateWorkspace": ("admin", False),
    "WorkspaceService.DeleteWorkspace": ("admin", False),
    # auth (the sample names another user, "other", and experiment 1)
    "AuthService.CreateUser": ("admin", False),
    "AuthService.GetUser": ("admin", False),
    "AuthService.GetCurrentUser": ("any", False),
    "AuthService.ListUsers": ("admin", False),
    "AuthService.UpdateUserPassword": ("admin", False),
    "AuthService.UpdateUserAdmin": ("admin", False),
    "AuthService.DeleteUser": ("admin", False),
    "AuthService.GrantUserPermission": ("manager", True),
    "AuthService.RevokeUserPermission": ("manager", True),
    "AuthService.GetUserPermission": ("manager", True),
    "AuthService.CreateGroup": ("admin", False),
    "AuthService.DeleteGroup": ("admin", False),
    "AuthService.ListGroups": ("admin", False),
    "AuthService.AddGroupMember": ("admin", False),
    "AuthService.RemoveGroupMember": ("admin", False),
    "AuthService.CreateToken": ("admin", False),
    "AuthService.ListTokens": ("admin", False),
    "AuthService.RevokeToken": ("any", False),
    "AuthService.SetRoleBinding": ("admin", False),
    "AuthService.DeleteRoleBinding": ("admin", False),
    "AuthService.ListRoleBindings": ("admin", False),
    "AuthService.SetResourcePermission": ("manager", True),
    "AuthService.DeleteResourcePermission": ("manager", True),
    "AuthService.ListResourcePermissions": ("manager", True),
    "AuthService.SearchAuditEvents": ("admin", False),
}

PRINCIPALS = ["anonymous", "denied", "viewer", "editor", "manager", "admin"]
_RANK = {"any": 0, "viewer": 1, "editor": 2, "denied": 2, "manager": 3, "admin": 4}
STREAMED = {"DownloadArtifact", "UploadArtifact", "UploadMultipartPart"}
NARROWED_SEARCHES = {
    "TrackingService.SearchRuns",
    "TrackingService.SearchLoggedModels",
    "TracingService.SearchTracesV3",
}
METHODS = {f"{s.name}.{m.name}": m for s in SERVICES for m in s.methods}

# Sample values by field name: every target is experiment 1 (directly, or through run r1, trace t1,
# logged model lm1, an artifact path under 1/) or registered model "m".
SCALARS = {
    "experiment_id": "1", "run_id": "r1", "trace_id": "t1", "request_id": "t1", "model_id": "lm1",
    "source_run_id": "r1", "name": "m", "new_name": "m2", "experiment_name": "exp-one",
    "artifact_path": "1/r1/artifacts/f.txt", "path": "1/r1/artifacts", "source": "runs:/r1/model",
    "version": "1", "alias": "champion", "key": "k", "value": "v", "workspace_name": "default",
    "username": "other", "resource_type": "experiment", "resource_kind": "experiment", "resource_id": "1",
    "permission": "READ", "principal_kind": "user", "principal_name": "other", "role": "viewer",
    "group": "g", "token_id": "tok_unknown", "workspace": "default", "upload_id": "u1", "metric_key": "m",
}  # fmt: skip
REPEATED = {"experiment_ids": ["1"], "run_ids": ["r1"], "trace_ids": ["t1"], "request_ids": ["t1"]}


def expected(principal: str, rpc: str) -> str:
    if principal == "anonymous":
        return audit.Outcome.UNAUTHENTICATED
    need, targeted = EXPECTED[rpc]
    if principal == "denied" and targeted:
        return audit.Outcome.DENIED
    return audit.Outcome.ALLOWED if _RANK[principal] >= _RANK[need] else audit.Outcome.DENIED


def sample_request(rpc: str) -> Message:
    request = GetMessageClass(METHODS[rpc].input_type)()
    for field in request.DESCRIPTOR.fields:
        if field.name in SCALARS and field.type == field.TYPE_STRING and not field.is_repeated:
            setattr(request, field.name, SCALARS[field.name])
        elif field.name in REPEATED and field.is_repeated:
            getattr(request, field.name).extend(REPEATED[field.name])
    if isinstance(request, registry_pb2.CreateRegisteredModel):
        request.name = "new-model"  # its creator gets MANAGE on it: not on the "m" the matrix targets
    if isinstance(request, tracing_pb2.StartTraceV3):
        request.trace.trace_info.trace_location.mlflow_experiment.experiment_id = "1"
    if isinstance(request, tracing_pb2.CreateAssessment | tracing_pb2.UpdateAssessment):
        request.assessment.trace_id = "t1"
    if isinstance(request, tracing_pb2.SearchTracesV3):
        request.locations.add().mlflow_experiment.experiment_id = "1"
    return request


class Recorder:
    """The rest of the call path as the governance sees it: records what reached it and answers the
    lookups a backend would (run r1, trace t1, logged model lm1 and 'exp-one' are in experiment 1)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    async def __call__(self, call: Call, service: str) -> Message:
        self.calls.append(call)
        request = call.request
        if isinstance(request, tracking_pb2.GetRun):
            response = tracking_pb2.GetRun.Response()
            response.run.info.experiment_id = "1"
            return response
        if isinstance(request, tracing_pb2.GetTraceInfoV3):
            response = tracing_pb2.GetTraceInfoV3.Response()
            response.trace.trace_info.trace_location.mlflow_experiment.experiment_id = "1"
            return response
        if isinstance(request, tracking_pb2.GetLoggedModel):
            response = tracking_pb2.GetLoggedModel.Response()
            response.model.info.experiment_id = "1"
            return response
        if isinstance(request, tracking_pb2.GetExperimentByName):
            response = tracking_pb2.GetExperimentByName.Response()
            response.experiment.experiment_id = "1"
            return response
        if isinstance(request, tracking_pb2.CreateExperiment):
            return tracking_pb2.CreateExperiment.Response(experiment_id="99")
        if isinstance(request, registry_pb2.CreateRegisteredModel):
            return registry_pb2.CreateRegisteredModel.Response(
                registered_model=registry_pb2.RegisteredModel(name=request.name)
            )
        if isinstance(request, tracking_pb2.SearchExperiments):
            return tracking_pb2.SearchExperiments.Response(
                experiments=[tracking_pb2.Experiment(experiment_id=i) for i in ("1", "2", "3")]
            )
        if isinstance(request, registry_pb2.SearchRegisteredModels):
            return registry_pb2.SearchRegisteredModels.Response(
                registered_models=[registry_pb2.RegisteredModel(name=n) for n in ("m", "m3")]
            )
        if isinstance(request, registry_pb2.SearchModelVersions):
            return registry_pb2.SearchModelVersions.Response(
                model_versions=[registry_pb2.ModelVersion(name=n, version="1") for n in ("m", "m3")]
            )
        if isinstance(request, tracing_pb2.BatchGetTraceInfos):
            response = tracing_pb2.BatchGetTraceInfos.Response()
            for experiment_id in ("1", "2"):
                response.trace_infos.add().trace_location.mlflow_experiment.experiment_id = experiment_id
            return response
        return type(request).Response()

    def reached(self, call: Call) -> bool:
        return any(c is call for c in self.calls)


@pytest.fixture
def governed(tmp_path: pathlib.Path):
    """A governance on a fresh state database with one user per role; their tokens by role."""
    store = AuthStore(f"sqlite:///{tmp_path / 'gateway.db'}")
    tokens = {}
    for name in ("viewer", "editor", "manager", "admin", "denied"):
        store.create_user(name, "pw-" + name, is_admin=name == "admin")
        tokens[name] = store.create_token(name)[1]
    store.bind_role("default", "user", "viewer", Role.VIEWER)
    store.bind_role("default", "user", "editor", Role.EDITOR)
    store.bind_role("default", "user", "manager", Role.MANAGER)
    store.create_group("contractors")
    store.add_member("contractors", "denied")
    store.bind_role("default", "group", "contractors", Role.EDITOR)
    # Explicit denials, on the user and through its group: they beat the group's editor role.
    store.set_permission("default", ResourceKind.EXPERIMENT, "1", "user", "denied", Grant.DENY)
    store.set_permission("default", ResourceKind.REGISTERED_MODEL, "m", "group", "contractors", Grant.DENY)
    governance = Governance(AuthConfig(), store)
    yield governance, tokens
    store.close()


def call_as(principal: str, rpc: str, tokens: dict[str, str]) -> Call:
    credentials = Credentials() if principal == "anonymous" else Credentials(f"Bearer {tokens[principal]}")
    return Call(
        rpc=rpc.split(".")[1],
        request=sample_request(rpc),
        workspace="default",
        credentials=credentials,
        source="10.1.2.3",
        user_agent="matrix",
        request_id=f"{principal}/{rpc}",
    )


async def run(governance: Governance, call: Call, rpc: str, recorder: Recorder) -> tuple[str, str]:
    """(outcome, error code) of one call; a streamed RPC runs its body inside `guard`, as the doors do."""
    service = METHODS[rpc].containing_service.full_name
    snapshot = make_snapshot(1, {}, {"default": "local"})
    try:
        if call.rpc in STREAMED:
            async with governance.guard(call, service, recorder, snapshot):
                recorder.calls.append(call)  # the door's body: the bytes would move here
        else:
            await governance.govern(call, service, recorder, snapshot)
    except ApiError as err:
        if err.error_code == "PERMISSION_DENIED":
            return audit.Outcome.DENIED, err.error_code
        if err.error_code == "UNAUTHENTICATED":
            return audit.Outcome.UNAUTHENTICATED, err.error_code
        return audit.Outcome.ALLOWED, err.error_code  # got through; the call itself then failed
    return audit.Outcome.ALLOWED, ""


def test_the_expectations_cover_every_rpc_the_gateway_serves():
    assert set(EXPECTED) == set(METHODS)


def test_every_rpc_for_every_principal(governed):
    governance, tokens = governed

    async def matrix() -> tuple[list[str], int]:
        governance.start()
        mismatches, calls = [], 0
        try:
            for principal in PRINCIPALS:
                for rpc in sorted(METHODS):
                    recorder = Recorder()
                    call = call_as(principal, rpc, tokens)
                    outcome, code = await run(governance, call, rpc, recorder)
                    calls += 1
                    want = expected(principal, rpc)
                    if outcome != want:
                        mismatches.append(f"{principal} {rpc}: {outcome} ({code}), expected {want}")
                    backend_service = not rpc.startswith(("AuthService.", "WorkspaceService."))
                    # A search narrowed to nothing (the denied caller asked for experiment 1 only) is
                    # answered empty without calling the backend.
                    narrowed = principal == "denied" and rpc in NARROWED_SEARCHES
                    should_reach = outcome == audit.Outcome.ALLOWED and not narrowed
                    if backend_service and recorder.reached(call) != should_reach:
                        mismatches.append(
                            f"{principal} {rpc}: {outcome} but reached={recorder.reached(call)}"
                        )
                    if outcome != audit.Outcome.ALLOWED:
                        # Refused before anything but lookups: no call made on the caller's behalf.
                        assert all(c.request_id == "" for c in recorder.calls if c is not call)
            assert await governance.audit.flush()
            return mismatches, calls
        finally:
            await governance.close()

    mismatches, calls = asyncio.run(matrix())
    assert not mismatches, "\n".join(mismatches)
    assert calls == len(PRINCIPALS) * len(METHODS)

    # Exactly one audit record per call, with the outcome the caller saw.
    store = AuthStore(governance.store.url)
    records = audit.search(store.engine, audit.AuditQuery(limit=100_000))
    store.close()
    by_request: dict[str, list[audit.AuditRecord]] = {}
    for record in records:
        by_request.setdefault(record.request_id, []).append(record)
    assert len(records) == calls == len(by_request)
    for principal in PRINCIPALS:
        for rpc in METHODS:
            (record,) = by_request[f"{principal}/{rpc}"]
            assert record.outcome == expected(principal, rpc), (principal, rpc)
            assert record.action == rpc.split(".")[1] and record.workspace == "default"
            assert record.principal == principal and record.source_ip == "10.1.2.3"
            assert record.status_code == {"denied": 403, "unauthenticated": 401}.get(
                record.outcome, record.status_code
            )
    # A record names the targets: a run and the experiment it was found in.
    (log_batch,) = by_request["denied/TrackingService.LogBatch"]
    assert log_batch.resources == ["run:r1", "experiment:1"]
    assert log_batch.request_params == {"run_id": "r1"}
    assert all(tokens[p] not in str(r.to_json()) for r in records for p in tokens)


def test_searches_return_only_what_the_caller_may_read(governed):
    governance, tokens = governed
    store = governance.store
    store.create_user("guest", "pw")
    guest = store.create_token("guest")[1]
    store.set_permission("default", ResourceKind.EXPERIMENT, "3", "user", "guest", Grant.READ)
    store.set_permission("default", ResourceKind.REGISTERED_MODEL, "m3", "user", "guest", Grant.READ)
    snapshot = make_snapshot(1, {}, {"default": "local"})

    async def search(token: str, rpc: str, request: Message) -> tuple[Message, Recorder]:
        recorder = Recorder()
        call = Call(rpc=rpc.split(".")[1], request=request, credentials=Credentials(f"Bearer {token}"))
        response = await governance.govern(
            call, METHODS[rpc].containing_service.full_name, recorder, snapshot
        )
        return response, recorder

    async def go():
        try:
            experiments, _ = await search(
                guest, "TrackingService.SearchExperiments", tracking_pb2.SearchExperiments()
            )
            assert [e.experiment_id for e in experiments.experiments] == ["3"]
            experiments, _ = await search(
                tokens["denied"], "TrackingService.SearchExperiments", tracking_pb2.SearchExperiments()
            )
            assert [e.experiment_id for e in experiments.experiments] == ["2", "3"]  # an editor, denied 1
            experiments, _ = await search(
                tokens["viewer"], "TrackingService.SearchExperiments", tracking_pb2.SearchExperiments()
            )
            assert [e.experiment_id for e in experiments.experiments] == ["1", "2", "3"]
            models, _ = await search(
                guest, "ModelRegistryService.SearchRegisteredModels", registry_pb2.SearchRegisteredModels()
            )
            assert [m.name for m in models.registered_models] == ["m3"]
            versions, _ = await search(
                tokens["denied"],
                "ModelRegistryService.SearchModelVersions",
                registry_pb2.SearchModelVersions(),
            )
            assert [v.name for v in versions.model_versions] == ["m3"]
            traces, _ = await search(
                tokens["denied"],
                "TracingService.BatchGetTraceInfos",
                tracing_pb2.BatchGetTraceInfos(trace_ids=["a", "b"]),
            )
            assert [t.trace_location.mlflow_experiment.experiment_id for t in traces.trace_infos] == ["2"]
            # A run search is narrowed before it is sent: the backend never sees experiment 1.
            runs, recorder = await search(
                guest, "TrackingService.SearchRuns", tracking_pb2.SearchRuns(experiment_ids=["1", "3"])
            )
            assert [list(c.request.experiment_ids) for c in recorder.calls] == [["3"]]
            # Nothing readable asked for: an empty answer, and the backend is not called at all.
            runs, recorder = await search(
                guest, "TrackingService.SearchRuns", tracking_pb2.SearchRuns(experiment_ids=["1"])
            )
            assert runs == tracking_pb2.SearchRuns.Response() and recorder.calls == []
            logged, recorder = await search(
                tokens["denied"],
                "TrackingService.SearchLoggedModels",
                tracking_pb2.SearchLoggedModels(experiment_ids=["1"]),
            )
            assert recorder.calls == []
            request = tracing_pb2.SearchTracesV3()
            for experiment_id in ("1", "2"):
                request.locations.add().mlflow_experiment.experiment_id = experiment_id
            _, recorder = await search(tokens["denied"], "TracingService.SearchTracesV3", request)
            (sent,) = recorder.calls
            assert [loc.mlflow_experiment.experiment_id for loc in sent.request.locations] == ["2"]
        finally:
            await governance.close()

    asyncio.run(go())


def test_creators_manage_what_they_create_and_grants_follow_renames_and_deletes(governed):
    governance, tokens = governed
    store = governance.store
    snapshot = make_snapshot(1, {}, {"default": "local"})

    async def as_editor(rpc: str, request: Message) -> None:
        call = Call(
            rpc=rpc.split(".")[1], request=request, credentials=Credentials(f"Bearer {tokens['editor']}")
        )
        await governance.govern(call, METHODS[rpc].containing_service.full_name, Recorder(), snapshot)

    async def go():
        try:
            await as_editor("TrackingService.CreateExperiment", tracking_pb2.CreateExperiment(name="mine"))
            assert (
                store.get_permission("default", ResourceKind.EXPERIMENT, "99", "user", "editor")
                is Grant.MANAGE
            )
            # Now the editor may delete its own experiment, not anyone else's.
            await as_editor(
                "TrackingService.DeleteExperiment", tracking_pb2.DeleteExperiment(experiment_id="99")
            )
            with pytest.raises(ApiError) as err:
                await as_editor(
                    "TrackingService.DeleteExperiment", tracking_pb2.DeleteExperiment(experiment_id="2")
                )
            assert err.value.error_code == "PERMISSION_DENIED"
            await as_editor(
                "ModelRegistryService.CreateRegisteredModel", registry_pb2.CreateRegisteredModel(name="fresh")
            )
            kind = ResourceKind.REGISTERED_MODEL
            assert store.get_permission("default", kind, "fresh", "user", "editor") is Grant.MANAGE
            await as_editor(
                "ModelRegistryService.RenameRegisteredModel",
                registry_pb2.RenameRegisteredModel(name="fresh", new_name="renamed"),
            )
            assert store.get_permission("default", kind, "fresh", "user", "editor") is None
            assert store.get_permission("default", kind, "renamed", "user", "editor") is Grant.MANAGE
            await as_editor(
                "ModelRegistryService.DeleteRegisteredModel",
                registry_pb2.DeleteRegisteredModel(name="renamed"),
            )
            assert store.list_permissions("default", kind, "renamed") == []
        finally:
            await governance.close()

    asyncio.run(go())


def test_artifact_paths_are_read_as_the_proxy_reads_them(governed):
    """`./1/...` is experiment 1's folder to the proxy, so it is to the check; `..` is refused."""
    governance, tokens = governed
    snapshot = make_snapshot(1, {}, {"default": "local"})
    service = "flowport.v1.artifacts.ArtifactsService"

    async def attempt(path: str) -> str:
        request = GetMessageClass(METHODS["ArtifactsService.DeleteArtifact"].input_type)(artifact_path=path)
        call = Call(
            rpc="DeleteArtifact", request=request, credentials=Credentials(f"Bearer {tokens['denied']}")
        )
        recorder = Recorder()
        try:
            await governance.govern(call, service, recorder, snapshot)
        except ApiError as err:
            assert not recorder.calls
            return err.error_code
        return "allowed"

    async def go():
        try:
            return [await attempt(p) for p in ("./1/r1/artifacts/f", "1//r1/f", "2/../1/r1/f", "2/r2/f")]
        finally:
            await governance.close()

    assert asyncio.run(go()) == [
        "PERMISSION_DENIED",
        "PERMISSION_DENIED",
        "INVALID_PARAMETER_VALUE",
        "allowed",
    ]
