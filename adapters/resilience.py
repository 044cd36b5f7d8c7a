"""How every remote backend survives a flaky upstream: retries, a retry budget and a circuit breaker.

One `Resilience` object per backend (DESIGN.md decision 7). A call is retried only when it is
idempotent (or made so by its caller), only on transient failures (`TransientError`: 408, 429,
5xx gateway errors, resets, timeouts), with fully jittered exponential backoff (as gRPC's A6 and
Envoy), never sooner than the upstream's `Retry-After`, and never past the caller's deadline: all
attempts together fit in it. A per-backend token bucket (gRPC retry throttling) stops retries when
most calls fail, and a circuit breaker fails fast with UNAVAILABLE naming the backend until a probe
succeeds.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import email.utils
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from flowport.v1.errors import ApiError

T = TypeVar("T")
# MLflow's client retries these, and so do Envoy's `5xx`/`gateway-error` and the AWS SDK.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


# The caller's deadline (a `time.monotonic()` instant) for the call in progress: the gateway sets
# it from the gRPC deadline; remote backends bound all their attempts by it.
call_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("call_deadline", default=None)


class TransientError(Exception):
    """A failure worth another attempt: a retryable status, a reset connection, a timeout.

    `request_sent=False` says the upstream never saw the request (refused connection, connect
    timeout): retrying it is safe even for a call that is not idempotent.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.request_sent = request_sent


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Per-backend settings; the defaults follow gRPC A6's example and Envoy's budgets."""

    max_attempts: int = 4  # including the first
    initial_backoff: float = 0.1  # seconds; attempt n waits U(0, min(initial·2^(n-1), max_backoff))
    max_backoff: float = 10.0
    call_timeout: float = 60.0  # the budget of all attempts when the caller brings no deadline
    attempt_timeout: float = 30.0  # one attempt's limit (Envoy's per_try_timeout), within the deadline
    max_retry_after: float = 30.0  # a longer Retry-After is not waited for: the call fails instead
    budget_tokens: float = 10.0  # retry throttling: no retries while tokens ≤ half of this
    budget_token_ratio: float = 0.1  # tokens a success gives back (a failure takes one)
    breaker_failures: int = 5  # consecutive failures that open the circuit
    breaker_open_seconds: float = 30.0  # how long it stays open before one probe is let through

    @classmethod
    def from_options(cls, options: dict[str, float] | None) -> RetryPolicy:
        """From a backend's `retry:` settings; unknown keys and non-positive values are refused."""
        options = dict(options or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(
                f"unknown retry settings {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        for key, value in options.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"retry setting {key} must be a positive number")
        if "max_attempts" in options and not float(options["max_attempts"]).is_integer():
            raise ValueError("retry setting max_attempts must be a whole number")
        return cls(**options)


class RetryBudget:
    """gRPC's retry throttling: failures drain tokens, successes refill them a little."""

    def __init__(self, max_tokens: float, token_ratio: float) -> None:
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self._tokens = max_tokens
        self._lock = threading.Lock()

    def record(self, success: bool) -> None:
        with self._lock:
            delta = self.token_ratio if success else -1.0
            self._tokens = min(self.max_tokens, max(0.0, self._tokens + delta))

    def allows_retry(self) -> bool:
        with self._lock:
            return self._tokens > self.max_tokens / 2


class CircuitBreaker:
    """Closed → open after N consecutive failures → half-open (one probe) after a pause → closed."""

    def __init__(
        self, failures: int, open_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.open_seconds = open_seconds
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probing = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half-open" if self._clock() - self._opened_at >= self.open_seconds else "open"

    def admit(self) -> bool:
        """May a call go upstream now? In half-open state only one probe at a time."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._clock() - self._opened_at < self.open_seconds or self._probing:
                return False
            self._probing = True
            return True

    def record(self, success: bool) -> None:
        with self._lock:
            self._probing = False
            if success:
                self._consecutive, self._opened_at = 0, None
                return
            self._consecutive += 1
            if self._opened_at is not None or self._consecutive >= self.failures:
                self._opened_at = self._clock()  # a failed probe re-opens for a full pause


class Resilience:
    """Runs a backend's upstream calls under its `RetryPolicy`, budget and breaker."""

    def __init__(
        self,
        backend: str,
        policy: RetryPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.backend = backend
        self.policy = policy or RetryPolicy()
        self.budget = RetryBudget(self.policy.budget_tokens, self.policy.budget_token_ratio)
        self.breaker = CircuitBreaker(self.policy.breaker_failures, self.policy.breaker_open_seconds, clock)
        self._clock = clock
        self._sleep = sleep

    def _unavailable(self, why: str) -> ApiError:
        return ApiError(f"Backend '{self.backend}' is unavailable: {why}", "TEMPORARILY_UNAVAILABLE")

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_random_exponential(multiplier=self.policy.initial_backoff, max=self.policy.max_backoff)
        delay = backoff(state)
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TransientError) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return delay

    def _should_retry(self, error: BaseException, idempotent: bool) -> bool:
        if not isinstance(error, TransientError):
            return False
        if error.request_sent and not idempotent:
            return False
        if error.retry_after is not None and error.retry_after > self.policy.max_retry_after:
            return False
        return self.budget.allows_retry()

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> T:
        """Run `attempt` until it succeeds, fails for good, or the budget of time or tries is spent.

        `deadline` (a clock instant) or `timeout` (seconds from now) bounds all attempts; without
        either, the caller's deadline (`call_deadline`) or else the policy's call_timeout does.
        A non-idempotent call is retried only when the upstream never saw it: its caller must
        make it idempotent to get more.
        """
        if deadline is None:
            deadline = self.deadline(timeout)

        def stop(state: RetryCallState) -> bool:
            # Another attempt only if it can start before the deadline: all attempts share it.
            return (
                state.attempt_number >= self.policy.max_attempts
                or self._clock() + (state.upcoming_sleep or 0) >= deadline
            )

        retrying = AsyncRetrying(
            stop=stop,
            wait=self._wait,
            retry=retry_if_exception(lambda error: self._should_retry(error, idempotent)),
            sleep=self._sleep,
            reraise=True,
        )

        async def guarded() -> T:
            if not self.breaker.admit():
                raise self._unavailable("its circuit breaker is open after repeated failures")
            try:
                result = await attempt()
            except TransientError:
                self.breaker.record(False)
                self.budget.record(False)
                raise
            self.breaker.record(True)
            self.budget.record(True)
            return result

        try:
            return await retrying(guarded)
        except TransientError as err:
            if self._clock() >= deadline:
                raise ApiError(
                    f"Backend '{self.backend}' did not answer within the deadline: {err}", "DEADLINE_EXCEEDED"
                ) from None
            raise self._unavailable(str(err)) from None

    def deadline(self, timeout: float | None = None) -> float:
        """When the call must be over: `timeout` from now, else the caller's deadline, else call_timeout."""
        if timeout is not None:
            return self._clock() + timeout
        return call_deadline.get() or self._clock() + self.policy.call_timeout

    def attempt_timeout(self, deadline: float) -> float:
        """Seconds one attempt may take: the per-attempt limit, cut to what is left of the deadline."""
        return max(0.001, min(self.policy.attempt_timeout, deadline - self._clock()))
