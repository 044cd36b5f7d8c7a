"""What the stores over object storage (s3, gs, wasbs) share: limits, names they can list, the
checks of multipart and presigned-URL arguments, and the Content-Disposition of a download."""

from __future__ import annotations

import asyncio
import functools
import re
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from flowport.adapters.artifact_store import ArtifactStore, normalize_artifact_path
from flowport.adapters.threads import outlive_cancellation
from flowport.v1.errors import ApiError, invalid_parameter

# The gateway's multipart routes allow as many parts as S3 does.
MAX_PARTS = 10_000
# SigV4 presigned URLs, GCS V4 signed URLs and user delegation keys all live at most seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


_T = TypeVar("_T")


class PrefixedObjectStore(ArtifactStore):
    """A store over an object service's SDK: keys under `prefix`, blocking calls in `_pool`."""

    prefix: str
    _pool: ThreadPoolExecutor

    async def _call(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run blocking `fn` in the pool. On cancellation, wait for the thread before re-raising: a
        cleanup that follows (an abort, a delete) must not race a request still in flight."""
        loop = asyncio.get_running_loop()
        return await outlive_cancellation(
            loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        )

    @staticmethod
    def _rel(path: str | None) -> str:
        return normalize_artifact_path(path)

    def _key(self, rel: str) -> str:
        return "/".join(part for part in (self.prefix, rel) if part)

    def _children_prefix(self, rel: str) -> str:
        """The key prefix of everything below `rel`: a "directory" ends with '/' in object storage."""
        key = self._key(rel)
        return f"{key}/" if key else ""


def describe_path(rel: str) -> str:
    """A store path as error messages name it."""
    return f"'{rel}'" if rel else "the artifact root"


def plain_name(name: str, reserved_prefix: str | None = None) -> bool:
    """Whether `name` is one segment a client could address again (not "", "..", "a%2fb", or one
    starting with the store's `reserved_prefix`): listings skip the others."""
    if not name or "/" in name or (reserved_prefix is not None and name.startswith(reserved_prefix)):
        return False
    try:
        return normalize_artifact_path(name) == name
    except ApiError:
        return False


def check_count(name: str, value: object, highest: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= highest:
        raise invalid_parameter(f"{name} must be between 1 and {highest}, got {value!r}")


def check_expiry(expires_in: object) -> None:
    if isinstance(expires_in, bool) or not isinstance(expires_in, int):
        raise invalid_parameter(f"expires_in must be an integer, got {expires_in!r}")
    if not 1 <= expires_in <= MAX_PRESIGN_SECONDS:
        raise invalid_parameter(f"expires_in must be between 1 and {MAX_PRESIGN_SECONDS} seconds")


def parse_numbered_upload_id(pattern: re.Pattern[str], upload_id: object) -> tuple[int, str]:
    """`<number of parts>.<store's own id>` → both, for ids whose `pattern` has those two groups."""
    match = pattern.fullmatch(upload_id) if isinstance(upload_id, str) else None
    if match is None or int(match.group(1)) > MAX_PARTS:
        raise invalid_parameter(f"Invalid multipart upload id {upload_id!r}")
    return int(match.group(1)), match.group(2)


def attachment(filename: str) -> str:
    """An RFC 6266 `attachment` Content-Disposition; names that are not plain printable ASCII go
    percent-encoded (RFC 5987), so no control character reaches a header."""
    if not filename.isascii() or not filename.isprintable():
        return f"attachment; filename*=UTF-8''{urllib.parse.quote(filename)}"
    escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
    return f'attachment; filename="{escaped}"'
