"""flowport API tokens: random secrets shown once, stored only as a SHA-256 digest.

A token is 256 random bits, so a fast digest is as safe as a slow one (nothing to guess) and keeps
the check inside the per-call budget. Each token has a public id (`tok_…`) used to list and revoke
it without ever handling the secret again.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "fpt_"  # lets an Authorization: Bearer value be told apart from a JWT without parsing it


def new_token() -> tuple[str, str]:
    """(public id, secret)."""
    return f"tok_{secrets.token_hex(8)}", PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    return value.startswith(PREFIX)
