"""Turns parsed trace filters and order_by keys into SQLAlchemy clauses over `trace_info`.

Parsing lives in `flowport.adapters.local.search`; this maps its `Comparison`s onto the trace tables
with MLflow's semantics: tags and metadata by key, spans by name/type/status/content, assessments
by name over valid ones only, `run_id` as the source-run metadata or a link to the run.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from flowport.adapters.local.run_search import compare
from flowport.adapters.local.trace_schema import (
    Assessment,
    Span,
    TraceInfo,
    TraceRequestMetadata,
    TraceRunLink,
    TraceTag,
)
from flowport.v1.errors import invalid_parameter

SOURCE_RUN = "mlflow.sourceRun"
LINKED_PROMPTS = "mlflow.linkedPrompts"
_END_TIME = TraceInfo.timestamp_ms + sa.func.coalesce(TraceInfo.execution_time_ms, 0)
_ATTRIBUTES: dict[str, Any] = {
    "request_id": TraceInfo.request_id,
    "timestamp_ms": TraceInfo.timestamp_ms,
    "execution_time_ms": TraceInfo.execution_time_ms,
    "end_time_ms": _END_TIME,
    "status": TraceInfo.status,
    "client_request_id": TraceInfo.client_request_id,
    "experiment_id": TraceInfo.experiment_id,
}
_SPAN_COLUMNS = {"name": Span.name, "type": Span.type, "status": Span.status, "content": Span.content}
_NULL_OPS = ("IS NULL", "IS NOT NULL")


def _key_value(table: Any, key: str, op: str, value: Any) -> ColumnElement[bool]:
    base = [table.request_id == TraceInfo.request_id, table.key == key]
    if op in _NULL_OPS:
        exists = sa.exists().where(*base)
        return ~exists if op == "IS NULL" else exists
    return sa.exists().where(*base, compare(table.value, op, value))


def _run_clause(op: str, value: Any) -> ColumnElement[bool]:
    """`run_id`: the trace was logged in the run (metadata) or linked to it afterwards."""
    linked = sa.exists().where(
        TraceRunLink.request_id == TraceInfo.request_id, compare(TraceRunLink.run_id, op, value)
    )
    return sa.or_(_key_value(TraceRequestMetadata, SOURCE_RUN, op, value), linked)


def _assessment_clause(kind: str, name: str, op: str, value: Any) -> ColumnElement[bool]:
    base = [
        Assessment.trace_id == TraceInfo.request_id,
        Assessment.assessment_type == kind,
        Assessment.name == name,
        Assessment.valid == sa.true(),
    ]
    if op in _NULL_OPS:
        exists = sa.exists().where(*base)
        return ~exists if op == "IS NULL" else exists
    if op in ("<", "<=", ">", ">="):
        return sa.exists().where(*base, compare(Assessment.numeric_value, op, float(value)))
    text = str(value)
    if op in ("=", "!="):
        # Values are stored as JSON: 'yes' matches "yes", and 'true' / '0.9' match true / 0.9.
        candidates = {text, json.dumps(text)}
        matches = Assessment.value.in_(candidates)
        return sa.exists().where(*base, matches if op == "=" else ~matches)
    return sa.exists().where(*base, compare(Assessment.value, op, text))


def _linked_prompt_clause(value: str) -> ColumnElement[bool]:
    """`prompt = 'name/3'`: the trace was linked to version 3 of prompt `name` (a JSON list tag)."""
    name, _, version = value.partition("/")
    entry = json.dumps({"name": name, "version": version})
    escaped = entry.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.exists().where(
        TraceTag.request_id == TraceInfo.request_id,
        TraceTag.key == LINKED_PROMPTS,
        TraceTag.value.like(f"%{escaped}%", escape="\\"),
    )


def filter_clauses(comparisons: list[Any]) -> list[ColumnElement[bool]]:
    """WHERE clauses (AND-joined) over `trace_info` for parsed trace filter comparisons."""
    clauses: list[ColumnElement[bool]] = []
    for c in comparisons:
        op = c.op.upper()
        if op == "RLIKE":
            # Regular expressions differ between SQLite (none built in) and PostgreSQL.
            raise invalid_parameter("RLIKE is not supported when searching traces on this backend.")
        if c.kind == "tag" and c.key == LINKED_PROMPTS:
            clauses.append(_linked_prompt_clause(c.value))
        elif c.kind == "attribute":
            column = _ATTRIBUTES.get(c.key)
            if column is None:
                raise invalid_parameter(f"Invalid attribute key '{c.key}' specified.")
            clauses.append(compare(column, op, c.value))
        elif c.kind == "tag":
            clauses.append(_key_value(TraceTag, c.key, op, c.value))
        elif c.kind == "metadata" and c.key == SOURCE_RUN and op in ("=", "IN"):
            clauses.append(_run_clause(op, c.value))
        elif c.kind == "metadata":
            clauses.append(_key_value(TraceRequestMetadata, c.key, op, c.value))
        elif c.kind == "span":
            column = _SPAN_COLUMNS.get(c.key)
            if column is None:
                raise invalid_parameter(
                    f"Filtering traces on span '{c.key}' is not supported by this backend; "
                    f"supported span keys: {sorted(_SPAN_COLUMNS)}."
                )
            clauses.append(
                sa.exists().where(Span.trace_id == TraceInfo.request_id, compare(column, op, c.value))
            )
        elif c.kind in ("feedback", "expectation"):
            clauses.append(_assessment_clause(c.kind, c.key, op, c.value))
        else:
            raise invalid_parameter(f"Invalid search expression type '{c.kind}'")
    return clauses


def apply_order(stmt: sa.Select, order_keys: list[Any]) -> sa.Select:
    """ORDER BY for trace search; default newest first, then request_id, as MLflow."""
    order: list[Any] = []
    for n, k in enumerate(order_keys):
        if k.kind == "attribute":
            column = _ATTRIBUTES.get(k.key)
            if column is None:
                raise invalid_parameter(f"Invalid order_by attribute key '{k.key}'")
        elif k.kind in ("tag", "metadata"):
            table = TraceTag if k.kind == "tag" else TraceRequestMetadata
            joined = aliased(table, name=f"order_{n}")
            stmt = stmt.outerjoin(
                joined, sa.and_(joined.request_id == TraceInfo.request_id, joined.key == k.key)
            )
            column = joined.value
        else:
            raise invalid_parameter(f"Invalid order_by entity type '{k.kind}'")
        order.append(column.asc() if k.ascending else column.desc())
    if not any(k.kind == "attribute" and k.key == "timestamp_ms" for k in order_keys):
        order.append(TraceInfo.timestamp_ms.desc())
    order.append(TraceInfo.request_id)
    return stmt.order_by(*order)
