"""Copy one experiment: found again (id map, then name) or created, its tags brought level, and its
lifecycle set last — a deleted experiment is restored while runs are written into it."""

from __future__ import annotations

import asyncio

from flowport.gateway.migrate.content import MIGRATED_FROM, comparable_tags, mapping_digest
from flowport.gateway.migrate.context import MigrationContext
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError

KIND = "experiment"


class ExperimentCopy:
    """One source experiment and its copy in the target (None while a dry run has not created it)."""

    def __init__(self, ctx: MigrationContext, source: tracking_pb2.Experiment) -> None:
        self.ctx = ctx
        self.source = source
        self.target_id: str | None = ctx.ids("experiment").get(source.experiment_id)
        self.target_lifecycle = "active"
        self.created = False
        self.matched = False
        self.changed = False
        self._writable = asyncio.Lock()

    @property
    def source_id(self) -> str:
        return self.source.experiment_id

    async def _target(self) -> tracking_pb2.Experiment | None:
        try:
            if self.target_id is not None:
                request = tracking_pb2.GetExperiment(experiment_id=self.target_id)
                return (await self.ctx.target.invoke("GetExperiment", request)).experiment
            request = tracking_pb2.GetExperimentByName(experiment_name=self.source.name)
            return (await self.ctx.target.invoke("GetExperimentByName", request)).experiment
        except ApiError as err:
            if err.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    async def sync(self) -> None:
        """Create or find the copy and level its tags (the lifecycle waits for `finish`)."""
        ctx, tally = self.ctx, self.ctx.tally
        found = await self._target()
        tags = comparable_tags(self.source.tags)
        if found is None:
            if self.target_id is not None:
                raise ApiError(
                    f"experiment {self.target_id} (the copy of '{self.source.name}') is gone from the target",
                    "RESOURCE_DOES_NOT_EXIST",
                )
            tally.experiments.created += 1
            self.created = True
            tally.tags += len(tags)
            if ctx.dry_run:
                return
            request = tracking_pb2.CreateExperiment(name=self.source.name)
            for key, value in {**tags, MIGRATED_FROM: self.source_id}.items():
                request.tags.add(key=key, value=value)
            response = await ctx.target.invoke("CreateExperiment", request)
            ctx.map_id(KIND, self.source_id, response.experiment_id)
            ctx.set_aspect(KIND, self.source_id, "tags", mapping_digest(tags))
            self.target_id = response.experiment_id
            return
        if self.target_id is None:  # same name in the target: adopted (an earlier pass, or a Default)
            tally.experiments.matched += 1
            self.matched = True
            ctx.map_id(KIND, self.source_id, found.experiment_id)
            self.target_id = found.experiment_id
        self.target_lifecycle = found.lifecycle_stage or "active"
        digest = mapping_digest(tags)
        if ctx.aspects("experiment").get((self.source_id, "tags")) == digest:
            return
        have = comparable_tags(found.tags)
        for key, value in tags.items():
            if have.get(key) != value:
                self.changed = True
                tally.tags += 1
                if not ctx.dry_run:
                    request = tracking_pb2.SetExperimentTag(
                        experiment_id=self.target_id, key=key, value=value
                    )
                    await ctx.target.invoke("SetExperimentTag", request)
        for key in sorted(set(have) - set(tags)):
            self.changed = True
            if not ctx.dry_run:
                request = tracking_pb2.DeleteExperimentTag(experiment_id=self.target_id, key=key)
                await ctx.target.invoke("DeleteExperimentTag", request)
        ctx.set_aspect(KIND, self.source_id, "tags", digest)

    async def writable(self) -> None:
        """Before creating a run in the copy: MLflow refuses runs in a deleted experiment."""
        async with self._writable:
            if self.target_lifecycle == "deleted" and not self.ctx.dry_run:
                request = tracking_pb2.RestoreExperiment(experiment_id=self.target_id)
                await self.ctx.target.invoke("RestoreExperiment", request)
                self.target_lifecycle = "active"

    async def finish(self) -> None:
        """Set the copy's lifecycle to the source's, and count the experiment."""
        ctx, tally = self.ctx, self.ctx.tally
        wanted = self.source.lifecycle_stage or "active"
        if wanted != self.target_lifecycle:
            self.changed = True
            if not ctx.dry_run:
                rpc = "DeleteExperiment" if wanted == "deleted" else "RestoreExperiment"
                request = getattr(tracking_pb2, rpc)(experiment_id=self.target_id)
                await ctx.target.invoke(rpc, request)
                self.target_lifecycle = wanted
        if self.created or self.matched:
            return  # counted when it was made or found
        if self.changed:
            tally.experiments.updated += 1
        else:
            tally.experiments.unchanged += 1
