"""Password hashes: scrypt (hashlib, memory-hard), salted, self-describing.

A check costs tens of milliseconds by design; `auth.authenticate` caches verified credentials so
a caller pays it once, not per call (MLflow's basic-auth app does the same).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# RFC 7914's interactive parameters: 16 MiB and ~50 ms per check on a server core.
_N, _R, _P = 1 << 14, 8, 1
_MAXMEM = 64 << 20
_PREFIX = "scrypt"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """`scrypt:<n>:<r>:<p>$<salt>$<key>`; the parameters travel with the hash so they can be raised."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=_MAXMEM, dklen=32)
    return f"{_PREFIX}:{_N}:{_R}:{_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        params, salt, key = encoded.split("$")
        name, n, r, p = params.split(":")
        if name != _PREFIX:
            return False
        expected = _unb64(key)
        cost = {"n": int(n), "r": int(r), "p": int(p)}
        actual = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), **cost, maxmem=_MAXMEM, dklen=len(expected)
        )
    except (ValueError, TypeError):  # a malformed stored hash never matches
        return False
    return hmac.compare_digest(actual, expected)


# Checked against when the user does not exist, so a wrong name costs what a wrong password does.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
