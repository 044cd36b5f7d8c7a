"""Offset page tokens in MLflow's format: base64 of the JSON `{"offset": N}`.

For these bytes URL-safe and standard base64 coincide, so tokens from an `mlflow server` and
from flowport are interchangeable; the decoder accepts either alphabet and missing padding.
A token may also carry `"after"`, the sort key of the last row served, so the next page starts
with an index seek instead of skipping `offset` rows (clients echo tokens unread); a token without
it, such as one from `mlflow server`, pages by offset.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from flowport.v1.errors import invalid_parameter


def encode_page_token(offset: int, after: Sequence[Any] | None = None) -> str:
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"a page offset is a non-negative int, got {offset!r}")
    content: dict[str, Any] = {"offset": offset}
    if after is not None:
        content["after"] = list(after)
    return base64.urlsafe_b64encode(json.dumps(content).encode("utf-8")).decode("ascii")


def decode_page_token(token: str | None) -> int:
    """The offset a token stands for; None or "" is the first page (0)."""
    return decode_keyset_token(token)[0]


def decode_keyset_token(token: str | None) -> tuple[int, list[Any] | None]:
    """(offset, the sort key of the last row served or None) of a token; None or "" is (0, None)."""
    if not token:
        return 0, None
    text = token.strip()
    try:
        raw = base64.b64decode(
            text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
        )
    except (binascii.Error, ValueError):
        raise invalid_parameter("Invalid page token, could not base64-decode") from None
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise invalid_parameter(f"Invalid page token, decoded value={raw!r}") from None
    offset = parsed.get("offset") if isinstance(parsed, dict) else None
    # MLflow writes an int; it also reads a digit string, so we do too. Booleans and floats are garbage.
    if isinstance(offset, str) and offset.isdigit():
        offset = int(offset)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise invalid_parameter(f"Invalid page token, parsed value={parsed!r}")
    after = parsed.get("after")
    if after is not None and not isinstance(after, list):
        raise invalid_parameter(f"Invalid page token, parsed value={parsed!r}")
    return offset, after
