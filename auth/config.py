"""The `auth:` section of the gateway configuration file: which authentication methods are on,
where the gateway state database is, and how audit records are written.

    auth:
      database: postgresql://flowport@db/flowport     # default: sqlite under $FLOWPORT_HOME
      tokens: true                                    # flowport API tokens (Authorization: Bearer fpt_…)
      basic: true                                     # HTTP basic (MLFLOW_TRACKING_USERNAME/PASSWORD)
      oidc:                                           # JWT bearer tokens from an identity provider
        issuer: https://login.example.com/
        audience: flowport
        jwks_url: https://login.example.com/.well-known/jwks.json
        username_claim: email                         # default: sub
        groups_claim: groups
        admin_groups: [platform-admins]
      mtls:                                           # the gRPC door: TLS, a client certificate required
        ca_file: /etc/flowport/clients-ca.pem
        cert_file: /etc/flowport/server.pem
        key_file: /etc/flowport/server.key
      default_role: viewer                            # every signed-in caller's role everywhere
      bootstrap_admin: {username: admin, password: ${FLOWPORT_ADMIN_PASSWORD}}
      audit: {database: true, jsonl: /var/log/flowport/audit.jsonl}

Each mistake is one line naming where it is; secrets' values never appear in them.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

from flowport.auth.access import Role


@dataclasses.dataclass(frozen=True)
class OidcConfig:
    issuer: str
    audience: str
    jwks_url: str
    username_claim: str = "sub"
    groups_claim: str = "groups"
    admin_groups: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
    leeway_seconds: float = 30.0
    # An unknown key id triggers a JWKS refetch at most this often (key rotation without a
    # thundering herd on the identity provider when tokens with made-up kids arrive).
    refetch_interval_seconds: float = 30.0


@dataclasses.dataclass(frozen=True)
class MtlsConfig:
    ca_file: str
    cert_file: str
    key_file: str
    principal_from: str = "common_name"  # or "subject": the whole distinguished name


@dataclasses.dataclass(frozen=True)
class AuditConfig:
    database: bool = True
    jsonl: str | None = None  # a file path, or "-" for standard output
    queue_size: int = 10000


@dataclasses.dataclass(frozen=True)
class AuthConfig:
    database: str | None = None  # None: sqlite under the gateway's home
    tokens: bool = True
    basic: bool = True
    oidc: OidcConfig | None = None
    mtls: MtlsConfig | None = None
    default_role: Role | None = None
    bootstrap_admin: tuple[str, str] | None = None  # (username, password)
    cache_seconds: float = 5.0  # how long a replica may act on role/permission/token rows it read
    credential_cache_seconds: float = 300.0  # verified basic credentials are trusted this long
    audit: AuditConfig = AuditConfig()

    def database_url(self, home: pathlib.Path) -> str:
        return self.database or f"sqlite:///{home / 'gateway.db'}"

    @property
    def methods(self) -> list[str]:
        named = [("token", self.tokens), ("basic", self.basic), ("oidc", self.oidc), ("mtls", self.mtls)]
        return [name for name, on in named if on]


_PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}
)
_TOP = {
    "database", "tokens", "basic", "oidc", "mtls", "default_role", "bootstrap_admin", "cache_seconds",
    "credential_cache_seconds", "audit",
}  # fmt: skip


def parse_auth_section(raw: Any, problems: list[str]) -> AuthConfig | None:
    """The `auth:` mapping (already `${ENV}`-interpolated) as an AuthConfig; mistakes go to `problems`."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append("auth: must be a mapping (database, tokens, basic, oidc, mtls, audit, ...)")
        return None
    for key in sorted(set(raw) - _TOP, key=str):
        problems.append(f"auth: unknown key '{key}' (allowed: {', '.join(sorted(_TOP))})")
    database = _text(raw, "database", "auth", problems, required=False)
    default_role = None
    if raw.get("default_role") is not None:
        try:
            default_role = Role.parse(str(raw["default_role"]))
        except ValueError as err:
            problems.append(f"auth.default_role: {err}")
    config = AuthConfig(
        database=database or None,
        tokens=_flag(raw, "tokens", "auth", True, problems),
        basic=_flag(raw, "basic", "auth", True, problems),
        oidc=_oidc(raw.get("oidc"), problems),
        mtls=_mtls(raw.get("mtls"), problems),
        default_role=default_role,
        bootstrap_admin=_bootstrap(raw.get("bootstrap_admin"), problems),
        cache_seconds=_seconds(raw, "cache_seconds", "auth", 5.0, problems),
        credential_cache_seconds=_seconds(raw, "credential_cache_seconds", "auth", 300.0, problems),
        audit=_audit(raw.get("audit"), problems),
    )
    if not config.methods:
        problems.append("auth: every authentication method is off (turn on tokens, basic, oidc or mtls)")
    return config


def _oidc(raw: Any, problems: list[str]) -> OidcConfig | None:
    if raw is None:
        return None
    where = "auth.oidc"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping with issuer, audience and jwks_url")
        return None
    fields = {f.name for f in dataclasses.fields(OidcConfig)}
    for key in sorted(set(raw) - fields, key=str):
        problems.append(f"{where}: unknown key '{key}' (allowed: {', '.join(sorted(fields))})")
    issuer = _text(raw, "issuer", where, problems)
    audience = _text(raw, "audience", where, problems)
    jwks_url = _text(raw, "jwks_url", where, problems)
    if jwks_url and not jwks_url.startswith(("https://", "http://")):
        problems.append(f"{where}.jwks_url: must be an http(s) URL")
    options: dict[str, Any] = {}
    for key in ("username_claim", "groups_claim"):
        if raw.get(key) is not None:
            options[key] = _text(raw, key, where, problems)
    for key in ("admin_groups", "algorithms"):
        if raw.get(key) is not None:
            value = raw[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(f"{where}.{key}: must be a list of names")
            else:
                options[key] = tuple(value)
    if set(options.get("algorithms", ())) - _PUBLIC_KEY_ALGORITHMS:
        # A shared-secret algorithm would let anyone holding the JWKS (it is public) sign tokens.
        allowed = ", ".join(sorted(_PUBLIC_KEY_ALGORITHMS))
        problems.append(f"{where}.algorithms: only public-key algorithms ({allowed})")
        options.pop("algorithms")
    for key, default in (("leeway_seconds", 30.0), ("refetch_interval_seconds", 30.0)):
        options[key] = _seconds(raw, key, where, default, problems, allow_zero=True)
    if not (issuer and audience and jwks_url):
        return None
    return OidcConfig(issuer, audience, jwks_url, **options)


def _mtls(raw: Any, problems: list[str]) -> MtlsConfig | None:
    if raw is None:
        return None
    where = "auth.mtls"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping with ca_file, cert_file and key_file")
        return None
    fields = {f.name for f in dataclasses.fields(MtlsConfig)}
    for key in sorted(set(raw) - fields, key=str):
        problems.append(f"{where}: unknown key '{key}' (allowed: {', '.join(sorted(fields))})")
    files = {}
    for key in ("ca_file", "cert_file", "key_file"):
        files[key] = _text(raw, key, where, problems)
        if files[key] and not pathlib.Path(files[key]).is_file():
            problems.append(f"{where}.{key}: no such file: {files[key]}")
    principal_from = raw.get("principal_from", "common_name")
    if principal_from not in ("common_name", "subject"):
        problems.append(f"{where}.principal_from: must be 'common_name' or 'subject'")
    if not all(files.values()):
        return None
    return MtlsConfig(**files, principal_from=principal_from)


def _bootstrap(raw: Any, problems: list[str]) -> tuple[str, str] | None:
    if raw is None:
        return None
    where = "auth.bootstrap_admin"
    if not isinstance(raw, dict) or set(raw) != {"username", "password"}:
        problems.append(f"{where}: must be {{username: <name>, password: ${{ENV_VAR}}}}")
        return None
    username = _text(raw, "username", where, problems)
    password = _text(raw, "password", where, problems)
    return (username, password) if username and password else None


def _audit(raw: Any, problems: list[str]) -> AuditConfig:
    if raw is None:
        return AuditConfig()
    where = "auth.audit"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping (database, jsonl, queue_size)")
        return AuditConfig()
    for key in sorted(set(raw) - {"database", "jsonl", "queue_size"}, key=str):
        problems.append(f"{where}: unknown key '{key}' (allowed: database, jsonl, queue_size)")
    queue_size = raw.get("queue_size", 10000)
    if not isinstance(queue_size, int) or isinstance(queue_size, bool) or queue_size < 1:
        problems.append(f"{where}.queue_size: must be a whole number above 0")
        queue_size = 10000
    jsonl = _text(raw, "jsonl", where, problems, required=False) or None
    return AuditConfig(_flag(raw, "database", where, True, problems), jsonl, queue_size)


def _text(raw: dict, key: str, where: str, problems: list[str], *, required: bool = True) -> str:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            problems.append(f"{where}: needs '{key}'")
        return ""
    if not isinstance(value, str):
        problems.append(f"{where}.{key}: must be text")
        return ""
    return value


def _flag(raw: dict, key: str, where: str, default: bool, problems: list[str]) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        problems.append(f"{where}.{key}: must be true or false")
        return default
    return value


def _seconds(
    raw: dict, key: str, where: str, default: float, problems: list[str], *, allow_zero: bool = False
) -> float:
    value = raw.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        problems.append(f"{where}.{key}: must be a number of seconds{'' if allow_zero else ' above 0'}")
        return default
    return float(value)
