"""Copy the model registry after the runs: registered models and prompts (name, description, tags),
their versions (`model_versions`), and aliases — each brought level only where the state shows a
change. A model's copy keeps its name; it is found again by name, so an interrupted pass adopts it.

Scope: a model is copied once every version that names a run names a migrated run. With
`--experiments`, only models with a version from a run of those experiments are copied (prompts and
models without runs wait for a pass over everything); what is left out is listed with the reason.
"""

from __future__ import annotations

from collections.abc import Collection

from flowport.adapters.backend import Backend
from flowport.adapters.capabilities import DESCRIPTIONS, Capability
from flowport.gateway.migrate import reading
from flowport.gateway.migrate.content import (
    MIGRATED_FROM,
    comparable_tags,
    is_prompt,
    mapping_digest,
    target_model_tags,
    value_digest,
)
from flowport.gateway.migrate.context import MigrationContext
from flowport.gateway.migrate.model_versions import (
    Lineage,
    VersionCopies,
    number_of,
    version_key,
    versions_of,
)
from flowport.gateway.migrate.report import Gap
from flowport.v1 import registry_pb2 as pb
from flowport.v1.errors import ApiError
from flowport.v1.mlflow_tags import PROMPT_TAG

KIND = "registered_model"
MODEL_PAGE = 1000  # MLflow's SearchRegisteredModels limit
NOT_SETTABLE = "not settable through the MLflow API"


async def registered_models(backend: Backend) -> list[pb.RegisteredModel]:
    """Every registered model and prompt (MLflow hides prompts from a search not asking for them)."""
    found: dict[str, pb.RegisteredModel] = {}
    for filter in ("", f"tags.`{PROMPT_TAG}` = 'true'"):

        async def fetch(token: str, filter: str = filter) -> pb.SearchRegisteredModels.Response:
            request = pb.SearchRegisteredModels(filter=filter, max_results=MODEL_PAGE, page_token=token)
            return await backend.invoke("SearchRegisteredModels", request)

        async for page in reading.pages(fetch):
            for model in page.registered_models:
                found[model.name] = model
    return [found[name] for name in sorted(found)]


async def get_model(backend: Backend, name: str) -> pb.RegisteredModel | None:
    try:
        return (await backend.invoke("GetRegisteredModel", pb.GetRegisteredModel(name=name))).registered_model
    except ApiError as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


class Scope:
    """Which models a pass copies (and verifies): see the module docstring."""

    def __init__(self, source: Backend, experiment_ids: set[str] | None) -> None:
        self.source = source
        self.experiment_ids = experiment_ids  # None: every experiment
        self._experiment_of: dict[str, str | None] = {}

    async def _experiment(self, run_id: str) -> str | None:
        if run_id not in self._experiment_of:
            try:
                self._experiment_of[run_id] = (await reading.get_run(self.source, run_id)).info.experiment_id
            except ApiError:
                self._experiment_of[run_id] = None
        return self._experiment_of[run_id]

    async def why_not(self, versions: list[pb.ModelVersion], migrated: Collection[str], planned: bool) -> str:
        """'' when the model is in scope, else why not. A run counts as copied when it is in
        `migrated` (the run id map) or, for a dry run's plan (`planned`), in this pass's experiments."""
        runs = {v.run_id for v in versions if v.run_id}
        chosen = self.experiment_ids
        if chosen is not None and not {await self._experiment(r) for r in runs} & chosen:
            return "--experiments: no version comes from a run of the chosen experiments"
        for run in (r for r in runs if r not in migrated):
            if not planned or (chosen is not None and await self._experiment(run) not in chosen):
                return "versions name runs that are not migrated"
        return ""


class ModelCopy:
    """One source registered model (or prompt) and its copy in the target."""

    def __init__(self, ctx: MigrationContext, source: pb.RegisteredModel, earlier_keys: list[str]) -> None:
        self.ctx = ctx
        self.source = source
        self.name = source.name
        self.earlier_keys = earlier_keys  # its versions ("name/N") copied by earlier passes
        prompt = is_prompt(source.tags)
        self.counts = ctx.tally.prompts if prompt else ctx.tally.registered_models
        self.version_counts = ctx.tally.prompt_versions if prompt else ctx.tally.model_versions
        self.in_target = False  # False while a dry run has only planned its creation
        self.unmapped_models: list[str] = []  # "name/N → m-…": versions whose logged model has no copy

    async def sync(self, versions: list[pb.ModelVersion], lineage: Lineage) -> None:
        ctx = self.ctx
        tags = target_model_tags(self.source.tags, ctx.ids("experiment"))
        found = await get_model(ctx.target, self.name)
        fresh, matched, changed = found is None, False, False
        if found is None:
            if self.name in ctx.ids(KIND):
                raise ApiError(
                    f"the copy of '{self.name}' is gone from the target", "RESOURCE_DOES_NOT_EXIST"
                )
            self.counts.created += 1
            ctx.tally.tags += len(tags)
            if not ctx.dry_run:
                request = pb.CreateRegisteredModel(name=self.name, description=self.source.description)
                for key, value in {**tags, MIGRATED_FROM: self.name}.items():
                    request.tags.add(key=key, value=value)
                await ctx.target.invoke("CreateRegisteredModel", request)
                ctx.map_id(KIND, self.name, self.name)
                ctx.set_aspect(KIND, self.name, "tags", mapping_digest(tags))
                ctx.set_aspect(KIND, self.name, "description", value_digest(self.source.description))
                self.in_target = True
            found = pb.RegisteredModel(name=self.name)
        else:
            self.in_target = True
            if self.name not in ctx.ids(KIND):  # same name in the target: an earlier pass's, or adopted
                matched = True
                self.counts.matched += 1
                ctx.map_id(KIND, self.name, self.name)
            changed = await self._level(found, tags)
        await VersionCopies(ctx, self, lineage).sync(versions)
        changed |= await self._level_aliases(found, [version_key(self.name, v.version) for v in versions])
        if fresh or matched:
            return  # counted when it was made or found
        if changed:
            self.counts.updated += 1
        else:
            self.counts.unchanged += 1

    async def _level(self, found: pb.RegisteredModel, tags: dict[str, str]) -> bool:
        ctx, changed = self.ctx, False
        if ctx.aspects(KIND).get((self.name, "tags")) != mapping_digest(tags):
            have = comparable_tags(found.tags)
            for key, value in tags.items():
                if have.get(key) != value:
                    changed = True
                    ctx.tally.tags += 1
                    if not ctx.dry_run:
                        request = pb.SetRegisteredModelTag(name=self.name, key=key, value=value)
                        await ctx.target.invoke("SetRegisteredModelTag", request)
            for key in sorted(set(have) - set(tags)):
                changed = True
                if not ctx.dry_run:
                    request = pb.DeleteRegisteredModelTag(name=self.name, key=key)
                    await ctx.target.invoke("DeleteRegisteredModelTag", request)
            ctx.set_aspect(KIND, self.name, "tags", mapping_digest(tags))
        description = self.source.description
        if ctx.aspects(KIND).get((self.name, "description")) != value_digest(description):
            if found.description != description:
                changed = True
                if not ctx.dry_run:
                    request = pb.UpdateRegisteredModel(name=self.name, description=description)
                    await ctx.target.invoke("UpdateRegisteredModel", request)
            ctx.set_aspect(KIND, self.name, "description", value_digest(description))
        return changed

    async def _level_aliases(self, found: pb.RegisteredModel, version_keys: list[str]) -> bool:
        """Each source alias on its version's copy; an alias the target has on a copy but the
        source no longer has is deleted (aliases on the target's own versions are left alone)."""
        ctx = self.ctx
        if Capability.REGISTRY_ALIASES not in ctx.target.capabilities:
            return False  # listed as a gap
        if not self.in_target:  # a dry run's planned copy
            ctx.tally.aliases += len(self.source.aliases)
            return False
        versions = ctx.ids("model_version")
        wanted: dict[str, str] = {}
        for alias in self.source.aliases:
            copy = versions.get(version_key(self.name, alias.version))
            if copy is not None:
                wanted[alias.alias] = copy.rpartition("/")[2]
        digest = mapping_digest(wanted)
        if (
            len(wanted) == len(self.source.aliases)
            and ctx.aspects(KIND).get((self.name, "aliases")) == digest
        ):
            return False
        copies = {number_of(versions[k]) for k in (*self.earlier_keys, *version_keys) if k in versions}
        have = {a.alias: a.version for a in found.aliases}
        changes = {a: v for a, v in wanted.items() if have.get(a) != v}
        extra = sorted(a for a, v in have.items() if a not in wanted and v in copies)
        ctx.tally.aliases += len(changes)
        if not ctx.dry_run:
            for alias, version in changes.items():
                request = pb.SetRegisteredModelAlias(name=self.name, alias=alias, version=version)
                await ctx.target.invoke("SetRegisteredModelAlias", request)
            for alias in extra:
                request = pb.DeleteRegisteredModelAlias(name=self.name, alias=alias)
                await ctx.target.invoke("DeleteRegisteredModelAlias", request)
            if len(wanted) == len(self.source.aliases):  # else a version failed: try again next pass
                ctx.set_aspect(KIND, self.name, "aliases", digest)
        return bool(changes or extra)


async def sync_registry(ctx: MigrationContext, experiment_ids: set[str] | None) -> None:
    """Copy the registry (all of it, or what `experiment_ids` scopes); record what was left out."""
    source, target, tally = ctx.source, ctx.target, ctx.tally
    if Capability.REGISTRY not in source.capabilities or Capability.REGISTRY not in target.capabilities:
        return  # a target without a registry is listed by `gaps`
    try:
        models = await registered_models(source)
        all_versions = await versions_of(source)
    except ApiError as err:
        tally.failures.append(
            f"the source's model registry cannot be listed: {err.error_code}: {err.message}"
        )
        return
    by_model: dict[str, list[pb.ModelVersion]] = {m.name: [] for m in models}
    for version in all_versions:
        by_model.setdefault(version.name, []).append(version)
    scope = Scope(source, experiment_ids)
    migrated = set(ctx.ids("run"))
    lineage = Lineage(source, target, ctx.ids, ctx.aspects("run"))
    earlier: dict[str, list[str]] = {}
    for key in ctx.ids("model_version"):
        earlier.setdefault(key.rpartition("/")[0], []).append(key)
    chosen: list[ModelCopy] = []
    for model in models:
        reason = await scope.why_not(by_model[model.name], migrated, planned=ctx.dry_run)
        if reason:
            kind = "prompts" if is_prompt(model.tags) else "registered models"
            _add_gap(tally.gaps, kind, 1, reason)
        else:
            chosen.append(ModelCopy(ctx, model, earlier.get(model.name, [])))

    async def one(copy: ModelCopy) -> None:
        try:
            await copy.sync(by_model[copy.name], lineage)
        except ApiError as err:
            copy.counts.failed += 1
            tally.failures.append(f"registered model '{copy.name}': {err.error_code}: {err.message}")

    await ctx.bounded(one(copy) for copy in chosen)
    _record_gaps(ctx, chosen, by_model)


def _record_gaps(ctx: MigrationContext, chosen: list[ModelCopy], by_model: dict) -> None:
    caps, gaps = ctx.target.capabilities, ctx.tally.gaps
    versions = [v for copy in chosen for v in by_model[copy.name]]
    unmapped = [u for copy in chosen for u in copy.unmapped_models]
    if unmapped:
        reason = "its logged model has no copy in the target: source kept as is (" + ", ".join(unmapped[:5])
        _add_gap(
            gaps, "model version sources", len(unmapped), reason + (", …)" if len(unmapped) > 5 else ")")
        )
    if Capability.REGISTRY_STAGES not in caps:
        staged = sum(1 for v in versions if v.current_stage not in ("", "None"))
        _add_gap(gaps, "model version stages", staged, _cannot_hold(ctx, Capability.REGISTRY_STAGES))
    if Capability.REGISTRY_ALIASES not in caps:
        aliases = sum(len(copy.source.aliases) for copy in chosen)
        _add_gap(gaps, "model aliases", aliases, _cannot_hold(ctx, Capability.REGISTRY_ALIASES))
    not_ready = sum(1 for v in versions if v.status not in (0, pb.READY))
    if not_ready:
        _add_gap(gaps, "model version statuses", not_ready, f"{NOT_SETTABLE}: copies are READY")
    if versions:
        _add_gap(
            gaps,
            "model version creation times, users",
            len(versions),
            f"{NOT_SETTABLE}: copies carry the migration's time",
        )


def _cannot_hold(ctx: MigrationContext, capability: Capability) -> str:
    return f"target '{ctx.target.name}' cannot hold them (no {DESCRIPTIONS[capability]})"


def _add_gap(gaps: list[Gap], kind: str, count: int, reason: str) -> None:
    for gap in gaps:
        if gap.kind == kind and gap.reason == reason and gap.count.isdigit():
            gap.count = str(int(gap.count) + count)
            return
    gaps.append(Gap(kind, str(count), reason))
