"""The gateway process: the gRPC door and the HTTP door on one event loop, one service layer.

SIGINT/SIGTERM stop both doors from accepting, let in-flight calls finish (bounded by
the graceful-shutdown timeout), then close the backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import signal
import sys
from collections.abc import Iterator

import grpc
import uvicorn

from flowport.adapters.backend import BackendConfigError
from flowport.adapters.local.backend import LocalBackend
from flowport.adapters.local.db import redacted
from flowport.adapters.registry import build_backend
from flowport.gateway.call import DEFAULT_WORKSPACE
from flowport.gateway.config import ConfigError, ServeConfig, load_config
from flowport.gateway.grpc.door import add_to_server
from flowport.gateway.http.app import HttpDoor
from flowport.gateway.service import GatewayService
from flowport.v1.errors import ApiError

log = logging.getLogger("flowport")

# The MLflow version flowport speaks; `/version` reports it because the 3.x client gates
# features on it (clouds.md §0.2).
MLFLOW_API_VERSION = "3.17.2"


def flowport_version() -> str:
    try:
        return importlib.metadata.version("flowport")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


class _UvicornServer(uvicorn.Server):
    # The gateway owns signal handling so that it can stop both doors together.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_service(config: ServeConfig) -> GatewayService:
    """The configuration file's backends and workspaces, else the embedded local default."""
    if config.config_file:
        gateway_config = load_config(config.config_file)
        backends = {}
        for spec in gateway_config.backends.values():
            try:
                backends[spec.name] = build_backend(
                    spec.name, spec.kind, spec.options, max_threads=config.max_threads
                )
            except ValueError as err:
                raise ConfigError(f"{config.config_file}: backends.{spec.name}: {err}") from None
        return GatewayService(
            backends,
            gateway_config.workspaces,
            descriptions=gateway_config.descriptions,
            workspaces_enabled=True,
            config_file=config.config_file,
        )
    try:
        backend = LocalBackend(
            "local",
            database_uri=config.backend_store_uri,
            artifact_root=config.artifacts_destination,
            max_threads=config.max_threads,
        )
    except ApiError as err:  # a store refused its URI or could not find credentials
        raise ConfigError(f"--artifacts-destination: {err.message}") from None
    except BackendConfigError as err:  # no store for the scheme, or its SDK is missing
        raise ConfigError(f"--artifacts-destination: {err}") from None
    return GatewayService({backend.name: backend}, {DEFAULT_WORKSPACE: backend.name})


def _describe(service: GatewayService, config: ServeConfig) -> str:
    if not config.config_file:
        return (
            f"  backend store   {redacted(config.backend_store_uri)}\n"
            f"  artifacts       {config.artifacts_destination}"
        )
    lines = [f"  config          {config.config_file}"]
    for workspace, name in sorted(service.workspaces.items()):
        backend = service.backends[name]
        lines.append(f"  workspace {workspace!r} → backend {name!r} ({backend.kind}) {backend.describe()}")
    return "\n".join(lines)


async def serve(config: ServeConfig) -> None:
    config = config.resolved()
    service = build_service(config)
    await service.start()

    grpc_server = grpc.aio.server()
    health = add_to_server(grpc_server, service)
    grpc_port = grpc_server.add_insecure_port(f"{config.grpc_host}:{config.grpc_port}")
    await grpc_server.start()

    http = _UvicornServer(
        uvicorn.Config(
            HttpDoor(service, version=MLFLOW_API_VERSION),
            host=config.host,
            port=config.port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=int(config.graceful_shutdown_seconds),
            lifespan="off",
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    http_task = asyncio.create_task(http.serve())
    while not http.started and not http_task.done():
        await asyncio.sleep(0.01)
    if http_task.done():  # e.g. the port is taken: uvicorn has already logged why
        await grpc_server.stop(None)
        await service.close()
        raise SystemExit(1)
    print(
        f"flowport {flowport_version()} serving\n"
        f"  MLflow REST  http://{config.host}:{config.port}\n"
        f"  gRPC         {config.grpc_host}:{grpc_port}\n" + _describe(service, config),
        flush=True,
    )
    await stop.wait()
    print("flowport: shutting down, letting in-flight calls finish", file=sys.stderr, flush=True)
    await health.enter_graceful_shutdown()
    http.should_exit = True
    await asyncio.gather(http_task, grpc_server.stop(config.graceful_shutdown_seconds))
    await service.close()
