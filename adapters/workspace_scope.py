"""The workspace of the call in progress, for backends that keep several workspaces apart.

The gateway sets `current_workspace` once per call (from `X-MLFLOW-WORKSPACE` or gRPC
metadata); a workspace-aware backend (the local one) scopes every read and write by it.
`Backend.run_blocking` copies the context, so the value reaches the thread pool. Nothing here
knows about the gateway or about SQL.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from flowport.adapters.artifact_store import normalize_artifact_path
from flowport.v1.errors import invalid_parameter

DEFAULT_WORKSPACE = "default"
# How MLflow 3 clients and servers name the workspace of a request.
WORKSPACE_HEADER = "X-MLFLOW-WORKSPACE"
# The folder of a shared artifact store that holds every workspace but `default`.
WORKSPACES_FOLDER = "workspaces"

# "default" when nothing set it: calls without a workspace, tools, and tests see today's data.
current_workspace: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_workspace", default=DEFAULT_WORKSPACE
)


def workspace() -> str:
    """The workspace of the call in progress."""
    return current_workspace.get()


@contextlib.contextmanager
def in_workspace(name: str) -> Iterator[None]:
    """Run a block as a call in workspace `name` (tools such as `flowport migrate`, and tests)."""
    token = current_workspace.set(name)
    try:
        yield
    finally:
        current_workspace.reset(token)


def scoped_store_path(path: str | None, workspace: str) -> str:
    """Where a client's artifact path lives in a store several workspaces share (MLflow's layout,
    `server/handlers.py::_get_workspace_scoped_repo_path_if_enabled`): `default` keeps the store's
    root, others live under `workspaces/<name>/`, and no workspace reaches into another's folder."""
    normalized = normalize_artifact_path(path)
    segments = normalized.split("/", 2) if normalized else []
    if segments and segments[0] == WORKSPACES_FOLDER:
        if len(segments) == 1:
            raise invalid_parameter("Artifact paths under 'workspaces/' must name a workspace")
        if segments[1] != workspace:
            raise invalid_parameter(
                f"Artifact path targets workspace '{segments[1]}', "
                f"but the request's workspace is '{workspace}'"
            )
        return normalized
    if workspace == DEFAULT_WORKSPACE:
        return normalized
    base = f"{WORKSPACES_FOLDER}/{workspace}"
    return f"{base}/{normalized}" if normalized else base
