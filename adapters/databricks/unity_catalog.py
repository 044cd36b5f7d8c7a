"""The Unity Catalog model registry of a Databricks workspace, behind flowport's registry RPCs.

Clients speak MLflow's OSS registry API to the gateway; this object answers those RPCs with
Databricks' `/api/2.0/mlflow/unity-catalog/...` routes (clouds.md §3.3): three-level names,
aliases, no stages, and the create-version flow (create → temporary credentials → copy the
source's files into the version's storage → finalize) that MLflow's `databricks-uc` client runs on
its own side. It never imports `mlflow` (DESIGN.md decision 10): the UC messages are written as
the JSON MLflow's `databricks_uc_registry_messages.proto` defines, and the tests' stand-in parses
every request with MLflow's own messages.

Interface with the Databricks backend (`adapters/databricks/backend.py`, `registry: unity_catalog`):

    registry = UnityCatalogRegistry(
        self.transport,                      # the backend's RestTransport (the workspace host)
        locate_source=self._locate_source,   # native source URI → (ArtifactStore, store path)
        run_blocking=self.run_blocking,      # the backend's bounded thread pool
        backend_name=name,
        to_native=self.uris.to_native,       # a client's `mlflow-artifacts:` URI → the native one
        for_client=self._for_client,         # an answer as clients see it (URIs mapped, request ids gone)
        s3_endpoint_url=options.get("s3_endpoint_url"),  # S3-compatible endpoint (tests: moto); optional
    )
    self.services = (registry,)
    self.capabilities = <the backend's> - {Capability.REGISTRY_STAGES}

- One async method per registry RPC it serves, named like the RPC in snake_case, taking the
  client's `registry_pb2` request as the gateway decoded it (no URI mapping needed beforehand)
  and returning the `registry_pb2` response. `UnityCatalogRegistry.RPCS` lists them.
- `MlflowRestBackend` defines `create_registered_model` and `create_model_version` itself, and
  `Backend._handler` looks at the backend before its services: the backend must send the RPCS
  here first, e.g. `def _handler(self, rpc): return registry handler if rpc in RPCS else super()`.
- `locate_source(uri)` gets a model version's source as the backend stores it (after
  `to_native`; e.g. `dbfs:/databricks/mlflow-tracking/1/<run>/artifacts/model`, or a logged
  model's `artifact_location`) and returns the store and the path in it holding those files; it
  raises ApiError (INVALID_PARAMETER_VALUE) for a URI outside every store the backend reaches.
- `await registry.close()` from the backend's `close()`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from google.protobuf.message import Message

from flowport.adapters.artifact_store import ArtifactStore
from flowport.adapters.mlflow_rest.transport import RestTransport
from flowport.v1 import registry_pb2


def _same(value: Any) -> Any:
    return value


class UnityCatalogRegistry:
    """Serves the registry RPCs of a backend whose registry is a Databricks Unity Catalog."""

    RPCS: ClassVar[frozenset[str]] = frozenset(
        {
            "CreateRegisteredModel", "UpdateRegisteredModel", "RenameRegisteredModel",
            "DeleteRegisteredModel", "GetRegisteredModel", "SearchRegisteredModels",
            "CreateModelVersion", "UpdateModelVersion", "DeleteModelVersion", "GetModelVersion",
            "SearchModelVersions", "GetModelVersionDownloadUri", "SetRegisteredModelTag",
            "DeleteRegisteredModelTag", "SetModelVersionTag", "DeleteModelVersionTag",
            "SetRegisteredModelAlias", "DeleteRegisteredModelAlias", "GetModelVersionByAlias",
        }
    )  # fmt: skip

    def __init__(
        self,
        transport: RestTransport,
        *,
        locate_source: Callable[[str], tuple[ArtifactStore, str]],
        run_blocking: Callable[..., Awaitable[Any]],
        backend_name: str,
        to_native: Callable[[str], str] = _same,
        for_client: Callable[[Message], Message] = _same,
        s3_endpoint_url: str | None = None,
        s3_region: str | None = None,
    ) -> None:
        self.transport = transport
        self.locate_source = locate_source
        self.run_blocking = run_blocking
        self.backend_name = backend_name
        self.to_native = to_native
        self.for_client = for_client
        self.s3_endpoint_url = s3_endpoint_url
        self.s3_region = s3_region

    async def create_registered_model(self, request: registry_pb2.CreateRegisteredModel) -> Message:
        raise NotImplementedError  # being written; the interface above is fixed

    async def close(self) -> None:
        return None
