"""The MLflow REST route table, read from the `google.api.http` annotations in proto/.

This is the only list of REST paths: the HTTP door serves it and the outbound MLflow
REST client calls it. Each rule maps (HTTP method, path template) to one RPC.
"""

from __future__ import annotations

import dataclasses
import functools
import re

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from flowport.v1 import artifacts_pb2, auth_pb2, registry_pb2, tracing_pb2, tracking_pb2, workspaces_pb2

SERVICES: tuple[ServiceDescriptor, ...] = (
    tracking_pb2.DESCRIPTOR.services_by_name["TrackingService"],
    registry_pb2.DESCRIPTOR.services_by_name["ModelRegistryService"],
    tracing_pb2.DESCRIPTOR.services_by_name["TracingService"],
    artifacts_pb2.DESCRIPTOR.services_by_name["ArtifactsService"],
    workspaces_pb2.DESCRIPTOR.services_by_name["WorkspaceService"],
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
)

_VARIABLE = re.compile(r"\{([\w.]+)(=\*\*)?\}")


@dataclasses.dataclass(frozen=True)
class HttpRule:
    """One REST binding of an RPC: `GET /api/2.0/mlflow/runs/get` → `GetRun`."""

    method: MethodDescriptor
    http_method: str
    template: str
    body: str  # "" (no body: fields come from the query), "*" (whole message) or a field name
    pattern: re.Pattern[str]
    path_fields: tuple[str, ...]

    @property
    def rpc(self) -> str:
        return self.method.name


def _compile(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    fields: list[str] = []
    regex, pos = "", 0
    for m in _VARIABLE.finditer(template):
        regex += re.escape(template[pos : m.start()])
        fields.append(m.group(1))
        group = m.group(1).replace(".", "__")
        regex += f"(?P<{group}>.+)" if m.group(2) else f"(?P<{group}>[^/]+)"
        pos = m.end()
    regex += re.escape(template[pos:])
    return re.compile(regex + r"\Z"), tuple(fields)


def _rules_of(method: MethodDescriptor) -> list[HttpRule]:
    http = method.GetOptions().Extensions[annotations_pb2.http]
    bindings: list[http_pb2.HttpRule] = [http, *http.additional_bindings]
    rules = []
    for b in bindings:
        kind = b.WhichOneof("pattern")
        if kind is None:
            continue
        template = getattr(b, kind)
        pattern, fields = _compile(template)
        rules.append(HttpRule(method, kind.upper(), template, b.body, pattern, fields))
    return rules


@functools.cache
def all_rules() -> tuple[HttpRule, ...]:
    return tuple(rule for service in SERVICES for m in service.methods for rule in _rules_of(m))
