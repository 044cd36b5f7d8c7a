"""The `azureml` backend: an Azure Machine Learning workspace's MLflow endpoint.

It is the `mlflow` backend plus what Azure ML adds (clouds.md §2): the workspace's endpoint found
through ARM with azure-ai-ml (or given as an `azureml://` tracking URI), Entra ID bearer tokens from
this backend's own azure-identity credential, and Azure's documented gaps handled rather than
leaked: what it cannot do at all is left out of the capabilities (the gateway answers
ENDPOINT_NOT_FOUND naming Azure ML); runs ordered by metrics, params or tags are sorted here; OR
filters, tag and LIKE searches of registered models are refused with a clear message; run statuses
in Azure's spelling are mapped to MLflow's.
"""

from __future__ import annotations

import logging
import os
import ssl
import urllib.parse
from typing import Any, ClassVar

from google.protobuf.message import Message

from flowport.adapters.artifact_store import ArtifactStore
from flowport.adapters.artifacts.registry import open_artifact_store
from flowport.adapters.azureml import filters, run_order
from flowport.adapters.azureml.artifacts import AzureMlRunArtifactStore
from flowport.adapters.azureml.auth import AzureBearerAuth
from flowport.adapters.azureml.clouds import azure_cloud
from flowport.adapters.azureml.credentials import SERVICE_PRINCIPAL_OPTIONS, build_credential
from flowport.adapters.azureml.discovery import discover_tracking_uri
from flowport.adapters.azureml.statuses import map_run_statuses
from flowport.adapters.azureml.workspace import HISTORY_API, MLFLOW_API, TrackingUri, WorkspaceScope
from flowport.adapters.backend import BackendConfigError
from flowport.adapters.capabilities import MLFLOW_SERVER, Capability
from flowport.adapters.local.search import decode_page_token, encode_page_token
from flowport.adapters.mlflow_rest.artifact_uris import ArtifactUriMap
from flowport.adapters.mlflow_rest.backend import MlflowRestBackend
from flowport.adapters.mlflow_rest.transport import RestTransport
from flowport.adapters.readiness import Readiness
from flowport.adapters.registry import take_options
from flowport.adapters.resilience import RetryPolicy
from flowport.v1 import registry_pb2, tracking_pb2
from flowport.v1.errors import ApiError, invalid_parameter
from flowport.v1.mlflow_tags import PROMPT_TAG

log = logging.getLogger("flowport.azureml")

# What Azure ML's MLflow endpoint does not do (clouds.md §2.4). Aliases are not in Azure's support
# matrix (UNCONFIRMED): treated as missing until probed.
AZURE_ML = MLFLOW_SERVER - {
    Capability.EXPERIMENT_RENAME,
    Capability.MODEL_RENAME,
    Capability.MODEL_DELETE,
    Capability.LOGGED_MODELS,
    Capability.TRACING,
    Capability.REGISTRY_ALIASES,
}
# How often a backend that could not find its workspace (or sign in) tries again.
RECHECK_SECONDS = 30.0
# MLflow's upper bound for SearchRuns.max_results.
MAX_RESULTS_LIMIT = 50_000
# Until discovery says where the workspace is, requests would go nowhere.
_UNDISCOVERED = "https://workspace-not-yet-discovered.invalid"

_WORKSPACE_OPTIONS = ("subscription_id", "resource_group", "workspace")
_OPTIONS = {
    *_WORKSPACE_OPTIONS,
    *SERVICE_PRINCIPAL_OPTIONS,
    "tracking_uri",
    "cloud",
    "authority_host",
    "endpoint_url",
    "arm_endpoint_url",
    "ca_bundle",
    "retry",
    "recheck_seconds",
    "sort_max_runs",
    "artifact_store_uri",
    "artifact_store_options",
}


class AzureMlBackend(MlflowRestBackend):
    kind: ClassVar[str] = "azureml"
    target: ClassVar[str] = "Azure ML"
    capabilities = AZURE_ML

    def __init__(
        self,
        name: str,
        *,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        workspace: str | None = None,
        tracking_uri: str | None = None,
        credential: Any = None,
        tenant_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        cloud: str | None = None,
        authority_host: str | None = None,
        endpoint_url: str | None = None,
        arm_endpoint_url: str | None = None,
        ca_bundle: str | None = None,
        retry: RetryPolicy | None = None,
        recheck_seconds: float = RECHECK_SECONDS,
        sort_max_runs: int = run_order.DEFAULT_MAX_RUNS,
        artifact_store: ArtifactStore | None = None,
        max_threads: int = 8,
    ) -> None:
        self.cloud = azure_cloud(cloud)
        if ca_bundle is not None and not os.path.isfile(ca_bundle):
            raise BackendConfigError(f"azureml backend option ca_bundle: no such file {ca_bundle!r}")
        self.scope, self.tracking = _workspace(subscription_id, resource_group, workspace, tracking_uri)
        self.sort_max_runs = _positive_int("sort_max_runs", sort_max_runs)
        self.readiness = Readiness(name, self._become_ready, recheck_seconds=float(recheck_seconds))
        if endpoint_url is not None and not endpoint_url.startswith(("https://", "http://")):
            raise BackendConfigError(
                f"azureml backend option endpoint_url must be an http(s) URL, got {endpoint_url!r}"
            )
        verify = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        super().__init__(
            name,
            url=_UNDISCOVERED,
            retry=retry,
            artifact_store=artifact_store,
            verify=verify,
            max_threads=max_threads,
        )
        self._describe = f"Backend '{name}' (Azure ML workspace '{self.scope.workspace}')"
        # Run artifacts through the workspace's run history service, on the same host and token.
        self.history = RestTransport(name, _UNDISCOVERED, resilience=self.resilience, verify=verify)
        self._direct_artifacts = artifact_store is not None
        if not self._direct_artifacts:
            self._artifacts = AzureMlRunArtifactStore(
                self.history, run_blocking=self.run_blocking, target=self._describe, ready=self._ensure_ready
            )
        # The workspace's host: given, or from the tracking URI, or found by discovery at start.
        if endpoint_url:
            self._point_at(endpoint_url.rstrip("/"), urllib.parse.urlsplit(endpoint_url).netloc)
        elif self.tracking is not None:
            self._point_at(self.tracking.host_url, self.tracking.host)
        self.credential = credential or build_credential(
            self.cloud,
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=client_secret,
            authority_host=authority_host,
            ca_bundle=ca_bundle,
        )
        self.auth = AzureBearerAuth(
            self.credential, self.cloud.scope, run_blocking=self.run_blocking, describe=self._describe
        )
        self.transport.set_auth(self.auth)
        self.history.set_auth(self.auth)
        self.transport.answer_hook = map_run_statuses
        self._arm_endpoint_url = arm_endpoint_url
        self._ca_bundle = ca_bundle

    @classmethod
    def from_config(cls, name: str, options: dict[str, Any], *, max_threads: int = 8) -> AzureMlBackend:
        take_options(cls.kind, options, set(), _OPTIONS)
        root = options.get("artifact_store_uri")
        return cls(
            name,
            **{key: options.get(key) for key in (*_WORKSPACE_OPTIONS, *SERVICE_PRINCIPAL_OPTIONS)},
            tracking_uri=options.get("tracking_uri"),
            cloud=options.get("cloud"),
            authority_host=options.get("authority_host"),
            endpoint_url=options.get("endpoint_url"),
            arm_endpoint_url=options.get("arm_endpoint_url"),
            ca_bundle=options.get("ca_bundle"),
            retry=RetryPolicy.from_options(options.get("retry")),
            recheck_seconds=_positive_float(
                "recheck_seconds", options.get("recheck_seconds", RECHECK_SECONDS)
            ),
            sort_max_runs=options.get("sort_max_runs", run_order.DEFAULT_MAX_RUNS),
            artifact_store=open_artifact_store(root, **(options.get("artifact_store_options") or {}))
            if root
            else None,
            max_threads=max_threads,
        )

    def describe(self) -> str:
        where = self.url if self.url != _UNDISCOVERED else "(endpoint found through ARM at start)"
        return f"Azure ML {self.scope} via {where}"

    # -- readiness: discovery and the first token

    async def start(self) -> None:
        # ARM or Entra ID briefly unreachable must not stop the gateway: the backend answers with
        # the reason until a later check succeeds.
        await self.readiness.start()

    async def _become_ready(self) -> None:
        if self.url == _UNDISCOVERED:
            self.tracking = await self.run_blocking(
                lambda: discover_tracking_uri(
                    self.credential,
                    self.scope,
                    self.cloud,
                    arm_endpoint_url=self._arm_endpoint_url,
                    ca_bundle=self._ca_bundle,
                )
            )
            self._point_at(self.tracking.host_url, self.tracking.host)
            log.info("backend %s: %s serves MLflow at %s", self.name, self.scope, self.url)
        try:
            await self.auth.token()
        except ApiError:
            raise
        except Exception as err:  # TransientError: Entra ID unreachable
            raise ApiError(f"{self._describe}: {err}", "TEMPORARILY_UNAVAILABLE") from None

    def _point_at(self, host_url: str, host: str) -> None:
        """Send MLflow and run-history calls to the workspace at `host_url` (`https://<host>`)."""
        self.url = host_url + MLFLOW_API + self.scope.path
        # The transports were built before the endpoint was known; their bases move there now.
        self.transport.set_base_url(self.url)
        self.history.set_base_url(host_url + HISTORY_API + self.scope.path)
        # Run artifact URIs are azureml://<host>/mlflow/v2.0/<scope>/experiments/<id>/runs/<id>/artifacts;
        # below that root, store paths are the same whichever store keeps the bytes.
        self.uris = ArtifactUriMap(f"azureml://{host}{MLFLOW_API}{self.scope.path}")

    async def _ensure_ready(self) -> None:
        """Until discovery and sign-in succeed, calls fail with the reason; checked again now and then."""
        await self.readiness.ensure()

    async def invoke(self, rpc: str, request: Message) -> Message:
        await self._ensure_ready()
        return await super().invoke(rpc, request)

    @property
    def artifact_store(self) -> ArtifactStore:
        # Run history needs the workspace found and a token: its store waits for (or reports) that
        # on each call. A wasbs:// store needs neither.
        return self._artifacts

    async def close(self) -> None:
        await self.history.close()
        await super().close()

    # -- Azure's gaps

    async def search_experiments(self, request: tracking_pb2.SearchExperiments) -> Message:
        filters.reject_or(request.filter)
        return await self.forward(request, idempotent=True)

    async def search_model_versions(self, request: registry_pb2.SearchModelVersions) -> Message:
        filters.reject_or(request.filter)
        return await self.forward(request, idempotent=True)

    async def search_registered_models(self, request: registry_pb2.SearchRegisteredModels) -> Message:
        sent = registry_pb2.SearchRegisteredModels()
        sent.CopyFrom(request)
        sent.filter = filters.registered_model_filter(request.filter)
        if not sent.filter:
            sent.ClearField("filter")
        return await self.forward(sent, idempotent=True)

    async def create_registered_model(self, request: registry_pb2.CreateRegisteredModel) -> Message:
        if any(tag.key == PROMPT_TAG for tag in request.tags):
            raise ApiError(
                f"{self._describe} has no prompt registry: prompts need an MLflow server or "
                "Unity Catalog backend",
                "ENDPOINT_NOT_FOUND",
            )
        return await super().create_registered_model(request)

    async def search_runs(self, request: tracking_pb2.SearchRuns) -> Message:
        filters.reject_or(request.filter)
        keys = run_order.gateway_order(request.order_by)
        if keys is None:
            return await self.forward(request, idempotent=True)
        if request.max_results > MAX_RESULTS_LIMIT:
            raise invalid_parameter(
                f"Invalid value {request.max_results} for parameter 'max_results' supplied. "
                f"It must be at most {MAX_RESULTS_LIMIT}"
            )
        offset = decode_page_token(request.page_token)
        runs = run_order.sort_runs(await self._all_runs(request), keys)
        page = runs[offset : offset + request.max_results]
        response = tracking_pb2.SearchRuns.Response(runs=page)
        if offset + request.max_results < len(runs):
            response.next_page_token = encode_page_token(offset + request.max_results)
        return response

    async def _all_runs(self, request: tracking_pb2.SearchRuns) -> list[tracking_pb2.Run]:
        """Every run matching the search, without its order (Azure cannot sort by these keys)."""
        fetch = tracking_pb2.SearchRuns(
            experiment_ids=request.experiment_ids,
            filter=request.filter,
            run_view_type=request.run_view_type,
            max_results=run_order.FETCH_PAGE_SIZE,
        )
        deadline = self.resilience.deadline()
        runs: list[tracking_pb2.Run] = []
        seen_tokens: set[str] = set()
        for _ in range(self.sort_max_runs // run_order.FETCH_PAGE_SIZE + 2):
            found = await self.forward(fetch, idempotent=True, deadline=deadline)
            runs.extend(found.runs)
            if len(runs) > self.sort_max_runs:
                raise invalid_parameter(
                    f"{self._describe} cannot order runs by metrics, params or tags, so the gateway "
                    f"sorts them itself, up to sort_max_runs={self.sort_max_runs} matching runs; this "
                    "search matches more. Narrow the filter, or order by attributes only."
                )
            token = found.next_page_token
            if not token:
                return runs
            if token in seen_tokens:
                raise ApiError(f"{self._describe} repeated a page token while listing runs", "INTERNAL_ERROR")
            seen_tokens.add(token)
            fetch.page_token = token
        raise ApiError(f"{self._describe} kept paging past {len(runs)} runs", "INTERNAL_ERROR")


def _workspace(
    subscription_id: str | None,
    resource_group: str | None,
    workspace: str | None,
    tracking_uri: str | None,
) -> tuple[WorkspaceScope, TrackingUri | None]:
    given = dict(zip(_WORKSPACE_OPTIONS, (subscription_id, resource_group, workspace), strict=True))
    present = {key: value for key, value in given.items() if value}
    tracking = TrackingUri.parse(tracking_uri) if tracking_uri else None
    if tracking is not None:
        if present and any(getattr(tracking.scope, key) != value for key, value in present.items()):
            raise BackendConfigError(
                "azureml backend: tracking_uri names another workspace than subscription_id/"
                "resource_group/workspace; give one or the other"
            )
        return tracking.scope, tracking
    if len(present) != len(_WORKSPACE_OPTIONS):
        missing = [key for key in _WORKSPACE_OPTIONS if key not in present]
        raise BackendConfigError(
            f"azureml backend: missing {', '.join(missing)}; give subscription_id, resource_group and "
            "workspace (the endpoint is then found through ARM), or tracking_uri: azureml://..."
        )
    return WorkspaceScope(**present), None


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BackendConfigError(
            f"azureml backend option {name} must be a positive whole number, got {value!r}"
        )
    return value


def _positive_float(name: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = 0.0
    if isinstance(value, bool) or not number > 0:
        raise BackendConfigError(
            f"azureml backend option {name} must be a positive number of seconds, got {value!r}"
        )
    return number
