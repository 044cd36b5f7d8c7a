"""`--verify` for an experiment's logged models and its runs' inputs/outputs: each model's copy (found
by the id map) has the same name, type, source run (mapped), status, params, tags, metric points (run
ids mapped) and artifact files (size and sha256), and no source model has two copies; each run's copy
has the same dataset inputs (with their tags) and the same model inputs and outputs, mapped. Links to
models this migration did not copy are left out (the report lists them). Reads only."""

from __future__ import annotations

import asyncio

from flowport.adapters.capabilities import Capability
from flowport.gateway.migrate import logged_models, reading
from flowport.gateway.migrate.content import value_digest
from flowport.gateway.migrate.logged_models import model_info, model_params, model_points, model_tags
from flowport.gateway.migrate.run_links import links_form
from flowport.gateway.migrate.verify import Verifier
from flowport.gateway.migrate.verify import _differences as differences
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError

MODELS = "logged models"
LINKS = "run inputs/outputs"


def _content(model: tracking_pb2.LoggedModel, run_ids: dict[str, str] | None = None) -> dict:
    points = sorted(model_points(model, run_ids))
    return model_info(model, run_ids) | {
        "params": model_params(model),
        "tags": model_tags(model),
        "metric points": f"{len(points)} (sha256 {value_digest(points)[:12]})",
    }


async def verify_logged_models(
    verifier: Verifier,
    source: tracking_pb2.Experiment,
    target_id: str,
    where: str,
    runs: list[tracking_pb2.Run],
) -> None:
    holds = all(Capability.LOGGED_MODELS in b.capabilities for b in (verifier.source, verifier.target))
    model_ids = verifier.state.id_map(logged_models.KIND) if holds else {}
    if holds:
        await _models(verifier, source, target_id, where, model_ids)
    await _links(verifier, runs, where, model_ids, holds)


async def _models(
    verifier: Verifier, source: tracking_pb2.Experiment, target_id: str, where: str, model_ids: dict[str, str]
) -> None:
    result, run_ids = verifier.result, verifier.run_ids
    copies = await logged_models.lineage(verifier.target, target_id)
    by_id = {m.info.model_id: m for found in copies.values() for m in found}
    for origin, found in sorted(copies.items()):
        if len(found) > 1:
            result.found(
                MODELS, f"logged model {origin} of {where}", f"{len(found)} copies in the target (duplicates)"
            )
    for model in await reading.logged_models(verifier.source, source.experiment_id):
        result.checked[MODELS] += 1
        source_id = model.info.model_id
        copy = by_id.get(model_ids.get(source_id, ""))
        name = f"logged model '{model.info.name}' ({source_id} → {model_ids.get(source_id)}) of {where}"
        if copy is None:
            result.found(MODELS, name, "not in the target experiment")
            continue
        problems = differences(_content(model, run_ids), _content(copy))
        if problems:
            result.found(MODELS, name, problems)
        if verifier.artifacts:
            await verifier.compare_artifacts(model.info.artifact_uri, copy.info.artifact_uri, name)


async def _links(
    verifier: Verifier, runs: list[tracking_pb2.Run], where: str, model_ids: dict[str, str], models: bool
) -> None:
    slots = asyncio.Semaphore(4)

    async def one(run: tracking_pb2.Run) -> None:
        target_id = verifier.run_ids.get(run.info.run_id)
        if target_id is None:
            return  # the run check names it
        name = f"run '{run.info.run_name}' ({run.info.run_id} → {target_id}) of {where}"
        async with slots:
            try:
                mine = await reading.get_run(verifier.source, run.info.run_id)
                theirs = await reading.get_run(verifier.target, target_id)
            except ApiError as err:
                verifier.result.found(LINKS, name, f"cannot be compared: {err.message}")
                return
        verifier.result.checked[LINKS] += 1
        wanted, have = links_form(mine, model_ids), links_form(theirs)
        if models:
            # Links to models not copied are gaps (listed by the copy), not mismatches.
            wanted["model_inputs"] = [m for m in wanted["model_inputs"] if m]
            wanted["model_outputs"] = [m for m in wanted["model_outputs"] if m[0]]
        else:
            for form in (wanted, have):
                del form["model_inputs"], form["model_outputs"]
        problems = differences(wanted, have)
        if problems:
            verifier.result.found(LINKS, name, problems)

    await asyncio.gather(*(one(run) for run in runs))
