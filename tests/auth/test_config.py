"""The `auth:` section: what it turns on, and one line per mistake (never a secret's value)."""

from __future__ import annotations

import pathlib

from flowport.auth.access import Role
from flowport.auth.config import AuthConfig, parse_auth_section


def parse(raw):
    problems: list[str] = []
    return parse_auth_section(raw, problems), problems


def test_absent_means_no_auth_and_empty_means_tokens_and_basic():
    assert parse(None) == (None, [])
    config, problems = parse({})
    assert problems == [] and config.methods == ["token", "basic"]
    assert config.database_url(pathlib.Path("/srv/fp")) == "sqlite:////srv/fp/gateway.db"


def test_a_full_section(tmp_path):
    for name in ("ca.pem", "server.pem", "server.key"):
        (tmp_path / name).write_text("x")
    config, problems = parse(
        {
            "database": "postgresql://db/flowport",
            "basic": False,
            "oidc": {
                "issuer": "https://idp/",
                "audience": "flowport",
                "jwks_url": "https://idp/jwks",
                "username_claim": "email",
                "admin_groups": ["platform"],
            },
            "mtls": {
                "ca_file": str(tmp_path / "ca.pem"),
                "cert_file": str(tmp_path / "server.pem"),
                "key_file": str(tmp_path / "server.key"),
            },
            "default_role": "Viewer",
            "bootstrap_admin": {"username": "admin", "password": "pw"},
            "audit": {"jsonl": "-", "queue_size": 50},
        }
    )
    assert problems == []
    assert config.methods == ["token", "oidc", "mtls"]
    assert config.oidc.username_claim == "email" and config.oidc.admin_groups == ("platform",)
    assert config.default_role is Role.VIEWER and config.bootstrap_admin == ("admin", "pw")
    assert (config.audit.jsonl, config.audit.queue_size, config.audit.database) == ("-", 50, True)
    assert config.database_url(tmp_path) == "postgresql://db/flowport"


def test_every_mistake_is_one_line_and_no_secret_is_quoted(tmp_path):
    config, problems = parse(
        {
            "tokens": "yes",
            "oidc": {
                "issuer": "https://idp/",
                "jwks_url": "ftp://idp/jwks",
                "colour": 1,
                "algorithms": ["HS256"],
            },
            "mtls": {"ca_file": str(tmp_path / "missing.pem")},
            "default_role": "owner",
            "bootstrap_admin": {"username": "admin", "password": "hunter2", "extra": 1},
            "audit": {"queue_size": 0, "sink": "x"},
            "cache_seconds": -1,
            "flavour": "x",
        }
    )
    assert problems == [
        "auth: unknown key 'flavour' (allowed: audit, basic, bootstrap_admin, cache_seconds, "
        "credential_cache_seconds, database, default_role, mtls, oidc, tokens)",
        "auth.default_role: unknown role 'owner' (viewer, editor, manager, admin)",
        "auth.tokens: must be true or false",
        "auth.oidc: unknown key 'colour' (allowed: admin_groups, algorithms, audience, groups_claim, "
        "issuer, jwks_url, leeway_seconds, refetch_interval_seconds, username_claim)",
        "auth.oidc: needs 'audience'",
        "auth.oidc.jwks_url: must be an http(s) URL",
        "auth.oidc.algorithms: only public-key algorithms (ES256, ES384, ES512, EdDSA, PS256, PS384, PS512, "
        "RS256, RS384, RS512)",
        f"auth.mtls.ca_file: no such file: {tmp_path / 'missing.pem'}",
        "auth.mtls: needs 'cert_file'",
        "auth.mtls: needs 'key_file'",
        "auth.bootstrap_admin: must be {username: <name>, password: ${ENV_VAR}}",
        "auth.cache_seconds: must be a number of seconds above 0",
        "auth.audit: unknown key 'sink' (allowed: database, jsonl, queue_size)",
        "auth.audit.queue_size: must be a whole number above 0",
    ]
    assert not any("hunter2" in p for p in problems)
    assert config.oidc is None and config.mtls is None


def test_turning_every_method_off_is_a_mistake():
    _, problems = parse({"tokens": False, "basic": False})
    assert problems == ["auth: every authentication method is off (turn on tokens, basic, oidc or mtls)"]


def test_defaults():
    config = AuthConfig()
    assert (config.cache_seconds, config.credential_cache_seconds, config.default_role) == (5.0, 300.0, None)
