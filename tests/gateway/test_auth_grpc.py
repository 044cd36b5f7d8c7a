"""The gRPC door with authentication: tokens in metadata, client certificates (mTLS) naming a service
principal, the same refusals as over HTTP (UNAUTHENTICATED, PERMISSION_DENIED) on unary and streamed
calls; and `flowport serve` refusing to expose an unauthenticated gateway beyond loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import grpc
import httpx
import pytest

from flowport.gateway.config import ServeConfig
from flowport.gateway.server import refuse_exposure_without_auth
from flowport.sdk import FlowportClient
from flowport.v1 import artifacts_pb2, artifacts_pb2_grpc, tracking_pb2, tracking_pb2_grpc
from flowport.v1.errors import ERROR_CODE_METADATA_KEY, ApiError
from tests.fixtures.certificates import CertificateAuthority
from tests.fixtures.config_files import BOOTSTRAP_ADMIN, as_admin, config_file, local_backend
from tests.fixtures.processes import run_gateway

ADMIN_PASSWORD = "admin-" + uuid.uuid4().hex


def _config(data, ca: CertificateAuthority, server) -> str:
    return (
        config_file(local_backend("local", data), {"default": "local"}, BOOTSTRAP_ADMIN)
        + f"""\
  mtls:
    ca_file: "{ca.cert}"
    cert_file: "{server.cert}"
    key_file: "{server.key}"
"""
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    ca = CertificateAuthority(tmp_path_factory.mktemp("pki"))
    return ca, ca.issue("localhost", server=True), ca.issue("ingest-bot"), ca.issue("laptop-7")


@pytest.fixture(scope="module")
def gw(tmp_path_factory, pki):
    ca, server, _, _ = pki
    data = tmp_path_factory.mktemp("auth-grpc")
    with run_gateway(
        data, config=_config(data, ca, server), env={"FP_ADMIN_PASSWORD": ADMIN_PASSWORD}
    ) as gateway:
        yield gateway


def admin(gw, path: str, body: dict) -> dict:
    return as_admin(gw.url, ADMIN_PASSWORD, path, body)


def tls(pki, client=None) -> grpc.ChannelCredentials:
    """TLS to the gateway, presenting `client`'s certificate (default: laptop-7, a name with no role)."""
    ca, _, _, laptop = pki
    client = client or laptop
    return grpc.ssl_channel_credentials(
        ca.cert.read_bytes(), client.key.read_bytes(), client.cert.read_bytes()
    )


def channel(gw, pki, client=None) -> grpc.Channel:
    return grpc.secure_channel(gw.grpc_target, tls(pki, client))


@pytest.fixture(scope="module")
def setup(gw):
    """A viewer and an editor with tokens, a role for the certificate's name, and an experiment."""
    people = {}
    for role in ("viewer", "editor"):
        name = f"{role[0]}-{uuid.uuid4().hex[:6]}"
        admin(gw, "/api/2.0/mlflow/users/create", {"username": name, "password": uuid.uuid4().hex})
        admin(
            gw,
            "/api/2.0/flowport/auth/role-bindings/set",
            {"principal_kind": "user", "principal_name": name, "role": role},
        )
        people[role] = admin(gw, "/api/2.0/flowport/auth/tokens/create", {"username": name})["secret"]
        people[f"{role}_name"] = name
    admin(
        gw,
        "/api/2.0/flowport/auth/role-bindings/set",
        {"principal_kind": "user", "principal_name": "ingest-bot", "role": "editor"},
    )
    admin_token = admin(gw, "/api/2.0/flowport/auth/tokens/create", {})["secret"]
    headers = {"authorization": f"Bearer {admin_token}"}
    experiment_id = httpx.post(
        gw.url + "/api/2.0/mlflow/experiments/create",
        json={"name": f"g-{uuid.uuid4().hex[:6]}"},
        headers=headers,
    ).json()["experiment_id"]
    return {**people, "experiment_id": experiment_id}


def audit_events(gw, principal: str, actions: set[str]) -> list[dict]:
    """The principal's audit records once those of `actions` are there (they are written async)."""
    deadline = time.monotonic() + 30
    while True:
        events = admin(gw, "/api/2.0/flowport/audit/search", {"principal": principal})["events"]
        if actions <= {e["action"] for e in events}:
            return events
        assert time.monotonic() < deadline, f"no audit records of {actions - {e['action'] for e in events}}"
        time.sleep(0.2)


def _code(err: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    trailing = dict(err.trailing_metadata() or ()).get(ERROR_CODE_METADATA_KEY, "")
    return err.code(), trailing


def test_tokens_in_metadata_and_the_same_refusals_as_http(gw, pki, setup):
    """A token in the metadata names the caller, whatever certificate the channel presents."""
    request = tracking_pb2.GetExperiment(experiment_id=setup["experiment_id"])
    with channel(gw, pki) as ch:  # the door's own status codes
        with pytest.raises(grpc.RpcError) as err:  # laptop-7 has no role
            tracking_pb2_grpc.TrackingServiceStub(ch).GetExperiment(request)
        assert _code(err.value) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
        download = artifacts_pb2.DownloadArtifact(artifact_path=f"{setup['experiment_id']}/x/artifacts/f.txt")
        with pytest.raises(grpc.RpcError) as err:  # a malformed header, on a streamed call
            artifacts = artifacts_pb2_grpc.ArtifactsServiceStub(ch)
            list(artifacts.DownloadArtifact(download, metadata=[("authorization", "Basic bm8=")]))
        assert _code(err.value) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
    with FlowportClient(gw.grpc_target, credentials=tls(pki), token="fpt_wrong") as stranger:
        with pytest.raises(ApiError) as err:
            stranger.tracking.GetExperiment(request)
        assert (err.value.error_code, err.value.message) == ("UNAUTHENTICATED", "Invalid credentials")
    with FlowportClient(gw.grpc_target, credentials=tls(pki), token=setup["viewer"]) as viewer:
        assert viewer.tracking.GetExperiment(request).experiment.experiment_id == setup["experiment_id"]
        with pytest.raises(ApiError) as err:
            viewer.tracking.DeleteExperiment(
                tracking_pb2.DeleteExperiment(experiment_id=setup["experiment_id"])
            )
        assert err.value.error_code == "PERMISSION_DENIED"
        # Streamed artifact calls are governed too: a viewer may not upload.
        with pytest.raises(ApiError) as err:
            viewer.upload_file(__file__, f"{setup['experiment_id']}/x/artifacts/f.txt")
        assert err.value.error_code == "PERMISSION_DENIED"


def test_the_sdk_token_names_the_caller_on_a_certificate_channel_streams_included(gw, pki, setup, tmp_path):
    """laptop-7's certificate alone may do nothing: every call below is the editor's token at work."""
    source = tmp_path / "model.bin"
    source.write_bytes(os.urandom((1 << 20) + 7))
    with FlowportClient(gw.grpc_target, credentials=tls(pki), token=setup["editor"]) as fp:
        run = fp.tracking.CreateRun(tracking_pb2.CreateRun(experiment_id=setup["experiment_id"])).run
        path = f"{setup['experiment_id']}/{run.info.run_id}/artifacts/model.bin"
        fp.upload_file(source, path)
        assert fp.download_file(path, tmp_path / "back.bin") == source.stat().st_size
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
    events = audit_events(gw, setup["editor_name"], {"CreateRun", "UploadArtifact", "DownloadArtifact"})
    assert {(e["auth_method"], e["outcome"]) for e in events} == {("token", "allowed")}


def test_a_client_certificate_names_the_principal(gw, pki, setup):
    _, _, bot, stranger = pki
    with channel(gw, pki, bot) as ch:
        tracking = tracking_pb2_grpc.TrackingServiceStub(ch)
        run = tracking.CreateRun(tracking_pb2.CreateRun(experiment_id=setup["experiment_id"])).run
        tracking.LogMetric(tracking_pb2.LogMetric(run_id=run.info.run_id, key="m", value=1.0, timestamp=1))
        artifacts = artifacts_pb2_grpc.ArtifactsServiceStub(ch)
        path = f"{setup['experiment_id']}/{run.info.run_id}/artifacts/data.bin"
        artifacts.UploadArtifact(iter([artifacts_pb2.UploadArtifact(artifact_path=path, data=b"bytes")]))
        chunks = artifacts.DownloadArtifact(artifacts_pb2.DownloadArtifact(artifact_path=path))
        assert b"".join(c.data for c in chunks) == b"bytes"
    with channel(gw, pki, stranger) as ch:  # a valid certificate, but no role for its name (laptop-7)
        with pytest.raises(grpc.RpcError) as err:
            tracking_pb2_grpc.TrackingServiceStub(ch).GetRun(tracking_pb2.GetRun(run_id=run.info.run_id))
        assert _code(err.value) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    events = admin(gw, "/api/2.0/flowport/audit/search", {"principal": "ingest-bot"})["events"]
    assert {e["auth_method"] for e in events} == {"mtls"} and {e["principal_kind"] for e in events} == {
        "service"
    }
    assert {"CreateRun", "LogMetric", "UploadArtifact", "DownloadArtifact"} <= {e["action"] for e in events}


def test_without_a_client_certificate_there_is_no_connection(gw, pki, setup):
    ca = pki[0]
    credentials = grpc.ssl_channel_credentials(ca.cert.read_bytes())  # TLS, but no client certificate
    with FlowportClient(gw.grpc_target, credentials=credentials, token=setup["viewer"]) as fp:
        with pytest.raises(ApiError) as err:  # a token does not stand in for the certificate
            fp.tracking.GetExperiment(tracking_pb2.GetExperiment(experiment_id="0"), timeout=10)
        assert err.value.error_code == "TEMPORARILY_UNAVAILABLE"  # gRPC UNAVAILABLE: no handshake


@pytest.mark.parametrize("flag", ["--host", "--grpc-host"])
def test_serve_refuses_to_expose_a_gateway_without_authentication(tmp_path, flag):
    """Refused before anything is bound: the message says what to do, the exit code is 2."""
    store = [
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'x.db'}",
        "--artifacts-destination",
        str(tmp_path / "a"),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "flowport.gateway.cli", "serve", flag, "0.0.0.0", *store],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FLOWPORT_HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "0.0.0.0 is reachable from other machines and no authentication is configured" in result.stderr
    assert "--insecure" in result.stderr
    assert not (tmp_path / "x.db").exists()  # nothing was started


def test_loopback_needs_no_authentication_and_insecure_is_a_deliberate_choice():
    from flowport.auth.config import AuthConfig
    from flowport.gateway.config import ConfigError

    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        refuse_exposure_without_auth(ServeConfig(host=host, grpc_host="127.0.0.1"), None)
    refuse_exposure_without_auth(ServeConfig(host="0.0.0.0", grpc_host="0.0.0.0", insecure=True), None)
    refuse_exposure_without_auth(ServeConfig(host="10.0.0.5", grpc_host="10.0.0.5"), AuthConfig())
    with pytest.raises(ConfigError, match="10.0.0.5, 0.0.0.0 is reachable"):
        refuse_exposure_without_auth(ServeConfig(host="10.0.0.5", grpc_host="0.0.0.0"), None)
