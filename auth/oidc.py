"""OIDC JWT bearer tokens: signature against the issuer's JWKS, issuer, audience, expiry (pyjwt).

Key rotation: a token signed with a key id not in the cached set triggers one refetch of the JWKS,
at most once per `refetch_interval_seconds` however many such tokens arrive, so made-up key ids
cannot turn the gateway into a load generator against the identity provider.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import jwt

from flowport.auth.config import OidcConfig
from flowport.auth.principal import Method, Principal, PrincipalKind

log = logging.getLogger("flowport.auth")


class JwksKeys:
    """The identity provider's signing keys by key id, fetched on first use and on rotation."""

    def __init__(self, url: str, *, refetch_interval: float, http: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.refetch_interval = refetch_interval
        self._http = http or httpx.AsyncClient(timeout=10.0)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:  # concurrent misses share one fetch
            if kid in self._keys:
                return self._keys[kid]
            recent = (
                self._fetched_at is not None and time.monotonic() - self._fetched_at < self.refetch_interval
            )
            if not recent:
                await self._fetch()
        if kid is None and len(self._keys) == 1:  # a JWKS of one key may be used without a kid
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _fetch(self) -> None:
        self._fetched_at = time.monotonic()
        self.fetches += 1
        try:
            response = await self._http.get(self.url)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as err:
            log.warning("OIDC: cannot fetch the JWKS from %s: %s", self.url, type(err).__name__)
            return  # keep the keys we had
        self._keys = {key.key_id: key for key in keys if key.key_id}
        if len(keys) == 1 and not keys[0].key_id:
            self._keys = {None: keys[0]}  # type: ignore[dict-item]

    async def close(self) -> None:
        await self._http.aclose()


class OidcVerifier:
    def __init__(self, config: OidcConfig, keys: JwksKeys | None = None) -> None:
        self.config = config
        self.keys = keys or JwksKeys(config.jwks_url, refetch_interval=config.refetch_interval_seconds)
        self._admin_groups = frozenset(config.admin_groups)

    async def principal(self, token: str) -> tuple[Principal, float] | None:
        """The principal a valid token names and when the token expires (epoch seconds); None if
        the token is not valid for this gateway, for whatever reason (never told to the caller)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        if header.get("alg") not in self.config.algorithms:
            return None
        key = await self.keys.key(header.get("kid"))
        if key is None:
            return None
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=list(self.config.algorithms),
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError:
            return None
        name = claims.get(self.config.username_claim)
        if not isinstance(name, str) or not name:
            return None
        groups = claims.get(self.config.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        groups = frozenset(g for g in groups if isinstance(g, str))
        principal = Principal(
            name, PrincipalKind.USER, groups, admin=bool(groups & self._admin_groups), method=Method.OIDC
        )
        return principal, float(claims["exp"])

    async def close(self) -> None:
        await self.keys.close()
