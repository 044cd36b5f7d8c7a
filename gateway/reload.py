"""Live configuration reload: on SIGHUP, and when the configuration file changes (a poll of its
mtime, size and content hash — no new dependency).

A reload re-reads and checks the file; any mistake keeps the running configuration (one log line per
mistake). Otherwise backends whose kind and options are unchanged are kept as they are (same object,
same connections), new or changed ones are built and started, then the routing snapshot is swapped in
one assignment and the backends no longer configured are closed once their in-flight calls finish.
The `auth:` section is applied in the same step, as far as it may change live (gateway.auth_reload).
It must never take the gateway down, turn authentication off unasked, nor log a secret.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from flowport.adapters.backend import Backend
from flowport.adapters.registry import build_backend
from flowport.gateway.auth_reload import PreparedAuth, plan_auth
from flowport.gateway.authorization import Governance
from flowport.gateway.config import BackendSpec, ConfigError, GatewayConfig, default_home, load_config
from flowport.gateway.migrated_ids import load_translations
from flowport.gateway.service import GatewayService, make_snapshot

log = logging.getLogger("flowport.reload")

BuildBackend = Callable[..., Backend]  # build_backend(name, kind, options, max_threads=)

# Option names whose values never appear in a log line, even inside a library's error message.
_SECRET_KEY = re.compile(r"token|secret|password|passwd|key|credential|sas", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def build_backends(
    specs: Mapping[str, BackendSpec], *, source: str, max_threads: int, build: BuildBackend = build_backend
) -> dict[str, Backend]:
    """Each spec's backend (not started); ConfigError naming the backend if one is refused."""
    backends: dict[str, Backend] = {}
    for spec in specs.values():
        try:
            backends[spec.name] = build(spec.name, spec.kind, spec.options, max_threads=max_threads)
        except ValueError as err:
            raise ConfigError(f"{source}: backends.{spec.name}: {err}") from None
    return backends


@dataclasses.dataclass(frozen=True)
class ConfigChange:
    """What a new configuration changes, by backend name."""

    kept: frozenset[str]  # same kind and options: the running backend stays
    built: frozenset[str]  # new, or changed: built and started before the switch
    dropped: frozenset[str]  # gone, or changed: closed after the switch once idle
    lines: tuple[str, ...]  # one log line per change, in the order to print them

    @property
    def empty(self) -> bool:
        return not self.lines


def plan(
    old_specs: Mapping[str, BackendSpec],
    old_workspaces: Mapping[str, str],
    old_descriptions: Mapping[str, str | None],
    new: GatewayConfig,
    old_migrated_from: Mapping[str, tuple[str, ...]] | None = None,
) -> ConfigChange:
    """Compare the running configuration with a new one (no I/O: the unit-testable half of a reload)."""
    kept, built, dropped, lines = set(), set(), set(), []
    old_migrated_from = old_migrated_from or {}
    for name, spec in new.backends.items():
        old = old_specs.get(name)
        if old is not None and (old.kind, old.options) == (spec.kind, spec.options):
            kept.add(name)
        elif old is None:
            built.add(name)
            lines.append(f"backend '{name}' ({spec.kind}) added")
        else:
            built.add(name)
            dropped.add(name)
            lines.append(f"backend '{name}' ({spec.kind}) changed: started anew")
    for name in sorted(set(old_specs) - set(new.backends)):
        dropped.add(name)
        lines.append(f"backend '{name}' ({old_specs[name].kind}) removed")
    for workspace, backend in sorted(new.workspaces.items()):
        if old_workspaces.get(workspace) != backend:
            lines.append(f"workspace '{workspace}' → backend '{backend}' ({new.backends[backend].kind})")
        elif old_descriptions.get(workspace) != new.descriptions.get(workspace):
            lines.append(f"workspace '{workspace}': description changed")
        if old_migrated_from.get(workspace, ()) != new.migrated_from.get(workspace, ()):
            sources = ", ".join(new.migrated_from.get(workspace, ())) or "none"
            lines.append(f"workspace '{workspace}': old ids resolved from: {sources}")
    for workspace in sorted(set(old_workspaces) - set(new.workspaces)):
        lines.append(f"workspace '{workspace}' removed")
    return ConfigChange(frozenset(kept), frozenset(built), frozenset(dropped), tuple(lines))


Fingerprint = tuple[int, int, str] | None


def fingerprint(path: str | os.PathLike[str]) -> Fingerprint:
    """mtime, size and content hash of the file (the hash catches an edit within the mtime's
    granularity); None while it cannot be read (e.g. mid-replace by an editor)."""
    try:
        with open(path, "rb") as f:
            stat = os.fstat(f.fileno())
            digest = hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, digest


def _scrubbed(message: str, options: Mapping[str, Any]) -> str:
    """A library's error message, one line, without the values of secret-looking options."""
    message = _URL_PASSWORD.sub(r"\1***@", " ".join(message.split()))

    def secrets(value: Any, key: str = "") -> list[str]:
        if isinstance(value, dict):
            return [s for k, v in value.items() for s in secrets(v, str(k))]
        if isinstance(value, list):
            return [s for v in value for s in secrets(v, key)]
        return [value] if isinstance(value, str) and value and _SECRET_KEY.search(key) else []

    for secret in secrets(dict(options)):
        message = message.replace(secret, "***")
    return message


class ConfigReloader:
    """Re-reads the configuration file on demand (SIGHUP) or when it changes (`watch`)."""

    def __init__(
        self,
        service: GatewayService,
        path: str,
        *,
        max_threads: int,
        drain_timeout: float,
        seen: Fingerprint = None,
        build: BuildBackend = build_backend,
        insecure: bool = False,
    ) -> None:
        self.service = service
        self.path = path
        self.max_threads = max_threads
        self.drain_timeout = drain_timeout  # how long a dropped backend's in-flight calls may take
        self.insecure = insecure  # started with --insecure: a reload may remove the `auth:` section
        governance = service.governance
        self._door_mtls = governance.config.mtls if governance is not None else None  # bound at start
        self._home = default_home()
        self._switched_off: set[asyncio.Task] = set()  # governances a reload removed, closing once idle
        self._seen = seen if seen is not None else fingerprint(path)
        self._build = build
        self._lock = asyncio.Lock()  # one reload at a time (a SIGHUP during a file-triggered one waits)
        self._signalled: set[asyncio.Task] = set()
        self._stopped = False

    async def watch(self, interval: float) -> None:
        """Reload whenever the file's fingerprint changes; runs until cancelled."""
        while True:
            await asyncio.sleep(interval)
            if await asyncio.to_thread(fingerprint, self.path) != self._seen:
                await self.reload("file changed")

    def on_signal(self) -> None:
        """SIGHUP: reload now (in a task: signal handlers cannot await)."""
        task = asyncio.create_task(self.reload("SIGHUP"))
        self._signalled.add(task)
        task.add_done_callback(self._signalled.discard)

    async def stop(self) -> None:
        """No reload from now on; one under way finishes (before the gateway closes its backends)."""
        self._stopped = True
        async with self._lock:
            pass
        for task in self._switched_off:  # the doors are closed: no call is left to finish
            task.cancel()
        await asyncio.gather(*self._switched_off, return_exceptions=True)

    async def reload(self, why: str) -> bool:
        """Apply the file as it is now; False (and the running configuration kept) on any mistake."""
        async with self._lock:
            if self._stopped:  # the gateway is shutting down: its backends are about to close
                return False
            # Taken before reading: an edit that lands during the reload is seen by the next poll.
            self._seen = await asyncio.to_thread(fingerprint, self.path)
            try:
                config = await asyncio.to_thread(load_config, self.path)
            except ConfigError as err:
                return self._refused(why, str(err).splitlines())
            except Exception as err:  # e.g. not text at all
                return self._refused(why, [f"{self.path}: cannot read: {type(err).__name__}: {err}"])
            try:
                return await self._apply(config, why)
            except Exception:  # a reload must never take the gateway down
                log.exception(
                    "reload (%s) of %s failed; still serving the previous configuration", why, self.path
                )
                return False

    def _refused(self, why: str, problems: list[str]) -> bool:
        for problem in problems:
            log.error("reload: %s", problem)
        log.error("reload (%s) of %s not applied; still serving the previous configuration", why, self.path)
        return False

    async def _apply(self, config: GatewayConfig, why: str) -> bool:
        old = self.service.snapshot
        change = plan(
            old.specs,
            old.workspaces,
            {name: entry.description for name, entry in old.directory.entries.items()},
            config,
            {workspace: t.sources for workspace, t in old.translations.items()},
        )
        governance = self.service.governance
        auth = plan_auth(
            governance.config if governance is not None else None,
            config.auth,
            door_mtls=self._door_mtls,
            home=self._home,
            insecure=self.insecure,
        )
        if auth.refusal:
            return self._refused(why, [auth.refusal])
        for line in auth.restart:
            log.warning("reload: %s", line)
        if change.empty and not config.migrated_from and not auth.applies:
            log.info("reload (%s) of %s: no changes", why, self.path)
            return True
        prepared = PreparedAuth(self.service, auth, self._home, self.drain_timeout)
        try:
            await prepared.prepare()
        except Exception as err:  # e.g. the state database or the audit file cannot be opened
            secrets = (
                {"password": config.auth.bootstrap_admin[1]}
                if config.auth and config.auth.bootstrap_admin
                else {}
            )
            message = _scrubbed(f"{type(err).__name__}: {err}", secrets)
            return self._refused(why, [f"{self.path}: auth: cannot be applied: {message}"])
        try:
            return await self._switch(config, why, change, auth.lines, prepared)
        finally:
            if not prepared.committed:  # refused, or failed: what was opened for it is closed
                await prepared.discard()

    async def _switch(
        self,
        config: GatewayConfig,
        why: str,
        change: ConfigChange,
        auth_lines: tuple[str, ...],
        prepared: PreparedAuth,
    ) -> bool:
        old = self.service.snapshot
        try:  # re-read on every reload: a migration pass since the last one may have added ids
            translations = await asyncio.to_thread(load_translations, config, self.path)
        except ConfigError as err:
            return self._refused(why, str(err).splitlines())
        try:
            fresh = build_backends(
                {name: config.backends[name] for name in sorted(change.built)},
                source=self.path,
                max_threads=self.max_threads,
                build=self._build,
            )
        except ConfigError as err:
            return self._refused(why, str(err).splitlines())
        for name, backend in fresh.items():
            try:
                await backend.start()
            except Exception as err:
                for backend_ in fresh.values():  # started or not: each may hold pools already
                    await _quietly_close(backend_)
                message = _scrubbed(f"{type(err).__name__}: {err}", config.backends[name].options)
                return self._refused(why, [f"{self.path}: backends.{name}: could not start: {message}"])
        backends = {name: fresh[name] if name in fresh else old.backends[name] for name in config.backends}
        self.service.swap(
            make_snapshot(
                old.generation + 1,
                backends,
                config.workspaces,
                descriptions=config.descriptions,
                specs=config.backends,
                source=self.path,
                proxies=old.proxies,
                translations=translations,
            )
        )
        switched_off = await prepared.commit()  # no await before its switch: one step with the swap
        lines = (*change.lines, *auth_lines)
        log.info("reload (%s) of %s applied (%d change(s))", why, self.path, len(lines))
        for line in change.lines:
            log.info("%s", line)
        for line in auth_lines:
            (log.warning if prepared.change.turns_off else log.info)("%s", line)
        self.service.retire({name: old.backends[name] for name in sorted(change.dropped)}, self.drain_timeout)
        if switched_off is not None:
            self._close_when_idle(switched_off)
        return True

    def _close_when_idle(self, governance: Governance) -> None:
        """Calls already inside it finish with it (their audit records written) before it closes."""

        async def close() -> None:
            try:
                await asyncio.sleep(self.drain_timeout)
            finally:
                await governance.close()

        task = asyncio.create_task(close(), name="close the removed auth")
        self._switched_off.add(task)
        task.add_done_callback(self._switched_off.discard)


async def _quietly_close(backend: Backend) -> None:
    try:
        await backend.close()
    except Exception:
        log.exception("closing backend %s (never used) failed", backend.name)
