"""Tests of the `s3` store against moto's S3 server: the shared conformance suite, at a bucket's root and
under a key prefix, plus what only S3 has (parts, presigned URLs, its error codes, confinement to a prefix).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import urllib.parse
import uuid
from collections.abc import AsyncIterator

import boto3
import botocore.session
import httpx
import pytest
from botocore.credentials import CredentialResolver
from botocore.stub import Stubber

from flowport.adapters.artifact_store import FileInfo
from flowport.adapters.artifacts.s3 import MIN_PART_SIZE, S3ArtifactStore
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
from tests.fixtures.moto import ACCESS_KEY, REGION, SECRET_KEY, run_moto
from tests.fixtures.processes import free_port

# S3's smallest part: the most parts, and the most multipart code, per byte the tests send.
PART = MIN_PART_SIZE
PREFIX = "team/artifacts"


@pytest.fixture(scope="session")
def moto_server():
    with run_moto() as moto:
        yield moto


@pytest.fixture(scope="session")
def s3(moto_server):
    """A plain boto3 client: the tests' own view of the bucket, independent of the store."""
    return moto_server.client("s3")


@pytest.fixture(scope="session")
def aws_session(moto_server) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=moto_server.access_key,
        aws_secret_access_key=moto_server.secret_key,
        region_name=moto_server.region,
    )


@pytest.fixture
def bucket(s3):
    name = f"flowport-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    yield name
    # moto keeps objects in this process: empty the bucket so that a long session stays small.
    for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    for key in all_keys(s3, name):
        s3.delete_object(Bucket=name, Key=key)
    s3.delete_bucket(Bucket=name)


def all_keys(s3, bucket: str) -> list[str]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return sorted(keys)


def pending(s3, bucket: str) -> list[str]:
    return sorted(u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def object_bytes(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def make_store(moto_server, session, root: str, **options) -> S3ArtifactStore:
    options.setdefault("part_size", PART)
    return S3ArtifactStore(root, session=session, endpoint_url=moto_server.endpoint_url, **options)


@pytest.fixture(params=["", PREFIX], ids=["bucket-root", "prefix-root"])
def store(request, bucket, moto_server, aws_session):
    root = f"s3://{bucket}/{request.param}" if request.param else f"s3://{bucket}"
    store = make_store(moto_server, aws_session, root)
    yield store
    run(store.close())


@pytest.fixture
def root_store(bucket, moto_server, aws_session):
    """A store at the root of the bucket, for tests that look at exact keys."""
    store = make_store(moto_server, aws_session, f"s3://{bucket}")
    yield store
    run(store.close())


class TestS3ArtifactStoreContract(ArtifactStoreContract):
    # Two whole parts before the failure: the write has a multipart upload under way to abort.
    bytes_before_failure = 2 * PART + (1 << 20)
    min_part_size = MIN_PART_SIZE

    @pytest.fixture(autouse=True)
    def _client(self, s3):
        self.s3 = s3

    def stored(self, store: S3ArtifactStore) -> list[str]:
        # Every key in the bucket: one outside the store's prefix would be an escape.
        root = f"{store.prefix}/" if store.prefix else ""
        return sorted(
            key[len(root) :] if key.startswith(root) else f"../{key}"
            for key in all_keys(self.s3, store.bucket)
        )

    def pending_uploads(self, store: S3ArtifactStore) -> list[str]:
        return pending(self.s3, store.bucket)


# --- construction -----------------------------------------------------------------------------


def test_root_uri_and_options():
    session = boto3.Session(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x", region_name=REGION)
    for uri, bucket, prefix in [
        ("s3://my-bucket", "my-bucket", ""),
        ("s3://my-bucket/", "my-bucket", ""),
        ("s3://my-bucket/team/runs", "my-bucket", "team/runs"),
        ("s3://my-bucket//team/./runs/", "my-bucket", "team/runs"),
    ]:
        store = S3ArtifactStore.from_uri(uri, session=session)
        assert (store.bucket, store.prefix) == (bucket, prefix), uri
        assert store.root_uri == (f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}")
        run(store.close())
    assert S3ArtifactStore.scheme == "s3"
    for bad in [
        "gs://bucket/x",
        "file:///srv",
        "s3://",
        "s3://ab",
        "s3://bad..bucket",
        "s3://user:secret@bucket",
        "s3://bucket/../escape",
        "s3://bucket/a/%2e%2e/b",
        "s3://bucket/x?versionId=1",
    ]:
        with pytest.raises(ApiError) as excinfo:
            S3ArtifactStore(bad, session=session)
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE", bad
    for options in [{"part_size": PART - 1}, {"part_size": (5 << 30) + 1}, {"max_threads": 0}]:
        with pytest.raises(ApiError) as excinfo:
            S3ArtifactStore("s3://bucket", session=session, **options)
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE", options


# --- parts --------------------------------------------------------------------------------------


def test_large_write_goes_through_multipart(root_store, s3, bucket):
    rng = random.Random(11)
    data = rng.randbytes(3 * PART + 12345)
    # Odd chunk sizes, so that part boundaries fall inside chunks.
    pieces = [data[i : i + 777_777] for i in range(0, len(data), 777_777)]

    assert run(root_store.write("big/model.bin", stream(pieces))) == len(data)

    head = s3.head_object(Bucket=bucket, Key="big/model.bin")
    assert head["ContentLength"] == len(data)
    # A multipart object's ETag ends with its part count; a part closes at the first chunk
    # boundary past part_size (7 chunks here), so 15.7 MB went up in three parts.
    assert head["ETag"].strip('"').endswith("-3")
    assert hashlib.sha256(object_bytes(s3, bucket, "big/model.bin")).digest() == hashlib.sha256(data).digest()
    assert pending(s3, bucket) == []


def test_small_write_is_one_put(root_store, s3, bucket):
    data = b"s" * (PART - 1)
    run(root_store.write("small", stream([data[:10], data[10:]])))
    assert s3.head_object(Bucket=bucket, Key="small")["ETag"].strip('"') == md5(data)  # no "-N": one PUT
    assert object_bytes(s3, bucket, "small") == data


def test_write_of_exactly_whole_parts(root_store, s3, bucket):
    data = random.Random(5).randbytes(2 * PART)
    run(root_store.write("even", stream([data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)])))
    assert s3.head_object(Bucket=bucket, Key="even")["ETag"].strip('"').endswith("-2")  # no empty third part
    assert object_bytes(s3, bucket, "even") == data


def test_failed_large_write_aborts_its_upload(root_store, s3, bucket):
    run(root_store.write("model.bin", stream([b"old"])))
    seen_during_write = []

    async def fails_after_two_parts() -> AsyncIterator[bytes]:
        for _ in range(2):
            yield b"p" * PART
        yield b"more"
        seen_during_write.append(pending(s3, bucket))  # the upload the failure must undo
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        run(root_store.write("model.bin", fails_after_two_parts()))
    assert seen_during_write == [["model.bin"]]
    assert pending(s3, bucket) == []
    assert all_keys(s3, bucket) == ["model.bin"]
    assert object_bytes(s3, bucket, "model.bin") == b"old"


def test_cancelled_large_write_aborts_its_upload(root_store, s3, bucket):
    async def scenario():
        started = asyncio.Event()

        async def stalls() -> AsyncIterator[bytes]:
            yield b"c" * PART
            yield b"c" * 10
            started.set()
            await asyncio.Event().wait()  # never comes
            yield b"unreachable"

        task = asyncio.create_task(root_store.write("c/file", stalls()))
        await started.wait()
        in_flight = await asyncio.to_thread(pending, s3, bucket)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return in_flight

    assert run(scenario()) == ["c/file"]
    assert pending(s3, bucket) == []
    assert all_keys(s3, bucket) == []


def test_upload_part_larger_than_part_size(root_store, s3, bucket):
    # Beyond part_size a part is spooled to disk: the bytes and the etag must not change for it.
    rng = random.Random(8)
    first, last = rng.randbytes(2 * PART + 3), rng.randbytes(1000)

    async def scenario():
        upload_id = await root_store.create_multipart_upload("p", 2)
        e1 = await root_store.upload_part(
            "p", upload_id, 1, stream([first[i : i + 65536] for i in range(0, len(first), 65536)])
        )
        e2 = await root_store.upload_part("p", upload_id, 2, stream([last]))
        assert (e1, e2) == (md5(first), md5(last))
        await root_store.complete_multipart_upload("p", upload_id, [(1, e1), (2, e2)])

    run(scenario())
    assert object_bytes(s3, bucket, "p") == first + last


def test_multipart_upload_ids(root_store, s3, bucket):
    async def scenario():
        upload_id = await root_store.create_multipart_upload("f", 3)
        count, _, s3_id = upload_id.partition(".")
        assert count == "3"
        assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [s3_id]
        cases = [
            (root_store.upload_part("f", s3_id, 1, stream([b"x"])), "INVALID_PARAMETER_VALUE"),
            (root_store.upload_part("f", "0." + s3_id, 1, stream([b"x"])), "INVALID_PARAMETER_VALUE"),
            (root_store.upload_part("f", "10001." + s3_id, 1, stream([b"x"])), "INVALID_PARAMETER_VALUE"),
            (root_store.upload_part("f", "3.a\nb", 1, stream([b"x"])), "INVALID_PARAMETER_VALUE"),
            (root_store.abort_multipart_upload("f", None), "INVALID_PARAMETER_VALUE"),
            (root_store.upload_part("f", "3.NoSuchUploadHere", 1, stream([b"x"])), "RESOURCE_DOES_NOT_EXIST"),
            (
                root_store.complete_multipart_upload("f", "1.NoSuchUploadHere", [(1, md5(b""))]),
                "RESOURCE_DOES_NOT_EXIST",
            ),
            (root_store.abort_multipart_upload("f", "3.NoSuchUploadHere"), "RESOURCE_DOES_NOT_EXIST"),
        ]
        for attempt, code in cases:
            with pytest.raises(ApiError) as excinfo:
                await attempt
            assert excinfo.value.error_code == code
        await root_store.abort_multipart_upload("f", upload_id)

    run(scenario())
    assert pending(s3, bucket) == []


# --- confinement ------------------------------------------------------------------------------

NEIGHBOURS = {
    "secret.txt": b"bucket root",
    "team/secret.txt": b"beside the prefix",
    "team/artifacts-sibling/x": b"a sibling sharing the prefix as a string",
    "team/artifactsx": b"another one",
}


def test_prefix_root_confines_paths(bucket, s3, moto_server, aws_session):
    for key, body in NEIGHBOURS.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    store = make_store(moto_server, aws_session, f"s3://{bucket}/{PREFIX}")

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
        assert await read_all(store, "run/model.bin") == b"mine"
        await store.delete("run")
        with pytest.raises(ApiError) as excinfo:
            await store.delete("run")
        assert excinfo.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        await store.close()

    run(scenario())
    assert all_keys(s3, bucket) == sorted(NEIGHBOURS)
    for key, body in NEIGHBOURS.items():
        assert object_bytes(s3, bucket, key) == body


def test_keys_no_path_could_name_are_not_listed(root_store, s3, bucket):
    # Objects written by other tools: a console "folder" marker, an empty segment, names that
    # normalize_artifact_path refuses. Listing them would hand out paths that fail on use.
    for key in ["d/", "d/ok.txt", "d//double", "d/..", "d/./x", "d/%2e%2e", "d/a%2fb", "d/back\\slash"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert run(root_store.list("d")) == [FileInfo("d/ok.txt", False, 1)]
    assert run(root_store.stat("d")) == FileInfo("d", True, None)
    run(root_store.delete("d"))  # everything under the prefix goes, whatever its name
    assert all_keys(s3, bucket) == []


# --- presigned URLs ---------------------------------------------------------------------------


def test_presigned_get_and_put_work_with_plain_http(store, s3):
    data = random.Random(4).randbytes(100_000)
    run(store.write("shared/model.bin", stream([data])))

    get_url = run(store.presigned_url("shared/model.bin", "GET", 300))
    assert "X-Amz-Signature=" in get_url and "X-Amz-Expires=300" in get_url  # SigV4, not SigV2
    assert SECRET_KEY not in get_url
    response = httpx.get(get_url)
    assert response.status_code == 200
    assert response.content == data
    # A browser given the URL saves the file instead of rendering it on the bucket's origin: S3 sends
    # the signed response-content-disposition back as the header (moto ignores it, so the URL is checked).
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(get_url).query)
    assert query["response-content-disposition"] == ['attachment; filename="model.bin"']
    # The client's parallel ranged GETs (MLflow's multipart download) work on the same URL.
    ranged = httpx.get(get_url, headers={"Range": "bytes=1000-1999"})
    assert ranged.status_code == 206 and ranged.content == data[1000:2000]

    put_url = run(store.presigned_url("shared/upload.txt", "put", 60))
    response = httpx.put(put_url, content=b"uploaded by the client itself")
    assert response.status_code == 200, response.text
    assert run(read_all(store, "shared/upload.txt")) == b"uploaded by the client itself"
    # The URL names the key under the store's prefix, never anything beside it.
    key = f"{store.prefix}/shared/upload.txt" if store.prefix else "shared/upload.txt"
    assert object_bytes(s3, store.bucket, key) == b"uploaded by the client itself"


def test_presigned_part_urls_take_plain_http_puts(store, s3):
    """What MLflow's client does with an S3 multipart upload: PUT each part to its presigned URL,
    collect the ETag headers, then ask for the upload to be completed with them."""
    rng = random.Random(21)
    parts = {1: rng.randbytes(PART), 2: rng.randbytes(PART + 7), 3: rng.randbytes(1234)}

    async def scenario():
        upload_id = await store.create_multipart_upload("models/big.bin", 3)
        urls = {n: await store.presigned_part_url("models/big.bin", upload_id, n, 600) for n in parts}
        assert all("X-Amz-Signature=" in url and "X-Amz-Expires=600" in url for url in urls.values())
        assert not any(SECRET_KEY in url or upload_id in url for url in urls.values())  # S3's id only
        etags = {}
        for n in (3, 1, 2):  # parts arrive in any order
            response = await asyncio.to_thread(httpx.put, urls[n], content=parts[n])
            assert response.status_code == 200, response.text
            etags[n] = response.headers["etag"]
        assert {n: e.strip('"') for n, e in etags.items()} == {n: md5(b) for n, b in parts.items()}
        await store.complete_multipart_upload("models/big.bin", upload_id, sorted(etags.items()))
        return await read_all(store, "models/big.bin")

    expected = parts[1] + parts[2] + parts[3]
    assert run(scenario()) == expected
    key = f"{store.prefix}/models/big.bin" if store.prefix else "models/big.bin"
    assert object_bytes(s3, store.bucket, key) == expected
    assert pending(s3, store.bucket) == []


def test_presigned_part_url_arguments(root_store, s3, bucket):
    async def scenario():
        upload_id = await root_store.create_multipart_upload("f", 2)
        _, _, s3_id = upload_id.partition(".")
        for args in [
            ("f", upload_id, 0, 60),
            ("f", upload_id, 3, 60),  # the upload was announced with two parts
            ("f", upload_id, True, 60),
            ("f", upload_id, "1", 60),
            ("f", s3_id, 1, 60),  # S3's id without our part count
            ("f", "2.a\nb", 1, 60),
            ("f", upload_id, 1, 0),
            ("f", upload_id, 1, 7 * 24 * 3600 + 1),
            ("f", upload_id, 1, "60"),
            ("", upload_id, 1, 60),
            *((path, upload_id, 1, 60) for path in TRAVERSAL_PATHS),
        ]:
            with pytest.raises(ApiError) as excinfo:
                await root_store.presigned_part_url(*args)
            assert error_code(excinfo) == "INVALID_PARAMETER_VALUE", args
        await root_store.abort_multipart_upload("f", upload_id)

    run(scenario())
    assert pending(s3, bucket) == []


def test_presigned_url_arguments(root_store):
    for args in [
        ("f", "DELETE", 60),
        ("f", "POST", 60),
        ("f", "GET", 0),
        ("f", "GET", 7 * 24 * 3600 + 1),
        ("f", "GET", "60"),
        ("", "GET", 60),
        ("../f", "GET", 60),
    ]:
        with pytest.raises(ApiError) as excinfo:
            run(root_store.presigned_url(*args))
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE", args


# --- errors -------------------------------------------------------------------------------------


def test_missing_bucket_names_the_bucket(moto_server, aws_session):
    store = make_store(moto_server, aws_session, "s3://flowport-no-such-bucket/some/prefix")
    for attempt in (
        store.list(""),
        read_all(store, "f"),
        store.write("f", stream([b"x"])),
        store.delete("f"),
    ):
        with pytest.raises(ApiError) as excinfo:
            run(attempt)
        assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST"
        assert "flowport-no-such-bucket" in excinfo.value.message
    run(store.close())


@pytest.mark.parametrize(
    ("s3_code", "status", "expected"),
    [
        ("NoSuchKey", 404, "RESOURCE_DOES_NOT_EXIST"),
        ("AccessDenied", 403, "PERMISSION_DENIED"),
        ("InvalidAccessKeyId", 403, "PERMISSION_DENIED"),
        ("SignatureDoesNotMatch", 403, "PERMISSION_DENIED"),
        ("ExpiredToken", 400, "PERMISSION_DENIED"),
        ("SlowDown", 503, "TEMPORARILY_UNAVAILABLE"),
        ("InternalError", 500, "TEMPORARILY_UNAVAILABLE"),
        ("ServiceUnavailable", 503, "TEMPORARILY_UNAVAILABLE"),
        ("Throttling", 400, "TEMPORARILY_UNAVAILABLE"),
        ("SomethingNew", 502, "TEMPORARILY_UNAVAILABLE"),
        ("SomethingNew", 400, "INTERNAL_ERROR"),
    ],
)
def test_s3_errors_map_to_mlflow_codes(moto_server, aws_session, s3_code, status, expected):
    # botocore's Stubber answers as S3 would (moto cannot be told to deny or to throttle); the
    # message S3 sends may quote request details, so it carries a marker that must not leak.
    store = make_store(moto_server, aws_session, f"s3://some-bucket/{PREFIX}")
    stubber = Stubber(store._client)
    leaked = f"StringToSign ... {ACCESS_KEY} {SECRET_KEY}"
    attempts = [lambda: read_all(store, "f")]
    stubber.add_client_error("get_object", s3_code, leaked, status)
    if status != 404:  # a missing object is no error for stat, nor possible for a write
        attempts += [lambda: store.stat("f"), lambda: store.write("f", stream([b"x"]))]
        stubber.add_client_error("head_object", s3_code, leaked, status)
        stubber.add_client_error("put_object", s3_code, leaked, status)
    with stubber:
        for attempt in attempts:
            with pytest.raises(ApiError) as excinfo:
                run(attempt())
            assert error_code(excinfo) == expected
            message = excinfo.value.message
            assert ACCESS_KEY not in message and SECRET_KEY not in message and "StringToSign" not in message
            assert PREFIX not in message  # the client sees its own path, not our key layout
    run(store.close())


def test_delete_objects_errors_are_not_swallowed(root_store, s3, bucket):
    run(root_store.write("d/a", stream([b"a"])))
    # S3 answers DeleteObjects with 200 and the keys it could not delete in the body.
    stubber = Stubber(root_store._client)
    stubber.add_client_error("head_object", "404", "Not Found", 404)
    stubber.add_response(
        "list_objects_v2", {"Contents": [{"Key": "d/a", "Size": 1}], "KeyCount": 1, "IsTruncated": False}
    )
    stubber.add_response(
        "delete_objects", {"Errors": [{"Key": "d/a", "Code": "AccessDenied", "Message": "no"}]}
    )
    with stubber, pytest.raises(ApiError) as excinfo:
        run(root_store.delete("d"))
    assert error_code(excinfo) == "PERMISSION_DENIED"
    assert all_keys(s3, bucket) == ["d/a"]


def test_multipart_without_permission_to_list_parts(root_store):
    # Many bucket policies grant PutObject but not ListMultipartUploadParts: uploads must still work,
    # with S3's own check of the part list on completion.
    etag = md5(b"part")
    stubber = Stubber(root_store._client)
    stubber.add_response("create_multipart_upload", {"UploadId": "abc"})
    stubber.add_client_error("list_parts", "AccessDenied", "denied", 403)
    stubber.add_response("upload_part", {"ETag": f'"{etag}"'})
    stubber.add_client_error("list_parts", "AccessDenied", "denied", 403)
    stubber.add_response(
        "complete_multipart_upload",
        {},
        {
            "Bucket": root_store.bucket,
            "Key": "f",
            "UploadId": "abc",
            "MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": f'"{etag}"'}]},
        },
    )
    stubber.add_client_error("list_parts", "AccessDenied", "denied", 403)
    stubber.add_client_error("complete_multipart_upload", "InvalidPart", "no such part", 400)

    async def scenario():
        upload_id = await root_store.create_multipart_upload("f", 1)
        assert upload_id == "1.abc"
        assert await root_store.upload_part("f", upload_id, 1, stream([b"part"])) == etag
        await root_store.complete_multipart_upload("f", upload_id, [(1, etag)])
        with pytest.raises(ApiError) as excinfo:
            await root_store.complete_multipart_upload("f", upload_id, [(1, md5(b"other"))])
        return error_code(excinfo)

    with stubber:
        assert run(scenario()) == "INVALID_PARAMETER_VALUE"
    stubber.assert_no_pending_responses()


def test_unreachable_endpoint_is_temporarily_unavailable(aws_session):
    store = S3ArtifactStore(
        "s3://bucket", session=aws_session, endpoint_url=f"http://127.0.0.1:{free_port()}"
    )
    with pytest.raises(ApiError) as excinfo:
        run(store.stat("f"))
    assert error_code(excinfo) == "TEMPORARILY_UNAVAILABLE"
    run(store.close())


def test_missing_credentials_are_a_server_error(moto_server, bucket):
    core = botocore.session.Session()
    core.register_component("credential_provider", CredentialResolver([]))  # finds nothing, anywhere
    store = make_store(
        moto_server, boto3.Session(botocore_session=core, region_name=REGION), f"s3://{bucket}"
    )
    with pytest.raises(ApiError) as excinfo:
        run(store.list(""))
    assert error_code(excinfo) == "INTERNAL_ERROR"
    assert bucket in excinfo.value.message and "NoCredentialsError" in excinfo.value.message
    run(store.close())


# --- threads and memory ------------------------------------------------------------------------


def test_boto3_runs_only_in_the_bounded_pool(moto_server, bucket):
    session = boto3.Session(
        aws_access_key_id=moto_server.access_key,
        aws_secret_access_key=moto_server.secret_key,
        region_name=moto_server.region,
    )
    threads: set[str] = set()
    session.events.register("before-call.s3", lambda **_: threads.add(threading.current_thread().name))
    store = make_store(moto_server, session, f"s3://{bucket}", max_threads=2)

    async def scenario():
        await asyncio.gather(*(store.write(f"f{i}", stream([b"x" * i])) for i in range(12)))
        await asyncio.gather(*(read_all(store, f"f{i}") for i in range(12)))
        await store.list("")
        await store.stat("f3")
        await store.presigned_url("f3", "GET", 60)
        await store.delete("f3")

    run(scenario())
    run(store.close())
    assert threads and all(name.startswith("flowport-s3") for name in threads), threads
    assert len(threads) <= 2


def test_peak_memory_stays_bounded(moto_server, bucket, s3):
    megabytes = 64
    setup = """
    import boto3
    from flowport.adapters.artifacts.s3 import S3ArtifactStore

    endpoint, bucket, access_key, secret_key, region = sys.argv[1:]
    session = boto3.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
    )
    store = S3ArtifactStore(f"s3://{bucket}", session=session, endpoint_url=endpoint)  # default 8 MiB parts
    """
    args = [
        moto_server.endpoint_url,
        bucket,
        moto_server.access_key,
        moto_server.secret_key,
        moto_server.region,
    ]
    # Warm up with two parts and a read.
    report = measure_round_trip_memory(setup, args, megabytes, warmup_megabytes=12)
    assert report["written"] == report["size"] == megabytes << 20
    assert report["ok"]
    assert s3.head_object(Bucket=bucket, Key="big/file.bin")["ETag"].strip('"').endswith("-8")
    # The peak grew by far less than the 64 MiB that went through
    # (buffering the whole stream instead adds over 100 MiB: the buffer, and the copy it is sent from).
    assert report["growth_kib"] < 32 * 1024, report


def test_closed_store_takes_no_more_calls(root_store):
    run(root_store.write("f", stream([b"x"])))
    run(root_store.close())
    with pytest.raises(RuntimeError):
        run(root_store.stat("f"))


@pytest.mark.parametrize("path", TRAVERSAL_PATHS)
def test_traversal_never_reaches_s3(root_store, path):
    # No request at all: a Stubber with nothing queued fails any call that gets through.
    with Stubber(root_store._client):
        for operation in sorted(OPERATIONS):
            with pytest.raises(ApiError) as excinfo:
                run(OPERATIONS[operation](root_store, path))
            assert error_code(excinfo) == "INVALID_PARAMETER_VALUE", operation
