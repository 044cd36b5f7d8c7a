"""JSON ↔ proto with MLflow's conventions, for the HTTP door (inbound) and the MLflow REST adapter (outbound).

Responses: original field names, int64 as JSON numbers (as `mlflow server` sends them),
enums by name, only fields that are set. Requests: a JSON body, or for GET the query
string, typed by the message's descriptor; anything that does not fit is
INVALID_PARAMETER_VALUE naming the field.
"""

from __future__ import annotations

import base64
import functools
import keyword
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from flowport.v1 import json_fast_path
from flowport.v1.errors import invalid_parameter

_FLOAT_TYPES = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}


def _scalar_to_json(field: FieldDescriptor, value: Any) -> Any:
    t = field.type
    if t == FieldDescriptor.TYPE_ENUM:
        enum_value = field.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value is not None else value
    if t in _FLOAT_TYPES:
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if t == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value


def _float_to_json(value: float) -> Any:
    if value - value == 0:  # finite; NaN and ±inf are not
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _bytes_to_json(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


Converter = Callable[[Any], Any]
Encoder = Callable[[Message], dict[str, Any]]


def _scalar_converter(field: FieldDescriptor) -> Converter | None:
    """How one scalar value becomes JSON; None where it already is its JSON form."""
    t = field.type
    if t == FieldDescriptor.TYPE_ENUM:
        names = {v.number: v.name for v in field.enum_type.values}
        return lambda value: names.get(value, value)
    if t in _FLOAT_TYPES:
        return _float_to_json
    if t == FieldDescriptor.TYPE_BYTES:
        return _bytes_to_json
    return None


def _message_converter(descriptor: Descriptor) -> Converter:
    # Well-known types (Timestamp, Duration, Value, FieldMask) have their own JSON forms:
    # "2025-04-15T08:49:18.699Z", "1.5s", plain JSON values.
    if descriptor.full_name.startswith("google.protobuf."):
        return json_format.MessageToDict
    # Looked up when first called, so recursive messages compile.
    return lambda message: _encoder(descriptor)(message)


def _messages_converter(descriptor: Descriptor) -> Converter:
    """A repeated message field: its element encoder is looked up once per list, not per element."""
    if descriptor.full_name.startswith("google.protobuf."):
        return lambda items: [json_format.MessageToDict(v) for v in items]

    def convert(items: Sequence[Message]) -> list[dict[str, Any]]:
        encode = _encoder(descriptor)
        return [encode(v) for v in items]

    return convert


def _field_converter(field: FieldDescriptor) -> Converter | None:
    if field.message_type is not None:
        if field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.message_type is not None:
                nested = _message_converter(value_field.message_type)
                return lambda entries: {k: nested(v) for k, v in entries.items()}
            scalar = _scalar_converter(value_field)
            if scalar is None:
                return dict
            return lambda entries: {k: scalar(v) for k, v in entries.items()}
        if field.is_repeated:
            return _messages_converter(field.message_type)
        return _message_converter(field.message_type)
    scalar = _scalar_converter(field)
    if field.is_repeated:
        return list if scalar is None else lambda items: [scalar(v) for v in items]
    return scalar


@functools.cache
def _encoder(descriptor: Descriptor) -> Encoder:
    """`message_to_dict` for one message type, generated once as straight-line code (as dataclasses
    generates __init__): large responses (metric history, search pages) hold tens of thousands of
    the same small message, and one HasField per field beats ListFields' tuples ~2x under upb and a
    loop over the fields by another third."""
    namespace: dict[str, Any] = {}
    lines = ["def encode(message):", "    out = {}", "    has = message.HasField"]
    for n, field in enumerate(sorted(descriptor.fields, key=lambda f: f.number)):  # ListFields' order
        name, convert = field.name, _field_converter(field)
        value = f"message.{name}" if not keyword.iskeyword(name) else f"getattr(message, {name!r})"
        if convert is not None:
            namespace[f"convert_{n}"] = convert
        rendered = "value" if convert is None else f"convert_{n}(value)"
        if field.is_repeated or not field.has_presence:  # set means non-empty / non-default
            lines += [f"    value = {value}", "    if value:", f"        out[{name!r}] = {rendered}"]
        else:
            lines += [
                f"    if has({name!r}):",
                f"        value = {value}",
                f"        out[{name!r}] = {rendered}",
            ]
    lines.append("    return out")
    exec("\n".join(lines), namespace)  # noqa: S102 - the source is built from descriptors, not input
    return namespace["encode"]


def message_to_dict(message: Message) -> dict[str, Any]:
    """The JSON object `mlflow server` would send for `message`."""
    return _encoder(message.DESCRIPTOR)(message)


def dict_to_message(data: Any, message: Message, *, ignore_unknown_fields: bool = False) -> Message:
    """Fill `message` from a decoded JSON body; wrong types are rejected, and unknown fields too
    unless `ignore_unknown_fields` (a newer upstream server may answer with fields we lack)."""
    if not isinstance(data, dict):
        raise invalid_parameter("Request body must be a JSON object")
    if json_fast_path.build_into(data, message):
        return message
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=ignore_unknown_fields)
    except json_format.ParseError as exc:
        raise invalid_parameter(f"Invalid request for {message.DESCRIPTOR.name}: {exc}") from None
    return message


def _parse_query_scalar(field: FieldDescriptor, raw: str) -> Any:
    t = field.type
    try:
        if t in json_fast_path.INT_TYPES:
            return int(raw)
        if t in _FLOAT_TYPES:
            return float(raw)
    except ValueError:
        raise invalid_parameter(
            f"Invalid value '{raw}' for parameter '{field.name}': expected a number"
        ) from None
    if t == FieldDescriptor.TYPE_BOOL:
        if raw.lower() not in ("true", "false"):
            raise invalid_parameter(f"Invalid boolean value: {raw}, must be 'true' or 'false'.")
        return raw.lower() == "true"
    if t == FieldDescriptor.TYPE_ENUM:
        if raw.isdigit() and int(raw) in field.enum_type.values_by_number:
            return int(raw)
        enum_value = field.enum_type.values_by_name.get(raw)
        if enum_value is None:
            allowed = ", ".join(field.enum_type.values_by_name)
            raise invalid_parameter(f"Invalid value '{raw}' for parameter '{field.name}': one of {allowed}")
        return enum_value.number
    if t == FieldDescriptor.TYPE_MESSAGE:
        raise invalid_parameter(f"Parameter '{field.name}' cannot be given in the query string")
    return raw


def query_to_message(query: Mapping[str, Sequence[str]], message: Message) -> Message:
    """Fill `message` from query parameters (`?run_id=..&experiment_ids=1&experiment_ids=2`)."""
    descriptor: Descriptor = message.DESCRIPTOR
    for name, raw_values in query.items():
        field = descriptor.fields_by_name.get(name)
        if field is None:
            raise invalid_parameter(f"Unknown parameter '{name}' for {descriptor.name}")
        if field.is_repeated:
            getattr(message, name).extend(_parse_query_scalar(field, v) for v in raw_values)
        else:
            setattr(message, name, _parse_query_scalar(field, raw_values[-1]))
    return message


def set_path_fields(message: Message, values: Mapping[str, str]) -> None:
    """Assign path variables (`/logged-models/{model_id}`) to their fields."""
    for path, raw in values.items():
        target = message
        *parents, leaf = path.split(".")
        for p in parents:
            target = getattr(target, p)
        field = target.DESCRIPTOR.fields_by_name[leaf]
        setattr(target, leaf, _parse_query_scalar(field, raw))


def message_to_query(message: Message) -> list[tuple[str, str]]:
    """The query string an MLflow server reads for `message` (GET routes): repeated fields repeat,
    booleans are `true`/`false`, enums go by name. Nested messages cannot travel in a query."""
    params: list[tuple[str, str]] = []
    for field, value in message.ListFields():
        if field.message_type is not None:
            raise invalid_parameter(f"Field '{field.name}' of {message.DESCRIPTOR.name} cannot go in a query")
        for item in value if field.is_repeated else [value]:
            rendered = _scalar_to_json(field, item)
            params.append(
                (
                    field.name,
                    ("true" if rendered else "false") if isinstance(rendered, bool) else str(rendered),
                )
            )
    return params
