"""The ArtifactStore contract every backend's byte storage implements, and the one path check they share.

Stores move bytes as async streams with bounded memory; they never see URIs a client sent
(the gateway maps `mlflow-artifacts:` paths to store paths) and never import the gateway.
"""

from __future__ import annotations

import abc
import re
import urllib.parse
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from flowport.v1.errors import ApiError, invalid_parameter


@dataclass(frozen=True)
class FileInfo:
    """One entry of a store: `path` is relative to the store root; `file_size` is None for directories."""

    path: str
    is_dir: bool
    file_size: int | None


# A Windows drive ("C:", "c:foo"): harmless on POSIX, an absolute path on Windows.
_DRIVE = re.compile(r"^[A-Za-z]:")
# C0 control characters and DEL: NUL truncates paths in C APIs, CR/LF forge log lines and headers.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# How many rounds of percent-decoding we follow before calling a path hostile.
_MAX_DECODE_ROUNDS = 10


def _fully_decoded(segment: str) -> str | None:
    """Percent-decode until stable; None when it never settles (a deliberately nested encoding)."""
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = urllib.parse.unquote(segment)
        if decoded == segment:
            return segment
        segment = decoded
    return None


def _unsafe(segment: str) -> bool:
    return segment == ".." or "\\" in segment or _CONTROL.search(segment) is not None


def normalize_artifact_path(path: str | None) -> str:
    """Turn a client-supplied artifact path into a safe relative POSIX path ('' for the root).

    Empty segments collapse ("a//b" → "a/b") and "." segments are dropped. Rejected with
    INVALID_PARAMETER_VALUE: absolute paths, ".." segments, backslashes, control characters
    (NUL included), a leading Windows drive, and any segment that, once percent-decoded
    (repeatedly, as a lenient proxy might), becomes ".", "..", or contains a separator or a
    control character ("%2e%2e", "..%2fx", "%252e%252e"). A literal '%' that decodes to
    nothing dangerous ("100%.txt", "a%20b") is kept verbatim: the store never decodes names.
    """
    if path is None or path == "":
        return ""
    if not isinstance(path, str):
        raise invalid_parameter(f"Invalid artifact path {path!r}: expected a string")
    shown = path.encode("unicode_escape").decode("ascii")
    if path.startswith("/"):
        raise invalid_parameter(f"Invalid artifact path '{shown}': absolute paths are not allowed")
    kept: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        decoded = _fully_decoded(segment)
        if decoded is None or _unsafe(segment):
            raise invalid_parameter(f"Invalid artifact path '{shown}'")
        if decoded != segment and (decoded in (".", "..") or "/" in decoded or _unsafe(decoded)):
            raise invalid_parameter(f"Invalid artifact path '{shown}': encoded traversal or separator")
        if not kept and (_DRIVE.match(segment) or _DRIVE.match(decoded)):
            raise invalid_parameter(f"Invalid artifact path '{shown}': drive letters are not allowed")
        kept.append(segment)
    return "/".join(kept)


def normalize_etag(etag: str) -> str:
    """An etag as stores compare them: S3-style clients echo the ETag header with its quotes."""
    return str(etag).strip().strip('"').lower()


def completed_parts(upload_id: str, num_parts: int, parts: Sequence[tuple[int, str]]) -> dict[int, str]:
    """{part number: etag} of a multipart completion that lists parts 1..num_parts, each once."""
    wanted: dict[int, str] = {}
    for part_number, etag in parts:
        if part_number in wanted:
            raise invalid_parameter(f"Part {part_number} is listed twice")
        wanted[part_number] = normalize_etag(etag)
    expected = set(range(1, num_parts + 1))
    if set(wanted) != expected:
        missing = sorted(expected - set(wanted))
        extra = sorted(set(wanted) - expected)
        raise invalid_parameter(
            f"Upload '{upload_id}' has {num_parts} parts; "
            + (f"missing {missing}" if missing else f"unknown part numbers {extra}")
        )
    return wanted


class ArtifactStore(abc.ABC):
    """Byte storage under one root, addressed by relative POSIX paths (see `normalize_artifact_path`).

    Every failure a client could cause is an ApiError with MLflow's code. Implementations
    keep blocking I/O off the event loop and hold at most a few chunks in memory.
    """

    scheme: ClassVar[str]
    # The keywords `from_uri` takes besides the URI (endpoints, credentials, sizes).
    options: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> ArtifactStore:
        """The store rooted at `uri` (`<scheme>://bucket[/prefix]`); `options` are its constructor's
        keywords, as `options` names them."""
        return cls(uri, **options)

    @abc.abstractmethod
    async def list(self, path: str) -> list[FileInfo]:
        """Direct children of `path`, sorted by path; [] when it is missing or not a directory.

        Paths are relative to the STORE root ("run/artifacts/model.pkl"), as MLflow's
        LocalArtifactRepository.list_artifacts returns them. The mlflow-artifacts REST
        handler then shows only the basename, relative to the listed directory; that
        translation belongs to the door, which knows what the client asked to list.
        """

    @abc.abstractmethod
    async def stat(self, path: str) -> FileInfo | None:
        """What is at `path` (the root is a directory), or None when nothing is."""

    @abc.abstractmethod
    def read(self, path: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Stream a file's bytes. A missing path or a directory raises RESOURCE_DOES_NOT_EXIST.

        An invalid path raises at once; errors that need the filesystem surface at the first
        `__anext__`, so a door that must answer 404 before sending headers pulls the first
        chunk (or calls `stat`) before it starts the response.
        """

    @abc.abstractmethod
    async def write(self, path: str, chunks: AsyncIterable[bytes]) -> int:
        """Store `chunks` at `path` atomically, replacing any file there; returns the byte count.

        On any failure (the chunks iterator raising, cancellation, a full disk) neither a
        partial file nor a temporary one stays behind, and an existing file is untouched.
        """

    @abc.abstractmethod
    async def delete(self, path: str) -> None:
        """Remove a file or a whole directory; RESOURCE_DOES_NOT_EXIST when nothing is there."""

    # Multipart upload is optional: MLflow answers NOT_IMPLEMENTED for a repository without it.
    # Its client does not fall back, so the gateway advertises multipart only where a store has it.

    @property
    def supports_multipart(self) -> bool:
        return type(self).create_multipart_upload is not ArtifactStore.create_multipart_upload

    async def create_multipart_upload(self, path: str, num_parts: int) -> str:
        """Start an upload of `num_parts` parts to `path`; returns its upload id."""
        raise self._no_multipart()

    async def upload_part(
        self, path: str, upload_id: str, part_number: int, chunks: AsyncIterable[bytes]
    ) -> str:
        """Store one part (1-based; re-sending a part replaces it); returns its etag (md5 hex)."""
        raise self._no_multipart()

    async def complete_multipart_upload(
        self, path: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        """Join the parts `(part_number, etag)` in part-number order into `path`, atomically."""
        raise self._no_multipart()

    async def abort_multipart_upload(self, path: str, upload_id: str) -> None:
        """Drop an upload and every part it staged."""
        raise self._no_multipart()

    # Presigned URLs are optional too: a store that cannot mint them makes the door move the bytes.
    # Whether a client may be handed one at all is its backend's decision (`Backend.presigned_urls`).

    @property
    def supports_presigned_urls(self) -> bool:
        return type(self).presigned_url is not ArtifactStore.presigned_url

    @property
    def supports_presigned_parts(self) -> bool:
        return type(self).presigned_part_url is not ArtifactStore.presigned_part_url

    async def presigned_url(self, path: str, method: str, expires_in: int) -> str:
        """A URL that lets its holder GET or PUT the file at `path` for `expires_in` seconds."""
        raise self._no_presigning()

    async def presigned_part_url(self, path: str, upload_id: str, part_number: int, expires_in: int) -> str:
        """A URL that lets its holder PUT part `part_number` of an upload from `create_multipart_upload`
        for `expires_in` seconds; the response's ETag header is the part's etag for completing it."""
        raise self._no_presigning()

    async def close(self) -> None:
        """Release clients and connections; the store is not used afterwards."""
        return None  # stores without connections have nothing to release

    def _no_presigning(self) -> ApiError:
        return ApiError(
            f"Presigned URLs are not supported by the {type(self).__name__} artifact store",
            "NOT_IMPLEMENTED",
        )

    def _no_multipart(self) -> ApiError:
        return ApiError(
            f"Multipart upload is not supported by the {type(self).__name__} artifact store",
            "NOT_IMPLEMENTED",
        )
