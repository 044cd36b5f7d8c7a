"""Workspaces as the gateway knows them: names from the configuration file, each mapped to a
backend, and MLflow 3's workspace API (`/api/3.0/mlflow/workspaces`) served from that list.

The gateway serves these RPCs itself; no backend sees them. Workspaces change only by editing the
configuration file (reloaded live, gateway.reload), so create/update/delete are refused.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from google.protobuf.message import Message

from flowport.adapters.backend import handler_name
from flowport.gateway.call import DEFAULT_WORKSPACE
from flowport.v1 import workspaces_pb2 as pb
from flowport.v1.errors import ApiError, does_not_exist, invalid_parameter

WORKSPACES_SERVICE = pb.DESCRIPTOR.services_by_name["WorkspaceService"].full_name

# What `mlflow server --enable-workspaces` says of its `default` workspace.
DEFAULT_DESCRIPTION = "Default workspace for legacy resources"

# MLflow's WorkspaceNameValidator (Kubernetes namespace rules); `default` is always allowed.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_NAME = re.compile(NAME_PATTERN)
_MIN_LENGTH, _MAX_LENGTH = 2, 63
_RESERVED = frozenset({"workspaces", "api", "ajax-api", "static-files"})


def name_problem(name: object) -> str | None:
    """Why `name` cannot be a workspace name (MLflow's rule), or None if it can."""
    if name == DEFAULT_WORKSPACE:
        return None
    if not isinstance(name, str):
        return f"Workspace name must be a string, got {type(name).__name__}"
    if not _MIN_LENGTH <= len(name) <= _MAX_LENGTH:
        return f"Workspace name '{name}' must be between {_MIN_LENGTH} and {_MAX_LENGTH} characters"
    if not _NAME.match(name):
        return (
            f"Workspace name '{name}' must match the pattern {NAME_PATTERN} "
            "(lowercase alphanumeric with optional internal hyphens)"
        )
    if name in _RESERVED:
        return f"Workspace name '{name}' is reserved and cannot be used"
    return None


def check_name(name: str) -> None:
    """INVALID_PARAMETER_VALUE for a name MLflow would refuse."""
    problem = name_problem(name)
    if problem:
        raise invalid_parameter(problem)


@dataclasses.dataclass(frozen=True)
class WorkspaceEntry:
    name: str
    backend: str  # a backend name of the configuration file
    description: str | None = None


class WorkspaceDirectory:
    """The configured workspaces: routing (name → backend name) and the workspace API."""

    def __init__(
        self,
        workspaces: Mapping[str, str],
        descriptions: Mapping[str, str] | None = None,
        *,
        kinds: Mapping[str, str] | None = None,
        source: str = "",
    ) -> None:
        descriptions = descriptions or {}
        self.kinds = dict(kinds or {})  # backend name → kind, shown by the workspace API
        self.entries = {
            name: WorkspaceEntry(name, backend, descriptions.get(name))
            for name, backend in workspaces.items()
        }
        self.source = source  # the configuration file, named in messages that tell how to change it

    def backend_name(self, workspace: str) -> str:
        """The backend a call in `workspace` goes to; MLflow's errors for a bad or unknown name."""
        check_name(workspace)
        entry = self.entries.get(workspace)
        if entry is not None:
            return entry.backend
        if workspace == DEFAULT_WORKSPACE:
            where = f" in {self.source}" if self.source else ""
            raise does_not_exist(
                f"Workspace '{DEFAULT_WORKSPACE}' not found: this gateway's configuration maps no "
                "'default' workspace, so each call must name one (set MLFLOW_WORKSPACE or call "
                "mlflow.set_workspace(); over HTTP the X-MLFLOW-WORKSPACE header, over gRPC "
                f"x-mlflow-workspace metadata), or add 'default: <backend>' under 'workspaces:'{where}"
            )
        raise does_not_exist(f"Workspace '{workspace}' not found")

    def ordered(self) -> list[WorkspaceEntry]:
        """`default` first, then by name (MLflow lists by name)."""
        return sorted(self.entries.values(), key=lambda e: (e.name != DEFAULT_WORKSPACE, e.name))

    def to_proto(self, entry: WorkspaceEntry) -> pb.Workspace:
        description = entry.description
        if description is None and entry.name == DEFAULT_WORKSPACE:
            description = DEFAULT_DESCRIPTION
        workspace = pb.Workspace(name=entry.name, backend=entry.backend)
        if entry.backend in self.kinds:
            workspace.backend_kind = self.kinds[entry.backend]
        if description is not None:
            workspace.description = description
        return workspace

    # --- the workspace API (handlers named as Backend.invoke finds them) -------------------------

    async def invoke(self, rpc: str, request: Message) -> Message:
        handler = getattr(self, handler_name(rpc), None)
        if handler is None:
            raise ApiError(f"{rpc} is not a workspace call", "ENDPOINT_NOT_FOUND")
        return handler(request)

    def list_workspaces(self, request: pb.ListWorkspaces) -> pb.ListWorkspaces.Response:
        return pb.ListWorkspaces.Response(workspaces=[self.to_proto(e) for e in self.ordered()])

    def get_workspace(self, request: pb.GetWorkspace) -> pb.GetWorkspace.Response:
        if not request.workspace_name:
            raise invalid_parameter("Missing value for required parameter 'workspace_name'")
        self.backend_name(request.workspace_name)  # MLflow's errors for a bad or unknown name
        return pb.GetWorkspace.Response(workspace=self.to_proto(self.entries[request.workspace_name]))

    def create_workspace(self, request: pb.CreateWorkspace) -> pb.CreateWorkspace.Response:
        raise self._read_only("Creating", request.name)

    def update_workspace(self, request: pb.UpdateWorkspace) -> pb.UpdateWorkspace.Response:
        raise self._read_only("Updating", request.workspace_name)

    def delete_workspace(self, request: pb.DeleteWorkspace) -> pb.DeleteWorkspace.Response:
        raise self._read_only("Deleting", request.workspace_name)

    def _read_only(self, what: str, name: str) -> ApiError:
        # MLflow answers a read-only workspace provider with FEATURE_DISABLED, which it sends as
        # HTTP 500 — and its client retries 500s for minutes. NOT_IMPLEMENTED (501) is MLflow's
        # code for a disabled feature too (its AI gateway), and clients give up at once.
        where = self.source or "the gateway's configuration file"
        return ApiError(
            f"{what} workspace{f' {name!r}' if name else 's'} is not supported by this gateway: "
            f"workspaces come from its configuration file; edit 'workspaces:' in {where} "
            "(flowport applies the edit live: on a change of the file, or on SIGHUP)",
            "NOT_IMPLEMENTED",
        )
