"""Workspaces routed to two backends — the local one (SQLite) and a real `mlflow server` — used by
the stock mlflow client (MLFLOW_WORKSPACE, mlflow.set_workspace), over gRPC, and by
`flowport workspaces`."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import subprocess
import sys
import uuid

import grpc
import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from flowport.v1 import tracking_pb2, tracking_pb2_grpc, workspaces_pb2, workspaces_pb2_grpc
from flowport.v1.errors import ERROR_CODE_METADATA_KEY
from tests.fixtures.mlflow_client import point_mlflow_at
from tests.fixtures.processes import free_port, run_gateway, run_mlflow_server

SECRET = "s3cr3t-token-for-a-backend-that-is-down"


@dataclasses.dataclass
class Setup:
    gateway_url: str
    grpc_target: str
    remote_url: str  # the real mlflow server behind workspace team-remote
    config_file: pathlib.Path  # default → local, team-remote → mlflow server, team-gone → nothing
    healthy_config_file: pathlib.Path  # the same without team-gone
    data_dir: pathlib.Path


def _config(data_dir: pathlib.Path, remote_url: str, gone_url: str | None) -> str:
    text = f"""
backends:
  here:
    kind: local
    database_uri: sqlite:///{data_dir / "here.db"}
    artifact_root: {data_dir / "here-artifacts"}
  remote:
    kind: mlflow
    url: {remote_url}
"""
    if gone_url:
        text += f"""  gone:
    kind: mlflow
    url: {gone_url}
    auth: {{type: bearer, token: "${{GONE_TOKEN}}"}}
"""
    text += """workspaces:
  default: here
  team-remote: {backend: remote, description: "Team R on the shared MLflow server"}
"""
    if gone_url:
        text += "  team-gone: gone\n"
    return text


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("workspaces")
    env = {"GONE_TOKEN": SECRET}
    with run_mlflow_server(data_dir / "remote") as remote_url:
        gone_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        healthy = data_dir / "healthy.yaml"
        healthy.write_text(_config(data_dir, remote_url, None))
        with run_gateway(data_dir, config=_config(data_dir, remote_url, gone_url), env=env) as gw:
            yield Setup(gw.url, gw.grpc_target, remote_url, data_dir / "flowport.yaml", healthy, data_dir)


@pytest.fixture
def client_env(setup, monkeypatch):
    """The stock client pointed at the gateway; no workspace active before or after."""
    monkeypatch.delenv("MLFLOW_WORKSPACE", raising=False)
    point_mlflow_at(setup.gateway_url, monkeypatch)
    yield
    if mlflow.active_run():
        mlflow.end_run()
    _no_workspace()


def _no_workspace() -> None:
    mlflow.set_workspace(None)
    os.environ.pop("MLFLOW_WORKSPACE", None)


@contextlib.contextmanager
def _workspace(name: str):
    mlflow.set_workspace(name)
    try:
        yield
    finally:
        _no_workspace()


def _log_run(experiment: str) -> str:
    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        mlflow.log_param("where", experiment)
        mlflow.log_metric("loss", 0.5, step=3)
        mlflow.log_text(f"hello from {experiment}", "notes/hello.txt")
    return run.info.run_id


def test_server_info_says_workspaces_are_enabled_whatever_the_header(setup):
    for headers in ({}, {"X-MLFLOW-WORKSPACE": "team-remote"}, {"X-MLFLOW-WORKSPACE": "nope"}):
        info = httpx.get(f"{setup.gateway_url}/api/3.0/mlflow/server-info", headers=headers)
        assert info.status_code == 200
        assert info.json()["workspaces_enabled"] is True


def test_the_embedded_default_does_not_enable_workspaces(tmp_path):
    with run_gateway(tmp_path) as gw:
        info = httpx.get(f"{gw.url}/api/3.0/mlflow/server-info").json()
        assert info["workspaces_enabled"] is False
        listed = httpx.get(f"{gw.url}/api/3.0/mlflow/workspaces").json()
        assert [w["name"] for w in listed["workspaces"]] == ["default"]


def test_each_workspace_writes_to_its_own_backend(setup, client_env, monkeypatch):
    suffix = uuid.uuid4().hex[:8]
    remote_exp, local_exp = f"remote-{suffix}", f"local-{suffix}"

    monkeypatch.setenv("MLFLOW_WORKSPACE", "team-remote")  # the environment variable way
    remote_run = _log_run(remote_exp)
    assert mlflow.get_experiment_by_name(remote_exp) is not None
    monkeypatch.delenv("MLFLOW_WORKSPACE")

    with _workspace("default"):  # the mlflow.set_workspace() way
        local_run = _log_run(local_exp)
        assert mlflow.get_experiment_by_name(local_exp) is not None
        assert mlflow.get_experiment_by_name(remote_exp) is None
        got = MlflowClient().get_run(local_run)
        assert got.data.params == {"where": local_exp}
        assert mlflow.artifacts.load_text(f"runs:/{local_run}/notes/hello.txt") == f"hello from {local_exp}"

    # The remote server itself, asked directly: it holds the team-remote run and nothing else of ours.
    remote = MlflowClient(setup.remote_url)
    assert remote.get_experiment_by_name(local_exp) is None
    experiment = remote.get_experiment_by_name(remote_exp)
    assert experiment is not None
    direct = remote.get_run(remote_run)
    assert direct.info.experiment_id == experiment.experiment_id
    assert direct.data.params == {"where": remote_exp}
    assert [m.step for m in remote.get_metric_history(remote_run, "loss")] == [3]
    assert [f.path for f in remote.list_artifacts(remote_run, "notes")] == ["notes/hello.txt"]

    # No workspace header at all is the default workspace: the local backend.
    assert mlflow.get_experiment_by_name(local_exp) is not None
    assert mlflow.get_experiment_by_name(remote_exp) is None
    with _workspace("team-remote"):
        text = mlflow.artifacts.load_text(f"runs:/{remote_run}/notes/hello.txt")
        assert text == f"hello from {remote_exp}"


def test_an_id_from_one_workspace_is_not_found_in_another(setup, client_env):
    with _workspace("team-remote"):
        remote_run = _log_run(f"cross-{uuid.uuid4().hex[:8]}")
    with _workspace("default"):
        with pytest.raises(MlflowException) as info:
            MlflowClient().get_run(remote_run)
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        local_run = _log_run(f"cross-{uuid.uuid4().hex[:8]}")
    with _workspace("team-remote"):
        with pytest.raises(MlflowException) as info:
            MlflowClient().log_param(local_run, "k", "v")
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_list_and_get_workspaces_with_the_stock_client(setup, client_env):
    listed = mlflow.list_workspaces()
    assert [(w.name, w.description) for w in listed] == [
        ("default", "Default workspace for legacy resources"),
        ("team-gone", None),
        ("team-remote", "Team R on the shared MLflow server"),
    ]
    assert mlflow.get_workspace("team-remote").description == "Team R on the shared MLflow server"
    with _workspace("team-remote"):  # the header does not route the workspace API
        assert mlflow.get_workspace("default").name == "default"
    with pytest.raises(MlflowException) as info:
        mlflow.get_workspace("nope")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "Workspace 'nope' not found" in info.value.message


@pytest.mark.parametrize(
    "change",
    [
        lambda: mlflow.create_workspace("new-team", description="x"),
        lambda: mlflow.update_workspace("team-remote", description="renamed"),
        lambda: mlflow.delete_workspace("team-remote", mode="CASCADE"),
    ],
    ids=["create", "update", "delete"],
)
def test_workspaces_cannot_be_changed_through_the_api(setup, client_env, change):
    with pytest.raises(MlflowException) as info:
        change()
    assert info.value.error_code == "NOT_IMPLEMENTED"
    assert "workspaces come from its configuration file" in info.value.message
    assert str(setup.config_file) in info.value.message
    assert [w.name for w in mlflow.list_workspaces()] == ["default", "team-gone", "team-remote"]


def test_workspace_api_over_http_matches_mlflow_shapes(setup):
    base = f"{setup.gateway_url}/api/3.0/mlflow/workspaces"
    got = httpx.get(f"{base}/team-remote", headers={"X-MLFLOW-WORKSPACE": "nope"})
    assert got.status_code == 200
    assert got.json()["workspace"] == {
        "name": "team-remote",
        "description": "Team R on the shared MLflow server",
        "backend": "remote",
        "backend_kind": "mlflow",
    }
    refused = httpx.delete(f"{base}/team-remote", params={"mode": "CASCADE"})
    assert refused.status_code == 501 and refused.json()["error_code"] == "NOT_IMPLEMENTED"
    bad = httpx.get(f"{base}/Bad_Name")
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    ("workspace", "status", "code", "message"),
    [
        ("nope", 404, "RESOURCE_DOES_NOT_EXIST", "Workspace 'nope' not found"),
        ("Bad_Name", 400, "INVALID_PARAMETER_VALUE", "Workspace name 'Bad_Name' must match the pattern"),
        ("x", 400, "INVALID_PARAMETER_VALUE", "must be between 2 and 63 characters"),
    ],
)
def test_an_unknown_or_invalid_workspace_is_refused_on_every_route(setup, workspace, status, code, message):
    headers = {"X-MLFLOW-WORKSPACE": workspace}
    base = setup.gateway_url
    answers = [
        httpx.get(f"{base}/api/2.0/mlflow/experiments/search", params={"max_results": "1"}, headers=headers),
        httpx.post(f"{base}/api/2.0/mlflow/experiments/create", json={"name": "x"}, headers=headers),
        httpx.get(f"{base}/api/2.0/mlflow-artifacts/artifacts/a/b.txt", headers=headers),
        httpx.put(f"{base}/api/2.0/mlflow-artifacts/artifacts/a/b.txt", content=b"x", headers=headers),
        httpx.get(f"{base}/api/2.0/mlflow-artifacts/artifacts", params={"path": "a"}, headers=headers),
        httpx.post(
            f"{base}/v1/traces",
            content=b"",
            headers={**headers, "content-type": "application/x-protobuf", "x-mlflow-experiment-id": "0"},
        ),
    ]
    for answer in answers:
        assert answer.status_code == status, answer.request.url
        assert answer.json()["error_code"] == code
        assert message in answer.json()["message"]


def test_the_stock_client_in_an_unknown_workspace_gets_mlflows_error(setup, client_env, monkeypatch):
    monkeypatch.setenv("MLFLOW_WORKSPACE", "nope")
    with pytest.raises(MlflowException) as info:
        mlflow.search_experiments()
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "Workspace 'nope' not found" in info.value.message


def _grpc_error_code(err: grpc.RpcError) -> str | None:
    return dict(err.trailing_metadata() or ()).get(ERROR_CODE_METADATA_KEY)


def test_workspaces_over_grpc(setup):
    name = f"grpc-{uuid.uuid4().hex[:8]}"
    with grpc.insecure_channel(setup.grpc_target) as channel:
        workspaces = workspaces_pb2_grpc.WorkspaceServiceStub(channel)
        tracking = tracking_pb2_grpc.TrackingServiceStub(channel)
        listed = workspaces.ListWorkspaces(
            workspaces_pb2.ListWorkspaces(), metadata=(("x-mlflow-workspace", "nope"),)
        )
        assert [(w.name, w.backend, w.backend_kind) for w in listed.workspaces] == [
            ("default", "here", "local"),
            ("team-gone", "gone", "mlflow"),
            ("team-remote", "remote", "mlflow"),
        ]
        got = workspaces.GetWorkspace(workspaces_pb2.GetWorkspace(workspace_name="default"))
        assert got.workspace.description == "Default workspace for legacy resources"
        with pytest.raises(grpc.RpcError) as info:
            workspaces.GetWorkspace(workspaces_pb2.GetWorkspace(workspace_name="nope"))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as info:
            workspaces.CreateWorkspace(workspaces_pb2.CreateWorkspace(name="new-team"))
        assert _grpc_error_code(info.value) == "NOT_IMPLEMENTED"

        # Tracking calls are routed by the x-mlflow-workspace metadata.
        created = tracking.CreateExperiment(
            tracking_pb2.CreateExperiment(name=name), metadata=(("x-mlflow-workspace", "team-remote"),)
        )
        assert MlflowClient(setup.remote_url).get_experiment(created.experiment_id).name == name
        with pytest.raises(grpc.RpcError) as info:
            tracking.GetExperimentByName(tracking_pb2.GetExperimentByName(experiment_name=name))
        assert _grpc_error_code(info.value) == "RESOURCE_DOES_NOT_EXIST"  # not in default (local)
        for workspace, status, code in [
            ("nope", grpc.StatusCode.NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"),
            ("Bad_Name", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PARAMETER_VALUE"),
        ]:
            with pytest.raises(grpc.RpcError) as info:
                tracking.SearchExperiments(
                    tracking_pb2.SearchExperiments(max_results=1),
                    metadata=(("x-mlflow-workspace", workspace),),
                )
            assert info.value.code() == status and _grpc_error_code(info.value) == code


def test_without_a_default_workspace_a_call_without_one_names_the_fix(tmp_path):
    config = f"""
backends:
  here: {{kind: local, database_uri: "sqlite:///{tmp_path / "here.db"}", artifact_root: "{tmp_path / "art"}"}}
workspaces:
  team-a: here
"""
    with run_gateway(tmp_path, config=config) as gw:
        bare = httpx.get(f"{gw.url}/api/2.0/mlflow/experiments/search", params={"max_results": "1"})
        assert bare.status_code == 404
        assert bare.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        message = bare.json()["message"]
        assert message.startswith("Workspace 'default' not found")
        assert "MLFLOW_WORKSPACE" in message and "add 'default: <backend>' under 'workspaces:'" in message
        named = httpx.get(
            f"{gw.url}/api/2.0/mlflow/experiments/search",
            params={"max_results": "1"},
            headers={"X-MLFLOW-WORKSPACE": "team-a"},
        )
        assert named.status_code == 200
        listed = httpx.get(f"{gw.url}/api/3.0/mlflow/workspaces").json()
        assert [w["name"] for w in listed["workspaces"]] == ["team-a"]


def _flowport(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flowport.gateway.cli", "workspaces", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GONE_TOKEN": SECRET},
    )


def _rows(stdout: str) -> dict[str, list[str]]:
    lines = stdout.strip().splitlines()
    assert lines[0].split() == ["WORKSPACE", "BACKEND", "KIND", "WHERE", "HEALTH"]
    return {line.split()[0]: line.split(maxsplit=4) for line in lines[1:]}


def test_flowport_workspaces_from_the_config_reports_a_backend_that_is_down(setup):
    done = _flowport("--config", str(setup.config_file), "--timeout", "5")
    assert done.returncode == 1, done.stderr
    rows = _rows(done.stdout)
    assert list(rows) == ["default", "team-gone", "team-remote"]
    assert rows["default"][1:4] == ["here", "local", f"sqlite:///{setup.data_dir / 'here.db'}"]
    assert rows["default"][4] == "ok"
    assert rows["team-remote"][1:] == ["remote", "mlflow", setup.remote_url, "ok"]
    assert rows["team-gone"][1:3] == ["gone", "mlflow"]
    assert rows["team-gone"][4].startswith("TEMPORARILY_UNAVAILABLE: Backend 'gone'")
    assert SECRET not in done.stdout + done.stderr


def test_flowport_workspaces_exits_0_when_every_backend_answers(setup):
    done = _flowport("--config", str(setup.healthy_config_file))
    assert done.returncode == 0, done.stdout + done.stderr
    assert {name: row[4] for name, row in _rows(done.stdout).items()} == {
        "default": "ok",
        "team-remote": "ok",
    }


def test_flowport_workspaces_asks_a_running_gateway(setup):
    done = _flowport("--url", setup.gateway_url, "--timeout", "10")
    assert done.returncode == 1, done.stderr
    rows = _rows(done.stdout)
    assert rows["default"][1:] == ["here", "local", "-", "ok"]
    assert rows["team-remote"][1:] == ["remote", "mlflow", "-", "ok"]
    assert rows["team-gone"][4].startswith("TEMPORARILY_UNAVAILABLE: Backend 'gone'")
    assert SECRET not in done.stdout


def test_flowport_workspaces_with_a_bad_config_is_one_line_per_mistake(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "backends:\n  r: {kind: mlflow, url: 'http://x'}\nworkspaces:\n  Bad_Name: r\n  ok-name: s\n"
    )
    done = _flowport("--config", str(bad))
    assert done.returncode == 2
    assert "workspaces.Bad_Name: Workspace name 'Bad_Name' must match" in done.stderr
    assert "workspaces.ok-name: no backend named 's'" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_sdk_lists_workspaces_and_routes_by_its_workspace(setup):
    from flowport.sdk.client import FlowportClient

    name = f"sdk-{uuid.uuid4().hex[:8]}"
    client = FlowportClient(setup.grpc_target, workspace="team-remote")
    try:
        listed = client.workspaces.ListWorkspaces(workspaces_pb2.ListWorkspaces())
        assert [w.name for w in listed.workspaces] == ["default", "team-gone", "team-remote"]
        created = client.tracking.CreateExperiment(tracking_pb2.CreateExperiment(name=name))
    finally:
        client.close()
    assert MlflowClient(setup.remote_url).get_experiment(created.experiment_id).name == name
