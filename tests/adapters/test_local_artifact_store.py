"""Tests of the artifact path check and the `file` store: the shared conformance suite, plus what only a
filesystem has (symlinks, directory conflicts, the staging directory, open file descriptors)."""

from __future__ import annotations

import os

import pytest

from flowport.adapters.artifact_store import ArtifactStore, FileInfo, normalize_artifact_path
from flowport.adapters.artifacts import local
from flowport.adapters.artifacts.local import STAGING_DIR, LocalArtifactStore
from flowport.v1.errors import ApiError
from tests.adapters.artifact_store_contract import (
    OPERATIONS,
    ArtifactStoreContract,
    error_code,
    measure_round_trip_memory,
    read_all,
    run,
    stream,
)


def everything_under(root) -> list[str]:
    """Every entry under `root`, hidden ones included, as sorted relative paths."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            found.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(found)


def staging_entries(store: LocalArtifactStore) -> list[str]:
    staging = os.path.join(store.root, STAGING_DIR)
    return os.listdir(staging) if os.path.isdir(staging) else []


@pytest.fixture
def store(tmp_path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "root")


class TestLocalArtifactStoreContract(ArtifactStoreContract):
    def stored(self, store: LocalArtifactStore) -> list[str]:
        # Files and empty directories (a leftover directory is a leak too), hidden ones included;
        # the staging directory itself stays once made, empty, by design.
        outer = os.path.dirname(store.root)
        found = [f"../{name}" for name in os.listdir(outer) if os.path.join(outer, name) != store.root]
        for dirpath, dirnames, filenames in os.walk(store.root):
            rel = os.path.relpath(dirpath, store.root)
            if dirpath != store.root and not dirnames and not filenames and rel != STAGING_DIR:
                found.append(rel)
            found.extend(os.path.relpath(os.path.join(dirpath, name), store.root) for name in filenames)
        return sorted(found)

    def pending_uploads(self, store: LocalArtifactStore) -> list[str]:
        return staging_entries(store)


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


# --- the file store's own ---------------------------------------------------------------------


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


def test_write_conflicts_with_directories_and_files(store):
    run(store.write("d/f", stream([b"x"])))
    for path in ["d", "d/f/under", ""]:
        with pytest.raises(ApiError) as excinfo:
            run(store.write(path, stream([b"y"])))
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE", path
    assert run(read_all(store, "d/f")) == b"x"
    assert everything_under(store.root) == ["d", "d/f"]


# --- escapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("path", [STAGING_DIR, f"{STAGING_DIR}/x", f"a/{STAGING_DIR}-tmp/x"])
def test_every_operation_rejects_reserved_names(tmp_path, operation, path):
    store = LocalArtifactStore(tmp_path / "root")

    async def attempt():
        return await OPERATIONS[operation](store, path)

    with pytest.raises(ApiError) as excinfo:
        run(attempt())
    assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"
    assert everything_under(tmp_path) == ["root"]  # nothing written, in the root or beside it


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


# --- resources --------------------------------------------------------------------------------


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


def test_multipart_upload_ids_and_their_paths(store):
    async def scenario():
        upload_id = await store.create_multipart_upload("f", 2)
        assert len(upload_id) == 32 and int(upload_id, 16) >= 0
        assert staging_entries(store) == [upload_id]
        cases = [
            # The manifest remembers the path: an upload cannot be steered to another file.
            (store.upload_part("other", upload_id, 1, stream([b"x"])), "INVALID_PARAMETER_VALUE"),
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


def test_store_without_optional_features_says_not_implemented(store):
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

    for attempt in (
        ReadOnly().create_multipart_upload("f", 1),
        ReadOnly().presigned_url("f", "GET", 60),
        store.presigned_url("f", "PUT", 60),
    ):
        with pytest.raises(ApiError) as excinfo:
            run(attempt)
        assert error_code(excinfo) == "NOT_IMPLEMENTED"
        assert "ReadOnly" in excinfo.value.message or "LocalArtifactStore" in excinfo.value.message


# --- early writeback ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["write", "multipart"])
def test_the_disk_is_started_on_every_byte_before_the_commit(store, monkeypatch, how):
    # Each write asks the kernel to start writing exactly what it just added, so the fsync before
    # the rename has little left: the ranges must follow one another and cover the whole file.
    started: list[tuple[int, int]] = []  # (offset, length), call by call; files are written one by one
    monkeypatch.setattr(local, "_start_writeback", lambda fd, offset, n: started.append((offset, n)))
    pieces = [bytes([i % 251]) * (i * 7919 % 300_000 + 1) for i in range(40)]
    data = b"".join(pieces)
    if how == "write":
        assert run(store.write("d/f.bin", stream(pieces))) == len(data)
    else:
        upload_id = run(store.create_multipart_upload("d/f.bin", 2))
        etags = [run(store.upload_part("d/f.bin", upload_id, n, stream(pieces))) for n in (1, 2)]
        run(store.complete_multipart_upload("d/f.bin", upload_id, list(zip((1, 2), etags, strict=True))))
        data += data
    assert run(read_all(store, "d/f.bin")) == data
    files = [[]]
    for offset, length in started:
        if offset == 0 and files[-1]:
            files.append([])
        files[-1].append((offset, length))
    last = files[-1]  # the artifact itself, after any parts
    assert sum(length for _, length in last) == len(data), started
    offsets = [offset for offset, _ in last]
    ends = [offset + length for offset, length in last]
    assert offsets == [0, *ends[:-1]]


# --- memory -----------------------------------------------------------------------------------


def test_peak_memory_stays_bounded(tmp_path):
    megabytes = 300
    setup = """
    from flowport.adapters.artifacts.local import LocalArtifactStore

    store = LocalArtifactStore(sys.argv[1])
    """
    report = measure_round_trip_memory(setup, [str(tmp_path / "root")], megabytes, warmup_megabytes=1)
    assert report["written"] == report["size"] == megabytes << 20
    assert report["ok"]
    # The peak grew by far less than the 300 MiB that went through.
    assert report["growth_kib"] < 32 * 1024, report
