"""Several workspaces on ONE backend — the local one, or a real `mlflow server --enable-workspaces`
the gateway tells each call's workspace — used by the stock mlflow client: each sees only its own
experiments, runs, models and artifacts, with the same names free in each."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.fixtures.mlflow_client import point_mlflow_at
from tests.fixtures.processes import run_gateway, run_mlflow_server

WORKSPACES = ("default", "team-a", "team-b")


def _shared_backend(variant: str, data_dir, remote_url: str | None) -> str:
    if variant == "local":
        return f"""    kind: local
    database_uri: sqlite:///{data_dir / "shared.db"}
    artifact_root: {data_dir / "artifacts"}
"""
    return f"""    kind: mlflow
    url: {remote_url}
    workspaces: true
"""


@pytest.fixture(scope="module", params=["local", "mlflow-server-workspaces"])
def shared_gateway(request, tmp_path_factory):
    """The shared backend: the local one (flowport keeps the workspaces apart), or a real `mlflow
    server --enable-workspaces` told each call's workspace (the server keeps them apart; its
    artifacts land where the local one's would, so the same checks hold)."""
    data_dir = tmp_path_factory.mktemp("one-backend")
    with contextlib.ExitStack() as stack:
        remote_url = None
        if request.param != "local":
            remote_url = stack.enter_context(
                run_mlflow_server(
                    data_dir / "remote", artifacts=data_dir / "artifacts", extra=("--enable-workspaces",)
                )
            )
            for name in ("team-a", "team-b"):  # the server's own workspaces, made by its operator
                httpx.post(f"{remote_url}/api/3.0/mlflow/workspaces", json={"name": name}).raise_for_status()
        config = f"""
backends:
  shared:
{_shared_backend(request.param, data_dir, remote_url)}  archive:
    kind: local
    database_uri: sqlite:///{data_dir / "archive.db"}
    artifact_root: {data_dir / "archive-artifacts"}
workspaces:
  default: shared
  team-a: shared
  team-b: shared
  archive: archive
"""
        gateway = stack.enter_context(run_gateway(data_dir, config=config))
        gateway.backend_kind = "local" if remote_url is None else "mlflow"
        yield gateway


@pytest.fixture
def in_workspace(shared_gateway, monkeypatch):
    point_mlflow_at(shared_gateway.url, monkeypatch)

    def use(name: str) -> MlflowClient:
        mlflow.set_workspace(name)
        return MlflowClient(shared_gateway.url, shared_gateway.url)

    yield use
    mlflow.set_workspace(None)


def _log_run(experiment: str, text: str) -> mlflow.entities.Run:
    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        mlflow.log_param("who", text)
        mlflow.log_text(text, "note.txt")
    return mlflow.get_run(run.info.run_id)


def test_same_names_in_each_workspace_hold_their_own_data(shared_gateway, in_workspace, tmp_path):
    runs = {}
    for name in WORKSPACES:
        in_workspace(name)
        runs[name] = _log_run("shared-name", f"written in {name}")
    assert len({run.info.experiment_id for run in runs.values()}) == 3
    for name, run in runs.items():
        client = in_workspace(name)
        assert client.get_run(run.info.run_id).data.params["who"] == f"written in {name}"
        assert mlflow.artifacts.load_text(run.info.artifact_uri + "/note.txt") == f"written in {name}"
        found = mlflow.search_runs(experiment_names=["shared-name"], output_format="list")
        assert [r.info.run_id for r in found] == [run.info.run_id]
        for other, other_run in runs.items():
            if other == name:
                continue
            with pytest.raises(MlflowException) as info:
                client.get_run(other_run.info.run_id)
            assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # The others live under workspaces/<name>/; `default` keeps the store's root on the local backend
    # (its data from before workspaces stays where it was), a fresh MLflow server gives it a folder too.
    assert runs["default"].info.artifact_uri.startswith("mlflow-artifacts:/")
    default_folder = "/workspaces/default/" if shared_gateway.backend_kind == "mlflow" else "/workspaces/"
    assert (default_folder in runs["default"].info.artifact_uri) == (shared_gateway.backend_kind == "mlflow")
    assert "/workspaces/team-a/" in runs["team-a"].info.artifact_uri


def test_artifact_paths_cannot_reach_another_workspace(shared_gateway, in_workspace):
    gateway = shared_gateway
    in_workspace("team-a")
    secret_run = _log_run("paths", "team-a only")
    path = secret_run.info.artifact_uri.split("mlflow-artifacts:/", 1)[1] + "/note.txt"
    assert path.startswith("workspaces/team-a/")
    url = f"{gateway.url}/api/2.0/mlflow-artifacts/artifacts/{path}"
    assert httpx.get(url, headers={"X-MLFLOW-WORKSPACE": "team-a"}).text == "team-a only"
    for workspace in ("team-b", "default"):
        answer = httpx.get(url, headers={"X-MLFLOW-WORKSPACE": workspace})
        assert answer.status_code == 400
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "team-a only" not in answer.text
        written = httpx.put(url, content=b"overwrite", headers={"X-MLFLOW-WORKSPACE": workspace})
        assert written.status_code == 400
        listing = httpx.get(
            f"{gateway.url}/api/2.0/mlflow-artifacts/artifacts",
            params={"path": "workspaces"},
            headers={"X-MLFLOW-WORKSPACE": workspace},
        )
        if listing.status_code == 200:  # an MLflow server lets `default` list the folder: names only
            assert (gateway.backend_kind, workspace) == ("mlflow", "default")
            assert all(entry.get("is_dir") for entry in listing.json()["files"])
        else:
            assert listing.status_code == 400
    # team-b's own relative path lands in its own folder, never in team-a's.
    own = httpx.put(
        f"{gateway.url}/api/2.0/mlflow-artifacts/artifacts/x/y.txt",
        content=b"b's",
        headers={"X-MLFLOW-WORKSPACE": "team-b"},
    )
    assert own.status_code == 200
    assert (gateway.artifacts_dir / "workspaces" / "team-b" / "x" / "y.txt").read_bytes() == b"b's"
    assert httpx.get(url, headers={"X-MLFLOW-WORKSPACE": "team-a"}).text == "team-a only"


def test_registered_models_are_per_workspace(in_workspace):
    for name in ("team-a", "team-b"):
        client = in_workspace(name)
        client.create_registered_model("churn", tags={"team": name})
    for name in ("team-a", "team-b"):
        client = in_workspace(name)
        assert client.get_registered_model("churn").tags["team"] == name
        assert [m.name for m in client.search_registered_models()] == ["churn"]
    client = in_workspace("default")
    with pytest.raises(MlflowException) as info:
        client.get_registered_model("churn")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_migrate_moves_one_workspace_of_a_shared_backend(shared_gateway, in_workspace, tmp_path):
    for name in ("team-a", "team-b"):
        in_workspace(name)
        _log_run("moving", f"from {name}")
    done = subprocess.run(
        [sys.executable, "-m", "flowport.gateway.cli", "migrate", "--config"]
        + [str(shared_gateway.data_dir / "flowport.yaml"), "--from", "workspace:team-a"]
        + [
            "--to",
            "workspace:archive",
            "--verify",
            "--no-progress",
            "--state",
            f"sqlite:///{tmp_path / 's.db'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "FLOWPORT_HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    in_workspace("archive")
    moved = mlflow.search_runs(experiment_names=["moving"], output_format="list")
    assert [run.data.params["who"] for run in moved] == ["from team-a"]
    assert mlflow.artifacts.load_text(moved[0].info.artifact_uri + "/note.txt") == "from team-a"
