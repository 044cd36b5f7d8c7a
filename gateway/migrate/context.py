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
    # source id → target id, loaded from the state and grown as objects are created or found.
    experiment_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    run_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    run_aspects: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    experiment_aspects: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)

    @property
    def copies_artifacts(self) -> bool:
        return (
            Capability.ARTIFACTS in self.source.capabilities
            and Capability.ARTIFACTS in self.target.capabilities
        )

    def map_id(self, kind: str, source_id: str, target_id: str) -> None:
        """Remember a target id in memory and (unless dry) in the state, the moment it is known."""
        (self.experiment_ids if kind == "experiment" else self.run_ids)[source_id] = target_id
        self.state.map_id(kind, source_id, target_id)

    def set_aspect(self, kind: str, source_id: str, aspect: str, value: str) -> None:
        (self.experiment_aspects if kind == "experiment" else self.run_aspects)[(source_id, aspect)] = value
        self.state.set_aspect(kind, source_id, aspect, value)

    async def bounded(self, work: Iterable[Awaitable[Any]]) -> list[Any]:
        """Await all of `work`, at most `concurrency` at a time."""

        async def one(item: Awaitable[Any]) -> Any:
            async with self._slots:
                return await item

        return await asyncio.gather(*(one(item) for item in work))
