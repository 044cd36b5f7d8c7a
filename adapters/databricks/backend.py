"""The `databricks` backend: the managed MLflow of a Databricks workspace.

It is the `mlflow` backend plus what Databricks adds (clouds.md §3): credentials from
databricks-sdk's `Config` (any auth the SDK supports, configured like the SDK), Databricks' quotas
checked before a write is sent, artifacts through the signed URLs Databricks hands out, and the
registry flavour the workspace uses: the workspace registry (stages, no aliases) or Unity Catalog
(aliases, no stages; `unity_catalog.py`). Clients see `mlflow-artifacts:` locations only.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from databricks.sdk.core import Config
from google.protobuf.message import Message

from flowport.adapters.artifact_store import ArtifactStore, normalize_artifact_path
from flowport.adapters.backend import BackendConfigError, handler_name
from flowport.adapters.capabilities import MLFLOW_SERVER, Capability
from flowport.adapters.databricks.artifacts import (
    DBFS_ROOT,
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_PART_SIZE,
    DatabricksArtifactStore,
)
from flowport.adapters.databricks.auth import SDK_OPTIONS, DatabricksAuth, build_config
from flowport.adapters.databricks.quotas import QuotaGuard, Quotas, RunUsage
from flowport.adapters.mlflow_rest import idempotency
from flowport.adapters.mlflow_rest.backend import MlflowRestBackend
from flowport.adapters.readiness import Readiness
from flowport.adapters.registry import take_options
from flowport.adapters.resilience import RetryPolicy
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError, invalid_parameter

log = logging.getLogger("flowport.databricks")

WORKSPACE_REGISTRY = "workspace"
UNITY_CATALOG = "unity_catalog"
# How often a backend whose credentials could not be resolved tries again.
AUTH_RECHECK_SECONDS = 30.0
# Where requests would go before the SDK has resolved the host (from the environment or a profile):
# a name that never resolves, so nothing is sent anywhere by mistake.
_UNRESOLVED = "https://databricks-host-not-resolved.invalid"

_OWN_OPTIONS = frozenset(
    {
        "registry",
        "retry",
        "quotas",
        "artifact_part_size",
        "artifact_multipart_threshold",
        "auth_recheck_seconds",
        # For Unity Catalog's temporary credentials against an S3-compatible endpoint.
        "s3_endpoint_url",
        "s3_region",
    }
)


class DatabricksBackend(MlflowRestBackend):
    kind: ClassVar[str] = "databricks"
    target: ClassVar[str] = "Databricks"

    def __init__(
        self,
        name: str,
        *,
        sdk_options: dict[str, Any] | None = None,
        registry: str = WORKSPACE_REGISTRY,
        retry: RetryPolicy | None = None,
        quotas: Quotas | None = None,
        artifact_part_size: int = DEFAULT_PART_SIZE,
        artifact_multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        auth_recheck_seconds: float = AUTH_RECHECK_SECONDS,
        s3_endpoint_url: str | None = None,
        s3_region: str | None = None,
        max_threads: int = 8,
    ) -> None:
        if registry not in (WORKSPACE_REGISTRY, UNITY_CATALOG):
            raise BackendConfigError(
                f"databricks backend option registry must be '{WORKSPACE_REGISTRY}' or '{UNITY_CATALOG}', "
                f"not {registry!r}"
            )
        self._sdk_options = {k: v for k, v in (sdk_options or {}).items() if v is not None}
        host = self._sdk_options.get("host")
        verify = not _flag("skip_verify", self._sdk_options.get("skip_verify", False))
        super().__init__(
            name,
            url=_with_scheme(str(host)) if host else _UNRESOLVED,
            retry=retry,
            artifact_root=DBFS_ROOT,
            verify=verify,
            max_threads=max_threads,
        )
        self.registry = registry
        self.config: Config | None = None
        self.readiness = Readiness(
            name, self._resolve_credentials, recheck_seconds=float(auth_recheck_seconds)
        )
        self.quota = QuotaGuard(quotas or Quotas(), self._run_usage)
        self._artifacts = DatabricksArtifactStore(
            self.transport,
            backend=name,
            run_blocking=self.run_blocking,
            ready=self._ensure_ready,
            retry=retry,
            part_size=artifact_part_size,
            multipart_threshold=artifact_multipart_threshold,
            verify=verify,
        )
        if registry == UNITY_CATALOG:
            from flowport.adapters.databricks.unity_catalog import UnityCatalogRegistry

            self.uc_registry: Any = UnityCatalogRegistry(
                self.transport,
                locate_source=self._locate_source,
                run_blocking=self.run_blocking,
                backend_name=name,
                to_native=self.uris.to_native,
                for_client=self._for_client,
                s3_endpoint_url=s3_endpoint_url,
                s3_region=s3_region,
            )
            self.services = (self.uc_registry,)
            # Unity Catalog has aliases and no stages.
            self.capabilities = MLFLOW_SERVER - {Capability.REGISTRY_STAGES}
        else:
            self.uc_registry = None
            # The workspace registry has stages and no aliases (MLflow's client refuses them too).
            self.capabilities = MLFLOW_SERVER - {Capability.REGISTRY_ALIASES}

    @classmethod
    def from_config(cls, name: str, options: dict[str, Any], *, max_threads: int = 8) -> DatabricksBackend:
        take_options(cls.kind, options, set(), SDK_OPTIONS | _OWN_OPTIONS)
        return cls(
            name,
            sdk_options={k: v for k, v in options.items() if k in SDK_OPTIONS},
            registry=str(options.get("registry", WORKSPACE_REGISTRY)),
            retry=RetryPolicy.from_options(options.get("retry")),
            quotas=Quotas.from_options(options.get("quotas")),
            artifact_part_size=_size(
                "artifact_part_size", options.get("artifact_part_size", DEFAULT_PART_SIZE)
            ),
            artifact_multipart_threshold=_size(
                "artifact_multipart_threshold",
                options.get("artifact_multipart_threshold", DEFAULT_MULTIPART_THRESHOLD),
            ),
            auth_recheck_seconds=_seconds(options.get("auth_recheck_seconds", AUTH_RECHECK_SECONDS)),
            s3_endpoint_url=options.get("s3_endpoint_url"),
            s3_region=options.get("s3_region"),
            max_threads=max_threads,
        )

    def describe(self) -> str:
        if self.config is None:
            where = self.url if self.url != _UNRESOLVED else "host from the environment or a profile"
            return f"{where} ({self.registry} registry; credentials not resolved yet)"
        return f"{self.url} ({self.registry} registry; auth {self.config.auth_type})"

    # --- credentials -------------------------------------------------------------------------

    async def start(self) -> None:
        # A misconfigured backend must not stop the gateway (other workspaces may be fine): each of
        # its calls answers with the reason until a later attempt succeeds.
        await self.readiness.start()

    async def _ensure_ready(self) -> None:
        await self.readiness.ensure()

    async def _resolve_credentials(self) -> None:
        try:
            # The SDK asks the host for its metadata and OIDC endpoints: blocking I/O.
            config = await self.run_blocking(build_config, self.name, self._sdk_options)
        except BackendConfigError as err:
            # PERMISSION_DENIED, as when the workspace refuses the gateway's credentials: the
            # caller cannot fix it, and MLflow clients do not retry it for minutes.
            raise ApiError(str(err), "PERMISSION_DENIED") from None
        self.url = _with_scheme(config.host)
        # The host may have come from the environment or a profile: only now is it known.
        self.transport.set_base_url(self.url)
        self.transport.set_auth(DatabricksAuth(self.name, config, self.run_blocking))
        self.config = config

    # --- calls -------------------------------------------------------------------------------

    async def invoke(self, rpc: str, request: Message) -> Message:
        await self._ensure_ready()
        try:
            return await super().invoke(rpc, request)
        except ApiError as err:
            if err.message.startswith(f"Backend '{self.name}' is unavailable: cannot connect"):
                raise ApiError(
                    f"{err.message} (is {self.url} the workspace's URL, and reachable from the gateway?)",
                    err.error_code,
                ) from None
            raise

    def _handler(self, rpc: str) -> Any:
        # Unity Catalog serves every registry call, creates included, ahead of the backend's own;
        # none of them may fall through to the workspace registry.
        if self.uc_registry is not None and rpc in self.uc_registry.RPCS:
            handler = getattr(self.uc_registry, handler_name(rpc), None)
            if handler is None:
                raise ApiError(
                    f"{rpc} is not supported by backend '{self.name}' (Databricks Unity Catalog registry)",
                    "ENDPOINT_NOT_FOUND",
                )
            return handler
        return super()._handler(rpc)

    @property
    def artifact_store(self) -> ArtifactStore:
        return self._artifacts

    def _locate_source(self, uri: str) -> tuple[ArtifactStore, str]:
        """A model version's source (native or `mlflow-artifacts:`) → this backend's store and path."""
        native = self.uris.to_native(uri)
        root = DBFS_ROOT + "/"
        if not native.startswith(root):
            raise invalid_parameter(
                f"Model version source '{uri}' is not under {root} (the workspace's MLflow artifacts), "
                "so the gateway cannot copy its files"
            )
        return self._artifacts, normalize_artifact_path(native[len(root) :])

    # --- quotas: checked before a write is forwarded ---------------------------------------

    async def _run_usage(self, run_id: str) -> RunUsage:
        found = await self.transport.call(tracking_pb2.GetRun(run_id=run_id), idempotent=True)
        data = found.run.data
        return RunUsage({p.key for p in data.params}, {t.key for t in data.tags}, len(data.metrics))

    async def log_param(self, request: tracking_pb2.LogParam) -> Message:
        async with self.quota.logging(_run_id(request), params=[request.key]):
            return await self.forward(request, idempotent=True)

    async def log_metric(self, request: tracking_pb2.LogMetric) -> Message:
        async with self.quota.logging(_run_id(request), metric_steps=1):
            return await self.forward(request, idempotent=True)

    async def set_tag(self, request: tracking_pb2.SetTag) -> Message:
        async with self.quota.logging(_run_id(request), tags=[request.key]):
            return await self.forward(request, idempotent=True)

    async def delete_tag(self, request: tracking_pb2.DeleteTag) -> Message:
        response = await self.forward(request, idempotent=True)
        self.quota.tag_deleted(request.run_id, request.key)
        return response

    async def log_batch(self, request: tracking_pb2.LogBatch) -> Message:
        async with self.quota.logging(
            _run_id(request),
            params=[p.key for p in request.params],
            tags=[t.key for t in request.tags],
            metric_steps=len(request.metrics),
        ):
            return await super().log_batch(request)

    async def create_run(self, request: tracking_pb2.CreateRun) -> Message:
        self.quota.check_request(tags=[t.key for t in request.tags])
        async with self.quota.creating_run(request.experiment_id):
            response = await super().create_run(request)
        run = response.run
        # The request id tag stays upstream (and counts there), though clients never see it.
        tags = {t.key for t in run.data.tags} | {idempotency.REQUEST_ID_TAG}
        usage = RunUsage({p.key for p in run.data.params}, tags, len(run.data.metrics))
        self.quota.run_seen(run.info.run_id, run.info.experiment_id, usage)
        return response

    async def delete_run(self, request: tracking_pb2.DeleteRun) -> Message:
        response = await self.forward(request, idempotent=True)
        self.quota.run_deleted(request.run_id, deleted=True)
        return response

    async def restore_run(self, request: tracking_pb2.RestoreRun) -> Message:
        response = await self.forward(request, idempotent=True)
        self.quota.run_deleted(request.run_id, deleted=False)
        return response

    async def close(self) -> None:
        if self.uc_registry is not None:
            await self.uc_registry.close()
        await super().close()


def _run_id(request: Message) -> str:
    return getattr(request, "run_id", "") or getattr(request, "run_uuid", "")


def _with_scheme(host: str) -> str:
    # As the SDK does: a bare workspace name means https.
    return host if "://" in host else f"https://{host}"


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise BackendConfigError(f"databricks backend option {name} must be true or false, got {value!r}")


def _size(name: str, value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BackendConfigError(f"databricks backend option {name} must be a positive number of bytes")
    return value


def _seconds(value: object) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds <= 0 or isinstance(value, bool):
        raise BackendConfigError("databricks backend option auth_recheck_seconds must be a positive number")
    return seconds
