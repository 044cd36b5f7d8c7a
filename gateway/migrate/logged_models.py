"""Copy an experiment's logged models (MLflow 3) once its runs exist: name, type, source run (mapped),
params, tags, status and artifact files; and, run by run, the metric points linked to each model.

A copy is created with `flowport.migrated_from=<source model id>`: a model created before a crash and
not yet recorded is found again by that tag, never made twice. Its artifacts go, like a run's, from the
source model's artifact location to the copy's; it is finalized (READY, UPLOAD_FAILED) only after them,
as `log_model` does. Id map kind `logged_model` (`m-…` → `m-…`): the registry's copy reads it.
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable, Iterable

from flowport.adapters.backend import Backend
from flowport.adapters.capabilities import Capability
from flowport.gateway.migrate import reading
from flowport.gateway.migrate.artifacts import copy_tree
from flowport.gateway.migrate.content import MIGRATED_FROM, mapping_digest, value_digest
from flowport.gateway.migrate.context import MigrationContext
from flowport.gateway.migrate.experiments import ExperimentCopy
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError

KIND = "logged_model"
MAX_PARAMS_PER_CALL = 100
MAX_METRICS_PER_BATCH = 1000  # MLflow's LogBatch limit
FINAL_STATUSES = (tracking_pb2.LOGGED_MODEL_READY, tracking_pb2.LOGGED_MODEL_UPLOAD_FAILED)
CREATION_TIMES = "logged model creation times"
NOT_SETTABLE = "not settable through the MLflow API: copies carry the migration's time"
OTHER_RUNS = "logged-model metric points of runs not migrated"

# (run id, key, step, timestamp, repr(value), dataset name, dataset digest)
ModelPoint = tuple[str, str, int, int, str, str, str]


def model_tags(model: tracking_pb2.LoggedModel) -> dict[str, str]:
    return {t.key: t.value for t in model.info.tags if t.key != MIGRATED_FROM}


def model_params(model: tracking_pb2.LoggedModel) -> dict[str, str]:
    return {p.key: p.value for p in model.data.params}


def model_info(model: tracking_pb2.LoggedModel, run_ids: dict[str, str] | None = None) -> dict[str, object]:
    """The fields a copy must match; with `run_ids`, the source run as the copy's id."""
    info = model.info
    source_run = info.source_run_id
    if run_ids is not None and source_run:
        source_run = run_ids.get(source_run, "")
    return {
        "name": info.name,
        "model_type": info.model_type,
        "source_run_id": source_run,
        "status": tracking_pb2.LoggedModelStatus.Name(info.status),
    }


def model_points(
    model: tracking_pb2.LoggedModel, run_ids: dict[str, str] | None = None, run_id: str | None = None
) -> set[ModelPoint]:
    """The model's metric points (of one run if `run_id`), with run ids mapped when `run_ids` is given."""
    points = set()
    for m in model.data.metrics:
        if run_id is not None and m.run_id != run_id:
            continue
        run = run_ids.get(m.run_id, "") if run_ids is not None else m.run_id
        points.add((run, m.key, m.step, m.timestamp, repr(float(m.value)), m.dataset_name, m.dataset_digest))
    return points


async def lineage(backend: Backend, experiment_id: str) -> dict[str, list[tracking_pb2.LoggedModel]]:
    """origin → the models of a target experiment that carry flowport's lineage tag naming it."""
    found: dict[str, list[tracking_pb2.LoggedModel]] = collections.defaultdict(list)
    for model in await reading.logged_models(backend, experiment_id):
        origin = {t.key: t.value for t in model.info.tags}.get(MIGRATED_FROM)
        if origin:
            found[origin].append(model)
    return found


class LoggedModelCopies:
    """The logged models of one source experiment and their copies."""

    def __init__(self, ctx: MigrationContext, experiment: ExperimentCopy) -> None:
        self.ctx = ctx
        self.experiment = experiment
        self.models: list[tracking_pb2.LoggedModel] = []
        self._by_run: dict[str, list[tracking_pb2.LoggedModel]] = collections.defaultdict(list)
        self._runs_done: set[str] = set()
        self._matched: set[str] = set()
        self._targets: dict[str, tracking_pb2.LoggedModel] = {}  # copies read this pass

    @property
    def copied(self) -> bool:
        """Whether both ends hold logged models (else the gaps list them, counted from the source)."""
        caps = Capability.LOGGED_MODELS
        return caps in self.ctx.source.capabilities and caps in self.ctx.target.capabilities

    async def sync(self) -> None:
        ctx = self.ctx
        if not self.copied:
            return
        self.models = await reading.logged_models(ctx.source, self.experiment.source_id)
        for model in self.models:
            for run_id in {m.run_id for m in model.data.metrics if m.run_id}:
                self._by_run[run_id].append(model)
        if not self.models:
            return
        ctx.tally.gap(CREATION_TIMES, len(self.models), NOT_SETTABLE)
        unmapped = {m.info.model_id for m in self.models} - set(ctx.ids(KIND))
        if unmapped and self.experiment.target_id is not None:
            await self._find_lost_copies(unmapped)
        await ctx.bounded(self._sync_guarded(m) for m in self.models)

    async def _find_lost_copies(self, source_ids: set[str]) -> None:
        """Copies an interrupted pass created but did not record, found by their lineage tag."""
        for origin, copies in (await lineage(self.ctx.target, self.experiment.target_id)).items():
            if origin in source_ids and origin not in self.ctx.ids(KIND):
                copy = copies[0]
                self.ctx.map_id(KIND, origin, copy.info.model_id)
                self._targets[origin] = copy
                self._matched.add(origin)
                self.ctx.tally.logged_models.matched += 1

    async def _sync_guarded(self, model: tracking_pb2.LoggedModel) -> None:
        try:
            await self._sync(model)
        except ApiError as err:
            self.ctx.tally.logged_models.failed += 1
            self.ctx.tally.failures.append(
                f"logged model {model.info.model_id} ('{model.info.name}') of experiment "
                f"'{self.experiment.source.name}': {err.error_code}: {err.message}"
            )

    async def _sync(self, model: tracking_pb2.LoggedModel) -> None:
        ctx, source_id = self.ctx, model.info.model_id
        target_id = ctx.ids(KIND).get(source_id)
        fresh = target_id is None
        if fresh:
            target_id = await self._create(model)
        changed = False
        if not fresh:
            changed |= await self._sync_tags(model, target_id)
            changed |= await self._sync_params(model, target_id)
        if ctx.copies_artifacts:
            root = await self._artifact_root(source_id, target_id)
            changed |= await copy_tree(
                ctx, source_id, model.info.artifact_uri, root, self.experiment.writable
            )
        changed |= await self._sync_status(model, target_id)
        if not fresh and source_id not in self._matched:
            if changed:
                ctx.tally.logged_models.updated += 1
            else:
                ctx.tally.logged_models.unchanged += 1

    async def _create(self, model: tracking_pb2.LoggedModel) -> str | None:
        ctx, info, source_id = self.ctx, model.info, model.info.model_id
        tags, params = model_tags(model), model_params(model)
        ctx.tally.logged_models.created += 1
        ctx.tally.tags += len(tags)
        ctx.tally.params += len(params)
        if ctx.dry_run:
            return None
        await self.experiment.writable()
        request = tracking_pb2.CreateLoggedModel(
            experiment_id=self.experiment.target_id, name=info.name, model_type=info.model_type
        )
        source_run = ctx.ids("run").get(info.source_run_id) if info.source_run_id else None
        if source_run:
            request.source_run_id = source_run
        for key, value in {**tags, MIGRATED_FROM: source_id}.items():
            request.tags.add(key=key, value=value)
        items = sorted(params.items())
        for key, value in items[:MAX_PARAMS_PER_CALL]:
            request.params.add(key=key, value=value)
        created = (await ctx.target.invoke("CreateLoggedModel", request)).model
        target_id = created.info.model_id
        ctx.map_id(KIND, source_id, target_id)
        self._targets[source_id] = created
        ctx.set_aspect(KIND, source_id, "artifact_root", created.info.artifact_uri)
        ctx.set_aspect(KIND, source_id, "tags", mapping_digest(tags))
        await self._log_params(target_id, dict(items[MAX_PARAMS_PER_CALL:]))
        ctx.set_aspect(KIND, source_id, "params", mapping_digest(params))
        return target_id

    async def _target(self, source_id: str, target_id: str) -> tracking_pb2.LoggedModel:
        if source_id not in self._targets:
            request = tracking_pb2.GetLoggedModel(model_id=target_id)
            self._targets[source_id] = (await self.ctx.target.invoke("GetLoggedModel", request)).model
        return self._targets[source_id]

    async def _sync_tags(self, model: tracking_pb2.LoggedModel, target_id: str) -> bool:
        ctx, source_id = self.ctx, model.info.model_id
        wanted = model_tags(model)
        digest = mapping_digest(wanted)
        if ctx.aspects(KIND).get((source_id, "tags")) == digest:
            return False
        have = model_tags(await self._target(source_id, target_id))
        changes = {k: v for k, v in wanted.items() if have.get(k) != v}
        extra = sorted(set(have) - set(wanted))
        ctx.tally.tags += len(changes)
        if not ctx.dry_run:
            if changes or extra:
                await self.experiment.writable()
            if changes:
                request = tracking_pb2.SetLoggedModelTags(model_id=target_id)
                for key, value in changes.items():
                    request.tags.add(key=key, value=value)
                await ctx.target.invoke("SetLoggedModelTags", request)
            for key in extra:
                request = tracking_pb2.DeleteLoggedModelTag(model_id=target_id, tag_key=key)
                await ctx.target.invoke("DeleteLoggedModelTag", request)
        ctx.set_aspect(KIND, source_id, "tags", digest)
        return bool(changes or extra)

    async def _sync_params(self, model: tracking_pb2.LoggedModel, target_id: str) -> bool:
        """Params are immutable: only new keys are sent (a changed value fails as MLflow says)."""
        ctx, source_id = self.ctx, model.info.model_id
        wanted = model_params(model)
        digest = mapping_digest(wanted)
        if ctx.aspects(KIND).get((source_id, "params")) == digest:
            return False
        have = model_params(await self._target(source_id, target_id))
        missing = {k: v for k, v in wanted.items() if have.get(k) != v}
        ctx.tally.params += len(missing)
        if not ctx.dry_run and missing:
            await self.experiment.writable()
            await self._log_params(target_id, missing)
        ctx.set_aspect(KIND, source_id, "params", digest)
        return bool(missing)

    async def _log_params(self, target_id: str, params: dict[str, str]) -> None:
        items = sorted(params.items())
        for start in range(0, len(items), MAX_PARAMS_PER_CALL):
            request = tracking_pb2.LogLoggedModelParamsRequest(model_id=target_id)
            for key, value in items[start : start + MAX_PARAMS_PER_CALL]:
                request.params.add(key=key, value=value)
            await self.ctx.target.invoke("LogLoggedModelParams", request)

    async def _sync_status(self, model: tracking_pb2.LoggedModel, target_id: str | None) -> bool:
        """Finalized (READY, UPLOAD_FAILED) like the source, after the artifacts; PENDING stays."""
        ctx, source_id, status = self.ctx, model.info.model_id, model.info.status
        wanted = tracking_pb2.LoggedModelStatus.Name(status)
        before = ctx.aspects(KIND).get((source_id, "status"))
        if before == wanted or status not in FINAL_STATUSES:
            return False
        if not ctx.dry_run:
            await self.experiment.writable()
            request = tracking_pb2.FinalizeLoggedModel(model_id=target_id, status=status)
            await ctx.target.invoke("FinalizeLoggedModel", request)
        ctx.set_aspect(KIND, source_id, "status", wanted)
        return before is not None

    async def _artifact_root(self, source_id: str, target_id: str | None) -> str | None:
        if target_id is None:
            return None
        root = self.ctx.aspects(KIND).get((source_id, "artifact_root"))
        if root is None:
            root = (await self._target(source_id, target_id)).info.artifact_uri
            self.ctx.set_aspect(KIND, source_id, "artifact_root", root)
        return root

    # ---- metric points linked to models, written with the run that logged them ----------------

    async def copy_metrics(
        self, run_id: str, target_run_id: str | None, writable: Callable[[], Awaitable[None]]
    ) -> bool:
        """The points `run_id` logged for this experiment's models, linked to their copies; only the
        points a copy lacks are sent (in LogBatch, which also keeps the run's own series whole)."""
        self._runs_done.add(run_id)
        ctx, sent = self.ctx, False
        for model in self._by_run.get(run_id, ()):
            source_id = model.info.model_id
            target_id = ctx.ids(KIND).get(source_id)
            points = model_points(model, run_id=run_id)
            digest = value_digest(sorted(points))
            aspect = f"metrics:{run_id}"
            if ctx.aspects(KIND).get((source_id, aspect)) == digest:
                continue
            if target_id is None and not ctx.dry_run:
                continue  # the model's copy failed (a failure of its own)
            missing = points
            if target_id is not None and target_run_id is not None:
                copy = await self._target(source_id, target_id)
                have = {
                    (p[1], p[2], p[3], p[4], p[5], p[6]) for p in model_points(copy, run_id=target_run_id)
                }
                missing = {p for p in points if p[1:] not in have}
            if missing:
                sent = True
                ctx.tally.model_metrics += len(missing)
                if not ctx.dry_run:
                    await writable()
                    await self._log_points(target_run_id, target_id, missing)
            if not ctx.dry_run:
                ctx.set_aspect(KIND, source_id, aspect, digest)
        return sent

    async def _log_points(
        self, target_run_id: str | None, target_id: str | None, points: Iterable[ModelPoint]
    ) -> None:
        metrics = [
            tracking_pb2.Metric(
                key=key,
                value=float(value),
                timestamp=timestamp,
                step=step,
                model_id=target_id,
                dataset_name=dataset_name,
                dataset_digest=dataset_digest,
            )
            for _, key, step, timestamp, value, dataset_name, dataset_digest in sorted(points)
        ]
        for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            request = tracking_pb2.LogBatch(
                run_id=target_run_id, metrics=metrics[start : start + MAX_METRICS_PER_BATCH]
            )
            await self.ctx.target.invoke("LogBatch", request)

    async def copy_other_runs_metrics(self) -> None:
        """Points logged for these models from runs of other experiments: linked when that run was
        copied (by this pass or an earlier one), else listed as not migrated."""

        async def as_is() -> None:
            return None

        for run_id in sorted(set(self._by_run) - self._runs_done):
            target_run = self.ctx.ids("run").get(run_id)
            if target_run is None:
                count = sum(len(model_points(m, run_id=run_id)) for m in self._by_run[run_id])
                self.ctx.tally.gap(OTHER_RUNS, count, "the run that logged them is not migrated")
                continue
            try:
                await self.copy_metrics(run_id, target_run, as_is)
            except ApiError as err:
                self.ctx.tally.failures.append(
                    f"logged-model metrics of run {run_id} in experiment '{self.experiment.source.name}': "
                    f"{err.error_code}: {err.message}"
                )
