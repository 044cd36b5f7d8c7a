"""Metric points as rows of `metrics` and `latest_metrics`: the local backend's hot write path.

Each statement is compiled once per dialect and handed to the driver's executemany with plain tuples,
so a 1000-point batch costs no ORM work and no statement compile. latest_metrics gets one upsert per
(run, key) in the batch, not one per point. Validation is the caller's, and so is the transaction
that makes a write all or nothing.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql, sqlite

from flowport.adapters.local import schema
from flowport.adapters.local.validation import DOUBLE_MAX

Point = tuple[str, float, int, int]  # key, value, timestamp, step
# key, values, timestamps, steps (all of one length)
Column = tuple[str, Sequence[float], Sequence[int], Sequence[int]]
# The order of the columns in the compiled statements (the tables' own order).
_COLUMNS = ("key", "value", "timestamp", "step", "is_nan", "run_uuid")
_SQL: dict[str, tuple[str, str]] = {}  # dialect name → the statements


def _positional(sql: str) -> str:
    """psycopg's named `%(name)s` placeholders → `%s`, so rows can be tuples in column order."""
    return re.sub(r"%\(\w+\)s", "%s", sql)


def _statements(dialect: sa.Dialect) -> tuple[str, str]:
    """(history insert ignoring exact duplicates, latest_metrics upsert) as SQL for `dialect`."""
    found = _SQL.get(dialect.name)
    if found is None:
        found = _SQL[dialect.name] = _compile(dialect)
    return found


def _compile(dialect: sa.Dialect) -> tuple[str, str]:
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
    return _write(s, rows, latest)


def insert_columns(s: orm.Session, run_id: str, columns: Iterable[Column]) -> int:
    """`insert_points` for columns of points (steps as long as values): the rows are zipped and each
    column's latest point found without a Python step per point, unless the column holds NaN or ±inf."""
    rows: list[tuple] = []
    latest: dict[str, tuple] = {}
    repeat = itertools.repeat
    for key, values, timestamps, steps in columns:
        if not values:
            continue
        total = sum(values)
        if total - total == 0:  # every value finite, stored as it is
            rows += zip(repeat(key), values, timestamps, steps, repeat(False), repeat(run_id), strict=False)
            step, timestamp, value = max(zip(steps, timestamps, values, strict=True))
            best = (key, value, timestamp, step, False, run_id)
        else:  # some value is NaN or ±inf (or the sum overflowed): point by point
            column_rows = [_row(run_id, key, *point) for point in zip(values, timestamps, steps, strict=True)]
            rows += column_rows
            best = max(column_rows, key=_latest_order)  # the first of equal maxima, as in insert_points
        if key not in latest or _latest_order(best) > _latest_order(latest[key]):
            latest[key] = best
    return _write(s, rows, latest)


def _write(s: orm.Session, rows: list[tuple], latest: dict[str, tuple]) -> int:
    if not rows:
        return 0
    history_sql, latest_sql = _statements(s.get_bind().dialect)
    connection = s.connection()
    connection.exec_driver_sql(history_sql, rows)
    connection.exec_driver_sql(latest_sql, list(latest.values()))
    return len(rows)


def _row(run_id: str, key: str, value: float, timestamp: int, step: int) -> tuple:
    is_nan = False
    if math.isnan(value):
        is_nan, value = True, 0.0
    elif math.isinf(value):
        value = DOUBLE_MAX if value > 0 else -DOUBLE_MAX
    return (key, value, timestamp, step, is_nan, run_id)


def _latest_order(row: tuple) -> tuple:
    """(step, timestamp, stored value) of a row in column order: what latest_metrics keeps the max of."""
    return row[3], row[2], row[1]
