"""OpenTelemetry attribute values (OTLP `AnyValue`) as Python values and as the text MLflow keeps.

Shared by whatever stores or copies spans: the local backend's trace store and `flowport migrate`.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.common.v1 import common_pb2


def any_value(value: common_pb2.AnyValue) -> Any:
    """An OTLP AnyValue as a Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def attribute_text(value: common_pb2.AnyValue) -> str:
    """An attribute as MLflow keeps it: strings as they are, anything else JSON-encoded."""
    decoded = any_value(value)
    # bytes_value has no JSON form: str() it, as MLflow's TraceJSONEncoder does.
    return decoded if isinstance(decoded, str) else json.dumps(decoded, default=str)
