"""The shape of a `MetricColumn` (flowport's columnar metric ingest), checked the same way by every
backend before anything is written: one timestamp per value, and one step per value or none."""

from __future__ import annotations

from collections.abc import Sequence

from flowport.v1 import tracking_pb2
from flowport.v1.errors import invalid_parameter


def checked_steps(i: int, column: tracking_pb2.MetricColumn) -> Sequence[int]:
    """The column's steps (0 for each value when it has none); INVALID_PARAMETER_VALUE for a column
    whose lengths disagree."""
    values, timestamps, steps = column.values, column.timestamps, column.steps
    if len(timestamps) != len(values) or len(steps) not in (0, len(values)):
        raise invalid_parameter(
            f"Column '{column.key}' (columns[{i}]) has {len(values)} values, {len(timestamps)} timestamps"
            f" and {len(steps)} steps: give one timestamp per value, and one step per value or none."
        )
    return steps or [0] * len(values)
