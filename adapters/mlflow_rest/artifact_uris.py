"""Clients see `mlflow-artifacts:` locations only; the backend keeps its native ones (s3://, …).

`ArtifactUriMap` rewrites the artifact-location fields of messages on the way out (native →
`mlflow-artifacts:/<path under the root>`) and on the way in (the reverse), so a client never
learns where the bytes live and always moves them through the gateway (DESIGN.md decision 5).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from google.protobuf.message import Message

CLIENT_SCHEME = "mlflow-artifacts"
# Fields of MLflow's messages that hold an artifact location.
URI_FIELDS = frozenset({"artifact_location", "artifact_uri", "source", "storage_location", "root_uri"})
# Tags whose value is an artifact location (a trace's artifact folder).
URI_TAGS = frozenset({"mlflow.artifactLocation"})


def _client_path(uri: str) -> str | None:
    """The path of an `mlflow-artifacts:` URI (authority dropped), or None for other schemes."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme != CLIENT_SCHEME:
        return None
    return parsed.path.lstrip("/")


class ArtifactUriMap:
    """Maps URIs under the backend's native artifact root to and from `mlflow-artifacts:`."""

    def __init__(self, native_root: str) -> None:
        self.native_root = native_root.rstrip("/")

    def to_client(self, uri: str) -> str:
        path = _client_path(uri)
        if path is None:
            if uri != self.native_root and not uri.startswith(self.native_root + "/"):
                return uri  # outside the root the gateway can reach: left as the backend says
            path = uri[len(self.native_root) :].lstrip("/")
        return f"{CLIENT_SCHEME}:/{path}"

    def to_native(self, uri: str) -> str:
        path = _client_path(uri)
        if path is None or _client_path(self.native_root + "/") is not None:
            return uri if path is None else f"{CLIENT_SCHEME}:/{path}"
        return f"{self.native_root}/{path}" if path else self.native_root

    def outbound(self, message: Message) -> Message:
        """Rewrite a response for the client, in place."""
        _rewrite(message, self.to_client)
        return message

    def inbound(self, message: Message) -> Message:
        """Rewrite a request for the backend; returns a rewritten copy (the caller's stays as sent)."""
        copy = type(message)()
        copy.CopyFrom(message)
        _rewrite(copy, self.to_native)
        return copy


def _rewrite(message: Message, fn: Callable[[str], str]) -> None:
    for field, value in message.ListFields():
        if field.message_type is None:
            if (
                field.name in URI_FIELDS
                and field.type == field.TYPE_STRING
                and not field.is_repeated
                and value
            ):
                setattr(message, field.name, fn(value))
            continue
        if field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.message_type is None:
                for key in URI_TAGS & set(value):
                    value[key] = fn(value[key])
            else:
                for item in value.values():
                    _rewrite(item, fn)
        elif field.is_repeated:
            for item in value:
                _rewrite_tag(item, fn)
                _rewrite(item, fn)
        else:
            _rewrite(value, fn)


def _rewrite_tag(item: Message, fn: Callable[[str], str]) -> None:
    """A `{key, value}` tag message whose key names an artifact location."""
    fields = item.DESCRIPTOR.fields_by_name
    if "key" in fields and "value" in fields and fields["value"].type == fields["value"].TYPE_STRING:
        if item.key in URI_TAGS and item.value:
            item.value = fn(item.value)
