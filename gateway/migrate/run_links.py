"""What links a run to other objects, copied with the run (before its lifecycle is set, so a deleted
copy is restored for the write): its dataset inputs with their input tags, its logged-model inputs and
outputs (ids mapped to the copies), the metric points it logged for logged models, and the traces
linked to it afterwards. Only what the copy lacks is sent: MLflow refuses some repeats (an output)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from google.protobuf import json_format

from flowport.gateway.migrate import logged_models, reading
from flowport.gateway.migrate.content import value_digest
from flowport.gateway.migrate.context import MigrationContext
from flowport.gateway.migrate.experiments import ExperimentCopy
from flowport.gateway.migrate.logged_models import LoggedModelCopies
from flowport.gateway.migrate.traces import TraceCopies
from flowport.v1 import tracking_pb2

KIND = "run"
MODEL_LINKS = "run inputs/outputs naming logged models"
NOT_COPIED = "the logged model is not migrated (its experiment was not chosen, or its copy failed)"
TARGET_LACKS = "the target holds no logged models"
MAX_INPUTS_PER_CALL = 100


def dataset_form(entry: tracking_pb2.DatasetInput) -> dict:
    """A dataset input as content: the dataset's fields and the input's tags."""
    return {
        "dataset": json_format.MessageToDict(entry.dataset, preserving_proto_field_name=True),
        "tags": sorted((t.key, t.value) for t in entry.tags),
    }


def links_form(run: tracking_pb2.Run, model_ids: dict[str, str] | None = None) -> dict:
    """A run's inputs and outputs; with `model_ids`, logged models named by their copies' ids."""

    def mapped(model_id: str) -> str:
        return model_ids.get(model_id, "") if model_ids is not None else model_id

    return {
        "datasets": sorted(
            (dataset_form(d) for d in run.inputs.dataset_inputs), key=lambda f: value_digest(f)
        ),
        "model_inputs": sorted(mapped(m.model_id) for m in run.inputs.model_inputs),
        "model_outputs": sorted((mapped(m.model_id), m.step) for m in run.outputs.model_outputs),
    }


class RunLinks:
    """An experiment's logged models and traces, and the links its runs have to them: `copy_objects`
    once the run copies exist (`RunCopies`' `after_creates`), `sync` per run (its `extra`), `finish`
    after all runs."""

    def __init__(self, ctx: MigrationContext, experiment: ExperimentCopy) -> None:
        self.ctx = ctx
        self.models = LoggedModelCopies(ctx, experiment)
        self.traces = TraceCopies(ctx, experiment)

    async def copy_objects(self) -> None:
        """Logged models first: traces name them (`mlflow.modelId`)."""
        await self.models.sync()
        await self.traces.sync()

    async def finish(self) -> None:
        await self.models.copy_other_runs_metrics()

    async def sync(
        self, run: tracking_pb2.Run, target_id: str | None, writable: Callable[[], Awaitable[None]]
    ) -> bool:
        changed = await self._inputs_outputs(run, target_id, writable)
        changed |= await self.models.copy_metrics(run.info.run_id, target_id, writable)
        changed |= await self.traces.link_run(run, target_id, writable)
        return changed

    def _model_copy(self, model_id: str) -> str | None:
        """The copy's id; in a dry run a placeholder for a model this pass would create."""
        found = self.ctx.ids(logged_models.KIND).get(model_id)
        if found is None and self.ctx.dry_run and model_id in {m.info.model_id for m in self.models.models}:
            return "(would be created)"
        return found

    async def _inputs_outputs(
        self, run: tracking_pb2.Run, target_id: str | None, writable: Callable[[], Awaitable[None]]
    ) -> bool:
        ctx, source_id = self.ctx, run.info.run_id
        # Model inputs come only with GetRun (as in MLflow), not with SearchRuns.
        run = await reading.get_run(ctx.source, source_id)
        model_links = [m.model_id for m in run.inputs.model_inputs] + [
            m.model_id for m in run.outputs.model_outputs
        ]
        unlinkable = [m for m in model_links if not self.models.copied or self._model_copy(m) is None]
        if unlinkable:
            ctx.tally.gap(
                MODEL_LINKS, len(unlinkable), TARGET_LACKS if not self.models.copied else NOT_COPIED
            )
        digest = value_digest(links_form(run))
        if ctx.aspects(KIND).get((source_id, "links")) == digest:
            return False
        have = tracking_pb2.Run()
        if target_id is not None:
            have = await reading.get_run(ctx.target, target_id)
        datasets = {(d.dataset.name, d.dataset.digest) for d in have.inputs.dataset_inputs}
        inputs = {m.model_id for m in have.inputs.model_inputs}
        outputs = {m.model_id for m in have.outputs.model_outputs}
        new_datasets = [
            d for d in run.inputs.dataset_inputs if (d.dataset.name, d.dataset.digest) not in datasets
        ]
        new_inputs, new_outputs = [], []
        for m in run.inputs.model_inputs:
            copy = self._model_copy(m.model_id) if self.models.copied else None
            if copy is not None and copy not in inputs:
                new_inputs.append(tracking_pb2.ModelInput(model_id=copy))
        for m in run.outputs.model_outputs:
            copy = self._model_copy(m.model_id) if self.models.copied else None
            if copy is not None and copy not in outputs:
                new_outputs.append(tracking_pb2.ModelOutput(model_id=copy, step=m.step))
        ctx.tally.dataset_inputs += len(new_datasets)
        ctx.tally.model_inputs += len(new_inputs)
        ctx.tally.model_outputs += len(new_outputs)
        if not ctx.dry_run:
            if new_datasets or new_inputs or new_outputs:
                await writable()
            for start in range(0, max(len(new_datasets), len(new_inputs)), MAX_INPUTS_PER_CALL):
                part = slice(start, start + MAX_INPUTS_PER_CALL)
                request = tracking_pb2.LogInputs(
                    run_id=target_id, datasets=new_datasets[part], models=new_inputs[part]
                )
                await ctx.target.invoke("LogInputs", request)
            for start in range(0, len(new_outputs), MAX_INPUTS_PER_CALL):
                request = tracking_pb2.LogOutputs(
                    run_id=target_id, models=new_outputs[start : start + MAX_INPUTS_PER_CALL]
                )
                await ctx.target.invoke("LogOutputs", request)
            if not unlinkable:  # else a later pass (once the models are there) links the rest
                ctx.set_aspect(KIND, source_id, "links", digest)
        return bool(new_datasets or new_inputs or new_outputs)
