"""The `dbfs` artifact store of the databricks backend against the workspace stand-in: bytes go through
the signed URLs Databricks hands out and land in moto's S3 at Databricks' layout; the storage proxy
verifies every presigned URL and refuses requests that also carry an Authorization header."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid

import pytest

from flowport.adapters.databricks.artifacts import ArtifactOwner, owner_of
from flowport.v1 import tracing_pb2, tracking_pb2
from flowport.v1.errors import ApiError
from tests.adapters.databricks.conftest import backend, new_run, run
from tests.fixtures.databricks import PAT, SSE_HEADER, AzureBlobRoot
from tests.fixtures.upstream_proxy import Respond

MiB = 1 << 20


async def chunks(*pieces: bytes):
    for piece in pieces:
        yield piece


async def failing_after(data: bytes):
    yield data
    raise RuntimeError("the client went away")


async def read_all(store, path: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(path)])


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    if "databricks" in request.fixturenames:
        setup = request.getfixturevalue("databricks")
        setup.workspace.clear_faults()
        setup.storage.clear_faults()
        setup.standin.list_page_size = 100


def _storage_requests(setup, since: int):
    return setup.storage.records[since:]


@pytest.mark.parametrize(
    "path, owner",
    [
        ("1/abc/artifacts", ("run", "abc", "1/abc/artifacts", "")),
        ("1/abc/artifacts/d/f.txt", ("run", "abc", "1/abc/artifacts", "d/f.txt")),
        (
            "1/logged_models/m-1/artifacts/MLmodel",
            ("logged_model", "m-1", "1/logged_models/m-1/artifacts", "MLmodel"),
        ),
        ("1/models/m-1/artifacts", ("logged_model", "m-1", "1/models/m-1/artifacts", "")),
        ("1/tr-9/artifacts/traces.json", ("trace", "tr-9", "1/tr-9/artifacts", "traces.json")),
        ("1/traces/tr-9/artifacts/a.json", ("trace", "tr-9", "1/traces/tr-9/artifacts", "a.json")),
        ("1/abc", None),
        ("1", None),
        ("1/logged_models/m-1", None),
    ],
)
def test_store_paths_follow_databricks_layout(path, owner):
    expected = ArtifactOwner(owner[0], owner[1], owner[2], "1", owner[3]) if owner else None
    assert owner_of(path) == expected


@pytest.mark.parametrize("size", [0, 1, 3 * MiB + 7])
def test_round_trip_lands_at_the_run_s_artifact_root(databricks, size):
    data = os.urandom(size)
    since = len(databricks.storage.records)

    async def go():
        async with backend(databricks.host) as db:
            exp, run_id = await new_run(db)
            path = f"{exp}/{run_id}/artifacts/sub dir/file.bin"
            assert await db.artifact_store.write(path, chunks(data[: size // 2], data[size // 2 :])) == size
            return exp, run_id, await read_all(db.artifact_store, path)

    exp, run_id, back = run(go())
    assert back == data
    assert databricks.stored(exp, run_id, "artifacts", "sub dir", "file.bin") == data
    assert (
        databricks.stored_object(exp, run_id, "artifacts", "sub dir", "file.bin")["ServerSideEncryption"]
        == SSE_HEADER[1]
    )
    requests = _storage_requests(databricks, since)
    assert [r.method for r in requests] == ["PUT", "GET"]
    # The signed URL was the only credential: the workspace's token never went to storage.
    assert all(r.rejection is None and "authorization" not in r.headers for r in requests)
    assert requests[0].headers["content-length"] == str(size)  # S3 refuses chunked PUTs


def test_overwrite_replaces_and_listing_shows_the_tree(databricks):
    async def go():
        async with backend(databricks.host) as db:
            store = db.artifact_store
            exp, run_id = await new_run(db)
            root = f"{exp}/{run_id}/artifacts"
            for name in ("a.txt", "d/b.txt", "d/e/c.txt", "d/e/f.txt"):
                await store.write(f"{root}/{name}", chunks(b"first"))
            await store.write(f"{root}/a.txt", chunks(b"second"))
            databricks.standin.list_page_size = 1  # every listing pages
            return (
                root,
                await read_all(store, f"{root}/a.txt"),
                await store.list(root),
                await store.list(f"{root}/d"),
                await store.list(f"{root}/a.txt"),
                await store.list(f"{root}/missing"),
                await store.list(f"{exp}/{run_id}"),
                await store.stat(f"{root}/d/b.txt"),
                await store.stat(f"{root}/d"),
                await store.stat(f"{root}/nope"),
            )

    root, content, top, sub, of_file, missing, above, file_info, dir_info, none = run(go())
    assert content == b"second"
    assert [(f.path, f.is_dir, f.file_size) for f in top] == [
        (f"{root}/a.txt", False, 6),
        (f"{root}/d", True, None),
    ]
    assert [f.path for f in sub] == [f"{root}/d/b.txt", f"{root}/d/e"]
    assert of_file == missing == above == []
    assert (file_info.is_dir, file_info.file_size) == (False, 5)
    assert dir_info.is_dir and none is None


def test_reading_a_missing_file_fails_at_the_first_chunk(databricks):
    async def go():
        async with backend(databricks.host) as db:
            exp, run_id = await new_run(db)
            reader = db.artifact_store.read(f"{exp}/{run_id}/artifacts/never-written")
            with pytest.raises(ApiError) as info:
                await reader.__anext__()
            return info.value

    assert run(go()).error_code == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize("path", ["1/abc", "notes.txt", "1/abc/artifacts", "1/abc/artifacts/../../x"])
def test_paths_outside_any_artifact_root_are_refused_before_anything_is_sent(databricks, path):
    since = len(databricks.workspace.records)

    async def go():
        async with backend(databricks.host) as db:
            with pytest.raises(ApiError) as read:
                db.artifact_store.read(path)
            with pytest.raises(ApiError) as write:
                await db.artifact_store.write(path, chunks(b"x"))
            return read.value, write.value

    for error in run(go()):
        assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert not [r for r in databricks.workspace.records[since:] if "artifacts" in r.path]


def test_a_failing_stream_leaves_nothing_and_asks_for_no_credential(databricks):
    since = len(databricks.workspace.records)

    async def go():
        async with backend(databricks.host) as db:
            exp, run_id = await new_run(db)
            with pytest.raises(RuntimeError):
                await db.artifact_store.write(f"{exp}/{run_id}/artifacts/f", failing_after(b"x" * MiB))
            return await db.artifact_store.list(f"{exp}/{run_id}/artifacts")

    assert run(go()) == []
    assert not [r for r in databricks.workspace.records[since:] if "credentials" in r.path]


def test_an_expired_signed_url_is_renewed_once(databricks):
    since = len(databricks.workspace.records)
    databricks.storage.inject(
        "PUT", r"/expiring\.txt$", Respond(403, b"<Error><Code>AccessDenied</Code></Error>")
    )

    async def go():
        async with backend(databricks.host) as db:
            exp, run_id = await new_run(db)
            await db.artifact_store.write(f"{exp}/{run_id}/artifacts/expiring.txt", chunks(b"made it"))
            return exp, run_id

    exp, run_id = run(go())
    assert databricks.stored(exp, run_id, "artifacts", "expiring.txt") == b"made it"
    asked = [r for r in databricks.workspace.records[since:] if r.path.endswith("credentials-for-write")]
    assert len(asked) == 2


def test_storage_that_keeps_refusing_is_permission_denied_without_the_url(databricks):
    denied = Respond(403, b"<Error><Code>AccessDenied</Code></Error>")
    databricks.storage.inject("GET", r"/guarded\.txt$", denied, denied)

    async def go():
        async with backend(databricks.host) as db:
            exp, run_id = await new_run(db)
            await db.artifact_store.write(f"{exp}/{run_id}/artifacts/guarded.txt", chunks(b"x"))
            with pytest.raises(ApiError) as info:
                await read_all(db.artifact_store, f"{exp}/{run_id}/artifacts/guarded.txt")
            return info.value

    error = run(go())
    assert error.error_code == "PERMISSION_DENIED" and "HTTP 403" in error.message
    assert "X-Amz" not in error.message and "http" not in error.message


def test_throttled_storage_is_retried(databricks):
    databricks.storage.inject("PUT", r"/busy\.txt$", Respond(503, b"SlowDown"), Respond(503, b"SlowDown"))

    async def go():
        async with backend(databricks.host) as db:
            exp, run_id = await new_run(db)
            await db.artifact_store.write(f"{exp}/{run_id}/artifacts/busy.txt", chunks(b"eventually"))
            return exp, run_id

    exp, run_id = run(go())
    assert databricks.stored(exp, run_id, "artifacts", "busy.txt") == b"eventually"


def test_deleting_is_not_something_databricks_offers(databricks):
    async def go():
        async with backend(databricks.host) as db:
            with pytest.raises(ApiError) as info:
                await db.artifact_store.delete("1/abc/artifacts/x")
            return info.value

    error = run(go())
    assert error.error_code == "NOT_IMPLEMENTED" and "Databricks" in error.message


def test_large_files_go_through_databricks_multipart_upload(databricks):
    data = os.urandom(12 * MiB + 3)
    since = len(databricks.workspace.records)
    storage_since = len(databricks.storage.records)

    async def go():
        async with backend(
            databricks.host, artifact_part_size=5 * MiB, artifact_multipart_threshold=6 * MiB
        ) as db:
            exp, run_id = await new_run(db)
            await db.artifact_store.write(f"{exp}/{run_id}/artifacts/big.bin", chunks(data))
            return exp, run_id, await read_all(db.artifact_store, f"{exp}/{run_id}/artifacts/big.bin")

    exp, run_id, back = run(go())
    assert hashlib.md5(back).hexdigest() == hashlib.md5(data).hexdigest()
    assert databricks.stored_object(exp, run_id, "artifacts", "big.bin")["ETag"].strip('"').endswith("-3")
    calls = [
        r.path.rsplit("/", 1)[1] for r in databricks.workspace.records[since:] if "/artifacts/" in r.path
    ]
    assert "create-multipart-upload" in calls and "complete-multipart-upload" in calls
    created = next(
        r for r in databricks.workspace.records[since:] if r.path.endswith("create-multipart-upload")
    )
    assert created.json() == {"run_id": run_id, "path": "big.bin", "num_parts": 3}
    puts = [r for r in _storage_requests(databricks, storage_since) if r.method == "PUT"]
    assert len(puts) == 3 and all("partNumber=" in r.query for r in puts)


def test_a_failed_multipart_upload_is_aborted(databricks):
    refused = Respond(400, b"<Error><Code>InvalidArgument</Code></Error>")
    databricks.storage.inject("PUT", r"/doomed\.bin$", Respond(200, b"", {"ETag": '"e1"'}), refused)

    async def go():
        async with backend(
            databricks.host, artifact_part_size=5 * MiB, artifact_multipart_threshold=6 * MiB
        ) as db:
            exp, run_id = await new_run(db)
            with pytest.raises(ApiError):
                await db.artifact_store.write(
                    f"{exp}/{run_id}/artifacts/doomed.bin", chunks(os.urandom(11 * MiB))
                )
            return exp, run_id

    exp, run_id = run(go())
    key = databricks.standin.key(exp, run_id, "artifacts", "doomed.bin")
    s3 = databricks.moto.client("s3")
    assert not s3.list_objects_v2(Bucket="flowport-databricks-root", Prefix=key).get("Contents")
    open_uploads = s3.list_multipart_uploads(Bucket="flowport-databricks-root", Prefix=key).get("Uploads", [])
    assert open_uploads == []
    assert [r.method for r in databricks.storage.records if r.path.endswith("doomed.bin")][-1] == "DELETE"


def test_logged_model_artifacts_use_the_logged_model_credentials(databricks):
    since = len(databricks.workspace.records)

    async def go():
        async with backend(databricks.host) as db:
            exp, _ = await new_run(db)
            model = await db.invoke("CreateLoggedModel", tracking_pb2.CreateLoggedModel(experiment_id=exp))
            info = model.model.info
            # The OSS server names the folder `models/`; Databricks, `logged_models/`: both are understood.
            path = info.artifact_uri.removeprefix("mlflow-artifacts:/") + "/MLmodel"
            await db.artifact_store.write(path, chunks(b"flavors: {}\n"))
            listed = await db.artifact_store.list(path.rsplit("/", 1)[0])
            return exp, info.model_id, path, listed, await read_all(db.artifact_store, path)

    exp, model_id, path, listed, back = run(go())
    assert back == b"flavors: {}\n" and [f.path for f in listed] == [path]
    assert databricks.stored(exp, "logged_models", model_id, "artifacts", "MLmodel") == back
    paths = [r.path for r in databricks.workspace.records[since:]]
    assert f"/api/2.0/mlflow/logged-models/{model_id}/artifacts/credentials-for-upload" in paths
    assert f"/api/2.0/mlflow/logged-models/{model_id}/artifacts/credentials-for-download" in paths


def test_trace_data_uses_the_trace_credentials(databricks):
    trace_id = f"tr-{uuid.uuid4().hex}"

    async def go():
        async with backend(databricks.host) as db:
            exp, _ = await new_run(db)
            info = tracing_pb2.TraceInfoV3(trace_id=trace_id, state=tracing_pb2.TraceInfoV3.OK)
            info.trace_location.type = info.trace_location.MLFLOW_EXPERIMENT
            info.trace_location.mlflow_experiment.experiment_id = exp
            info.request_time.GetCurrentTime()
            started = await db.invoke(
                "StartTraceV3", tracing_pb2.StartTraceV3(trace=tracing_pb2.Trace(trace_info=info))
            )
            location = started.trace.trace_info.tags["mlflow.artifactLocation"]
            path = location.removeprefix("mlflow-artifacts:/") + "/traces.json"
            await db.artifact_store.write(path, chunks(b'{"spans": []}'))
            return exp, await read_all(db.artifact_store, path)

    exp, back = run(go())
    assert back == b'{"spans": []}'
    assert databricks.stored(exp, trace_id, "artifacts", "traces.json") == back


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    from tests.fixtures.azurite import run_azurite

    with run_azurite(tmp_path_factory.mktemp("dbx-azurite")) as server:
        server.create_container("dbx-root")
        yield server


def test_azure_workspaces_hand_out_blob_sas_uris(databricks, azurite):
    data = os.urandom(3 * MiB + 11)
    databricks.standin.azure = AzureBlobRoot(
        azurite.account_url, azurite.account_name, azurite.account_key, "dbx-root"
    )

    async def go():
        async with backend(databricks.host) as db:
            exp, run_id = await new_run(db)
            path = f"{exp}/{run_id}/artifacts/model/weights.bin"
            await db.artifact_store.write(path, chunks(data))
            return exp, run_id, await read_all(db.artifact_store, path)

    try:
        exp, run_id, back = run(go())
    finally:
        databricks.standin.azure = None
    assert back == data
    blob = azurite.service_client().get_blob_client(
        "dbx-root", databricks.standin.key(exp, run_id, "artifacts", "model", "weights.bin")
    )
    assert blob.download_blob().readall() == data


# A write-then-read of `megabytes` MiB through the store in a fresh process, which reports its peak
# RSS growth (VmHWM: ru_maxrss would carry over the big parent's across exec).
_MEMORY_SCRIPT = """
import asyncio, hashlib, json, os, sys
from flowport.adapters.databricks.backend import DatabricksBackend
from flowport.v1 import tracking_pb2

def peak_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

async def main(host, token, megabytes, warmup):
    db = DatabricksBackend("mem", sdk_options={"host": host, "token": token})
    await db.start()
    exp = await db.invoke("CreateExperiment", tracking_pb2.CreateExperiment(name=os.urandom(6).hex()))
    run = await db.invoke("CreateRun", tracking_pb2.CreateRun(experiment_id=exp.experiment_id))
    root = f"{exp.experiment_id}/{run.run.info.run_id}/artifacts"
    block = os.urandom(1 << 20)

    async def round_trip(name, count):
        async def chunks():
            for _ in range(count):
                yield block
        written = await db.artifact_store.write(f"{root}/{name}", chunks())
        digest, size = hashlib.md5(), 0
        async for chunk in db.artifact_store.read(f"{root}/{name}"):
            digest.update(chunk)
            size += len(chunk)
        return written, size, digest.hexdigest()

    await round_trip("warmup.bin", warmup)
    before = peak_kib()
    written, size, digest = await round_trip("big.bin", megabytes)
    after = peak_kib()
    expected = hashlib.md5()
    for _ in range(megabytes):
        expected.update(block)
    await db.close()
    ok = digest == expected.hexdigest()
    print(json.dumps({"written": written, "size": size, "ok": ok, "growth_kib": after - before}))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""


def test_memory_stays_bounded_for_a_large_artifact(databricks):
    megabytes = 64
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, databricks.host, PAT, str(megabytes), "12"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DATABRICKS_CONFIG_FILE": "/nonexistent/databrickscfg"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["written"] == report["size"] == megabytes * MiB and report["ok"]
    # Spooled to disk past 8 MiB and streamed back: far less than the 64 MiB that went through.
    assert report["growth_kib"] < 32 * 1024, report
