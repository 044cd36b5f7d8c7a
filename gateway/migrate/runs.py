"""Copy the runs of one experiment: create the missing copies (parents before children, so each
child's `mlflow.parentRunId` names its parent's copy), then bring every copy level — params, tags,
metric series, artifacts, status and end time, lifecycle — skipping what the state shows unchanged.

A copy is created with `flowport.migrated_from=<source run id>`. Before creating, the target
experiment is searched for runs carrying that tag, so a pass killed between a CreateRun and the
write of its id finds the run it made instead of making a second one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from flowport.gateway.migrate import reading
from flowport.gateway.migrate.artifacts import copy_artifacts
from flowport.gateway.migrate.content import (
    MIGRATED_FROM,
    PARENT_RUN_TAG,
    comparable_tags,
    mapping_digest,
    target_run_tags,
    value_digest,
)
from flowport.gateway.migrate.context import MigrationContext
from flowport.gateway.migrate.experiments import ExperimentCopy
from flowport.gateway.migrate.metrics import copy_metrics
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError
from flowport.v1.mlflow_tags import RUN_NAME_TAG

KIND = "run"
MAX_PARAMS_TAGS_PER_BATCH = 100  # MLflow's LogBatch limit

# Called once every copy exists, before any is brought level (what needs the run ids, e.g. logged models).
AfterCreates = Callable[[], Awaitable[None]]
# Called per run before its lifecycle is set (a deleted copy is still writable through `writable`):
# (source run, copy's id, writable) → whether anything was (or would be) written.
RunExtra = Callable[[tracking_pb2.Run, str | None, Callable[[], Awaitable[None]]], Awaitable[bool]]


def parents_first(runs: list[tracking_pb2.Run]) -> list[list[tracking_pb2.Run]]:
    """Runs in levels: roots (or runs whose parent is elsewhere) first, then their children, …"""
    by_id = {r.info.run_id: r for r in runs}
    depth: dict[str, int] = {}

    def depth_of(run_id: str, trail: frozenset[str] = frozenset()) -> int:
        if run_id not in depth:
            parent = {t.key: t.value for t in by_id[run_id].data.tags}.get(PARENT_RUN_TAG)
            if parent in by_id and parent not in trail:
                depth[run_id] = depth_of(parent, trail | {run_id}) + 1
            else:
                depth[run_id] = 0
        return depth[run_id]

    levels: dict[int, list[tracking_pb2.Run]] = {}
    for run in runs:
        levels.setdefault(depth_of(run.info.run_id), []).append(run)
    return [levels[d] for d in sorted(levels)]


class RunCopies:
    def __init__(
        self,
        ctx: MigrationContext,
        experiment: ExperimentCopy,
        after_creates: AfterCreates | None = None,
        extra: RunExtra | None = None,
    ) -> None:
        self.ctx = ctx
        self.experiment = experiment
        self.after_creates = after_creates
        self.extra = extra
        self.fresh: set[str] = set()  # source ids whose copy this pass created (empty in the target)
        self.matched: set[str] = set()  # source ids whose unrecorded copy this pass found
        self.target_info: dict[str, tracking_pb2.RunInfo] = {}  # copies made or found this pass

    async def sync(self, runs: list[tracking_pb2.Run]) -> None:
        ctx = self.ctx
        ctx.display.found("runs", len(runs))
        if any(r.info.run_id not in ctx.ids("run") for r in runs) and self.experiment.target_id is not None:
            await self._find_lost_copies({r.info.run_id for r in runs})
        for level in parents_first(runs):
            await ctx.bounded(self._create(r) for r in level if r.info.run_id not in ctx.ids("run"))
        if self.after_creates is not None:
            await self.after_creates()
        await ctx.bounded(self._sync_guarded(r) for r in runs)

    async def _find_lost_copies(self, source_ids: set[str]) -> None:
        """Copies an interrupted pass created but did not record, found by their lineage tag."""
        for copy in await reading.runs(self.ctx.target, self.experiment.target_id):
            origin = {t.key: t.value for t in copy.data.tags}.get(MIGRATED_FROM)
            if origin in source_ids and origin not in self.ctx.ids("run"):
                self.ctx.map_id(KIND, origin, copy.info.run_id)
                self.target_info[origin] = copy.info
                self.matched.add(origin)
                self.ctx.tally.runs.matched += 1

    async def _create(self, run: tracking_pb2.Run) -> None:
        ctx, source_id = self.ctx, run.info.run_id
        self.fresh.add(source_id)
        ctx.tally.runs.created += 1
        tags = target_run_tags(run, ctx.ids("run"))
        run_name = run.info.run_name or tags.get(RUN_NAME_TAG, "")
        tags.pop(RUN_NAME_TAG, None)  # given as run_name: MLflow refuses both when they differ
        ctx.tally.tags += len(tags) + (1 if run_name else 0)
        if ctx.dry_run:
            return
        await self.experiment.writable()
        request = tracking_pb2.CreateRun(
            experiment_id=self.experiment.target_id,
            user_id=run.info.user_id,
            run_name=run_name,
            start_time=run.info.start_time,
        )
        for key, value in {**tags, MIGRATED_FROM: source_id}.items():
            request.tags.add(key=key, value=value)
        created = (await ctx.target.invoke("CreateRun", request)).run
        ctx.map_id(KIND, source_id, created.info.run_id)
        self.target_info[source_id] = created.info
        ctx.set_aspect(KIND, source_id, "tags", mapping_digest(target_run_tags(run, ctx.ids("run"))))
        ctx.set_aspect(KIND, source_id, "artifact_root", created.info.artifact_uri)

    async def _sync_guarded(self, run: tracking_pb2.Run) -> None:
        try:
            await self._sync(run)
        except ApiError as err:
            self.ctx.tally.runs.failed += 1
            self.ctx.tally.failures.append(
                f"run {run.info.run_id} ('{run.info.run_name}') "
                f"of experiment '{self.experiment.source.name}': "
                f"{err.error_code}: {err.message}"
            )
        self.ctx.display.advance("runs")

    async def _sync(self, run: tracking_pb2.Run) -> None:
        ctx, source_id = self.ctx, run.info.run_id
        target_id = ctx.ids("run").get(source_id)
        fresh = source_id in self.fresh
        aspects = ctx.aspects("run")
        info = self.target_info.get(source_id)
        lifecycle = (
            aspects.get((source_id, "lifecycle")) or (info.lifecycle_stage if info else "") or "active"
        )
        restore = asyncio.Lock()

        async def writable() -> None:
            # MLflow refuses writes to a deleted run: a copy deleted earlier is restored first.
            nonlocal lifecycle
            async with restore:
                if lifecycle == "deleted" and not ctx.dry_run:
                    await ctx.target.invoke("RestoreRun", tracking_pb2.RestoreRun(run_id=target_id))
                    lifecycle = "active"

        changed = False
        params = {p.key: p.value for p in run.data.params}
        digest = mapping_digest(params)
        if aspects.get((source_id, "params")) != digest:
            if params:
                changed = True
                await self._log_batch(target_id, "params", params, writable)
                ctx.tally.params += len(params)
            ctx.set_aspect(KIND, source_id, "params", digest)
        changed |= await self._sync_tags(run, target_id, fresh, writable)
        changed |= await copy_metrics(ctx, run, target_id, fresh, writable)
        if ctx.copies_artifacts:
            root = await self._artifact_root(source_id, target_id)
            changed |= await copy_artifacts(ctx, run, root, writable)
        changed |= await self._sync_info(run, target_id, fresh, writable)
        if self.extra is not None:
            changed |= await self.extra(run, target_id, writable)
        wanted = run.info.lifecycle_stage or "active"
        if wanted != lifecycle:
            changed = True
            if not ctx.dry_run:
                rpc = "DeleteRun" if wanted == "deleted" else "RestoreRun"
                await ctx.target.invoke(rpc, getattr(tracking_pb2, rpc)(run_id=target_id))
        ctx.set_aspect(KIND, source_id, "lifecycle", wanted)
        if not fresh and source_id not in self.matched:
            if changed:
                ctx.tally.runs.updated += 1
            else:
                ctx.tally.runs.unchanged += 1

    async def _log_batch(self, target_id: str | None, field: str, values: dict[str, str], writable) -> None:  # noqa: ANN001
        ctx = self.ctx
        ctx.display.advance("params+tags", len(values))
        if ctx.dry_run:
            return
        await writable()
        items = sorted(values.items())
        entity = tracking_pb2.Param if field == "params" else tracking_pb2.RunTag
        for start in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
            part = [entity(key=k, value=v) for k, v in items[start : start + MAX_PARAMS_TAGS_PER_BATCH]]
            await ctx.target.invoke("LogBatch", tracking_pb2.LogBatch(run_id=target_id, **{field: part}))

    async def _sync_tags(self, run: tracking_pb2.Run, target_id: str | None, fresh: bool, writable) -> bool:  # noqa: ANN001
        ctx, source_id = self.ctx, run.info.run_id
        wanted = target_run_tags(run, ctx.ids("run"))
        digest = mapping_digest(wanted)
        if ctx.aspects("run").get((source_id, "tags")) == digest:
            return False
        have: dict[str, str] = {}
        if fresh and ctx.dry_run:
            return False  # counted with the (planned) CreateRun
        if target_id is not None:
            have = comparable_tags((await reading.get_run(ctx.target, target_id)).data.tags)
        changes = {k: v for k, v in wanted.items() if have.get(k) != v}
        extra = sorted(set(have) - set(wanted))
        if changes:
            await self._log_batch(target_id, "tags", changes, writable)
            ctx.tally.tags += len(changes)
        for key in extra:
            if not ctx.dry_run:
                await writable()
                await ctx.target.invoke("DeleteTag", tracking_pb2.DeleteTag(run_id=target_id, key=key))
        ctx.set_aspect(KIND, source_id, "tags", digest)
        return bool(changes or extra)

    async def _sync_info(self, run: tracking_pb2.Run, target_id: str | None, fresh: bool, writable) -> bool:  # noqa: ANN001
        """Status, end time and name: the fields UpdateRun sets (start time and user are set at creation)."""
        ctx, source_id, info = self.ctx, run.info.run_id, run.info
        wanted = {
            "status": tracking_pb2.RunStatus.Name(info.status),
            "end_time": info.end_time if info.HasField("end_time") and info.end_time else None,
            "run_name": info.run_name,
        }
        digest = value_digest(wanted)
        if ctx.aspects("run").get((source_id, "info")) == digest:
            return False
        if not ctx.dry_run:
            await writable()
            request = tracking_pb2.UpdateRun(run_id=target_id, status=info.status, run_name=info.run_name)
            if wanted["end_time"] is not None:
                request.end_time = info.end_time
            await ctx.target.invoke("UpdateRun", request)
        ctx.set_aspect(KIND, source_id, "info", digest)
        return not fresh

    async def _artifact_root(self, source_id: str, target_id: str | None) -> str | None:
        if target_id is None:
            return None
        root = self.ctx.aspects("run").get((source_id, "artifact_root"))
        if root is None:
            info = self.target_info.get(source_id) or (await reading.get_run(self.ctx.target, target_id)).info
            root = info.artifact_uri
            self.ctx.set_aspect(KIND, source_id, "artifact_root", root)
        return root
