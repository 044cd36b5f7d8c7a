"""Tests of the artifact path check and the `file` store: round trips, escapes, atomicity, multipart."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterable

import pytest

from flowport.adapters.artifact_store import ArtifactStore, FileInfo, normalize_artifact_path
from flowport.adapters.artifacts.local import STAGING_DIR, LocalArtifactStore
from flowport.v1.errors import ApiError


def run(coro):
    return asyncio.run(coro)


async def stream(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def read_all(store: ArtifactStore, path: str, chunk_size: int = 1 << 20) -> bytes:
    return b"".join([chunk async for chunk in store.read(path, chunk_size)])


def everything_under(root) -> list[str]:
    """Every entry under `root`, hidden ones included, as sorted relative paths."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            found.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(found)


def error_code(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.error_code


@pytest.fixture
def store(tmp_path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "root")


# --- normalize_artifact_path ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ""),
        ("", ""),
        (".", ""),
        ("a", "a"),
        ("a//b", "a/b"),
        ("./a/./b/", "a/b"),
        ("a/b/c.txt", "a/b/c.txt"),
        ("100%.txt", "100%.txt"),  # a literal '%' is a name, not an encoding to undo
        ("a%20b", "a%20b"),
        ("a..b/..c", "a..b/..c"),
        ("model:v1/x", "model:v1/x"),
        ("ünïcode/файл", "ünïcode/файл"),
    ],
)
def test_normalize_keeps_safe_paths(raw, expected):
    assert normalize_artifact_path(raw) == expected


TRAVERSALS = [
    "../x",
    "..",
    "a/..",
    "a/../../x",
    "a/b/../../../x",
    "/etc/passwd",
    "//etc/passwd",
    "..%2fx",
    "..%2Fx",
    "%2e%2e/x",
    "%2E%2e",
    "a/%2e%2e/%2e%2e/x",
    "%252e%252e/x",  # double encoded: survives one decoding
    "a%2fb",
    "a%5cb",
    "%2e",
    "a\\..\\x",
    "..\\x",
    "a\x00b",
    "a%00b",
    "a\nb",
    "C:/windows",
    "c:x",
    "C%3a/x",
]


@pytest.mark.parametrize("raw", TRAVERSALS)
def test_normalize_rejects_traversal(raw):
    with pytest.raises(ApiError) as excinfo:
        normalize_artifact_path(raw)
    assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"


def test_normalize_rejects_whatever_mlflow_rejects():
    from mlflow.exceptions import MlflowException
    from mlflow.utils.uri import validate_path_is_safe

    corpus = [*TRAVERSALS, "a/b", "x/./y", "%2e%2e%2f", "ok%2520name", "a/%2E./b", "...", "a/.../b"]
    for raw in corpus:
        try:
            validate_path_is_safe(raw)
        except (MlflowException, ValueError):
            with pytest.raises(ApiError):
                normalize_artifact_path(raw)


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1000])
def test_small_round_trip(store, size):
    data = os.urandom(size)
    assert run(store.write("dir/file.bin", stream([data]))) == size
    assert run(read_all(store, "dir/file.bin")) == data
    assert run(store.stat("dir/file.bin")) == FileInfo("dir/file.bin", False, size)


def test_empty_iterator_writes_empty_file(store):
    assert run(store.write("empty", stream([]))) == 0
    assert run(read_all(store, "empty")) == b""


def test_twenty_megabytes_round_trip_with_checksum(store):
    rng = random.Random(7)
    pieces, total = [], 0
    # Mixed chunk sizes: tiny ones get coalesced, big ones go straight through.
    while total < 20 * 1024 * 1024:
        piece = rng.randbytes(rng.choice([1, 100, 65536, 3 * 1024 * 1024]))
        pieces.append(piece)
        total += len(piece)
    expected = hashlib.sha256(b"".join(pieces)).hexdigest()

    assert run(store.write("big/blob", stream(pieces))) == total

    async def digest(chunk_size):
        h, sizes = hashlib.sha256(), []
        async for chunk in store.read("big/blob", chunk_size):
            h.update(chunk)
            sizes.append(len(chunk))
        return h.hexdigest(), sizes

    got, sizes = run(digest(1 << 20))
    assert got == expected
    assert max(sizes) <= 1 << 20
    got, sizes = run(digest(12345))
    assert got == expected and max(sizes) <= 12345


def test_overwrite_replaces_content(store):
    run(store.write("f", stream([b"first version, longer"])))
    run(store.write("f", stream([b"second"])))
    assert run(read_all(store, "f")) == b"second"


def test_paths_are_normalized(store):
    run(store.write("a//b/./c.txt", stream([b"x"])))
    assert run(read_all(store, "a/b/c.txt")) == b"x"
    assert store.root and os.path.isfile(os.path.join(store.root, "a", "b", "c.txt"))


def test_from_uri(tmp_path):
    assert LocalArtifactStore.from_uri(f"file://{tmp_path}/s1").root == os.path.realpath(tmp_path / "s1")
    assert LocalArtifactStore.from_uri(f"file://localhost{tmp_path}/s2").root == os.path.realpath(
        tmp_path / "s2"
    )
    assert LocalArtifactStore.from_uri(str(tmp_path / "s3")).root == os.path.realpath(tmp_path / "s3")
    assert LocalArtifactStore.from_uri(f"file://{tmp_path}/with%20space").root.endswith("with space")
    assert LocalArtifactStore.scheme == "file"
    for bad in ["s3://bucket/x", f"file://otherhost{tmp_path}"]:
        with pytest.raises(ApiError) as excinfo:
            LocalArtifactStore.from_uri(bad)
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"


# --- listing, stat, delete -----------------------------------------------------------------


def test_listing_nested_directories(store):
    for path, data in [("a/b/c.txt", b"ccc"), ("a/d.txt", b"dddd"), ("e.txt", b"e"), ("a/b/z/y", b"")]:
        run(store.write(path, stream([data])))

    assert run(store.list("")) == [FileInfo("a", True, None), FileInfo("e.txt", False, 1)]
    # Children are named relative to the store root, not to the listed directory.
    assert run(store.list("a")) == [FileInfo("a/b", True, None), FileInfo("a/d.txt", False, 4)]
    assert run(store.list("a/b/")) == [FileInfo("a/b/c.txt", False, 3), FileInfo("a/b/z", True, None)]
    assert run(store.list("missing")) == []
    assert run(store.list("e.txt")) == []


def test_stat(store):
    run(store.write("d/f", stream([b"12345"])))
    assert run(store.stat("d/f")) == FileInfo("d/f", False, 5)
    assert run(store.stat("d")) == FileInfo("d", True, None)
    assert run(store.stat("")) == FileInfo("", True, None)
    assert run(store.stat("nope")) is None
    assert run(store.stat("d/f/under-a-file")) is None


def test_read_missing_or_directory_is_does_not_exist(store):
    run(store.write("d/f", stream([b"x"])))
    for path in ["nope", "d", "", "d/f/x"]:
        with pytest.raises(ApiError) as excinfo:
            run(read_all(store, path))
        assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST", path


def test_read_rejects_bad_path_before_iterating(store):
    with pytest.raises(ApiError) as excinfo:
        store.read("../x")
    assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"


def test_write_conflicts_with_directories_and_files(store):
    run(store.write("d/f", stream([b"x"])))
    for path in ["d", "d/f/under", ""]:
        with pytest.raises(ApiError) as excinfo:
            run(store.write(path, stream([b"y"])))
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE", path
    assert run(read_all(store, "d/f")) == b"x"
    assert everything_under(store.root) == ["d", "d/f"]


def test_delete_file_and_directory(store):
    for path in ["keep.txt", "tree/a", "tree/sub/b", "tree/sub/deeper/c"]:
        run(store.write(path, stream([b"data"])))

    run(store.delete("tree/sub/b"))
    assert run(store.stat("tree/sub/b")) is None
    run(store.delete("tree"))
    assert run(store.list("")) == [FileInfo("keep.txt", False, 4)]
    assert everything_under(store.root) == ["keep.txt"]  # no hidden leftovers either

    for path in ["tree", "nope/x"]:
        with pytest.raises(ApiError) as excinfo:
            run(store.delete(path))
        assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(ApiError) as excinfo:
        run(store.delete(""))
    assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"


# --- escapes ----------------------------------------------------------------------------------

OPERATIONS = {
    "read": lambda s, p: read_all(s, p),
    "write": lambda s, p: s.write(p, stream([b"owned"])),
    "list": lambda s, p: s.list(p),
    "stat": lambda s, p: s.stat(p),
    "delete": lambda s, p: s.delete(p),
    "create_multipart_upload": lambda s, p: s.create_multipart_upload(p, 1),
    "upload_part": lambda s, p: s.upload_part(p, "0" * 32, 1, stream([b"x"])),
    "complete_multipart_upload": lambda s, p: s.complete_multipart_upload(p, "0" * 32, [(1, "0" * 32)]),
    "abort_multipart_upload": lambda s, p: s.abort_multipart_upload(p, "0" * 32),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize(
    "path", ["../x", "a/../../x", "/etc/passwd", "..%2fx", "a\\..\\x", "a\x00b", f"{STAGING_DIR}/x"]
)
def test_every_operation_rejects_traversal(tmp_path, operation, path):
    store = LocalArtifactStore(tmp_path / "root")

    async def attempt():
        return await OPERATIONS[operation](store, path)

    with pytest.raises(ApiError) as excinfo:
        run(attempt())
    assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"
    assert sorted(os.listdir(tmp_path)) == ["root"]  # nothing written beside the root


@pytest.fixture
def escape(tmp_path, store):
    """A root holding links that lead out of it, and the outside directory they lead to."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    os.symlink(outside, os.path.join(store.root, "dirlink"))
    os.symlink(outside / "secret.txt", os.path.join(store.root, "filelink"))
    os.symlink(outside / "not-yet", os.path.join(store.root, "dangling"))
    return outside


def assert_refused(coro):
    with pytest.raises(ApiError) as excinfo:
        run(coro)
    assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"


def test_symlink_escape_read(store, escape):
    assert_refused(read_all(store, "dirlink/secret.txt"))
    assert_refused(read_all(store, "filelink"))
    assert_refused(store.stat("filelink"))


def test_symlink_escape_write(store, escape):
    assert_refused(store.write("dirlink/new.txt", stream([b"x"])))
    assert_refused(store.write("dirlink/deep/new.txt", stream([b"x"])))
    assert_refused(store.write("filelink", stream([b"x"])))
    assert_refused(store.write("dangling", stream([b"x"])))
    assert_refused(store.create_multipart_upload("dirlink/big", 2))
    assert sorted(os.listdir(escape)) == ["secret.txt"]
    assert (escape / "secret.txt").read_bytes() == b"secret"


def test_symlink_escape_list_and_delete(store, escape):
    run(store.write("mine.txt", stream([b"m"])))
    assert_refused(store.list("dirlink"))
    # Links leading out are not shown at all, not even their names or sizes.
    assert run(store.list("")) == [FileInfo("mine.txt", False, 1)]
    assert_refused(store.delete("dirlink/secret.txt"))
    assert_refused(store.delete("dirlink"))
    assert (escape / "secret.txt").read_bytes() == b"secret"


def test_symlink_inside_root_is_followed(store):
    run(store.write("real/f.txt", stream([b"inside"])))
    os.symlink(os.path.join(store.root, "real"), os.path.join(store.root, "alias"))
    assert run(read_all(store, "alias/f.txt")) == b"inside"
    assert run(store.list("alias")) == [FileInfo("alias/f.txt", False, 6)]
    run(store.delete("alias"))  # removes the link, never what it points at
    assert run(read_all(store, "real/f.txt")) == b"inside"


def test_symlink_into_staging_is_refused(store):
    upload_id = run(store.create_multipart_upload("f", 1))
    os.symlink(os.path.join(store.root, STAGING_DIR), os.path.join(store.root, "peek"))
    assert_refused(store.list("peek"))
    assert_refused(read_all(store, f"peek/{upload_id}/upload.json"))


# --- atomicity --------------------------------------------------------------------------------


async def failing_stream() -> AsyncIterator[bytes]:
    yield b"x" * (3 << 20)
    yield b"y" * 10
    raise RuntimeError("client went away")


def test_failed_write_leaves_nothing(store):
    with pytest.raises(RuntimeError, match="client went away"):
        run(store.write("new/nested/file.bin", failing_stream()))
    assert everything_under(store.root) == []


def test_failed_overwrite_keeps_old_file(store):
    run(store.write("d/f", stream([b"old"])))
    with pytest.raises(RuntimeError):
        run(store.write("d/f", failing_stream()))
    assert run(read_all(store, "d/f")) == b"old"
    assert everything_under(store.root) == ["d", "d/f"]


def test_cancelled_write_leaves_nothing(store):
    async def scenario():
        started = asyncio.Event()

        async def stalls():
            yield b"z" * (2 << 20)
            started.set()
            await asyncio.Event().wait()  # never comes
            yield b"unreachable"

        task = asyncio.create_task(store.write("c/file", stalls()))
        await started.wait()
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(scenario())
    assert everything_under(store.root) == []


def test_abandoned_read_closes_file(store):
    run(store.write("f", stream([b"a" * 100])))

    async def scenario():
        reader = store.read("f", chunk_size=10)
        assert await anext(reader) == b"a" * 10
        before = len(os.listdir("/proc/self/fd"))
        await reader.aclose()
        return before, len(os.listdir("/proc/self/fd"))

    before, after = run(scenario())
    assert after == before - 1


# --- multipart --------------------------------------------------------------------------------


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def staging_entries(store) -> list[str]:
    staging = os.path.join(store.root, STAGING_DIR)
    return os.listdir(staging) if os.path.isdir(staging) else []


def test_multipart_parts_out_of_order(store):
    parts = {n: os.urandom(100_000 + n) for n in (1, 2, 3)}

    async def scenario():
        upload_id = await store.create_multipart_upload("models/m.bin", 3)
        assert len(upload_id) == 32 and int(upload_id, 16) >= 0
        # Uploaded concurrently, completed with the list in no particular order.
        etags = await asyncio.gather(
            *(store.upload_part("models/m.bin", upload_id, n, stream([parts[n]])) for n in (3, 1, 2))
        )
        assert etags == [md5(parts[3]), md5(parts[1]), md5(parts[2])]
        assert await store.list("models") == []  # nothing visible before completion
        await store.complete_multipart_upload(
            "models/m.bin", upload_id, [(2, etags[2]), (3, f'"{etags[0]}"'), (1, etags[1].upper())]
        )
        return await read_all(store, "models/m.bin")

    assert run(scenario()) == parts[1] + parts[2] + parts[3]
    assert staging_entries(store) == []
    assert run(store.list("")) == [FileInfo("models", True, None)]


def test_multipart_wrong_or_missing_etag(store):
    async def scenario():
        upload_id = await store.create_multipart_upload("f", 2)
        e1 = await store.upload_part("f", upload_id, 1, stream([b"one"]))
        e2 = await store.upload_part("f", upload_id, 2, stream([b"two"]))
        for bad in (
            [(1, e1), (2, md5(b"other"))],
            [(1, e1), (2, "")],
            [(1, e1)],
            [(1, e1), (1, e1), (2, e2)],
        ):
            with pytest.raises(ApiError) as excinfo:
                await store.complete_multipart_upload("f", upload_id, bad)
            assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE", bad
            assert await store.stat("f") is None
        # A failed completion leaves the upload usable.
        await store.complete_multipart_upload("f", upload_id, [(1, e1), (2, e2)])
        return await read_all(store, "f")

    assert run(scenario()) == b"onetwo"
    assert staging_entries(store) == []


def test_multipart_reuploaded_part_replaces_the_old_one(store):
    async def scenario():
        upload_id = await store.create_multipart_upload("f", 1)
        old = await store.upload_part("f", upload_id, 1, stream([b"old"]))
        new = await store.upload_part("f", upload_id, 1, stream([b"new"]))
        with pytest.raises(ApiError):
            await store.complete_multipart_upload("f", upload_id, [(1, old)])
        await store.complete_multipart_upload("f", upload_id, [(1, new)])
        return await read_all(store, "f")

    assert run(scenario()) == b"new"


def test_multipart_abort_cleans_up(store):
    async def scenario():
        upload_id = await store.create_multipart_upload("f", 2)
        await store.upload_part("f", upload_id, 1, stream([b"x" * 1000]))
        assert staging_entries(store) == [upload_id]
        await store.abort_multipart_upload("f", upload_id)
        assert staging_entries(store) == []
        for attempt in (
            store.upload_part("f", upload_id, 2, stream([b"y"])),
            store.complete_multipart_upload("f", upload_id, [(1, md5(b"x" * 1000))]),
            store.abort_multipart_upload("f", upload_id),
        ):
            with pytest.raises(ApiError) as excinfo:
                await attempt
            assert excinfo.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    run(scenario())
    assert everything_under(store.root) == [STAGING_DIR]


def test_multipart_bad_arguments(store):
    async def scenario():
        upload_id = await store.create_multipart_upload("f", 2)
        cases = [
            (store.create_multipart_upload("g", 0), "INVALID_PARAMETER_VALUE"),
            (store.create_multipart_upload("g", 10_001), "INVALID_PARAMETER_VALUE"),
            (store.create_multipart_upload("", 1), "INVALID_PARAMETER_VALUE"),
            (store.upload_part("f", upload_id, 0, stream([b"x"])), "INVALID_PARAMETER_VALUE"),
            (store.upload_part("f", upload_id, 3, stream([b"x"])), "INVALID_PARAMETER_VALUE"),
            (store.upload_part("other", upload_id, 1, stream([b"x"])), "INVALID_PARAMETER_VALUE"),
            (store.upload_part("f", "../../etc", 1, stream([b"x"])), "INVALID_PARAMETER_VALUE"),
            (store.upload_part("f", upload_id.upper(), 1, stream([b"x"])), "INVALID_PARAMETER_VALUE"),
            (store.upload_part("f", "f" * 32, 1, stream([b"x"])), "RESOURCE_DOES_NOT_EXIST"),
            (store.complete_multipart_upload("f", "f" * 32, []), "RESOURCE_DOES_NOT_EXIST"),
            (store.abort_multipart_upload("other", upload_id), "INVALID_PARAMETER_VALUE"),
        ]
        for attempt, code in cases:
            with pytest.raises(ApiError) as excinfo:
                await attempt
            assert excinfo.value.error_code == code
        await store.abort_multipart_upload("f", upload_id)

    run(scenario())
    assert staging_entries(store) == []


def test_concurrent_multipart_uploads(store):
    rng = random.Random(3)
    # Four uploads to different paths and two racing for the same one.
    targets = ["a/1", "a/2", "b/3", "c/4", "same", "same"]
    contents = [[rng.randbytes(rng.randint(1, 300_000)) for _ in range(4)] for _ in targets]

    async def one(path, parts):
        upload_id = await store.create_multipart_upload(path, len(parts))
        etags = await asyncio.gather(
            *(store.upload_part(path, upload_id, n + 1, stream([p[:7], p[7:]])) for n, p in enumerate(parts))
        )
        await store.complete_multipart_upload(path, upload_id, list(enumerate(etags, start=1)))

    async def scenario():
        await asyncio.gather(*(one(path, parts) for path, parts in zip(targets, contents, strict=True)))
        return {path: await read_all(store, path) for path in set(targets)}

    got = run(scenario())
    for path, parts in zip(targets[:4], contents[:4], strict=True):
        assert got[path] == b"".join(parts)
    assert got["same"] in (b"".join(contents[4]), b"".join(contents[5]))
    assert staging_entries(store) == []
    assert run(store.list("")) == [
        FileInfo("a", True, None),
        FileInfo("b", True, None),
        FileInfo("c", True, None),
        FileInfo("same", False, len(got["same"])),
    ]


def test_store_without_multipart_says_not_implemented():
    class ReadOnly(ArtifactStore):
        scheme = "test"

        async def list(self, path):
            return []

        async def stat(self, path):
            return None

        def read(self, path, chunk_size=1 << 20):
            raise NotImplementedError

        async def write(self, path, chunks):
            return 0

        async def delete(self, path):
            return None

    with pytest.raises(ApiError) as excinfo:
        run(ReadOnly().create_multipart_upload("f", 1))
    assert error_code(excinfo) == "NOT_IMPLEMENTED"
    assert "ReadOnly" in excinfo.value.message


# --- memory -----------------------------------------------------------------------------------

MEMORY_SCRIPT = textwrap.dedent(
    """
    import asyncio, hashlib, json, os, resource, sys
    from flowport.adapters.artifacts.local import LocalArtifactStore

    block = os.urandom(1 << 20)
    store = LocalArtifactStore(sys.argv[1])

    async def round_trip(megabytes):
        async def chunks():
            for _ in range(megabytes):
                yield block

        written = await store.write("big/file.bin", chunks())
        h, size = hashlib.md5(), 0
        async for chunk in store.read("big/file.bin"):
            h.update(chunk)
            size += len(chunk)
        return written, size, h.hexdigest()

    megabytes = int(sys.argv[2])
    asyncio.run(round_trip(1))  # imports, thread pool and buffers settle before the baseline
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    written, size, digest = asyncio.run(round_trip(megabytes))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    expected = hashlib.md5()
    for _ in range(megabytes):
        expected.update(block)
    print(json.dumps({"written": written, "size": size, "ok": digest == expected.hexdigest(),
                      "growth_kib": after - before}))
    """
)


def test_peak_memory_stays_bounded(tmp_path):
    megabytes = 300
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "root"), str(megabytes)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["written"] == report["size"] == megabytes << 20
    assert report["ok"]
    # ru_maxrss is in KiB on Linux: the peak grew by far less than the 300 MiB that went through.
    assert report["growth_kib"] < 32 * 1024, report
