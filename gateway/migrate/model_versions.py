"""Copy the versions of one registered model, numbers preserved where the target allows it.

MLflow numbers a model's versions 1, 2, … in creation order, deleted ones included. Versions are
created in source order; when the target gives a lower number than the source's (the source has a
hole: a deleted version), that copy is deleted and made again, so the next one lines up. When the
target already holds versions of the model that are not copies, numbers cannot line up: each copy
takes the next number and the id map (`name/N` → `name/M`) records it.

Each copy carries `flowport.migrated_from=<name>/<N>`: a pass killed between a CreateModelVersion
and the record of its number finds that copy again (and deletes it when it took a hole's number).
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from flowport.adapters.backend import Backend
from flowport.adapters.capabilities import Capability
from flowport.gateway.migrate import reading
from flowport.gateway.migrate.content import (
    MIGRATED_FROM,
    comparable_tags,
    mapping_digest,
    target_version_tags,
    value_digest,
)
from flowport.gateway.migrate.context import MigrationContext
from flowport.v1 import registry_pb2 as pb
from flowport.v1.errors import ApiError
from flowport.v1.mlflow_tags import PROMPT_TAG

if TYPE_CHECKING:
    from flowport.gateway.migrate.registry import ModelCopy

KIND = "model_version"
VERSION_PAGE = 10_000
NO_STAGE = "None"


def version_key(name: str, version: str | int) -> str:
    return f"{name}/{version}"


def number_of(key: str) -> str:
    return key.rpartition("/")[2]


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


async def versions_of(backend: Backend, name: str | None = None) -> list[pb.ModelVersion]:
    """Every live version (of one model, or of all), prompt versions included: MLflow hides
    those from a search that does not ask for them by their tag."""
    found: dict[tuple[str, str], pb.ModelVersion] = {}
    by_name = f"name = '{_quoted(name)}'" if name is not None else ""
    for filter in (by_name, " AND ".join(f for f in (by_name, f"tags.`{PROMPT_TAG}` = 'true'") if f)):

        async def fetch(token: str, filter: str = filter) -> pb.SearchModelVersions.Response:
            request = pb.SearchModelVersions(filter=filter, max_results=VERSION_PAGE, page_token=token)
            return await backend.invoke("SearchModelVersions", request)

        async for page in reading.pages(fetch):
            for version in page.model_versions:
                found[(version.name, version.version)] = version
    return sorted(found.values(), key=lambda v: (v.name, int(v.version)))


@dataclasses.dataclass
class Links:
    """A version's run, source location and logged model, in the target's ids."""

    run_id: str
    source: str
    model_id: str
    unmapped_model: str = ""  # a logged model the target has no copy of (the source text is kept)


class Lineage:
    """Rewrites what a source version points at: `runs:/<old>/…` and a location under the old run's
    artifact root to the copy's, `models:/m-<id>` to the logged model's copy, `models:/name/N`
    through the version map. Shared by copy and verify (`ids(kind)` reads the id maps)."""

    def __init__(
        self,
        source: Backend,
        target: Backend,
        ids: Callable[[str], Mapping[str, str]],
        run_aspects: Mapping[tuple[str, str], str],
    ) -> None:
        self.source, self.target, self.ids = source, target, ids
        self._target_roots = {
            run: root for (run, aspect), root in run_aspects.items() if aspect == "artifact_root"
        }
        self._source_roots: dict[str, str] = {}

    async def links(self, version: pb.ModelVersion) -> Links:
        run_ids, logged = self.ids("run"), self.ids("logged_model")
        run_id = version.run_id
        if run_id and run_id not in run_ids:
            raise ApiError(f"its run {run_id} is not in the target (not migrated)", "INVALID_STATE")
        links = Links(run_ids.get(run_id, ""), version.source, version.model_id)
        parsed = urllib.parse.urlparse(version.source)
        path = parsed.path.lstrip("/")
        if parsed.scheme == "runs":
            old, _, rest = path.partition("/")
            if old in run_ids:
                links.source = f"runs:/{run_ids[old]}/{rest}"
        elif parsed.scheme == "models":
            first, _, rest = path.partition("/")
            if not rest and "@" not in first:  # models:/<logged model id>
                links.model_id = links.model_id or first
                if first in logged:
                    links.source = f"models:/{logged[first]}"
            elif rest.isdigit() and version_key(first, rest) in self.ids(KIND):
                links.source = f"models:/{self.ids(KIND)[version_key(first, rest)]}"
        elif parsed.scheme == "mlflow-artifacts" and run_id:
            old_root, new_root = await self._roots(run_id, links.run_id)
            if old_root and new_root and _within(version.source, old_root):
                links.source = new_root.rstrip("/") + version.source[len(old_root.rstrip("/")) :]
        if links.model_id:
            if links.model_id in logged:
                links.model_id = logged[links.model_id]
            else:
                links.unmapped_model = links.model_id
        return links

    async def _roots(self, old: str, new: str) -> tuple[str, str]:
        if old not in self._source_roots:
            self._source_roots[old] = (await reading.get_run(self.source, old)).info.artifact_uri
        if old not in self._target_roots:
            self._target_roots[old] = (await reading.get_run(self.target, new)).info.artifact_uri
        return self._source_roots[old], self._target_roots[old]


def _within(uri: str, root: str) -> bool:
    root = root.rstrip("/")
    return uri == root or uri.startswith(root + "/")


def version_info(version: pb.ModelVersion, stages: bool) -> dict[str, str]:
    """The fields of a version a copy can be brought level with after its creation."""
    info = {"description": version.description}
    if stages:
        info["stage"] = version.current_stage or NO_STAGE
    return info


class VersionCopies:
    """The versions of one model, copied in number order (the target numbers them as they come)."""

    def __init__(self, ctx: MigrationContext, model: ModelCopy, lineage: Lineage) -> None:
        self.ctx = ctx
        self.model = model
        self.lineage = lineage
        self.counts = model.version_counts
        self.stages = Capability.REGISTRY_STAGES in ctx.target.capabilities
        self.preserve = True  # numbers line up unless the target holds versions that are not copies
        self.matched: set[str] = set()  # source keys whose unrecorded copy this pass found

    async def sync(self, versions: list[pb.ModelVersion]) -> None:
        ctx, name = self.ctx, self.model.name
        ctx.display.found("model versions", len(versions))
        keys = {version_key(name, v.version) for v in versions}
        if self.model.in_target and any(k not in ctx.ids(KIND) for k in keys):
            await self._find_lost_copies(keys)
        for version in versions:
            try:
                key = version_key(name, version.version)
                if key in ctx.ids(KIND):
                    changed = await self._level(version, key)
                    if key in self.matched:
                        pass  # counted when found
                    elif changed:
                        self.counts.updated += 1
                    else:
                        self.counts.unchanged += 1
                else:
                    await self._create(version, key)
            except ApiError as err:
                self.counts.failed += 1
                ctx.tally.failures.append(
                    f"model version {name}/{version.version}: {err.error_code}: {err.message}"
                )
            ctx.display.advance("model versions")
        await self._drop_deleted(keys)

    async def _find_lost_copies(self, keys: set[str]) -> None:
        """Copies an interrupted pass made but did not record, found by their lineage tag; a copy
        that took a hole's number (below its source's) is deleted, as the pass would have done, and
        so is a second copy of one version."""
        ctx, name = self.ctx, self.model.name
        copies = await versions_of(ctx.target, name)
        self.preserve = all(any(t.key == MIGRATED_FROM for t in c.tags) for c in copies)
        ids = ctx.ids(KIND)
        recorded = {ids[k] for k in self.model.earlier_keys if k in ids}
        for copy in sorted(copies, key=lambda c: int(c.version)):
            origin = {t.key: t.value for t in copy.tags}.get(MIGRATED_FROM)
            target_key = version_key(name, copy.version)
            if origin not in keys or target_key in recorded:
                continue
            misplaced = self.preserve and int(copy.version) < int(number_of(origin))
            if origin in ids or misplaced:  # a second copy, or one on a hole's number: ours to remove
                if not ctx.dry_run:
                    request = pb.DeleteModelVersion(name=name, version=copy.version)
                    await ctx.target.invoke("DeleteModelVersion", request)
                continue
            ctx.map_id(KIND, origin, target_key)  # in memory only during a dry run
            self.matched.add(origin)
            self.counts.matched += 1

    async def _create(self, version: pb.ModelVersion, key: str) -> None:
        ctx, name, number = self.ctx, self.model.name, int(version.version)
        self.counts.created += 1
        tags = target_version_tags(version.tags, ctx.ids("run"))
        ctx.tally.tags += len(tags)
        if ctx.dry_run:
            return
        links = await self.lineage.links(version)
        if links.unmapped_model:
            self.model.unmapped_models.append(f"{key} → {links.unmapped_model}")
        request = pb.CreateModelVersion(
            name=name, source=links.source, run_id=links.run_id, description=version.description
        )
        if links.model_id:
            request.model_id = links.model_id
        if version.run_link:
            request.run_link = version.run_link
        for k, v in {**tags, MIGRATED_FROM: key}.items():
            request.tags.add(key=k, value=v)
        for _ in range(number + 1):  # each try takes a higher number: bounded by the holes below it
            made = (await ctx.target.invoke("CreateModelVersion", request)).model_version
            if not (self.preserve and int(made.version) < number):
                break
            # The source has a hole here (a deleted version): this number is the hole's.
            await ctx.target.invoke(
                "DeleteModelVersion", pb.DeleteModelVersion(name=name, version=made.version)
            )
        ctx.map_id(KIND, key, version_key(name, made.version))
        ctx.set_aspect(KIND, key, "tags", mapping_digest(tags))
        await self._level_info(version, key, made)

    async def _level(self, version: pb.ModelVersion, key: str) -> bool:
        """Tags, description and stage of an existing copy, each only when its digest changed."""
        ctx = self.ctx
        tags = target_version_tags(version.tags, ctx.ids("run"))
        tags_digest = mapping_digest(tags)
        info_digest = value_digest(version_info(version, self.stages))
        aspects = ctx.aspects(KIND)
        if aspects.get((key, "tags")) == tags_digest and aspects.get((key, "info")) == info_digest:
            return False
        number = number_of(ctx.ids(KIND)[key])
        request = pb.GetModelVersion(name=self.model.name, version=number)
        copy = (await ctx.target.invoke("GetModelVersion", request)).model_version
        changed = await self._level_tags(key, copy, tags)
        return await self._level_info(version, key, copy) or changed

    async def _level_tags(self, key: str, copy: pb.ModelVersion, wanted: dict[str, str]) -> bool:
        ctx, name = self.ctx, self.model.name
        have = comparable_tags(copy.tags)
        changes = {k: v for k, v in wanted.items() if have.get(k) != v}
        extra = sorted(set(have) - set(wanted))
        ctx.tally.tags += len(changes)
        if not ctx.dry_run:
            for k, v in changes.items():
                request = pb.SetModelVersionTag(name=name, version=copy.version, key=k, value=v)
                await ctx.target.invoke("SetModelVersionTag", request)
            for k in extra:
                request = pb.DeleteModelVersionTag(name=name, version=copy.version, key=k)
                await ctx.target.invoke("DeleteModelVersionTag", request)
            ctx.set_aspect(KIND, key, "tags", mapping_digest(wanted))
        return bool(changes or extra)

    async def _level_info(self, version: pb.ModelVersion, key: str, copy: pb.ModelVersion) -> bool:
        """Description, and the stage as TransitionModelVersionStage sets it (no archiving of others)."""
        ctx, name = self.ctx, self.model.name
        wanted, have = version_info(version, self.stages), version_info(copy, self.stages)
        if wanted == have:
            if not ctx.dry_run:
                ctx.set_aspect(KIND, key, "info", value_digest(wanted))
            return False
        if not ctx.dry_run:
            if wanted["description"] != have["description"]:
                request = pb.UpdateModelVersion(
                    name=name, version=copy.version, description=wanted["description"]
                )
                await ctx.target.invoke("UpdateModelVersion", request)
            if self.stages and wanted["stage"] != have["stage"]:
                request = pb.TransitionModelVersionStage(
                    name=name, version=copy.version, stage=wanted["stage"], archive_existing_versions=False
                )
                await ctx.target.invoke("TransitionModelVersionStage", request)
            ctx.set_aspect(KIND, key, "info", value_digest(wanted))
        return True

    async def _drop_deleted(self, keys: set[str]) -> None:
        """Copies of versions deleted in the source since an earlier pass are deleted too."""
        ctx = self.ctx
        gone = [
            k
            for k in self.model.earlier_keys
            if k not in keys and ctx.aspects(KIND).get((k, "lifecycle")) != "deleted"
        ]
        for key in sorted(gone):
            self.counts.updated += 1
            if ctx.dry_run:
                continue
            request = pb.DeleteModelVersion(name=self.model.name, version=number_of(ctx.ids(KIND)[key]))
            try:
                await ctx.target.invoke("DeleteModelVersion", request)
            except ApiError as err:
                if err.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
            ctx.set_aspect(KIND, key, "lifecycle", "deleted")
