"""`flowport migrate` copies what MLflow 3 added, with real processes: logged models (params, tags,
status, artifacts, linked metrics), run inputs/outputs (datasets, model links) and traces (info, every
span, tags, assessments, run links) from a local backend filled by the stock client through `flowport
serve` to a real `mlflow server`, then back to a fresh local backend; each copy checked with the
stock client pointed at it directly. A pass SIGKILLed mid-way resumes without duplicates, a second
pass copies only new traces, and `--verify` names a tampered span, assessment and tag."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import time

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource, LoggedModelInput, LoggedModelOutput, SpanEvent, ViewType
from rich.console import Console

from flowport.adapters.capabilities import Capability
from flowport.adapters.registry import build_backend
from flowport.gateway.migrate import migration, reading
from flowport.gateway.migrate.endpoints import WorkspaceView
from flowport.gateway.migrate.state import MigrationState
from flowport.v1 import tracking_pb2
from tests.fixtures.migrate import migrate_command, migrate_env, run_migrate
from tests.fixtures.mlflow_client import point_mlflow_at
from tests.fixtures.processes import run_gateway, run_mlflow_server

EXPERIMENTS = ("agents-a", "agents-b")
TRACES_PER_EXPERIMENT = 16  # three spans each
LINEAGE = "flowport.migrated_from"
SERVER_TAGS = ("mlflow.artifactLocation", "mlflow.trace.spansLocation")


@dataclasses.dataclass
class Setup:
    data_dir: pathlib.Path
    gateway_url: str  # flowport serve over the source backend
    remote_url: str  # the real mlflow server: the target
    config: pathlib.Path
    state: pathlib.Path
    remote_db: pathlib.Path
    models: dict[str, str]  # logged model name → source id
    linked_trace: str  # linked to a run afterwards (LinkTracesToRun)


@mlflow.trace(span_type="TOOL")
def _lookup(city: str) -> str:
    return f"sunny in {city}"


@mlflow.trace(name="agent", span_type="AGENT")
def _agent(question: str) -> str:
    with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
        span.set_inputs({"query": question})
        span.set_attribute("top_k", 3)
        span.add_event(SpanEvent("cache-miss", attributes={"tier": "l1"}))
        span.set_outputs(["doc-1", "doc-2"])
    mlflow.update_current_trace(tags={"team": "search"})
    return _lookup(question)


def _trace(question: str) -> str:
    """A trace's id, known at once; its export runs in the background until the next flush."""
    _agent(question)
    return mlflow.get_last_active_trace_id()


def _populate(client: MlflowClient, data_dir: pathlib.Path) -> tuple[dict[str, str], str]:
    weights = data_dir / "model"
    weights.mkdir()
    (weights / "MLmodel").write_text("flavors: {}\n")
    (weights / "weights.bin").write_bytes(os.urandom(200_000))
    models, linked = {}, ""
    for e, name in enumerate(EXPERIMENTS):
        experiment_id = mlflow.set_experiment(name).experiment_id
        with mlflow.start_run(run_name=f"train-{e}") as run:
            frame = pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]})
            dataset = mlflow.data.from_pandas(frame, source=f"s3://data/{name}.csv", name=f"{name}-train")
            mlflow.log_input(dataset, context="training", tags={"split": "train"})
            model = mlflow.initialize_logged_model(
                name=f"agent-{e}", model_type="agent", params={"temperature": "0.2"}, tags={"stage": "dev"}
            )
            client.log_model_artifacts(model.model_id, str(weights))
            mlflow.finalize_logged_model(model.model_id, "READY")
            models[f"agent-{e}"] = model.model_id
            for step in range(3):
                mlflow.log_metric("accuracy", 0.8 + step / 100, step=step, model_id=model.model_id)
            client.log_outputs(run.info.run_id, [LoggedModelOutput(model.model_id, step=2)])
            in_run = [_trace(f"in-run {e}-{i}") for i in range(4)]
        with mlflow.start_run(run_name=f"eval-{e}") as evaluation:
            client.log_inputs(evaluation.info.run_id, models=[LoggedModelInput(model.model_id)])
        mlflow.set_active_model(model_id=model.model_id)
        outside = [_trace(f"q {e}-{i}") for i in range(TRACES_PER_EXPERIMENT - len(in_run))]
        mlflow.clear_active_model()
        mlflow.flush_trace_async_logging()
        first = in_run[0]
        client.set_trace_tag(first, "reviewed", "yes")
        feedback = mlflow.log_feedback(
            trace_id=first,
            name="quality",
            value=0.5,
            rationale="partly right",
            source=AssessmentSource(source_type="HUMAN", source_id="ana"),
        )
        mlflow.override_feedback(
            trace_id=first,
            assessment_id=feedback.assessment_id,
            value=0.9,
            rationale="right after all",
            source=AssessmentSource(source_type="HUMAN", source_id="bo"),
        )
        mlflow.log_expectation(trace_id=first, name="expected", value={"answer": "sunny"})
        client.link_traces_to_run([outside[0]], evaluation.info.run_id)
        linked = linked or outside[0]
        _wait_for_spans(client, experiment_id, TRACES_PER_EXPERIMENT)
    return models, linked


def _wait_for_spans(client: MlflowClient, experiment_id: str, count: int) -> None:
    """Until every trace has its three spans: spans are exported apart from the trace's info."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        traces = list(client.search_traces(locations=[experiment_id], max_results=500))
        if len(traces) == count and all(len(t.data.spans) == 3 for t in traces):
            return
        time.sleep(0.2)
    raise AssertionError(f"experiment {experiment_id}: spans still missing after 60 s")


def _configs(data_dir: pathlib.Path, source_dir: pathlib.Path, remote_url: str) -> tuple[str, str]:
    """(the gateway's config: one local backend, two workspaces; the migration's config, where
    `here-too` is the same local backend again, so `team-copy` on it can be a migration's target)."""
    local = f"""    kind: local
    database_uri: sqlite:///{source_dir / "flowport.db"}
    artifact_root: {source_dir / "artifacts"}
"""
    gateway = f"backends:\n  here:\n{local}workspaces:\n  default: here\n  team-copy: here\n"
    migration = f"""backends:
  here:
{local}  here-too:
{local}  remote:
    kind: mlflow
    url: {remote_url}
workspaces:
  default: here
  team-remote: remote
  team-copy: here-too
"""
    return gateway, migration


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("migrate3")
    source_dir = data_dir / "source"
    monkeypatch = pytest.MonkeyPatch()
    with contextlib.ExitStack() as stack, concurrent.futures.ThreadPoolExecutor(1) as pool:
        # The server starts (slowly) while the source is filled.
        remote = pool.submit(stack.enter_context, run_mlflow_server(data_dir / "remote"))
        gateway_config, _ = _configs(data_dir, source_dir, "")
        gateway = stack.enter_context(run_gateway(source_dir, config=gateway_config))
        client = point_mlflow_at(gateway.url, monkeypatch)
        models, linked = _populate(client, data_dir)
        remote_url = remote.result()
        config = data_dir / "flowport.yaml"
        config.write_text(_configs(data_dir, source_dir, remote_url)[1])
        yield Setup(
            data_dir,
            gateway.url,
            remote_url,
            config,
            data_dir / "state" / "migrate.db",
            data_dir / "remote" / "mlflow.db",
            models,
            linked,
        )
    monkeypatch.undo()
    mlflow.tracing.reset()


def _migrate(setup: Setup, *extra: str, target: str = "workspace:team-remote") -> tuple[int, str, dict]:
    report = setup.data_dir / "report.json"
    return run_migrate(_command(setup, target, *extra), setup.data_dir / "home", report)


def _command(setup: Setup, target: str, *extra: str) -> list[str]:
    return migrate_command(setup.config, setup.state, "here", target, *extra)


def _state_count(setup: Setup, kind: str) -> int:
    if not setup.state.exists():
        return 0
    try:
        with sqlite3.connect(setup.state, timeout=1) as conn:
            query = "SELECT count(*) FROM migrate_id_map WHERE kind = ?"
            return conn.execute(query, (kind,)).fetchone()[0]
    except sqlite3.OperationalError:  # the table is being created
        return 0


def _without_lineage(values: dict[str, str]) -> dict[str, str]:
    """Less flowport's own tags, and those a server keeps about its own storage."""
    return {k: v for k, v in values.items() if not k.startswith("flowport.") and k not in SERVER_TAGS}


def _traces(client: MlflowClient, experiment_id: str) -> list:
    return list(client.search_traces(locations=[experiment_id], max_results=500))


def _spans(trace) -> list[tuple]:
    return sorted(
        (
            s.span_id, s.parent_id, s.name, s.span_type, s.start_time_ns, s.end_time_ns,
            s.status.status_code, json.dumps(s.attributes, sort_keys=True),
            [(e.name, e.timestamp, e.attributes) for e in s.events],
        )
        for s in trace.data.spans
    )  # fmt: skip


def _assessments(trace, copy_of: dict[str, str]) -> list[tuple]:
    """Each assessment as content; `copy_of` maps the id it overrides (source side) to the copy's."""
    return sorted(
        (
            a.name, json.dumps(a.value, sort_keys=True), a.rationale, a.source.source_type,
            a.source.source_id, a.valid, copy_of.get(a.overrides, a.overrides), a.create_time_ms,
        )
        for a in trace.info.assessments
    )  # fmt: skip


def _assert_exact_copy(
    setup: Setup, source: MlflowClient, target: MlflowClient | InWorkspace, *, same_ids: bool
) -> None:
    """Every logged model, run link and trace of the source is in the target exactly once, equal in
    every copied field; trace ids are kept when `same_ids`."""
    for name in EXPERIMENTS:
        mine, theirs = source.get_experiment_by_name(name), target.get_experiment_by_name(name)
        copies = target.search_runs([theirs.experiment_id], run_view_type=ViewType.ALL)
        run_copy = {r.data.tags[LINEAGE]: r.info.run_id for r in copies}

        models = source.search_logged_models([mine.experiment_id])
        model_copies = target.search_logged_models([theirs.experiment_id])
        assert sorted(c.tags[LINEAGE] for c in model_copies) == sorted(m.model_id for m in models)
        model_copy = {c.tags[LINEAGE]: c for c in model_copies}
        for model in models:
            copy = model_copy[model.model_id]
            assert (copy.name, copy.model_type, copy.status) == (model.name, model.model_type, model.status)
            assert copy.params == model.params and _without_lineage(copy.tags) == model.tags
            assert copy.source_run_id == run_copy[model.source_run_id]
            assert sorted((m.key, m.value, m.step, m.timestamp, m.run_id) for m in copy.metrics) == sorted(
                (m.key, m.value, m.step, m.timestamp, run_copy[m.run_id]) for m in model.metrics
            )
            assert _model_file(setup, target, copy, "a") == _model_file(setup, source, model, "b")

        model_id = {source_id: c.model_id for source_id, c in model_copy.items()}
        for run in source.search_runs([mine.experiment_id]):
            full, copy = source.get_run(run.info.run_id), target.get_run(run_copy[run.info.run_id])
            assert _datasets(copy) == _datasets(full)
            assert len(_datasets(full)) == (1 if run.info.run_name.startswith("train") else 0)
            assert sorted(m.model_id for m in copy.inputs.model_inputs) == sorted(
                model_id[m.model_id] for m in full.inputs.model_inputs
            )
            assert sorted((m.model_id, m.step) for m in copy.outputs.model_outputs) == sorted(
                (model_id[m.model_id], m.step) for m in full.outputs.model_outputs
            )

        traces, trace_copies = _traces(source, mine.experiment_id), _traces(target, theirs.experiment_id)
        assert len(traces) == len(trace_copies) >= TRACES_PER_EXPERIMENT
        assert sorted(c.info.tags[LINEAGE] for c in trace_copies) == sorted(t.info.trace_id for t in traces)
        trace_copy = {c.info.tags[LINEAGE]: c for c in trace_copies}
        for trace in traces:
            copy = target.get_trace(trace_copy[trace.info.trace_id].info.trace_id)
            trace = source.get_trace(trace.info.trace_id)
            assert (copy.info.trace_id == trace.info.trace_id) is same_ids
            for field in (
                "request_time",
                "execution_duration",
                "state",
                "request_preview",
                "response_preview",
            ):
                assert getattr(copy.info, field) == getattr(trace.info, field), field
            assert _without_lineage(copy.info.tags) == _without_lineage(trace.info.tags)
            metadata = dict(trace.info.trace_metadata)
            if "mlflow.sourceRun" in metadata:
                metadata["mlflow.sourceRun"] = run_copy[metadata["mlflow.sourceRun"]]
            if "mlflow.modelId" in metadata:
                metadata["mlflow.modelId"] = model_id[metadata["mlflow.modelId"]]
            assert {k: copy.info.trace_metadata.get(k) for k in metadata} == metadata
            mine_spans, copy_spans = _spans(trace), _spans(copy)
            if not same_ids:  # the attribute naming the trace names the copy
                mine_spans = [
                    s[:7] + (s[7].replace(trace.info.trace_id, copy.info.trace_id),) + s[8:]
                    for s in mine_spans
                ]
            assert copy_spans == mine_spans and len(copy_spans) == 3
            assessment_copy = {a.metadata[LINEAGE]: a.assessment_id for a in copy.info.assessments}
            assert _assessments(copy, {}) == _assessments(trace, assessment_copy)

        evaluation = next(r for r in source.search_runs([mine.experiment_id]) if "eval" in r.info.run_name)
        linked = target.search_traces(
            locations=[theirs.experiment_id], run_id=run_copy[evaluation.info.run_id]
        )
        linked_sources = sorted(t.info.tags[LINEAGE] for t in linked)
        mine_linked = source.search_traces(locations=[mine.experiment_id], run_id=evaluation.info.run_id)
        assert linked_sources == sorted(t.info.trace_id for t in mine_linked) and len(linked_sources) == 1


def _datasets(run) -> list[tuple]:
    return sorted(
        (
            d.dataset.name,
            d.dataset.digest,
            d.dataset.source,
            d.dataset.schema,
            sorted((t.key, t.value) for t in d.tags),
        )
        for d in run.inputs.dataset_inputs
    )


class InWorkspace:
    """The stock client making every call in one workspace (its workspace is per thread)."""

    def __init__(self, client: MlflowClient, workspace: str) -> None:
        self.client = client
        self.workspace = workspace

    def __getattr__(self, name: str):
        method = getattr(self.client, name)
        if not callable(method):
            return method

        def in_workspace(*args, **kwargs):
            mlflow.set_workspace(self.workspace)
            try:
                return method(*args, **kwargs)
            finally:
                mlflow.set_workspace(None)

        return in_workspace


def _model_file(setup: Setup, client: MlflowClient | InWorkspace, model, where: str) -> bytes:
    dest = setup.data_dir / "downloads" / where / model.model_id
    mlflow.set_workspace(getattr(client, "workspace", None))
    try:
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{model.artifact_location}/weights.bin",
            dst_path=str(dest),
            tracking_uri=client.tracking_uri,
        )
    finally:
        mlflow.set_workspace(None)
    return pathlib.Path(path).read_bytes()


def test_dry_run_prints_the_plan_and_writes_nothing(setup):
    code, output, report = _migrate(setup, "--dry-run")
    assert code == 0, output
    plan = {k: report[k] for k in ("spans", "assessments", "dataset_inputs", "model_inputs", "model_outputs")}
    assert report["logged_models"]["created"] == len(EXPERIMENTS)
    assert report["traces"]["created"] == len(EXPERIMENTS) * TRACES_PER_EXPERIMENT
    assert report["spans"] == 3 * len(EXPERIMENTS) * TRACES_PER_EXPERIMENT
    assert report["assessments"] == 3 * len(EXPERIMENTS), plan  # feedback, its override, an expectation
    assert report["dataset_inputs"] == len(EXPERIMENTS)
    assert report["model_outputs"] == len(EXPERIMENTS)
    # The evaluation run's, and the training run's (log_metric(model_id=…) logs the model as an input).
    assert report["model_inputs"] == 2 * len(EXPERIMENTS)
    assert not setup.state.exists()
    remote = MlflowClient(setup.remote_url)
    assert [e.name for e in remote.search_experiments(view_type=ViewType.ALL)] == ["Default"]
    assert list(remote.search_traces(locations=["0"])) == []


def test_a_migration_killed_mid_way_resumes_without_duplicates(setup):
    proc = subprocess.Popen(
        _command(setup, "workspace:team-remote", "--concurrency", "1", "--no-progress"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=migrate_env(setup.data_dir / "home"),
    )
    try:
        deadline = time.monotonic() + 120
        while _state_count(setup, "trace") < TRACES_PER_EXPERIMENT // 2 and time.monotonic() < deadline:
            assert proc.poll() is None, "the migration ended before it could be killed"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    copied_before = _state_count(setup, "trace")
    assert 0 < copied_before < len(EXPERIMENTS) * TRACES_PER_EXPERIMENT

    code, output, report = _migrate(setup, "--verify")
    assert code == 0, output
    assert report["verification"]["ok"] is True, output
    assert report["failures"] == []
    # Each trace the killed pass had not recorded is created now, or adopted if it was made.
    resumed = report["traces"]["created"] + report["traces"]["matched"]
    assert resumed == len(EXPERIMENTS) * TRACES_PER_EXPERIMENT - copied_before
    assert report["verification"]["checked"]["spans"] == 3 * len(EXPERIMENTS) * TRACES_PER_EXPERIMENT
    assert report["verification"]["checked"]["assessments"] == 3 * len(EXPERIMENTS)
    assert {gap["kind"] for gap in report["gaps"]}.isdisjoint(
        {"traces", "logged models", "run inputs/outputs naming logged models"}
    )
    _assert_exact_copy(setup, MlflowClient(setup.gateway_url), MlflowClient(setup.remote_url), same_ids=True)


def test_a_second_pass_copies_only_new_traces(setup):
    code, output, report = _migrate(setup)
    assert code == 0, output
    assert report["traces"]["created"] == report["traces"]["updated"] == 0
    assert report["traces"]["unchanged"] == len(EXPERIMENTS) * TRACES_PER_EXPERIMENT
    assert report["logged_models"]["unchanged"] == len(EXPERIMENTS)
    assert report["spans"] == report["assessments"] == report["model_metrics"] == 0
    assert report["dataset_inputs"] == report["model_inputs"] == report["model_outputs"] == 0

    source = MlflowClient(setup.gateway_url)
    experiment_id = mlflow.set_experiment(EXPERIMENTS[0]).experiment_id
    new = [_trace(f"later {i}") for i in range(2)]
    mlflow.flush_trace_async_logging()
    _wait_for_spans(source, experiment_id, TRACES_PER_EXPERIMENT + 2)
    changed = _traces(source, experiment_id)[-2].info.trace_id  # the second oldest: no assessments yet
    source.set_trace_tag(changed, "reviewed", "later")
    mlflow.log_expectation(trace_id=changed, name="expected", value="cloudy")

    code, output, report = _migrate(setup, "--verify")
    assert code == 0, output
    assert report["verification"]["ok"] is True, output
    assert report["traces"]["created"] == 2 and report["traces"]["updated"] == 1
    assert report["traces"]["unchanged"] == len(EXPERIMENTS) * TRACES_PER_EXPERIMENT - 1
    assert report["spans"] == 2 * 3 and report["assessments"] == 1
    remote = MlflowClient(setup.remote_url)
    copy = remote.get_trace(changed)
    assert copy.info.tags["reviewed"] == "later"
    assert [a.value for a in copy.info.assessments if a.name == "expected"] == ["cloudy"]
    assert all(len(remote.get_trace(trace_id).data.spans) == 3 for trace_id in new)
    _assert_exact_copy(setup, source, remote, same_ids=True)


def test_copies_a_crash_left_unrecorded_are_found_by_lineage(setup):
    """The window a SIGKILL may hit: a copy made in the target, its id not yet in the state. The next
    pass finds each such copy by its `flowport.migrated_from` tag and adopts it: no second copy."""
    forgotten = {"trace": 5, "logged_model": 1}
    with sqlite3.connect(setup.state) as conn:
        for kind, count in forgotten.items():
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT source_id FROM migrate_id_map WHERE kind = ? AND target = 'remote' "
                    "ORDER BY source_id LIMIT ?",
                    (kind, count),
                )
            ]
            for table in ("migrate_id_map", "migrate_aspects"):
                conn.executemany(
                    f"DELETE FROM {table} WHERE kind = ? AND source_id = ? AND target = 'remote'",
                    [(kind, i) for i in ids],
                )
    code, output, report = _migrate(setup, "--verify")
    assert code == 0, output
    assert report["verification"]["ok"] is True, output
    assert report["traces"]["matched"] == forgotten["trace"] and report["traces"]["created"] == 0
    assert report["logged_models"]["matched"] == forgotten["logged_model"]
    assert report["logged_models"]["created"] == 0
    _assert_exact_copy(setup, MlflowClient(setup.gateway_url), MlflowClient(setup.remote_url), same_ids=True)


def test_trace_ids_the_target_holds_already_are_mapped(setup):
    """Another workspace of the source's own backend: every trace id is taken there (by the source
    itself), so each copy gets a new id, written into its spans; runs and models are new too."""
    code, output, report = _migrate(setup, "--verify", target="workspace:team-copy")
    assert code == 0, output
    assert report["verification"]["ok"] is True, output
    total = len(EXPERIMENTS) * TRACES_PER_EXPERIMENT + 2
    assert report["traces"]["created"] == total and report["spans"] == 3 * total
    with sqlite3.connect(setup.state) as conn:
        pairs = conn.execute(
            "SELECT source_id, target_id FROM migrate_id_map WHERE kind = 'trace' AND target = 'here-too'"
        ).fetchall()
    assert len(pairs) == total and all(source != target for source, target in pairs)

    target = InWorkspace(MlflowClient(setup.gateway_url), "team-copy")
    copy = target.get_trace(pairs[0][1])
    assert copy.info.tags[LINEAGE] == pairs[0][0]
    assert {s.request_id for s in copy.data.spans} == {pairs[0][1]}
    assert {s.attributes["mlflow.traceRequestId"] for s in copy.data.spans} == {pairs[0][1]}
    _assert_exact_copy(setup, MlflowClient(setup.gateway_url), target, same_ids=False)


def _local(directory: pathlib.Path) -> dict[str, str]:
    return {
        "database_uri": f"sqlite:///{directory / 'flowport.db'}",
        "artifact_root": str(directory / "artifacts"),
    }


def test_a_target_without_logged_models_or_tracing_lists_them_as_gaps(setup):
    """As Azure ML (neither): runs and their datasets are copied; logged models, traces and the runs'
    links to models are counted in the report with the reason, nothing is written, nothing fails."""
    source = MlflowClient(setup.gateway_url)
    experiment_ids = [source.get_experiment_by_name(name).experiment_id for name in EXPERIMENTS]
    traces = sum(len(_traces(source, e)) for e in experiment_ids)
    runs = [source.get_run(r.info.run_id) for r in source.search_runs(experiment_ids)]
    model_links = sum(len(r.inputs.model_inputs) + len(r.outputs.model_outputs) for r in runs)

    async def run() -> tuple[int, dict, int]:
        source = build_backend("here", "local", _local(setup.data_dir / "source"), max_threads=2)
        target = build_backend("narrow", "local", _local(setup.data_dir / "narrow"), max_threads=2)
        await source.start()
        await target.start()
        target.capabilities = target.capabilities - {Capability.LOGGED_MODELS, Capability.TRACING}
        state = MigrationState(f"sqlite:///{setup.data_dir / 'narrow-state.db'}", "here", "narrow")
        report_path = setup.data_dir / "narrow.json"
        options = migration.MigrateOptions(
            "", "here", "narrow", no_progress=True, report_json=str(report_path)
        )
        try:
            views = WorkspaceView(source, "default"), WorkspaceView(target, "default")
            code = await migration._migrate(options, Console(quiet=True), *views, state)
            held = 0
            for name in EXPERIMENTS:
                request = tracking_pb2.GetExperimentByName(experiment_name=name)
                copy = (await views[1].invoke("GetExperimentByName", request)).experiment.experiment_id
                held += len(await reading.trace_infos(views[1], copy))
                held += len(await reading.logged_models(views[1], copy))
            return code, json.loads(report_path.read_text()), held
        finally:
            state.close()
            await source.close()
            await target.close()

    code, report, held = asyncio.run(run())
    assert code == 0, report["failures"]
    gaps = {g["kind"]: g for g in report["gaps"]}
    assert gaps["logged models"]["count"] == str(len(EXPERIMENTS))
    assert gaps["traces"]["count"] == str(traces)
    assert gaps["run inputs/outputs naming logged models"]["count"] == str(model_links) and model_links
    assert all("cannot hold" in gaps[k]["reason"] for k in ("logged models", "traces"))
    assert report["runs"]["created"] == len(runs) and report["dataset_inputs"] == len(EXPERIMENTS)
    assert report["logged_models"]["created"] == report["traces"]["created"] == report["spans"] == 0
    assert held == 0


def test_verify_names_a_tampered_span_assessment_and_tag(setup):
    with sqlite3.connect(setup.remote_db) as conn:
        trace_id = conn.execute("SELECT trace_id FROM assessments WHERE name = 'quality'").fetchone()[0]
        tampered = [
            conn.execute(
                "UPDATE spans SET content = replace(content, 'doc-1', 'doc-X') "
                "WHERE trace_id = ? AND name = 'retrieve'",
                (trace_id,),
            ).rowcount,
            conn.execute(
                "UPDATE assessments SET value = '0.1' WHERE trace_id = ? AND name = 'quality' AND valid",
                (trace_id,),
            ).rowcount,
            conn.execute(
                "UPDATE trace_tags SET value = 'no' WHERE request_id = ? AND key = 'reviewed'", (trace_id,)
            ).rowcount,
        ]
    assert tampered == [1, 1, 1]
    code, output, report = _migrate(setup, "--verify-only")
    assert code == 1, output
    findings = {f["kind"]: f for f in report["verification"]["findings"]}
    assert set(findings) == {"spans", "assessments", "traces"}, findings
    assert all(trace_id in f["name"] for f in findings.values())
    assert "'retrieve'" in findings["spans"]["problem"]
    assert "'quality'" in findings["assessments"]["problem"]
    assert "reviewed" in findings["traces"]["problem"]
    assert "MISMATCH spans" in output
