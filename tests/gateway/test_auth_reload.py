"""Live reload of the `auth:` section: what an edit changes in a running gateway (default_role, basic,
audit, OIDC apply at once), what it keeps until a restart (the state database, mTLS), what it refuses
(mistakes; removing the section without --insecure) — against a real `flowport serve`, edit + SIGHUP —
and the same rules, unit by unit, in `plan_auth`."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from flowport.auth.access import Role
from flowport.auth.config import AuditConfig, AuthConfig, MtlsConfig, OidcConfig
from flowport.gateway.auth_reload import plan_auth
from flowport.sdk import FlowportClient
from flowport.v1 import tracking_pb2
from tests.fixtures.certificates import CertificateAuthority
from tests.fixtures.config_files import config_file, local_backend
from tests.fixtures.identity_provider import run_identity_provider
from tests.fixtures.processes import free_port, stop_process, wait_http

ADMIN_PASSWORD = "admin-" + uuid.uuid4().hex
BOB_PASSWORD = "bob-" + uuid.uuid4().hex


# --- a gateway whose file is edited and reloaded on SIGHUP ---------------------------------------


@dataclasses.dataclass
class Gateway:
    url: str
    grpc_target: str
    proc: subprocess.Popen
    config: pathlib.Path
    log: pathlib.Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def sighup(self, text: str, *expected: str) -> str:
        """Replace the file at once, send SIGHUP, and wait for the `expected` lines of this reload;
        returns what the gateway logged since."""
        start = len(self.log_text())
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config)
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while True:
            logged = self.log_text()[start:]
            if all(line in logged for line in expected):
                return logged
            assert self.proc.poll() is None, f"the gateway exited:\n{self.log_text()[-4000:]}"
            assert time.monotonic() < deadline, f"not logged: {expected}\n{logged}"
            time.sleep(0.1)

    def status(self, authorization: str | None = None, experiment_id: str = "0") -> int:
        headers = {"authorization": authorization} if authorization else {}
        return httpx.get(
            f"{self.url}/api/2.0/mlflow/experiments/get",
            params={"experiment_id": experiment_id},
            headers=headers,
            timeout=30,
        ).status_code


@contextlib.contextmanager
def serve(data_dir: pathlib.Path, config: str, *flags: str) -> Iterator[Gateway]:
    """`flowport serve --no-reload`: only SIGHUP reloads, so each test step knows when one happens."""
    path, log = data_dir / "flowport.yaml", data_dir / "gateway.log"
    path.write_text(config)
    port, grpc_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "flowport.gateway.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--grpc-port", str(grpc_port), "--config", str(path), "--no-reload", *flags]
    env = {k: v for k, v in os.environ.items() if k != "AZUREML_CURRENT_CLOUD"}
    env.update(FLOWPORT_HOME=str(data_dir), FP_ADMIN_PASSWORD=ADMIN_PASSWORD)
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, log)
        yield Gateway(f"http://127.0.0.1:{port}", f"127.0.0.1:{grpc_port}", proc, path, log)
    finally:
        stop_process(proc)
    assert proc.returncode == 0, log.read_text()[-4000:]
    assert "Traceback" not in log.read_text()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


ADMIN = basic("admin", ADMIN_PASSWORD)


def admin_post(gw: Gateway, path: str, body: dict) -> dict:
    response = httpx.post(gw.url + path, json=body, headers={"authorization": ADMIN}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def file_text(data: pathlib.Path, auth: str | None) -> str:
    return config_file(
        local_backend("local", data), {"default": "local"}, f"auth:\n{auth}" if auth is not None else ""
    )


BOOTSTRAP = '  bootstrap_admin: {username: admin, password: "${FP_ADMIN_PASSWORD}"}\n'


# --- a gateway with auth: what changes live, what waits for a restart, what is refused -------------


def test_auth_edits_apply_live_and_what_needs_a_restart_is_kept(tmp_path):
    pki = CertificateAuthority(tmp_path / "pki")
    server = pki.issue("localhost", server=True)
    audit_file = tmp_path / "audit.jsonl"
    with run_identity_provider() as idp, serve(tmp_path, file_text(tmp_path, BOOTSTRAP)) as gw:
        admin_post(gw, "/api/2.0/mlflow/users/create", {"username": "bob", "password": BOB_PASSWORD})
        bob_token = admin_post(gw, "/api/2.0/flowport/auth/tokens/create", {"username": "bob"})["secret"]
        bob, bob_basic = f"Bearer {bob_token}", basic("bob", BOB_PASSWORD)
        carol = f"Bearer {idp.token('carol')}"
        assert (gw.status(bob), gw.status(bob_basic), gw.status(carol)) == (403, 403, 401)

        # default_role: every signed-in caller becomes a viewer at once.
        auth = BOOTSTRAP + "  default_role: viewer\n"
        gw.sighup(file_text(tmp_path, auth), "auth.default_role: none → viewer")
        assert (gw.status(bob), gw.status(bob_basic)) == (200, 200)

        # basic off; OIDC on; audit also to a JSON lines file — in one edit.
        auth += f"""  basic: false
  oidc: {{issuer: "{idp.issuer}", audience: flowport, jwks_url: "{idp.jwks_url}"}}
  audit: {{jsonl: "{audit_file}"}}
"""
        logged = gw.sighup(
            file_text(tmp_path, auth),
            "applied (3 change(s))",
            "auth.basic: off",
            f"auth.oidc: on (issuer {idp.issuer}, audience flowport)",
            f"auth.audit: records go to database and jsonl {audit_file}",
        )
        assert (gw.status(bob), gw.status(bob_basic), gw.status(carol)) == (200, 401, 200)
        deadline = time.monotonic() + 30
        while not audit_file.exists() or '"principal": "carol"' not in audit_file.read_text():
            assert time.monotonic() < deadline, "no audit record of carol's call in the new JSON lines file"
            time.sleep(0.2)
        records = [json.loads(line) for line in audit_file.read_text().splitlines()]
        assert {(r["principal"], r["auth_method"], r["outcome"]) for r in records} >= {
            ("carol", "oidc", "allowed"),
            ("bob", "token", "allowed"),
        }

        # A new state database and mTLS need a restart: said so, and the running ones stay.
        moved = (
            auth
            + f"""  database: "sqlite:///{tmp_path / "elsewhere.db"}"
  mtls: {{ca_file: "{pki.cert}", cert_file: "{server.cert}", key_file: "{server.key}"}}
"""
        )
        logged = gw.sighup(
            file_text(tmp_path, moved),
            "auth.database: a change needs a restart; still using the running state database",
            "auth.mtls: needs a restart; the gRPC door serves without TLS until then",
            "no changes",
        )
        assert gw.status(bob) == 200  # bob's token lives in the running database only
        assert not (tmp_path / "elsewhere.db").exists()
        with FlowportClient(gw.grpc_target, token=bob_token) as fp:  # plain gRPC, as before
            assert fp.tracking.GetExperiment(tracking_pb2.GetExperiment(experiment_id="0")).experiment.name

        # Mistakes: one line each, nothing applied.
        bad = auth.replace("default_role: viewer", "default_role: wizard").replace(
            "basic: false", "basic: maybe"
        )
        logged = gw.sighup(file_text(tmp_path, bad), "not applied; still serving the previous configuration")
        assert "auth.default_role: " in logged and "wizard" in logged
        assert "auth.basic: must be true or false" in logged
        assert (gw.status(bob), gw.status(bob_basic)) == (200, 401)

        # An audit file that cannot be opened: refused before anything changes.
        nowhere = auth.replace(str(audit_file), str(tmp_path / "missing" / "audit.jsonl"))
        nowhere = nowhere.replace("basic: false", "basic: true")  # would apply, were the file not refused
        logged = gw.sighup(
            file_text(tmp_path, nowhere), "not applied; still serving the previous configuration"
        )
        assert "auth: cannot be applied: FileNotFoundError" in logged
        assert (gw.status(bob), gw.status(bob_basic)) == (200, 401)

        # Removing the section does not turn authentication off.
        logged = gw.sighup(file_text(tmp_path, None), "not applied; still serving the previous configuration")
        assert "auth: the section was removed, which would turn authentication off" in logged
        assert (gw.status(None), gw.status(bob)) == (401, 200)

        # Back to the start: basic on, OIDC off, the default role gone.
        gw.sighup(
            file_text(tmp_path, BOOTSTRAP),
            "auth.basic: on",
            "auth.oidc: off",
            "auth.default_role: viewer → none",
        )
        assert (gw.status(bob), gw.status(bob_basic), gw.status(carol), gw.status(ADMIN)) == (
            403,
            403,
            401,
            200,
        )
    everything = gw.log_text()
    for secret in (ADMIN_PASSWORD, BOB_PASSWORD, bob_token):
        assert secret not in everything


# --- --insecure: a reload may turn auth on and off --------------------------------------------------


def test_with_insecure_a_reload_turns_auth_on_and_off(tmp_path):
    with serve(tmp_path, file_text(tmp_path, None), "--insecure") as gw:
        assert gw.status(None) == 200
        gw.sighup(file_text(tmp_path, BOOTSTRAP), "auth: on (token, basic)")
        assert (gw.status(None), gw.status(basic("admin", "wrong")), gw.status(ADMIN)) == (401, 401, 200)
        logged = gw.sighup(
            file_text(tmp_path, None), "auth: section removed: authentication, permissions and audit are OFF"
        )
        assert "WARNING flowport.reload: auth: section removed" in logged
        assert gw.status(None) == 200
        gw.sighup(file_text(tmp_path, "  tokens: true\n"), "auth: on (token, basic)")
        assert (gw.status(None), gw.status(ADMIN)) == (401, 200)  # the state database kept its users
    assert ADMIN_PASSWORD not in gw.log_text()


# --- plan_auth ------------------------------------------------------------------------------------

HOME = pathlib.Path("/var/lib/flowport")
MTLS = MtlsConfig("/pki/ca.pem", "/pki/server.pem", "/pki/server.key")


def plan(running, new, *, door_mtls=None, insecure=False):
    return plan_auth(running, new, door_mtls=door_mtls, home=HOME, insecure=insecure)


def test_plan_applies_what_may_change_live_and_names_each_change():
    running = AuthConfig(bootstrap_admin=("admin", "s3cret-one"))
    oidc = OidcConfig("https://idp/", "flowport", "https://idp/jwks")
    new = dataclasses.replace(
        running,
        basic=False,
        oidc=oidc,
        default_role=Role.EDITOR,
        cache_seconds=2.0,
        audit=AuditConfig(database=False, jsonl="-"),
        bootstrap_admin=("root", "s3cret-two"),
    )
    change = plan(running, new)
    assert change.config == new and not change.restart and not change.refusal
    assert change.lines == (
        "auth.basic: off",
        "auth.oidc: on (issuer https://idp/, audience flowport)",
        "auth.default_role: none → editor",
        "auth.cache_seconds: 5 → 2",
        "auth.audit: records go to jsonl - (queue 10000)",
        "auth.bootstrap_admin: 'root' (created if missing)",
    )
    assert not any("s3cret" in line for line in change.lines)
    assert plan(running, running).lines == ()


def test_plan_keeps_the_state_database_and_the_doors_tls_until_a_restart():
    running = AuthConfig(mtls=MTLS)
    new = AuthConfig(
        database="postgresql://u:pw@db/x", mtls=dataclasses.replace(MTLS, ca_file="/pki/new-ca.pem")
    )
    change = plan(running, new, door_mtls=MTLS)
    assert change.config == AuthConfig(mtls=MTLS)
    assert change.lines == ()
    assert change.restart == (
        "auth.mtls: other certificate files need a restart; the gRPC door keeps the running ones",
        "auth.database: a change needs a restart; still using the running state database",
    )
    assert "pw" not in " ".join(change.restart)
    # principal_from is read per call: it may change while the files stay.
    by_subject = dataclasses.replace(MTLS, principal_from="subject")
    assert plan(running, AuthConfig(mtls=by_subject), door_mtls=MTLS).lines == (
        "auth.mtls.principal_from: common_name → subject",
    )
    # mTLS added to a plain door waits; so does removing it from a TLS door.
    assert plan(AuthConfig(), AuthConfig(mtls=MTLS)).config.mtls is None
    kept = plan(running, AuthConfig(), door_mtls=MTLS)
    assert kept.config.mtls == MTLS and kept.restart and not kept.lines
    # With mTLS waiting for a restart, no other method on would lock everyone out.
    assert plan(AuthConfig(), AuthConfig(tokens=False, basic=False, mtls=MTLS)).refusal


def test_plan_never_turns_auth_off_unless_the_gateway_runs_insecure():
    running = AuthConfig()
    refused = plan(running, None)
    assert refused.refusal.startswith("auth: the section was removed") and refused.config == running
    off = plan(running, None, insecure=True)
    assert off.turns_off and off.config is None and off.lines
    assert plan(None, None).lines == () and not plan(None, None, insecure=True).turns_off
    on = plan(None, AuthConfig(database="sqlite:////x.db"))
    assert on.lines == ("auth: on (token, basic)",) and on.config.database == "sqlite:////x.db"


@pytest.fixture(autouse=True)
def _no_credentials_in_the_environment(monkeypatch):
    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
