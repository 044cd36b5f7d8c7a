"""Tests of the `wasbs` store against Azurite: the shared conformance suite, at a container's root and
under a prefix, plus what only Azure Blob has (blocks, SAS URLs, its error codes, confinement to a prefix,
the SAS-URL helpers Azure ML's artifact flow uses).
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import random
import ssl
import threading
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from azure.storage.blob import BlobSasPermissions, generate_blob_sas

from flowport.adapters.artifact_store import FileInfo
from flowport.adapters.artifacts.azure_blob import (
    AzureBlobArtifactStore,
    download_from_blob_url,
    upload_to_blob_url,
)
from flowport.adapters.artifacts.registry import open_artifact_store
from flowport.adapters.backend import BackendConfigError
from flowport.v1.errors import ApiError
from tests.adapters.artifact_store_contract import (
    TRAVERSAL_PATHS,
    ArtifactStoreContract,
    error_code,
    md5,
    measure_round_trip_memory,
    read_all,
    run,
    stream,
)
from tests.fixtures.azurite import ACCOUNT_KEY, ACCOUNT_NAME, Azurite, StorageTokenCredential, run_azurite
from tests.fixtures.processes import free_port

# Small blocks: the most blocks, and the most block code, per byte the tests send.
BLOCK = 1 << 20
PREFIX = "team/artifacts"
HOST = f"{ACCOUNT_NAME}.blob.core.windows.net"
# A key of the right shape that is not the account's: Azurite refuses what it signs.
WRONG_KEY = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc="


@pytest.fixture(scope="module")
def azurite():
    with run_azurite() as server:
        yield server


@pytest.fixture
def container(azurite: Azurite):
    name = f"t{uuid.uuid4().hex[:20]}"
    client = azurite.create_container(name)
    yield name
    client.delete_container()  # Azurite keeps blobs in memory: a long module stays small


def make_store(azurite: Azurite, container: str, prefix: str = "", **options) -> AzureBlobArtifactStore:
    options.setdefault("block_size", BLOCK)
    options.setdefault("account_url", azurite.account_url)
    options.setdefault("account_key", ACCOUNT_KEY)
    root = f"wasbs://{container}@{HOST}" + (f"/{prefix}" if prefix else "")
    return AzureBlobArtifactStore(root, environ={}, **options)


@pytest.fixture(params=["", PREFIX], ids=["container-root", "prefix-root"])
def store(request, azurite, container):
    store = make_store(azurite, container, request.param)
    yield store
    run(store.close())


@pytest.fixture
def root_store(azurite, container):
    """A store at the root of the container, for tests that look at exact blob names."""
    store = make_store(azurite, container)
    yield store
    run(store.close())


def blob_names(azurite: Azurite, container: str) -> list[str]:
    """Committed blobs: what any reader of the container can see."""
    return sorted(b.name for b in azurite.service_client().get_container_client(container).list_blobs())


def blob_bytes(azurite: Azurite, container: str, name: str) -> bytes:
    return azurite.service_client().get_blob_client(container, name).download_blob().readall()


def open_uploads(azurite: Azurite, container: str) -> list[str]:
    """Multipart uploads still open, as '<blob>:<token>': an upload's opening block staged on the
    blob, and neither committed away (completion) nor closed by an abort marker."""
    client = azurite.service_client().get_container_client(container)
    found = []
    for item in client.list_blobs(include=["uncommittedblobs"]):
        _, uncommitted = client.get_blob_client(item.name).get_block_list("uncommitted")
        kinds: dict[str, set[str]] = {}
        for block in uncommitted:
            ident = str(block.id)
            kinds.setdefault(ident[1:13], set()).add(ident[0])
        found += [f"{item.name}:{token}" for token, seen in kinds.items() if "o" in seen and "x" not in seen]
    return sorted(found)


class TestAzureBlobArtifactStoreContract(ArtifactStoreContract):
    # Three whole blocks before the failure: the write has blocks staged when it fails.
    bytes_before_failure = 3 * BLOCK + 1234

    @pytest.fixture(autouse=True)
    def _azurite(self, azurite, container):
        self.azurite, self.container = azurite, container

    def stored(self, store: AzureBlobArtifactStore) -> list[str]:
        # Every committed blob in the container: one outside the store's prefix would be an escape.
        root = f"{store.prefix}/" if store.prefix else ""
        return sorted(
            name[len(root) :] if name.startswith(root) else f"../{name}"
            for name in blob_names(self.azurite, self.container)
        )

    def pending_uploads(self, store: AzureBlobArtifactStore) -> list[str]:
        return open_uploads(self.azurite, self.container)

    def test_concurrent_multipart_uploads(self, store):
        """Azure's rule replaces the suite's "two uploads race for one path, both succeed": committing
        a block list drops every other uncommitted block of that blob, so the upload that completes
        second has lost its parts and is told so (its data is not silently dropped). Uploads to
        different paths do not interfere."""
        rng = random.Random(3)
        targets = ["a/1", "a/2", "b/3", "c/4"]
        contents = [[rng.randbytes(rng.randint(1, 300_000)) for _ in range(3)] for _ in targets]

        async def one(path, parts):
            upload_id = await store.create_multipart_upload(path, len(parts))
            etags = await asyncio.gather(
                *(
                    store.upload_part(path, upload_id, n + 1, stream([p[:7], p[7:]]))
                    for n, p in enumerate(parts)
                )
            )
            return upload_id, list(enumerate(etags, start=1))

        async def scenario():
            uploads = await asyncio.gather(
                *(one(path, parts) for path, parts in zip(targets, contents, strict=True))
            )
            await asyncio.gather(
                *(
                    store.complete_multipart_upload(path, *upload)
                    for path, upload in zip(targets, uploads, strict=True)
                )
            )
            first, second = await one("same", [b"first"]), await one("same", [b"second"])
            await store.complete_multipart_upload("same", *second)
            with pytest.raises(ApiError) as excinfo:
                await store.complete_multipart_upload("same", *first)
            return {path: await read_all(store, path) for path in [*targets, "same"]}, excinfo.value

        got, lost = run(scenario())
        for path, parts in zip(targets, contents, strict=True):
            assert got[path] == b"".join(parts)
        assert got["same"] == b"second"
        assert lost.error_code == "RESOURCE_DOES_NOT_EXIST" and "does not exist" in lost.message
        assert self.pending_uploads(store) == []
        assert run(store.list("")) == [
            FileInfo("a", True, None),
            FileInfo("b", True, None),
            FileInfo("c", True, None),
            FileInfo("same", False, 6),
        ]


# --- construction and credentials ----------------------------------------------------------------


def test_root_uri_and_options():
    for uri, container, account, prefix in [
        (f"wasbs://ctr@{HOST}", "ctr", ACCOUNT_NAME, ""),
        (f"wasbs://ctr@{HOST}/", "ctr", ACCOUNT_NAME, ""),
        ("wasbs://my-ctr@acct01.blob.core.windows.net/team/runs", "my-ctr", "acct01", "team/runs"),
        ("wasb://my-ctr@acct01.blob.core.chinacloudapi.cn//team/./runs/", "my-ctr", "acct01", "team/runs"),
        ("wasbs://ctr@acct01.blob.core.usgovcloudapi.net/x", "ctr", "acct01", "x"),
    ]:
        store = AzureBlobArtifactStore.from_uri(uri, account_key=ACCOUNT_KEY, environ={})
        assert (store.container, store.account, store.prefix) == (container, account, prefix), uri
        assert store.root_uri == uri.split("//", 1)[
            0
        ] + f"//{container}@{uri.split('@')[1].split('/')[0]}" + (f"/{prefix}" if prefix else "")
        assert store.endpoint == "https://" + uri.split("@")[1].split("/")[0]
        assert ACCOUNT_KEY not in repr(store) and ACCOUNT_KEY not in store.root_uri
        run(store.close())
    assert AzureBlobArtifactStore.scheme == "wasbs"
    for bad in [
        "s3://bucket/x",
        "wasbs://ctr",
        f"wasbs://{HOST}/x",  # no container
        f"wasbs://Upper@{HOST}",
        f"wasbs://a--b@{HOST}",
        f"wasbs://ab@{HOST}",
        "wasbs://ctr@example.com/x",
        f"wasbs://ctr@{HOST}/../escape",
        f"wasbs://ctr@{HOST}/a/%2e%2e/b",
        f"wasbs://ctr@{HOST}/x?sv=2024&sig=abc",
    ]:
        with pytest.raises(ApiError) as excinfo:
            AzureBlobArtifactStore(bad, account_key=ACCOUNT_KEY, environ={})
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE", bad
    for options in [
        {"block_size": 0},
        {"block_size": (4000 << 20) + 1},
        {"max_threads": 0},
        {"max_retries": -1},
    ]:
        with pytest.raises(ApiError) as excinfo:
            AzureBlobArtifactStore(f"wasbs://ctr@{HOST}", account_key=ACCOUNT_KEY, environ={}, **options)
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE", options


def test_configuration_mistakes_name_the_option_never_the_secret(azurite):
    root = f"wasbs://ctr@{HOST}"
    for options, expected in [
        ({"account_key": ACCOUNT_KEY, "sas_token": "sv=1&sig=SECRETSIG"}, "give one of"),
        (
            {"connection_string": azurite.connection_string, "account_url": azurite.account_url},
            "drop account_url",
        ),
        ({"connection_string": "not a connection string SECRETSIG"}, "not a valid"),
        ({"connection_string": azurite.connection_string.replace(ACCOUNT_NAME, "otheracct")}, "otheracct"),
        ({"credential": "SECRETSIG"}, "TokenCredential"),
        ({"account_url": "ftp://127.0.0.1/x", "account_key": ACCOUNT_KEY}, "account_url"),
        ({"account_url": azurite.account_url, "credential": StorageTokenCredential()}, "https://"),
        ({"account_url": azurite.account_url}, "DefaultAzureCredential"),  # no credential at all
    ]:
        with pytest.raises(BackendConfigError) as excinfo:
            AzureBlobArtifactStore(root, environ={}, **options)
        message = str(excinfo.value)
        assert expected in message, options
        assert ACCOUNT_KEY not in message and "SECRETSIG" not in message
    with pytest.raises(BackendConfigError) as excinfo:
        open_artifact_store(root, account_key=ACCOUNT_KEY, endpoint_url="http://x", environ={})
    assert "endpoint_url" in str(excinfo.value) and "account_url" in str(excinfo.value)
    # The environment's connection string carries its endpoint: an account_url beside it is a conflict.
    with pytest.raises(BackendConfigError) as excinfo:
        AzureBlobArtifactStore(root, account_url=azurite.account_url, environ=azurite.env)
    assert "AZURE_STORAGE_CONNECTION_STRING" in str(excinfo.value)


def test_connection_string_endpoint_wins_over_the_uri_host(azurite, container):
    """MLflow's convention: with AZURE_STORAGE_CONNECTION_STRING set, the blob endpoint is the
    connection string's (Azurite here), whatever host the wasbs:// URI names."""
    store = AzureBlobArtifactStore(f"wasbs://{container}@{HOST}/runs", environ=azurite.env)
    assert store.endpoint == azurite.account_url
    run(store.write("m/f.txt", stream([b"via the connection string"])))
    assert blob_bytes(azurite, container, "runs/m/f.txt") == b"via the connection string"
    run(store.close())


def test_access_key_from_the_environment(azurite, container):
    store = AzureBlobArtifactStore(
        f"wasbs://{container}@{HOST}",
        account_url=azurite.account_url,
        environ={"AZURE_STORAGE_ACCESS_KEY": ACCOUNT_KEY},
    )
    run(store.write("k", stream([b"key"])))
    assert blob_bytes(azurite, container, "k") == b"key"
    run(store.close())


def test_explicit_options_beat_the_environment(azurite, container):
    # A wrong key in the environment does not matter when the configuration gives a credential.
    store = AzureBlobArtifactStore(
        f"wasbs://{container}@{HOST}",
        connection_string=azurite.connection_string,
        environ={"AZURE_STORAGE_ACCESS_KEY": WRONG_KEY},
    )
    run(store.write("x", stream([b"1"])))
    run(store.close())
    assert blob_names(azurite, container) == ["x"]


def test_open_artifact_store_by_scheme(azurite, container):
    for scheme in ("wasbs", "wasb"):
        store = open_artifact_store(
            f"{scheme}://{container}@{HOST}/{scheme}",
            account_url=azurite.account_url,
            account_key=ACCOUNT_KEY,
            environ={},
        )
        assert isinstance(store, AzureBlobArtifactStore)
        run(store.write("f", stream([scheme.encode()])))
        assert run(read_all(store, "f")) == scheme.encode()
        run(store.close())
    assert blob_names(azurite, container) == ["wasb/f", "wasbs/f"]


def test_sas_token_credential(azurite, container):
    """A store given only a container SAS works, but cannot mint SAS URLs of its own."""
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    sas = generate_container_sas(
        ACCOUNT_NAME,
        container,
        account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, write=True, delete=True, list=True, create=True),
        expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10),
    )
    store = make_store(azurite, container, account_key=None, sas_token=sas)
    run(store.write("d/f", stream([b"sas"])))
    assert run(store.list("d")) == [FileInfo("d/f", False, 3)]
    assert not store.supports_presigned_urls
    with pytest.raises(ApiError) as excinfo:
        run(store.presigned_url("d/f", "GET", 60))
    assert error_code(excinfo) == "NOT_IMPLEMENTED"
    assert "sig=" not in excinfo.value.message
    run(store.close())


# --- blocks --------------------------------------------------------------------------------------


def committed_blocks(azurite: Azurite, container: str, name: str) -> list:
    return azurite.service_client().get_blob_client(container, name).get_block_list("committed")[0]


def test_large_write_is_staged_in_blocks(root_store, azurite, container):
    rng = random.Random(11)
    data = rng.randbytes(3 * BLOCK + 12345)
    # Odd chunk sizes, so that block boundaries fall inside chunks.
    pieces = [data[i : i + 333_333] for i in range(0, len(data), 333_333)]
    assert run(root_store.write("big/model.bin", stream(pieces))) == len(data)
    blocks = committed_blocks(azurite, container, "big/model.bin")
    # A block closes at the first chunk boundary past the block size (4 chunks here).
    assert [b.size for b in blocks] == [1_333_332, 1_333_332, len(data) - 2 * 1_333_332]
    assert (
        hashlib.sha256(blob_bytes(azurite, container, "big/model.bin")).digest()
        == hashlib.sha256(data).digest()
    )


def test_small_write_is_one_put(root_store, azurite, container):
    data = b"s" * (BLOCK - 1)
    run(root_store.write("small", stream([data[:10], data[10:]])))
    assert committed_blocks(azurite, container, "small") == []  # a Put Blob has no block list
    assert blob_bytes(azurite, container, "small") == data


def test_failed_write_leaves_only_invisible_blocks(root_store, azurite, container):
    """What "leaves nothing" means on Azure: the staged blocks stay uncommitted, which no read, list
    or stat shows, and Azure drops them at the blob's next commit (or after seven days)."""
    run(root_store.write("kept", stream([b"old"])))

    async def fails() -> AsyncIterator[bytes]:
        yield b"x" * (2 * BLOCK)
        yield b"y" * 10
        raise ConnectionResetError("client went away")

    for path in ("new", "kept"):
        with pytest.raises(ConnectionResetError):
            run(root_store.write(path, fails()))
    service = azurite.service_client().get_container_client(container)
    assert blob_names(azurite, container) == ["kept"]
    assert blob_bytes(azurite, container, "kept") == b"old"
    assert run(root_store.stat("new")) is None and run(root_store.list("")) == [FileInfo("kept", False, 3)]
    assert len(service.get_blob_client("new").get_block_list("uncommitted")[1]) == 1  # staged, unseen
    run(root_store.write("new", stream([b"later"])))
    assert run(read_all(root_store, "new")) == b"later"


def test_large_writes_racing_for_one_path(root_store, azurite, container):
    """Two block-wise writes of one blob: the first to commit wins and drops the other's staged
    blocks, so the other fails with RESOURCE_CONFLICT rather than claiming bytes it did not store."""

    async def scenario():
        a_staged, release = asyncio.Event(), asyncio.Event()

        async def slow() -> AsyncIterator[bytes]:
            yield b"a" * (2 * BLOCK)
            yield b"a"
            a_staged.set()
            await release.wait()
            yield b"a"

        slow_write = asyncio.create_task(root_store.write("same", slow()))
        await a_staged.wait()
        await asyncio.sleep(0.2)  # the slow writer's first block goes up meanwhile
        await root_store.write("same", stream([b"b" * (2 * BLOCK), b"b"]))
        release.set()
        with pytest.raises(ApiError) as excinfo:
            await slow_write
        return excinfo.value

    lost = run(scenario())
    assert lost.error_code == "RESOURCE_CONFLICT" and "send it again" in lost.message
    assert blob_bytes(azurite, container, "same") == b"b" * (2 * BLOCK) + b"b"


def test_upload_part_larger_than_a_block(root_store, azurite, container):
    rng = random.Random(8)
    first, last = rng.randbytes(2 * BLOCK + 3), rng.randbytes(1000)

    async def scenario():
        upload_id = await root_store.create_multipart_upload("p", 2)
        pieces = [first[i : i + 65536] for i in range(0, len(first), 65536)]
        e1 = await root_store.upload_part("p", upload_id, 1, stream(pieces))
        e2 = await root_store.upload_part("p", upload_id, 2, stream([last]))
        assert (e1, e2) == (md5(first), md5(last))
        # A re-sent part replaces the one before: completion takes the latest, if the etag names it.
        other = await root_store.upload_part("p", upload_id, 1, stream([b"other"]))
        with pytest.raises(ApiError) as excinfo:
            await root_store.complete_multipart_upload("p", upload_id, [(1, e1), (2, e2)])
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"
        again = await root_store.upload_part("p", upload_id, 1, stream(pieces))
        await root_store.complete_multipart_upload("p", upload_id, [(1, again), (2, e2)])
        return other, again

    assert run(scenario()) == (md5(b"other"), md5(first))
    assert blob_bytes(azurite, container, "p") == first + last
    # A block goes up once it is full and more bytes follow; the last one holds what is left.
    assert [b.size for b in committed_blocks(azurite, container, "p")] == [BLOCK, BLOCK, 3, 1000]
    assert open_uploads(azurite, container) == []


def test_empty_last_part(root_store):
    # A file whose size is a whole number of parts: a client may still send an empty last part.
    async def scenario():
        upload_id = await root_store.create_multipart_upload("f", 2)
        e1 = await root_store.upload_part("f", upload_id, 1, stream([b"whole"]))
        e2 = await root_store.upload_part("f", upload_id, 2, stream([]))
        assert e2 == md5(b"")
        await root_store.complete_multipart_upload("f", upload_id, [(1, e1), (2, e2)])
        return await read_all(root_store, "f")

    assert run(scenario()) == b"whole"


def test_upload_ids_are_checked(root_store):
    async def scenario():
        upload_id = await root_store.create_multipart_upload("f", 2)
        _, _, token = upload_id.partition(".")
        for attempt in (
            root_store.upload_part("f", token, 1, stream([b"x"])),
            root_store.upload_part("f", f"2.{token}\n", 1, stream([b"x"])),
            root_store.upload_part("f", f"10001.{token}", 1, stream([b"x"])),
            root_store.complete_multipart_upload("f", "2.zz", [(1, md5(b"x"))]),
        ):
            with pytest.raises(ApiError) as excinfo:
                await attempt
            assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"
        # Well formed but never created, or created for another blob: no such upload.
        for path, other in (("f", "2.0123456789ab"), ("g", upload_id)):
            with pytest.raises(ApiError) as excinfo:
                await root_store.upload_part(path, other, 1, stream([b"x"]))
            assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST"
        await root_store.abort_multipart_upload("f", upload_id)

    run(scenario())


# --- presigned URLs (SAS) ------------------------------------------------------------------------


def test_presigned_urls_take_plain_http(store, azurite, container):
    data = random.Random(4).randbytes(10_000)
    run(store.write("shared/model.bin", stream([data])))

    get_url = run(store.presigned_url("shared/model.bin", "GET", 60))
    assert get_url.startswith(azurite.account_url + "/") and "sig=" in get_url and ACCOUNT_KEY not in get_url
    response = httpx.get(get_url)
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-disposition"] == 'attachment; filename="model.bin"'
    # The client's parallel ranged GETs (MLflow's multipart download) work on the same URL.
    ranged = httpx.get(get_url, headers={"Range": "bytes=1000-1999"})
    assert ranged.status_code == 206 and ranged.content == data[1000:2000]
    # A read URL writes nothing.
    assert httpx.put(get_url, content=b"x", headers={"x-ms-blob-type": "BlockBlob"}).status_code == 403

    put_url = run(store.presigned_url("shared/upload.txt", "PUT", 60))
    response = httpx.put(
        put_url, content=b"uploaded by the client itself", headers={"x-ms-blob-type": "BlockBlob"}
    )
    assert response.status_code == 201, response.text
    assert run(read_all(store, "shared/upload.txt")) == b"uploaded by the client itself"
    # The URL names the blob under the store's prefix, never anything beside it.
    name = f"{store.prefix}/shared/upload.txt" if store.prefix else "shared/upload.txt"
    assert blob_bytes(azurite, container, name) == b"uploaded by the client itself"
    # A write URL reads nothing.
    assert httpx.get(put_url).status_code == 403


def test_presigned_url_expires(root_store):
    run(root_store.write("f", stream([b"x"])))
    url = run(root_store.presigned_url("f", "GET", 60))
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    expiry = datetime.datetime.fromisoformat(query["se"][0].replace("Z", "+00:00"))
    now = datetime.datetime.now(datetime.UTC)
    assert now < expiry <= now + datetime.timedelta(seconds=61)
    assert query["sp"] == ["r"]
    # The same URL with its expiry moved is refused: the expiry is signed.
    later = (now + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    forged = url.replace(urllib.parse.quote(query["se"][0], safe=""), urllib.parse.quote(later, safe=""))
    assert forged != url and httpx.get(forged).status_code == 403


def test_presigned_url_arguments(root_store):
    assert root_store.supports_presigned_urls and not root_store.supports_presigned_parts
    for args in [
        ("f", "DELETE", 60),
        ("f", "POST", 60),
        ("f", "GET", 0),
        ("f", "GET", 7 * 24 * 3600 + 1),
        ("f", "GET", "60"),
        ("", "GET", 60),
        *((path, "GET", 60) for path in TRAVERSAL_PATHS),
    ]:
        with pytest.raises(ApiError) as excinfo:
            run(root_store.presigned_url(*args))
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE", args


@pytest.fixture(scope="module")
def azurite_oauth():
    """Azurite over HTTPS taking bearer tokens: where a token credential and user delegation SAS work."""
    with run_azurite(oauth=True) as server:
        yield server


def test_token_credential_and_user_delegation_sas(azurite_oauth, monkeypatch):
    """With a TokenCredential (DefaultAzureCredential in production) the store asks for Storage's
    scope only, and mints SAS URLs from a user delegation key, fetched once for many URLs."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_oauth.ca_cert))  # the SDK trusts Azurite's cert
    verify = ssl.create_default_context(cafile=str(azurite_oauth.ca_cert))
    container = f"t{uuid.uuid4().hex[:20]}"
    azurite_oauth.create_container(container)
    credential = StorageTokenCredential()
    store = make_store(azurite_oauth, container, PREFIX, account_key=None, credential=credential)
    delegation_keys = []
    fetch = store._service.get_user_delegation_key
    store._service.get_user_delegation_key = lambda *a, **k: delegation_keys.append(1) or fetch(*a, **k)

    run(store.write("m/model.bin", stream([b"by token"])))
    assert run(store.list("m")) == [FileInfo("m/model.bin", False, 8)]
    assert store.supports_presigned_urls
    get_url = run(store.presigned_url("m/model.bin", "GET", 60))
    put_url = run(store.presigned_url("m/upload.bin", "PUT", 60))
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(get_url).query)
    assert query["skoid"] == [StorageTokenCredential.OBJECT_ID] and query["spr"] == ["https"]
    assert len(delegation_keys) == 1  # the second URL reused the key

    response = httpx.get(get_url, verify=verify)
    assert response.status_code == 200 and response.content == b"by token"
    response = httpx.put(put_url, content=b"put", headers={"x-ms-blob-type": "BlockBlob"}, verify=verify)
    assert response.status_code == 201, response.text
    assert run(read_all(store, "m/upload.bin")) == b"put"
    # Azurite checks the signature: a URL for another blob, with this one's signature, is refused.
    forged = get_url.replace("/m/model.bin?", "/m/upload.bin?")
    assert httpx.get(forged, verify=verify).status_code == 403
    assert set(credential.scopes) == {("https://storage.azure.com/.default",)}
    run(store.close())


def test_unusable_token_credential_is_a_server_error(azurite_oauth, monkeypatch):
    from azure.identity import CredentialUnavailableError

    class Unavailable(StorageTokenCredential):
        def get_token(self, *scopes, **kwargs):
            raise CredentialUnavailableError(
                "EnvironmentCredential: AZURE_CLIENT_SECRET=SECRETVALUE is wrong"
            )

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_oauth.ca_cert))
    store = make_store(azurite_oauth, "some-container", account_key=None, credential=Unavailable())
    with pytest.raises(ApiError) as excinfo:
        run(store.list(""))
    assert error_code(excinfo) == "INTERNAL_ERROR"
    message = excinfo.value.message
    assert (
        "some-container" in message
        and "CredentialUnavailableError" in message
        and "SECRETVALUE" not in message
    )
    run(store.close())


# --- the SAS-URL helpers (Azure ML's artifact flow) ----------------------------------------------


@pytest.fixture
def run_blocking():
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="test-backend")
    used: set[str] = set()

    async def run_in_pool(fn, *args):
        def traced():
            used.add(threading.current_thread().name)
            return fn(*args)

        return await asyncio.get_running_loop().run_in_executor(pool, traced)

    run_in_pool.used = used  # type: ignore[attr-defined]
    yield run_in_pool
    pool.shutdown(wait=True)


def mint_sas_url(azurite: Azurite, container: str, name: str, **permissions) -> str:
    """What Azure ML's history service hands out: one blob's URL with its SAS in the query."""
    sas = generate_blob_sas(
        ACCOUNT_NAME,
        container,
        name,
        account_key=ACCOUNT_KEY,
        permission=BlobSasPermissions(**permissions),
        expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10),
    )
    return f"{azurite.account_url}/{container}/{urllib.parse.quote(name)}?{sas}"


def test_sas_url_helpers_round_trip_a_multi_block_file(azurite, container, run_blocking):
    name = "ExperimentRun/dcid.run-1/outputs/model.pkl"
    url = mint_sas_url(azurite, container, name, read=True, create=True, write=True)
    data = random.Random(12).randbytes(3 * BLOCK + 777)

    async def scenario():
        pieces = (data[i : i + 100_000] for i in range(0, len(data), 100_000))
        size = await upload_to_blob_url(url, stream(pieces), run_blocking=run_blocking, block_size=BLOCK)
        sizes, got = [], bytearray()
        async for chunk in download_from_blob_url(url, 300_000, run_blocking=run_blocking):
            sizes.append(len(chunk))
            got += chunk
        return size, sizes, bytes(got)

    size, sizes, got = run(scenario())
    assert size == len(data) and got == data and max(sizes) <= 300_000
    assert len(committed_blocks(azurite, container, name)) == 3  # went up in blocks, committed once
    assert run_blocking.used == {f"test-backend_{i}" for i in range(len(run_blocking.used))}


def test_sas_url_helpers_errors_never_show_the_sas(azurite, container, run_blocking):
    name = "ExperimentRun/dcid.run-2/f.txt"
    azurite.service_client().get_blob_client(container, name).upload_blob(b"old")
    read_only = mint_sas_url(azurite, container, name, read=True)
    missing = mint_sas_url(azurite, container, "ExperimentRun/nope", read=True)
    writable = mint_sas_url(azurite, container, name, read=True, write=True, create=True)

    async def failing() -> AsyncIterator[bytes]:
        yield b"n" * (2 * BLOCK)
        yield b"n"
        raise ConnectionResetError("client went away")

    async def scenario():
        errors = []
        with pytest.raises(ApiError) as excinfo:
            await upload_to_blob_url(read_only, stream([b"new"]), run_blocking=run_blocking)
        errors.append(excinfo.value)
        with pytest.raises(ApiError) as excinfo:
            await upload_to_blob_url(read_only, stream([b"n" * (2 * BLOCK), b"n"]), run_blocking=run_blocking)
        errors.append(excinfo.value)
        reader = download_from_blob_url(missing, run_blocking=run_blocking)  # nothing asked yet
        with pytest.raises(ApiError) as excinfo:
            await anext(reader)
        errors.append(excinfo.value)
        with pytest.raises(ConnectionResetError):
            await upload_to_blob_url(writable, failing(), run_blocking=run_blocking, block_size=BLOCK)
        for bad in ("ftp://host/x", f"https://{HOST}/only-a-container"):
            with pytest.raises(ApiError) as excinfo:
                download_from_blob_url(bad, run_blocking=run_blocking)
        errors.append(excinfo.value)
        return errors

    denied, denied_blocks, not_found, bad_url = run(scenario())
    assert denied.error_code == denied_blocks.error_code == "PERMISSION_DENIED"
    assert container in denied.message and name in denied.message
    assert not_found.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert bad_url.error_code == "INVALID_PARAMETER_VALUE"
    for error in (denied, denied_blocks, not_found, bad_url):
        assert "sig=" not in error.message and "se=" not in error.message and ACCOUNT_KEY not in error.message
    assert blob_bytes(azurite, container, name) == b"old"  # neither the refused nor the failed upload landed


# --- errors --------------------------------------------------------------------------------------


def test_wrong_key_is_permission_denied_without_the_key(azurite, container):
    store = make_store(azurite, container, PREFIX, account_key=WRONG_KEY)
    for attempt in (
        lambda: store.list(""),
        lambda: store.stat("f"),
        lambda: read_all(store, "f"),
        lambda: store.write("f", stream([b"x"])),
        lambda: store.write("f", stream([b"x" * (2 * BLOCK), b"x"])),
        lambda: store.delete("f"),
        lambda: store.create_multipart_upload("f", 1),
    ):
        with pytest.raises(ApiError) as excinfo:
            run(attempt())
        assert error_code(excinfo) == "PERMISSION_DENIED"
        message = excinfo.value.message
        assert f"container '{container}'" in message
        assert WRONG_KEY not in message and ACCOUNT_KEY not in message and PREFIX not in message
    run(store.close())
    assert blob_names(azurite, container) == []


def test_missing_container_names_the_container(azurite):
    store = make_store(azurite, "flowport-no-such-container", "some/prefix")
    for attempt in (
        lambda: store.list(""),
        lambda: store.stat("f"),
        lambda: read_all(store, "f"),
        lambda: store.write("f", stream([b"x"])),
        lambda: store.delete("f"),
        lambda: store.create_multipart_upload("f", 1),
    ):
        with pytest.raises(ApiError) as excinfo:
            run(attempt())
        assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST"
        assert "flowport-no-such-container" in excinfo.value.message
    run(store.close())


def test_unreachable_endpoint_is_temporarily_unavailable(container):
    store = AzureBlobArtifactStore(
        f"wasbs://{container}@{HOST}",
        account_url=f"http://127.0.0.1:{free_port()}/{ACCOUNT_NAME}",
        account_key=ACCOUNT_KEY,
        max_retries=0,
        environ={},
    )
    with pytest.raises(ApiError) as excinfo:
        run(store.stat("f"))
    assert error_code(excinfo) == "TEMPORARILY_UNAVAILABLE"
    run(store.close())


def test_folder_markers_are_directories(root_store, azurite, container):
    """Accounts with a hierarchical namespace, and tools that emulate folders, keep a blob with
    metadata hdi_isfolder=true at a directory's own name: it is a directory, not an empty file."""
    service = azurite.service_client().get_container_client(container)
    service.upload_blob("runs/model", b"", metadata={"hdi_isfolder": "true"})
    service.upload_blob("runs/model/MLmodel", b"flavors: {}")
    service.upload_blob("runs/empty-dir", b"", metadata={"hdi_isfolder": "true"})
    assert run(root_store.list("runs")) == [FileInfo("runs/model", True, None)]
    assert run(root_store.stat("runs/model")) == FileInfo("runs/model", True, None)
    assert run(root_store.stat("runs/empty-dir")) == FileInfo("runs/empty-dir", True, None)
    with pytest.raises(ApiError) as excinfo:
        run(read_all(root_store, "runs/model"))
    assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST"
    assert run(read_all(root_store, "runs/model/MLmodel")) == b"flavors: {}"


# --- confinement, threads and memory -------------------------------------------------------------


def test_prefix_confines_every_operation(azurite, container):
    service = azurite.service_client().get_container_client(container)
    for outside in ("team/artifactsX/f", "team/other", "top"):
        service.upload_blob(outside, b"not yours")
    store = make_store(azurite, container, PREFIX)
    run(store.write("f", stream([b"mine"])))
    assert run(store.list("")) == [FileInfo("f", False, 4)]
    with pytest.raises(ApiError):
        run(store.delete(""))
    run(store.delete("f"))
    with pytest.raises(ApiError) as excinfo:
        run(store.delete("f"))
    assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST"
    assert blob_names(azurite, container) == ["team/artifactsX/f", "team/other", "top"]
    run(store.close())


def test_sdk_runs_only_in_the_bounded_pool(azurite, container):
    store = make_store(azurite, container, max_threads=2)
    threads: set[str] = set()
    send = store._session.send

    def traced(*args, **kwargs):
        threads.add(threading.current_thread().name)
        return send(*args, **kwargs)

    store._session.send = traced

    async def scenario():
        await asyncio.gather(*(store.write(f"f{i}", stream([b"x" * i])) for i in range(12)))
        await asyncio.gather(*(read_all(store, f"f{i}") for i in range(12)))
        await store.list("")
        await store.stat("f3")
        await store.delete("f3")
        upload_id = await store.create_multipart_upload("m", 1)
        etag = await store.upload_part("m", upload_id, 1, stream([b"part"]))
        await store.complete_multipart_upload("m", upload_id, [(1, etag)])

    run(scenario())
    run(store.close())
    assert threads and all(name.startswith("flowport-azblob") for name in threads), threads
    assert len(threads) <= 2


def test_peak_memory_stays_bounded(azurite, container):
    megabytes = 64
    setup = """
    from flowport.adapters.artifacts.azure_blob import AzureBlobArtifactStore

    root, account_url, key = sys.argv[1:]
    store = AzureBlobArtifactStore(root, account_url=account_url, account_key=key, environ={})  # 8 MiB blocks
    """
    args = [f"wasbs://{container}@{HOST}", azurite.account_url, ACCOUNT_KEY]
    report = measure_round_trip_memory(setup, args, megabytes, warmup_megabytes=20)
    assert report["written"] == report["size"] == megabytes << 20
    assert report["ok"]
    assert len(committed_blocks(azurite, container, "big/file.bin")) == 8
    # The peak grew by far less than the 64 MiB that went through.
    assert report["growth_kib"] < 32 * 1024, report


def test_closed_store_takes_no_more_calls(root_store):
    run(root_store.write("f", stream([b"x"])))
    run(root_store.close())
    with pytest.raises(RuntimeError):
        run(root_store.stat("f"))
