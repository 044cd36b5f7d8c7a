"""`flowport migrate` copies the model registry, with real processes: the stock mlflow client fills a
local SQLite backend through `flowport serve` (registered models with versions from runs, deleted
versions, stages, aliases, tags, descriptions, two prompts), the migration copies it to a real
`mlflow server` that already holds a model of the same name, and the stock client pointed at that
server checks it — numbers kept across holes (mapped where the target had its own versions), runs
and sources rewritten, `models:/name@alias` downloads byte for byte, prompts load. Also: a dry run,
SIGKILL and resume without duplicates (copies made but not recorded found again), an incremental
pass, `--verify` catching a tampered alias and tag, a target without aliases or stages (listed as
gaps), and the way back to a local backend served by `flowport serve`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import pathlib
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Awaitable, Callable

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus
from rich.console import Console

from flowport.adapters.capabilities import Capability
from flowport.adapters.registry import build_backend
from flowport.gateway.migrate import migration
from flowport.gateway.migrate.endpoints import WorkspaceView
from flowport.gateway.migrate.model_versions import versions_of
from flowport.gateway.migrate.registry import registered_models
from flowport.gateway.migrate.state import MigrationState
from flowport.v1 import registry_pb2 as pb
from tests.fixtures.migrate import migrate_command, migrate_env, run_migrate
from tests.fixtures.mlflow_client import point_mlflow_at
from tests.fixtures.processes import run_gateway, run_mlflow_server

EXPERIMENTS = ("reg-vision", "reg-text")
RUNS_PER_EXPERIMENT = 3
BULK_VERSIONS = 40  # one model with many versions: the window a SIGKILL lands in
BULK_DELETED = (10, 11)  # two holes in a row
MODELS = ("reg-bulk", "reg-classifier", "reg-logged", "reg-regressor", "reg-shared")
PROMPTS = ("reg-chat", "reg-greeting")
LIVE_VERSIONS = BULK_VERSIONS - len(BULK_DELETED) + 3 + 1 + 2 + 2  # bulk, classifier, logged, …
PROMPT_VERSIONS = 3


@dataclasses.dataclass
class Setup:
    data_dir: pathlib.Path
    gateway_url: str  # flowport serve over the source backend
    remote_url: str  # the real mlflow server: the target
    config: pathlib.Path
    state: pathlib.Path
    runs: list[str]  # source run ids, in creation order


def _populate_source(client: MlflowClient, data_dir: pathlib.Path) -> list[str]:
    rng = random.Random(11)
    runs, experiment_ids = [], []
    for e, name in enumerate(EXPERIMENTS):
        experiment_id = client.create_experiment(name, tags={"area": name})
        experiment_ids.append(experiment_id)
        for i in range(RUNS_PER_EXPERIMENT):
            run_id = client.create_run(experiment_id, run_name=f"{name}-{i}").info.run_id
            payload = data_dir / f"weights-{e}-{i}.bin"
            payload.write_bytes(rng.randbytes(3000 + i))
            client.log_artifact(run_id, str(payload), "model")
            client.set_terminated(run_id)
            runs.append(run_id)
    root = {r: client.get_run(r).info.artifact_uri for r in runs}

    def version(model: str, run: str, by_location: bool = False, **kw) -> None:
        source = f"{root[run]}/model" if by_location else f"runs:/{run}/model"
        client.create_model_version(model, source, run, await_creation_for=0, **kw)

    client.create_registered_model("reg-bulk", description="many versions")
    for i in range(BULK_VERSIONS):
        version("reg-bulk", runs[i % 2], by_location=bool(i % 2), tags={"i": str(i + 1)})
    for number in BULK_DELETED:
        client.delete_model_version("reg-bulk", str(number))

    client.create_registered_model("reg-classifier", tags={"team": "vision"}, description="classifies")
    version("reg-classifier", runs[0], description="first cut", tags={"quality": "low"})
    version("reg-classifier", runs[1], by_location=True)
    version("reg-classifier", runs[2], by_location=True, tags={"quality": "good"})
    version("reg-classifier", runs[1])
    client.delete_model_version("reg-classifier", "2")  # a hole: the copy's numbers must still line up
    client.transition_model_version_stage("reg-classifier", "1", "Production")
    client.transition_model_version_stage("reg-classifier", "3", "Staging")
    client.transition_model_version_stage("reg-classifier", "4", "Archived")
    client.set_registered_model_alias("reg-classifier", "champion", "3")
    client.set_registered_model_alias("reg-classifier", "challenger", "4")

    # MLflow 3's way: a version of a logged model (`models:/m-<id>`), whose copy has another id.
    logged = client.create_logged_model(experiment_ids[0], name="net", source_run_id=runs[0])
    (data_dir / "net").mkdir()
    (data_dir / "net" / "MLmodel").write_bytes(rng.randbytes(500))
    client.log_model_artifacts(logged.model_id, str(data_dir / "net"))
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    client.create_registered_model("reg-logged")
    client.create_model_version(
        "reg-logged", f"models:/{logged.model_id}", runs[0], model_id=logged.model_id, await_creation_for=0
    )
    client.set_registered_model_alias("reg-logged", "live", "1")

    client.create_registered_model("reg-regressor", tags={"team": "text"})
    for i in range(3):
        version("reg-regressor", runs[3 + i], by_location=i == 2, description=f"r{i + 1}")
    client.delete_model_version("reg-regressor", "1")  # a hole at the start
    client.set_registered_model_alias("reg-regressor", "prod", "3")

    client.create_registered_model("reg-shared", tags={"team": "both"}, description="in both places")
    version("reg-shared", runs[4])
    version("reg-shared", runs[5], by_location=True)
    client.set_registered_model_alias("reg-shared", "prod", "2")

    # Prompts, registered while an experiment is active: their `_mlflow_experiment_ids` tag names it.
    mlflow.set_experiment(EXPERIMENTS[1])
    mlflow.genai.register_prompt("reg-greeting", "Hello {{name}}!", commit_message="v1", tags={"lang": "en"})
    mlflow.genai.register_prompt("reg-greeting", "Hi {{name}}, welcome.", commit_message="friendlier")
    mlflow.genai.set_prompt_alias("reg-greeting", "prod", 1)
    chat = [
        {"role": "system", "content": "You are {{persona}}."},
        {"role": "user", "content": "{{question}}"},
    ]
    mlflow.genai.register_prompt("reg-chat", chat, commit_message="chat", tags={"kind": "chat"})
    return runs


def _populate_target(remote: MlflowClient) -> None:
    """What the target holds before: an experiment (so ids differ) and its own 'reg-shared' versions."""
    remote.create_experiment("target-own")
    remote.create_registered_model("reg-shared", tags={"owner": "target"})
    for i in range(2):
        remote.create_model_version("reg-shared", f"s3://target-bucket/own-{i}")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("migrate-registry")
    source_dir = data_dir / "source"
    with contextlib.ExitStack() as stack:
        gateway = stack.enter_context(run_gateway(source_dir))
        monkeypatch = stack.enter_context(pytest.MonkeyPatch.context())
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # the server starts while the source fills
            starting = pool.submit(stack.enter_context, run_mlflow_server(data_dir / "remote"))
            runs = _populate_source(point_mlflow_at(gateway.url, monkeypatch), data_dir)
            remote_url = starting.result()
        _populate_target(_client(remote_url))
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
  back:
    kind: local
    database_uri: sqlite:///{data_dir / "back" / "flowport.db"}
    artifact_root: {data_dir / "back" / "artifacts"}
"""
        )
        yield Setup(data_dir, gateway.url, remote_url, config, data_dir / "state" / "migrate.db", runs)


def _command(setup: Setup, *extra: str, source: str = "here", target: str = "remote") -> list[str]:
    return migrate_command(setup.config, setup.state, source, target, *extra)


def _migrate(setup: Setup, *extra: str, **route: str) -> tuple[int, str, dict]:
    report = setup.data_dir / "report.json"
    return run_migrate(_command(setup, *extra, **route), setup.data_dir / "home", report)


def _mapped_versions(setup: Setup) -> int:
    if not setup.state.exists():
        return 0
    try:
        with sqlite3.connect(setup.state, timeout=1) as conn:
            query = "SELECT count(*) FROM migrate_id_map WHERE kind = 'model_version'"
            return conn.execute(query).fetchone()[0]
    except sqlite3.OperationalError:  # the table is being created
        return 0


def _raw_model(url: str, name: str) -> dict:
    """A registered model as the REST API has it (the stock client hides prompts from get)."""
    reply = httpx.get(f"{url}/api/2.0/mlflow/registered-models/get", params={"name": name})
    reply.raise_for_status()
    return reply.json()["registered_model"]


def _raw_versions(url: str, name: str) -> dict[str, dict]:
    versions = {}
    for extra in ("", " AND tags.`mlflow.prompt.is_prompt` = 'true'"):
        params = {"filter": f"name = '{name}'{extra}", "max_results": 1000}
        reply = httpx.get(f"{url}/api/2.0/mlflow/model-versions/search", params=params)
        reply.raise_for_status()
        versions |= {v["version"]: v for v in reply.json().get("model_versions", [])}
    return versions


def _tags(item: dict) -> dict[str, str]:
    """Tags less flowport's own (lineage, and the `mlflow` backend's create request ids)."""
    return {t["key"]: t["value"] for t in item.get("tags", []) if not t["key"].startswith("flowport.")}


def _files(directory: str) -> dict[str, bytes]:
    root = pathlib.Path(directory)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _download(url: str, uri: str, dest: pathlib.Path) -> dict[str, bytes]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        point_mlflow_at(url, monkeypatch)
        return _files(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest)))


def _run_copies(url: str) -> dict[str, str]:
    """source run id → its copy's id, from the lineage tags of every run in `url`."""
    client = _client(url)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return {
        r.data.tags["flowport.migrated_from"]: r.info.run_id
        for r in client.search_runs(experiments, max_results=1000)
        if "flowport.migrated_from" in r.data.tags
    }


def _logged_model_copies(url: str) -> dict[str, str]:
    """source logged model id → its copy's id, from the lineage tags of the logged models in `url`."""
    client = _client(url)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return {
        m.tags["flowport.migrated_from"]: m.model_id
        for m in client.search_logged_models(experiments)
        if "flowport.migrated_from" in m.tags
    }


def _assert_registry_copied(setup: Setup, target_url: str) -> None:
    """Every model and prompt of the source is in `target_url`, each version once, equal in every
    copied field, with runs and sources in the target's ids."""
    runs = _run_copies(target_url)
    logged = _logged_model_copies(target_url)
    source_root = {r: _client(setup.gateway_url).get_run(r).info.artifact_uri for r in setup.runs}
    target_root = {r: _client(target_url).get_run(runs[r]).info.artifact_uri for r in setup.runs}
    experiments = {
        e.experiment_id: _client(target_url).get_experiment_by_name(e.name).experiment_id
        for e in _client(setup.gateway_url).search_experiments()
    }
    for name in (*MODELS, *PROMPTS):
        mine, theirs = _raw_model(setup.gateway_url, name), _raw_model(target_url, name)
        assert theirs.get("description", "") == mine.get("description", ""), name
        expected_tags = _tags(mine)
        if "_mlflow_experiment_ids" in expected_tags:  # a prompt's experiments, in the target's ids
            ids = expected_tags["_mlflow_experiment_ids"].strip(",").split(",")
            expected_tags["_mlflow_experiment_ids"] = f",{','.join(experiments[i] for i in ids)},"
        assert _tags(theirs) == expected_tags, name
        my_versions, their_versions = _raw_versions(setup.gateway_url, name), _raw_versions(target_url, name)
        origins = [_lineage(v) for v in their_versions.values() if _lineage(v)]
        assert sorted(origins) == sorted(f"{name}/{n}" for n in my_versions), name  # each once
        copy_number = {_lineage(v): number for number, v in their_versions.items() if _lineage(v)}
        for number, version in my_versions.items():
            copy = their_versions[copy_number[f"{name}/{number}"]]
            if name != "reg-shared":  # the target had its own versions of that one: numbers mapped
                assert copy["version"] == number, name
            for field in ("current_stage", "description", "status"):
                assert copy.get(field, "") == version.get(field, ""), (name, number, field)
            assert _tags(copy) == _tags(version), (name, number)
            run = version.get("run_id")
            assert copy.get("run_id", "") == (runs[run] if run else ""), (name, number)
            source = version["source"]
            if source.startswith("models:/m-"):
                source = f"models:/{logged[source.removeprefix('models:/')]}"
            elif source.startswith("runs:/"):
                source = source.replace(run, runs[run])
            elif run:
                source = source.replace(source_root[run], target_root[run])
            assert copy["source"] == source, (name, number)
        their_aliases = {a["alias"]: a["version"] for a in theirs.get("aliases", [])}
        my_aliases = {a["alias"]: copy_number[f"{name}/{a['version']}"] for a in mine.get("aliases", [])}
        assert their_aliases == my_aliases, name


def _client(url: str) -> MlflowClient:
    """The stock client on `url` for tracking and registry (a global registry URI must not leak in)."""
    return MlflowClient(url, url)


def _lineage(version: dict) -> str:
    return {t["key"]: t["value"] for t in version.get("tags", [])}.get("flowport.migrated_from", "")


def _assert_models_load(setup: Setup, target_url: str, dest: pathlib.Path) -> None:
    """What a client script holds keeps working against the target: model URIs and prompt URIs."""
    uris = ("models:/reg-classifier@champion", "models:/reg-regressor/3", "models:/reg-bulk/12")
    for uri in (*uris, "models:/reg-logged@live"):
        mine = _download(setup.gateway_url, uri, dest / "mine" / uri.replace("/", "_"))
        theirs = _download(target_url, uri, dest / "theirs" / uri.replace("/", "_"))
        assert mine and theirs == mine, uri
    with pytest.MonkeyPatch.context() as monkeypatch:
        point_mlflow_at(setup.gateway_url, monkeypatch)
        expected = {uri: mlflow.genai.load_prompt(uri).template for uri in _PROMPT_URIS}
        point_mlflow_at(target_url, monkeypatch)
        assert {uri: mlflow.genai.load_prompt(uri).template for uri in _PROMPT_URIS} == expected


_PROMPT_URIS = ("prompts:/reg-greeting@prod", "prompts:/reg-greeting/2", "prompts:/reg-chat/1")


def test_dry_run_plans_the_registry_and_writes_nothing(setup):
    code, output, report = _migrate(setup, "--dry-run")
    assert code == 0, output
    assert report["registered_models"] == {**_zero(), "created": 4, "matched": 1}  # reg-shared is there
    assert report["model_versions"]["created"] == LIVE_VERSIONS
    assert report["prompts"]["created"] == 2 and report["prompt_versions"]["created"] == PROMPT_VERSIONS
    assert "would create" in output
    assert not setup.state.exists()
    remote = _client(setup.remote_url)
    assert [m.name for m in remote.search_registered_models()] == ["reg-shared"]
    assert sorted(v.version for v in remote.search_model_versions("name = 'reg-shared'")) == ["1", "2"]


def _zero() -> dict[str, int]:
    return dict.fromkeys(("created", "matched", "updated", "unchanged", "failed"), 0)


def test_a_migration_killed_mid_registry_resumes_without_duplicates(setup):
    proc = subprocess.Popen(
        _command(setup, "--concurrency", "1", "--no-progress"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=migrate_env(setup.data_dir / "home"),
    )
    try:
        deadline = time.monotonic() + 120
        while _mapped_versions(setup) < 5 and time.monotonic() < deadline:
            assert proc.poll() is None, "the migration ended before it could be killed"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    recorded = _mapped_versions(setup)
    assert 5 <= recorded < LIVE_VERSIONS + PROMPT_VERSIONS
    # As if the kill had come between the target's answer and the record: the last two versions
    # made are in the target but not in the state; the resumed pass must find them, not remake them.
    with sqlite3.connect(setup.state) as conn:
        conn.execute(
            "DELETE FROM migrate_id_map WHERE rowid IN (SELECT rowid FROM migrate_id_map "
            "WHERE kind = 'model_version' ORDER BY rowid DESC LIMIT 2)"
        )

    code, output, report = _migrate(setup, "--verify")
    assert code == 0, output
    assert report["verification"]["ok"] is True, output
    versions = report["model_versions"]
    assert versions["matched"] >= 2 and versions["failed"] == 0
    assert versions["created"] + versions["matched"] < LIVE_VERSIONS
    assert report["verification"]["checked"]["model versions"] == LIVE_VERSIONS
    assert report["verification"]["checked"]["prompt versions"] == PROMPT_VERSIONS
    assert not [g for g in report["gaps"] if g["kind"] in ("registered models", "prompts")]
    _assert_registry_copied(setup, setup.remote_url)
    _assert_models_load(setup, setup.remote_url, setup.data_dir / "downloads-1")


def test_a_second_pass_copies_only_what_changed(setup):
    code, output, report = _migrate(setup)
    assert code == 0, output
    assert report["registered_models"] == {**_zero(), "unchanged": 5}
    assert report["model_versions"] == {**_zero(), "unchanged": LIVE_VERSIONS}
    assert report["prompts"] == {**_zero(), "unchanged": 2}
    assert report["prompt_versions"] == {**_zero(), "unchanged": PROMPT_VERSIONS}
    assert report["aliases"] == 0 and report["tags"] == 0

    with pytest.MonkeyPatch.context() as monkeypatch:
        source = point_mlflow_at(setup.gateway_url, monkeypatch)
        source.create_model_version("reg-classifier", f"runs:/{setup.runs[4]}/model", setup.runs[4])
        source.set_registered_model_alias("reg-classifier", "canary", "5")
        source.set_model_version_tag("reg-classifier", "1", "reviewed", "yes")
        source.transition_model_version_stage("reg-classifier", "3", "Production")
        mlflow.genai.register_prompt("reg-greeting", "Good day, {{name}}.", commit_message="formal")
        mlflow.genai.set_prompt_alias("reg-greeting", "prod", 3)

    code, output, report = _migrate(setup, "--verify")
    assert code == 0, output
    assert report["model_versions"] == {**_zero(), "created": 1, "updated": 2, "unchanged": LIVE_VERSIONS - 2}
    assert report["prompt_versions"] == {**_zero(), "created": 1, "unchanged": PROMPT_VERSIONS}
    assert report["registered_models"] == {**_zero(), "updated": 1, "unchanged": 4}  # the new alias
    assert report["prompts"] == {**_zero(), "updated": 1, "unchanged": 1}  # the moved alias
    assert report["aliases"] == 2
    assert report["verification"]["ok"] is True, output
    _assert_registry_copied(setup, setup.remote_url)
    remote = _client(setup.remote_url)
    assert remote.get_model_version_by_alias("reg-classifier", "canary").version == "5"


def test_verify_names_a_tampered_alias_and_tag(setup):
    remote = _client(setup.remote_url)
    remote.set_registered_model_alias("reg-classifier", "champion", "1")
    remote.set_model_version_tag("reg-regressor", "2", "quality", "tampered")
    code, output, report = _migrate(setup, "--verify-only")
    assert code == 1, output
    findings = {(f["kind"], f["name"]): f["problem"] for f in report["verification"]["findings"]}
    assert len(findings) == 2, findings
    alias = findings[("model aliases", "'reg-classifier' alias 'champion'")]
    assert "source → version 3" in alias and "target → version 1" in alias
    [(key, problem)] = [(k, p) for k, p in findings.items() if k[0] == "model versions"]
    assert "'reg-regressor' version 2" in key[1] and "quality" in problem and "tampered" in problem
    assert "MISMATCH model aliases" in output
    # Put back by hand: a pass writes what changed in the source, edits in the target are --verify's.
    remote.set_registered_model_alias("reg-classifier", "champion", "3")
    remote.delete_model_version_tag("reg-regressor", "2", "quality")
    code, output, report = _migrate(setup, "--verify-only")
    assert code == 0, output


def _migrate_in_process(
    setup: Setup,
    target_name: str,
    *,
    without: frozenset[Capability] = frozenset(),
    experiments: list[str] | None = None,
    before: Callable[[WorkspaceView], Awaitable[None]] | None = None,
) -> tuple[int, dict, dict[str, tuple]]:
    """The source copied into a new local backend `target_name` whose registry lacks `without`
    (after `before` prepared it): (exit code, report, {model name: (model, versions)} it then holds)."""

    async def run() -> tuple[int, dict, dict[str, tuple]]:
        source = build_backend("here", "local", _local(setup.data_dir / "source"), max_threads=2)
        target = build_backend(target_name, "local", _local(setup.data_dir / target_name), max_threads=2)
        await source.start()
        await target.start()
        target.capabilities = target.capabilities - without
        state = MigrationState(f"sqlite:///{setup.data_dir / target_name}-state.db", "here", target_name)
        report_path = setup.data_dir / f"{target_name}.json"
        options = migration.MigrateOptions(
            "", "here", target_name, experiments, no_progress=True, report_json=str(report_path)
        )
        try:
            views = WorkspaceView(source, "default"), WorkspaceView(target, "default")
            if before is not None:
                await before(views[1])
            code = await migration._migrate(options, Console(quiet=True), *views, state)
            held = {
                m.name: (m, await versions_of(views[1], m.name)) for m in await registered_models(views[1])
            }
            return code, json.loads(report_path.read_text()), held
        finally:
            state.close()
            await source.close()
            await target.close()

    return asyncio.run(run())


def _local(directory: pathlib.Path) -> dict[str, str]:
    return {
        "database_uri": f"sqlite:///{directory / 'flowport.db'}",
        "artifact_root": str(directory / "artifacts"),
    }


def test_a_target_without_aliases_or_stages_lists_them_as_gaps(setup):
    """A registry with neither (as a Databricks workspace registry lacks aliases and Unity Catalog
    stages): versions are copied, aliases and stages are counted in the report, nothing fails."""
    without = frozenset({Capability.REGISTRY_ALIASES, Capability.REGISTRY_STAGES})
    code, report, held = _migrate_in_process(setup, "narrow", without=without)
    assert code == 0, report["failures"]
    gaps = {g["kind"]: g for g in report["gaps"]}
    source = _client(setup.gateway_url)
    aliases = sum(len(_raw_model(setup.gateway_url, n).get("aliases", [])) for n in (*MODELS, *PROMPTS))
    staged = sum(1 for v in source.search_model_versions(max_results=1000) if v.current_stage != "None")
    assert gaps["model aliases"]["count"] == str(aliases) and "cannot hold" in gaps["model aliases"]["reason"]
    assert gaps["model version stages"]["count"] == str(staged)
    assert report["model_versions"]["created"] == LIVE_VERSIONS + 1 and report["aliases"] == 0
    assert sorted(held) == sorted((*MODELS, *PROMPTS))
    assert not any(model.aliases for model, _ in held.values())
    assert {v.current_stage for _, versions in held.values() for v in versions} == {"None"}


def test_with_experiments_only_their_models_are_copied(setup):
    """--experiments reg-text: the models whose versions come from its runs (all of them from runs
    that are copied); the others, and the prompts (no runs), are listed with the reason."""
    code, report, held = _migrate_in_process(setup, "scoped", experiments=[EXPERIMENTS[1]])
    assert code == 0, report["failures"]
    assert sorted(held) == ["reg-regressor", "reg-shared"]
    assert sorted(v.version for v in held["reg-regressor"][1]) == ["2", "3"]  # the hole at 1 kept
    assert {a.alias: a.version for a in held["reg-regressor"][0].aliases} == {"prod": "3"}
    left_out = {(g["kind"], g["reason"]): g["count"] for g in report["gaps"]}
    unrelated = "--experiments: no version comes from a run of the chosen experiments"
    assert left_out[("registered models", unrelated)] == "2"  # reg-bulk, reg-logged
    assert left_out[("prompts", unrelated)] == "2"
    # reg-classifier's version 5 comes from a reg-text run, its others from reg-vision's (not copied).
    assert left_out[("registered models", "versions name runs that are not migrated")] == "1"


def test_copies_an_interrupted_pass_left_behind_are_adopted_or_removed(setup):
    """What a pass killed inside 'reg-regressor' (source versions 2 and 3; 1 was deleted) can leave:
    a copy of version 2 on number 1 (the hole's number, not yet deleted), the real copy on 2 (not yet
    recorded), and a second copy of 2 (an ambiguous retry). The next pass keeps one copy of each."""

    async def interrupted_pass(target: WorkspaceView) -> None:
        request = pb.CreateRegisteredModel(name="reg-regressor")
        request.tags.add(key="flowport.migrated_from", value="reg-regressor")
        await target.invoke("CreateRegisteredModel", request)
        for _ in range(3):
            request = pb.CreateModelVersion(name="reg-regressor", source="runs:/r/model", run_id="r")
            request.tags.add(key="flowport.migrated_from", value="reg-regressor/2")
            await target.invoke("CreateModelVersion", request)

    code, report, held = _migrate_in_process(
        setup, "crashed", experiments=[EXPERIMENTS[1]], before=interrupted_pass
    )
    assert code == 0, report["failures"]
    model, versions = held["reg-regressor"]
    lineage = {v.version: {t.key: t.value for t in v.tags}["flowport.migrated_from"] for v in versions}
    # Number 3 was taken (then freed) by the duplicate: the copy of 3 takes 4, and the map says so.
    assert lineage == {"2": "reg-regressor/2", "4": "reg-regressor/3"}
    assert {a.alias: a.version for a in model.aliases} == {"prod": "4"}
    assert report["model_versions"]["matched"] == 1 and report["model_versions"]["created"] == 3  # + shared


def test_the_way_back_to_a_local_backend_serves_the_same_models(setup):
    code, output, report = _migrate(setup, "--verify", source="remote", target="back")
    assert code == 0, output
    assert report["verification"]["ok"] is True
    with run_gateway(setup.data_dir / "back") as back:
        for uri in (
            "models:/reg-classifier@champion",
            "models:/reg-classifier/5",
            "models:/reg-regressor@prod",
        ):
            mine = _download(setup.gateway_url, uri, setup.data_dir / "back-mine" / uri.replace("/", "_"))
            theirs = _download(back.url, uri, setup.data_dir / "back-theirs" / uri.replace("/", "_"))
            assert mine and theirs == mine, uri
        client = _client(back.url)
        assert [v.version for v in client.search_model_versions("name = 'reg-classifier'")] == [
            "5",
            "4",
            "3",
            "1",
        ]
        with pytest.MonkeyPatch.context() as monkeypatch:
            point_mlflow_at(back.url, monkeypatch)
            assert mlflow.genai.load_prompt("prompts:/reg-greeting@prod").template == "Good day, {{name}}."
