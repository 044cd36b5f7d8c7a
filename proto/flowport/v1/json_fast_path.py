"""Decoded JSON → message by keyword construction (C-level in upb), for bodies whose values already
have the Python types their fields take: a 1000-metric LogBatch builds ~10x faster than through
`json_format.ParseDict`.

Anything this path is not sure of — a camelCase or unknown name, null, a number in a string, an
unquoted NaN, an enum, bytes, a map, a well-known type, a oneof — gives up (False), and the caller
parses with ParseDict, so what is accepted and every error message stay ParseDict's.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

INT_TYPES = {  # every integer kind: JSON numbers (or digit strings) in MLflow's JSON
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SFIXED64,
}
# What each field kind takes as it is: the JSON decoder's types, checked exactly (a bool is not an int).
_STRING, _INT, _DOUBLE, _BOOL, _MESSAGE = range(5)
_TAKES = {_STRING: (str,), _INT: (int,), _DOUBLE: (float, int), _BOOL: (bool,), _MESSAGE: (dict,)}


# Doubles the JSON mapping spells as strings (how the mlflow client sends NaN and ±inf).
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class _GiveUp(Exception):
    """The value is not one this path handles; ParseDict decides."""


@functools.cache
def _plan(descriptor: Descriptor) -> dict[str, tuple[int, bool, Descriptor | None]] | None:
    """Field name → (kind, repeated, message descriptor); None for a message this path never builds."""
    if descriptor.full_name.startswith("google.protobuf."):
        return None
    plan = {}
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and len(oneof.fields) > 1:  # ParseDict refuses two members; a build would not
            return None
        t = field.type
        if t == FieldDescriptor.TYPE_STRING:
            kind = _STRING
        elif t in INT_TYPES:
            kind = _INT
        elif t == FieldDescriptor.TYPE_DOUBLE:
            kind = _DOUBLE
        elif t == FieldDescriptor.TYPE_BOOL:
            kind = _BOOL
        elif t == FieldDescriptor.TYPE_MESSAGE and not field.message_type.GetOptions().map_entry:
            kind = _MESSAGE
        else:
            continue  # enums, bytes, floats, maps: a body naming one gives up
        plan[field.name] = (kind, field.is_repeated, field.message_type)
    return plan


def _value(kind: int, sub: Descriptor | None, value: Any) -> Any:
    if type(value) not in _TAKES[kind]:
        if kind == _DOUBLE and type(value) is str and value in _NON_FINITE:
            return _NON_FINITE[value]
        raise _GiveUp
    if kind == _MESSAGE:
        return _build(sub, value)
    if kind == _DOUBLE and value - value != 0:  # NaN or ±inf: ParseDict wants them quoted
        raise _GiveUp
    return value


def _build(descriptor: Descriptor, data: dict[str, Any]) -> Message:
    plan = _plan(descriptor)
    if plan is None:
        raise _GiveUp
    kwargs = {}
    for name, value in data.items():
        entry = plan.get(name)
        if entry is None:
            raise _GiveUp
        kind, repeated, sub = entry
        if repeated:
            if type(value) is not list:
                raise _GiveUp
            kwargs[name] = [_value(kind, sub, item) for item in value]
        else:
            kwargs[name] = _value(kind, sub, value)
    try:
        return GetMessageClass(descriptor)(**kwargs)
    except (TypeError, ValueError, OverflowError):  # out of the field's range: ParseDict's message
        raise _GiveUp from None


def build_into(data: dict[str, Any], message: Message) -> bool:
    """Fill `message` from `data` as ParseDict would; False (message untouched) if this path gave up."""
    try:
        built = _build(message.DESCRIPTOR, data)
    except (_GiveUp, RecursionError):
        return False
    for name, value in data.items():
        if type(value) is list:  # ParseDict replaces a repeated field; MergeFrom would append
            message.ClearField(name)
    message.MergeFrom(built)
    return True
