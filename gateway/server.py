"""The gateway process: the gRPC door and the HTTP door on one event loop, one service layer.

SIGINT/SIGTERM stop both doors from accepting, let in-flight calls finish (bounded by
the graceful-shutdown timeout), then close the backends. With a configuration file, SIGHUP and a
change of the file reload it (gateway.reload); the embedded default has nothing to reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import ipaddress
import logging
import pathlib
import signal
import sys
from collections.abc import Iterator

import grpc
import uvicorn

from flowport.adapters.backend import BackendConfigError
from flowport.adapters.local.backend import LocalBackend
from flowport.adapters.local.db import redacted
from flowport.auth.config import AuthConfig
from flowport.gateway.authorization import Governance
from flowport.gateway.call import DEFAULT_WORKSPACE
from flowport.gateway.config import ConfigError, ServeConfig, default_home, load_config
from flowport.gateway.grpc.door import add_to_server
from flowport.gateway.http.app import HttpDoor
from flowport.gateway.migrated_ids import load_translations
from flowport.gateway.reload import ConfigReloader, build_backends, fingerprint
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
        refuse_exposure_without_auth(config, gateway_config.auth)
        translations = load_translations(gateway_config, config.config_file)
        backends = build_backends(
            gateway_config.backends, source=config.config_file, max_threads=config.max_threads
        )
        service = GatewayService(
            backends,
            gateway_config.workspaces,
            descriptions=gateway_config.descriptions,
            workspaces_enabled=True,
            config_file=config.config_file,
            specs=gateway_config.backends,
            translations=translations,
        )
        if gateway_config.auth is not None:
            service.governance = Governance.from_config(gateway_config.auth, default_home())
        return service
    refuse_exposure_without_auth(config, None)
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
    if not config.watch_config:
        reload = "on SIGHUP (--no-reload: the file is not watched)"
    else:
        reload = f"on SIGHUP and when the file changes (checked every {config.reload_interval:g}s)"
    lines = [f"  config          {config.config_file}", f"  reload          {reload}"]
    for workspace, name in sorted(service.workspaces.items()):
        backend = service.backends[name]
        lines.append(f"  workspace {workspace!r} → backend {name!r} ({backend.kind}) {backend.describe()}")
    return "\n".join(lines)


async def serve(config: ServeConfig) -> None:
    config = config.resolved()
    # Before reading the file: an edit made while the gateway starts is then seen as a change.
    seen = fingerprint(config.config_file) if config.config_file else None
    service = build_service(config)
    await service.start()

    grpc_server = grpc.aio.server()
    health = add_to_server(grpc_server, service)
    grpc_port = _add_grpc_port(grpc_server, f"{config.grpc_host}:{config.grpc_port}", service.governance)
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
    reloader, watch = None, None
    if config.config_file:
        reloader = ConfigReloader(
            service,
            config.config_file,
            max_threads=config.max_threads,
            drain_timeout=config.graceful_shutdown_seconds,
            seen=seen,
            insecure=config.insecure,
        )
        loop.add_signal_handler(signal.SIGHUP, reloader.on_signal)
        if config.watch_config:
            watch = asyncio.create_task(reloader.watch(config.reload_interval), name="config watch")
    else:
        # SIGHUP's default action would end the process: a reload signal must never do that.
        loop.add_signal_handler(
            signal.SIGHUP, lambda: log.warning("SIGHUP ignored: no --config file to reload")
        )

    http_task = asyncio.create_task(http.serve())
    while not http.started and not http_task.done():
        await asyncio.sleep(0.01)
    if http_task.done():  # e.g. the port is taken: uvicorn has already logged why
        await _stop_reloading(reloader, watch)
        await grpc_server.stop(None)
        await service.close()
        raise SystemExit(1)
    print(
        f"flowport {flowport_version()} serving\n"
        f"  MLflow REST  http://{config.host}:{config.port}\n"
        f"  gRPC         {config.grpc_host}:{grpc_port}\n"
        + _describe(service, config)
        + _describe_auth(service),
        flush=True,
    )
    await stop.wait()
    print("flowport: shutting down, letting in-flight calls finish", file=sys.stderr, flush=True)
    await health.enter_graceful_shutdown()
    http.should_exit = True
    await asyncio.gather(http_task, grpc_server.stop(config.graceful_shutdown_seconds))
    await _stop_reloading(reloader, watch)
    await service.close()


async def _stop_reloading(reloader: ConfigReloader | None, watch: asyncio.Task | None) -> None:
    """No reload starts any more, and one under way finishes, before the backends are closed."""
    asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
    if watch is not None:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
    if reloader is not None:
        await reloader.stop()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_exposure_without_auth(config: ServeConfig, auth: AuthConfig | None) -> None:
    """Secure by default: a door other machines can reach needs authentication, or --insecure."""
    if auth is not None or config.insecure:
        return
    exposed = [h for h in dict.fromkeys((config.host, config.grpc_host or config.host)) if not _loopback(h)]
    if exposed:
        raise ConfigError(
            f"{', '.join(exposed)} is reachable from other machines and no authentication is configured: "
            "add an 'auth:' section to the --config file, or pass --insecure to serve without it"
        )


def _add_grpc_port(server: grpc.aio.Server, address: str, governance: Governance | None) -> int:
    """Plain gRPC, or TLS requiring a client certificate signed by `auth.mtls.ca_file` (grpc offers no
    way to ask for one without requiring it)."""
    mtls = governance.config.mtls if governance is not None else None
    if mtls is None:
        return server.add_insecure_port(address)
    read = lambda path: pathlib.Path(path).read_bytes()  # noqa: E731
    credentials = grpc.ssl_server_credentials(
        [(read(mtls.key_file), read(mtls.cert_file))],
        root_certificates=read(mtls.ca_file),
        require_client_auth=True,
    )
    return server.add_secure_port(address, credentials)


def _describe_auth(service: GatewayService) -> str:
    governance = service.governance
    if governance is None:
        return "\n  auth            off (no 'auth:' section)"
    database = governance.store.engine.url.render_as_string(hide_password=True)
    return f"\n  auth            {', '.join(governance.config.methods)} (state: {database})"
