"""How much work each run does: `tiny` for the smoke test, `quick` for a look, `full` for the README table.
Every loop is also capped in time (`seconds`), so a slow server shortens a row instead of the run
hanging."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Sizes:
    repeats: int  # each row, each server, alternating the order of servers
    calls: int  # sequential latency loops (health, runs/create, log-metric, registry, proxy probe)
    seconds: float  # time cap of one loop
    clients: int  # concurrent client processes
    client_calls: int  # calls per client in concurrent loops
    batches: int  # sequential 1000-point log-batch calls
    history_points: tuple[int, ...]  # points of one metric, one run per size
    search_runs: tuple[int, ...]  # runs in the searched experiment, populated up to each in turn
    search_queries: int
    artifact_mb: int
    traces: int  # ingested over OTLP/HTTP, then searched
    traces_per_export: int  # two spans each
    population_seconds: float = 1500.0  # cap of one population step

    def with_search_runs(self, runs: tuple[int, ...]) -> Sizes:
        return dataclasses.replace(self, search_runs=runs)


SIZES = {
    "tiny": Sizes(
        repeats=1,
        calls=20,
        seconds=2.0,
        clients=2,
        client_calls=4,
        batches=2,
        history_points=(2000,),
        search_runs=(16, 32),
        search_queries=3,
        artifact_mb=2,
        traces=40,
        traces_per_export=10,
    ),
    "quick": Sizes(
        repeats=3,
        calls=200,
        seconds=3.0,
        clients=8,
        client_calls=25,
        batches=8,
        history_points=(10_000,),
        search_runs=(1000,),
        search_queries=10,
        artifact_mb=20,
        traces=1000,
        traces_per_export=50,
    ),
    "full": Sizes(
        repeats=3,
        calls=1000,
        seconds=3.0,
        clients=8,
        client_calls=40,
        batches=12,
        history_points=(10_000, 100_000),
        search_runs=(1000, 10_000),
        search_queries=10,
        artifact_mb=100,
        traces=10_000,
        traces_per_export=100,
        population_seconds=600.0,
    ),
}
