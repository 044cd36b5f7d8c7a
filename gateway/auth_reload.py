"""A live reload of the `auth:` section: what an edit may change in a running gateway, and applying it.

Applied live: which methods are on (tokens, basic, OIDC and each of its settings), `default_role`,
the cache times, where audit records go, `mtls.principal_from`, and a missing bootstrap admin; an
`auth:` section added to a gateway without one turns authentication on. Kept until a restart (and
said so in a warning on every reload): the state database (users, tokens and grants live there) and
the mTLS files (the gRPC door's TLS is set up when it binds). Removing the section would turn
authentication off: refused unless the gateway runs with `--insecure`. No line names a secret.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import pathlib

from flowport.auth.config import AuthConfig, MtlsConfig
from flowport.gateway.audit_sink import AuditSink
from flowport.gateway.authorization import Governance
from flowport.gateway.service import GatewayService

log = logging.getLogger("flowport.reload")


@dataclasses.dataclass(frozen=True)
class AuthChange:
    config: AuthConfig | None  # what will be in force: the file's, less what needs a restart
    lines: tuple[str, ...] = ()  # one per change applied
    restart: tuple[str, ...] = ()  # one per edit kept until a restart (the running setting stays)
    refusal: str = ""  # set: the whole reload must not be applied
    turns_off: bool = False  # the section is gone (--insecure): no authentication from now on

    @property
    def applies(self) -> bool:
        return bool(self.lines)


def plan_auth(
    running: AuthConfig | None,
    new: AuthConfig | None,
    *,
    door_mtls: MtlsConfig | None,
    home: pathlib.Path,
    insecure: bool,
) -> AuthChange:
    """Compare the running `auth:` with the file's (no I/O). `door_mtls` is the TLS the gRPC door
    was bound with, which only a restart changes."""
    if new is None:
        if running is None:
            return AuthChange(None)
        if not insecure:
            return AuthChange(
                running,
                refusal="auth: the section was removed, which would turn authentication off; a reload "
                "never does that (restart the gateway with --insecure to serve without authentication)",
            )
        line = "auth: section removed: authentication, permissions and audit are OFF (--insecure)"
        notes = (_mtls_note(door_mtls, None),) if door_mtls is not None else ()
        return AuthChange(None, (line,), notes, turns_off=True)
    restart: list[str] = []
    mtls = _door_mtls(door_mtls, new.mtls, restart)
    database = new.database
    if running is not None and new.database_url(home) != running.database_url(home):
        restart.append("auth.database: a change needs a restart; still using the running state database")
        database = running.database
    config = dataclasses.replace(new, mtls=mtls, database=database)
    if not config.methods:
        return AuthChange(
            running,
            restart=tuple(restart),
            refusal="auth: every authentication method would be off until a restart",
        )
    if running is None:
        return AuthChange(config, (f"auth: on ({', '.join(config.methods)})",), tuple(restart))
    return AuthChange(config, tuple(_differences(running, config)), tuple(restart))


def _door_mtls(door: MtlsConfig | None, wanted: MtlsConfig | None, restart: list[str]) -> MtlsConfig | None:
    """The mTLS setting in force: the door's files (its TLS is bound), with the file's principal_from."""
    if _files(door) == _files(wanted):
        return wanted
    restart.append(_mtls_note(door, wanted))
    if door is not None and wanted is not None:
        return dataclasses.replace(door, principal_from=wanted.principal_from)
    return door


def _files(mtls: MtlsConfig | None) -> tuple[str, str, str] | None:
    return (mtls.ca_file, mtls.cert_file, mtls.key_file) if mtls is not None else None


def _mtls_note(door: MtlsConfig | None, wanted: MtlsConfig | None) -> str:
    if door is None:
        return "auth.mtls: needs a restart; the gRPC door serves without TLS until then"
    if wanted is None:
        return "auth.mtls: removing it needs a restart; the gRPC door keeps requiring client certificates"
    return "auth.mtls: other certificate files need a restart; the gRPC door keeps the running ones"


def _differences(old: AuthConfig, new: AuthConfig) -> list[str]:
    lines = []
    for method in ("tokens", "basic"):
        if getattr(old, method) != getattr(new, method):
            lines.append(f"auth.{method}: {'on' if getattr(new, method) else 'off'}")
    if old.oidc != new.oidc:
        if new.oidc is None:
            lines.append("auth.oidc: off")
        else:
            state = "on" if old.oidc is None else "changed"
            lines.append(f"auth.oidc: {state} (issuer {new.oidc.issuer}, audience {new.oidc.audience})")
    if old.mtls is not None and new.mtls is not None and old.mtls.principal_from != new.mtls.principal_from:
        lines.append(f"auth.mtls.principal_from: {old.mtls.principal_from} → {new.mtls.principal_from}")
    if old.default_role != new.default_role:
        lines.append(f"auth.default_role: {_role(old)} → {_role(new)}")
    for key in ("cache_seconds", "credential_cache_seconds"):
        if getattr(old, key) != getattr(new, key):
            lines.append(f"auth.{key}: {getattr(old, key):g} → {getattr(new, key):g}")
    if old.audit != new.audit:
        audit = new.audit
        where = [w for w, on in (("database", audit.database), (f"jsonl {audit.jsonl}", audit.jsonl)) if on]
        lines.append(
            f"auth.audit: records go to {' and '.join(where) or 'nowhere'} (queue {audit.queue_size})"
        )
    if old.bootstrap_admin != new.bootstrap_admin and new.bootstrap_admin is not None:
        lines.append(f"auth.bootstrap_admin: '{new.bootstrap_admin[0]}' (created if missing)")
    return lines


def _role(config: AuthConfig) -> str:
    return config.default_role.name.lower() if config.default_role is not None else "none"


class PreparedAuth:
    """An `AuthChange` made ready without touching the running gateway (the state database opened,
    the audit file opened), so that a reload can still be refused; then committed, or discarded."""

    def __init__(self, service: GatewayService, change: AuthChange, home: pathlib.Path, grace: float) -> None:
        self.service, self.change, self.home, self.grace = service, change, home, grace
        self._governance: Governance | None = None  # a new one (auth turned on)
        self._audit: AuditSink | None = None  # a new sink for the running governance
        self.committed = False

    async def prepare(self) -> None:
        """Raises (with a message fit for the log) if the change cannot be made."""
        running, config = self.service.governance, self.change.config
        if not self.change.applies or config is None:
            return
        if running is None:
            self._governance = await asyncio.to_thread(Governance.from_config, config, self.home)
            try:
                self._governance.start()  # opens the audit file
            except BaseException:
                await self._governance.close()
                raise
        elif config.audit != running.config.audit:
            self._audit = AuditSink(config.audit, running.store.engine)
            self._audit.start()

    async def discard(self) -> None:
        if self._governance is not None:
            await self._governance.close()
        if self._audit is not None:
            await self._audit.close()

    async def commit(self) -> Governance | None:
        """Put the change in force (in one step: no await before the switch); returns a governance
        that was switched off, for the caller to close once its calls are done."""
        self.committed = True
        running, config = self.service.governance, self.change.config
        if not self.change.applies:
            return None
        if self.change.turns_off:
            self.service.governance = None
            return running
        if self._governance is not None:
            self.service.governance = self._governance
        elif running is not None and config is not None:
            bootstrap = (
                config.bootstrap_admin if config.bootstrap_admin != running.config.bootstrap_admin else None
            )
            running.reconfigure(config, self._audit, grace=self.grace)
            if bootstrap is not None:
                await _create_bootstrap_admin(running, *bootstrap)
        return None


async def _create_bootstrap_admin(governance: Governance, username: str, password: str) -> None:
    """As at start: created if missing, never changed."""
    store = governance.store
    try:
        if await asyncio.to_thread(store.find_user, username) is None:
            await asyncio.to_thread(store.create_user, username, password, is_admin=True)
            log.info("auth: created the bootstrap admin '%s'", username)
    except Exception as err:  # the rest of the reload is in force; say what did not happen
        log.error("auth: could not create the bootstrap admin '%s': %s", username, type(err).__name__)
