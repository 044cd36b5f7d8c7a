"""Authentication methods against a real state database and a real (127.0.0.1) identity provider:
tokens, basic (with its cache and failed-login limit), OIDC JWTs with key rotation, certificates."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from flowport.auth.authenticate import Authenticator
from flowport.auth.config import AuthConfig, MtlsConfig, OidcConfig
from flowport.auth.credentials import Credentials
from flowport.auth.principal import ANONYMOUS, Method, PrincipalKind
from flowport.auth.store import AuthStore
from flowport.v1.errors import ApiError
from tests.fixtures.identity_provider import run_identity_provider


@pytest.fixture
def store(tmp_path):
    s = AuthStore(f"sqlite:///{tmp_path / 'gateway.db'}")
    s.create_user("alice", "correct horse")
    s.create_group("ds")
    s.add_member("ds", "alice")
    yield s
    s.close()


@pytest.fixture(scope="module")
def idp():
    with run_identity_provider() as provider:
        yield provider


def _oidc(idp, **overrides) -> OidcConfig:
    return OidcConfig(
        issuer=idp.issuer,
        audience="flowport",
        jwks_url=idp.jwks_url,
        admin_groups=("platform",),
        **{"refetch_interval_seconds": 0.0, **overrides},
    )


def basic(user: str, password: str) -> Credentials:
    return Credentials(authorization="Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


def bearer(token: str) -> Credentials:
    return Credentials(authorization=f"Bearer {token}")


def authenticate(authenticator: Authenticator, credentials: Credentials):
    async def go():
        try:
            return await authenticator.authenticate(credentials)
        finally:
            await authenticator.close()

    return asyncio.run(go())


def refused(authenticator: Authenticator, credentials: Credentials) -> ApiError:
    with pytest.raises(ApiError) as err:
        authenticate(authenticator, credentials)
    assert err.value.error_code == "UNAUTHENTICATED"
    assert err.value.http_status == 401
    return err.value


def test_no_credentials_is_the_anonymous_principal(store):
    assert authenticate(Authenticator(AuthConfig(), store), Credentials()) is ANONYMOUS


def test_tokens(store):
    _, secret = store.create_token("alice")
    principal = authenticate(Authenticator(AuthConfig(), store), bearer(secret))
    assert (principal.name, principal.groups, principal.method) == ("alice", {"ds"}, Method.TOKEN)
    # The password of a basic login may be one of the user's tokens (for tools that only speak basic).
    assert authenticate(Authenticator(AuthConfig(), store), basic("alice", secret)).name == "alice"
    refused(Authenticator(AuthConfig(), store), basic("bob", secret))
    for bad in (secret + "x", "fpt_", "fpt_" + "A" * 43):
        assert refused(Authenticator(AuthConfig(), store), bearer(bad)).message == "Invalid credentials"
    expiring, soon = store.create_token("alice", expires_at=int(time.time() * 1000) + 300)
    authenticate(Authenticator(AuthConfig(), store), bearer(soon))
    time.sleep(0.4)
    refused(Authenticator(AuthConfig(), store), bearer(soon))
    store.revoke_token(store.list_tokens("alice")[0].id)
    refused(Authenticator(AuthConfig(), store), bearer(secret))
    refused(Authenticator(AuthConfig(tokens=False), store), bearer(store.create_token("alice")[1]))


def test_basic_credentials_are_checked_once_then_cached(store, monkeypatch):
    authenticator = Authenticator(AuthConfig(), store)
    checks = []
    real = store.check_password
    monkeypatch.setattr(store, "check_password", lambda u, p: checks.append(u) or real(u, p))

    async def go():
        try:
            for _ in range(5):
                principal = await authenticator.authenticate(basic("alice", "correct horse"))
                assert (principal.name, principal.method) == ("alice", Method.BASIC)
        finally:
            await authenticator.close()

    asyncio.run(go())
    assert checks == ["alice"]
    for bad in (
        basic("alice", "wrong"),
        basic("nobody", "correct horse"),
        Credentials(authorization="Basic not-base64!"),
        Credentials(authorization="Basic " + base64.b64encode(b"no-colon").decode()),
        Credentials(authorization="Digest abc"),
        Credentials(authorization="Bearer"),
    ):
        assert refused(Authenticator(AuthConfig(), store), bad).message == "Invalid credentials"
    refused(Authenticator(AuthConfig(basic=False), store), basic("alice", "correct horse"))


def test_failed_logins_are_limited_per_user(store):
    authenticator = Authenticator(AuthConfig(), store)
    store.create_user("bob", "bob's password")

    async def go():
        outcomes = []
        try:
            for _ in range(12):
                try:
                    await authenticator.authenticate(basic("alice", "guess"))
                except ApiError:
                    outcomes.append("refused")
            # Locked out now, even with the right password (from anywhere)...
            with pytest.raises(ApiError):
                await authenticator.authenticate(basic("alice", "correct horse"))
            # ...but another user, from the very same address, is not.
            return outcomes, await authenticator.authenticate(basic("bob", "bob's password"))
        finally:
            await authenticator.close()

    outcomes, bob = asyncio.run(go())
    assert outcomes == ["refused"] * 12 and bob.name == "bob"
    assert authenticator.failed_logins.blocked("user:alice") and not authenticator.failed_logins.blocked(
        "user:bob"
    )


def test_oidc_tokens_signature_issuer_audience_expiry_and_claims(store, idp):
    authenticator = Authenticator(AuthConfig(oidc=_oidc(idp)), store)
    principal = authenticate(authenticator, bearer(idp.token("carol@example.com", groups=["ds", "platform"])))
    assert principal.name == "carol@example.com" and principal.groups == {"ds", "platform"}
    assert principal.admin and principal.method is Method.OIDC and principal.kind is PrincipalKind.USER
    by_email = Authenticator(AuthConfig(oidc=_oidc(idp, username_claim="email", groups_claim="roles")), store)
    named = authenticate(by_email, bearer(idp.token("id-1", email="dan@example.com", roles="ds")))
    assert (named.name, named.groups, named.admin) == ("dan@example.com", {"ds"}, False)
    stranger_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for bad in (
        idp.token("carol", audience="someone-else"),
        idp.token("carol", issuer="https://evil.example/"),
        idp.token("carol", lifetime=-120),  # expired beyond the leeway
        idp.token("carol", key=stranger_key),  # wrong signature, known kid
        idp.token("carol", key=stranger_key, kid="unknown-kid"),
        idp.token("carol")[:-4] + "AAAA",
        "not.a.jwt",
        idp.token("carol", email=None).replace(".", "", 1),
    ):
        assert (
            refused(Authenticator(AuthConfig(oidc=_oidc(idp)), store), bearer(bad)).message
            == "Invalid credentials"
        )
    unnamed = Authenticator(AuthConfig(oidc=_oidc(idp, username_claim="email")), store)
    refused(unnamed, bearer(idp.token("carol")))  # no email claim: no user name


def test_oidc_key_rotation_refetches_the_jwks_at_most_once_per_interval(store, idp):
    config = AuthConfig(oidc=_oidc(idp, refetch_interval_seconds=3600.0))
    authenticator = Authenticator(config, store)
    keys = authenticator.oidc.keys

    async def go():
        try:
            before = idp.fetches
            assert (await authenticator.authenticate(bearer(idp.token("carol")))).name == "carol"
            assert keys.fetches == 1
            # Unknown key ids right after a fetch do not fetch again (within the interval).
            for _ in range(5):
                with pytest.raises(ApiError):
                    await authenticator.authenticate(bearer(idp.token("carol", kid="made-up")))
            assert keys.fetches == 1 and idp.fetches == before + 1
            # Once the interval has passed, a rotated key is picked up by one refetch.
            idp.rotate()
            keys.refetch_interval = 0.0
            rotated = await asyncio.gather(
                *(authenticator.authenticate(bearer(idp.token("erin"))) for _ in range(5))
            )
            assert {p.name for p in rotated} == {"erin"}
            assert keys.fetches == 2 and idp.fetches == before + 2
        finally:
            await authenticator.close()

    asyncio.run(go())


def test_client_certificates_name_a_service_principal(store, tmp_path):
    mtls = MtlsConfig(ca_file="ca", cert_file="cert", key_file="key")
    store.create_user("ingest-bot", kind=PrincipalKind.SERVICE)
    store.add_member("ds", "ingest-bot")
    cert = Credentials(client_subject="CN=ingest-bot,O=Example", client_common_name="ingest-bot")
    principal = authenticate(Authenticator(AuthConfig(mtls=mtls), store), cert)
    assert (principal.name, principal.kind, principal.groups, principal.method) == (
        "ingest-bot", PrincipalKind.SERVICE, {"ds"}, Method.MTLS,
    )  # fmt: skip
    unknown = dataclasses.replace(cert, client_common_name="new-bot")
    assert authenticate(Authenticator(AuthConfig(mtls=mtls), store), unknown).name == "new-bot"
    by_subject = Authenticator(AuthConfig(mtls=dataclasses.replace(mtls, principal_from="subject")), store)
    assert authenticate(by_subject, cert).name == "CN=ingest-bot,O=Example"
    # Without mTLS configured a certificate proves nothing.
    assert authenticate(Authenticator(AuthConfig(), store), cert) is ANONYMOUS
