"""Databricks' quotas as the gateway keeps them (adapters/databricks/quotas.py): exact key sets for
params and tags, lower bounds for metric steps and runs, reservations undone when a write fails."""

from __future__ import annotations

import asyncio

import pytest

from flowport.adapters.databricks.quotas import QUOTA_ERROR_CODE, QuotaGuard, Quotas, RunUsage
from flowport.v1.errors import ApiError


class Runs:
    """What the workspace holds per run, as GetRun would show it; counts the reads."""

    def __init__(self, **runs: RunUsage) -> None:
        self.runs = runs
        self.reads: list[str] = []

    async def read(self, run_id: str) -> RunUsage:
        self.reads.append(run_id)
        held = self.runs[run_id]
        return RunUsage(set(held.params), set(held.tags), held.metric_steps)


def usage(params: int = 0, tags: int = 0, metric_keys: int = 0) -> RunUsage:
    return RunUsage({f"p{i}" for i in range(params)}, {f"t{i}" for i in range(tags)}, metric_keys)


def run(coro):
    return asyncio.run(coro)


async def log(guard: QuotaGuard, run_id: str, **what) -> None:
    async with guard.logging(run_id, **what):
        pass


def test_published_limits_are_the_defaults():
    assert Quotas() == Quotas(
        metric_steps_per_run=1_000_000, params_per_run=1600, tags_per_run=1600, runs_per_experiment=500_000
    )


def test_a_request_that_alone_exceeds_a_limit_is_refused_without_reading_the_run():
    runs = Runs(r=usage())
    guard = QuotaGuard(Quotas(), runs.read)
    with pytest.raises(ApiError) as info:
        run(log(guard, "r", params=[f"k{i}" for i in range(1601)]))
    assert info.value.error_code == QUOTA_ERROR_CODE
    assert (
        "RESOURCE_EXHAUSTED" in info.value.message
        and "params of a run is limited to 1,600" in info.value.message
    )
    assert runs.reads == []


def test_params_are_counted_as_keys_from_the_run_as_it_is():
    runs = Runs(r=usage(params=3))
    guard = QuotaGuard(Quotas(params_per_run=4), runs.read)
    run(log(guard, "r", params=["p0", "p1"]))  # already there: adds nothing
    run(log(guard, "r", params=["new"]))
    run(log(guard, "r", params=["new", "p2"]))  # again: still nothing new
    with pytest.raises(ApiError) as info:
        run(log(guard, "r", params=["one-too-many"]))
    assert "run r holds 4 and this request adds 1" in info.value.message
    assert runs.reads == ["r"]  # read once, then kept


def test_a_failed_write_gives_its_room_back():
    guard = QuotaGuard(Quotas(tags_per_run=2), Runs(r=usage(tags=1)).read)

    async def failing():
        async with guard.logging("r", tags=["x"]):
            raise ApiError("upstream refused", "INTERNAL_ERROR")

    with pytest.raises(ApiError, match="upstream refused"):
        run(failing())
    run(log(guard, "r", tags=["y"]))  # the room "x" had reserved is free again


def test_concurrent_writes_cannot_both_take_the_last_room():
    guard = QuotaGuard(Quotas(params_per_run=2), Runs(r=usage(params=1)).read)

    async def both():
        gate = asyncio.Event()

        async def write(key: str) -> None:
            async with guard.logging("r", params=[key]):
                await gate.wait()  # both are in flight at once

        first = asyncio.create_task(write("a"))
        second = asyncio.create_task(write("b"))
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(first, second, return_exceptions=True)

    results = run(both())
    assert sum(isinstance(r, ApiError) for r in results) == 1


def test_metric_steps_start_from_the_metric_keys_and_count_every_step():
    guard = QuotaGuard(Quotas(metric_steps_per_run=10), Runs(r=usage(metric_keys=3)).read)
    run(log(guard, "r", metric_steps=5))
    run(log(guard, "r", metric_steps=2))
    with pytest.raises(ApiError) as info:
        run(log(guard, "r", metric_steps=1))
    assert "metric steps of a run is limited to 10; run r holds 10" in info.value.message


def test_a_deleted_tag_frees_its_room():
    guard = QuotaGuard(Quotas(tags_per_run=1), Runs(r=usage()).read)
    run(log(guard, "r", tags=["a"]))
    guard.tag_deleted("r", "a")
    run(log(guard, "r", tags=["b"]))


def test_runs_per_experiment_follow_creations_deletions_and_restores():
    guard = QuotaGuard(Quotas(runs_per_experiment=2), Runs().read)

    async def create(experiment: str, run_id: str) -> None:
        async with guard.creating_run(experiment):
            pass
        guard.run_seen(run_id, experiment, usage())

    run(create("e", "r1"))
    run(create("e", "r2"))
    run(create("other", "r3"))  # experiments count apart
    with pytest.raises(ApiError) as info:
        run(create("e", "r4"))
    assert "runs of an experiment is limited to 2; experiment e holds 2" in info.value.message
    guard.run_deleted("r1", deleted=True)
    guard.run_deleted("r1", deleted=True)  # a repeated delete frees nothing more
    run(create("e", "r4"))
    guard.run_deleted("r1", deleted=False)  # restored: counts again
    with pytest.raises(ApiError):
        run(create("e", "r5"))


def test_a_failed_create_does_not_count():
    guard = QuotaGuard(Quotas(runs_per_experiment=1), Runs().read)

    async def failing():
        async with guard.creating_run("e"):
            raise ApiError("upstream refused", "INTERNAL_ERROR")

    with pytest.raises(ApiError, match="upstream refused"):
        run(failing())

    async def create():
        async with guard.creating_run("e"):
            pass

    run(create())


def test_runs_dropped_from_memory_are_read_again():
    runs = Runs(a=usage(params=1), b=usage(), c=usage())
    guard = QuotaGuard(Quotas(params_per_run=2), runs.read, max_runs=2)
    run(log(guard, "a", params=["x"]))
    runs.runs["a"] = usage(params=2)  # what the workspace now holds (the write went through)
    run(log(guard, "b"))
    run(log(guard, "c"))  # "a" drops out
    with pytest.raises(ApiError):
        run(log(guard, "a", params=["y"]))
    assert runs.reads == ["a", "b", "c", "a"]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"params_per_run": 0}, "positive whole number"),
        ({"tags_per_run": True}, "positive whole number"),
        ({"runs": 5}, "unknown quotas runs"),
    ],
)
def test_quota_options_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        Quotas.from_options(options)


def test_quota_options_read_numbers_from_text():
    assert Quotas.from_options({"params_per_run": "3200"}).params_per_run == 3200
