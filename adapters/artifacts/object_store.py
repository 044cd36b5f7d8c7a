"""What the stores over object storage (s3, gs, wasbs) share: limits, names they can list, the
checks of multipart and presigned-URL arguments, and the Content-Disposition of a download."""

from __future__ import annotations

import re
import urllib.parse

from flowport.adapters.artifact_store import normalize_artifact_path
from flowport.v1.errors import ApiError, invalid_parameter

# The gateway's multipart routes allow as many parts as S3 does.
MAX_PARTS = 10_000
# SigV4 presigned URLs, GCS V4 signed URLs and user delegation keys all live at most seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


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
