"""Audit records: one per call, allowed or not, shaped after Databricks' `system.access.audit`
(reference/peers.md §5.3), and the queries `flowport audit` runs over them.

Request parameters are summarised, not copied: secrets (by field name) are masked, long text is
cut, repeated fields larger than a handful are counted — a record stays small whatever the call.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import uuid
from typing import Any

import sqlalchemy as sa
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from flowport.auth import schema

MASK = "****"
_SECRET_FIELD = re.compile(r"password|passwd|secret|token|credential|authorization|api_?key|private", re.I)
_MAX_TEXT = 256
_MAX_ITEMS = 10
_MAX_DEPTH = 4
_random = random.Random()  # seeded from os.urandom once, at import


def random_uuid() -> uuid.UUID:
    """A version-4 UUID from the process's PRNG: ids that must be unique, not unguessable, without a
    system call per call (uuid4 reads os.urandom)."""
    return uuid.UUID(int=_random.getrandbits(128), version=4)


class Outcome:
    ALLOWED = "allowed"  # authorized; `status_code` says how the call then went
    DENIED = "denied"  # PERMISSION_DENIED: the backend was not called
    UNAUTHENTICATED = "unauthenticated"
    ERROR = "error"  # failed before a decision (e.g. no such run to check the experiment of)


@dataclasses.dataclass
class AuditRecord:
    event_time: int  # ms since the epoch
    request_id: str
    principal: str
    principal_kind: str
    auth_method: str
    groups: list[str]
    source_ip: str
    user_agent: str
    workspace: str
    backend: str
    service_name: str
    action: str
    resources: list[str]  # "experiment:12", "registered_model:churn"
    request_params: dict[str, Any]
    outcome: str
    status_code: int
    error_code: str
    latency_ms: float
    event_id: str = dataclasses.field(default_factory=lambda: str(random_uuid()))
    # The request itself, summarised into `request_params` by `materialize()` off the call path.
    request: Message | None = dataclasses.field(default=None, repr=False, compare=False)

    def materialize(self) -> AuditRecord:
        if self.request is not None:
            self.request_params, self.request = request_params(self.request), None
        return self

    def fields(self) -> dict[str, Any]:
        self.materialize()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "request"}

    def to_row(self) -> dict[str, Any]:
        row = self.fields()
        for key in ("groups", "resources", "request_params"):
            row[key] = json.dumps(row[key], sort_keys=True)
        return row

    def to_json(self) -> str:
        return json.dumps(self.fields(), sort_keys=True)


def request_params(message: Message) -> dict[str, Any]:
    """The request's set fields, secrets masked and sizes bounded."""
    return _summary(message, 0)


def _summary(message: Message, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if _SECRET_FIELD.search(field.name):
            out[field.name] = MASK
        elif field.is_repeated and not _is_map(field):
            if len(value) > _MAX_ITEMS or field.type == FieldDescriptor.TYPE_MESSAGE and depth >= _MAX_DEPTH:
                out[field.name] = f"[{len(value)} items]"
            else:
                out[field.name] = [_value(field, v, depth) for v in value]
        elif _is_map(field):
            out[field.name] = f"[{len(value)} entries]"
        else:
            out[field.name] = _value(field, value, depth)
    return out


def _value(field: FieldDescriptor, value: Any, depth: int) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _summary(value, depth + 1) if depth < _MAX_DEPTH else "{...}"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        return value[:_MAX_TEXT] + f"...<{len(value)} chars>"
    return value


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


# --- the audit table ---------------------------------------------------------------------------


def write(engine: sa.Engine, records: list[AuditRecord]) -> None:
    if records:
        with engine.begin() as conn:
            conn.execute(schema.audit_events.insert(), [r.to_row() for r in records])


@dataclasses.dataclass(frozen=True)
class AuditQuery:
    principal: str | None = None
    action: str | None = None
    resource: str | None = None  # an id or name; matches "kind:id" for any kind, or "kind:id" exactly
    workspace: str | None = None
    outcome: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    limit: int = 100


def search(engine: sa.Engine, query: AuditQuery) -> list[AuditRecord]:
    """Newest first."""
    t = schema.audit_events
    select = sa.select(t).order_by(t.c.event_time.desc(), t.c.seq.desc()).limit(max(1, query.limit))
    for column, value in (
        ("principal", query.principal),
        ("action", query.action),
        ("workspace", query.workspace),
        ("outcome", query.outcome),
    ):
        if value:
            select = select.where(t.c[column] == value)
    if query.since_ms is not None:
        select = select.where(t.c.event_time >= query.since_ms)
    if query.until_ms is not None:
        select = select.where(t.c.event_time < query.until_ms)
    if query.resource:
        quoted = json.dumps(query.resource)[1:-1]
        pattern = f'%"{quoted}"%' if ":" in query.resource else f'%:{quoted}"%'
        select = select.where(t.c.resources.like(pattern))
    with engine.connect() as conn:
        rows = conn.execute(select).all()
    return [_record(row) for row in rows]


def _record(row: sa.Row) -> AuditRecord:
    values = dict(row._mapping)
    values.pop("seq")
    for key in ("groups", "resources", "request_params"):
        values[key] = json.loads(values[key])
    return AuditRecord(**values)
