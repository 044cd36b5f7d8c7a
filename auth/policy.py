"""The policy table: for every RPC the gateway serves, exactly one `Rule` saying what the caller
needs (a test fails when an RPC has none, so a new RPC cannot slip through unguarded).

A rule names where its target is in the request — often inside the body: LogBatch's run, whose
experiment is what is checked; CreateModelVersion's source run — and the gateway finds the
experiment behind a run, trace or logged model by asking the backend (auth never imports adapters).
Levels follow MLflow's basic-auth app (reference/peers.md §5.2): read calls need READ, writes EDIT,
deletes MANAGE; creating an experiment or model needs the workspace's editor role and makes the
creator its manager; searches need nothing up front and return only what the caller may read.
"""

from __future__ import annotations

import dataclasses

from flowport.auth.access import Level, ResourceKind, Role

EXPERIMENT, MODEL = ResourceKind.EXPERIMENT, ResourceKind.REGISTERED_MODEL
READ, EDIT, MANAGE = Level.READ, Level.EDIT, Level.MANAGE


# --- where a target is: a dotted field path in the request, and what it names ---------------------


# MLflow's deprecated spellings a request may carry instead: both are checked, so an old field name
# cannot carry a call past its check.
ALIASES = {"run_id": ("run_uuid",)}


@dataclasses.dataclass(frozen=True)
class Target:
    field: str  # dotted path into the request; a repeated field names several targets

    kind = EXPERIMENT  # what is checked: the experiment (or registered model) behind the value
    lookup = ""  # how the gateway finds the experiment from the value ("" = the value is the id)


class ExperimentId(Target):
    pass


class ExperimentName(Target):
    lookup = "experiment_name"


class RunId(Target):
    lookup = "run"


class SourceRun(Target):
    """A model version's `source` when it is a `runs:/<run_id>/...` URI."""

    lookup = "source_run"


class TraceId(Target):
    lookup = "trace"


class LoggedModelId(Target):
    lookup = "logged_model"


class ArtifactPath(Target):
    """An mlflow-artifacts path: `[workspaces/<ws>/]<experiment_id>/...`, as MLflow lays them out."""

    lookup = "artifact_path"


class ModelName(Target):
    kind = MODEL


@dataclasses.dataclass(frozen=True)
class Check:
    level: Level
    target: Target
    optional: bool = False  # an empty field skips the check (else the workspace role must suffice)


# --- what a call needs ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OnResources:
    """Every check passes: the caller holds the level on each target resource."""

    checks: tuple[Check, ...]


@dataclasses.dataclass(frozen=True)
class InWorkspace:
    """A role in the call's workspace (creating experiments and models)."""

    role: Role


@dataclasses.dataclass(frozen=True)
class SignedIn:
    """Any authenticated caller (results may still be filtered)."""


@dataclasses.dataclass(frozen=True)
class GatewayAdmin:
    """A gateway administrator."""


@dataclasses.dataclass(frozen=True)
class SelfOrAdmin:
    """The request's `field` names the caller (empty means the caller), or the caller is an admin."""

    field: str


@dataclasses.dataclass(frozen=True)
class WorkspaceAdmin:
    """The admin role in the workspace the request's `field` names (empty: the call's workspace)."""

    field: str


@dataclasses.dataclass(frozen=True)
class WorkspaceMember:
    """Any standing (a role, or a grant) in the workspace the request's `field` names."""

    field: str


@dataclasses.dataclass(frozen=True)
class ResourceManager:
    """MANAGE on the resource the request names by kind and id fields (granting permissions on it)."""

    kind_field: str
    id_field: str


Need = (
    OnResources | InWorkspace | SignedIn | GatewayAdmin | SelfOrAdmin | WorkspaceAdmin | WorkspaceMember
    | ResourceManager
)  # fmt: skip


# --- what happens around an allowed call ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RequestFilter:
    """Drop the ids the caller may not read from a repeated request field before the call; with none
    left, answer an empty response without calling the backend."""

    field: str  # e.g. "experiment_ids"; "locations" holds trace locations
    id_path: str = ""  # path from each element to the experiment id ("" = the element is the id)


@dataclasses.dataclass(frozen=True)
class ResponseFilter:
    """Drop the response items the caller may not read."""

    field: str  # the repeated response field
    kind: ResourceKind | None  # None: the items are workspaces (kept where the caller is a member)
    id_path: str  # path from each item to the resource id


@dataclasses.dataclass(frozen=True)
class Creates:
    """The caller becomes MANAGE on what it created (MLflow: creators get MANAGE)."""

    kind: ResourceKind
    response_id: str  # path to the new resource's id in the response


@dataclasses.dataclass(frozen=True)
class Renames:
    """Permissions follow a renamed resource."""

    kind: ResourceKind
    old_field: str
    new_field: str


@dataclasses.dataclass(frozen=True)
class Forgets:
    """Permissions on a deleted resource are dropped: a registered model's name can be taken again,
    and the new model must not inherit the old one's grants."""

    kind: ResourceKind
    field: str


@dataclasses.dataclass(frozen=True)
class Rule:
    need: Need
    request_filter: RequestFilter | None = None
    response_filter: ResponseFilter | None = None
    creates: Creates | None = None
    renames: Renames | None = None
    forgets: Forgets | None = None


def on(level: Level, *targets: Target, optional: tuple[Target, ...] = ()) -> Rule:
    checks = tuple(Check(level, t) for t in targets)
    return Rule(OnResources(checks + tuple(Check(READ, t, optional=True) for t in optional)))


_EXPERIMENT_IN_TRACE = "trace.trace_info.trace_location.mlflow_experiment.experiment_id"
_TRACE_EXPERIMENT = "trace_location.mlflow_experiment.experiment_id"

TRACKING = {
    "GetExperimentByName": on(READ, ExperimentName("experiment_name")),
    "CreateExperiment": Rule(InWorkspace(Role.EDITOR), creates=Creates(EXPERIMENT, "experiment_id")),
    "SearchExperiments": Rule(
        SignedIn(), response_filter=ResponseFilter("experiments", EXPERIMENT, "experiment_id")
    ),
    "GetExperiment": on(READ, ExperimentId("experiment_id")),
    "DeleteExperiment": on(MANAGE, ExperimentId("experiment_id")),
    "RestoreExperiment": on(MANAGE, ExperimentId("experiment_id")),
    "UpdateExperiment": on(EDIT, ExperimentId("experiment_id")),
    "CreateRun": on(EDIT, ExperimentId("experiment_id")),
    "UpdateRun": on(EDIT, RunId("run_id")),
    "DeleteRun": on(MANAGE, RunId("run_id")),
    "RestoreRun": on(MANAGE, RunId("run_id")),
    "LogMetric": on(EDIT, RunId("run_id")),
    "LogParam": on(EDIT, RunId("run_id")),
    "SetExperimentTag": on(EDIT, ExperimentId("experiment_id")),
    "DeleteExperimentTag": on(EDIT, ExperimentId("experiment_id")),
    "SetTag": on(EDIT, RunId("run_id")),
    "DeleteTag": on(EDIT, RunId("run_id")),
    "GetRun": on(READ, RunId("run_id")),
    "SearchRuns": Rule(SignedIn(), request_filter=RequestFilter("experiment_ids")),
    "ListArtifacts": on(READ, RunId("run_id")),
    "GetMetricHistory": on(READ, RunId("run_id")),
    "GetMetricHistoryBulkInterval": on(READ, RunId("run_ids")),
    "LogBatch": on(EDIT, RunId("run_id")),
    "LogMetricStream": on(EDIT, RunId("run_id")),  # each transaction's run (a stream may switch runs)
    "LogModel": on(EDIT, RunId("run_id")),
    "LogInputs": on(EDIT, RunId("run_id")),
    "LogOutputs": on(EDIT, RunId("run_id")),
    "CreateLoggedModel": on(EDIT, ExperimentId("experiment_id"), optional=(RunId("source_run_id"),)),
    "FinalizeLoggedModel": on(EDIT, LoggedModelId("model_id")),
    "GetLoggedModel": on(READ, LoggedModelId("model_id")),
    "DeleteLoggedModel": on(MANAGE, LoggedModelId("model_id")),
    "SearchLoggedModels": Rule(SignedIn(), request_filter=RequestFilter("experiment_ids")),
    "SetLoggedModelTags": on(EDIT, LoggedModelId("model_id")),
    "DeleteLoggedModelTag": on(EDIT, LoggedModelId("model_id")),
    "ListLoggedModelArtifacts": on(READ, LoggedModelId("model_id")),
    "LogLoggedModelParams": on(EDIT, LoggedModelId("model_id")),
}

REGISTRY = {
    "CreateRegisteredModel": Rule(InWorkspace(Role.EDITOR), creates=Creates(MODEL, "registered_model.name")),
    "RenameRegisteredModel": Rule(
        OnResources((Check(EDIT, ModelName("name")),)), renames=Renames(MODEL, "name", "new_name")
    ),
    "UpdateRegisteredModel": on(EDIT, ModelName("name")),
    "DeleteRegisteredModel": Rule(
        OnResources((Check(MANAGE, ModelName("name")),)), forgets=Forgets(MODEL, "name")
    ),
    "GetRegisteredModel": on(READ, ModelName("name")),
    "SearchRegisteredModels": Rule(
        SignedIn(), response_filter=ResponseFilter("registered_models", MODEL, "name")
    ),
    "GetLatestVersions": on(READ, ModelName("name")),
    # The source run (or logged model) is read: registering it must not leak another team's model.
    "CreateModelVersion": on(
        EDIT, ModelName("name"), optional=(RunId("run_id"), SourceRun("source"), LoggedModelId("model_id"))
    ),
    "UpdateModelVersion": on(EDIT, ModelName("name")),
    "TransitionModelVersionStage": on(EDIT, ModelName("name")),
    "DeleteModelVersion": on(MANAGE, ModelName("name")),
    "GetModelVersion": on(READ, ModelName("name")),
    "SearchModelVersions": Rule(SignedIn(), response_filter=ResponseFilter("model_versions", MODEL, "name")),
    "GetModelVersionDownloadUri": on(READ, ModelName("name")),
    "SetRegisteredModelTag": on(EDIT, ModelName("name")),
    "SetModelVersionTag": on(EDIT, ModelName("name")),
    "DeleteRegisteredModelTag": on(EDIT, ModelName("name")),
    "DeleteModelVersionTag": on(MANAGE, ModelName("name")),  # MLflow's asymmetry, kept (peers.md §5.2)
    "SetRegisteredModelAlias": on(EDIT, ModelName("name")),
    "DeleteRegisteredModelAlias": on(MANAGE, ModelName("name")),
    "GetModelVersionByAlias": on(READ, ModelName("name")),
}

TRACING = {
    "StartTraceV3": on(EDIT, ExperimentId(_EXPERIMENT_IN_TRACE)),
    "GetTraceInfoV3": on(READ, TraceId("trace_id")),
    "GetTrace": on(READ, TraceId("trace_id")),
    "BatchGetTraces": Rule(
        OnResources((Check(READ, ExperimentId("experiment_ids"), optional=True),)),
        response_filter=ResponseFilter("traces", EXPERIMENT, f"trace_info.{_TRACE_EXPERIMENT}"),
    ),
    "BatchGetTraceInfos": Rule(
        OnResources((Check(READ, ExperimentId("experiment_ids"), optional=True),)),
        response_filter=ResponseFilter("trace_infos", EXPERIMENT, _TRACE_EXPERIMENT),
    ),
    "SearchTracesV3": Rule(
        SignedIn(), request_filter=RequestFilter("locations", "mlflow_experiment.experiment_id")
    ),
    "SetTraceTag": on(EDIT, TraceId("request_id")),
    "DeleteTraceTag": on(EDIT, TraceId("request_id")),
    "SetTraceTagV3": on(EDIT, TraceId("trace_id")),
    "DeleteTraceTagV3": on(EDIT, TraceId("trace_id")),
    "DeleteTraces": on(MANAGE, ExperimentId("experiment_id")),
    "DeleteTracesV3": on(MANAGE, ExperimentId("experiment_id")),
    "LinkTracesToRun": on(EDIT, RunId("run_id"), TraceId("trace_ids")),
    "LinkPromptsToTrace": on(EDIT, TraceId("trace_id")),
    "CreateAssessment": on(EDIT, TraceId("assessment.trace_id")),
    "GetAssessment": on(READ, TraceId("trace_id")),
    "UpdateAssessment": on(EDIT, TraceId("assessment.trace_id")),
    "DeleteAssessment": on(EDIT, TraceId("trace_id")),
    "LogSpans": on(EDIT, ExperimentId("experiment_id")),
}

ARTIFACTS = {
    "DownloadArtifact": on(READ, ArtifactPath("artifact_path")),
    "UploadArtifact": on(EDIT, ArtifactPath("artifact_path")),
    "ListArtifacts": on(READ, ArtifactPath("path")),
    "DeleteArtifact": on(EDIT, ArtifactPath("artifact_path")),  # MLflow: can_update
    "CreateMultipartUpload": on(EDIT, ArtifactPath("artifact_path")),
    "UploadMultipartPart": on(EDIT, ArtifactPath("artifact_path")),
    "CompleteMultipartUpload": on(EDIT, ArtifactPath("artifact_path")),
    "AbortMultipartUpload": on(EDIT, ArtifactPath("artifact_path")),
    "GetPresignedDownloadUrl": on(READ, ArtifactPath("artifact_path")),
}

WORKSPACES = {
    "ListWorkspaces": Rule(SignedIn(), response_filter=ResponseFilter("workspaces", None, "name")),
    "GetWorkspace": Rule(WorkspaceMember("workspace_name")),
    "CreateWorkspace": Rule(GatewayAdmin()),
    "UpdateWorkspace": Rule(GatewayAdmin()),
    "DeleteWorkspace": Rule(GatewayAdmin()),
}

AUTH = {
    # MLflow's basic-auth user API (a stock AuthServiceClient calls these).
    "CreateUser": Rule(GatewayAdmin()),
    "GetUser": Rule(SelfOrAdmin("username")),
    "GetCurrentUser": Rule(SignedIn()),
    "ListUsers": Rule(GatewayAdmin()),
    "UpdateUserPassword": Rule(SelfOrAdmin("username")),
    "UpdateUserAdmin": Rule(GatewayAdmin()),
    "DeleteUser": Rule(GatewayAdmin()),
    "GrantUserPermission": Rule(ResourceManager("resource_type", "resource_id")),
    "RevokeUserPermission": Rule(ResourceManager("resource_type", "resource_id")),
    "GetUserPermission": Rule(ResourceManager("resource_type", "resource_id")),
    # flowport's: groups, tokens, role bindings, permissions for users and groups, audit.
    "CreateGroup": Rule(GatewayAdmin()),
    "DeleteGroup": Rule(GatewayAdmin()),
    "ListGroups": Rule(GatewayAdmin()),
    "AddGroupMember": Rule(GatewayAdmin()),
    "RemoveGroupMember": Rule(GatewayAdmin()),
    "CreateToken": Rule(SelfOrAdmin("username")),
    "ListTokens": Rule(SelfOrAdmin("username")),
    "RevokeToken": Rule(SignedIn()),  # the store checks the token is the caller's, unless an admin's call
    "SetRoleBinding": Rule(WorkspaceAdmin("workspace")),
    "DeleteRoleBinding": Rule(WorkspaceAdmin("workspace")),
    "ListRoleBindings": Rule(WorkspaceAdmin("workspace")),
    "SetResourcePermission": Rule(ResourceManager("resource_kind", "resource_id")),
    "DeleteResourcePermission": Rule(ResourceManager("resource_kind", "resource_id")),
    "ListResourcePermissions": Rule(ResourceManager("resource_kind", "resource_id")),
    "SearchAuditEvents": Rule(GatewayAdmin()),
}

# Service (short name) → RPC → rule.
POLICY: dict[str, dict[str, Rule]] = {
    "TrackingService": TRACKING,
    "ModelRegistryService": REGISTRY,
    "TracingService": TRACING,
    "ArtifactsService": ARTIFACTS,
    "WorkspaceService": WORKSPACES,
    "AuthService": AUTH,
}


def rule_for(service: str, rpc: str) -> Rule | None:
    """The rule of `rpc` in `service` (a full or short service name); None means no entry, which the
    gateway treats as a denial."""
    return POLICY.get(service.rsplit(".", 1)[-1], {}).get(rpc)
