"""The conformance suite every ArtifactStore runs: subclass `ArtifactStoreContract` in a test module.

A subclass provides a `store` fixture (a fresh, empty store) and says what the store physically
holds (`stored`) and which multipart uploads are still open (`pending_uploads`), so the suite can
check that nothing half-written or out-of-root stays behind. Store-specific behaviour (symlinks,
staging directories, S3 part sizes) is tested beside each store, not here.
"""

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

from flowport.adapters.artifact_store import ArtifactStore, FileInfo
from flowport.v1.errors import ApiError


def run(coro):
    return asyncio.run(coro)


async def stream(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def read_all(store: ArtifactStore, path: str, chunk_size: int = 1 << 20) -> bytes:
    return b"".join([chunk async for chunk in store.read(path, chunk_size)])


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def error_code(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.error_code


# The memory tests' subprocess: `store_setup` builds `store` from sys.argv; the script streams
# `megabytes` through a write and a read and reports the peak RSS growth. VmHWM, not ru_maxrss:
# Linux carries ru_maxrss over from the parent across exec, so a big parent (pytest, holding
# moto's objects) would hide any growth.
_MEMORY_SCRIPT = """
import asyncio, hashlib, json, os, sys

def peak_rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

{store_setup}
block = os.urandom(1 << 20)

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

megabytes, warmup = int(os.environ["MEGABYTES"]), int(os.environ["WARMUP_MEGABYTES"])
asyncio.run(round_trip(warmup))  # imports, pool threads, connections and buffers settle first
before = peak_rss_kib()
written, size, digest = asyncio.run(round_trip(megabytes))
after = peak_rss_kib()
expected = hashlib.md5()
for _ in range(megabytes):
    expected.update(block)
print(json.dumps({{"written": written, "size": size, "ok": digest == expected.hexdigest(),
                  "growth_kib": after - before}}))
"""


def measure_round_trip_memory(
    store_setup: str, args: list[str], megabytes: int, warmup_megabytes: int
) -> dict:
    """Run a write-then-read of `megabytes` MiB in a fresh process; its report as a dict."""
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT.format(store_setup=textwrap.dedent(store_setup)), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MEGABYTES": str(megabytes), "WARMUP_MEGABYTES": str(warmup_megabytes)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


# What a store may be asked to do, each with a path a client chose.
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
TRAVERSAL_PATHS = ["../x", "a/../../x", "/etc/passwd", "..%2fx", "a\\..\\x", "a\x00b"]


class ArtifactStoreContract:
    """Behaviour every store shares. Not collected itself: its name does not start with `Test`."""

    # Bytes a failing or stalling writer sends before it fails: a store that uploads in parts
    # sets it above its part size, so that the failure strikes an upload already under way.
    bytes_before_failure: int = 3 << 20
    # The smallest part a multipart upload accepts but for the last one (S3: 5 MiB).
    min_part_size: int = 0

    def stored(self, store: ArtifactStore) -> list[str]:
        """Everything the store physically holds, as sorted paths relative to its root: files,
        empty directories, temporary and hidden entries alike; anything outside the root as
        '../<where>'."""
        raise NotImplementedError

    def pending_uploads(self, store: ArtifactStore) -> list[str]:
        """Multipart uploads the store still keeps open (created, never completed nor aborted)."""
        raise NotImplementedError

    def part(self, rng: random.Random, extra: int) -> bytes:
        """Random bytes for a part that is not the last one: at least `min_part_size` long."""
        return rng.randbytes(self.min_part_size + extra)

    # --- round trips ------------------------------------------------------------------------

    @pytest.mark.parametrize("size", [0, 1, 1000])
    def test_small_round_trip(self, store, size):
        data = os.urandom(size)
        assert run(store.write("dir/file.bin", stream([data]))) == size
        assert run(read_all(store, "dir/file.bin")) == data
        assert run(store.stat("dir/file.bin")) == FileInfo("dir/file.bin", False, size)
        assert self.stored(store) == ["dir/file.bin"]

    def test_empty_iterator_writes_empty_file(self, store):
        assert run(store.write("empty", stream([]))) == 0
        assert run(read_all(store, "empty")) == b""
        assert run(store.stat("empty")) == FileInfo("empty", False, 0)

    def test_twenty_megabytes_round_trip_with_checksum(self, store):
        rng = random.Random(7)
        pieces, total = [], 0
        # Mixed chunk sizes: tiny ones get coalesced, big ones go straight through.
        while total < 20 * 1024 * 1024:
            piece = rng.randbytes(rng.choice([1, 100, 65536, 3 * 1024 * 1024]))
            pieces.append(piece)
            total += len(piece)
        expected = hashlib.sha256(b"".join(pieces)).hexdigest()

        assert run(store.write("big/blob", stream(pieces))) == total
        assert run(store.stat("big/blob")) == FileInfo("big/blob", False, total)

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
        assert self.pending_uploads(store) == []

    def test_overwrite_replaces_content(self, store):
        run(store.write("f", stream([b"first version, longer"])))
        run(store.write("f", stream([b"second"])))
        assert run(read_all(store, "f")) == b"second"
        assert run(store.stat("f")) == FileInfo("f", False, 6)

    def test_paths_are_normalized(self, store):
        run(store.write("a//b/./c.txt", stream([b"x"])))
        assert run(read_all(store, "a/b/c.txt")) == b"x"
        assert run(read_all(store, "./a/b//c.txt")) == b"x"
        assert self.stored(store) == ["a/b/c.txt"]

    def test_names_are_kept_verbatim(self, store):
        # Nothing is decoded or re-encoded on the way: '%', spaces, colons and unicode are names.
        names = ["100%.txt", "a%20b", "with space", "model:v1", "ünïcode-файл"]
        for name in names:
            run(store.write(f"n/{name}", stream([name.encode()])))
        expected = [FileInfo(f"n/{n}", False, len(n.encode())) for n in names]
        assert run(store.list("n")) == sorted(expected, key=lambda info: info.path)
        for name in names:
            assert run(read_all(store, f"n/{name}")) == name.encode()

    def test_read_rejects_bad_chunk_size(self, store):
        run(store.write("f", stream([b"x"])))
        with pytest.raises(ApiError) as excinfo:
            store.read("f", 0)
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"

    # --- listing, stat, delete --------------------------------------------------------------

    def test_listing_nested_directories(self, store):
        for path, data in [("a/b/c.txt", b"ccc"), ("a/d.txt", b"dddd"), ("e.txt", b"e"), ("a/b/z/y", b"")]:
            run(store.write(path, stream([data])))

        assert run(store.list("")) == [FileInfo("a", True, None), FileInfo("e.txt", False, 1)]
        # Children are named relative to the store root, not to the listed directory.
        assert run(store.list("a")) == [FileInfo("a/b", True, None), FileInfo("a/d.txt", False, 4)]
        assert run(store.list("a/b/")) == [FileInfo("a/b/c.txt", False, 3), FileInfo("a/b/z", True, None)]
        assert run(store.list("missing")) == []
        assert run(store.list("e.txt")) == []
        # "a/b" is a prefix of "a/bc" as a string, not as a path.
        run(store.write("a/bc", stream([b"12"])))
        assert run(store.list("a/b")) == [FileInfo("a/b/c.txt", False, 3), FileInfo("a/b/z", True, None)]

    def test_listing_many_entries(self, store):
        # More than one page of a paginated listing (S3 pages hold 1000 keys).
        names = [f"f{i:04d}" for i in range(1005)]

        async def fill():
            for start in range(0, len(names), 100):
                batch = names[start : start + 100]
                await asyncio.gather(*(store.write(f"many/{n}", stream([b"x"])) for n in batch))

        run(fill())
        assert run(store.list("many")) == [FileInfo(f"many/{n}", False, 1) for n in names]
        run(store.delete("many"))
        assert self.stored(store) == []

    def test_stat(self, store):
        run(store.write("d/f", stream([b"12345"])))
        assert run(store.stat("d/f")) == FileInfo("d/f", False, 5)
        assert run(store.stat("d")) == FileInfo("d", True, None)
        assert run(store.stat("d/")) == FileInfo("d", True, None)
        assert run(store.stat("")) == FileInfo("", True, None)
        assert run(store.stat("nope")) is None
        assert run(store.stat("d/f/under-a-file")) is None
        assert run(store.stat("d/f-not")) is None

    def test_read_missing_or_directory_is_does_not_exist(self, store):
        run(store.write("d/f", stream([b"x"])))
        for path in ["nope", "d", "", "d/f/x"]:
            with pytest.raises(ApiError) as excinfo:
                run(read_all(store, path))
            assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST", path

    def test_read_missing_fails_at_first_chunk(self, store):
        async def scenario():
            reader = store.read("nope")  # nothing is asked of the store yet
            with pytest.raises(ApiError) as excinfo:
                await anext(reader)
            return error_code(excinfo)

        assert run(scenario()) == "RESOURCE_DOES_NOT_EXIST"

    def test_read_rejects_bad_path_before_iterating(self, store):
        with pytest.raises(ApiError) as excinfo:
            store.read("../x")
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"

    def test_delete_file_and_directory(self, store):
        for path in ["keep.txt", "tree/a", "tree/sub/b", "tree/sub/deeper/c", "treehouse"]:
            run(store.write(path, stream([b"data"])))

        run(store.delete("tree/sub/b"))
        assert run(store.stat("tree/sub/b")) is None
        assert run(store.stat("tree/sub/deeper/c")) == FileInfo("tree/sub/deeper/c", False, 4)
        run(store.delete("tree"))
        assert run(store.list("")) == [FileInfo("keep.txt", False, 4), FileInfo("treehouse", False, 4)]
        assert self.stored(store) == ["keep.txt", "treehouse"]  # no hidden leftovers either

        for path in ["tree", "nope/x", "keep.txt/x"]:
            with pytest.raises(ApiError) as excinfo:
                run(store.delete(path))
            assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST", path
        with pytest.raises(ApiError) as excinfo:
            run(store.delete(""))
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"
        assert self.stored(store) == ["keep.txt", "treehouse"]

    def test_write_to_the_root_is_refused(self, store):
        with pytest.raises(ApiError) as excinfo:
            run(store.write("", stream([b"x"])))
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"
        assert self.stored(store) == []

    # --- escapes ----------------------------------------------------------------------------

    @pytest.mark.parametrize("operation", sorted(OPERATIONS))
    @pytest.mark.parametrize("path", TRAVERSAL_PATHS)
    def test_every_operation_rejects_traversal(self, store, operation, path):
        async def attempt():
            return await OPERATIONS[operation](store, path)

        with pytest.raises(ApiError) as excinfo:
            run(attempt())
        assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"
        assert self.stored(store) == []
        assert self.pending_uploads(store) == []

    # --- atomicity --------------------------------------------------------------------------

    async def failing_stream(self) -> AsyncIterator[bytes]:
        yield b"x" * self.bytes_before_failure
        yield b"y" * 10
        raise RuntimeError("client went away")

    def test_failed_write_leaves_nothing(self, store):
        with pytest.raises(RuntimeError, match="client went away"):
            run(store.write("new/nested/file.bin", self.failing_stream()))
        assert self.stored(store) == []
        assert self.pending_uploads(store) == []

    def test_failed_overwrite_keeps_old_file(self, store):
        run(store.write("d/f", stream([b"old"])))
        with pytest.raises(RuntimeError):
            run(store.write("d/f", self.failing_stream()))
        assert run(read_all(store, "d/f")) == b"old"
        assert self.stored(store) == ["d/f"]
        assert self.pending_uploads(store) == []

    def test_cancelled_write_leaves_nothing(self, store):
        async def scenario():
            started = asyncio.Event()

            async def stalls():
                yield b"z" * self.bytes_before_failure
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
        assert self.stored(store) == []
        assert self.pending_uploads(store) == []

    # --- multipart --------------------------------------------------------------------------

    def test_multipart_parts_out_of_order(self, store):
        rng = random.Random(1)
        parts = {1: self.part(rng, 100_001), 2: self.part(rng, 100_002), 3: rng.randbytes(100_003)}

        async def scenario():
            upload_id = await store.create_multipart_upload("models/m.bin", 3)
            assert isinstance(upload_id, str) and upload_id
            # Uploaded concurrently, completed with the list in no particular order.
            etags = await asyncio.gather(
                *(store.upload_part("models/m.bin", upload_id, n, stream([parts[n]])) for n in (3, 1, 2))
            )
            assert etags == [md5(parts[3]), md5(parts[1]), md5(parts[2])]
            assert await store.list("models") == []  # nothing visible before completion
            assert await store.stat("models/m.bin") is None
            assert self.pending_uploads(store) != []
            await store.complete_multipart_upload(
                "models/m.bin", upload_id, [(2, etags[2]), (3, f'"{etags[0]}"'), (1, etags[1].upper())]
            )
            return await read_all(store, "models/m.bin")

        assert run(scenario()) == parts[1] + parts[2] + parts[3]
        assert self.pending_uploads(store) == []
        assert run(store.list("")) == [FileInfo("models", True, None)]
        assert self.stored(store) == ["models/m.bin"]

    def test_multipart_wrong_or_missing_etag(self, store):
        rng = random.Random(2)
        one, two = self.part(rng, 3), b"two"

        async def scenario():
            upload_id = await store.create_multipart_upload("f", 2)
            e1 = await store.upload_part("f", upload_id, 1, stream([one]))
            e2 = await store.upload_part("f", upload_id, 2, stream([two]))
            for bad in (
                [(1, e1), (2, md5(b"other"))],
                [(1, e1), (2, "")],
                [(1, e1)],
                [(1, e1), (1, e1), (2, e2)],
                [(1, e1), (2, e2), (3, e2)],
            ):
                with pytest.raises(ApiError) as excinfo:
                    await store.complete_multipart_upload("f", upload_id, bad)
                assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE", bad
                assert await store.stat("f") is None
            # A failed completion leaves the upload usable.
            await store.complete_multipart_upload("f", upload_id, [(1, e1), (2, e2)])
            return await read_all(store, "f")

        assert run(scenario()) == one + two
        assert self.pending_uploads(store) == []

    def test_multipart_part_never_uploaded(self, store):
        async def scenario():
            upload_id = await store.create_multipart_upload("f", 2)
            e1 = await store.upload_part("f", upload_id, 1, stream([b"only"]))
            with pytest.raises(ApiError) as excinfo:
                await store.complete_multipart_upload("f", upload_id, [(1, e1), (2, md5(b"never"))])
            assert "never uploaded" in excinfo.value.message
            await store.abort_multipart_upload("f", upload_id)

        run(scenario())
        assert self.pending_uploads(store) == []
        assert self.stored(store) == []

    def test_multipart_reuploaded_part_replaces_the_old_one(self, store):
        async def scenario():
            upload_id = await store.create_multipart_upload("f", 1)
            old = await store.upload_part("f", upload_id, 1, stream([b"old"]))
            new = await store.upload_part("f", upload_id, 1, stream([b"new"]))
            with pytest.raises(ApiError):
                await store.complete_multipart_upload("f", upload_id, [(1, old)])
            await store.complete_multipart_upload("f", upload_id, [(1, new)])
            return await read_all(store, "f")

        assert run(scenario()) == b"new"
        assert self.pending_uploads(store) == []

    def test_multipart_replaces_existing_file(self, store):
        run(store.write("f", stream([b"before"])))

        async def scenario():
            upload_id = await store.create_multipart_upload("f", 1)
            etag = await store.upload_part("f", upload_id, 1, stream([b"af", b"ter"]))
            assert await read_all(store, "f") == b"before"  # untouched until completion
            await store.complete_multipart_upload("f", upload_id, [(1, etag)])
            return await read_all(store, "f")

        assert run(scenario()) == b"after"

    def test_multipart_abort_cleans_up(self, store):
        async def scenario():
            upload_id = await store.create_multipart_upload("f", 2)
            await store.upload_part("f", upload_id, 1, stream([b"x" * 1000]))
            assert len(self.pending_uploads(store)) == 1
            await store.abort_multipart_upload("f", upload_id)
            assert self.pending_uploads(store) == []
            for attempt in (
                store.upload_part("f", upload_id, 2, stream([b"y"])),
                store.complete_multipart_upload("f", upload_id, [(1, md5(b"x" * 1000)), (2, md5(b"y"))]),
                store.abort_multipart_upload("f", upload_id),
            ):
                with pytest.raises(ApiError) as excinfo:
                    await attempt
                assert excinfo.value.error_code == "RESOURCE_DOES_NOT_EXIST"

        run(scenario())
        assert self.stored(store) == []

    def test_multipart_bad_arguments(self, store):
        async def scenario():
            upload_id = await store.create_multipart_upload("f", 2)
            for attempt in (
                store.create_multipart_upload("g", 0),
                store.create_multipart_upload("g", 10_001),
                store.create_multipart_upload("g", True),
                store.create_multipart_upload("", 1),
                store.upload_part("f", upload_id, 0, stream([b"x"])),
                store.upload_part("f", upload_id, 3, stream([b"x"])),
                store.upload_part("f", "../../etc", 1, stream([b"x"])),
            ):
                with pytest.raises(ApiError) as excinfo:
                    await attempt
                assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"
            await store.abort_multipart_upload("f", upload_id)

        run(scenario())
        assert self.pending_uploads(store) == []
        assert self.stored(store) == []

    def test_concurrent_multipart_uploads(self, store):
        rng = random.Random(3)
        # Four uploads to different paths and two racing for the same one.
        targets = ["a/1", "a/2", "b/3", "c/4", "same", "same"]
        contents = [
            [self.part(rng, rng.randint(1, 300_000)), self.part(rng, rng.randint(1, 300_000))]
            + [rng.randbytes(rng.randint(1, 300_000))]
            for _ in targets
        ]

        async def one(path, parts):
            upload_id = await store.create_multipart_upload(path, len(parts))
            etags = await asyncio.gather(
                *(
                    store.upload_part(path, upload_id, n + 1, stream([p[:7], p[7:]]))
                    for n, p in enumerate(parts)
                )
            )
            await store.complete_multipart_upload(path, upload_id, list(enumerate(etags, start=1)))

        async def scenario():
            await asyncio.gather(*(one(path, parts) for path, parts in zip(targets, contents, strict=True)))
            return {path: await read_all(store, path) for path in set(targets)}

        got = run(scenario())
        for path, parts in zip(targets[:4], contents[:4], strict=True):
            assert got[path] == b"".join(parts)
        assert got["same"] in (b"".join(contents[4]), b"".join(contents[5]))
        assert self.pending_uploads(store) == []
        assert run(store.list("")) == [
            FileInfo("a", True, None),
            FileInfo("b", True, None),
            FileInfo("c", True, None),
            FileInfo("same", False, len(got["same"])),
        ]
