"""Turns parsed search filters and order_by keys into SQLAlchemy clauses over the tracking tables.

Parsing lives in `flowport.adapters.local.search`; this module only maps its `Comparison` and
`OrderKey` values onto `runs`/`experiments` with MLflow's semantics (NaN metrics never match
but `!=`, NULLs and NaNs sort last, start_time DESC then run_uuid as tie-breakers).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from flowport.adapters.local import schema
from flowport.adapters.local.validation import parse_experiment_id
from flowport.v1.errors import invalid_parameter
from flowport.v1.mlflow_tags import RUN_NAME_TAG

DATASET_CONTEXT_TAG = "mlflow.data.context"

_ATTRIBUTE_ALIASES = {
    "created": "start_time",
    "Created": "start_time",
    "run name": "run_name",
    "Run name": "run_name",
    "Run Name": "run_name",
}
_RUN_COLUMNS: dict[str, Any] = {
    "run_id": schema.Run.run_uuid,
    "run_name": schema.Run.name,
    "status": schema.Run.status,
    "user_id": schema.Run.user_id,
    "artifact_uri": schema.Run.artifact_uri,
    "start_time": schema.Run.start_time,
    "end_time": schema.Run.end_time,
}
_EXPERIMENT_COLUMNS: dict[str, Any] = {
    "name": schema.Experiment.name,
    "experiment_id": schema.Experiment.experiment_id,
    "creation_time": schema.Experiment.creation_time,
    "last_update_time": schema.Experiment.last_update_time,
}
_EXPERIMENT_NUMERIC = {"creation_time", "last_update_time"}


def compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    """`column <op> value` for the comparators of MLflow's search grammar."""
    match op.upper():
        case "=":
            return column == value
        case "!=":
            return column != value
        case ">":
            return column > value
        case ">=":
            return column >= value
        case "<":
            return column < value
        case "<=":
            return column <= value
        case "LIKE":
            return column.like(value)
        case "ILIKE":
            return column.ilike(value)
        case "IN":
            return column.in_(value)
        case "NOT IN":
            return column.not_in(value)
    raise invalid_parameter(f"Invalid comparator '{op}'")


def _run_attribute(key: str) -> str:
    return _ATTRIBUTE_ALIASES.get(key, key)


def _key_value_exists(table: Any, key: str, value_clause: ColumnElement[bool] | None) -> ColumnElement[bool]:
    conditions = [table.run_uuid == schema.Run.run_uuid, table.key == key]
    if value_clause is not None:
        conditions.append(value_clause)
    return sa.exists().where(*conditions)


def _dataset_clause(key: str, op: str, value: Any) -> ColumnElement[bool]:
    i, d = schema.Input, schema.Dataset
    conditions = [
        i.destination_id == schema.Run.run_uuid,
        i.source_type == "DATASET",
        i.source_id == d.dataset_uuid,
    ]
    if key == "context":
        t = schema.InputTag
        conditions += [
            t.input_uuid == i.input_uuid,
            t.name == DATASET_CONTEXT_TAG,
            compare(t.value, op, value),
        ]
    elif key in ("name", "digest"):
        conditions.append(compare(getattr(d, key), op, value))
    else:
        raise invalid_parameter(f"Invalid dataset attribute key '{key}'")
    return sa.exists().where(*conditions)


def run_filter_clauses(comparisons: list[Any]) -> list[ColumnElement[bool]]:
    """WHERE clauses (AND-joined) over `runs` for parsed run filter comparisons."""
    clauses: list[ColumnElement[bool]] = []
    for c in comparisons:
        op = c.op.upper()
        if c.kind == "attribute":
            key = _run_attribute(c.key)
            if key == "run_name":
                # The name column is empty for runs logged by old MLflow; the tag never is.
                tag = schema.Tag
                clauses.append(_key_value_exists(tag, RUN_NAME_TAG, compare(tag.value, op, c.value)))
            elif key in _RUN_COLUMNS:
                clauses.append(compare(_RUN_COLUMNS[key], op, c.value))
            else:
                raise invalid_parameter(f"Invalid attribute key '{c.key}' specified.")
        elif c.kind in ("metric", "param", "tag"):
            table = {"metric": schema.LatestMetric, "param": schema.Param, "tag": schema.Tag}[c.kind]
            if op in ("IS NULL", "IS NOT NULL"):
                exists = _key_value_exists(table, c.key, None)
                clauses.append(~exists if op == "IS NULL" else exists)
                continue
            if c.kind == "metric":
                value_clause = compare(table.value, op, float(c.value))
                # NaN is stored as 0 with is_nan set: every comparison with NaN is false but "!=".
                if op == "!=":
                    value_clause = sa.or_(value_clause, table.is_nan == sa.true())
                else:
                    value_clause = sa.and_(value_clause, table.is_nan == sa.false())
            else:
                value_clause = compare(table.value, op, c.value)
            clauses.append(_key_value_exists(table, c.key, value_clause))
        elif c.kind == "dataset":
            clauses.append(_dataset_clause(c.key, op, c.value))
        else:
            raise invalid_parameter(f"Invalid search expression type '{c.kind}'")
    return clauses


def _metric_join(n: int, key: str) -> tuple[Any, ColumnElement[bool]]:
    """`latest_metrics` as the n-th order key's alias, and its join condition on `runs`."""
    joined = aliased(schema.LatestMetric, name=f"order_{n}")
    return joined, sa.and_(joined.run_uuid == schema.Run.run_uuid, joined.key == key)


def _ordered(
    stmt: sa.Select, order_keys: list[Any], *, first: int = 0, seen: set[tuple[str, str]] | None = None
) -> tuple[sa.Select, list[Any]]:
    """`stmt` with outer joins for `order_keys` (numbered from `first`), and the ORDER BY terms for
    them followed by MLflow's tie-breakers."""
    order: list[Any] = []
    seen = set() if seen is None else seen
    for n, k in enumerate(order_keys, start=first):
        if k.kind == "attribute":
            key = _run_attribute(k.key)
            if key not in _RUN_COLUMNS:
                raise invalid_parameter(f"Invalid order_by attribute key '{k.key}'")
            value = _RUN_COLUMNS[key]
            nulls_last = sa.case((value.is_(None), 1), else_=0)
            ident = ("attribute", key)
        elif k.kind in ("metric", "param", "tag"):
            if k.kind == "metric":
                joined, on = _metric_join(n, k.key)
            else:
                table = {"param": schema.Param, "tag": schema.Tag}[k.kind]
                joined = aliased(table, name=f"order_{n}")
                on = sa.and_(joined.run_uuid == schema.Run.run_uuid, joined.key == k.key)
            stmt = stmt.outerjoin(joined, on)
            value = joined.value
            if k.kind == "metric":
                # Real values first, then NaN, then runs without the metric — in both directions.
                nulls_last = sa.case((joined.is_nan == sa.true(), 1), (value.is_(None), 2), else_=0)
            else:
                nulls_last = sa.case((value.is_(None), 1), else_=0)
            ident = (k.kind, k.key)
        else:
            raise invalid_parameter(f"Invalid identifier type '{k.kind}'")
        if ident in seen:
            raise invalid_parameter(f"`order_by` contains duplicate fields: {k.kind}.{k.key}")
        seen.add(ident)
        order += [nulls_last, value.asc() if k.ascending else value.desc()]
    if ("attribute", "start_time") not in seen:
        order.append(schema.Run.start_time.desc())
    order.append(schema.Run.run_uuid)
    return stmt, order


def apply_run_order(stmt: sa.Select, order_keys: list[Any]) -> sa.Select:
    """Adds outer joins and ORDER BY for `order_keys`, then MLflow's tie-breakers."""
    stmt, order = _ordered(stmt, order_keys)
    return stmt.order_by(*order)


def run_order_tiers(stmt: sa.Select, order_keys: list[Any]) -> list[sa.Select]:
    """`apply_run_order` as statements whose results, read one after another, are its order.

    Ordered first by a metric, the runs come in three tiers — a real value, NaN, no such metric —
    each its own statement: the first is ordered by the value alone, so the index on
    latest_metrics (key, is_nan, value) yields runs in order and a page stops after its rows
    instead of sorting every matching run (one CASE term in ORDER BY defeats any index).
    """
    if not order_keys or order_keys[0].kind != "metric":
        return [apply_run_order(stmt, order_keys)]
    head = order_keys[0]
    rest, order = _ordered(stmt, order_keys[1:], first=1, seen={("metric", head.key)})
    metric, on = _metric_join(0, head.key)
    value = metric.value.asc() if head.ascending else metric.value.desc()
    L = schema.LatestMetric
    has_metric = sa.exists().where(L.run_uuid == schema.Run.run_uuid, L.key == head.key)
    return [
        rest.join(metric, on).where(metric.is_nan == sa.false()).order_by(value, *order),
        rest.join(metric, on).where(metric.is_nan == sa.true()).order_by(*order),
        rest.where(~has_metric).order_by(*order),
    ]


def experiment_filter_clauses(comparisons: list[Any]) -> list[ColumnElement[bool]]:
    """WHERE clauses over `experiments` for parsed experiment filter comparisons."""
    clauses: list[ColumnElement[bool]] = []
    for c in comparisons:
        op = c.op.upper()
        value = c.value
        if c.kind == "attribute":
            if c.key not in _EXPERIMENT_COLUMNS:
                raise invalid_parameter(f"Invalid attribute key '{c.key}' specified.")
            if c.key == "experiment_id":
                if op not in ("=", "!=", "IN", "NOT IN"):
                    raise invalid_parameter(f"Invalid comparator for experiment_id: {op}")
                value = (
                    tuple(parse_experiment_id(v) for v in value)
                    if isinstance(value, tuple)
                    else parse_experiment_id(value)
                )
            elif c.key in _EXPERIMENT_NUMERIC:
                if op not in ("=", "!=", "<", "<=", ">", ">="):
                    raise invalid_parameter(f"Invalid comparator for numeric attribute: {op}")
                if isinstance(value, float):
                    raise invalid_parameter(f"Invalid value for numeric attribute '{c.key}': {str(value)!r}")
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    raise invalid_parameter(
                        f"Invalid value for numeric attribute '{c.key}': {value!r}"
                    ) from None
            elif op not in ("=", "!=", "LIKE", "ILIKE"):
                raise invalid_parameter(f"Invalid comparator for string attribute: {op}")
            clauses.append(compare(_EXPERIMENT_COLUMNS[c.key], op, value))
        elif c.kind == "tag":
            t = schema.ExperimentTag
            base = [t.experiment_id == schema.Experiment.experiment_id, t.key == c.key]
            if op in ("IS NULL", "IS NOT NULL"):
                exists = sa.exists().where(*base)
                clauses.append(~exists if op == "IS NULL" else exists)
            elif op not in ("=", "!=", "LIKE", "ILIKE"):
                raise invalid_parameter(f"Invalid comparator for tag: {op}")
            else:
                clauses.append(sa.exists().where(*base, compare(t.value, op, value)))
        else:
            raise invalid_parameter(f"Invalid token type: {c.kind}")
    return clauses


def experiment_order_clauses(order_keys: list[Any]) -> list[Any]:
    """ORDER BY for experiments; default creation_time DESC, experiment_id ASC."""
    keys = [(k.kind, k.key, k.ascending) for k in order_keys] or [
        ("attribute", "creation_time", False),
        ("attribute", "experiment_id", True),
    ]
    clauses = []
    for kind, key, ascending in keys:
        if kind != "attribute" or key not in _EXPERIMENT_COLUMNS:
            raise invalid_parameter(f"Invalid order_by entity: {kind}")
        column = _EXPERIMENT_COLUMNS[key]
        clauses.append(column.asc() if ascending else column.desc())
    # MLflow's tie-breaker when experiment_id is not ordered on: experiment_id DESC.
    if not any(key == "experiment_id" for _, key, _ in keys):
        clauses.append(schema.Experiment.experiment_id.desc())
    return clauses
