"""`--verify`: every migrated object compared with its source — counts and content digests of
experiments (name, tags, lifecycle), runs (info, params, tags with the parent link mapped, each
metric series as sorted (step, timestamp, value), artifact files by size and sha256 of their
bytes), plus a check that no source run has two copies. Reads only; any finding fails the command."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib

from rich.console import Console
from rich.table import Table

from flowport.adapters.artifact_store import ArtifactStore
from flowport.adapters.backend import Backend
from flowport.adapters.capabilities import Capability
from flowport.gateway.migrate import reading
from flowport.gateway.migrate.content import (
    MIGRATED_FROM,
    comparable_tags,
    point,
    run_info,
    series_digest,
    target_run_tags,
)
from flowport.gateway.migrate.state import MigrationState
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError

KINDS = ("experiments", "runs", "params", "tags", "metric series", "metric points", "artifact files")
KINDS += ("registered models", "model versions", "model aliases", "prompts", "prompt versions")
KINDS += ("logged models", "run inputs/outputs", "traces", "spans", "assessments")


@dataclasses.dataclass
class Finding:
    kind: str
    name: str  # which object: names and both ids
    problem: str


@dataclasses.dataclass
class Verification:
    checked: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    mismatched: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    findings: list[Finding] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def found(self, kind: str, name: str, problem: str) -> None:
        self.mismatched[kind] += 1
        self.findings.append(Finding(kind, name, problem))

    def as_json(self) -> dict:
        return dataclasses.asdict(self) | {"ok": self.ok}


class Verifier:
    def __init__(self, source: Backend, target: Backend, state: MigrationState, concurrency: int = 4) -> None:
        self.source = source
        self.target = target
        self.state = state
        self.experiment_ids = state.id_map("experiment")
        self.run_ids = state.id_map("run")
        self.result = Verification()
        self._slots = asyncio.Semaphore(concurrency)
        self.artifacts = all(Capability.ARTIFACTS in b.capabilities for b in (source, target))

    async def verify(self, experiments: list[tracking_pb2.Experiment]) -> Verification:
        for experiment in experiments:
            await self._experiment(experiment)
        from flowport.gateway.migrate.verify_registry import verify_registry  # it builds on this module

        await verify_registry(self, experiments)
        return self.result

    async def _experiment(self, source: tracking_pb2.Experiment) -> None:
        result = self.result
        result.checked["experiments"] += 1
        name = f"experiment '{source.name}' ({source.experiment_id}"
        target_id = self.experiment_ids.get(source.experiment_id)
        if target_id is None:
            result.found("experiments", name + ")", "not in the target (never migrated)")
            return
        name += f" → {target_id})"
        try:
            request = tracking_pb2.GetExperiment(experiment_id=target_id)
            target = (await self.target.invoke("GetExperiment", request)).experiment
        except ApiError as err:
            result.found("experiments", name, f"cannot be read from the target: {err.message}")
            return
        problems = _differences(
            {"name": source.name, "lifecycle": source.lifecycle_stage, "tags": comparable_tags(source.tags)},
            {"name": target.name, "lifecycle": target.lifecycle_stage, "tags": comparable_tags(target.tags)},
        )
        if problems:
            result.found("experiments", name, problems)
        copies = await reading.runs(self.target, target_id)
        by_id = {r.info.run_id: r for r in copies}
        origins = collections.Counter(t.value for r in copies for t in r.data.tags if t.key == MIGRATED_FROM)
        for origin, count in sorted(origins.items()):
            if count > 1:
                result.found("runs", f"run {origin} of {name}", f"{count} copies in the target (duplicates)")
        runs = await reading.runs(self.source, source.experiment_id)
        await asyncio.gather(*(self._guarded_run(run, by_id, name) for run in runs))
        # They build on this module (its result, its artifact comparison).
        from flowport.gateway.migrate.verify_logged_models import verify_logged_models
        from flowport.gateway.migrate.verify_traces import verify_traces

        await verify_logged_models(self, source, target_id, name, runs)
        await verify_traces(self, source, target_id, name)

    async def _guarded_run(self, run: tracking_pb2.Run, copies: dict, where: str) -> None:
        async with self._slots:
            try:
                await self._run(run, copies, where)
            except ApiError as err:
                self.result.found(
                    "runs", f"run {run.info.run_id} of {where}", f"cannot be compared: {err.message}"
                )

    async def _run(self, source: tracking_pb2.Run, copies: dict[str, tracking_pb2.Run], where: str) -> None:
        result = self.result
        result.checked["runs"] += 1
        source_id = source.info.run_id
        target_id = self.run_ids.get(source_id)
        name = f"run '{source.info.run_name}' ({source_id} → {target_id}) of {where}"
        target = copies.get(target_id) if target_id else None
        if target is None:
            result.found("runs", name, "not in the target experiment")
            return
        problems = _differences(
            run_info(source.info) | {"lifecycle": source.info.lifecycle_stage},
            run_info(target.info) | {"lifecycle": target.info.lifecycle_stage},
        )
        if problems:
            result.found("runs", name, problems)
        result.checked["params"] += 1
        params = _differences(
            {p.key: p.value for p in source.data.params}, {p.key: p.value for p in target.data.params}
        )
        if params:
            result.found("params", name, params)
        result.checked["tags"] += 1
        tags = _differences(target_run_tags(source, self.run_ids), comparable_tags(target.data.tags))
        if tags:
            result.found("tags", name, tags)
        keys = sorted({m.key for m in source.data.metrics} | {m.key for m in target.data.metrics})
        for key in keys:
            result.checked["metric series"] += 1
            mine = [point(m) for m in await reading.metric_history(self.source, source_id, key)]
            theirs = [point(m) for m in await reading.metric_history(self.target, target_id, key)]
            result.checked["metric points"] += len(mine)
            (n_mine, d_mine), (n_theirs, d_theirs) = series_digest(mine), series_digest(theirs)
            if (n_mine, d_mine) != (n_theirs, d_theirs):
                result.mismatched["metric points"] += len(set(mine) ^ set(theirs))
                result.found(
                    "metric series",
                    name,
                    f"metric '{key}': source {n_mine} points (sha256 {d_mine[:12]}), "
                    f"target {n_theirs} points (sha256 {d_theirs[:12]})",
                )
        if self.artifacts:
            await self.compare_artifacts(source.info.artifact_uri, target.info.artifact_uri, name)

    async def compare_artifacts(self, source_uri: str, target_uri: str, name: str) -> None:
        """The files under an object's artifact location (a run's, a logged model's) and its copy's."""
        source_root = reading.store_path(source_uri)
        target_root = reading.store_path(target_uri)
        if source_root is None or target_root is None:
            return
        mine = await _tree(self.source.artifact_store, source_root)
        theirs = await _tree(self.target.artifact_store, target_root)
        self.result.checked["artifact files"] += len(mine)
        for path in sorted(set(mine) | set(theirs)):
            if path not in theirs:
                self.result.found("artifact files", name, f"artifact '{path}' missing in the target")
            elif path not in mine:
                self.result.found("artifact files", name, f"artifact '{path}' only in the target")
            elif mine[path][0] != theirs[path][0]:
                self.result.found(
                    "artifact files", name, f"artifact '{path}': size {mine[path][0]} vs {theirs[path][0]}"
                )
            else:
                a = await _sha256(self.source.artifact_store, mine[path][1])
                b = await _sha256(self.target.artifact_store, theirs[path][1])
                if a != b:
                    self.result.found(
                        "artifact files", name, f"artifact '{path}': sha256 {a[:12]} vs {b[:12]}"
                    )


async def _tree(store: ArtifactStore, root: str) -> dict[str, tuple[int | None, str]]:
    """{path under the run's root: (size, store path)}."""
    return {
        f.path[len(root) :].lstrip("/"): (f.file_size, f.path)
        for f in await reading.artifact_files(store, root)
    }


async def _sha256(store: ArtifactStore, path: str) -> str:
    digest = hashlib.sha256()
    async for chunk in store.read(path):
        digest.update(chunk)
    return digest.hexdigest()


def _differences(source: dict, target: dict) -> str:
    """'' when equal, else the differing keys with both values (clipped)."""
    parts = []
    for key in sorted(set(source) | set(target), key=str):
        a, b = source.get(key, "<missing>"), target.get(key, "<missing>")
        if a != b:
            if isinstance(a, dict) and isinstance(b, dict):
                parts.append(f"{key}: {_differences(a, b)}")
            else:
                parts.append(f"{key}: source {str(a)[:80]!r} vs target {str(b)[:80]!r}")
    return "; ".join(parts)


def render(result: Verification, console: Console) -> None:
    table = Table(title="verification: " + ("OK" if result.ok else "MISMATCHES"))
    table.add_column("kind")
    table.add_column("checked", justify="right")
    table.add_column("mismatched", justify="right")
    for kind in KINDS:
        table.add_row(kind, str(result.checked[kind]), str(result.mismatched[kind]))
    console.print(table)
    for finding in result.findings:
        console.print(
            f"MISMATCH {finding.kind}: {finding.name}: {finding.problem}", markup=False, highlight=False
        )
