"""The service layer: one code path for every call from either door.

route the call's workspace to its backend → invoke the backend (or the artifact proxy
over the backend's artifact store). Authorization and audit hook in here (issue 7),
so both doors get them by construction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from google.protobuf.message import Message

from flowport.adapters.backend import Backend, handler_name
from flowport.adapters.resilience import call_deadline
from flowport.gateway.artifact_proxy import ArtifactProxy
from flowport.gateway.call import Call
from flowport.gateway.workspaces import WORKSPACES_SERVICE, WorkspaceDirectory
from flowport.v1.errors import ApiError

log = logging.getLogger("flowport.gateway")

ARTIFACTS_SERVICE = "flowport.v1.artifacts.ArtifactsService"
# Services the gateway answers itself, whatever the workspace: no backend sees their calls, so no
# capability gates them (and the workspace header does not route them, as in MLflow).
GATEWAY_SERVICES = frozenset({WORKSPACES_SERVICE})


class GatewayService:
    """Routes calls to backends by workspace."""

    def __init__(
        self,
        backends: Mapping[str, Backend],
        workspaces: Mapping[str, str],
        *,
        descriptions: Mapping[str, str] | None = None,
        workspaces_enabled: bool = False,
        config_file: str = "",
    ) -> None:
        self.backends = dict(backends)
        self.workspaces = dict(workspaces)  # workspace name → backend name
        self.directory = WorkspaceDirectory(
            workspaces,
            descriptions,
            kinds={name: backend.kind for name, backend in self.backends.items()},
            source=config_file,
        )
        # What server-info tells clients: true when a configuration file names the workspaces.
        self.workspaces_enabled = workspaces_enabled
        self._proxies: dict[str, ArtifactProxy] = {}

    def backend_for(self, workspace: str) -> Backend:
        """The backend of `workspace`: INVALID_PARAMETER_VALUE for a bad name, RESOURCE_DOES_NOT_EXIST
        for one the configuration does not map."""
        return self.backends[self.directory.backend_name(workspace)]

    def artifacts_for(self, workspace: str) -> ArtifactProxy:
        backend = self.backend_for(workspace)
        proxy = self._proxies.get(backend.name)
        if proxy is None:
            proxy = self._proxies[backend.name] = ArtifactProxy.for_backend(backend)
        return proxy

    async def call(self, call: Call, service: str = "") -> Message:
        call_deadline.set(call.deadline)  # this task's own context: it does not leak to other calls
        if service == WORKSPACES_SERVICE:
            return await self.directory.invoke(call.rpc, call.request)
        backend = self.backend_for(call.workspace)
        backend.check_supported(call.rpc)
        if service == ARTIFACTS_SERVICE:
            proxy = self.artifacts_for(call.workspace)
            handler = getattr(proxy, handler_name(call.rpc), None)
            if handler is None:
                raise ApiError(f"{call.rpc} is a streaming call", "ENDPOINT_NOT_FOUND")
            return await handler(call.request, call.base_url)
        return await backend.invoke(call.rpc, call.request)

    async def start(self) -> None:
        for backend in self.backends.values():
            await backend.start()

    async def close(self) -> None:
        for backend in self.backends.values():
            try:
                await backend.close()
            except Exception:  # one backend failing to close must not stop the others
                log.exception("closing backend %s failed", backend.name)
