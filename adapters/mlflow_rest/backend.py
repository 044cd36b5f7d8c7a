"""The `mlflow` backend: any MLflow server behind the gateway, and the base of every cloud adapter.

Each RPC is forwarded on the REST route proto/ gives it (no second list of paths), with
artifact locations mapped to `mlflow-artifacts:` on the way out and back on the way in.
Calls are retried only where that is safe (`idempotency`); the creates MLflow cannot repeat
are made safe with a request id, so a retried create finds what an earlier attempt made.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from google.protobuf.message import Message
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from flowport.adapters.artifact_store import ArtifactStore
from flowport.adapters.artifacts.registry import open_artifact_store
from flowport.adapters.backend import Backend, BackendConfigError
from flowport.adapters.capabilities import MLFLOW_SERVER, Capability
from flowport.adapters.mlflow_rest import idempotency
from flowport.adapters.mlflow_rest.artifact_uris import ArtifactUriMap
from flowport.adapters.mlflow_rest.artifacts import MlflowArtifactsStore
from flowport.adapters.mlflow_rest.auth import auth_from_config
from flowport.adapters.mlflow_rest.transport import RestTransport
from flowport.adapters.registry import take_options
from flowport.adapters.resilience import Resilience, RetryPolicy
from flowport.v1 import registry_pb2, tracing_pb2, tracking_pb2
from flowport.v1.errors import ApiError
from flowport.v1.mlflow_tags import PROMPT_TAG

# What a stock `mlflow server` with `--serve-artifacts` uses as its artifact root.
PROXIED_ARTIFACT_ROOT = "mlflow-artifacts:/"


class MlflowRestBackend(Backend):
    kind: ClassVar[str] = "mlflow"
    capabilities = MLFLOW_SERVER

    def __init__(
        self,
        name: str,
        *,
        url: str,
        path_prefix: str = "",
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        artifact_root: str = PROXIED_ARTIFACT_ROOT,
        artifact_store: ArtifactStore | None = None,
        verify: bool | str = True,
        workspaces: bool = False,
        max_threads: int = 8,
    ) -> None:
        super().__init__(name, max_threads=max_threads)
        self.url = url
        # A server started with --enable-workspaces keeps the gateway's workspaces apart itself.
        self.workspaces = workspaces
        if workspaces:
            self.capabilities = self.capabilities | {Capability.WORKSPACES}
        self.resilience = Resilience(name, retry)
        self.transport = RestTransport(
            name,
            url,
            resilience=self.resilience,
            path_prefix=path_prefix,
            auth=auth,
            headers=headers,
            verify=verify,
            forward_workspace=workspaces,
        )
        self.uris = ArtifactUriMap(artifact_root)
        self._artifacts = artifact_store or MlflowArtifactsStore(self.transport)

    @classmethod
    def from_config(cls, name: str, options: dict[str, Any], *, max_threads: int = 8) -> MlflowRestBackend:
        take_options(
            cls.kind,
            options,
            {"url"},
            {
                "path_prefix",
                "auth",
                "headers",
                "retry",
                "verify_tls",
                "artifact_store_uri",
                "artifact_store_options",
                "s3_endpoint_url",
                "workspaces",
            },
        )
        if not isinstance(options.get("workspaces", False), bool):
            raise BackendConfigError("'workspaces' must be true or false")
        root = options.get("artifact_store_uri")
        return cls(
            name,
            url=options["url"],
            path_prefix=options.get("path_prefix", ""),
            auth=auth_from_config(options.get("auth")),
            headers=options.get("headers"),
            retry=RetryPolicy.from_options(options.get("retry")),
            verify=options.get("verify_tls", True),
            workspaces=options.get("workspaces", False),
            artifact_root=root or PROXIED_ARTIFACT_ROOT,
            artifact_store=_direct_store(root, options) if root else None,
            max_threads=max_threads,
        )

    def describe(self) -> str:
        return redact_url(self.url)

    @property
    def artifact_store(self) -> ArtifactStore:
        return self._artifacts

    def artifact_store_for(self, workspace: str) -> ArtifactStore:
        if self.workspaces and isinstance(self._artifacts, MlflowArtifactsStore):
            return MlflowArtifactsStore(self.transport, workspace)  # the server scopes the paths
        return self._artifacts

    async def invoke(self, rpc: str, request: Message) -> Message:
        handler = self._handler(rpc)
        if handler is not None:
            return await handler(request)
        return await self.forward(request, idempotent=idempotency.is_idempotent(rpc))

    async def forward(self, request: Message, *, idempotent: bool, deadline: float | None = None) -> Message:
        response = await self.transport.call(
            self.uris.inbound(request), idempotent=idempotent, deadline=deadline
        )
        return self._for_client(response)

    # Creates MLflow cannot repeat, made safe: each carries a request id; an attempt after an
    # ambiguous failure first looks for what an earlier attempt made (peers.md §3.5).

    async def create_experiment(self, request: tracking_pb2.CreateExperiment) -> Message:
        async def find(request_id: str, deadline: float) -> Message | None:
            found = await self._lookup(
                tracking_pb2.GetExperimentByName(experiment_name=request.name), deadline
            )
            if found is None or not idempotency.carries(found.experiment.tags, request_id):
                return None
            return tracking_pb2.CreateExperiment.Response(experiment_id=found.experiment.experiment_id)

        return await self._create_once(request, request.tags, tracking_pb2.ExperimentTag, find)

    async def create_registered_model(self, request: registry_pb2.CreateRegisteredModel) -> Message:
        async def find(request_id: str, deadline: float) -> Message | None:
            found = await self._lookup(registry_pb2.GetRegisteredModel(name=request.name), deadline)
            if found is None or not idempotency.carries(found.registered_model.tags, request_id):
                return None
            return registry_pb2.CreateRegisteredModel.Response(registered_model=found.registered_model)

        return await self._create_once(request, request.tags, registry_pb2.RegisteredModelTag, find)

    async def create_run(self, request: tracking_pb2.CreateRun) -> Message:
        async def find(request_id: str, deadline: float) -> Message | None:
            search = tracking_pb2.SearchRuns(
                experiment_ids=[request.experiment_id],
                filter=f"tags.`{idempotency.REQUEST_ID_TAG}` = '{request_id}'",
                run_view_type=tracking_pb2.ALL,
                max_results=1,
            )
            found = await self.transport.send_once(search, deadline)
            return tracking_pb2.CreateRun.Response(run=found.runs[0]) if found.runs else None

        return await self._create_once(request, request.tags, tracking_pb2.RunTag, find)

    async def create_model_version(self, request: registry_pb2.CreateModelVersion) -> Message:
        # MLflow leaves prompt versions out of a search unless its filter asks for them.
        is_prompt = any(t.key == PROMPT_TAG and t.value.lower() == "true" for t in request.tags)
        prompt_clause = f" AND tags.`{PROMPT_TAG}` = 'true'" if is_prompt else ""

        async def find(request_id: str, deadline: float) -> Message | None:
            search = registry_pb2.SearchModelVersions(
                filter=f"name = '{_quoted(request.name)}' "
                f"AND tags.`{idempotency.REQUEST_ID_TAG}` = '{request_id}'{prompt_clause}",
                max_results=1,
            )
            found = await self.transport.send_once(search, deadline)
            if not found.model_versions:
                return None
            return registry_pb2.CreateModelVersion.Response(model_version=found.model_versions[0])

        return await self._create_once(request, request.tags, registry_pb2.ModelVersionTag, find)

    async def _lookup(self, request: Message, deadline: float) -> Any:
        try:
            return await self.transport.send_once(request, deadline)
        except ApiError as err:
            if err.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    async def _create_once(self, request: Message, tags: Any, tag_type: type[Message], find: Any) -> Message:
        request_id, tagged = idempotency.with_request_id(request, tags, tag_type)
        tagged = self.uris.inbound(tagged)
        deadline = self.resilience.deadline()
        attempts = 0

        async def attempt() -> Message:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                found = await find(request_id, deadline)
                if found is not None:
                    return found
            return await self.transport.send_once(tagged, deadline)

        response = await self.resilience.call(attempt, idempotent=True, deadline=deadline)
        return self._for_client(response)

    async def log_batch(self, request: tracking_pb2.LogBatch) -> Message:
        """Over MLflow's limits, sent in parts: a failed part is retried alone, acknowledged ones never."""
        deadline = self.resilience.deadline()
        for part in idempotency.split_log_batch(request):
            await self.forward(part, idempotent=True, deadline=deadline)
        return tracking_pb2.LogBatch.Response()

    async def log_spans(self, request: tracing_pb2.LogSpans) -> Message:
        """flowport's span ingest, as OTLP/HTTP to the server's `/v1/traces` (MLflow ≥ 3.4)."""
        export = trace_service_pb2.ExportTraceServiceRequest(resource_spans=request.resource_spans)
        headers = {"content-type": "application/x-protobuf", "x-mlflow-experiment-id": request.experiment_id}
        if request.run_id:
            headers["x-mlflow-run-id"] = request.run_id
        # Spans are keyed by trace and span id upstream: a re-sent export replaces, never duplicates.
        reply = await self.transport.exchange(
            "POST", "/v1/traces", content=export.SerializeToString(), headers=headers, idempotent=True
        )
        await reply.aclose()
        trace_ids = sorted(
            {
                "tr-" + span.trace_id.hex()
                for rs in request.resource_spans
                for ss in rs.scope_spans
                for span in ss.spans
            }
        )
        return tracing_pb2.LogSpans.Response(trace_ids=trace_ids)

    def _for_client(self, response: Message) -> Message:
        """An answer as clients see it: no request-id tags, `mlflow-artifacts:` locations."""
        idempotency.strip_request_ids(response)
        return self.uris.outbound(response)

    async def close(self) -> None:
        await self._artifacts.close()
        await self.transport.close()
        await super().close()


def _direct_store(root: str, options: dict[str, Any]) -> ArtifactStore:
    """The store under a server's own artifact root (one that does not proxy artifacts)."""
    store_options = dict(options.get("artifact_store_options") or {})
    if options.get("s3_endpoint_url"):
        store_options["endpoint_url"] = options["s3_endpoint_url"]
    return open_artifact_store(root, **store_options)


def redact_url(url: str) -> str:
    """The URL without any user:password part."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    return urllib.parse.urlunsplit(
        parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))
    )


def _quoted(value: str) -> str:
    return value.replace("'", "\\'")
