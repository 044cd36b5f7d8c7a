"""Authentication, permissions and audit end to end: a real `flowport serve` with an `auth:` section,
the stock mlflow client signing in with a flowport token, with basic credentials and with an OIDC JWT
from an identity provider on 127.0.0.1 (rotating its key), MLflow's own AuthServiceClient, and the
`flowport auth` / `flowport audit` commands. The last test greps everything the gateway wrote for
the secrets the others used."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException, RestException
from mlflow.server.auth.client import AuthServiceClient

from tests.fixtures.config_files import BOOTSTRAP_ADMIN, config_file, local_backend
from tests.fixtures.identity_provider import run_identity_provider
from tests.fixtures.mlflow_client import point_mlflow_at
from tests.fixtures.processes import run_gateway

ADMIN_PASSWORD = "admin-" + uuid.uuid4().hex
SECRETS: list[str] = [ADMIN_PASSWORD]  # every credential a test used: none may appear in what is written
INVALID = {"error_code": "UNAUTHENTICATED", "message": "Invalid credentials"}


@pytest.fixture(scope="module")
def idp():
    with run_identity_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def gw(tmp_path_factory, idp):
    data = tmp_path_factory.mktemp("auth-gateway")
    config = (
        config_file(local_backend("local", data), {"default": "local"}, BOOTSTRAP_ADMIN)
        + f"""\
  oidc:
    issuer: "{idp.issuer}"
    audience: flowport
    jwks_url: "{idp.jwks_url}"
    refetch_interval_seconds: 0
  audit: {{jsonl: "{data / "audit.jsonl"}"}}
"""
    )
    with run_gateway(data, config=config, env={"FP_ADMIN_PASSWORD": ADMIN_PASSWORD}) as gateway:
        yield gateway


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def api(gw, method: str, path: str, *, authorization: str | None = None, **kwargs) -> httpx.Response:
    headers = kwargs.pop("headers", {})
    if authorization is not None:
        headers["authorization"] = authorization
    return httpx.request(method, gw.url + path, headers=headers, timeout=30, **kwargs)


def as_admin(gw, method: str, path: str, **kwargs) -> dict:
    response = api(gw, method, path, authorization=_basic("admin", ADMIN_PASSWORD), **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def new_user(gw, role: str | None = None, *, password: str | None = None) -> tuple[str, str]:
    """A user (with a role in `default`, if given) and a token of theirs."""
    name = f"u-{uuid.uuid4().hex[:8]}"
    password = password or uuid.uuid4().hex
    SECRETS.append(password)
    as_admin(gw, "POST", "/api/2.0/mlflow/users/create", json={"username": name, "password": password})
    if role:
        body = {"principal_kind": "user", "principal_name": name, "role": role}
        as_admin(gw, "POST", "/api/2.0/flowport/auth/role-bindings/set", json=body)
    # The user makes their own token, signing in with the password.
    created = api(
        gw, "POST", "/api/2.0/flowport/auth/tokens/create", authorization=_basic(name, password), json={}
    )
    assert created.status_code == 200, created.text
    token = created.json()["secret"]
    SECRETS.append(token)
    return name, token


@pytest.fixture
def as_token(gw, monkeypatch):
    """The stock client signing in with MLFLOW_TRACKING_TOKEN."""

    def sign_in(token: str) -> MlflowClient:
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
        return point_mlflow_at(gw.url, monkeypatch)

    yield sign_in
    if mlflow.active_run():
        mlflow.end_run()


def _denied(excinfo) -> None:
    assert excinfo.value.error_code == "PERMISSION_DENIED", excinfo.value
    assert excinfo.value.get_http_status_code() == 403


def test_health_stays_open_and_every_api_call_needs_credentials(gw):
    assert api(gw, "GET", "/health").status_code == 200
    assert api(gw, "GET", "/version").status_code == 200
    assert api(gw, "GET", "/api/3.0/mlflow/server-info").status_code == 200
    response = api(gw, "GET", "/api/2.0/mlflow/experiments/search", params={"max_results": 5})
    assert response.status_code == 401
    assert response.json() == {"error_code": "UNAUTHENTICATED", "message": "Authentication required"}
    assert response.headers["www-authenticate"] == 'Basic realm="flowport"'
    assert (
        api(gw, "POST", "/api/2.0/mlflow/users/create", json={"username": "x", "password": "y"}).status_code
        == 401
    )


def test_the_stock_client_with_a_flowport_token(gw, as_token, tmp_path):
    _, token = new_user(gw, "editor")
    client = as_token(token)
    experiment_id = mlflow.create_experiment(f"tok-{uuid.uuid4().hex[:6]}")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params({"lr": "0.1"})
        client.log_batch(run.info.run_id, metrics=[Metric("loss", 0.5, 1, i) for i in range(100)])
        (tmp_path / "notes.txt").write_text("hello")
        mlflow.log_artifact(str(tmp_path / "notes.txt"))
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 100
    downloaded = client.download_artifacts(run.info.run_id, "notes.txt", str(tmp_path / "out"))
    assert open(downloaded).read() == "hello"
    model = client.create_registered_model(f"m-{uuid.uuid4().hex[:6]}")
    version = client.create_model_version(model.name, f"runs:/{run.info.run_id}/m", run.info.run_id)
    assert version.version == "1"
    # The creator manages what it created: it may delete it (an editor may not delete in general).
    client.delete_registered_model(model.name)
    client.delete_experiment(experiment_id)


def test_the_stock_client_with_basic_credentials(gw, monkeypatch):
    name, _ = new_user(gw, "viewer", password="viewer-" + uuid.uuid4().hex)
    password = SECRETS[-2]
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", name)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    client = point_mlflow_at(gw.url, monkeypatch)
    assert client.get_experiment("0").name == "Default"
    assert client.search_experiments()
    with pytest.raises(RestException) as excinfo:
        client.create_experiment("viewers-cannot")
    _denied(excinfo)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
    with pytest.raises(MlflowException, match="401|Invalid credentials"):
        point_mlflow_at(gw.url, monkeypatch).get_experiment("0")


def test_the_stock_client_with_an_oidc_token_across_a_key_rotation(gw, idp, as_token):
    group = f"ds-{uuid.uuid4().hex[:6]}"
    body = {"principal_kind": "group", "principal_name": group, "role": "editor"}
    as_admin(gw, "POST", "/api/2.0/flowport/auth/role-bindings/set", json=body)
    jwt = idp.token("carol@example.com", groups=[group])
    SECRETS.append(jwt)
    client = as_token(jwt)
    experiment_id = client.create_experiment(f"oidc-{uuid.uuid4().hex[:6]}")
    fetches = idp.fetches
    idp.rotate()  # the identity provider now signs with a key the gateway has never seen
    rotated = idp.token("carol@example.com", groups=[group])
    SECRETS.append(rotated)
    client = as_token(rotated)
    assert client.get_experiment(experiment_id).name.startswith("oidc-")
    assert idp.fetches == fetches + 1  # one refetch of the JWKS found the new key
    # Outside the group: signed in, but no role here.
    outsider = idp.token("mallory@example.com", groups=["other"])
    with pytest.raises(RestException) as excinfo:
        as_token(outsider).get_experiment(experiment_id)
    _denied(excinfo)
    audit = as_admin(gw, "POST", "/api/2.0/flowport/audit/search", json={"principal": "carol@example.com"})
    assert {e["auth_method"] for e in audit["events"]} == {"oidc"}
    assert all(e["groups"] == [group] for e in audit["events"])


@pytest.fixture(scope="module")
def two_teams(gw):
    """Experiments A and B (each with a run) and a model, made by the admin; a user who may edit A
    and the model only (grants, no workspace role)."""
    admin_token = as_admin(gw, "POST", "/api/2.0/flowport/auth/tokens/create", json={})["secret"]
    SECRETS.append(admin_token)
    headers = {"authorization": f"Bearer {admin_token}"}

    def call(path: str, body: dict) -> dict:
        response = httpx.post(gw.url + "/api/2.0/mlflow/" + path, json=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    suffix = uuid.uuid4().hex[:6]
    a = call("experiments/create", {"name": f"team-a-{suffix}"})["experiment_id"]
    b = call("experiments/create", {"name": f"team-b-{suffix}"})["experiment_id"]
    run_a = call("runs/create", {"experiment_id": a})["run"]["info"]["run_id"]
    run_b = call("runs/create", {"experiment_id": b})["run"]["info"]["run_id"]
    model = call("registered-models/create", {"name": f"edm-{suffix}"})["registered_model"]["name"]
    name, token = new_user(gw)
    for kind, resource in (("experiment", a), ("registered_model", model)):
        body = {"username": name, "resource_type": kind, "resource_id": resource, "permission": "EDIT"}
        as_admin(gw, "POST", "/api/3.0/mlflow/users/permissions/grant", json=body)
    return {"a": a, "b": b, "run_a": run_a, "run_b": run_b, "model": model, "user": name, "token": token}


def test_body_borne_targets_an_editor_of_a_cannot_write_into_b(two_teams, as_token):
    t = two_teams
    client = as_token(t["token"])
    client.log_batch(t["run_a"], metrics=[Metric("m", 1.0, 1, 0)])
    with pytest.raises(RestException) as excinfo:
        client.log_batch(t["run_b"], metrics=[Metric("m", 1.0, 1, 0)])
    _denied(excinfo)
    with pytest.raises(RestException) as excinfo:
        client.set_tag(t["run_b"], "k", "v")
    _denied(excinfo)
    # Registering a model version reads its source run: not from an experiment the caller cannot read.
    with pytest.raises(RestException) as excinfo:
        client.create_model_version(t["model"], f"runs:/{t['run_b']}/model", t["run_b"])
    _denied(excinfo)
    assert client.create_model_version(t["model"], f"runs:/{t['run_a']}/model", t["run_a"]).version
    with pytest.raises(RestException) as excinfo:
        client.get_run(t["run_b"])
    _denied(excinfo)


def test_nothing_was_written_into_b(gw, two_teams):
    headers = {"authorization": _basic("admin", ADMIN_PASSWORD)}
    run = httpx.get(
        gw.url + "/api/2.0/mlflow/runs/get", params={"run_id": two_teams["run_b"]}, headers=headers
    )
    data = run.json()["run"]["data"]
    assert "metrics" not in data and "k" not in {t["key"] for t in data.get("tags", [])}


def test_searches_return_only_what_the_caller_may_read(two_teams, as_token):
    t = two_teams
    client = as_token(t["token"])
    assert [e.experiment_id for e in client.search_experiments()] == [t["a"]]
    runs = client.search_runs([t["a"], t["b"]])
    assert [r.info.run_id for r in runs] == [t["run_a"]]
    assert client.search_runs([t["b"]]) == []
    assert [m.name for m in client.search_registered_models()] == [t["model"]]
    assert {v.name for v in client.search_model_versions()} <= {t["model"]}


def test_bad_credentials_are_401_and_say_nothing_more(gw, idp):
    name, token = new_user(gw, "viewer")
    created = api(gw, "POST", "/api/2.0/flowport/auth/tokens/create", authorization=f"Bearer {token}",
                  json={"expires_in_seconds": 1})  # fmt: skip
    expiring = created.json()["secret"]
    SECRETS.append(expiring)
    listed = api(gw, "GET", "/api/2.0/flowport/auth/tokens/list", authorization=f"Bearer {token}").json()
    revoked_id = listed["tokens"][0]["id"]
    revoked_token = token
    assert api(gw, "POST", "/api/2.0/flowport/auth/tokens/revoke", authorization=f"Bearer {token}",
               json={"token_id": revoked_id}).status_code == 200  # fmt: skip
    time.sleep(1.5)
    from cryptography.hazmat.primitives.asymmetric import rsa

    forged = idp.token("carol", key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    cases = {
        "expired token": f"Bearer {expiring}",
        "revoked token": f"Bearer {revoked_token}",
        "unknown token": "Bearer fpt_" + "x" * 43,
        "wrong signature": f"Bearer {forged}",
        "wrong audience": f"Bearer {idp.token('carol', audience='another-app')}",
        "expired jwt": f"Bearer {idp.token('carol', lifetime=-300)}",
        "malformed bearer": "Bearer",
        "malformed basic": "Basic !!!",
        "unknown scheme": "Negotiate abc",
        "wrong password": _basic(name, "not-the-password"),
    }
    time.sleep(5.5)  # the gateway may trust a token it read for `cache_seconds` (5 s by default)
    for what, header in cases.items():
        response = api(
            gw, "GET", "/api/2.0/mlflow/experiments/get", authorization=header, params={"experiment_id": "0"}
        )
        assert (response.status_code, response.json()) == (401, INVALID), what


def test_mlflow_auth_service_client_manages_users_and_permissions(gw, two_teams, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    auth = AuthServiceClient(gw.url)
    name, password = f"ml-{uuid.uuid4().hex[:6]}", "pw-" + uuid.uuid4().hex
    SECRETS.append(password)
    user = auth.create_user(name, password)
    assert (user.username, user.is_admin) == (name, False) and user.id > 0
    assert auth.get_user(name).id == user.id
    new_password = "pw2-" + uuid.uuid4().hex
    SECRETS.append(new_password)
    auth.update_user_password(name, new_password)
    assert (
        api(gw, "GET", "/api/2.0/mlflow/users/current", authorization=_basic(name, new_password)).json()[
            "user"
        ]["username"]
        == name
    )
    assert (
        api(gw, "GET", "/api/2.0/mlflow/users/current", authorization=_basic(name, password)).status_code
        == 401
    )
    auth.grant_user_permission(name, "experiment", two_teams["b"], "READ")
    result = auth.get_user_permission(name, "experiment", two_teams["b"])
    assert (result.allowed, result.permission) == (True, "READ")
    auth.revoke_user_permission(name, "experiment", two_teams["b"])
    assert auth.get_user_permission(name, "experiment", two_teams["b"]).permission == "NO_PERMISSIONS"
    auth.update_user_admin(name, True)
    assert auth.get_user(name).is_admin
    auth.delete_user(name)
    with pytest.raises(RestException) as excinfo:
        auth.get_user(name)
    assert excinfo.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_failed_logins_do_not_stop_callers_with_good_credentials(gw):
    """A flood of wrong passwords (many names, and one name over and over) while others work."""
    victim, victim_token = new_user(gw, "viewer")
    good, good_token = new_user(gw, "viewer")
    good_password = SECRETS[-2]
    # A basic caller whose credentials were verified before the flood keeps working from the cache.
    assert api(gw, "GET", "/api/2.0/mlflow/experiments/get", authorization=_basic(good, good_password),
               params={"experiment_id": "0"}).status_code == 200  # fmt: skip

    def bad(i: int) -> int:
        user = victim if i % 2 else f"nobody-{i}"
        header = _basic(user, f"guess-{i}")
        return api(gw, "GET", "/api/2.0/mlflow/experiments/get", authorization=header,
                   params={"experiment_id": "0"}).status_code  # fmt: skip

    def fine(i: int) -> int:
        header = f"Bearer {good_token}" if i % 2 else _basic(good, good_password)
        return api(gw, "GET", "/api/2.0/mlflow/experiments/get", authorization=header,
                   params={"experiment_id": "0"}).status_code  # fmt: skip

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        flood = [pool.submit(bad, i) for i in range(200)]
        work = [pool.submit(fine, i) for i in range(60)]
        assert {f.result() for f in flood} == {401}
        assert [f.result() for f in work] == [200] * 60
    # Failed sign-ins are audited under the name they were for.
    failed = as_admin(
        gw, "POST", "/api/2.0/flowport/audit/search", json={"principal": victim, "outcome": "unauthenticated"}
    )
    assert failed["events"] and {(e["principal_kind"], e["auth_method"]) for e in failed["events"]} == {
        ("anonymous", "basic")
    }
    # The victim's name is locked for basic sign-in now; its tokens still work.
    assert api(gw, "GET", "/api/2.0/mlflow/experiments/get", authorization=f"Bearer {victim_token}",
               params={"experiment_id": "0"}).status_code == 200  # fmt: skip


def _flowport(gw, command: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`flowport auth|audit --config <the gateway's file> ...`"""
    config = str(gw.data_dir / "flowport.yaml")
    return subprocess.run(
        [sys.executable, "-m", "flowport.gateway.cli", command, "--config", config, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "FLOWPORT_HOME": str(gw.data_dir), "FP_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )


def test_flowport_auth_and_audit_commands(gw):
    name = f"cli-{uuid.uuid4().hex[:6]}"
    password = "cli-" + uuid.uuid4().hex
    SECRETS.append(password)
    assert (
        _flowport(gw, "auth", "users", "create", name, "--password-stdin", stdin=password + "\n").returncode
        == 0
    )
    assert (
        _flowport(gw, "auth", "roles", "bind", "--user", name, "--workspace", "default", "editor").returncode
        == 0
    )
    created = _flowport(gw, "auth", "tokens", "create", name, "--expires-in", "1d", "--description", "ci")
    token = created.stdout.strip()
    SECRETS.append(token)
    assert created.returncode == 0 and token.startswith("fpt_") and token not in created.stderr
    marker = uuid.uuid4().hex
    calls = [
        ("allowed", f"Bearer {token}", {"name": f"cli-exp-{marker}"}),
        ("denied", f"Bearer {token}", None),
        ("unauthenticated", "Bearer fpt_nope", {"name": "x"}),
    ]
    for i, (_, header, body) in enumerate(calls):
        if body is None:  # an editor may not delete the Default experiment
            api(gw, "POST", "/api/2.0/mlflow/experiments/delete", authorization=header,
                json={"experiment_id": "0"}, headers={"x-request-id": f"{marker}-{i}"})  # fmt: skip
        else:
            api(gw, "POST", "/api/2.0/mlflow/experiments/create", authorization=header, json=body,
                headers={"x-request-id": f"{marker}-{i}"})  # fmt: skip
    time.sleep(1.0)  # records are written off the call path
    listed = _flowport(gw, "audit", "--json", "--since", "10m", "--limit", "1000")
    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    mine = {r["request_id"]: r for r in records if r["request_id"].startswith(marker)}
    assert [mine[f"{marker}-{i}"]["outcome"] for i in range(3)] == [c[0] for c in calls]
    assert mine[f"{marker}-1"]["status_code"] == 403 and mine[f"{marker}-2"]["status_code"] == 401
    assert mine[f"{marker}-0"]["principal"] == name
    assert any(r.startswith("experiment:") for r in mine[f"{marker}-0"]["resources"])  # the new experiment
    denied = _flowport(
        gw, "audit", "--principal", name, "--outcome", "denied", "--action", "DeleteExperiment"
    )
    assert denied.returncode == 0 and "DeleteExperiment" in denied.stdout and "denied" in denied.stdout
    revoked = _flowport(gw, "auth", "tokens", "list", name)
    assert "active" in revoked.stdout
    bad = _flowport(gw, "auth", "roles", "bind", "--user", name, "--workspace", "default", "owner")
    assert bad.returncode == 2


def test_secrets_never_appear_in_logs_audit_records_or_the_database(gw):
    """Last in the module: every credential the tests above used, searched for in everything the
    gateway wrote (its log, the audit JSON lines, the state and backend databases)."""
    time.sleep(1.0)  # let the audit writer catch up
    written = {"gateway log": gw.log.read_bytes(), "audit jsonl": (gw.data_dir / "audit.jsonl").read_bytes()}
    for database in [*gw.data_dir.glob("gateway.db*"), *gw.data_dir.glob("local.db*")]:  # with -wal files
        written[database.name] = database.read_bytes()
    assert len(SECRETS) > 10 and written["audit jsonl"] and "gateway.db" in written
    for where, data in written.items():
        for secret in SECRETS:
            assert secret.encode() not in data, f"a secret is in the {where}"
    # The audit file has one well-formed record per line.
    lines = written["audit jsonl"].decode().splitlines()
    assert all(json.loads(line)["event_id"] for line in lines)
