"""`--verify` for the registry: every registered model and prompt in scope compared with its copy —
description, tags, aliases (on the mapped versions), and each version by its mapped number: stage,
status, description, tags, run id and source in the target's ids — plus a check that no source
version has two copies and no copy outlived its source. Reads only."""

from __future__ import annotations

import collections

from flowport.adapters.capabilities import Capability
from flowport.gateway.migrate import reading
from flowport.gateway.migrate.content import (
    MIGRATED_FROM,
    comparable_tags,
    is_prompt,
    target_model_tags,
    target_version_tags,
)
from flowport.gateway.migrate.model_versions import (
    Lineage,
    number_of,
    version_info,
    version_key,
    versions_of,
)
from flowport.gateway.migrate.registry import Scope, get_model, registered_models
from flowport.gateway.migrate.verify import Verifier
from flowport.gateway.migrate.verify import _differences as differences
from flowport.v1 import registry_pb2 as pb
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError


async def verify_registry(verifier: Verifier, experiments: list[tracking_pb2.Experiment]) -> None:
    source, target, state = verifier.source, verifier.target, verifier.state
    if not all(Capability.REGISTRY in b.capabilities for b in (source, target)):
        return
    ids = {kind: state.id_map(kind) for kind in ("run", "experiment", "logged_model", "model_version")}
    every = {e.experiment_id for e in await reading.experiments(source)}
    chosen = {e.experiment_id for e in experiments}
    scope = Scope(source, None if chosen == every else chosen)
    lineage = Lineage(source, target, lambda kind: ids.get(kind, {}), state.aspects("run"))
    check = _Check(verifier, ids, lineage)
    versions: dict[str, list[pb.ModelVersion]] = collections.defaultdict(list)
    for version in await versions_of(source):
        versions[version.name].append(version)
    for model in await registered_models(source):
        if await scope.why_not(versions[model.name], ids["run"], planned=False):
            continue  # left out by the copy, and listed there
        try:
            await check.model(model, versions[model.name])
        except ApiError as err:
            kind = "prompts" if is_prompt(model.tags) else "registered models"
            verifier.result.found(kind, f"'{model.name}'", f"cannot be compared: {err.message}")


class _Check:
    def __init__(self, verifier: Verifier, ids: dict[str, dict[str, str]], lineage: Lineage) -> None:
        self.result = verifier.result
        self.target = verifier.target
        self.ids = ids
        self.lineage = lineage
        self.stages = Capability.REGISTRY_STAGES in self.target.capabilities
        self.aliases = Capability.REGISTRY_ALIASES in self.target.capabilities

    async def model(self, model: pb.RegisteredModel, versions: list[pb.ModelVersion]) -> None:
        prompt = is_prompt(model.tags)
        kind, version_kind = (
            ("prompts", "prompt versions") if prompt else ("registered models", "model versions")
        )
        result, name = self.result, f"'{model.name}'"
        result.checked[kind] += 1
        copy = await get_model(self.target, model.name)
        if copy is None:
            result.found(kind, name, "not in the target")
            return
        problems = differences(
            {"description": model.description, "tags": target_model_tags(model.tags, self.ids["experiment"])},
            {"description": copy.description, "tags": comparable_tags(copy.tags)},
        )
        if problems:
            result.found(kind, name, problems)
        copies = await versions_of(self.target, model.name)
        by_number = {c.version: c for c in copies}
        origins = collections.Counter(t.value for c in copies for t in c.tags if t.key == MIGRATED_FROM)
        copied = {c.version for c in copies if any(t.key == MIGRATED_FROM for t in c.tags)}
        live = {version_key(model.name, v.version) for v in versions}
        for origin, count in sorted(origins.items()):
            if count > 1:
                result.found(
                    version_kind, f"{name} version {origin}", f"{count} copies in the target (duplicates)"
                )
            elif origin not in live:
                result.found(
                    version_kind, f"{name} version {origin}", "deleted in the source, still in the target"
                )
        for version in versions:
            await self.version(version, by_number, version_kind)
        if self.aliases:
            result.checked["model aliases"] += len(model.aliases)
            wanted = {
                a.alias: number_of(self.ids["model_version"].get(version_key(model.name, a.version), "?/?"))
                for a in model.aliases
            }
            have = {a.alias: a.version for a in copy.aliases}
            for alias in sorted(set(wanted) | set(have)):
                # An alias the target set on a version of its own is not the migration's business.
                if wanted.get(alias) != have.get(alias) and (alias in wanted or have[alias] in copied):
                    result.found(
                        "model aliases",
                        f"{name} alias '{alias}'",
                        f"source → version {wanted.get(alias, '-')}, target → version {have.get(alias, '-')}",
                    )

    async def version(self, version: pb.ModelVersion, copies: dict[str, pb.ModelVersion], kind: str) -> None:
        result = self.result
        result.checked[kind] += 1
        key = version_key(version.name, version.version)
        mapped = self.ids["model_version"].get(key)
        name = f"'{version.name}' version {version.version} (→ {number_of(mapped) if mapped else '?'})"
        copy = copies.get(number_of(mapped)) if mapped else None
        if copy is None or {t.key: t.value for t in copy.tags}.get(MIGRATED_FROM) != key:
            result.found(kind, name, "not in the target")
            return
        links = await self.lineage.links(version)
        mine = version_info(version, self.stages) | {
            "tags": target_version_tags(version.tags, self.ids["run"]),
            "run_id": links.run_id,
            "source": links.source,
        }
        theirs = version_info(copy, self.stages) | {
            "tags": comparable_tags(copy.tags),
            "run_id": copy.run_id,
            "source": copy.source,
        }
        if version.status in (0, pb.READY):  # other statuses cannot be set (listed by the copy)
            mine["status"], theirs["status"] = pb.ModelVersionStatus.Name(pb.READY), _status(copy)
        problems = differences(mine, theirs)
        if problems:
            result.found(kind, name, problems)


def _status(version: pb.ModelVersion) -> str:
    return pb.ModelVersionStatus.Name(version.status) if version.status else ""
