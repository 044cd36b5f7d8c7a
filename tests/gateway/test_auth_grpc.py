"""The gRPC door with authentication: tokens in metadata, client certificates (mTLS) naming a service
principal, the same refusals as over HTTP (UNAUTHENTICATED, PERMISSION_DENIED) on unary and streamed
calls; and `flowport serve` refusing to expose an unauthenticated gateway beyond loopback."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid

import grpc
import httpx
import pytest

from flowport.gateway.config import ServeConfig
from flowport.gateway.server import refuse_exposure_without_auth
from flowport.v1 import artifacts_pb2, artifacts_pb2_grpc, tracking_pb2, tracking_pb2_grpc
from flowport.v1.errors import ERROR_CODE_METADATA_KEY
from tests.fixtures.certificates import CertificateAuthority
from tests.fixtures.processes import run_gateway

ADMIN_PASSWORD = "admin-" + uuid.uuid4().hex


def _config(data, ca: CertificateAuthority, server) -> str:
    return f"""
backends:
  local:
    kind: local
    database_uri: "sqlite:///{data / "flowport.db"}"
    artifact_root: "{data / "artifacts"}"
workspaces:
  default: local
auth:
  bootstrap_admin: {{username: admin, password: "${{FP_ADMIN_PASSWORD}}"}}
  mtls:
    ca_file: "{ca.cert}"
    cert_file: "{server.cert}"
    key_file: "{server.key}"
"""


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
    basic = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    response = httpx.post(gw.url + path, json=body, headers={"authorization": f"Basic {basic}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def channel(gw, pki, client=None) -> grpc.Channel:
    """TLS to the gateway, presenting `client`'s certificate (default: laptop-7, a name with no role)."""
    ca, _, _, laptop = pki
    client = client or laptop
    credentials = grpc.ssl_channel_credentials(
        ca.cert.read_bytes(), client.key.read_bytes(), client.cert.read_bytes()
    )
    return grpc.secure_channel(gw.grpc_target, credentials)


@pytest.fixture(scope="module")
def setup(gw):
    """A viewer with a token, a role for the certificate's name, and an experiment with a run."""
    name = f"v-{uuid.uuid4().hex[:6]}"
    admin(gw, "/api/2.0/mlflow/users/create", {"username": name, "password": uuid.uuid4().hex})
    for who in (name, "ingest-bot"):
        role = {
            "principal_kind": "user",
            "principal_name": who,
            "role": "viewer" if who == name else "editor",
        }
        admin(gw, "/api/2.0/flowport/auth/role-bindings/set", role)
    token = admin(gw, "/api/2.0/flowport/auth/tokens/create", {"username": name})["secret"]
    admin_token = admin(gw, "/api/2.0/flowport/auth/tokens/create", {})["secret"]
    headers = {"authorization": f"Bearer {admin_token}"}
    experiment_id = httpx.post(
        gw.url + "/api/2.0/mlflow/experiments/create",
        json={"name": f"g-{uuid.uuid4().hex[:6]}"},
        headers=headers,
    ).json()["experiment_id"]
    return {"viewer": token, "experiment_id": experiment_id}


def _code(err: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    trailing = dict(err.trailing_metadata() or ())
    return err.code(), trailing.get(ERROR_CODE_METADATA_KEY, "")


def test_tokens_in_metadata_and_the_same_refusals_as_http(gw, pki, setup):
    """A token in the metadata names the caller, whatever certificate the channel presents."""
    with channel(gw, pki) as ch:
        tracking = tracking_pb2_grpc.TrackingServiceStub(ch)
        request = tracking_pb2.GetExperiment(experiment_id=setup["experiment_id"])
        with pytest.raises(grpc.RpcError) as err:  # laptop-7 has no role
            tracking.GetExperiment(request)
        assert _code(err.value) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
        with pytest.raises(grpc.RpcError) as err:
            tracking.GetExperiment(request, metadata=[("authorization", "Bearer fpt_wrong")])
        assert _code(err.value) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
        assert err.value.details() == "Invalid credentials"
        viewer = [("authorization", f"Bearer {setup['viewer']}")]
        assert (
            tracking.GetExperiment(request, metadata=viewer).experiment.experiment_id
            == setup["experiment_id"]
        )
        with pytest.raises(grpc.RpcError) as err:
            tracking.DeleteExperiment(
                tracking_pb2.DeleteExperiment(experiment_id=setup["experiment_id"]), metadata=viewer
            )
        assert _code(err.value) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
        # Streamed artifact calls are governed too: a viewer may not upload.
        artifacts = artifacts_pb2_grpc.ArtifactsServiceStub(ch)
        upload = iter(
            [
                artifacts_pb2.UploadArtifact(
                    artifact_path=f"{setup['experiment_id']}/x/artifacts/f.txt", data=b"hi"
                )
            ]
        )
        with pytest.raises(grpc.RpcError) as err:
            artifacts.UploadArtifact(upload, metadata=viewer)
        assert _code(err.value) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
        download = artifacts_pb2.DownloadArtifact(artifact_path=f"{setup['experiment_id']}/x/artifacts/f.txt")
        with pytest.raises(grpc.RpcError) as err:
            list(artifacts.DownloadArtifact(download, metadata=[("authorization", "Basic bm8=")]))
        assert _code(err.value) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")


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
    with grpc.secure_channel(gw.grpc_target, credentials) as ch:
        with pytest.raises(grpc.RpcError) as err:
            tracking_pb2_grpc.TrackingServiceStub(ch).GetExperiment(
                tracking_pb2.GetExperiment(experiment_id="0"),
                metadata=[("authorization", f"Bearer {setup['viewer']}")],
                timeout=10,
            )
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE


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
