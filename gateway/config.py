"""What `flowport serve` runs with: addresses and the embedded default backend's locations."""

from __future__ import annotations

import dataclasses
import os
import pathlib


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

    def resolved(self) -> ServeConfig:
        """Fill the embedded defaults (SQLite file + artifact folder under the home)."""
        home = default_home()
        return dataclasses.replace(
            self,
            grpc_host=self.grpc_host or self.host,
            backend_store_uri=self.backend_store_uri or f"sqlite:///{home / 'flowport.db'}",
            artifacts_destination=self.artifacts_destination or str(home / "artifacts"),
        )
