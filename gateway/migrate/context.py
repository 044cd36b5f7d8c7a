"""What every copy step shares: both backends, the state, the tally, the display, and the id maps."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Iterable
from typing import Any

from flowport.adapters.backend import Backend
from flowport.adapters.capabilities import Capability
from flowport.gateway.migrate.report import Display, Tally
from flowport.gateway.migrate.state import MigrationState


@dataclasses.dataclass
class MigrationContext:
    source: Backend
    target: Backend
    state: MigrationState
    tally: Tally
    display: Display
    dry_run: bool = False
    concurrency: int = 4
    # Per kind ("experiment", "run", "registered_model", …): source id → target id, and
    # {(source id, aspect): digest}; loaded from the state on first use, grown as objects are written.
    _ids: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    _aspects: dict[str, dict[tuple[str, str], str]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)

    @property
    def copies_artifacts(self) -> bool:
        return (
            Capability.ARTIFACTS in self.source.capabilities
            and Capability.ARTIFACTS in self.target.capabilities
        )

    def ids(self, kind: str) -> dict[str, str]:
        """source id → target id of every object of `kind` copied so far (this pass or earlier)."""
        if kind not in self._ids:
            self._ids[kind] = self.state.id_map(kind)
        return self._ids[kind]

    def aspects(self, kind: str) -> dict[tuple[str, str], str]:
        if kind not in self._aspects:
            self._aspects[kind] = self.state.aspects(kind)
        return self._aspects[kind]

    def map_id(self, kind: str, source_id: str, target_id: str) -> None:
        """Remember a target id in memory and (unless dry) in the state, the moment it is known."""
        self.ids(kind)[source_id] = target_id
        self.state.map_id(kind, source_id, target_id)

    def set_aspect(self, kind: str, source_id: str, aspect: str, value: str) -> None:
        self.aspects(kind)[(source_id, aspect)] = value
        self.state.set_aspect(kind, source_id, aspect, value)

    async def bounded(self, work: Iterable[Awaitable[Any]]) -> list[Any]:
        """Await all of `work`, at most `concurrency` at a time."""

        async def one(item: Awaitable[Any]) -> Any:
            async with self._slots:
                return await item

        return await asyncio.gather(*(one(item) for item in work))
