"""Metric points as rows of `metrics` and `latest_metrics`: the local backend's hot write path.

Each statement is compiled once per dialect and handed to the driver's executemany with plain tuples,
so a 1000-point batch costs no ORM work and no statement compile. latest_metrics gets one upsert per
(run, key) in the batch, not one per point. Validation is the caller's, and so is the transaction
that makes a write all or nothing.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql, sqlite

from flowport.adapters.local import schema
from flowport.adapters.local.validation import DOUBLE_MAX

Point = tuple[str, float, int, int]  # key, value, timestamp, step
# The order of the columns in the compiled statements (the tables' own order).
_COLUMNS = ("key", "value", "timestamp", "step", "is_nan", "run_uuid")


def _positional(sql: str) -> str:
    """psycopg's named `%(name)s` placeholders → `%s`, so rows can be tuples in column order."""
    return re.sub(r"%\(\w+\)s", "%s", sql)


@functools.cache
def _statements(dialect: sa.Dialect) -> tuple[str, str]:
    """(history insert ignoring exact duplicates, latest_metrics upsert) as SQL for `dialect`."""
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    history = insert(schema.Metric.__table__).on_conflict_do_nothing()
    L = schema.LatestMetric
    latest = insert(L.__table__)
    x = latest.excluded
    # Latest = max by (step, timestamp, value): concurrent writers cannot move it backwards, and on
    # ties the first one logged stays.
    latest = latest.on_conflict_do_update(
        index_elements=["key", "run_uuid"],
        set_={"value": x.value, "timestamp": x.timestamp, "step": x.step, "is_nan": x.is_nan},
        where=sa.tuple_(x.step, x.timestamp, x.value) > sa.tuple_(L.step, L.timestamp, L.value),
    )
    return tuple(  # type: ignore[return-value]
        _positional(str(stmt.compile(dialect=dialect, column_keys=list(_COLUMNS))))
        for stmt in (history, latest)
    )


def insert_points(s: orm.Session, run_id: str, points: Iterable[Point]) -> int:
    """Append `points` to the run's history (exact duplicates ignored) and move latest_metrics forward
    in `s`'s transaction; returns how many points were given. NaN is stored as (0, is_nan), ±inf as
    ±DBL_MAX, as MLflow stores them."""
    rows = []
    latest: dict[str, tuple] = {}
    isnan, isinf = math.isnan, math.isinf
    for key, value, timestamp, step in points:
        is_nan = False
        if isnan(value):
            is_nan, value = True, 0.0
        elif isinf(value):
            value = DOUBLE_MAX if value > 0 else -DOUBLE_MAX
        row = (key, value, timestamp, step, is_nan, run_id)
        rows.append(row)
        best = latest.get(key)
        if best is None or (step, timestamp, value) > (best[3], best[2], best[1]):
            latest[key] = row
    if not rows:
        return 0
    history_sql, latest_sql = _statements(s.get_bind().dialect)
    connection = s.connection()
    connection.exec_driver_sql(history_sql, rows)
    connection.exec_driver_sql(latest_sql, list(latest.values()))
    return len(rows)
