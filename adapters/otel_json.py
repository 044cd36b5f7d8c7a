"""OTLP messages (a span with its attributes, events, links and status) as protobuf's JSON mapping,
byte for byte what `json_format.MessageToJson(message, indent=None)` writes, several times faster.

json_format works out how to write a field again for every value, builds dicts, then json.dumps them;
here each message type's fields are looked at once, each gets a writer of its JSON text, and the text
is joined as json.dumps would lay it out. A message type holding something this does not handle (map
fields, extensions, closed enums, well-known types) is written by json_format, whole.
"""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Callable
from json.encoder import encode_basestring_ascii  # json.dumps's own (ensure_ascii=True)
from typing import Any

from google.protobuf import descriptor, json_format
from google.protobuf.internal import type_checkers
from google.protobuf.message import Message

_Field = descriptor.FieldDescriptor
_Writer = Callable[[Any], str]


class _Unsupported(Exception):
    """A message type json_format writes in its own way (or that this module does not know)."""


def message_to_json(message: Message) -> str:
    """`json_format.MessageToJson(message, indent=None)`, faster for plain message types."""
    try:
        return _message(message)
    except _Unsupported:
        return json_format.MessageToJson(message, indent=None)


def _message(message: Message) -> str:
    plan = _plan(message.DESCRIPTOR)
    try:
        members = [plan[field](value) for field, value in message.ListFields()]
    except KeyError:  # an extension
        raise _Unsupported from None
    return "{" + ", ".join(members) + "}"


@functools.cache
def _plan(message_type: descriptor.Descriptor) -> dict[_Field, _Writer]:
    """Each field's writer of `"jsonName": value`."""
    if message_type.file.name.startswith("google/protobuf/"):  # wrappers, Struct, Timestamp, Any…
        raise _Unsupported
    return {field: _member(field) for field in message_type.fields}


def _member(field: _Field) -> _Writer:
    name = encode_basestring_ascii(field.json_name) + ": "
    write = _value_writer(field)
    if field.is_repeated:
        return lambda values: name + "[" + ", ".join(map(write, values)) + "]"
    return lambda value: name + write(value)


def _value_writer(field: _Field) -> _Writer:
    kind = field.cpp_type
    if kind == _Field.CPPTYPE_MESSAGE:
        if field.message_type.GetOptions().map_entry:
            raise _Unsupported
        return _message
    if kind == _Field.CPPTYPE_ENUM:
        if field.enum_type.is_closed:  # an unknown number is an error there, not a number
            raise _Unsupported
        names = {v.number: encode_basestring_ascii(v.name) for v in field.enum_type.values}
        return lambda number: names.get(number) or str(number)
    if kind == _Field.CPPTYPE_STRING:
        if field.type == _Field.TYPE_BYTES:
            return lambda data: '"' + base64.b64encode(data).decode("ascii") + '"'
        return encode_basestring_ascii
    if kind in (_Field.CPPTYPE_INT64, _Field.CPPTYPE_UINT64):
        return lambda number: '"' + str(number) + '"'  # quoted: JSON numbers lose 64-bit precision
    if kind == _Field.CPPTYPE_BOOL:
        return lambda flag: "true" if flag else "false"
    if kind == _Field.CPPTYPE_DOUBLE:
        return _double
    if kind == _Field.CPPTYPE_FLOAT:
        return lambda value: _double(type_checkers.ToShortestFloat(value) if math.isfinite(value) else value)
    return str  # 32-bit integers


def _double(value: float) -> str:
    if math.isinf(value):
        return '"-Infinity"' if value < 0 else '"Infinity"'
    if math.isnan(value):
        return '"NaN"'
    return float.__repr__(value)
