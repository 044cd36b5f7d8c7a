"""What a migration did, shown while it runs (a rich progress display) and at its end (a table, and
optionally JSON for scripts). Without a terminal (CI, a pipe, `--no-progress`) there is no live
display, only the summary."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


@dataclasses.dataclass
class ObjectCounts:
    """Objects of one kind: made new, found in the target and adopted, brought up to date, or untouched."""

    created: int = 0
    matched: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0


@dataclasses.dataclass
class Gap:
    """Something the source holds that this migration did not copy, and why."""

    kind: str
    count: str  # a number, "≥ n" when counting stopped, or "?" when the source could not say
    reason: str


@dataclasses.dataclass
class Tally:
    dry_run: bool = False
    experiments: ObjectCounts = dataclasses.field(default_factory=ObjectCounts)
    runs: ObjectCounts = dataclasses.field(default_factory=ObjectCounts)
    params: int = 0
    tags: int = 0
    metric_points: int = 0
    artifact_files: int = 0
    artifact_bytes: int = 0
    logged_models: ObjectCounts = dataclasses.field(default_factory=ObjectCounts)
    model_metrics: int = 0  # logged-model metric points (linked to the model's copy)
    dataset_inputs: int = 0
    model_inputs: int = 0
    model_outputs: int = 0
    traces: ObjectCounts = dataclasses.field(default_factory=ObjectCounts)
    spans: int = 0
    assessments: int = 0
    trace_links: int = 0  # traces linked to a run afterwards (LinkTracesToRun)
    registered_models: ObjectCounts = dataclasses.field(default_factory=ObjectCounts)
    model_versions: ObjectCounts = dataclasses.field(default_factory=ObjectCounts)
    prompts: ObjectCounts = dataclasses.field(default_factory=ObjectCounts)
    prompt_versions: ObjectCounts = dataclasses.field(default_factory=ObjectCounts)
    aliases: int = 0  # registered-model and prompt aliases set
    failures: list[str] = dataclasses.field(default_factory=list)
    gaps: list[Gap] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def gap(self, kind: str, count: int, reason: str) -> None:
        """Count `count` more of `kind` as not copied, in one row per kind and reason."""
        for gap in self.gaps:
            if gap.kind == kind and gap.reason == reason and gap.count.isdigit():
                gap.count = str(int(gap.count) + count)
                return
        self.gaps.append(Gap(kind, str(count), reason))


def live_display_wanted(no_progress: bool) -> bool:
    return not no_progress and sys.stdout.isatty() and os.environ.get("CI", "").lower() not in ("1", "true")


class RateColumn(TextColumn):
    """Items per second of a task (rich's own speed column speaks bytes)."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task: Any) -> Any:
        speed = task.finished_speed or task.speed
        return super().render(task) if speed is None else f"{speed:,.0f}/s"


class Display:
    """The live progress: runs done out of runs found, metric points and artifact bytes with rates."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> Display:
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description:<16}"),
                BarColumn(),
                MofNCompleteColumn(),
                RateColumn(),
                TimeElapsedColumn(),
                transient=False,
            )
            self._progress.start()
            kinds = ("experiments", "runs", "metric points", "params+tags", "artifact bytes", "traces")
            kinds += ("model versions",)
            for kind in kinds:
                self._tasks[kind] = self._progress.add_task(kind, total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def found(self, kind: str, count: int) -> None:
        if self._progress is not None:
            task = self._tasks[kind]
            total = self._progress.tasks[task].total or 0
            self._progress.update(task, total=total + count)

    def advance(self, kind: str, count: int = 1) -> None:
        if self._progress is not None and count:
            self._progress.advance(self._tasks[kind], count)


def render(tally: Tally, console: Console) -> None:
    title = "flowport migrate — plan (dry run: nothing written)" if tally.dry_run else "flowport migrate"
    table = Table(title=title)
    verb = "would create" if tally.dry_run else "created"
    for column in ("kind", verb, "matched by name/lineage", "updated", "unchanged", "failed"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    kinds = (
        ("experiments", tally.experiments),
        ("runs", tally.runs),
        ("logged models", tally.logged_models),
        ("traces", tally.traces),
        ("registered models", tally.registered_models),
        ("model versions", tally.model_versions),
        ("prompts", tally.prompts),
        ("prompt versions", tally.prompt_versions),
    )
    for kind, counts in kinds:
        table.add_row(
            kind,
            *(str(getattr(counts, f)) for f in ("created", "matched", "updated", "unchanged", "failed")),
        )
    console.print(table)
    moved = Table(title="written" if not tally.dry_run else "would write")
    moved.add_column("what")
    moved.add_column("count", justify="right")
    moved.add_row("params", str(tally.params))
    moved.add_row("tags", str(tally.tags))
    moved.add_row("metric points", str(tally.metric_points))
    moved.add_row("artifact files", str(tally.artifact_files))
    moved.add_row("artifact bytes", f"{tally.artifact_bytes:,}")
    moved.add_row("logged-model metric points", str(tally.model_metrics))
    moved.add_row("run dataset inputs", str(tally.dataset_inputs))
    moved.add_row("run model inputs / outputs", f"{tally.model_inputs} / {tally.model_outputs}")
    moved.add_row("spans", str(tally.spans))
    moved.add_row("assessments", str(tally.assessments))
    moved.add_row("trace-run links", str(tally.trace_links))
    moved.add_row("model aliases", str(tally.aliases))
    console.print(moved)
    if tally.gaps:
        gaps = Table(title="not migrated")
        gaps.add_column("kind")
        gaps.add_column("count", justify="right")
        gaps.add_column("why")
        for gap in tally.gaps:
            gaps.add_row(gap.kind, gap.count, gap.reason)
        console.print(gaps)
    for failure in tally.failures:
        console.print(f"FAILED {failure}", markup=False, highlight=False)
    console.print(f"took {tally.seconds:.1f}s", highlight=False)


def write_json(tally: Tally, path: str, verification: dict[str, Any] | None = None) -> None:
    body = tally.as_json()
    if verification is not None:
        body["verification"] = verification
    with open(path, "w") as out:
        json.dump(body, out, indent=2)


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start
