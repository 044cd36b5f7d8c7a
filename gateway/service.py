"""The service layer: one code path for every call from either door.

route the call's workspace to its backend → invoke the backend (or the artifact proxy
over the backend's artifact store). Authorization and audit hook in here (issue 7),
so both doors get them by construction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from google.protobuf.message import Message

from flowport.adapters.backend import Backend, handler_name
from flowport.adapters.resilience import call_deadline
from flowport.gateway.artifact_proxy import ArtifactProxy
from flowport.gateway.call import Call
from flowport.v1.errors import ApiError, does_not_exist, invalid_parameter

log = logging.getLogger("flowport.gateway")

ARTIFACTS_SERVICE = "flowport.v1.artifacts.ArtifactsService"
_WORKSPACE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class GatewayService:
    """Routes calls to backends by workspace."""

    def __init__(self, backends: Mapping[str, Backend], workspaces: Mapping[str, str]) -> None:
        self.backends = dict(backends)
        self.workspaces = dict(workspaces)  # workspace name → backend name
        self._proxies: dict[str, ArtifactProxy] = {}

    def backend_for(self, workspace: str) -> Backend:
        if not _WORKSPACE_NAME.match(workspace):
            raise invalid_parameter(
                f"Invalid workspace name '{workspace}': must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
            )
        backend_name = self.workspaces.get(workspace)
        if backend_name is None:
            raise does_not_exist(f"Workspace '{workspace}' not found")
        return self.backends[backend_name]

    def artifacts_for(self, workspace: str) -> ArtifactProxy:
        backend = self.backend_for(workspace)
        proxy = self._proxies.get(backend.name)
        if proxy is None:
            proxy = self._proxies[backend.name] = ArtifactProxy.for_backend(backend)
        return proxy

    async def call(self, call: Call, service: str = "") -> Message:
        call_deadline.set(call.deadline)  # this task's own context: it does not leak to other calls
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
