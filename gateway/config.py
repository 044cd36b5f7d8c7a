"""What `flowport serve` runs with: addresses, the embedded default backend's locations, and the
configuration file that names remote backends and maps workspaces to them."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
from typing import Any

import yaml

from flowport.auth.config import AuthConfig, parse_auth_section
from flowport.gateway.workspaces import name_problem


def default_home() -> pathlib.Path:
    """`$FLOWPORT_HOME`, else `~/.flowport`: where the embedded default keeps its data."""
    return pathlib.Path(os.environ.get("FLOWPORT_HOME") or pathlib.Path.home() / ".flowport")


@dataclasses.dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 5000
    grpc_host: str | None = None  # defaults to host
    grpc_port: int = 50051
    backend_store_uri: str | None = None
    artifacts_destination: str | None = None
    max_threads: int = 8
    graceful_shutdown_seconds: float = 30.0
    config_file: str | None = None  # backends and workspaces; None means the embedded default
    reload_interval: float = 2.0  # seconds between checks of the configuration file for changes
    watch_config: bool = True  # False: the file is reloaded on SIGHUP only
    insecure: bool = False  # serve a non-loopback address without authentication (--insecure)

    def resolved(self) -> ServeConfig:
        """Fill the embedded defaults (SQLite file + artifact folder under the home)."""
        home = default_home()
        return dataclasses.replace(
            self,
            grpc_host=self.grpc_host or self.host,
            backend_store_uri=self.backend_store_uri or f"sqlite:///{home / 'flowport.db'}",
            artifacts_destination=self.artifacts_destination or str(home / "artifacts"),
        )


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


TOP_LEVEL_KEYS = frozenset({"backends", "workspaces", "migration_state", "auth"})
WORKSPACE_KEYS = frozenset({"backend", "description", "migrated_from"})


class ConfigError(ValueError):
    """The configuration file is wrong; one line per mistake, never a secret's value."""


@dataclasses.dataclass(frozen=True)
class BackendSpec:
    name: str
    kind: str
    options: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class GatewayConfig:
    """The `backends:` and `workspaces:` of a configuration file."""

    backends: dict[str, BackendSpec]
    workspaces: dict[str, str]  # workspace → backend name
    descriptions: dict[str, str] = dataclasses.field(default_factory=dict)  # workspace → description
    # workspace → the backends `flowport migrate` copied it from: their old ids still resolve.
    migrated_from: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    migration_state: str | None = None  # the migration state database (`flowport migrate --state`)
    auth: AuthConfig | None = None  # the `auth:` section (auth.config); None: no authentication


def _interpolate(value: Any, where: str, problems: list[str]) -> Any:
    """`${NAME}` in any string becomes the environment variable's value (how secrets get in)."""
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                problems.append(f"{where}: environment variable {name} is not set")
                return ""
            return os.environ[name]

        return _ENV_REFERENCE.sub(lookup, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{where}.{k}", problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    return value


def _yaml_problem(err: yaml.YAMLError) -> str:
    """The parser's complaint and where, in one line: PyYAML's own text quotes the file's lines,
    which may hold a secret written in place."""
    problem = getattr(err, "problem", None) or type(err).__name__
    mark = getattr(err, "problem_mark", None)
    context = getattr(err, "context", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}" + (f" ({context})" if context else "")


def _backend_names(value: Any) -> tuple[str, ...] | None:
    """A name or a list of names as a tuple (empty when absent); None when it is neither."""
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        return None
    return tuple(names)


def load_config(path: str | os.PathLike[str]) -> GatewayConfig:
    """Read and check a configuration file::

        backends:
          remote:
            kind: mlflow
            url: https://mlflow.example.internal
            auth: {type: bearer, token: ${MLFLOW_TOKEN}}
        workspaces:
          default: remote
          team-a: {backend: remote, description: "Team A's experiments"}

    A workspace maps to a backend name, or to `{backend, description}`. Every mistake found is
    reported at once, each on its own line.
    """
    try:
        raw = yaml.safe_load(pathlib.Path(path).read_text())
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {_yaml_problem(err)}") from None
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with 'backends' and 'workspaces'")
    for key in sorted(set(raw) - TOP_LEVEL_KEYS):
        problems.append(f"unknown top-level key '{key}' (allowed: {', '.join(sorted(TOP_LEVEL_KEYS))})")
    backends: dict[str, BackendSpec] = {}
    raw_backends = raw.get("backends")
    if not isinstance(raw_backends, dict) or not raw_backends:
        problems.append("'backends' must map at least one backend name to its settings")
        raw_backends = {}
    for name, settings in raw_backends.items():
        if not isinstance(settings, dict) or not isinstance(settings.get("kind"), str):
            problems.append(f"backends.{name}: needs a 'kind' (local, mlflow, sagemaker, ...)")
            continue
        options = _interpolate(
            {k: v for k, v in settings.items() if k != "kind"}, f"backends.{name}", problems
        )
        backends[str(name)] = BackendSpec(str(name), settings["kind"], options)
    workspaces: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    migrated_from: dict[str, tuple[str, ...]] = {}
    migration_state = _interpolate(raw.get("migration_state"), "migration_state", problems)
    if migration_state is not None and not isinstance(migration_state, str):
        problems.append("migration_state: must be a database URL (as `flowport migrate --state` takes)")
        migration_state = None
    raw_workspaces = raw.get("workspaces") or {"default": next(iter(backends), "")}
    if not isinstance(raw_workspaces, dict):
        problems.append("'workspaces' must map workspace names to backend names")
        raw_workspaces = {}
    for workspace, target in raw_workspaces.items():
        where = f"workspaces.{workspace}"
        if problem := name_problem(workspace):
            problems.append(f"{where}: {problem}")
            continue
        if isinstance(target, dict):
            for key in sorted(set(target) - WORKSPACE_KEYS, key=str):
                problems.append(
                    f"{where}: unknown key '{key}' (allowed: {', '.join(sorted(WORKSPACE_KEYS))})"
                )
            if (sources := _backend_names(target.get("migrated_from"))) is None:
                problems.append(f"{where}.migrated_from: must name a backend, or list backend names")
            elif sources:
                migrated_from[workspace] = sources
            description = target.get("description")
            if description is not None and not isinstance(description, str):
                problems.append(f"{where}.description: must be text")
            elif description is not None:
                descriptions[workspace] = description
            target = target.get("backend")
            if target is None:
                problems.append(f"{where}: needs a 'backend' (one of the names under 'backends:')")
                continue
        if not isinstance(target, str):
            problems.append(f"{where}: must name a backend, or be {{backend: <name>, description: <text>}}")
            continue
        if target not in backends and raw_backends:
            problems.append(f"{where}: no backend named '{target}'")
        workspaces[workspace] = target
    auth = parse_auth_section(_interpolate(raw.get("auth"), "auth", problems), problems)
    if problems:
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems))
    # No 'default' is allowed: calls without a workspace then fail, naming the fix.
    return GatewayConfig(backends, workspaces, descriptions, migrated_from, migration_state, auth)
