"""flowport's own clients against a real `flowport serve` with auth on: the SDK signs in with a
token or basic credentials (arguments, else the mlflow client's environment variables), on unary and
streamed calls; `flowport workspaces --url` signs in the same way; and building the `flowport`
parser (every command, `--help` included) does not import the auth state database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from flowport.sdk import FlowportClient
from flowport.sdk.credentials import PASSWORD_ENV, TOKEN_ENV, USERNAME_ENV, authorization
from flowport.v1 import auth_pb2, tracking_pb2
from flowport.v1.errors import ApiError
from tests.fixtures.config_files import BOOTSTRAP_ADMIN, config_file, local_backend
from tests.fixtures.processes import run_gateway

ADMIN_PASSWORD = "admin-" + uuid.uuid4().hex
VIEWER_PASSWORD = "viewer-" + uuid.uuid4().hex
_CREDENTIAL_ENV = (TOKEN_ENV, USERNAME_ENV, PASSWORD_ENV)


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    data = tmp_path_factory.mktemp("auth-clients")
    config = config_file(
        local_backend("local", data), {"default": "local", "team-a": "local"}, BOOTSTRAP_ADMIN
    )
    with run_gateway(data, config=config, env={"FP_ADMIN_PASSWORD": ADMIN_PASSWORD}) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def no_credentials_in_the_environment(monkeypatch):
    for name in _CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def people(gw):
    """An editor (token) of `default`, and a viewer (password) of `team-a` only — set up through the
    SDK's own AuthService stub, signed in as the bootstrap admin with basic credentials."""
    editor, viewer = f"ed-{uuid.uuid4().hex[:6]}", f"vw-{uuid.uuid4().hex[:6]}"
    with FlowportClient(gw.grpc_target, username="admin", password=ADMIN_PASSWORD) as fp:
        fp.auth.CreateUser(auth_pb2.CreateUser(username=editor, service_account=True))
        fp.auth.CreateUser(auth_pb2.CreateUser(username=viewer, password=VIEWER_PASSWORD))
        fp.auth.SetRoleBinding(
            auth_pb2.SetRoleBinding(
                workspace="default", principal_kind="user", principal_name=editor, role="editor"
            )
        )
        fp.auth.SetRoleBinding(
            auth_pb2.SetRoleBinding(
                workspace="team-a", principal_kind="user", principal_name=viewer, role="viewer"
            )
        )
        editor_token = fp.auth.CreateToken(auth_pb2.CreateToken(username=editor)).secret
        admin_token = fp.auth.CreateToken(auth_pb2.CreateToken()).secret
    return {"editor": editor, "editor_token": editor_token, "viewer": viewer, "admin_token": admin_token}


def current_user(fp: FlowportClient) -> str:
    return fp.auth.GetCurrentUser(auth_pb2.GetCurrentUser()).user.username


def audit_events(gw, principal: str, actions: set[str]) -> list:
    """The principal's audit records, once those of `actions` are written (the writer is async)."""
    deadline = time.monotonic() + 30
    with FlowportClient(gw.grpc_target, username="admin", password=ADMIN_PASSWORD) as fp:
        while True:
            events = fp.auth.SearchAuditEvents(auth_pb2.SearchAuditEvents(principal=principal)).events
            if actions <= {e.action for e in events} or time.monotonic() > deadline:
                return list(events)
            time.sleep(0.2)


# --- the SDK ------------------------------------------------------------------------------------


def test_the_sdk_signs_in_with_a_token_on_unary_and_streamed_calls(gw, people, tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(3 << 20))  # three chunks each way
    with FlowportClient(gw.grpc_target, token=people["editor_token"]) as fp:
        experiment_id = fp.tracking.CreateExperiment(
            tracking_pb2.CreateExperiment(name=f"sdk-{uuid.uuid4().hex[:6]}")
        ).experiment_id
        run = fp.tracking.CreateRun(tracking_pb2.CreateRun(experiment_id=experiment_id)).run
        path = f"{experiment_id}/{run.info.run_id}/artifacts/weights.bin"
        fp.upload_file(source, path)
        assert fp.download_file(path, tmp_path / "back.bin") == source.stat().st_size
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
    events = audit_events(gw, people["editor"], {"UploadArtifact", "DownloadArtifact"})
    streamed = [e for e in events if e.action in ("UploadArtifact", "DownloadArtifact")]
    assert len(streamed) == 2
    assert {(e.auth_method, e.outcome) for e in streamed} == {("token", "allowed")}


def test_the_sdk_without_credentials_or_with_bad_ones_is_refused_without_detail(gw, people):
    request = tracking_pb2.GetExperiment(experiment_id="0")
    with FlowportClient(gw.grpc_target) as fp:
        with pytest.raises(ApiError) as err:
            fp.tracking.GetExperiment(request)
        assert (err.value.error_code, err.value.message) == ("UNAUTHENTICATED", "Authentication required")
    wrong = "fpt_" + uuid.uuid4().hex
    with FlowportClient(gw.grpc_target, token=wrong) as fp:
        with pytest.raises(ApiError) as err:
            fp.tracking.GetExperiment(request)
        assert (err.value.error_code, err.value.message) == ("UNAUTHENTICATED", "Invalid credentials")
        assert wrong not in str(err.value)
    with FlowportClient(gw.grpc_target, username=people["viewer"], password="not-it") as fp:
        with pytest.raises(ApiError) as err:
            fp.tracking.GetExperiment(request)
        assert err.value.error_code == "UNAUTHENTICATED"


def test_the_sdk_reads_the_mlflow_clients_environment_variables(gw, people, monkeypatch):
    """As in the mlflow client: a user name with a password wins over a token; arguments win over both."""
    monkeypatch.setenv(TOKEN_ENV, people["editor_token"])
    with FlowportClient(gw.grpc_target) as fp:
        assert current_user(fp) == people["editor"]
    monkeypatch.setenv(USERNAME_ENV, people["viewer"])
    with FlowportClient(gw.grpc_target) as fp:  # a user name without a password: still the token
        assert current_user(fp) == people["editor"]
    monkeypatch.setenv(PASSWORD_ENV, VIEWER_PASSWORD)
    with FlowportClient(gw.grpc_target, workspace="team-a") as fp:
        assert current_user(fp) == people["viewer"]
        assert fp.auth.GetCurrentUser(auth_pb2.GetCurrentUser()).is_basic_auth
    with FlowportClient(gw.grpc_target, token=people["admin_token"]) as fp:
        assert current_user(fp) == "admin"


def test_credentials_are_a_token_or_a_user_name_with_a_password():
    assert authorization(token="fpt_abc") == "Bearer fpt_abc"
    assert authorization(username="alice", password="pä:ss") == "Basic YWxpY2U6cMOkOnNz"
    assert authorization() is None
    for wrong in (
        {"token": "fpt_abc", "username": "alice", "password": "x"},
        {"username": "alice"},
        {"password": "x"},
        {"token": ""},
    ):
        with pytest.raises(ValueError):
            FlowportClient("127.0.0.1:1", **wrong)


# --- flowport workspaces --url ------------------------------------------------------------------


def workspaces(
    gw, *flags: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in _CREDENTIAL_ENV}
    return subprocess.run(
        [sys.executable, "-m", "flowport.gateway.cli", "workspaces", "--url", gw.url, *flags],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
    )


def rows(output: str) -> dict[str, str]:
    """WORKSPACE → HEALTH from the table."""
    lines = output.strip().splitlines()
    assert lines[0].split()[0] == "WORKSPACE"
    return {line.split()[0]: line.split()[-1] for line in lines[1:]}


def test_workspaces_url_without_credentials_says_how_to_sign_in(gw):
    result = workspaces(gw)
    assert result.returncode == 2
    assert "UNAUTHENTICATED: Authentication required" in result.stderr
    assert "--token" in result.stderr and TOKEN_ENV in result.stderr and PASSWORD_ENV in result.stderr
    wrong = "fpt_" + uuid.uuid4().hex
    result = workspaces(gw, "--token", wrong)
    assert result.returncode == 2
    assert "UNAUTHENTICATED: Invalid credentials" in result.stderr
    assert wrong not in result.stderr + result.stdout


def test_workspaces_url_signs_in_with_a_token_flag_stdin_or_the_environment(gw, people):
    everything = {"default": "ok", "team-a": "ok"}
    result = workspaces(gw, "--token", people["admin_token"])
    assert result.returncode == 0, result.stderr
    assert rows(result.stdout) == everything
    result = workspaces(gw, "--token", "-", stdin=people["admin_token"] + "\n")
    assert result.returncode == 0, result.stderr
    assert rows(result.stdout) == everything
    result = workspaces(gw, env={TOKEN_ENV: people["admin_token"]})
    assert (result.returncode, rows(result.stdout)) == (0, everything)
    # Basic from the environment (never a password on the command line); the list is the caller's.
    viewer = {USERNAME_ENV: people["viewer"], PASSWORD_ENV: VIEWER_PASSWORD, TOKEN_ENV: people["admin_token"]}
    result = workspaces(gw, env=viewer)
    assert (result.returncode, rows(result.stdout)) == (0, {"team-a": "ok"})


# --- the parser ---------------------------------------------------------------------------------

_HEAVY = ("flowport.auth.store", "flowport.auth.audit", "flowport.auth.passwords", "sqlalchemy", "alembic")


def test_the_parser_names_auth_and_audit_without_importing_the_state_database():
    probe = (
        "import sys, contextlib, io\n"
        "from flowport.gateway import cli\n"
        "parser = cli._parser()\n"
        "for argv, expected in ((['auth', 'users', 'create', '--help'], '--password-stdin'),\n"
        "                       (['audit', '--help'], '--principal')):\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        "        parser.parse_args(argv)\n"
        "    print('HELP', expected in out.getvalue())\n"
        f"print('LOADED', [m for m in {_HEAVY!r} if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("HELP True") == 2
    assert "LOADED []" in result.stdout
