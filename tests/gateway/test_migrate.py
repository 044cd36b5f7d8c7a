"""`flowport migrate` end to end with real processes: a local SQLite backend filled by the stock mlflow
client through `flowport serve`, copied to a real `mlflow server`, then checked with the stock client
pointed at that server directly — a dry run that writes nothing, a migration SIGKILLed mid-way and
resumed, an incremental pass, and a tampered target that `--verify` catches."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import random
import signal
import sqlite3
import subprocess
import sys
import time

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType

from tests.fixtures.config_files import local_backend
from tests.fixtures.migrate import migrate_command, migrate_env, run_migrate
from tests.fixtures.mlflow_client import client_for
from tests.fixtures.processes import run_gateway, run_mlflow_server

EXPERIMENTS = ("mig-vision", "mig-nlp", "mig-tabular")
RUNS_PER_EXPERIMENT = 18  # 54 runs: per experiment a parent with children, plus a few roots
POINTS_PER_KEY = 100  # two keys per run: 10,800 points
BASE_TS = 1_700_000_000_000
BIG_ARTIFACT = 1_500_000  # bytes: more than one 1 MiB chunk
MODELS = ("mig-model-a", "mig-model-b", "mig-model-c")
TRACES = 6


@dataclasses.dataclass
class Setup:
    data_dir: pathlib.Path
    gateway_url: str  # flowport serve over the source backend
    remote_url: str  # the real mlflow server: the target
    config: pathlib.Path
    state: pathlib.Path
    remote_db: pathlib.Path
    big_run: str  # the source run holding the big artifact


def _populate(client: MlflowClient, data_dir: pathlib.Path) -> str:
    rng = random.Random(7)
    big = data_dir / "weights.bin"
    big.write_bytes(rng.randbytes(BIG_ARTIFACT))
    small = data_dir / "notes.txt"
    small.write_text("hello from the source\n")
    big_run = ""
    for e, name in enumerate(EXPERIMENTS):
        experiment_id = client.create_experiment(name, tags={"team": f"t{e}", "purpose": "migration test"})
        parent = None
        for i in range(RUNS_PER_EXPERIMENT):
            tags = {"mlflow.parentRunId": parent} if parent and i % 3 else {}
            start = BASE_TS + e * 1_000_000 + i * 10_000
            run = client.create_run(experiment_id, start_time=start, tags=tags, run_name=f"{name}-{i}")
            run_id = run.info.run_id
            if i == 0:
                parent = run_id
            metrics = [
                Metric(key, rng.random() if j != 5 else float("nan"), start + j * 7 + k, j * 2)
                for k, key in enumerate(("loss", "accuracy"))
                for j in range(POINTS_PER_KEY)
            ]
            params = [Param("lr", str(0.1 / (i + 1))), Param("layers", str(i % 4)), Param("exp", name)]
            client.log_batch(run_id, metrics=metrics, params=params, tags=[RunTag("seed", str(i))])
            if i % 6 == 0:
                client.log_artifact(run_id, str(small), "notes")
            if e == 0 and i == 1:
                client.log_artifact(run_id, str(big), "model")
                big_run = run_id
            status = "FAILED" if i == 4 else "FINISHED"
            client.set_terminated(run_id, status=status, end_time=start + 5_000)
            if i == 7:
                client.delete_run(run_id)
    client.delete_experiment(client.create_experiment("mig-retired", tags={"old": "yes"}))
    _register_models(client)
    _log_traces(client.tracking_uri)
    return big_run


def _register_models(client: MlflowClient) -> None:
    """MODELS registered models, two versions each from runs holding notes, a `champion` alias."""
    with_notes = [
        run.info.run_id
        for name in EXPERIMENTS
        for run in _all_runs(client, client.get_experiment_by_name(name).experiment_id)
        if run.info.lifecycle_stage == "active" and _files(client, run.info.run_id)
    ]
    for m, name in enumerate(MODELS):
        client.create_registered_model(name, tags={"owner": f"t{m}"}, description=f"model {m}")
        for v in range(2):
            run_id = with_notes[(2 * m + v) % len(with_notes)]
            client.create_model_version(name, f"runs:/{run_id}/notes", run_id=run_id, tags={"v": str(v)})
        client.set_registered_model_alias(name, "champion", str(1 + m % 2))


def _log_traces(url: str) -> None:
    """TRACES traces of two spans each in the first experiment, through the fluent API."""
    mlflow.set_tracking_uri(url)
    mlflow.set_experiment(EXPERIMENTS[0])
    for i in range(TRACES):
        with mlflow.start_span(f"predict-{i}") as span:
            span.set_inputs({"x": i})
            with mlflow.start_span("featurize") as inner:
                inner.set_attribute("width", i * 2)
            span.set_outputs({"y": i * 3})
    mlflow.flush_trace_async_logging()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("migrate")
    source_dir = data_dir / "source"
    with run_gateway(source_dir) as gateway, run_mlflow_server(data_dir / "remote") as remote_url:
        big_run = _populate(client_for(gateway.url), data_dir)
        config = data_dir / "flowport.yaml"
        config.write_text(
            f"""backends:
  here:
    kind: local
    database_uri: sqlite:///{source_dir / "flowport.db"}
    artifact_root: {source_dir / "artifacts"}
  remote:
    kind: mlflow
    url: {remote_url}
workspaces:
  default: here
  team-remote: remote
"""
        )
        yield Setup(
            data_dir,
            gateway.url,
            remote_url,
            config,
            data_dir / "state" / "migrate.db",
            data_dir / "remote" / "mlflow.db",
            big_run,
        )


def _migrate(setup: Setup, *extra: str, report: str = "report.json") -> tuple[int, str, dict]:
    return run_migrate(_command(setup, *extra), setup.data_dir / "home", setup.data_dir / report)


def _command(setup: Setup, *extra: str) -> list[str]:
    return migrate_command(setup.config, setup.state, "here", "workspace:team-remote", *extra)


def _with_local_backend(setup: Setup, name: str, folder: pathlib.Path) -> pathlib.Path:
    """The source's config plus one more local backend `name` in `folder`, written there."""
    config = folder / "flowport.yaml"
    config.write_text(
        setup.config.read_text().replace("workspaces:", local_backend(name, folder) + "workspaces:")
    )
    return config


def _state_count(setup: Setup, table: str) -> int:
    if not setup.state.exists():
        return 0
    try:
        with sqlite3.connect(setup.state, timeout=1) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # the table is being created
        return 0


def _all_runs(client: MlflowClient, experiment_id: str) -> list:
    return client.search_runs([experiment_id], run_view_type=ViewType.ALL, max_results=1000)


def _series(client: MlflowClient, run_id: str, key: str) -> list[tuple]:
    return sorted((m.step, m.timestamp, repr(m.value)) for m in client.get_metric_history(run_id, key))


def _files(client: MlflowClient, run_id: str, path: str = "") -> list[str]:
    found = []
    for info in client.list_artifacts(run_id, path or None):
        found += _files(client, run_id, info.path) if info.is_dir else [info.path]
    return sorted(found)


def _without_lineage(tags: dict[str, str]) -> dict[str, str]:
    """Tags less flowport's own: `migrated_from`, and the `mlflow` backend's create request ids (seen
    here because this client talks to the remote directly, not through a gateway that strips them)."""
    return {k: v for k, v in tags.items() if not k.startswith("flowport.")}


def _assert_exact_copy(setup: Setup) -> None:
    """Every source experiment and run is in the remote exactly once, equal in every copied field."""
    source, remote = client_for(setup.gateway_url), client_for(setup.remote_url)
    for name in (*EXPERIMENTS, "mig-retired"):
        mine = source.get_experiment_by_name(name)
        theirs = remote.get_experiment_by_name(name)
        assert theirs is not None, name
        assert theirs.lifecycle_stage == mine.lifecycle_stage
        assert _without_lineage(theirs.tags) == mine.tags
        source_runs = _all_runs(source, mine.experiment_id)
        copies = _all_runs(remote, theirs.experiment_id)
        origins = [c.data.tags["flowport.migrated_from"] for c in copies]
        assert sorted(origins) == sorted(r.info.run_id for r in source_runs)  # all there, none twice
        copy_of = {c.data.tags["flowport.migrated_from"]: c for c in copies}
        for run in source_runs:
            copy = copy_of[run.info.run_id]
            for field in ("start_time", "end_time", "status", "run_name", "lifecycle_stage", "user_id"):
                assert getattr(copy.info, field) == getattr(run.info, field), field
            assert copy.data.params == run.data.params
            parent = run.data.tags.get("mlflow.parentRunId")
            if parent:
                assert copy.data.tags["mlflow.parentRunId"] == copy_of[parent].info.run_id
            expected_tags = {**run.data.tags}
            if parent:
                expected_tags["mlflow.parentRunId"] = copy_of[parent].info.run_id
            assert _without_lineage(copy.data.tags) == expected_tags
            for key in run.data.metrics:
                assert _series(remote, copy.info.run_id, key) == _series(source, run.info.run_id, key), key
            if run.info.lifecycle_stage == "active":
                assert _files(remote, copy.info.run_id) == _files(source, run.info.run_id)


def _artifact_bytes(url: str, run_id: str, path: str, dest: pathlib.Path) -> bytes:
    dest.mkdir(parents=True, exist_ok=True)
    return pathlib.Path(client_for(url).download_artifacts(run_id, path, str(dest))).read_bytes()


def test_dry_run_prints_the_plan_and_writes_nothing(setup):
    code, output, report = _migrate(setup, "--dry-run", report="dry.json")
    assert code == 0, output
    assert report["dry_run"] is True
    assert report["runs"]["created"] == len(EXPERIMENTS) * RUNS_PER_EXPERIMENT
    assert report["experiments"]["created"] == len(EXPERIMENTS) + 1
    assert report["metric_points"] == len(EXPERIMENTS) * RUNS_PER_EXPERIMENT * 2 * POINTS_PER_KEY
    assert "would create" in output
    assert not setup.state.exists()
    remote = client_for(setup.remote_url)
    assert [e.name for e in remote.search_experiments(view_type=ViewType.ALL)] == ["Default"]


def test_a_migration_killed_mid_way_resumes_without_duplicates(setup):
    proc = subprocess.Popen(
        _command(setup, "--concurrency", "1", "--no-progress"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=migrate_env(setup.data_dir / "home"),
    )
    try:
        deadline = time.monotonic() + 120
        while _state_count(setup, "migrate_metric_progress") < 10 and time.monotonic() < deadline:
            assert proc.poll() is None, "the migration ended before it could be killed"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    copied_before = _state_count(setup, "migrate_id_map")
    assert 0 < copied_before < len(EXPERIMENTS) * RUNS_PER_EXPERIMENT + len(EXPERIMENTS) + 2

    code, output, report = _migrate(setup, "--verify")
    assert code == 0, output
    assert report["verification"]["ok"] is True
    assert report["runs"]["failed"] == 0
    # The resumed pass created only what the killed one had not.
    assert 0 < report["runs"]["created"] + report["runs"]["matched"] < len(EXPERIMENTS) * RUNS_PER_EXPERIMENT
    _assert_exact_copy(setup)
    original = _artifact_bytes(setup.gateway_url, setup.big_run, "model/weights.bin", setup.data_dir / "a")
    copy_id = _copy_id(setup, setup.big_run)
    assert _artifact_bytes(setup.remote_url, copy_id, "model/weights.bin", setup.data_dir / "b") == original
    assert len(original) == BIG_ARTIFACT


def _copy_id(setup: Setup, source_run_id: str) -> str:
    with sqlite3.connect(setup.state) as conn:
        row = conn.execute(
            "SELECT target_id FROM migrate_id_map WHERE kind = 'run' AND source_id = ?", (source_run_id,)
        ).fetchone()
    return row[0]


def test_a_second_pass_copies_only_what_is_new(setup):
    code, output, report = _migrate(setup)
    assert code == 0, output
    assert report["runs"]["created"] == 0 and report["runs"]["updated"] == 0
    assert report["metric_points"] == 0 and report["artifact_files"] == 0

    source = client_for(setup.gateway_url)
    experiment_id = source.get_experiment_by_name("mig-nlp").experiment_id
    existing = _all_runs(source, experiment_id)[3].info.run_id
    source.log_batch(
        existing, metrics=[Metric("loss", 0.5, BASE_TS + 9_999_999 + j, 500 + j) for j in range(7)]
    )
    extra = setup.data_dir / "extra.txt"
    extra.write_text("added later\n")
    source.log_artifact(existing, str(extra), "notes")
    for i in range(2):
        run = source.create_run(experiment_id, start_time=BASE_TS + 50_000_000 + i, run_name=f"late-{i}")
        source.log_batch(
            run.info.run_id,
            metrics=[Metric("loss", j / 10, BASE_TS + 50_000_000 + j, j) for j in range(30)],
            params=[Param("late", "yes")],
        )
        source.set_terminated(run.info.run_id, end_time=BASE_TS + 50_000_100)

    code, output, report = _migrate(setup, "--verify")
    assert code == 0, output
    assert report["runs"]["created"] == 2
    assert report["runs"]["updated"] == 1
    assert report["runs"]["unchanged"] == len(EXPERIMENTS) * RUNS_PER_EXPERIMENT - 1
    assert report["metric_points"] == 7 + 2 * 30
    assert report["artifact_files"] == 1
    assert report["verification"]["ok"] is True
    _assert_exact_copy(setup)


def test_migrated_there_and_back(setup, tmp_path):
    """The copy on the remote migrates back to a fresh local backend: everything, verified."""
    config = _with_local_backend(setup, "back", tmp_path)
    command = migrate_command(config, tmp_path / "s.db", "workspace:team-remote", "back", "--verify")
    code, output, report = run_migrate(command, setup.data_dir / "home", tmp_path / "back.json")
    assert code == 0, output
    assert report["verification"]["ok"] is True
    runs = len(EXPERIMENTS) * RUNS_PER_EXPERIMENT + 2  # the second pass added two
    assert report["runs"]["created"] == runs
    assert report["registered_models"]["created"] == len(MODELS)
    assert report["model_versions"]["created"] == 2 * len(MODELS)
    assert report["aliases"] == len(MODELS)
    assert report["traces"]["created"] == TRACES
    assert report["spans"] == 2 * TRACES


# The notebook of a team: it holds run ids and a model URI, and is never edited.
CLIENT_SCRIPT = """
import hashlib, json, pathlib, sys, tempfile
import mlflow
from mlflow import MlflowClient

client, seen, answers = MlflowClient(), [], {}
for run_id in sys.argv[2:]:
    run = client.get_run(run_id)
    seen.append(run.info.run_id)
    history = client.get_metric_history(run_id, "accuracy")
    answers[run_id] = {
        "name": run.info.run_name, "status": run.info.status, "params": run.data.params,
        "history": sorted((m.step, m.timestamp, repr(m.value)) for m in history),
    }
    if run.info.lifecycle_stage == "active" and client.list_artifacts(run_id, "notes"):
        notes = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/notes", dst_path=tempfile.mkdtemp())
        answers[run_id]["notes"] = sorted(p.name for p in pathlib.Path(notes).iterdir())
for name in sys.argv[1].split(","):
    uri, into = f"models:/{name}@champion", tempfile.mkdtemp()
    folder = pathlib.Path(mlflow.artifacts.download_artifacts(uri, dst_path=into))
    files = [p for p in folder.rglob("*") if p.is_file()]
    answers[name] = {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
print(json.dumps({"answers": answers, "seen": seen}, sort_keys=True))
"""


def _run_client_script(url: str, run_ids: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT_SCRIPT, ",".join(MODELS), *run_ids],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": url,
            "MLFLOW_REGISTRY_URI": url,
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_client_script_gives_the_same_answers_before_and_after_the_switch(setup, tmp_path):
    """One URL: the workspace moves from the local backend to the remote by a live config edit, and
    a script holding old run ids and `models:/name@champion` answers the same, now from the copies."""
    source = client_for(setup.gateway_url)
    experiment_id = source.get_experiment_by_name(EXPERIMENTS[1]).experiment_id
    run_ids = [r.info.run_id for r in _all_runs(source, experiment_id)][:8]
    base = setup.config.read_text().split("workspaces:")[0] + f"migration_state: sqlite:///{setup.state}\n"
    with run_gateway(tmp_path, config=base + "workspaces:\n  default: here\n") as gateway:
        before = _run_client_script(gateway.url, run_ids)
        assert before["seen"] == run_ids
        moved = base + "workspaces:\n  default: {backend: remote, migrated_from: here}\n"
        (tmp_path / "flowport.yaml").write_text(moved)
        gateway.proc.send_signal(signal.SIGHUP)
        gateway.wait_routed("default", "remote")
        after = _run_client_script(gateway.url, run_ids)
    assert after["answers"] == before["answers"]
    assert after["seen"] == [_copy_id(setup, run_id) for run_id in run_ids]  # served by the copies
    assert all(models for name, models in after["answers"].items() if name in MODELS)


def test_verify_names_a_tampered_metric_point(setup):
    copy_id = _copy_id(setup, setup.big_run)
    with sqlite3.connect(setup.remote_db) as conn:
        changed = conn.execute(
            "UPDATE metrics SET value = value + 1 WHERE run_uuid = ? AND key = 'loss' AND step = 4",
            (copy_id,),
        ).rowcount
    assert changed == 1
    code, output, report = _migrate(setup, "--verify-only")
    assert code == 1, output
    assert report["verification"]["ok"] is False
    [finding] = report["verification"]["findings"]
    assert finding["kind"] == "metric series"
    assert setup.big_run in finding["name"] and copy_id in finding["name"]
    assert "metric 'loss'" in finding["problem"]
    assert "MISMATCH" in output and copy_id in output


# --- SIGKILL at seeded points, into local targets ---------------------------------------------------

KILLS_PER_SEED = 3
# State tables whose growth marks a point in the migration: the id map (experiments, runs and every
# other kind as they are created), metric series done, artifact files done.
PROGRESS_TABLES = ("migrate_id_map", "migrate_metric_progress", "migrate_artifact_progress")


def _kill_points(seed: int) -> list[tuple[str, int]]:
    """KILLS_PER_SEED points (table, row count) of the migration to kill it at; a point that an
    earlier pass already passed kills the next pass as it starts."""
    rng = random.Random(seed)
    rows = {"migrate_id_map": 40, "migrate_metric_progress": 100, "migrate_artifact_progress": 12}
    return [
        (table, rng.randint(1, rows[table] - 1)) for table in rng.choices(PROGRESS_TABLES, k=KILLS_PER_SEED)
    ]


def _run_until_killed(setup: Setup, command: list[str], env: dict, state: pathlib.Path, point) -> bool:  # noqa: ANN001
    """Start the migration and SIGKILL it once `point` (table, rows) is reached in the state; False
    when it finished first (the point lay behind what earlier passes already did)."""
    table, rows = point
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    probe = dataclasses.replace(setup, state=state)
    try:
        deadline = time.monotonic() + 120
        while _state_count(probe, table) < rows:
            if proc.poll() is not None:
                return False
            assert time.monotonic() < deadline, f"no progress to {point} within 120 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
        return True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("seed", [11, 23, 42])
def test_killed_at_seeded_points_then_resumed_leaves_an_exact_copy(setup, tmp_path, seed):
    target_db = tmp_path / "target.db"
    config = _with_local_backend(setup, "target", tmp_path)
    state = tmp_path / "state.db"
    command = migrate_command(config, state, "here", "target", "--no-progress", "--concurrency", "2")
    env = migrate_env(setup.data_dir / "home")
    kills = sum(_run_until_killed(setup, command, env, state, point) for point in _kill_points(seed))
    assert kills >= 1  # at least one pass really died mid-way
    home = setup.data_dir / "home"
    code, output, report = run_migrate([*command, "--verify"], home, tmp_path / "report.json")
    assert code == 0, output
    assert report["verification"]["ok"] is True
    # Exactly one copy of every source run, whatever the kills interrupted.
    with sqlite3.connect(target_db) as conn:
        origins = [
            row[0] for row in conn.execute("SELECT value FROM tags WHERE key = 'flowport.migrated_from'")
        ]
        copies = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    source = client_for(setup.gateway_url)
    source_runs = [
        r.info.run_id
        for e in source.search_experiments(view_type=ViewType.ALL)
        for r in _all_runs(source, e.experiment_id)
    ]
    assert sorted(origins) == sorted(source_runs)
    assert copies == len(source_runs)
