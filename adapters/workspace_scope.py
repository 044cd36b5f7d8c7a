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

DEFAULT_WORKSPACE = "default"

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
