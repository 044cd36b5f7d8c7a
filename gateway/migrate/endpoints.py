"""`--from` / `--to`: a backend of the configuration file, named directly or through a workspace,
and the workspace whose data is read or written there."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from flowport.adapters.artifact_store import ArtifactStore
from flowport.adapters.backend import Backend
from flowport.adapters.workspace_scope import DEFAULT_WORKSPACE, in_workspace
from flowport.gateway.config import BackendSpec, ConfigError, GatewayConfig


class WorkspaceView:
    """A backend as the calls of one workspace see it: a backend that keeps several workspaces
    apart (the local one) is read and written in that workspace, as the gateway would."""

    def __init__(self, backend: Backend, workspace: str) -> None:
        self.backend = backend
        self.workspace = workspace

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    async def invoke(self, rpc: str, request: Message) -> Message:
        with in_workspace(self.workspace):
            return await self.backend.invoke(rpc, request)

    @property
    def artifact_store(self) -> ArtifactStore:
        return self.backend.artifact_store_for(self.workspace)


def workspace_of(config: GatewayConfig, name: str) -> str:
    """The workspace `--from`/`--to` NAME means: the one it names, else `default`."""
    kind, _, bare = name.partition(":") if name.startswith(("backend:", "workspace:")) else ("", "", name)
    if kind != "backend" and bare in config.workspaces:
        return bare
    return DEFAULT_WORKSPACE


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
