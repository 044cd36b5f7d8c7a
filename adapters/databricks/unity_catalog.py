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

import asyncio
import re
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import yaml
from google.protobuf.message import Message

from flowport.adapters.artifact_store import ArtifactStore
from flowport.adapters.databricks import uc_messages
from flowport.adapters.databricks.uc_version_files import VersionStorage, copy_files, list_files, read_small
from flowport.adapters.mlflow_rest.transport import RestTransport
from flowport.v1 import registry_pb2, tracking_pb2
from flowport.v1.errors import HTTP_STATUS, ApiError, invalid_parameter
from flowport.v1.mlflow_tags import PROMPT_TAG

UC_ROUTES = "/api/2.0/mlflow/unity-catalog"
TARGET = "Databricks Unity Catalog"
# Unity Catalog tag keys may not contain . , - = / : (Databricks "Apply tags" constraints), so the
# request id that makes creates safe to retry has its own key here, not `flowport.request_id`.
REQUEST_ID_TAG = "flowport_request_id"
MLMODEL = "MLmodel"
MAX_MLMODEL_BYTES = 1 << 20
# Failures after which the upstream may or may not have done the work.
_AMBIGUOUS = frozenset({"TEMPORARILY_UNAVAILABLE", "DEADLINE_EXCEEDED"})

# MLflow 3 clients add this clause to every registered-model search (mlflow/prompt/registry_utils.py).
_PROMPT_CLAUSE = (
    r"tags?\.(?:`mlflow\.prompt\.is_prompt`|\"mlflow\.prompt\.is_prompt\"|mlflow\.prompt\.is_prompt)"
    r"\s*(?P<op>!=|=)\s*(?P<quote>['\"])(?P<value>[^'\"]*)(?P=quote)"
)
_PROMPT_PLACES = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        rf"^\s*{_PROMPT_CLAUSE}\s*$",
        rf"\s+AND\s+{_PROMPT_CLAUSE}\s*$",
        rf"^\s*{_PROMPT_CLAUSE}\s+AND\s+",
    )
)
_SIGNATURE_REQUIRED = (
    "All models in the Unity Catalog must be logged with a model signature containing both input and "
    "output type specifications (https://mlflow.org/docs/latest/model/signatures.html)"
)


def _same(value: Any) -> Any:
    return value


def three_level_name(name: str, field: str = "name") -> str:
    """`name` if it is `catalog.schema.model`; else INVALID_PARAMETER_VALUE explaining the form."""
    parts = name.split(".")
    if len(parts) == 3 and all(part.strip() for part in parts):
        return name
    raise invalid_parameter(
        f"Model {field} '{name}' is not a Unity Catalog name: please specify all three levels, "
        "catalog.schema.model. (MLflow's own client completes shorter names from the active Spark "
        "session's catalog and schema; the gateway has no Spark session.)"
    )


def split_prompt_clause(filter_string: str) -> tuple[str, bool]:
    """(the filter without MLflow's prompt clause, whether the clause asks for prompts only)."""
    text = filter_string.strip()
    for place in _PROMPT_PLACES:
        found = place.search(text)
        if found is not None:
            wants_true = found["op"] == "="
            prompts_only = wants_true == (found["value"].lower() == "true")
            return (text[: found.start()] + text[found.end() :]).strip(), prompts_only
    return text, False


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
        self.resilience = transport.resilience
        self.locate_source = locate_source
        self.run_blocking = run_blocking
        self.backend_name = backend_name
        self.to_native = to_native
        self.for_client = for_client
        self.s3_endpoint_url = s3_endpoint_url
        self.s3_region = s3_region

    # --- registered models -------------------------------------------------------------------

    async def create_registered_model(self, request: registry_pb2.CreateRegisteredModel) -> Message:
        name = three_level_name(request.name)
        _refuse_prompt_tags(request.tags)
        request_id = uuid.uuid4().hex
        body = uc_messages.request_json(request)
        body["tags"] = [*body.get("tags", []), {"key": REQUEST_ID_TAG, "value": request_id}]

        async def find(deadline: float) -> dict[str, Any] | None:
            found = await self._lookup("GET", "/registered-models/get", {"name": name}, deadline)
            model = found.get("registered_model") if found else None
            return found if _carries(model, request_id) else None

        data = await self._create_once("/registered-models/create", body, find)
        model = uc_messages.registered_model(data.get("registered_model", {}), self.backend_name)
        return self._answer(registry_pb2.CreateRegisteredModel.Response(registered_model=model))

    async def update_registered_model(self, request: registry_pb2.UpdateRegisteredModel) -> Message:
        three_level_name(request.name)
        data = await self._call("PATCH", "/registered-models/update", uc_messages.request_json(request))
        model = uc_messages.registered_model(data.get("registered_model", {}), self.backend_name)
        return self._answer(registry_pb2.UpdateRegisteredModel.Response(registered_model=model))

    async def rename_registered_model(self, request: registry_pb2.RenameRegisteredModel) -> Message:
        three_level_name(request.name)
        three_level_name(request.new_name, "new_name")
        # Unity Catalog renames through its update call.
        body = {"name": request.name, "new_name": request.new_name}
        data = await self._call("PATCH", "/registered-models/update", body)
        model = uc_messages.registered_model(data.get("registered_model", {}), self.backend_name)
        return self._answer(registry_pb2.RenameRegisteredModel.Response(registered_model=model))

    async def delete_registered_model(self, request: registry_pb2.DeleteRegisteredModel) -> Message:
        three_level_name(request.name)
        await self._call("DELETE", "/registered-models/delete", {"name": request.name})
        return registry_pb2.DeleteRegisteredModel.Response()

    async def get_registered_model(self, request: registry_pb2.GetRegisteredModel) -> Message:
        three_level_name(request.name)
        data = await self._call("GET", "/registered-models/get", {"name": request.name})
        model = uc_messages.registered_model(data.get("registered_model", {}), self.backend_name)
        return self._answer(registry_pb2.GetRegisteredModel.Response(registered_model=model))

    async def search_registered_models(self, request: registry_pb2.SearchRegisteredModels) -> Message:
        remaining, prompts_only = split_prompt_clause(request.filter)
        if remaining:
            raise invalid_parameter(
                f"Unity Catalog's registered model search takes no filter; cannot apply '{remaining}'. "
                "Search without one, or get the model by its catalog.schema.model name"
            )
        if request.order_by:
            raise invalid_parameter("Unity Catalog's registered model search takes no order_by")
        if prompts_only:
            # Prompts in Unity Catalog live behind their own API; no registered model is one.
            return registry_pb2.SearchRegisteredModels.Response()
        body = uc_messages.request_json(request, only=("max_results", "page_token"))
        data = await self._call("GET", "/registered-models/search", body)
        response = registry_pb2.SearchRegisteredModels.Response(
            registered_models=[
                uc_messages.registered_model(m, self.backend_name) for m in _list(data, "registered_models")
            ],
            next_page_token=str(data.get("next_page_token") or ""),
        )
        return self._answer(response)

    async def set_registered_model_tag(self, request: registry_pb2.SetRegisteredModelTag) -> Message:
        three_level_name(request.name)
        await self._call("POST", "/registered-models/set-tag", uc_messages.request_json(request))
        return registry_pb2.SetRegisteredModelTag.Response()

    async def delete_registered_model_tag(self, request: registry_pb2.DeleteRegisteredModelTag) -> Message:
        three_level_name(request.name)
        await self._call("DELETE", "/registered-models/delete-tag", uc_messages.request_json(request))
        return registry_pb2.DeleteRegisteredModelTag.Response()

    async def set_registered_model_alias(self, request: registry_pb2.SetRegisteredModelAlias) -> Message:
        three_level_name(request.name)
        await self._call("POST", "/registered-models/alias", uc_messages.request_json(request))
        return registry_pb2.SetRegisteredModelAlias.Response()

    async def delete_registered_model_alias(
        self, request: registry_pb2.DeleteRegisteredModelAlias
    ) -> Message:
        three_level_name(request.name)
        await self._call("DELETE", "/registered-models/alias", uc_messages.request_json(request))
        return registry_pb2.DeleteRegisteredModelAlias.Response()

    async def get_model_version_by_alias(self, request: registry_pb2.GetModelVersionByAlias) -> Message:
        three_level_name(request.name)
        data = await self._call("GET", "/registered-models/alias", uc_messages.request_json(request))
        version = uc_messages.model_version(data.get("model_version", {}), self.backend_name)
        return self._answer(registry_pb2.GetModelVersionByAlias.Response(model_version=version))

    # --- model versions ----------------------------------------------------------------------

    async def create_model_version(self, request: registry_pb2.CreateModelVersion) -> Message:
        """Create → temporary credentials → copy the source's files → finalize, as MLflow's
        `databricks-uc` client does; on any failure after the create, the version is deleted."""
        name = three_level_name(request.name)
        if request.run_link:
            raise invalid_parameter(
                "run_link is not supported for models in Unity Catalog (Databricks links a version to "
                "its run from run_id); leave it out"
            )
        if not request.source:
            raise invalid_parameter("Missing value for required parameter 'source'")
        _refuse_prompt_tags(request.tags)
        source, run_id, model_id = await self._native_source(request)
        store, path = self.locate_source(source)
        files = await list_files(store, path)
        await self._check_signature(store, path, files, request.source)

        request_id = uuid.uuid4().hex
        body: dict[str, Any] = {"name": name, "source": source}
        if request.description:
            body["description"] = request.description
        if run_id:
            body["run_id"] = run_id
        if model_id:
            body["model_id"] = model_id
        tags = [{"key": t.key, "value": t.value} for t in request.tags]
        body["tags"] = [*tags, {"key": REQUEST_ID_TAG, "value": request_id}]

        async def find(deadline: float) -> dict[str, Any] | None:
            return await self._find_version(name, request_id, deadline)

        created = (await self._create_once("/model-versions/create", body, find)).get("model_version", {})
        version = str(created.get("version", "")) if isinstance(created, dict) else ""
        if not version:
            raise ApiError(
                f"Backend '{self.backend_name}' ({TARGET}) created a version of '{name}' without a number",
                "INTERNAL_ERROR",
            )
        final = await self._fill_version(
            name, version, uc_messages.storage_location(created), store, path, files
        )
        response = registry_pb2.CreateModelVersion.Response(
            model_version=uc_messages.model_version(final, self.backend_name)
        )
        return self._answer(response)

    async def _fill_version(
        self, name: str, version: str, location: str, store: ArtifactStore, path: str, files: list[str]
    ) -> dict[str, Any]:
        """Copy the files into a PENDING_REGISTRATION version and finalize it; undo it on failure."""

        async def credentials() -> dict[str, Any]:
            body = {"name": name, "version": version, "operation": "MODEL_VERSION_OPERATION_READ_WRITE"}
            data = await self._call("POST", "/model-versions/generate-temporary-credentials", body)
            found = data.get("credentials")
            if not isinstance(found, dict):
                raise ApiError(f"{TARGET} answered without temporary credentials", "INTERNAL_ERROR")
            return found

        storage = VersionStorage(
            location,
            credentials,
            run_blocking=self.run_blocking,
            s3_endpoint_url=self.s3_endpoint_url,
            s3_region=self.s3_region,
        )
        attempted: list[str] = []
        step = "getting temporary credentials for the version's storage"
        try:
            await storage.open()
            step = "copying the model's files into the version's storage"
            await copy_files(store, path, files, storage, attempted)
            step = "finalizing the version"
            return await self._finalize(name, version)
        except BaseException as err:
            # Shielded: a client that hung up must not leave a half-written version behind.
            undone = await asyncio.shield(self._discard(name, version, storage, attempted))
            if not isinstance(err, ApiError):
                raise
            outcome = (
                "The version was deleted; nothing was registered."
                if undone is None
                else f"Deleting the unfinished version failed too ({undone}); delete version {version} "
                "yourself (it stays PENDING_REGISTRATION)."
            )
            raise ApiError(
                f"Registering version {version} of '{name}' failed while {step}: {err.message}. {outcome}",
                err.error_code,
            ) from None
        finally:
            await asyncio.shield(storage.close())

    async def _finalize(self, name: str, version: str) -> dict[str, Any]:
        body = {"name": name, "version": version}
        try:
            data = await self._call("POST", "/model-versions/finalize", body)
            final = data.get("model_version")
        except ApiError:
            # A retried finalize may be refused because the first one, whose answer was lost, worked.
            current = await self._call("GET", "/model-versions/get", body)
            final = current.get("model_version")
            if not isinstance(final, dict) or final.get("status") != "READY":
                raise
        if not isinstance(final, dict) or final.get("status") != "READY":
            status = final.get("status") if isinstance(final, dict) else None
            message = final.get("status_message") if isinstance(final, dict) else None
            raise ApiError(
                f"{TARGET} left the version {status or 'without a status'}"
                + (f": {message}" if message else ""),
                "INTERNAL_ERROR",
            )
        return final

    async def _discard(
        self, name: str, version: str, storage: VersionStorage, attempted: list[str]
    ) -> str | None:
        """Delete what a failed registration wrote, then the version; None when that worked, else why not."""
        store = storage.current
        for rel in attempted if store is not None else ():
            try:
                await store.delete(rel)
            except Exception:  # noqa: BLE001 - best effort: the failure that brought us here is what counts
                pass  # never landed, or storage is what failed: deleting the version drops its storage
        try:
            await self._call("DELETE", "/model-versions/delete", {"name": name, "version": version})
        except ApiError as err:
            if err.error_code != "RESOURCE_DOES_NOT_EXIST":
                return err.message
        return None

    async def _native_source(self, request: registry_pb2.CreateModelVersion) -> tuple[str, str, str]:
        """(the source as the backend stores it, run id, logged model id) of a version to create."""
        source, run_id, model_id = request.source, request.run_id, request.model_id
        parsed = urllib.parse.urlparse(source)
        if parsed.scheme == "models":
            reference = parsed.path.strip("/")
            if not reference or "/" in reference or "@" in reference or parsed.netloc:
                raise invalid_parameter(
                    f"Source '{source}' names a registered model version; {TARGET} versions are registered "
                    "from a run's or a logged model's files (runs:/…, models:/<model_id>, or their location)"
                )
            logged = await self.transport.call(
                tracking_pb2.GetLoggedModel(model_id=reference), idempotent=True
            )
            if not logged.model.info.artifact_uri:
                raise invalid_parameter(f"Logged model '{reference}' has no artifact location")
            return (
                logged.model.info.artifact_uri,
                run_id or logged.model.info.source_run_id,
                model_id or reference,
            )
        if parsed.scheme == "runs":
            run_ref, _, artifact_path = parsed.path.lstrip("/").partition("/")
            run = await self.transport.call(tracking_pb2.GetRun(run_id=run_ref), idempotent=True)
            root = run.run.info.artifact_uri.rstrip("/")
            return (f"{root}/{artifact_path}" if artifact_path else root), run_id or run_ref, model_id
        return self.to_native(source), run_id, model_id

    async def _check_signature(self, store: ArtifactStore, path: str, files: list[str], shown: str) -> None:
        """What MLflow's `databricks-uc` client checks before registering: an MLflow model with a
        signature that has inputs and outputs."""
        if MLMODEL not in files:
            raise invalid_parameter(
                f"Source '{shown}' holds no {MLMODEL} file: register the directory of an MLflow model"
            )
        raw = await read_small(store, f"{path}/{MLMODEL}" if path else MLMODEL, MAX_MLMODEL_BYTES)
        try:
            document = await self.run_blocking(yaml.safe_load, raw)
        except yaml.YAMLError:
            raise invalid_parameter(f"The {MLMODEL} file at '{shown}' is not valid YAML") from None
        signature = document.get("signature") if isinstance(document, dict) else None
        if not isinstance(signature, dict) or not signature.get("inputs"):
            raise invalid_parameter(
                f"Model passed for registration did not contain any signature metadata. {_SIGNATURE_REQUIRED}"
            )
        if not signature.get("outputs"):
            raise invalid_parameter(
                "Model passed for registration contained a signature that includes only inputs. "
                + _SIGNATURE_REQUIRED
            )

    async def _find_version(self, name: str, request_id: str, deadline: float) -> dict[str, Any] | None:
        """The version an earlier create attempt made, found by its request id (UC's search shows no
        tags, so each unfinished version is read)."""
        found = await self._lookup(
            "GET", "/model-versions/search", {"filter": f"name='{name}'", "max_results": 100}, deadline
        )
        for summary in _list(found or {}, "model_versions"):
            if not isinstance(summary, dict) or summary.get("status") != "PENDING_REGISTRATION":
                continue
            key = {"name": name, "version": str(summary.get("version", ""))}
            full = await self._lookup("GET", "/model-versions/get", key, deadline)
            if full and _carries(full.get("model_version"), request_id):
                return full
        return None

    async def update_model_version(self, request: registry_pb2.UpdateModelVersion) -> Message:
        three_level_name(request.name)
        data = await self._call("PATCH", "/model-versions/update", uc_messages.request_json(request))
        version = uc_messages.model_version(data.get("model_version", {}), self.backend_name)
        return self._answer(registry_pb2.UpdateModelVersion.Response(model_version=version))

    async def delete_model_version(self, request: registry_pb2.DeleteModelVersion) -> Message:
        three_level_name(request.name)
        await self._call("DELETE", "/model-versions/delete", uc_messages.request_json(request))
        return registry_pb2.DeleteModelVersion.Response()

    async def get_model_version(self, request: registry_pb2.GetModelVersion) -> Message:
        three_level_name(request.name)
        data = await self._call("GET", "/model-versions/get", uc_messages.request_json(request))
        version = uc_messages.model_version(data.get("model_version", {}), self.backend_name)
        return self._answer(registry_pb2.GetModelVersion.Response(model_version=version))

    async def search_model_versions(self, request: registry_pb2.SearchModelVersions) -> Message:
        remaining, prompts_only = split_prompt_clause(request.filter)
        if request.order_by:
            raise invalid_parameter("Unity Catalog's model version search takes no order_by")
        if prompts_only:
            return registry_pb2.SearchModelVersions.Response()
        body = uc_messages.request_json(request, only=("max_results", "page_token"))
        if remaining:
            body["filter"] = remaining  # UC takes one condition: name = '…' or run_id = '…'
        data = await self._call("GET", "/model-versions/search", body)
        response = registry_pb2.SearchModelVersions.Response(
            model_versions=[
                uc_messages.model_version(v, self.backend_name) for v in _list(data, "model_versions")
            ],
            next_page_token=str(data.get("next_page_token") or ""),
        )
        return self._answer(response)

    async def get_model_version_download_uri(
        self, request: registry_pb2.GetModelVersionDownloadUri
    ) -> Message:
        """The version's source, where its files were copied from: UC's own copy sits in cloud storage
        that only temporary credentials open, which clients of the gateway never get."""
        three_level_name(request.name)
        data = await self._call("GET", "/model-versions/get", uc_messages.request_json(request))
        version = data.get("model_version")
        source = version.get("source") if isinstance(version, dict) else None
        if not isinstance(source, str) or not source:
            raise ApiError(f"Version {request.version} of '{request.name}' has no source", "INVALID_STATE")
        return self._answer(registry_pb2.GetModelVersionDownloadUri.Response(artifact_uri=source))

    async def set_model_version_tag(self, request: registry_pb2.SetModelVersionTag) -> Message:
        three_level_name(request.name)
        await self._call("POST", "/model-versions/set-tag", uc_messages.request_json(request))
        return registry_pb2.SetModelVersionTag.Response()

    async def delete_model_version_tag(self, request: registry_pb2.DeleteModelVersionTag) -> Message:
        three_level_name(request.name)
        await self._call("DELETE", "/model-versions/delete-tag", uc_messages.request_json(request))
        return registry_pb2.DeleteModelVersionTag.Response()

    # --- the wire ----------------------------------------------------------------------------

    async def _call(
        self, method: str, route: str, body: dict[str, Any], *, idempotent: bool = True
    ) -> dict[str, Any]:
        """One UC call under the backend's retry policy. Every UC call but the creates is idempotent."""
        deadline = self.resilience.deadline()
        return await self.resilience.call(
            lambda: self._once(method, route, body, deadline), idempotent=idempotent, deadline=deadline
        )

    async def _lookup(
        self, method: str, route: str, body: dict[str, Any], deadline: float
    ) -> dict[str, Any] | None:
        try:
            return await self._once(method, route, body, deadline)
        except ApiError as err:
            if err.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    async def _create_once(
        self, route: str, body: dict[str, Any], find: Callable[[float], Awaitable[dict[str, Any] | None]]
    ) -> dict[str, Any]:
        """A create made safe to retry: after an ambiguous failure, look for what it made first."""
        deadline = self.resilience.deadline()
        attempts = 0

        async def attempt() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                found = await find(deadline)
                if found is not None:
                    return found
            return await self._once("POST", route, body, deadline)

        return await self.resilience.call(attempt, idempotent=True, deadline=deadline)

    async def _once(self, method: str, route: str, body: dict[str, Any], deadline: float) -> dict[str, Any]:
        """One attempt, no retries: GET sends the body as its query, as MLflow's client does."""
        try:
            if method == "GET":
                return await self.transport.json_once(
                    method, UC_ROUTES + route, deadline=deadline, params=_query(body)
                )
            return await self.transport.json_once(method, UC_ROUTES + route, deadline=deadline, body=body)
        except ApiError as err:
            raise _known_code(err) from None

    def _answer(self, response: Message) -> Message:
        """An answer as clients see it: no request-id tags, `mlflow-artifacts:` locations."""
        _strip_request_ids(response)
        return self.for_client(response)

    async def close(self) -> None:
        return None  # version storage is opened per registration and closed after it


def _query(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (key, ("true" if value else "false") if isinstance(value, bool) else str(value))
        for key, value in body.items()
    ]


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _carries(entity: Any, request_id: str) -> bool:
    tags = entity.get("tags") if isinstance(entity, dict) else None
    return isinstance(tags, list) and any(
        isinstance(t, dict) and t.get("key") == REQUEST_ID_TAG and t.get("value") == request_id for t in tags
    )


def _strip_request_ids(message: Message) -> None:
    """Drop the request-id tag from every model and version of an answer."""
    fields = message.DESCRIPTOR.fields_by_name
    for field in ("registered_model", "model_version"):
        if field in fields and message.HasField(field):
            _drop_request_id(getattr(message, field).tags)
    for field in ("registered_models", "model_versions"):
        for entity in getattr(message, field) if field in fields else ():
            _drop_request_id(entity.tags)


def _drop_request_id(tags: Any) -> None:
    for i in reversed(range(len(tags))):
        if tags[i].key == REQUEST_ID_TAG:
            del tags[i]


def _refuse_prompt_tags(tags: Any) -> None:
    if any(tag.key == PROMPT_TAG for tag in tags):
        raise invalid_parameter(
            f"Prompts cannot be registered as Unity Catalog models (tag '{PROMPT_TAG}'); "
            "Unity Catalog keeps prompts behind its own API"
        )


def _known_code(err: ApiError) -> ApiError:
    """UC's own codes (SCHEMA_DOES_NOT_EXIST, …) as the MLflow codes clients act on; the original
    stays in the message. An unknown code would reach clients as HTTP 500, which they retry."""
    code = err.error_code
    if code in HTTP_STATUS:
        return err
    if code.endswith("DOES_NOT_EXIST"):
        return ApiError(f"{err.message} ({code})", "RESOURCE_DOES_NOT_EXIST")
    if code.endswith("ALREADY_EXISTS"):
        return ApiError(f"{err.message} ({code})", "RESOURCE_ALREADY_EXISTS")
    return err
