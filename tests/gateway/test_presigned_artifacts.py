"""Presigned URLs: with a backend's `presigned_urls: true`, the stock mlflow client moves artifact
bytes to and from S3 itself (multipart upload to presigned part URLs, parallel ranged GETs of a
presigned download URL); by default every byte goes through the gateway.

What the client sent where is read off `requests` in this process (the client's own HTTP), and
what reached S3 off moto's request log (moto runs in this process): a presigned request carries its
signature in the query string, while the gateway's boto3 signs in the Authorization header.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random
import urllib.parse
import uuid

import httpx
import mlflow
import pytest
import requests
from mlflow import MlflowClient

from flowport.adapters.artifacts.local import LocalArtifactStore
from flowport.adapters.backend import BackendConfigError
from flowport.adapters.sagemaker.backend import SageMakerBackend
from flowport.gateway.artifact_proxy import ArtifactProxy
from flowport.sdk import FlowportClient
from flowport.v1 import artifacts_pb2
from flowport.v1.errors import ApiError
from tests.fixtures.sagemaker import BUCKET, run_sagemaker_gateway

PART = 5 << 20  # S3's smallest part but the last
DOWNLOAD_CHUNK = 2 << 20
ARTIFACTS_API = "/api/2.0/mlflow-artifacts"


@pytest.fixture(scope="module")
def presigned_gateway(tmp_path_factory, moto):
    """`flowport serve` on the sagemaker backend with presigned URLs turned on."""
    data_dir = tmp_path_factory.mktemp("gateway-sagemaker-presigned")
    with run_sagemaker_gateway(data_dir, moto, backend_options={"presigned_urls": True}) as gateway:
        yield gateway


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    url: str
    body_bytes: int
    range: str | None
    status: int

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.url).path

    @property
    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.url).query)


@pytest.fixture
def traffic(monkeypatch) -> list[Request]:
    """Every HTTP request the mlflow client makes (it uses `requests` for all of them)."""
    seen: list[Request] = []
    send = requests.Session.send

    def recording_send(self, request, **kwargs):
        response = send(self, request, **kwargs)
        body = int(request.headers.get("Content-Length") or 0)
        seen.append(
            Request(request.method, request.url, body, request.headers.get("Range"), response.status_code)
        )
        return response

    monkeypatch.setattr(requests.Session, "send", recording_send)
    return seen


def mlflow_client(gateway, monkeypatch) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", gateway.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(PART))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(PART))
    # mlflow-artifacts downloads take the presigned route for every file once server-info allows it
    # (MLFLOW_MULTIPART_DOWNLOAD_MINIMUM_FILE_SIZE is not consulted there); the chunk size is.
    monkeypatch.setenv("MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE", str(DOWNLOAD_CHUNK))
    mlflow.set_tracking_uri(gateway.url)
    return MlflowClient(gateway.url, gateway.url)


def new_run(client: MlflowClient) -> str:
    exp_id = client.create_experiment(f"presigned-{uuid.uuid4().hex[:8]}")
    return client.create_run(exp_id).info.run_id


def big_file(tmp_path, seed: int) -> tuple[object, bytes]:
    data = random.Random(seed).randbytes(2 * PART + 12345)  # three parts, the last a short one
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path, data


def s3_key(moto, suffix: str) -> str:
    keys = [
        obj["Key"]
        for page in moto.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for obj in page.get("Contents", [])
        if obj["Key"].endswith(suffix)
    ]
    assert len(keys) == 1, keys
    return keys[0]


def put_artifact(gateway, path: str, data: bytes) -> None:
    response = httpx.put(f"{gateway.url}{ARTIFACTS_API}/artifacts/{path}", content=data)
    assert response.status_code == 200, response.text


# --- presigned_urls: true ---------------------------------------------------------------------------


def test_server_info_advertises_multipart_both_ways(presigned_gateway):
    info = httpx.get(f"{presigned_gateway.url}/api/3.0/mlflow/server-info").json()
    assert info["multipart_uploads_enabled"] is True
    assert info["multipart_downloads_enabled"] is True


def test_large_artifact_moves_between_client_and_s3_directly(
    presigned_gateway, moto, monkeypatch, tmp_path, traffic, caplog
):
    client = mlflow_client(presigned_gateway, monkeypatch)
    run_id = new_run(client)
    source, data = big_file(tmp_path, seed=1)
    caplog.set_level(logging.INFO, logger="werkzeug")  # moto's request log

    traffic.clear()
    client.log_artifact(run_id, str(source), "weights")
    upload = list(traffic)

    # The client PUT every part to S3, and only small JSON (create, complete) to the gateway.
    to_s3 = [r for r in upload if r.url.startswith(moto.endpoint_url)]
    to_gateway = [r for r in upload if r.url.startswith(presigned_gateway.url)]
    assert len(to_s3) + len(to_gateway) == len(upload), upload
    assert sorted(int(r.query["partNumber"][0]) for r in to_s3) == [1, 2, 3]
    assert all(r.method == "PUT" and r.status == 200 for r in to_s3)
    assert sum(r.body_bytes for r in to_s3) == len(data)
    assert not any("/mpu/part/" in r.path or r.method == "PUT" for r in to_gateway), to_gateway
    posted = [r.path[len(ARTIFACTS_API) :].split("/")[1:3] for r in to_gateway if r.method == "POST"]
    assert posted == [["mpu", "create"], ["mpu", "complete"]], posted
    assert sum(r.body_bytes for r in to_gateway) < 10_000
    # S3's side: each part came with the signature in its URL, i.e. from a presigned URL's holder.
    part_puts = [
        line
        for line in (r.getMessage() for r in caplog.records if r.name == "werkzeug")
        if f"{run_id}/artifacts/weights/big.bin?" in line and "partNumber=" in line
    ]
    assert len(part_puts) == 3 and all("X-Amz-Signature=" in line for line in part_puts), part_puts

    # Completed by the gateway from the client's ETags: one object, in the client's three parts.
    key = s3_key(moto, f"{run_id}/artifacts/weights/big.bin")
    s3 = moto.client("s3")
    assert s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"').endswith("-3")
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data
    assert s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", []) == []

    traffic.clear()
    local = client.download_artifacts(run_id, "weights/big.bin", str(tmp_path / "out"))
    download = list(traffic)
    with open(local, "rb") as f:
        assert f.read() == data

    # One call to the gateway for the URL, then parallel ranged GETs straight from S3.
    presigned = [r for r in download if r.path.startswith(f"{ARTIFACTS_API}/presigned/")]
    assert [r.path for r in presigned] == [f"{ARTIFACTS_API}/presigned/{key.split('/', 1)[1]}"]
    from_s3 = [r for r in download if r.url.startswith(moto.endpoint_url)]
    assert len(from_s3) == math.ceil(len(data) / DOWNLOAD_CHUNK)
    assert all(r.method == "GET" and r.status == 206 and r.range for r in from_s3)
    assert not any(
        r.path.endswith("/big.bin") for r in download if r.path.startswith(f"{ARTIFACTS_API}/artifacts")
    )


def test_presigned_download_url_over_http(presigned_gateway):
    folder = f"presigned-http/{uuid.uuid4().hex[:8]}"
    data = random.Random(2).randbytes(300_000)
    put_artifact(presigned_gateway, f"{folder}/model.pkl", data)

    response = httpx.get(f"{presigned_gateway.url}{ARTIFACTS_API}/presigned/{folder}/model.pkl")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["file_size"] == len(data) and body.get("headers", {}) == {}
    assert "X-Amz-Expires=300" in body["url"]  # the default lifetime, MLflow's
    assert httpx.get(body["url"]).content == data

    for path, status, code in [
        (f"{folder}/missing.pkl", 404, "RESOURCE_DOES_NOT_EXIST"),
        (folder, 404, "RESOURCE_DOES_NOT_EXIST"),  # a directory has no URL
        (f"{folder}/%2e%2e/%2e%2e/secret", 400, "INVALID_PARAMETER_VALUE"),
        (f"{folder}/%252e%252e/x", 400, "INVALID_PARAMETER_VALUE"),
    ]:
        response = httpx.get(f"{presigned_gateway.url}{ARTIFACTS_API}/presigned/{path}")
        assert (response.status_code, response.json()["error_code"]) == (status, code), path


def test_presigned_download_url_over_grpc(presigned_gateway):
    folder = f"presigned-grpc/{uuid.uuid4().hex[:8]}"
    data = random.Random(3).randbytes(70_000)
    put_artifact(presigned_gateway, f"{folder}/data.csv", data)

    with FlowportClient(presigned_gateway.grpc_target) as fp:
        got = fp.artifacts.GetPresignedDownloadUrl(
            artifacts_pb2.GetPresignedDownloadUrl(artifact_path=f"{folder}/data.csv")
        )
        assert got.file_size == len(data)
        assert httpx.get(got.url).content == data
        for path, code in [
            (f"{folder}/nope.csv", "RESOURCE_DOES_NOT_EXIST"),
            ("", "INVALID_PARAMETER_VALUE"),
            ("../data.csv", "INVALID_PARAMETER_VALUE"),
        ]:
            with pytest.raises(ApiError) as info:
                fp.artifacts.GetPresignedDownloadUrl(
                    artifacts_pb2.GetPresignedDownloadUrl(artifact_path=path)
                )
            assert info.value.error_code == code, path


# --- presigned_urls: false (the default) ------------------------------------------------------------


@pytest.mark.remote_backends
def test_by_default_every_byte_flows_through_the_gateway(gateway, monkeypatch, tmp_path, traffic):
    info = httpx.get(f"{gateway.url}/api/3.0/mlflow/server-info").json()
    assert info["multipart_downloads_enabled"] is False

    client = mlflow_client(gateway, monkeypatch)
    run_id = new_run(client)
    source, data = big_file(tmp_path, seed=4)
    traffic.clear()
    client.log_artifact(run_id, str(source), "weights")
    local = client.download_artifacts(run_id, "weights/big.bin", str(tmp_path / "out"))
    with open(local, "rb") as f:
        assert f.read() == data

    assert traffic and all(r.url.startswith(gateway.url) for r in traffic), {r.url for r in traffic}
    uploaded = [r for r in traffic if r.method == "PUT"]
    assert sum(r.body_bytes for r in uploaded) == len(data)
    if info["multipart_uploads_enabled"]:  # parts go to the gateway's own part route
        assert len(uploaded) == 3 and all(f"{ARTIFACTS_API}/mpu/part/" in r.path for r in uploaded)
    downloads = [r for r in traffic if r.method == "GET" and r.path.endswith("/weights/big.bin")]
    assert len(downloads) == 1 and downloads[0].path.startswith(f"{ARTIFACTS_API}/artifacts/")
    assert not any("/presigned/" in r.path for r in traffic)

    # Asked anyway (as a client forcing MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD would), the gateway
    # says 501, on which MLflow's client falls back to downloading through the gateway.
    path = downloads[0].path[len(f"{ARTIFACTS_API}/artifacts/") :]
    response = httpx.get(f"{gateway.url}{ARTIFACTS_API}/presigned/{path}")
    assert (response.status_code, response.json()["error_code"]) == (501, "NOT_IMPLEMENTED")


# --- configuration ------------------------------------------------------------------------------------

ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/presigned"


def sagemaker_backend(**options) -> SageMakerBackend:
    backend = SageMakerBackend.from_config("sm", {"arn": ARN, **options})
    asyncio.run(backend.close())  # never started: only its HTTP client and thread pool to release
    return backend


def test_presigned_options():
    default = sagemaker_backend()
    assert (
        default.presigned_urls,
        default.presigned_url_ttl_seconds,
        default.presigned_upload_ttl_seconds,
    ) == (
        False,
        300,
        3600,
    )
    on = sagemaker_backend(
        presigned_urls=True, presigned_url_ttl_seconds=60, presigned_upload_ttl_seconds="7200"
    )
    assert (on.presigned_urls, on.presigned_url_ttl_seconds, on.presigned_upload_ttl_seconds) == (
        True,
        60,
        7200,
    )
    assert sagemaker_backend(presigned_urls="True").presigned_urls is True  # as ${ENV_VAR} delivers it
    assert sagemaker_backend(presigned_urls="false").presigned_urls is False
    for options in [
        {"presigned_urls": "yes please"},
        {"presigned_urls": 1},
        {"presigned_url_ttl_seconds": 0},
        {"presigned_url_ttl_seconds": 7 * 24 * 3600 + 1},
        {"presigned_upload_ttl_seconds": 1.5},
        {"presigned_upload_ttl_seconds": True},
        {"presigned_url_ttl": 300},  # a misspelt key is refused, not ignored
    ]:
        with pytest.raises(BackendConfigError):
            SageMakerBackend.from_config("sm", {"arn": ARN, **options})


def test_a_store_that_cannot_presign_keeps_the_bytes_behind_the_gateway(tmp_path):
    """Allowed by the backend but not possible for its store (local files): the gateway stays in the path."""
    proxy = ArtifactProxy(LocalArtifactStore(tmp_path), presigned_urls=True)
    assert proxy.presigned_downloads is False and proxy.presigned_parts is False

    async def scenario():
        await proxy.upload("d/f.txt", _chunks(b"local"))
        with pytest.raises(ApiError) as info:
            await proxy.get_presigned_download_url(
                artifacts_pb2.GetPresignedDownloadUrl(artifact_path="d/f.txt")
            )
        assert info.value.error_code == "NOT_IMPLEMENTED"
        created = await proxy.create_multipart_upload(
            artifacts_pb2.CreateMultipartUpload(path="/tmp/big.bin", num_parts=2, artifact_path="d"),
            "http://gateway:5000",
        )
        assert [c.url.split(created.upload_id)[0] for c in created.credentials] == [
            "http://gateway:5000/api/2.0/mlflow-artifacts/mpu/part/"
        ] * 2
        await proxy.abort_multipart_upload(
            artifacts_pb2.AbortMultipartUpload(
                path="/tmp/big.bin", upload_id=created.upload_id, artifact_path="d"
            )
        )

    asyncio.run(scenario())


async def _chunks(data: bytes):
    yield data
