"""SearchRuns ordered by metrics, params or tags, which Azure ML cannot do (clouds.md §2.4): sorted here.

The order is what `mlflow server` (its SQL store) gives: for each clause, present values first
(metrics: real numbers, then NaN, then missing; params and tags: present, then missing) whatever the
direction, then the value ascending or descending; ties go to later clauses, then start_time
descending (unless a clause named it), then run_id ascending. Pure: runs in, runs out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from flowport.adapters.local.search import OrderKey, parse_run_order_by
from flowport.v1 import tracking_pb2

# Runs fetched per page while collecting a search to sort (MLflow's own SearchRuns default).
FETCH_PAGE_SIZE = 1000
# At most this many matching runs are sorted in the gateway; more fail the call with a clear error.
DEFAULT_MAX_RUNS = 50_000

_MISSING = object()


def gateway_order(order_by: Sequence[str]) -> list[OrderKey] | None:
    """The parsed clauses when the gateway must sort (one names a metric, param or tag), else None.

    Clauses are checked with MLflow's grammar either way, so a bad one fails the same everywhere.
    """
    keys = parse_run_order_by(list(order_by))
    return keys if any(key.kind != "attribute" for key in keys) else None


def sort_runs(runs: Sequence[tracking_pb2.Run], keys: Sequence[OrderKey]) -> list[tracking_pb2.Run]:
    """`runs` in MLflow's order for `keys` (a stable sort per clause, the last clause first)."""
    ordered = sorted(runs, key=lambda run: run.info.run_id or run.info.run_uuid)
    if not any(key.kind == "attribute" and key.key == "start_time" for key in keys):
        ordered.sort(key=lambda run: run.info.start_time, reverse=True)
    for key in reversed(keys):
        ranked: tuple[list, list, list] = ([], [], [])
        for run in ordered:
            value = _value(run, key)
            ranked[_rank(value)].append((value, run))
        # Values in the clause's direction (stable, so ties keep the later clauses' order); NaN and
        # missing values after them, in either direction.
        ranked[0].sort(key=lambda pair: pair[0], reverse=not key.ascending)
        ordered = [run for group in ranked for _, run in group]
    return ordered


def _value(run: tracking_pb2.Run, key: OrderKey) -> Any:
    if key.kind == "metric":
        return next((m.value for m in run.data.metrics if m.key == key.key), _MISSING)
    if key.kind == "param":
        return next((p.value for p in run.data.params if p.key == key.key), _MISSING)
    if key.kind == "tag":
        return next((t.value for t in run.data.tags if t.key == key.key), _MISSING)
    field = "run_id" if key.key == "run_id" else key.key
    if not run.info.HasField(field):
        return run.info.run_uuid if field == "run_id" and run.info.run_uuid else _MISSING
    value = getattr(run.info, field)
    if field == "status":
        return tracking_pb2.RunStatus.Name(value)  # stored and compared by name, as MLflow's SQL does
    return value


def _rank(value: Any) -> int:
    if value is _MISSING:
        return 2
    if isinstance(value, float) and math.isnan(value):
        return 1
    return 0
