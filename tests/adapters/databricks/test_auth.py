"""Databricks credentials: databricks-sdk's Config, configured like the SDK, against the workspace
stand-in that checks every bearer token and the OAuth M2M exchange."""

from __future__ import annotations

import logging
import time

import pytest

from flowport.adapters.backend import BackendConfigError
from flowport.adapters.databricks.auth import build_config
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError
from tests.adapters.databricks.conftest import backend, run
from tests.fixtures.databricks import CLIENT_ID, CLIENT_SECRET, PAT
from tests.fixtures.processes import free_port

GET_DEFAULT = tracking_pb2.GetExperiment(experiment_id="0")


def _bearers(setup, since: int) -> list[str]:
    return [
        r.headers.get("authorization", "")
        for r in setup.workspace.records[since:]
        if r.path.startswith("/api/") and r.rejection is None
    ]


def test_a_personal_access_token_is_sent_as_bearer_on_every_call(databricks):
    since = len(databricks.workspace.records)

    async def calls():
        async with backend(databricks.host) as db:
            assert db.config.auth_type == "pat"
            for _ in range(3):
                assert (await db.invoke("GetExperiment", GET_DEFAULT)).experiment.name == "Default"
            return db.describe()

    described = run(calls())
    assert _bearers(databricks, since) == [f"Bearer {PAT}"] * 3
    assert "auth pat" in described and PAT not in described
    # The SDK looked for the host's metadata first, without credentials.
    probe = [r for r in databricks.workspace.records[since:] if r.path == "/.well-known/databricks-config"]
    assert probe and "authorization" not in probe[0].headers


def test_oauth_m2m_gets_a_token_with_the_client_credentials_and_scope(databricks):
    grants_before = len(databricks.standin.grants)
    since = len(databricks.workspace.records)

    async def calls():
        sdk = {"host": databricks.host, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        async with backend(None, sdk=sdk) as db:
            assert db.config.auth_type == "oauth-m2m"
            await db.invoke("GetExperiment", GET_DEFAULT)
            await db.invoke("GetExperiment", GET_DEFAULT)

    run(calls())
    grants = databricks.standin.grants[grants_before:]
    assert len(grants) == 1  # cached by the SDK between calls
    assert (grants[0].client_id, grants[0].grant_type, grants[0].scope) == (
        CLIENT_ID,
        "client_credentials",
        "all-apis",
    )
    assert _bearers(databricks, since) == [f"Bearer {grants[0].access_token}"] * 2
    paths = [r.path for r in databricks.workspace.records[since:]]
    assert "/oidc/.well-known/oauth-authorization-server" in paths and "/oidc/v1/token" in paths


def test_an_expiring_oauth_token_is_refreshed_before_the_workspace_would_refuse_it(databricks):
    # The SDK renews a token 40 s before it expires: one that lives 41 s is good for about a second.
    databricks.standin.token_lifetime = 41
    grants_before = len(databricks.standin.grants)
    since = len(databricks.workspace.records)

    async def calls():
        sdk = {"host": databricks.host, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        async with backend(None, sdk=sdk) as db:
            await db.invoke("GetExperiment", GET_DEFAULT)
            time.sleep(2)  # the first token is now due for renewal
            await db.invoke("GetExperiment", GET_DEFAULT)

    try:
        run(calls())
    finally:
        databricks.standin.token_lifetime = 3600
    grants = databricks.standin.grants[grants_before:]
    assert len(grants) == 2
    assert _bearers(databricks, since) == [f"Bearer {g.access_token}" for g in grants]


def test_a_wrong_client_secret_is_refused_naming_the_backend_and_never_showing_the_secret(databricks, caplog):
    caplog.set_level(logging.DEBUG)

    async def call():
        sdk = {"host": databricks.host, "client_id": CLIENT_ID, "client_secret": "dose-wrong-secret-value"}
        async with backend(None, sdk=sdk) as db:
            with pytest.raises(ApiError) as info:
                await db.invoke("GetExperiment", GET_DEFAULT)
            return db.name, info.value

    name, error = run(call())
    assert error.error_code == "PERMISSION_DENIED"
    assert f"'{name}'" in error.message and "oauth-m2m" in error.message and "invalid_client" in error.message
    assert "dose-wrong-secret-value" not in error.message and "dose-wrong-secret-value" not in caplog.text


def test_a_wrong_token_is_refused_by_the_workspace_and_named(databricks):
    async def call():
        async with backend(None, sdk={"host": databricks.host, "token": "dapi-wrong-token-value"}) as db:
            with pytest.raises(ApiError) as info:
                await db.invoke("GetExperiment", GET_DEFAULT)
            return db.name, info.value

    name, error = run(call())
    assert error.error_code == "PERMISSION_DENIED"
    assert f"'{name}'" in error.message and "HTTP 401" in error.message
    assert "dapi-wrong-token-value" not in error.message


def test_environment_variables_work_as_in_the_sdk(databricks, monkeypatch):
    monkeypatch.setenv("DATABRICKS_HOST", databricks.host)
    monkeypatch.setenv("DATABRICKS_TOKEN", PAT)

    async def call():
        async with backend(None) as db:
            assert (await db.invoke("GetExperiment", GET_DEFAULT)).experiment.name == "Default"
            return db.describe()

    assert run(call()).startswith(databricks.host)


def test_a_config_that_cannot_authenticate_is_one_line_naming_the_backend_and_the_fix():
    with pytest.raises(BackendConfigError) as no_host:
        build_config("ws1", {"token": "dapi-never-shown"})
    assert "'ws1'" in str(no_host.value) and "set the option host" in str(no_host.value)
    with pytest.raises(BackendConfigError) as two:
        build_config("ws1", {"host": "http://127.0.0.1:9", "token": "dapi-never-shown", "client_id": "a",
                             "client_secret": "b-never-shown", "retry_timeout_seconds": 1})  # fmt: skip
    assert "more than one authorization method" in str(two.value) and "auth_type" in str(two.value)
    for error in (no_host.value, two.value):
        assert "\n" not in str(error) and "never-shown" not in str(error)
    with pytest.raises(BackendConfigError, match="skip_verify must be true or false"):
        build_config("ws1", {"host": "h", "token": "t", "skip_verify": "maybe"})


def test_a_backend_without_credentials_answers_the_reason_until_they_appear(databricks, monkeypatch, caplog):
    async def calls():
        async with backend(None, auth_recheck_seconds=0.2) as db:
            with pytest.raises(ApiError) as first:
                await db.invoke("GetExperiment", GET_DEFAULT)
            # The configuration is fixed (here: the environment the SDK reads) without a restart.
            monkeypatch.setenv("DATABRICKS_HOST", databricks.host)
            monkeypatch.setenv("DATABRICKS_TOKEN", PAT)
            with pytest.raises(ApiError) as cached:  # not retried at once: a bad config is not hammered
                await db.invoke("GetExperiment", GET_DEFAULT)
            time.sleep(0.3)
            found = await db.invoke("GetExperiment", GET_DEFAULT)
            return db.name, first.value, cached.value, found

    with caplog.at_level(logging.WARNING, logger="flowport.databricks"):
        name, first, cached, found = run(calls())
    assert first.error_code == "PERMISSION_DENIED" and "set the option host" in first.message
    assert cached.message == first.message
    assert found.experiment.name == "Default"
    assert any(f"backend {name} is not ready" in r.getMessage() for r in caplog.records)


def test_an_unreachable_host_names_the_host_to_check():
    host = f"http://127.0.0.1:{free_port()}"

    async def call():
        async with backend(host, sdk={"retry_timeout_seconds": 1}) as db:
            with pytest.raises(ApiError) as info:
                await db.invoke("GetExperiment", GET_DEFAULT)
            return db.name, info.value

    name, error = run(call())
    assert error.error_code == "TEMPORARILY_UNAVAILABLE"
    assert f"'{name}'" in error.message and host in error.message and "reachable" in error.message


def test_a_workspace_without_host_metadata_still_works(databricks):
    # Not every workspace serves /.well-known/databricks-config: the SDK goes on without it, and
    # OAuth M2M then needs the OIDC discovery URL as an option (databricks-sdk ≥ 0.160 takes it
    # from the host metadata only).
    databricks.standin.host_metadata = False
    since = len(databricks.workspace.records)

    async def calls():
        async with backend(databricks.host) as with_pat:
            await with_pat.invoke("GetExperiment", GET_DEFAULT)
        sdk = {
            "host": databricks.host,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "discovery_url": f"{databricks.host}/oidc/.well-known/oauth-authorization-server",
        }
        async with backend(None, sdk=sdk) as with_oauth:
            await with_oauth.invoke("GetExperiment", GET_DEFAULT)
            return with_oauth.config.auth_type

    try:
        assert run(calls()) == "oauth-m2m"
    finally:
        databricks.standin.host_metadata = True
    metadata = [r for r in databricks.workspace.records[since:] if r.path == "/.well-known/databricks-config"]
    assert metadata and all(r.upstream_status == 404 for r in metadata)
