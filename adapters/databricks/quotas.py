"""Databricks' MLflow quotas, checked in the gateway before a write is forwarded (clouds.md §3.5).

Databricks caps every run at 1,000,000 metric steps, 1600 params and 1600 tags, and every
experiment at 500,000 runs. What the gateway can know cheaply and honestly decides how each is
checked:

- A request that alone exceeds a limit (a batch of 1601 params) is refused, always.
- Params and tags are counted exactly, as key sets: the first write to a run this gateway sees
  reads the run once (GetRun) and later writes add their new keys (re-logging a key adds nothing).
- Metric steps: GetRun shows each metric's latest value only, so the count starts at the number of
  metric keys (each has at least one step) and grows by every step sent through this gateway.
- Runs per experiment: MLflow cannot count an experiment's runs short of paging through all of
  them, so the count starts at zero and follows the runs created (and deleted or restored) here.

So every count is a lower bound of what Databricks holds: the gateway never refuses a write
Databricks would take, and for what it cannot see (other gateway replicas, other clients)
Databricks' own refusal still reaches the client. Counts are kept for the most recently used runs
only, so memory stays bounded; a run that drops out is read again on its next write.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from flowport.v1.errors import ApiError

# MLflow clients retry 429 and 5xx answers for minutes and then show "too many 429 error responses",
# not the message: a limit reached is permanent, so it is refused as bad input (HTTP 400), the way
# MLflow refuses its own limits, with RESOURCE_EXHAUSTED and the limit named in the message.
QUOTA_ERROR_CODE = "INVALID_PARAMETER_VALUE"
# Runs whose counts are kept; each holds at most params_per_run + tags_per_run keys.
MAX_TRACKED_RUNS = 1024
MAX_TRACKED_EXPERIMENTS = 4096


@dataclasses.dataclass(frozen=True)
class Quotas:
    """Databricks' published limits; a workspace granted more sets them in the backend's `quotas`."""

    metric_steps_per_run: int = 1_000_000
    params_per_run: int = 1600
    tags_per_run: int = 1600
    runs_per_experiment: int = 500_000

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> Quotas:
        options = dict(options or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown quotas {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        for name, value in options.items():
            if isinstance(value, str) and value.strip().isdigit():
                options[name] = value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"quota {name} must be a positive whole number, got {value!r}")
        return cls(**options)


@dataclasses.dataclass
class RunUsage:
    """What one run holds, as far as this gateway knows (a lower bound)."""

    params: set[str]
    tags: set[str]
    metric_steps: int


@dataclasses.dataclass
class _Reservation:
    usage: RunUsage
    params: set[str]
    tags: set[str]
    metric_steps: int

    def release(self) -> None:
        self.usage.params -= self.params
        self.usage.tags -= self.tags
        self.usage.metric_steps -= self.metric_steps


def exceeded(what: str, limit: int, holder: str, held: int, adding: int) -> ApiError:
    return ApiError(
        f"RESOURCE_EXHAUSTED: Databricks quota exceeded: {what} is limited to {limit:,}; {holder} holds "
        f"{held:,} and this request adds {adding:,}. Delete what is no longer needed, log less, or "
        "ask Databricks for a higher limit (and set it in the backend's quotas)",
        QUOTA_ERROR_CODE,
    )


class QuotaGuard:
    """Checks writes against `Quotas` and keeps the counts; `read_run(run_id)` primes a run's usage."""

    def __init__(
        self,
        quotas: Quotas,
        read_run: Callable[[str], Awaitable[RunUsage]],
        *,
        max_runs: int = MAX_TRACKED_RUNS,
        max_experiments: int = MAX_TRACKED_EXPERIMENTS,
    ) -> None:
        self.quotas = quotas
        self._read_run = read_run
        self._max_runs = max_runs
        self._max_experiments = max_experiments
        self._runs: collections.OrderedDict[str, RunUsage] = collections.OrderedDict()
        self._runs_created: collections.OrderedDict[str, int] = collections.OrderedDict()
        # run id → (experiment id, deleted) for the runs created here
        self._experiment_of: collections.OrderedDict[str, tuple[str, bool]] = collections.OrderedDict()

    # --- per-run limits ---------------------------------------------------------------------

    def check_request(
        self, *, params: Iterable[str] = (), tags: Iterable[str] = (), metric_steps: int = 0
    ) -> None:
        """Refuse a request that alone exceeds a limit: no need to know the run for that."""
        q = self.quotas
        for what, limit, count in (
            ("the number of params of a run", q.params_per_run, len(set(params))),
            ("the number of tags of a run", q.tags_per_run, len(set(tags))),
            ("the number of metric steps of a run", q.metric_steps_per_run, metric_steps),
        ):
            if count > limit:
                raise exceeded(what, limit, "no run", 0, count)

    @contextlib.asynccontextmanager
    async def logging(
        self, run_id: str, *, params: Iterable[str] = (), tags: Iterable[str] = (), metric_steps: int = 0
    ) -> AsyncIterator[None]:
        """Check and reserve a write to `run_id` for the time it is forwarded; released if it fails.

        Check and reservation happen with no await between them, so concurrent writes to one run
        cannot both pass on the same headroom.
        """
        params, tags = set(params), set(tags)
        self.check_request(params=params, tags=tags, metric_steps=metric_steps)
        usage = await self._usage(run_id)
        new_params, new_tags = params - usage.params, tags - usage.tags
        q = self.quotas
        holder = f"run {run_id}"
        if len(usage.params) + len(new_params) > q.params_per_run:
            raise exceeded(
                "the number of params of a run", q.params_per_run, holder, len(usage.params), len(new_params)
            )
        if len(usage.tags) + len(new_tags) > q.tags_per_run:
            raise exceeded(
                "the number of tags of a run", q.tags_per_run, holder, len(usage.tags), len(new_tags)
            )
        if usage.metric_steps + metric_steps > q.metric_steps_per_run:
            raise exceeded(
                "the number of metric steps of a run",
                q.metric_steps_per_run,
                holder,
                usage.metric_steps,
                metric_steps,
            )
        reservation = _Reservation(usage, new_params, new_tags, metric_steps)
        usage.params |= new_params
        usage.tags |= new_tags
        usage.metric_steps += metric_steps
        try:
            yield
        except BaseException:
            reservation.release()
            raise

    def tag_deleted(self, run_id: str, key: str) -> None:
        usage = self._runs.get(run_id)
        if usage is not None:
            usage.tags.discard(key)

    def run_seen(self, run_id: str, experiment_id: str, usage: RunUsage) -> None:
        """A run as CreateRun answered it: its counts are known without reading it."""
        self._remember(self._runs, run_id, usage, self._max_runs)
        self._remember(self._experiment_of, run_id, (experiment_id, False), self._max_runs)

    async def _usage(self, run_id: str) -> RunUsage:
        usage = self._runs.get(run_id)
        if usage is None:
            primed = await self._read_run(run_id)
            # Another write may have primed it while this one read: keep that one, it has reservations.
            usage = self._runs.get(run_id) or primed
        self._remember(self._runs, run_id, usage, self._max_runs)
        return usage

    # --- per-experiment limit -----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def creating_run(self, experiment_id: str) -> AsyncIterator[None]:
        """Check and reserve one run in `experiment_id` while CreateRun is forwarded."""
        created = self._runs_created.get(experiment_id, 0)
        limit = self.quotas.runs_per_experiment
        if created + 1 > limit:
            raise exceeded(
                "the number of runs of an experiment", limit, f"experiment {experiment_id}", created, 1
            )
        self._adjust_runs(experiment_id, +1)
        try:
            yield
        except BaseException:
            self._adjust_runs(experiment_id, -1)
            raise

    def run_deleted(self, run_id: str, deleted: bool) -> None:
        """A run created here was deleted (or restored): it stops (or starts again) counting."""
        known = self._experiment_of.get(run_id)
        if known is None or known[1] == deleted:
            return  # unknown here, or a repeat that changes nothing
        self._experiment_of[run_id] = (known[0], deleted)
        self._adjust_runs(known[0], -1 if deleted else +1)

    def _adjust_runs(self, experiment_id: str, delta: int) -> None:
        count = max(0, self._runs_created.get(experiment_id, 0) + delta)
        self._remember(self._runs_created, experiment_id, count, self._max_experiments)

    @staticmethod
    def _remember(table: collections.OrderedDict[str, Any], key: str, value: Any, limit: int) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > limit:
            table.popitem(last=False)
