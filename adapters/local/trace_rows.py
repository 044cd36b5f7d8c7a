"""Rows of the tracing tables written many at a time: the hot write path of span ingest.

Each statement is an INSERT … ON CONFLICT compiled once per dialect, and its rows go to the driver's
executemany as tuples, so an export of any number of spans costs a few statements and no ORM work.
Concurrent writers of the same rows never fail on a duplicate key: the database settles who wins.
What the rows hold (roll-ups, which tags a span suggests) is the trace store's; so is the transaction.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql, sqlite

from flowport.adapters.local.span_rows import SpanRow
from flowport.adapters.local.trace_schema import Span, TraceInfo, TraceRequestMetadata, TraceRunLink, TraceTag

_TRACE_INFO_COLUMNS = tuple(c.name for c in TraceInfo.__table__.columns)
_SPAN_KEY = ("trace_id", "span_id")
_KEY_VALUE_COLUMNS = ("request_id", "key", "value")
_RUN_LINK_COLUMNS = ("request_id", "run_id")
_NAMED_PARAMETER = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class _Compiled:
    """A statement as the driver takes it, and how to turn a row (a dict) into its parameters."""

    sql: str
    parameters: Callable[[dict[str, Any]], tuple]

    def execute(self, s: orm.Session, rows: Iterable[dict[str, Any]]) -> None:
        parameters = list(map(self.parameters, rows))
        if parameters:
            s.connection().exec_driver_sql(self.sql, parameters)


def _compiled(stmt: sa.Insert, dialect: sa.Dialect, columns: Iterable[str]) -> _Compiled:
    compiled = stmt.compile(dialect=dialect, column_keys=list(columns))
    if compiled.positional:  # SQLite's `?`
        return _Compiled(compiled.string, operator.itemgetter(*compiled.positiontup))
    # psycopg's `%(name)s` → `%s`, so the parameters are tuples too.
    names = _NAMED_PARAMETER.findall(compiled.string)
    return _Compiled(_NAMED_PARAMETER.sub("%s", compiled.string), operator.itemgetter(*names))


@dataclass(frozen=True)
class _Statements:
    create_traces: sa.Insert  # run through SQLAlchemy: it returns the ids it inserted
    upsert_tags: _Compiled
    insert_tags: _Compiled
    upsert_metadata: _Compiled
    upsert_spans: _Compiled
    link_runs: _Compiled


_BY_DIALECT: dict[str, _Statements] = {}  # kept per dialect name, not per engine


def _statements(dialect: sa.Dialect) -> _Statements:
    found = _BY_DIALECT.get(dialect.name)
    if found is None:
        found = _BY_DIALECT[dialect.name] = _compile(dialect)
    return found


def _compile(dialect: sa.Dialect) -> _Statements:
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert

    def upsert(table: Any) -> sa.Insert:
        stmt = insert(table.__table__)
        return stmt.on_conflict_do_update(
            index_elements=["key", "request_id"], set_={"value": stmt.excluded.value}
        )

    spans = insert(Span.__table__)
    replaced = {c.name: spans.excluded[c.name] for c in Span.__table__.columns if c.name not in _SPAN_KEY}
    spans = spans.on_conflict_do_update(index_elements=list(_SPAN_KEY), set_=replaced)
    span_columns = [c.name for c in Span.__table__.columns]
    return _Statements(
        create_traces=insert(TraceInfo.__table__)
        .on_conflict_do_nothing()
        .returning(TraceInfo.__table__.c.request_id),
        upsert_tags=_compiled(upsert(TraceTag), dialect, _KEY_VALUE_COLUMNS),
        insert_tags=_compiled(
            insert(TraceTag.__table__).on_conflict_do_nothing(), dialect, _KEY_VALUE_COLUMNS
        ),
        upsert_metadata=_compiled(upsert(TraceRequestMetadata), dialect, _KEY_VALUE_COLUMNS),
        upsert_spans=_compiled(spans, dialect, span_columns),
        link_runs=_compiled(
            insert(TraceRunLink.__table__).on_conflict_do_nothing(), dialect, _RUN_LINK_COLUMNS
        ),
    )


def _of(s: orm.Session) -> _Statements:
    return _statements(s.get_bind().dialect)


def create_traces(s: orm.Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the `trace_info` rows (a column left out is NULL) that no writer has stored yet, in id
    order, so concurrent writers of several traces take PostgreSQL's row locks in one order; the ids
    this call created."""
    if not rows:
        return set()
    # A multi-row insert takes every column in every row.
    whole = sorted(
        (dict.fromkeys(_TRACE_INFO_COLUMNS) | r for r in rows), key=operator.itemgetter("request_id")
    )
    return set(s.scalars(_of(s).create_traces, whole))


def upsert_tags(s: orm.Session, rows: Iterable[dict[str, Any]]) -> None:
    """Set trace tags (`request_id`, `key`, `value`), overwriting a stored value."""
    _of(s).upsert_tags.execute(s, rows)


def insert_missing_tags(s: orm.Session, rows: Iterable[dict[str, Any]]) -> None:
    """Set trace tags that are not set yet; a stored value stays."""
    _of(s).insert_tags.execute(s, rows)


def upsert_metadata(s: orm.Session, rows: Iterable[dict[str, Any]]) -> None:
    """Set trace request metadata (`request_id`, `key`, `value`), overwriting a stored value."""
    _of(s).upsert_metadata.execute(s, rows)


def span_rows(experiment_id: int, spans: Iterable[SpanRow]) -> list[dict[str, Any]]:
    """The `spans` table's rows of `spans`, in key order (so concurrent writers of the same spans lock
    them in one order); of a span given twice, the last copy."""
    unique = {(r.trace_id, r.span_id): r for r in spans}
    return [
        {
            "trace_id": r.trace_id,
            "experiment_id": experiment_id,
            "span_id": r.span_id,
            "parent_span_id": r.parent_span_id,
            "name": r.name,
            "type": r.type,
            "status": r.status,
            "start_time_unix_nano": r.start_time_unix_nano,
            "end_time_unix_nano": r.end_time_unix_nano,
            "content": r.content,
        }
        for _, r in sorted(unique.items())
    ]


def upsert_spans(s: orm.Session, rows: Iterable[dict[str, Any]]) -> None:
    """Store spans (rows from `span_rows`); one stored before under the same (trace, span) id is
    replaced whole."""
    _of(s).upsert_spans.execute(s, rows)


def link_runs(s: orm.Session, rows: Iterable[dict[str, Any]]) -> None:
    """Link traces to runs (`request_id`, `run_id`); a link made before stays."""
    _of(s).link_runs.execute(s, rows)
