"""flowport's registry messages ↔ the JSON of MLflow's Unity Catalog registry messages.

The UC messages (`mlflow/protos/databricks_uc_registry_messages.proto`) use the same field names as
flowport's registry messages, except: a version's aliases are `{alias, version}` objects, not names;
versions carry `storage_location`, `run_experiment_id` and `run_tracking_server_id`; there are no
stages and no `run_link`. Written without importing mlflow (DESIGN.md decision 10); the tests parse
every body this module writes with MLflow's own messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf.message import Message

from flowport.v1 import registry_pb2
from flowport.v1.errors import ApiError
from flowport.v1.json_codec import dict_to_message, message_to_dict

# Fields of a UC model version that flowport's ModelVersion does not have.
_UC_ONLY_VERSION_FIELDS = ("storage_location", "run_experiment_id", "run_tracking_server_id")


def request_json(message: Message, *, only: Iterable[str] | None = None) -> dict[str, Any]:
    """A flowport request as the UC request of the same fields (`only` those, when given)."""
    body = message_to_dict(message)
    if only is not None:
        keep = set(only)
        body = {key: value for key, value in body.items() if key in keep}
    return body


def model_version(data: Any, backend: str) -> registry_pb2.ModelVersion:
    """A UC `ModelVersion` object as flowport's ModelVersion."""
    if not isinstance(data, dict):
        raise _unreadable(backend, "a model version is not a JSON object")
    fields = {key: value for key, value in data.items() if key not in _UC_ONLY_VERSION_FIELDS}
    aliases = fields.pop("aliases", [])
    if not isinstance(aliases, list):
        raise _unreadable(backend, "a model version's aliases are not a list")
    fields["aliases"] = [
        a["alias"] for a in aliases if isinstance(a, dict) and isinstance(a.get("alias"), str)
    ]
    if fields.get("status") not in registry_pb2.ModelVersionStatus.keys():
        fields.pop("status", None)  # UC's UNSPECIFIED, or a status newer than this gateway
    return _parse(fields, registry_pb2.ModelVersion(), backend)


def registered_model(data: Any, backend: str) -> registry_pb2.RegisteredModel:
    """A UC `RegisteredModel` object as flowport's RegisteredModel (UC sends no latest_versions)."""
    if not isinstance(data, dict):
        raise _unreadable(backend, "a registered model is not a JSON object")
    return _parse(data, registry_pb2.RegisteredModel(), backend)


def storage_location(data: Any) -> str:
    """Where a UC model version's files go ('' when UC did not say)."""
    value = data.get("storage_location") if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""


def _parse(data: dict[str, Any], message: Message, backend: str) -> Any:
    try:
        # Newer UC fields are dropped, as MLflow's client drops fields it does not know.
        return dict_to_message(data, message, ignore_unknown_fields=True)
    except ApiError as err:
        raise _unreadable(backend, err.message) from None


def _unreadable(backend: str, why: str) -> ApiError:
    return ApiError(
        f"Backend '{backend}' (Unity Catalog) answered an unreadable response: {why}", "INTERNAL_ERROR"
    )
