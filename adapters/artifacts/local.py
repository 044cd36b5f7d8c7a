"""The `file` artifact store: artifacts as files under one root directory on the gateway's disk.

Nothing may escape the root: every path is normalized, then resolved (symlinks included)
and checked against the root's real path. Blocking calls run in threads, never on the loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import stat as stat_mode
import urllib.parse
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

from flowport.adapters.artifact_store import (
    ArtifactStore,
    FileInfo,
    completed_parts,
    normalize_artifact_path,
)
from flowport.adapters.threads import outlive_cancellation
from flowport.v1.errors import ApiError, does_not_exist, invalid_parameter

# Every name the store keeps for itself starts with this; user paths may not contain a segment
# that does, and `list` never shows one.
RESERVED_PREFIX = ".flowport-"
STAGING_DIR = RESERVED_PREFIX + "mpu"
_TMP_PREFIX = RESERVED_PREFIX + "tmp-"
_GONE_PREFIX = RESERVED_PREFIX + "gone-"
_MANIFEST = "upload.json"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_MD5 = re.compile(r"^[0-9a-f]{32}$")
# S3's limit; a client asking for more is confused, not ambitious.
MAX_PARTS = 10_000
# Incoming chunks are coalesced up to this size so that many small network reads do not each
# cost a thread hop; it is also the most a write holds in memory beyond the current chunk.
_WRITE_BUFFER = 1 << 20
_COPY_STEP = 8 << 20

_T = TypeVar("_T")


async def _in_thread(fn: Callable[..., _T], *args: Any) -> _T:
    """Run blocking `fn` in a thread. On cancellation, wait for the thread before re-raising:
    cleanup that follows must not race a write still in flight on the same file."""
    return await outlive_cancellation(asyncio.ensure_future(asyncio.to_thread(fn, *args)))


def _api_error(exc: OSError, rel: str) -> ApiError:
    """An OSError as the client should see it; never shows the absolute path on the server."""
    where = f"'{rel}'" if rel else "the artifact root"
    if isinstance(exc, FileNotFoundError):
        return does_not_exist(f"No such artifact: {where}")
    if isinstance(exc, PermissionError):
        return ApiError(f"Permission denied on {where}", "PERMISSION_DENIED")
    if isinstance(exc, IsADirectoryError | NotADirectoryError | FileExistsError) or exc.errno in (
        errno.ENAMETOOLONG,
        errno.ELOOP,
    ):
        return invalid_parameter(f"Invalid artifact path {where}: {exc.strerror}")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ApiError(f"No space left to store {where}", "RESOURCE_EXHAUSTED")
    return ApiError(f"Artifact store failed on {where}: {exc.strerror or exc}", "INTERNAL_ERROR")


@contextmanager
def _os_errors(rel: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _api_error(exc, rel) from exc


def _check_count(name: str, value: object, highest: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= highest:
        raise invalid_parameter(f"{name} must be between 1 and {highest}, got {value!r}")


def _part_name(part_number: int, etag: str) -> str:
    # The etag is in the name, so a part and its checksum are replaced together, atomically.
    return f"{part_number:05d}-{etag}"


def _writeback_starter() -> Callable[[int, int, int], None]:
    """`sync_file_range(SYNC_FILE_RANGE_WRITE)` where libc has it (Linux): the disk starts on what
    was just written without anyone waiting, so the fsync before a commit finds little left to do
    (PostgreSQL flushes its writes the same way). Elsewhere nothing: the fsync does all of it."""
    sync_file_range = getattr(ctypes.CDLL(None, use_errno=True), "sync_file_range", None)
    if sync_file_range is None:
        return lambda fd, offset, length: None
    sync_file_range.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    sync_file_range.restype = ctypes.c_int

    def start(fd: int, offset: int, length: int) -> None:
        if length > 0:  # 0 would mean "to the end of the file"
            sync_file_range(fd, offset, length, 2)  # SYNC_FILE_RANGE_WRITE; a failure leaves it to fsync

    return start


_start_writeback = _writeback_starter()


class _PendingFile:
    """A temporary file beside its destination that becomes the destination only on commit."""

    def __init__(self, directory: str, made_dirs: list[str], *, md5: bool = False) -> None:
        self.tmp = os.path.join(directory, _TMP_PREFIX + uuid.uuid4().hex)
        self.made_dirs = made_dirs
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self._fd: int | None = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)

    @property
    def md5(self) -> str:
        assert self._md5 is not None
        return self._md5.hexdigest()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert self._fd is not None
        view = memoryview(data)
        if self._md5 is not None:
            self._md5.update(view)
        start = self.size
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
            self.size += written
        _start_writeback(self._fd, start, self.size - start)

    def append_file(self, src_fd: int) -> bool:
        """Copy the next step of `src_fd` in the kernel when it can; False at the source's end."""
        assert self._fd is not None
        try:
            copied = os.copy_file_range(src_fd, self._fd, _COPY_STEP)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            data = os.read(src_fd, _WRITE_BUFFER)
            self.write(data)
            return bool(data)
        _start_writeback(self._fd, self.size, copied)
        self.size += copied
        return copied > 0

    def commit(self, dest: str) -> None:
        assert self._fd is not None
        # fsync before the rename: after a crash the name must point at whole bytes or nothing.
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        os.replace(self.tmp, dest)

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass
        # Directories this write created go too, unless a concurrent write put something there.
        for directory in reversed(self.made_dirs):
            try:
                os.rmdir(directory)
            except OSError:
                break


class LocalArtifactStore(ArtifactStore):
    """Artifacts under `root`. Paths escaping it (by '..', encoding or a symlink) fail with
    INVALID_PARAMETER_VALUE, as MLflow's own local repository answers "Invalid path".

    Multipart uploads stage their parts in `<root>/.flowport-mpu/<upload_id>/`; stale ones
    (created, never completed nor aborted) stay until an operator removes them.
    """

    scheme: ClassVar[str] = "file"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        os.makedirs(root, exist_ok=True)
        self.root = os.path.realpath(root)

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> LocalArtifactStore:
        """`file:///srv/artifacts`, `file://localhost/srv/artifacts` or a plain path."""
        parts = urllib.parse.urlsplit(uri)
        if len(parts.scheme) <= 1:  # a plain path, or a Windows drive letter
            return cls(uri)
        if parts.scheme != "file":
            raise invalid_parameter(f"'{uri}' is not a file:// URI")
        if parts.netloc not in ("", "localhost"):
            raise invalid_parameter(f"'{uri}' names a remote host; a file store must be local")
        return cls(urllib.parse.unquote(parts.path))

    def __repr__(self) -> str:
        return f"LocalArtifactStore({self.root!r})"

    # --- paths ---------------------------------------------------------------------------

    @staticmethod
    def _rel(path: str | None) -> str:
        rel = normalize_artifact_path(path)
        if any(segment.startswith(RESERVED_PREFIX) for segment in rel.split("/")):
            raise invalid_parameter(
                f"Invalid artifact path '{rel}': names starting with "
                f"'{RESERVED_PREFIX}' are reserved by the store"
            )
        return rel

    def _inside(self, real: str) -> bool:
        if os.path.commonpath([self.root, real]) != self.root:
            return False
        inner = os.path.relpath(real, self.root)
        return inner == "." or not any(s.startswith(RESERVED_PREFIX) for s in inner.split(os.sep))

    def _locate(self, rel: str) -> tuple[str, str]:
        """(entry, target): the entry at `rel` with its parents resolved, and where it finally leads.

        Both must lie inside the root and outside the store's reserved names, or the path is
        refused — this is what stops a symlink inside the root from reaching out of it.
        """
        if not rel:
            return self.root, self.root
        full = os.path.join(self.root, *rel.split("/"))
        entry = os.path.join(os.path.realpath(os.path.dirname(full)), os.path.basename(full))
        target = os.path.realpath(entry)
        if not (self._inside(entry) and self._inside(target)):
            raise invalid_parameter(f"Invalid artifact path '{rel}': it resolves outside the artifact root")
        return entry, target

    # --- reading ---------------------------------------------------------------------------

    async def list(self, path: str) -> list[FileInfo]:
        rel = self._rel(path)
        with _os_errors(rel):
            return await _in_thread(self._list, rel)

    def _list(self, rel: str) -> list[FileInfo]:
        _, target = self._locate(rel)
        try:
            with os.scandir(target) as entries:
                found = list(entries)
        except (FileNotFoundError, NotADirectoryError):
            return []
        infos = []
        for entry in found:
            if entry.name.startswith(RESERVED_PREFIX):
                continue
            # A link leading out of the root is not ours to describe, not even its size.
            if entry.is_symlink() and not self._inside(os.path.realpath(entry.path)):
                continue
            try:
                is_dir = entry.is_dir()
                size = None if is_dir else entry.stat().st_size
            except OSError:  # a dangling link, or removed while we looked
                continue
            infos.append(FileInfo(f"{rel}/{entry.name}" if rel else entry.name, is_dir, size))
        infos.sort(key=lambda info: info.path)
        return infos

    async def stat(self, path: str) -> FileInfo | None:
        rel = self._rel(path)
        with _os_errors(rel):
            return await _in_thread(self._stat, rel)

    def _stat(self, rel: str) -> FileInfo | None:
        _, target = self._locate(rel)
        try:
            st = os.stat(target)
        except (FileNotFoundError, NotADirectoryError):
            return None
        is_dir = stat_mode.S_ISDIR(st.st_mode)
        return FileInfo(rel, is_dir, None if is_dir else st.st_size)

    def read(self, path: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        rel = self._rel(path)
        if chunk_size <= 0:
            raise invalid_parameter(f"chunk_size must be positive, got {chunk_size}")
        return self._read(rel, chunk_size)

    async def _read(self, rel: str, chunk_size: int) -> AsyncIterator[bytes]:
        with _os_errors(rel):
            fd = await _in_thread(self._open_for_read, rel)
        try:
            while True:
                with _os_errors(rel):
                    chunk = await _in_thread(os.read, fd, chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            await _in_thread(os.close, fd)

    def _open_for_read(self, rel: str) -> int:
        missing = does_not_exist(f"No such artifact: '{rel}'")
        if not rel:
            raise missing
        _, target = self._locate(rel)
        try:
            # O_NOFOLLOW: the target is fully resolved, so a link here was planted after the check.
            fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise missing from None
        if stat_mode.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            raise missing
        return fd

    # --- writing ---------------------------------------------------------------------------

    async def write(self, path: str, chunks: AsyncIterable[bytes]) -> int:
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("Cannot write to the artifact root itself; name a file")
        with _os_errors(rel):
            pending, dest = await _in_thread(self._prepare_file, rel)
            await self._fill(pending, chunks, lambda: dest)
        return pending.size

    def _prepare_file(self, rel: str) -> tuple[_PendingFile, str]:
        """A pending file for `rel` and its destination, creating the directories it needs."""
        entry, target = self._locate(rel)
        if os.path.isdir(target):
            raise invalid_parameter(f"Invalid artifact path '{rel}': it is a directory")
        # A failing concurrent write may remove a directory it made just as we start to use
        # it; trying again then sees the directory gone and makes it ourselves.
        for attempt in range(3):
            try:
                return self._pending_in(os.path.dirname(entry), rel), entry
            except FileNotFoundError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _pending_in(directory: str, rel: str) -> _PendingFile:
        missing: list[str] = []
        probe = directory
        while not os.path.lexists(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        if not os.path.isdir(probe):
            raise invalid_parameter(f"Invalid artifact path '{rel}': a parent is a file")
        made: list[str] = []
        try:
            for new_dir in reversed(missing):
                try:
                    os.mkdir(new_dir)
                    made.append(new_dir)
                except FileExistsError:  # a concurrent write made it; it is not ours to remove
                    pass
            return _PendingFile(directory, made)
        except BaseException:
            for new_dir in reversed(made):
                try:
                    os.rmdir(new_dir)
                except OSError:
                    break
            raise

    async def _fill(
        self, pending: _PendingFile, chunks: AsyncIterable[bytes], dest: Callable[[], str]
    ) -> None:
        """Write `chunks` into `pending` and commit it to `dest()`; on any failure discard it."""
        try:
            buffer = bytearray()
            async for chunk in chunks:
                if not buffer and len(chunk) >= _WRITE_BUFFER:
                    await _in_thread(pending.write, chunk)
                    continue
                buffer += chunk
                if len(buffer) >= _WRITE_BUFFER:
                    full, buffer = buffer, bytearray()
                    await _in_thread(pending.write, full)
            if buffer:
                await _in_thread(pending.write, buffer)
            await _in_thread(lambda: pending.commit(dest()))
        except BaseException:
            await _in_thread(pending.discard)
            raise

    async def delete(self, path: str) -> None:
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("Refusing to delete the artifact root")
        with _os_errors(rel):
            await _in_thread(self._delete, rel)

    def _delete(self, rel: str) -> None:
        entry, _ = self._locate(rel)
        if not os.path.lexists(entry):
            raise does_not_exist(f"No such artifact: '{rel}'")
        if os.path.islink(entry) or not os.path.isdir(entry):
            os.unlink(entry)  # a link goes, never what it points at
            return
        # Renaming first makes the delete look atomic: readers see the whole tree or nothing.
        gone = os.path.join(os.path.dirname(entry), _GONE_PREFIX + uuid.uuid4().hex)
        os.rename(entry, gone)
        shutil.rmtree(gone)

    # --- multipart upload ------------------------------------------------------------------

    def _upload_dir(self, upload_id: str) -> str:
        if not isinstance(upload_id, str) or not _UPLOAD_ID.match(upload_id):
            raise invalid_parameter(f"Invalid multipart upload id '{upload_id}'")
        return os.path.join(self.root, STAGING_DIR, upload_id)

    def _open_upload(self, rel: str, upload_id: str) -> tuple[str, int]:
        """(staging directory, num_parts) of an upload to `rel`."""
        directory = self._upload_dir(upload_id)
        try:
            with open(os.path.join(directory, _MANIFEST), encoding="utf-8") as f:
                manifest = json.load(f)
        except (FileNotFoundError, NotADirectoryError):
            raise does_not_exist(f"Multipart upload '{upload_id}' does not exist") from None
        if manifest["path"] != rel:
            raise invalid_parameter(
                f"Multipart upload '{upload_id}' is for '{manifest['path']}', not for '{rel}'"
            )
        return directory, int(manifest["num_parts"])

    def _drop_upload(self, directory: str) -> None:
        # Rename first so that no later call can address the upload while it is being removed.
        gone = os.path.join(os.path.dirname(directory), _GONE_PREFIX + uuid.uuid4().hex)
        try:
            os.rename(directory, gone)
        except FileNotFoundError:
            return
        shutil.rmtree(gone, ignore_errors=True)

    async def create_multipart_upload(self, path: str, num_parts: int) -> str:
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("Cannot upload to the artifact root itself; name a file")
        _check_count("num_parts", num_parts, MAX_PARTS)
        with _os_errors(rel):
            return await _in_thread(self._create_upload, rel, num_parts)

    def _create_upload(self, rel: str, num_parts: int) -> str:
        _, target = self._locate(rel)  # refuse a bad destination now, not after every part
        if os.path.isdir(target):
            raise invalid_parameter(f"Invalid artifact path '{rel}': it is a directory")
        upload_id = uuid.uuid4().hex
        directory = os.path.join(self.root, STAGING_DIR, upload_id)
        os.makedirs(os.path.dirname(directory), exist_ok=True)
        os.mkdir(directory)
        pending = _PendingFile(directory, [])
        try:
            pending.write(json.dumps({"path": rel, "num_parts": num_parts}).encode())
            pending.commit(os.path.join(directory, _MANIFEST))
        except BaseException:
            pending.discard()
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return upload_id

    async def upload_part(
        self, path: str, upload_id: str, part_number: int, chunks: AsyncIterable[bytes]
    ) -> str:
        rel = self._rel(path)
        with _os_errors(rel):
            pending, directory = await _in_thread(self._prepare_part, rel, upload_id, part_number)
            try:
                await self._fill(
                    pending, chunks, lambda: os.path.join(directory, _part_name(part_number, pending.md5))
                )
            except FileNotFoundError:  # aborted or completed while this part was arriving
                raise does_not_exist(f"Multipart upload '{upload_id}' does not exist") from None
            await _in_thread(self._drop_other_versions, directory, part_number, pending.md5)
        return pending.md5

    def _prepare_part(self, rel: str, upload_id: str, part_number: int) -> tuple[_PendingFile, str]:
        directory, num_parts = self._open_upload(rel, upload_id)
        _check_count("part_number", part_number, num_parts)
        return _PendingFile(directory, [], md5=True), directory

    @staticmethod
    def _drop_other_versions(directory: str, part_number: int, md5: str) -> None:
        # As in S3, only the latest upload of a part counts; older ones would only waste disk.
        prefix = _part_name(part_number, "")
        for name in os.listdir(directory):
            if name.startswith(prefix) and name != prefix + md5:
                try:
                    os.unlink(os.path.join(directory, name))
                except FileNotFoundError:
                    pass

    async def complete_multipart_upload(
        self, path: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        rel = self._rel(path)
        with _os_errors(rel):
            directory, files = await _in_thread(self._check_parts, rel, upload_id, parts)
            pending, dest = await _in_thread(self._prepare_file, rel)
            try:
                for part_number, part_file in files:
                    try:
                        src = await _in_thread(os.open, part_file, os.O_RDONLY | os.O_CLOEXEC)
                    except FileNotFoundError:
                        raise invalid_parameter(
                            f"Part {part_number} of upload '{upload_id}' changed while completing"
                        ) from None
                    try:
                        while await _in_thread(pending.append_file, src):
                            pass
                    finally:
                        await _in_thread(os.close, src)
                await _in_thread(pending.commit, dest)
            except BaseException:
                await _in_thread(pending.discard)
                raise
            await _in_thread(self._drop_upload, directory)

    def _check_parts(
        self, rel: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> tuple[str, list[tuple[int, str]]]:
        """The staging directory and the part files to join, in part-number order."""
        directory, num_parts = self._open_upload(rel, upload_id)
        wanted = completed_parts(upload_id, num_parts, parts)
        present = set(os.listdir(directory))
        files = []
        for part_number in sorted(wanted):
            etag = wanted[part_number]
            name = _part_name(part_number, etag)
            if not _MD5.match(etag) or name not in present:
                uploaded = any(p.startswith(_part_name(part_number, "")) for p in present)
                raise invalid_parameter(
                    f"Part {part_number}: etag '{etag}' does not match the uploaded part"
                    if uploaded
                    else f"Part {part_number} of upload '{upload_id}' was never uploaded"
                )
            files.append((part_number, os.path.join(directory, name)))
        return directory, files

    async def abort_multipart_upload(self, path: str, upload_id: str) -> None:
        rel = self._rel(path)
        with _os_errors(rel):
            await _in_thread(self._abort, rel, upload_id)

    def _abort(self, rel: str, upload_id: str) -> None:
        directory, _ = self._open_upload(rel, upload_id)
        self._drop_upload(directory)
