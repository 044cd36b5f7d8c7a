"""`--from` / `--to`: a backend of the configuration file, named directly or through a workspace."""

from __future__ import annotations

from flowport.gateway.config import BackendSpec, ConfigError, GatewayConfig


def resolve(config: GatewayConfig, name: str, option: str) -> BackendSpec:
    """`backend:NAME`, `workspace:NAME`, or a bare NAME that is either (and means one backend)."""
    kind, _, bare = name.partition(":") if name.startswith(("backend:", "workspace:")) else ("", "", name)
    as_backend = config.backends.get(bare) if kind in ("", "backend") else None
    workspace_backend = config.workspaces.get(bare) if kind in ("", "workspace") else None
    as_workspace = config.backends.get(workspace_backend) if workspace_backend else None
    if as_backend and as_workspace and as_backend.name != as_workspace.name:
        raise ConfigError(
            f"{option} {bare}: is both a backend and a workspace (on backend '{as_workspace.name}'); "
            f"say {option} backend:{bare} or {option} workspace:{bare}"
        )
    found = as_backend or as_workspace
    if found is None:
        raise ConfigError(
            f"{option} {name}: no such backend or workspace (backends: {', '.join(sorted(config.backends))}; "
            f"workspaces: {', '.join(sorted(config.workspaces))})"
        )
    return found
