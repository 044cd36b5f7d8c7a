"""What this migration does not copy, counted where that is cheap, so nothing is dropped silently:
what the target cannot hold (a capability it lacks) and what the MLflow API cannot set. (The copy
steps add their own partial gaps to the tally as they meet them.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from google.protobuf.message import Message

from flowport.adapters.backend import Backend
from flowport.adapters.capabilities import DESCRIPTIONS, Capability
from flowport.gateway.migrate import reading
from flowport.gateway.migrate.report import Gap
from flowport.v1 import registry_pb2, tracing_pb2, tracking_pb2
from flowport.v1.errors import ApiError
from flowport.v1.mlflow_tags import PROMPT_TAG

COUNT_LIMIT = 10_000  # counting stops here: the report says "≥ n"


async def _count(fetch: Callable[[str], Awaitable[Message]], field: str) -> str:
    total = 0
    async for page in reading.pages(fetch):
        total += len(getattr(page, field))
        if total >= COUNT_LIMIT:
            return f"≥ {total}"
    return str(total)


async def _safely(count: Awaitable[str]) -> str:
    try:
        return await count
    except ApiError:
        return "?"


def _cannot_hold(kind_needs: Capability, target: Backend) -> str:
    return f"target '{target.name}' cannot hold it (no {DESCRIPTIONS[kind_needs]})"


async def gaps(source: Backend, target: Backend, experiment_ids: list[str]) -> list[Gap]:
    found: list[Gap] = []
    caps = source.capabilities
    if Capability.REGISTRY in caps and Capability.REGISTRY not in target.capabilities:
        # Copied by `registry` otherwise (which lists its own gaps: stages, aliases, scope).

        async def models(token: str) -> Message:
            request = registry_pb2.SearchRegisteredModels(max_results=1000, page_token=token)
            return await source.invoke("SearchRegisteredModels", request)

        async def versions(token: str) -> Message:
            request = registry_pb2.SearchModelVersions(max_results=1000, page_token=token)
            return await source.invoke("SearchModelVersions", request)

        async def prompts(token: str) -> Message:
            request = registry_pb2.SearchRegisteredModels(
                filter=f"tags.`{PROMPT_TAG}` = 'true'", max_results=1000, page_token=token
            )
            return await source.invoke("SearchRegisteredModels", request)

        aliases = 0
        try:
            async for page in reading.pages(models):
                aliases += sum(len(m.aliases) for m in page.registered_models)
        except ApiError:
            aliases = -1
        registry = f"target '{target.name}' cannot hold it (no {DESCRIPTIONS[Capability.REGISTRY]})"
        found += [
            Gap("registered models", await _safely(_count(models, "registered_models")), registry),
            Gap("model versions", await _safely(_count(versions, "model_versions")), registry),
            Gap("model aliases", str(aliases) if aliases >= 0 else "?", registry),
            Gap("prompts", await _safely(_count(prompts, "registered_models")), registry),
        ]
    # Copied (logged_models, traces) where the target holds them; their partial gaps come from there.
    if (
        Capability.LOGGED_MODELS in caps
        and Capability.LOGGED_MODELS not in target.capabilities
        and experiment_ids
    ):

        async def logged(token: str) -> Message:
            request = tracking_pb2.SearchLoggedModels(
                experiment_ids=experiment_ids, max_results=100, page_token=token
            )
            return await source.invoke("SearchLoggedModels", request)

        found.append(
            Gap(
                "logged models",
                await _safely(_count(logged, "models")),
                _cannot_hold(Capability.LOGGED_MODELS, target),
            )
        )
    if Capability.TRACING in caps and Capability.TRACING not in target.capabilities and experiment_ids:
        total = 0
        for experiment_id in experiment_ids:

            async def traces(token: str, experiment_id: str = experiment_id) -> Message:
                request = tracing_pb2.SearchTracesV3(max_results=500, page_token=token)
                request.locations.add().mlflow_experiment.experiment_id = experiment_id
                return await source.invoke("SearchTracesV3", request)

            counted = await _safely(_count(traces, "traces"))
            if not counted.isdigit():
                total = -1
                break
            total += int(counted)
        found.append(
            Gap("traces", str(total) if total >= 0 else "?", _cannot_hold(Capability.TRACING, target))
        )
    if Capability.ARTIFACTS in caps and Capability.ARTIFACTS not in target.capabilities:
        found.append(
            Gap("run artifacts", "?", f"target '{target.name}' cannot hold them (no artifact store)")
        )
    found.append(
        Gap(
            "experiment creation times",
            str(len(experiment_ids)),
            "not settable through the MLflow API: copies carry the migration's time",
        )
    )
    return found
