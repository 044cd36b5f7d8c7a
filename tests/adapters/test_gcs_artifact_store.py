"""Tests of the `gs` store against gcp-storage-emulator: the shared conformance suite, at a bucket's
root and under a prefix, plus what only GCS has (resumable chunks, compose rounds, V4 signed URLs,
its status codes, Application Default Credentials, confinement to a prefix).

The emulator checks no signatures, credentials or preconditions, so the tests check those from
what the store sends: signed URLs are verified with the service account's public key, requests
are recorded on their way out, and GCS's refusals come from a session that answers as GCS would.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from flowport.adapters.artifact_store import FileInfo
from flowport.adapters.artifacts.gcs import (
    CHUNK_MULTIPLE,
    COMPOSE_LIMIT,
    RESERVED_PREFIX,
    STAGING_DIR,
    GcsArtifactStore,
)
from flowport.adapters.artifacts.registry import open_artifact_store
from flowport.adapters.backend import BackendConfigError
from flowport.v1.errors import ApiError
from tests.adapters.artifact_store_contract import (
    OPERATIONS,
    TRAVERSAL_PATHS,
    ArtifactStoreContract,
    error_code,
    md5,
    measure_round_trip_memory,
    read_all,
    run,
    stream,
)
from tests.fixtures.gcs_emulator import PROJECT, GoogleTokenEndpoint, run_gcs_emulator
from tests.fixtures.processes import free_port

# Small chunks: the most resumable-upload requests, and the most chunking code, per byte sent.
CHUNK = 4 * CHUNK_MULTIPLE  # 1 MiB
PREFIX = "team/artifacts"


@pytest.fixture(scope="module")
def emulator():
    with run_gcs_emulator() as gcs:
        yield gcs


@pytest.fixture(scope="module")
def gcs(emulator):
    """A plain client: the tests' own view of the bucket, independent of the store."""
    client = emulator.client()
    yield client
    client.close()


@pytest.fixture
def bucket(emulator):
    name = emulator.create_bucket()
    yield name
    emulator.delete_bucket(name)  # the emulator keeps objects in memory: keep a long session small


def all_names(gcs, bucket: str) -> list[str]:
    return sorted(blob.name for blob in gcs.list_blobs(bucket))


def object_bytes(gcs, bucket: str, name: str) -> bytes:
    return gcs.bucket(bucket).blob(name).download_as_bytes()


def make_store(emulator, root: str, **options) -> GcsArtifactStore:
    options.setdefault("chunk_size", CHUNK)
    options.setdefault("client", emulator.client())
    return GcsArtifactStore(root, **options)


@pytest.fixture(params=["", PREFIX], ids=["bucket-root", "prefix-root"])
def store(request, bucket, emulator):
    root = f"gs://{bucket}/{request.param}" if request.param else f"gs://{bucket}"
    store = make_store(emulator, root)
    yield store
    run(store.close())


@pytest.fixture
def root_store(bucket, emulator):
    """A store at the root of the bucket, for tests that look at exact object names."""
    store = make_store(emulator, f"gs://{bucket}")
    yield store
    run(store.close())


class TestGcsArtifactStoreContract(ArtifactStoreContract):
    # Two whole chunks before the failure: the write has a resumable upload under way to cancel.
    bytes_before_failure = 2 * CHUNK + (1 << 19)

    @pytest.fixture(autouse=True)
    def _client(self, gcs):
        self.gcs = gcs

    def stored(self, store: GcsArtifactStore) -> list[str]:
        # Every object in the bucket, staged parts included: one outside the prefix would be an escape.
        root = f"{store.prefix}/" if store.prefix else ""
        return sorted(
            name[len(root) :] if name.startswith(root) else f"../{name}"
            for name in all_names(self.gcs, store.bucket)
        )

    def pending_uploads(self, store: GcsArtifactStore) -> list[str]:
        return pending(self.gcs, store)


def pending(gcs, store: GcsArtifactStore) -> list[str]:
    """Upload ids whose manifest is still staged."""
    staging = "/".join(p for p in (store.prefix, STAGING_DIR) if p) + "/"
    return sorted(
        name[len(staging) :].split("/")[0]
        for name in all_names(gcs, store.bucket)
        if name.startswith(staging) and name.endswith("/upload.json")
    )


# --- what the store sends -----------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    headers: dict
    body: bytes | None
    thread: str


class RecordingSession(requests.Session):
    """The store's HTTP session, passed through unchanged and written down on the way."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Sent] = []
        self._lock = threading.Lock()

    def request(self, method, url, *args, **kwargs):  # noqa: ANN001, ANN201 - requests' own signature
        data = kwargs.get("data")
        body = data.encode() if isinstance(data, str) else bytes(data) if data is not None else None
        with self._lock:
            self.sent.append(
                Sent(method, url, dict(kwargs.get("headers") or {}), body, threading.current_thread().name)
            )
        return super().request(method, url, *args, **kwargs)


def recording_store(emulator, root: str, **options) -> tuple[GcsArtifactStore, RecordingSession]:
    session = RecordingSession()
    client = storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": emulator.endpoint},
        _http=session,
    )
    return make_store(emulator, root, client=client, **options), session


# --- construction -----------------------------------------------------------------------------


def test_root_uri_and_options(emulator):
    client = emulator.client()
    for uri, bucket, prefix in [
        ("gs://my-bucket", "my-bucket", ""),
        ("gs://my-bucket/", "my-bucket", ""),
        ("gs://my-bucket/team/runs", "my-bucket", "team/runs"),
        ("gs://my-bucket//team/./runs/", "my-bucket", "team/runs"),
        ("gs://my.dotted_bucket-1/x", "my.dotted_bucket-1", "x"),
    ]:
        store = GcsArtifactStore.from_uri(uri, client=client)
        assert (store.bucket, store.prefix) == (bucket, prefix), uri
        assert store.root_uri == (f"gs://{bucket}/{prefix}" if prefix else f"gs://{bucket}")
        run(store.close())
    assert GcsArtifactStore.scheme == "gs"
    for bad in [
        "s3://bucket/x",
        "file:///srv",
        "gs://",
        "gs://ab",
        "gs://Upper-Case",
        "gs://bad..bucket",
        "gs://" + "a" * 64,
        "gs://user:secret@bucket",
        "gs://bucket/../escape",
        "gs://bucket/a/%2e%2e/b",
        "gs://bucket/x?generation=1",
        f"gs://bucket/{RESERVED_PREFIX}mpu",
    ]:
        with pytest.raises(ApiError) as excinfo:
            GcsArtifactStore(bad, client=client)
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE", bad
    for options in [
        {"chunk_size": CHUNK_MULTIPLE - 1},
        {"chunk_size": CHUNK_MULTIPLE + 1},
        {"chunk_size": 0},
        {"max_threads": 0},
        {"retry_deadline_seconds": 0},
        {"retry_deadline_seconds": "soon"},
    ]:
        with pytest.raises(ApiError) as excinfo:
            GcsArtifactStore("gs://bucket", client=client, **options)
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE", options
    # From a configuration file's artifact_store_options: a misspelt key is named, with the known ones.
    with pytest.raises(BackendConfigError, match="chunksize.*known: chunk_size, client, max_threads"):
        open_artifact_store("gs://bucket", client=client, chunksize=1 << 20)
    client.close()


def test_open_artifact_store_uses_the_emulator_from_the_environment(emulator, bucket, gcs, monkeypatch):
    # What `flowport serve --artifacts-destination gs://...` does: no client given, the library
    # finds STORAGE_EMULATOR_HOST and goes there with anonymous credentials.
    for name, value in emulator.env.items():
        monkeypatch.setenv(name, value)
    store = open_artifact_store(f"gs://{bucket}/{PREFIX}")
    assert isinstance(store, GcsArtifactStore)
    assert store.root_uri == f"gs://{bucket}/{PREFIX}"
    assert isinstance(store._client._credentials, AnonymousCredentials)
    run(store.write("run/model.bin", stream([b"from the environment"])))
    assert object_bytes(gcs, bucket, f"{PREFIX}/run/model.bin") == b"from the environment"
    assert run(read_all(store, "run/model.bin")) == b"from the environment"
    assert not store.supports_presigned_urls  # anonymous credentials cannot sign
    assert store.supports_multipart
    run(store.close())


_ADC_SCRIPT = """
import asyncio, json, sys
from flowport.adapters.artifacts.registry import open_artifact_store
from flowport.adapters.backend import BackendConfigError
from flowport.adapters.backend import BackendConfigError

try:
    store = open_artifact_store("gs://flowport-adc-bucket/runs")
except BackendConfigError as err:
    print(json.dumps({"config_error": str(err)}))
    sys.exit(0)
credentials = store._client._credentials
url = asyncio.run(store.presigned_url("m/model.bin", "GET", 120)) if store.supports_presigned_urls else None
print(json.dumps({"credentials": type(credentials).__name__,
                  "email": getattr(credentials, "service_account_email", None),
                  "presigned": store.supports_presigned_urls, "url": url}))
"""


def run_adc(tmp_path, **env) -> dict:
    """The store built from the environment alone, in a process whose environment holds only
    what the test gives: no gcloud configuration, no metadata server to find."""
    dead = f"127.0.0.1:{free_port()}"
    (tmp_path / "gcloud").mkdir(exist_ok=True)
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "NO_GCE_CHECK": "True",
        "GCE_METADATA_HOST": dead,
        "GCE_METADATA_IP": dead,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    result = subprocess.run(
        [sys.executable, "-c", _ADC_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **env},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_application_default_credentials_from_a_key_file(tmp_path):
    # A service-account key in GOOGLE_APPLICATION_CREDENTIALS: found by ADC, and able to sign.
    # Signing is local, so nothing here talks to Google.
    endpoint = GoogleTokenEndpoint()
    with endpoint.running():
        key_file = tmp_path / "key.json"
        key_file.write_text(json.dumps(endpoint.service_account_info()))
        report = run_adc(tmp_path, GOOGLE_APPLICATION_CREDENTIALS=str(key_file))
    assert report["credentials"] == "Credentials" and report["email"] == endpoint.client_email
    assert report["presigned"] is True
    url = urllib.parse.urlsplit(report["url"])
    assert (url.scheme, url.netloc, url.path) == (
        "https",
        "storage.googleapis.com",
        "/flowport-adc-bucket/runs/m/model.bin",
    )
    verify_v4_signature(report["url"], "GET", endpoint)
    assert endpoint.grants == []  # signing asked no token of anyone


def test_no_credentials_is_a_config_error_naming_the_fix(tmp_path):
    report = run_adc(tmp_path)
    message = report["config_error"]
    assert "gs://flowport-adc-bucket" in message and "no Google credentials found" in message
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message


def test_broken_key_file_is_a_config_error(tmp_path):
    key_file = tmp_path / "key.json"
    key_file.write_text(
        '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nsecret-bits"}'
    )
    message = run_adc(tmp_path, GOOGLE_APPLICATION_CREDENTIALS=str(key_file))["config_error"]
    assert "gs://flowport-adc-bucket" in message and "secret-bits" not in message


# --- chunks -------------------------------------------------------------------------------------


def upload_requests(session: RecordingSession) -> tuple[list[Sent], list[Sent], list[Sent]]:
    """(resumable initiations, chunk PUTs, single-request uploads) the store sent."""
    starts = [s for s in session.sent if s.method == "POST" and "uploadType=resumable" in s.url]
    chunks = [s for s in session.sent if s.method == "PUT" and "upload_id=" in s.url]
    singles = [s for s in session.sent if s.method == "POST" and "uploadType=multipart" in s.url]
    return starts, chunks, singles


def test_large_write_is_a_resumable_upload_in_chunks(bucket, emulator, gcs):
    store, session = recording_store(emulator, f"gs://{bucket}")
    data = random.Random(11).randbytes(3 * CHUNK + 12345)
    # Odd chunk sizes, so that chunk boundaries fall inside the pieces the client sends.
    pieces = [data[i : i + 777_777] for i in range(0, len(data), 777_777)]

    assert run(store.write("big/model.bin", stream(pieces))) == len(data)

    starts, chunks, singles = upload_requests(session)
    assert len(starts) == 1 and singles == []
    assert [len(c.body) for c in chunks] == [CHUNK, CHUNK, CHUNK, 12345]
    assert [c.headers["content-range"] for c in chunks] == [
        f"bytes 0-{CHUNK - 1}/*",
        f"bytes {CHUNK}-{2 * CHUNK - 1}/*",
        f"bytes {2 * CHUNK}-{3 * CHUNK - 1}/*",
        f"bytes {3 * CHUNK}-{len(data) - 1}/{len(data)}",  # the total is told only at the end
    ]
    assert b"".join(c.body for c in chunks) == data
    blob = gcs.bucket(bucket).get_blob("big/model.bin")
    assert blob.size == len(data) and base64.b64decode(blob.md5_hash).hex() == md5(data)
    assert all_names(gcs, bucket) == ["big/model.bin"]
    run(store.close())


def test_small_write_is_one_request(bucket, emulator, gcs):
    store, session = recording_store(emulator, f"gs://{bucket}")
    data = b"s" * (CHUNK - 1)
    run(store.write("small", stream([data[:10], data[10:]])))
    starts, chunks, singles = upload_requests(session)
    assert (len(starts), len(chunks), len(singles)) == (0, 0, 1)
    assert object_bytes(gcs, bucket, "small") == data
    run(store.close())


def test_write_of_exactly_whole_chunks(bucket, emulator, gcs):
    store, session = recording_store(emulator, f"gs://{bucket}")
    data = random.Random(5).randbytes(2 * CHUNK)
    run(store.write("even", stream([data[i : i + (1 << 18)] for i in range(0, len(data), 1 << 18)])))
    _, chunks, _ = upload_requests(session)
    # Two full chunks, then an empty one that only tells GCS the total and closes the upload.
    assert [len(c.body or b"") for c in chunks] == [CHUNK, CHUNK, 0]
    assert chunks[-1].headers["content-range"] == f"bytes */{2 * CHUNK}"
    assert object_bytes(gcs, bucket, "even") == data
    run(store.close())


@pytest.mark.parametrize("how", ["fails", "cancelled"])
def test_interrupted_write_cancels_its_session_and_keeps_the_old_object(bucket, emulator, gcs, how):
    store, session = recording_store(emulator, f"gs://{bucket}")
    run(store.write("model.bin", stream([b"old"])))

    async def scenario():
        reached = asyncio.Event()

        async def interrupted() -> AsyncIterator[bytes]:
            for _ in range(2):
                yield b"p" * CHUNK
            yield b"more"
            reached.set()
            if how == "fails":
                raise ConnectionResetError("client went away")
            await asyncio.Event().wait()  # never comes

        task = asyncio.create_task(store.write("model.bin", interrupted()))
        await reached.wait()
        if how == "cancelled":
            task.cancel()
        with pytest.raises((ConnectionResetError, asyncio.CancelledError)):
            await task

    run(scenario())
    gc.collect()  # an abandoned writer, finalized, must not finish the upload with what it holds
    starts, chunks, _ = upload_requests(session)
    assert len(starts) == 1 and len(chunks) == 2  # an upload was under way, and nothing more went
    session_url = chunks[0].url
    # The session was cancelled, by a DELETE on its URL (as GCS documents), and that was the end.
    assert [(s.method, s.url) for s in session.sent][-1] == ("DELETE", session_url)
    assert all_names(gcs, bucket) == ["model.bin"]
    assert object_bytes(gcs, bucket, "model.bin") == b"old"
    run(store.close())


def test_reads_come_in_ranges_of_one_generation(bucket, emulator):
    store, session = recording_store(emulator, f"gs://{bucket}")
    data = random.Random(3).randbytes(2 * CHUNK + 10)
    run(store.write("f", stream([data])))
    session.sent.clear()

    sizes = []

    async def read():
        async for chunk in store.read("f", 300_000):
            sizes.append(len(chunk))

    run(read())
    assert sum(sizes) == len(data) and max(sizes) <= 300_000
    downloads = [s for s in session.sent if "alt=media" in s.url]
    # One ranged GET per store chunk, whatever size the caller reads in, each pinned to a generation.
    assert [d.headers.get("range") for d in downloads] == [
        f"bytes=0-{CHUNK - 1}",
        f"bytes={CHUNK}-{2 * CHUNK - 1}",
        f"bytes={2 * CHUNK}-{2 * CHUNK + 9}",
    ]
    generations = {
        urllib.parse.parse_qs(urllib.parse.urlsplit(d.url).query)["generation"][0] for d in downloads
    }
    assert len(generations) == 1
    run(store.close())


# --- multipart ----------------------------------------------------------------------------------


def test_multipart_with_more_parts_than_one_compose_takes(bucket, emulator, gcs):
    store, session = recording_store(emulator, f"gs://{bucket}/{PREFIX}")
    count = 2 * COMPOSE_LIMIT + 6  # 70 parts: three intermediate composes, then the final one
    parts = {n: f"part {n:03d};".encode() for n in range(1, count + 1)}

    async def scenario():
        upload_id = await store.create_multipart_upload("models/big.bin", count)
        etags = {}
        for n, body in parts.items():
            etags[n] = await store.upload_part("models/big.bin", upload_id, n, stream([body]))
        assert etags == {n: md5(body) for n, body in parts.items()}
        await store.complete_multipart_upload("models/big.bin", upload_id, sorted(etags.items()))

    run(scenario())
    expected = b"".join(parts[n] for n in sorted(parts))
    assert object_bytes(gcs, bucket, f"{PREFIX}/models/big.bin") == expected
    assert all_names(gcs, bucket) == [f"{PREFIX}/models/big.bin"]  # parts and intermediates are gone
    composes = [json.loads(s.body) for s in session.sent if s.url.split("?")[0].endswith("/compose")]
    assert [len(c["sourceObjects"]) for c in composes] == [COMPOSE_LIMIT, COMPOSE_LIMIT, 6, 3]
    # Every source is pinned to the generation that was checked against the client's etag.
    assert all(
        "ifGenerationMatch" in source.get("objectPreconditions", {})
        for compose in composes
        for source in compose["sourceObjects"]
    )
    run(store.close())


def test_staged_parts_are_out_of_the_clients_reach(root_store, gcs, bucket):
    async def scenario():
        upload_id = await root_store.create_multipart_upload("f", 2)
        await root_store.upload_part("f", upload_id, 1, stream([b"staged"]))
        staged = all_names(gcs, bucket)
        assert staged == [f"{STAGING_DIR}/{upload_id}/part-00001", f"{STAGING_DIR}/{upload_id}/upload.json"]
        assert await root_store.list("") == []  # staging never shows
        for path in [STAGING_DIR, f"{STAGING_DIR}/{upload_id}/part-00001", f"a/{RESERVED_PREFIX}x"]:
            for operation in sorted(OPERATIONS):
                with pytest.raises(ApiError) as excinfo:
                    await OPERATIONS[operation](root_store, path)
                assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE", (operation, path)
        assert all_names(gcs, bucket) == staged
        await root_store.abort_multipart_upload("f", upload_id)

    run(scenario())
    assert all_names(gcs, bucket) == []


def test_multipart_upload_ids(root_store, gcs, bucket):
    async def scenario():
        upload_id = await root_store.create_multipart_upload("f", 3)
        cases = [
            (
                root_store.upload_part("g", upload_id, 1, stream([b"x"])),
                "INVALID_PARAMETER_VALUE",
            ),  # other path
            (root_store.upload_part("f", upload_id.upper(), 1, stream([b"x"])), "INVALID_PARAMETER_VALUE"),
            (root_store.upload_part("f", upload_id + "0", 1, stream([b"x"])), "INVALID_PARAMETER_VALUE"),
            (
                root_store.upload_part("f", "a/../" + upload_id[5:], 1, stream([b"x"])),
                "INVALID_PARAMETER_VALUE",
            ),
            (root_store.abort_multipart_upload("f", None), "INVALID_PARAMETER_VALUE"),
            (root_store.upload_part("f", "0" * 32, 1, stream([b"x"])), "RESOURCE_DOES_NOT_EXIST"),
            (root_store.complete_multipart_upload("f", "0" * 32, [(1, md5(b""))]), "RESOURCE_DOES_NOT_EXIST"),
            (root_store.abort_multipart_upload("f", "0" * 32), "RESOURCE_DOES_NOT_EXIST"),
        ]
        for attempt, code in cases:
            with pytest.raises(ApiError) as excinfo:
                await attempt
            assert excinfo.value.error_code == code
        await root_store.abort_multipart_upload("f", upload_id)

    run(scenario())
    assert all_names(gcs, bucket) == []


def test_failed_part_stream_passes_through_and_stages_nothing(root_store, gcs, bucket):
    async def scenario():
        upload_id = await root_store.create_multipart_upload("f", 2)

        async def breaks() -> AsyncIterator[bytes]:
            yield b"p" * (CHUNK + 1)  # a resumable upload is under way
            raise ConnectionResetError("client went away")

        # The client's own failure, as it is: not mistaken for GCS being unreachable.
        with pytest.raises(ConnectionResetError):
            await root_store.upload_part("f", upload_id, 1, breaks())
        assert all_names(gcs, bucket) == [f"{STAGING_DIR}/{upload_id}/upload.json"]
        await root_store.abort_multipart_upload("f", upload_id)

    run(scenario())
    assert all_names(gcs, bucket) == []


def test_part_arriving_after_abort_is_dropped(root_store, gcs, bucket):
    async def scenario():
        upload_id = await root_store.create_multipart_upload("f", 1)

        async def slow_part() -> AsyncIterator[bytes]:
            yield b"first half "
            await root_store.abort_multipart_upload("f", upload_id)  # meanwhile, the client gives up
            yield b"second half"

        with pytest.raises(ApiError) as excinfo:
            await root_store.upload_part("f", upload_id, 1, slow_part())
        return excinfo.value.error_code

    assert run(scenario()) == "RESOURCE_DOES_NOT_EXIST"
    assert all_names(gcs, bucket) == []


# --- confinement ------------------------------------------------------------------------------

NEIGHBOURS = {
    "secret.txt": b"bucket root",
    "team/secret.txt": b"beside the prefix",
    "team/artifacts-sibling/x": b"a sibling sharing the prefix as a string",
    "team/artifactsx": b"another one",
}


def test_prefix_root_confines_paths(bucket, gcs, emulator):
    for name, body in NEIGHBOURS.items():
        gcs.bucket(bucket).blob(name).upload_from_string(body)
    store = make_store(emulator, f"gs://{bucket}/{PREFIX}")

    async def scenario():
        assert await store.list("") == []
        assert await store.stat("secret.txt") is None
        for path in [
            "../secret.txt",
            "../../secret.txt",
            "..%2fsecret.txt",
            "/team/secret.txt",
            "..\\secret.txt",
        ]:
            for operation in sorted(OPERATIONS):
                with pytest.raises(ApiError) as excinfo:
                    await OPERATIONS[operation](store, path)
                assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE", (operation, path)
        await store.write("run/model.bin", stream([b"mine"]))
        assert await store.list("") == [FileInfo("run", True, None)]
        await store.delete("run")

    run(scenario())
    assert {name: object_bytes(gcs, bucket, name) for name in all_names(gcs, bucket)} == NEIGHBOURS
    run(store.close())


def test_folder_placeholders_and_foreign_names_are_not_listed(root_store, gcs, bucket):
    # Objects other tools leave: console "folders" ("d/"), and names no client path can address.
    for name in ["d/", "d/real.txt", "d/a%2fb", "d/%2e%2e", f"d/{RESERVED_PREFIX}tmp"]:
        gcs.bucket(bucket).blob(name).upload_from_string(b"x")
    assert run(root_store.list("d")) == [FileInfo("d/real.txt", False, 1)]
    assert run(root_store.stat("d")) == FileInfo("d", True, None)


# --- presigned URLs ----------------------------------------------------------------------------


def verify_v4_signature(url: str, method: str, endpoint: GoogleTokenEndpoint) -> dict[str, str]:
    """Check a V4 signed URL as GCS would: rebuild the canonical request from the URL and verify
    the signature with the service account's public key. Returns the URL's query."""
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    signature = bytes.fromhex(query.pop("X-Goog-Signature"))
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}" for k, v in sorted(query.items())
    )
    canonical_request = "\n".join(
        [method, parts.path, canonical_query, f"host:{parts.netloc}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    email, scope = query["X-Goog-Credential"].split("/", 1)
    assert email == endpoint.client_email
    string_to_sign = "\n".join(
        [
            "GOOG4-RSA-SHA256",
            query["X-Goog-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    # Raises InvalidSignature on any difference.
    endpoint.public_key.verify(signature, string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    return query


@pytest.fixture
def token_endpoint():
    endpoint = GoogleTokenEndpoint()
    with endpoint.running():
        yield endpoint


@pytest.fixture(params=["", PREFIX], ids=["bucket-root", "prefix-root"])
def signing_store(request, bucket, emulator, token_endpoint):
    """A store whose client holds real service-account credentials (tokens from the stand-in)."""
    root = f"gs://{bucket}/{request.param}" if request.param else f"gs://{bucket}"
    store = make_store(emulator, root, client=emulator.client(token_endpoint.credentials()))
    yield store
    run(store.close())


def test_signed_urls_take_plain_http(signing_store, gcs, token_endpoint):
    store = signing_store
    data = os.urandom(5000)
    run(store.write("shared/model.bin", stream([data])))
    assert token_endpoint.grants and token_endpoint.refusals == []  # the store's requests used its key
    assert store.supports_presigned_urls and not store.supports_presigned_parts
    key = f"{store.prefix}/shared/model.bin" if store.prefix else "shared/model.bin"

    get_url = run(store.presigned_url("shared/model.bin", "get", 600))
    query = verify_v4_signature(get_url, "GET", token_endpoint)
    assert query["X-Goog-Expires"] == "600"
    assert query["response-content-disposition"] == 'attachment; filename="model.bin"'
    assert urllib.parse.urlsplit(get_url).path == f"/{store.bucket}/{key}"  # the store's own object
    response = httpx.get(get_url)
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-disposition"] == 'attachment; filename="model.bin"'
    ranged = httpx.get(get_url, headers={"Range": "bytes=1000-1999"})
    assert ranged.status_code == 206 and ranged.content == data[1000:2000]

    put_url = run(store.presigned_url("shared/upload.txt", "PUT", 60))
    verify_v4_signature(put_url, "PUT", token_endpoint)
    assert httpx.put(put_url, content=b"uploaded by the client itself").status_code == 200
    assert run(read_all(store, "shared/upload.txt")) == b"uploaded by the client itself"
    upload_key = f"{store.prefix}/shared/upload.txt" if store.prefix else "shared/upload.txt"
    assert object_bytes(gcs, store.bucket, upload_key) == b"uploaded by the client itself"


def test_signed_url_names_are_encoded_and_signed(root_store, emulator, token_endpoint, bucket):
    store = make_store(emulator, f"gs://{bucket}", client=emulator.client(token_endpoint.credentials()))
    url = run(store.presigned_url("n/ünï code%.txt", "GET", 60))
    query = verify_v4_signature(url, "GET", token_endpoint)
    assert urllib.parse.unquote(urllib.parse.urlsplit(url).path) == f"/{bucket}/n/ünï code%.txt"
    assert query["response-content-disposition"] == "attachment; filename*=UTF-8''%C3%BCn%C3%AF%20code%25.txt"
    run(store.close())


def test_presigned_url_arguments(signing_store):
    for args in [
        ("f", "DELETE", 60),
        ("f", "POST", 60),
        ("f", "GET", 0),
        ("f", "GET", 7 * 24 * 3600 + 1),
        ("f", "GET", "60"),
        ("", "GET", 60),
        ("../f", "GET", 60),
        (f"{RESERVED_PREFIX}mpu/x", "PUT", 60),
    ]:
        with pytest.raises(ApiError) as excinfo:
            run(signing_store.presigned_url(*args))
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE", args


def test_credentials_that_cannot_sign_mint_no_urls(root_store):
    assert not root_store.supports_presigned_urls and not root_store.supports_presigned_parts
    with pytest.raises(ApiError) as excinfo:
        run(root_store.presigned_url("f", "GET", 60))
    assert error_code(excinfo) == "NOT_IMPLEMENTED"
    assert "sign" in excinfo.value.message


def test_refused_credentials_are_a_server_error(bucket, emulator, token_endpoint):
    # A key the token endpoint does not know: the exchange fails, and says nothing of the key.
    other = GoogleTokenEndpoint()
    credentials = other.credentials(token_uri=token_endpoint.token_uri)
    store = make_store(emulator, f"gs://{bucket}", client=emulator.client(credentials))
    with pytest.raises(ApiError) as excinfo:
        run(store.write("f", stream([b"x"])))
    assert error_code(excinfo) == "INTERNAL_ERROR"
    assert bucket in excinfo.value.message and "RefreshError" in excinfo.value.message
    assert other.private_pem not in excinfo.value.message and other.key_id not in excinfo.value.message
    assert token_endpoint.refusals and token_endpoint.grants == []
    run(store.close())


# --- errors -------------------------------------------------------------------------------------


def test_missing_bucket_names_the_bucket(emulator):
    store = make_store(emulator, "gs://flowport-no-such-bucket/some/prefix")
    for attempt in (
        lambda: store.list(""),
        lambda: store.stat("f"),
        lambda: read_all(store, "f"),
        lambda: store.write("f", stream([b"x"])),
        lambda: store.write("f", stream([b"x" * CHUNK, b"y"])),  # a resumable upload
        lambda: store.delete("f"),
        lambda: store.create_multipart_upload("f", 1),
    ):
        with pytest.raises(ApiError) as excinfo:
            run(attempt())
        assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST"
        assert (
            "flowport-no-such-bucket" in excinfo.value.message and "some/prefix" not in excinfo.value.message
        )
    run(store.close())


LEAK = "gateway@project.iam.gserviceaccount.com does not have storage.objects.get access to team/artifacts/f"


class RefusingSession(requests.Session):
    """Answers every request as GCS does when it refuses one: a status and a JSON error whose
    message names the caller's identity and the object (neither may reach a client)."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status

    def request(self, method, url, *args, **kwargs):  # noqa: ANN001, ANN201 - requests' own signature
        response = requests.Response()
        response.status_code = self.status
        error = {"code": self.status, "message": LEAK, "errors": [{"reason": "refused", "message": LEAK}]}
        response._content = json.dumps({"error": error}).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = url
        response.request = requests.Request(method, url).prepare()
        return response


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "PERMISSION_DENIED"),
        (403, "PERMISSION_DENIED"),
        (400, "INVALID_PARAMETER_VALUE"),
        (429, "TEMPORARILY_UNAVAILABLE"),
        (500, "TEMPORARILY_UNAVAILABLE"),
        (503, "TEMPORARILY_UNAVAILABLE"),
        (409, "INTERNAL_ERROR"),
    ],
)
def test_gcs_errors_map_to_mlflow_codes(status, expected):
    client = storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": "http://127.0.0.1:9"},  # never dialled: the session answers
        _http=RefusingSession(status),
    )
    # A short retry budget: 429 and 5xx are retried until it runs out.
    store = GcsArtifactStore(
        f"gs://some-bucket/{PREFIX}", client=client, chunk_size=CHUNK, retry_deadline_seconds=0.2
    )
    for attempt in (
        lambda: read_all(store, "f"),
        lambda: store.stat("f"),
        lambda: store.list("d"),
        lambda: store.write("f", stream([b"x"])),
        lambda: store.write("f", stream([b"x" * CHUNK, b"y"])),  # the resumable layer has its own errors
        lambda: store.delete("f"),
    ):
        with pytest.raises(ApiError) as excinfo:
            run(attempt())
        assert error_code(excinfo) == expected
        message = excinfo.value.message
        assert "iam.gserviceaccount.com" not in message and PREFIX not in message
        if expected == "PERMISSION_DENIED":
            assert "some-bucket" in message
    run(store.close())


def test_unreachable_endpoint_is_temporarily_unavailable():
    client = storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": f"http://127.0.0.1:{free_port()}"},
    )
    store = GcsArtifactStore("gs://bucket", client=client, retry_deadline_seconds=0.5)
    for attempt in (lambda: store.stat("f"), lambda: store.write("f", stream([b"x"]))):
        with pytest.raises(ApiError) as excinfo:
            run(attempt())
        assert error_code(excinfo) == "TEMPORARILY_UNAVAILABLE"
    run(store.close())


# --- threads and memory ------------------------------------------------------------------------


def test_the_library_runs_only_in_the_bounded_pool(bucket, emulator):
    store, session = recording_store(emulator, f"gs://{bucket}", max_threads=2)

    async def scenario():
        await asyncio.gather(*(store.write(f"f{i}", stream([b"x" * i])) for i in range(12)))
        await store.write("big", stream([b"b" * CHUNK, b"c"]))
        await asyncio.gather(*(read_all(store, f"f{i}") for i in range(12)))
        await store.list("")
        await store.stat("f3")
        await store.delete("f3")
        upload_id = await store.create_multipart_upload("m", 1)
        etag = await store.upload_part("m", upload_id, 1, stream([b"part"]))
        await store.complete_multipart_upload("m", upload_id, [(1, etag)])

    run(scenario())
    run(store.close())
    threads = {sent.thread for sent in session.sent}
    assert threads and all(name.startswith("flowport-gcs") for name in threads), threads
    assert len(threads) <= 2


@pytest.mark.parametrize("path", TRAVERSAL_PATHS)
def test_traversal_never_reaches_gcs(bucket, emulator, path):
    store, session = recording_store(emulator, f"gs://{bucket}")
    for operation in sorted(OPERATIONS):
        with pytest.raises(ApiError) as excinfo:
            run(OPERATIONS[operation](store, path))
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE", operation
    assert session.sent == []
    run(store.close())


def test_closed_store_takes_no_more_calls(root_store):
    run(root_store.write("f", stream([b"x"])))
    run(root_store.close())
    with pytest.raises(RuntimeError):
        run(root_store.stat("f"))


def test_peak_memory_stays_bounded(emulator, bucket, gcs):
    megabytes = 64
    setup = """
    import os
    from flowport.adapters.artifacts.gcs import GcsArtifactStore

    endpoint, bucket = sys.argv[1:]
    os.environ["STORAGE_EMULATOR_HOST"] = endpoint
    store = GcsArtifactStore(f"gs://{bucket}")  # default 8 MiB chunks
    """
    # Warm up with a resumable upload of two chunks and a read.
    report = measure_round_trip_memory(setup, [emulator.endpoint, bucket], megabytes, warmup_megabytes=17)
    assert report["written"] == report["size"] == megabytes << 20
    assert report["ok"]
    assert gcs.bucket(bucket).get_blob("big/file.bin").size == megabytes << 20
    # The peak grew by far less than the 64 MiB that went through: about two chunks, the writer's
    # and the one on the wire, ~20 MiB on a quiet machine and up to ~38 MiB beside another busy test
    # process (buffering the whole stream instead adds over 100 MiB).
    assert report["growth_kib"] < 48 * 1024, report
