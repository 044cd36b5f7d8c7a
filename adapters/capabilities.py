"""What a backend can do, and which capability each RPC needs.

Every RPC of proto/ has exactly one entry (a test holds that), so a backend that lacks a
capability answers each of its calls the same way: ENDPOINT_NOT_FOUND naming the backend
and what it lacks, before anything is sent (clouds.md §6 note 1: MLflow clients fall back
on 404s). Capabilities are per backend instance: a Databricks backend's registry flavour,
for one, comes from its configuration.
"""

from __future__ import annotations

import enum


class Capability(enum.StrEnum):
    TRACKING = "tracking"
    EXPERIMENT_RENAME = "experiment_rename"
    REGISTRY = "registry"
    REGISTRY_STAGES = "registry_stages"
    REGISTRY_ALIASES = "registry_aliases"
    MODEL_RENAME = "model_rename"
    MODEL_DELETE = "model_delete"
    LOGGED_MODELS = "logged_models"
    ARTIFACTS = "artifacts"
    TRACING = "tracing"
    WORKSPACES = "workspaces"


# What a user reads when a backend lacks the capability: "<backend> does not support <this>".
DESCRIPTIONS: dict[Capability, str] = {
    Capability.TRACKING: "experiment tracking",
    Capability.EXPERIMENT_RENAME: "renaming experiments",
    Capability.REGISTRY: "the model registry",
    Capability.REGISTRY_STAGES: "model version stages (use aliases)",
    Capability.REGISTRY_ALIASES: "model aliases (use stages)",
    Capability.MODEL_RENAME: "renaming registered models",
    Capability.MODEL_DELETE: "deleting registered models",
    Capability.LOGGED_MODELS: "logged models",
    Capability.ARTIFACTS: "artifacts",
    Capability.TRACING: "tracing",
    Capability.WORKSPACES: "workspaces",
}

# Everything the OSS MLflow server does; a cloud backend starts from this and takes away.
MLFLOW_SERVER = frozenset(Capability) - {Capability.WORKSPACES}

_BY_CAPABILITY: dict[Capability, tuple[str, ...]] = {
    Capability.TRACKING: (
        "GetExperimentByName", "CreateExperiment", "SearchExperiments", "GetExperiment",
        "DeleteExperiment", "RestoreExperiment", "CreateRun", "UpdateRun", "DeleteRun", "RestoreRun",
        "LogMetric", "LogParam", "SetExperimentTag", "DeleteExperimentTag", "SetTag", "DeleteTag",
        "GetRun", "SearchRuns", "ListArtifacts", "GetMetricHistory", "GetMetricHistoryBulkInterval",
        "LogBatch", "LogModel", "LogInputs", "LogOutputs", "LogMetricStream",
    ),
    Capability.EXPERIMENT_RENAME: ("UpdateExperiment",),
    Capability.REGISTRY: (
        "CreateRegisteredModel", "UpdateRegisteredModel", "GetRegisteredModel", "SearchRegisteredModels",
        "CreateModelVersion", "UpdateModelVersion", "DeleteModelVersion", "GetModelVersion",
        "SearchModelVersions", "GetModelVersionDownloadUri", "SetRegisteredModelTag", "SetModelVersionTag",
        "DeleteRegisteredModelTag", "DeleteModelVersionTag",
    ),
    Capability.REGISTRY_STAGES: ("GetLatestVersions", "TransitionModelVersionStage"),
    Capability.REGISTRY_ALIASES: (
        "SetRegisteredModelAlias", "DeleteRegisteredModelAlias", "GetModelVersionByAlias",
    ),
    Capability.MODEL_RENAME: ("RenameRegisteredModel",),
    Capability.MODEL_DELETE: ("DeleteRegisteredModel",),
    Capability.LOGGED_MODELS: (
        "CreateLoggedModel", "FinalizeLoggedModel", "GetLoggedModel", "DeleteLoggedModel",
        "SearchLoggedModels", "SetLoggedModelTags", "DeleteLoggedModelTag", "ListLoggedModelArtifacts",
        "LogLoggedModelParams",
    ),
    Capability.ARTIFACTS: (
        "DownloadArtifact", "UploadArtifact", "DeleteArtifact", "CreateMultipartUpload",
        "UploadMultipartPart", "CompleteMultipartUpload", "AbortMultipartUpload", "GetPresignedDownloadUrl",
    ),
    Capability.TRACING: (
        "StartTraceV3", "GetTraceInfoV3", "GetTrace", "BatchGetTraces", "BatchGetTraceInfos",
        "SearchTracesV3", "SetTraceTag", "DeleteTraceTag", "SetTraceTagV3", "DeleteTraceTagV3",
        "DeleteTraces", "DeleteTracesV3", "LinkTracesToRun", "LinkPromptsToTrace", "CreateAssessment",
        "GetAssessment", "UpdateAssessment", "DeleteAssessment", "LogSpans",
    ),
}  # fmt: skip

# RPC name → the capability it needs.
NEEDED_BY: dict[str, Capability] = {rpc: cap for cap, rpcs in _BY_CAPABILITY.items() for rpc in rpcs}
