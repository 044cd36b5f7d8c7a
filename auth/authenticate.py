"""Who is calling: the credentials a call presents → a `Principal`, or UNAUTHENTICATED.

Methods, each optional (the `auth:` section turns them on): flowport API tokens and OIDC JWTs as
`Authorization: Bearer` (a token starts `fpt_`, anything else is read as a JWT), HTTP basic
(whose password may also be one of the user's tokens, for tools that only speak basic), and a
verified client certificate on the gRPC door. A call with no credentials is the anonymous principal,
which no RPC admits.

The per-call cost stays small by caching: tokens by digest and verified basic credentials by an
HMAC of them (a scrypt check is ~50 ms by design), each for a bounded time. Failed basic logins are
limited per user name (not per address: behind a load balancer every caller shares one), and
password checks run on their own small pool with a bounded queue, so a flood of bad passwords
neither burns every core nor slows callers whose credentials are verified or cached.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from cachetools import TTLCache

from flowport.auth import tokens
from flowport.auth.config import AuthConfig
from flowport.auth.credentials import Credentials
from flowport.auth.oidc import OidcVerifier
from flowport.auth.principal import ANONYMOUS, Method, Principal, PrincipalKind
from flowport.auth.store import AuthStore, UserRecord
from flowport.v1.errors import ApiError

T = TypeVar("T")

# The only two things a caller is told: nothing about which check failed or why.
CREDENTIALS_REQUIRED = "Authentication required"
INVALID_CREDENTIALS = "Invalid credentials"


def unauthenticated(message: str = INVALID_CREDENTIALS, *, claimed: str = "") -> ApiError:
    """The caller is not told why; `claimed` (a user name a failed basic sign-in gave) is for audit."""
    err = ApiError(message, "UNAUTHENTICATED")
    err.claimed = claimed
    return err


class FailedLogins:
    """At most `limit` failed password checks per key (a user name) per `window` seconds; past that,
    the key is refused without checking until its window ends."""

    def __init__(self, limit: int = 10, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self._failures: TTLCache[str, int] = TTLCache(max_keys, window)

    def blocked(self, *keys: str) -> bool:
        return any(self._failures.get(key, 0) >= self.limit for key in keys)

    def failed(self, *keys: str) -> None:
        # Each failure restarts the key's window: a key stays refused while failures keep coming.
        for key in keys:
            self._failures[key] = self._failures.get(key, 0) + 1

    def succeeded(self, user: str) -> None:
        self._failures.pop(f"user:{user}", None)


class Authenticator:
    def __init__(
        self,
        config: AuthConfig,
        store: AuthStore,
        *,
        oidc: OidcVerifier | None = None,
        max_pending_password_checks: int = 8,
    ) -> None:
        self.config = config
        self.store = store
        self.oidc = oidc if oidc is not None else (OidcVerifier(config.oidc) if config.oidc else None)
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="flowport-auth")
        self._password_pool = ThreadPoolExecutor(2, thread_name_prefix="flowport-password")
        self._password_slots = asyncio.Semaphore(max_pending_password_checks)
        self._max_pending = max_pending_password_checks
        self._cache_key = secrets.token_bytes(32)  # HMAC key: cached credentials never sit in memory bare
        # Token digest → (its user's principal, or None for no valid token; its expiry in ms).
        self._tokens: TTLCache[str, tuple[Principal | None, int | None]] = TTLCache(
            100_000, config.cache_seconds
        )
        # HMAC of verified basic credentials → the user name; who that user is (groups, admin, still
        # there at all) is read again after `cache_seconds`, like everything else.
        self._basic: TTLCache[bytes, str] = TTLCache(100_000, config.credential_cache_seconds)
        self._users: TTLCache[str, UserRecord | None] = TTLCache(100_000, config.cache_seconds)
        self._jwts: TTLCache[bytes, tuple[Principal, float]] = TTLCache(
            100_000, config.credential_cache_seconds
        )
        self.failed_logins = FailedLogins()

    async def authenticate(self, credentials: Credentials) -> Principal:
        header = credentials.authorization.strip()
        if header:
            scheme, _, value = header.partition(" ")
            scheme, value = scheme.lower(), value.strip()
            if scheme == "bearer" and value:
                if tokens.looks_like_token(value):
                    if self.config.tokens:
                        return await self._token(value)
                elif self.oidc is not None:
                    return await self._jwt(value)
            elif scheme == "basic" and value and self.config.basic:
                return await self._basic_auth(value)
            raise unauthenticated()
        if credentials.client_subject and self.config.mtls is not None:
            return await self._certificate(credentials)
        return ANONYMOUS

    # --- the methods ----------------------------------------------------------------------------

    async def _token(self, secret: str, *, user: str | None = None) -> Principal:
        digest = tokens.digest(secret)
        cached = self._tokens.get(digest)
        if cached is None:
            found = await self._blocking(self.store.token_user, secret)
            cached = (None, None)
            if found is not None and found[0].revoked_at is None:
                cached = (_principal(found[1], Method.TOKEN), found[0].expires_at)
            self._tokens[digest] = cached
        principal, expires_at = cached
        if principal is None or (expires_at is not None and time.time() * 1000 >= expires_at):
            raise unauthenticated()
        if user is not None and principal.name != user:
            raise unauthenticated()
        return principal

    async def _jwt(self, token: str) -> Principal:
        key = hmac.digest(self._cache_key, token.encode(), hashlib.sha256)
        cached = self._jwts.get(key)
        if cached is None:
            cached = await self.oidc.principal(token)
            if cached is None:
                raise unauthenticated()
            self._jwts[key] = cached
        principal, expires = cached
        if time.time() >= expires + self.oidc.config.leeway_seconds:
            self._jwts.pop(key, None)
            raise unauthenticated()
        return principal

    async def _basic_auth(self, value: str) -> Principal:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthenticated() from None
        user, sep, password = decoded.partition(":")
        if not sep or not user or not password:
            raise unauthenticated()
        if tokens.looks_like_token(password) and self.config.tokens:
            return await self._token(password, user=user)
        key = hmac.digest(self._cache_key, f"{user}\x00{password}".encode(), hashlib.sha256)
        if self._basic.get(key) == user:
            record = await self._user(user)
            if record is None:  # deleted since
                raise unauthenticated(claimed=user)
            return _principal(record, Method.BASIC)
        limited = f"user:{user}"
        if self.failed_logins.blocked(limited) or self._password_slots.locked():
            raise unauthenticated(claimed=user)
        async with self._password_slots:
            record = await self._blocking(self.store.check_password, user, password, pool=self._password_pool)
        if record is None:
            self.failed_logins.failed(limited)
            raise unauthenticated(claimed=user)
        self.failed_logins.succeeded(user)
        self._basic[key] = user
        self._users[user] = record
        return _principal(record, Method.BASIC)

    async def _user(self, name: str) -> UserRecord | None:
        if name in self._users:
            return self._users[name]
        record = self._users[name] = await self._blocking(self.store.find_user, name)
        return record

    async def _certificate(self, credentials: Credentials) -> Principal:
        by_subject = self.config.mtls.principal_from == "subject"
        name = credentials.client_subject if by_subject else credentials.client_common_name
        if not name:
            raise unauthenticated()
        # A service account of that name, if there is one, lends the principal its groups and admin.
        record = await self._user(name)
        if record is not None:
            return _principal(record, Method.MTLS)
        return Principal(name, PrincipalKind.SERVICE, method=Method.MTLS)

    # --- plumbing -------------------------------------------------------------------------------

    def forget(self) -> None:
        """Drop every cached credential: users, tokens or passwords changed."""
        for cache in (self._tokens, self._basic, self._jwts, self._users):
            cache.clear()

    async def check_password(self, user: str, password: str) -> UserRecord | None:
        """A password check on the password pool (the admin API's self-service password change)."""
        async with self._password_slots:
            return await self._blocking(self.store.check_password, user, password, pool=self._password_pool)

    async def _blocking(
        self, fn: Callable[..., T], *args: object, pool: ThreadPoolExecutor | None = None
    ) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool or self._pool, fn, *args)

    async def close(self) -> None:
        if self.oidc is not None:
            await self.oidc.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._password_pool.shutdown(wait=False, cancel_futures=True)


def _principal(user: UserRecord, method: Method) -> Principal:
    return Principal(user.name, user.kind, user.groups, admin=user.is_admin, method=method)
