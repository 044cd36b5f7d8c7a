"""The local backend: SQL stores (SQLite or PostgreSQL) plus a filesystem artifact store.

It is the embedded default of `flowport serve`. Schema changes go through Alembic at
start; blocking SQL work runs in the backend's thread pool (see adapters.backend).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, ClassVar

from flowport.adapters.artifact_store import ArtifactStore, normalize_artifact_path
from flowport.adapters.artifacts.registry import open_artifact_store
from flowport.adapters.artifacts.workspace_scoped import WorkspaceScopedStore
from flowport.adapters.backend import Backend
from flowport.adapters.capabilities import MLFLOW_SERVER, Capability
from flowport.adapters.local import artifact_uris, migrations
from flowport.adapters.local.db import Sessions, create_engine_for, redacted
from flowport.adapters.local.logged_model_store import LoggedModelStore
from flowport.adapters.local.registry_store import RegistryStore
from flowport.adapters.local.trace_store import TraceStore
from flowport.adapters.local.tracking_store import TrackingStore
from flowport.adapters.local.wal_checkpoint import WalCheckpointer
from flowport.adapters.registry import take_options
from flowport.v1 import tracking_pb2


class LocalBackend(Backend):
    kind: ClassVar[str] = "local"
    # Several workspaces may share one local backend: every store scopes its rows by
    # `adapters.workspace_scope.current_workspace`, as MLflow's SQL store with workspaces on.
    capabilities = MLFLOW_SERVER | {Capability.WORKSPACES}

    def __init__(
        self,
        name: str,
        *,
        database_uri: str,
        artifact_root: str | os.PathLike,
        artifact_store_options: dict[str, Any] | None = None,
        max_threads: int = 8,
    ) -> None:
        super().__init__(name, max_threads=max_threads)
        self.database_uri = database_uri
        self.engine = create_engine_for(database_uri)
        # Before the engine's first connection: each one it opens leaves checkpoints to this thread.
        self._checkpointer = WalCheckpointer(self.engine) if WalCheckpointer.applies_to(self.engine) else None
        sessions = Sessions(self.engine)
        self.tracking = TrackingStore(sessions)
        self.registry = RegistryStore(sessions)
        self.logged_models = LoggedModelStore(sessions)
        self.traces = TraceStore(sessions)
        self.services = (self.tracking, self.registry, self.logged_models, self.traces)
        # A path or any store's URI (gs://, s3://, wasbs://): records keep `mlflow-artifacts:` locations.
        self._artifacts = open_artifact_store(str(artifact_root), **(artifact_store_options or {}))

    @classmethod
    def from_config(cls, name: str, options: dict[str, Any], *, max_threads: int = 8) -> LocalBackend:
        take_options(cls.kind, options, {"database_uri", "artifact_root"}, {"artifact_store_options"})
        return cls(
            name,
            database_uri=options["database_uri"],
            artifact_root=options["artifact_root"],
            artifact_store_options=options.get("artifact_store_options"),
            max_threads=max_threads,
        )

    def describe(self) -> str:
        return redacted(self.database_uri)

    @property
    def artifact_store(self) -> ArtifactStore:
        return self._artifacts

    def artifact_store_for(self, workspace: str) -> ArtifactStore:
        # One store for every workspace: each sees its own folder only.
        return WorkspaceScopedStore(self._artifacts, workspace)

    async def start(self) -> None:
        await self.run_blocking(migrations.upgrade, self.engine)
        if self._checkpointer is not None:
            self._checkpointer.start()
        await self.run_blocking(self.tracking.ensure_default_experiment)

    async def close(self) -> None:
        await self._artifacts.close()
        await super().close()
        self.engine.dispose()
        if self._checkpointer is not None:  # last: its final checkpoint empties the log
            await asyncio.to_thread(self._checkpointer.close)

    # Listing joins SQL (where is the run's folder?) with the artifact store (what is in it).
    async def list_artifacts(
        self, request: tracking_pb2.ListArtifacts
    ) -> tracking_pb2.ListArtifacts.Response:
        run_id = request.run_id or request.run_uuid
        root_uri = await self.run_blocking(self.tracking.run_artifact_uri, run_id)
        return await self._list_under(root_uri, request.path, tracking_pb2.ListArtifacts.Response)

    async def list_logged_model_artifacts(
        self, request: tracking_pb2.ListLoggedModelArtifacts
    ) -> tracking_pb2.ListLoggedModelArtifacts.Response:
        root_uri = await self.run_blocking(self.logged_models.logged_model_artifact_uri, request.model_id)
        return await self._list_under(
            root_uri, request.artifact_directory_path, tracking_pb2.ListLoggedModelArtifacts.Response
        )

    async def _list_under(self, root_uri: str, sub_path: str, response_class):  # noqa: ANN001, ANN202
        root = artifact_uris.store_path_of(root_uri)
        sub = normalize_artifact_path(sub_path)
        files = await self._artifacts.list(f"{root}/{sub}" if sub else root)
        prefix = root + "/"
        response = response_class(root_uri=root_uri)
        for f in files:
            rel = f.path[len(prefix) :] if f.path.startswith(prefix) else f.path
            info = response.files.add(path=rel, is_dir=f.is_dir)
            if not f.is_dir and f.file_size is not None:
                info.file_size = f.file_size
        return response
