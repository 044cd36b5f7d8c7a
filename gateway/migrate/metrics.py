"""Copy a run's metric series: every point with its original step and timestamp, none twice.

A series whose source digest matches the one recorded at its last copy is skipped without reading
the target. Otherwise the target's series is read and only the points it lacks are sent — so a
pass that died between a LogBatch and its record, or a source that gained points, never
duplicates one. Points travel in LogBatch calls of at most MLflow's 1000 metrics.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from flowport.gateway.migrate import reading
from flowport.gateway.migrate.content import Point, point, series_digest
from flowport.gateway.migrate.context import MigrationContext
from flowport.v1 import tracking_pb2

MAX_METRICS_PER_BATCH = 1000  # MLflow's LogBatch limit (also ≤ 1000 entities in total)


async def copy_metrics(
    ctx: MigrationContext,
    run: tracking_pb2.Run,
    target_id: str | None,
    fresh: bool,
    writable: Callable[[], Awaitable[None]],
) -> bool:
    """Bring the copy's series level with the source's; True when any point was (or would be) sent."""
    source_id = run.info.run_id
    keys = sorted({m.key for m in run.data.metrics})
    done = ctx.state.metric_progress(source_id)
    buffer: list[tracking_pb2.Metric] = []
    waiting: list[tuple[str, int, str]] = []  # series whose last point is in the buffer or sent
    sent_any = False

    async def flush(limit: int) -> None:
        nonlocal buffer, sent_any
        while len(buffer) >= limit and buffer:
            part, buffer = buffer[:MAX_METRICS_PER_BATCH], buffer[MAX_METRICS_PER_BATCH:]
            sent_any = True
            if not ctx.dry_run:
                await writable()
                await ctx.target.invoke("LogBatch", tracking_pb2.LogBatch(run_id=target_id, metrics=part))
            ctx.tally.metric_points += len(part)
            ctx.display.advance("metric points", len(part))
        if not buffer:  # everything queued so far is in the target: record it
            for key, count, digest in waiting:
                ctx.state.set_metric_progress(source_id, key, count, digest)
            waiting.clear()

    for key in keys:
        history = await reading.metric_history(ctx.source, source_id, key)
        points = {point(m) for m in history}
        count, digest = series_digest(points)
        if done.get(key) == (count, digest):
            continue
        have: set[Point] = set()
        if target_id is not None and not (fresh and key not in done):
            have = {point(m) for m in await reading.metric_history(ctx.target, target_id, key)}
        for step, timestamp, value in sorted(points - have):
            buffer.append(tracking_pb2.Metric(key=key, value=float(value), timestamp=timestamp, step=step))
        waiting.append((key, count, digest))
        await flush(MAX_METRICS_PER_BATCH)
    await flush(1)
    return sent_any
