"""Old ids after a switch: a workspace filled on a local backend is migrated to a real `mlflow server`,
the configuration re-points it there (`migrated_from:`, live reload), and a client holding the old
run and experiment ids keeps working — reads, writes, `runs:/<old id>/…` downloads, a model version
made from an old run — over both doors. Experiment ids the target uses itself keep their meaning."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import signal
import subprocess
import sys

import httpx
import pytest
from mlflow.entities import Metric, Param

from flowport.sdk.client import FlowportClient
from flowport.v1 import tracking_pb2
from tests.fixtures.migrate import migrate_command, run_migrate
from tests.fixtures.mlflow_client import client_for
from tests.fixtures.processes import Gateway, run_gateway, run_mlflow_server

EXPERIMENTS = ("e1", "e2", "e3", "e4", "e5")


@dataclasses.dataclass
class Switched:
    gateway: Gateway
    remote_url: str
    old_experiments: dict[str, str]  # name → id on the local backend
    old_runs: dict[str, str]  # name → run id on the local backend
    copies: dict[str, str]  # old run id → its copy's id on the remote


def _config(data_dir: pathlib.Path, remote_url: str, default: str) -> str:
    return f"""backends:
  here:
    kind: local
    database_uri: sqlite:///{data_dir / "here.db"}
    artifact_root: {data_dir / "here-artifacts"}
  remote:
    kind: mlflow
    url: {remote_url}
migration_state: sqlite:///{data_dir / "state.db"}
workspaces:
  default: {default}
"""


def _migrate(data_dir: pathlib.Path, *experiments: str) -> None:
    config, state = data_dir / "flowport.yaml", data_dir / "state.db"
    command = migrate_command(config, state, "here", "remote", "--experiments", *experiments)
    code, output, _ = run_migrate(command, data_dir)
    assert code == 0, output


@pytest.fixture(scope="module")
def switched(tmp_path_factory) -> Switched:
    data_dir = tmp_path_factory.mktemp("migrated-ids")
    notes = data_dir / "notes.txt"
    notes.write_text("written before the move\n")
    with run_mlflow_server(data_dir / "remote") as remote_url:
        config = _config(data_dir, remote_url, "here")
        with run_gateway(data_dir, config=config) as gateway:
            client = client_for(gateway.url)
            old_experiments = {name: client.create_experiment(name) for name in EXPERIMENTS}
            old_runs = {}
            for name in ("e1", "e4", "e5"):
                run = client.create_run(old_experiments[name], run_name=f"{name}-run")
                points = [Metric("loss", 1.0 / (i + 1), 1_700_000_000_000 + i, i) for i in range(20)]
                client.log_batch(run.info.run_id, metrics=points, params=[Param("lr", "0.1")])
                client.log_artifact(run.info.run_id, str(notes), "notes")
                client.set_terminated(run.info.run_id)
                old_runs[name] = run.info.run_id
            # Two passes, so the copies' ids differ from the old ones: e4 → 1, e5 → 2, e1 → 3 on the
            # remote, whose own Default is 0; old ids 4 and 5 do not exist there, old 1 does.
            _migrate(data_dir, "e4", "e5")
            _migrate(data_dir, "e1")
            moved = _config(data_dir, remote_url, "{backend: remote, migrated_from: here}")
            (data_dir / "flowport.yaml").write_text(moved)
            gateway.proc.send_signal(signal.SIGHUP)
            gateway.wait_routed("default", "remote")
            remote = client_for(remote_url)
            copies = {}
            for experiment in remote.search_experiments():
                for run in remote.search_runs([experiment.experiment_id]):
                    if origin := run.data.tags.get("flowport.migrated_from"):
                        copies[origin] = run.info.run_id
            yield Switched(gateway, remote_url, old_experiments, old_runs, copies)


def test_the_copies_have_new_ids(switched):
    """The premise: old and new ids differ, for runs and for experiments."""
    remote = client_for(switched.remote_url)
    assert set(switched.copies) == set(switched.old_runs.values())
    assert all(old != new for old, new in switched.copies.items())
    assert remote.get_experiment_by_name("e4").experiment_id != switched.old_experiments["e4"]


def test_old_run_ids_read_the_copies(switched):
    client = client_for(switched.gateway.url)
    for name, old in switched.old_runs.items():
        run = client.get_run(old)
        assert run.info.run_id == switched.copies[old]
        assert run.info.run_name == f"{name}-run"
        assert run.data.params == {"lr": "0.1"}
        history = client.get_metric_history(old, "loss")
        assert [(m.step, m.value) for m in history] == [(i, 1.0 / (i + 1)) for i in range(20)]


def test_writes_to_an_old_run_id_land_on_the_copy(switched):
    client = client_for(switched.gateway.url)
    old = switched.old_runs["e4"]
    client.log_metric(old, "after-the-move", 3.5, step=1)
    client.set_tag(old, "moved", "yes")
    copy = client_for(switched.remote_url).get_run(switched.copies[old])
    assert copy.data.metrics["after-the-move"] == 3.5
    assert copy.data.tags["moved"] == "yes"


def test_runs_uri_with_an_old_id_downloads_the_copied_artifact(switched, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", switched.gateway.url)
    mlflow.set_tracking_uri(switched.gateway.url)
    old = switched.old_runs["e5"]
    path = mlflow.artifacts.download_artifacts(f"runs:/{old}/notes/notes.txt", dst_path=str(tmp_path))
    assert pathlib.Path(path).read_text() == "written before the move\n"


def test_a_model_version_from_an_old_run_points_at_the_copy(switched):
    client = client_for(switched.gateway.url)
    old = switched.old_runs["e4"]
    client.create_registered_model("moved-model")
    version = client.create_model_version("moved-model", f"runs:/{old}/notes", run_id=old)
    theirs = client_for(switched.remote_url).get_model_version("moved-model", version.version)
    assert theirs.run_id == switched.copies[old]


def test_old_experiment_ids_the_target_does_not_use_resolve_to_the_copies(switched):
    client = client_for(switched.gateway.url)
    remote = client_for(switched.remote_url)
    for name in ("e4", "e5"):
        old_id = switched.old_experiments[name]
        assert client.get_experiment(old_id).name == name
        runs = client.search_runs([old_id])
        assert [r.info.run_id for r in runs] == [switched.copies[switched.old_runs[name]]]
        created = client.create_run(old_id, run_name="after-the-move")
        assert created.info.experiment_id == remote.get_experiment_by_name(name).experiment_id


def test_an_id_the_target_uses_itself_keeps_its_meaning(switched):
    """Old e1 was experiment 1 here; on the remote, 1 is the copy of e4 or e5. The target's own id
    wins: ids handed out after the switch must not change meaning (documented)."""
    client = client_for(switched.gateway.url)
    assert switched.old_experiments["e1"] == "1"
    theirs = client_for(switched.remote_url).get_experiment("1").name
    assert theirs in ("e4", "e5")
    assert client.get_experiment("1").name == theirs


def test_the_grpc_door_resolves_old_ids_too(switched):
    grpc_target = switched.gateway.grpc_target
    old = switched.old_runs["e1"]
    with FlowportClient(grpc_target) as sdk:
        run = sdk.tracking.GetRun(tracking_pb2.GetRun(run_id=old)).run
    assert run.info.run_id == switched.copies[old]


def _serve_refused(tmp_path: pathlib.Path, state: str) -> str:
    config = tmp_path / "flowport.yaml"
    config.write_text(
        f"""backends:
  here: {{kind: local, database_uri: "sqlite:///{tmp_path / "here.db"}"}}
  there: {{kind: local, database_uri: "sqlite:///{tmp_path / "there.db"}"}}
migration_state: {state}
workspaces:
  default: {{backend: there, migrated_from: [here]}}
"""
    )
    proc = subprocess.run(
        [sys.executable, "-m", "flowport.gateway.cli", "serve", "--config", str(config), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FLOWPORT_HOME": str(tmp_path)},
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_a_switch_naming_no_recorded_migration_is_refused_at_start(tmp_path):
    output = _serve_refused(tmp_path, f"sqlite:///{tmp_path / 'never-written.db'}")
    assert "workspaces.default.migrated_from: no migration from 'here' to 'there' is recorded" in output
    assert not (tmp_path / "never-written.db").exists()


def test_an_unreadable_migration_state_is_one_line_without_its_password(tmp_path):
    output = _serve_refused(tmp_path, "postgresql://flowport:s3cret-pw@127.0.0.1:5432/no_such_database")
    assert (
        "cannot read the migration state (postgresql://flowport:***@127.0.0.1:5432/no_such_database)"
        in output
    )
    assert "s3cret-pw" not in output
    assert "Traceback" not in output


def test_with_auth_on_permissions_are_checked_on_the_copies(switched, tmp_path):
    """Old ids are rewritten before permissions are checked: a grant on the copy of e4 lets a user read
    e4 and its run by their old ids, and nothing of e5."""
    admin_password, user_password = "admin-pw-for-migrated-ids", "user-pw-for-migrated-ids"
    moved = (switched.gateway.data_dir / "flowport.yaml").read_text()
    config = moved + 'auth:\n  bootstrap_admin: {username: admin, password: "${FP_ADMIN_PASSWORD}"}\n'
    with run_gateway(tmp_path, config=config, env={"FP_ADMIN_PASSWORD": admin_password}) as gateway:
        admin = httpx.Client(base_url=gateway.url, auth=("admin", admin_password), timeout=30)
        user = httpx.Client(base_url=gateway.url, auth=("reader", user_password), timeout=30)
        created = admin.post(
            "/api/2.0/mlflow/users/create", json={"username": "reader", "password": user_password}
        )
        assert created.status_code == 200, created.text
        copy_of_e4 = client_for(switched.remote_url).get_experiment_by_name("e4").experiment_id
        grant = {"username": "reader", "resource_type": "experiment", "resource_id": copy_of_e4}
        granted = admin.post("/api/3.0/mlflow/users/permissions/grant", json={**grant, "permission": "READ"})
        assert granted.status_code == 200, granted.text

        e4, e5 = switched.old_experiments["e4"], switched.old_experiments["e5"]
        got = user.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": e4})
        assert got.status_code == 200, got.text
        assert got.json()["experiment"]["name"] == "e4"
        run = user.get("/api/2.0/mlflow/runs/get", params={"run_id": switched.old_runs["e4"]})
        assert run.status_code == 200, run.text
        assert run.json()["run"]["info"]["run_id"] == switched.copies[switched.old_runs["e4"]]
        for denied in (
            user.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": e5}),
            user.get("/api/2.0/mlflow/runs/get", params={"run_id": switched.old_runs["e5"]}),
        ):
            assert denied.status_code == 403, denied.text
            assert denied.json()["error_code"] == "PERMISSION_DENIED"
