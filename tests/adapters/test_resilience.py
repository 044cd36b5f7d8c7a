"""The remote backends' resilience policy, on a fake clock: which calls are retried, how long each
wait is, the shared deadline, the retry budget and the circuit breaker."""

from __future__ import annotations

import asyncio
import email.utils

import pytest

from flowport.adapters.resilience import (
    CircuitBreaker,
    Resilience,
    RetryBudget,
    RetryPolicy,
    TransientError,
    call_deadline,
    parse_retry_after,
)
from flowport.v1.errors import ApiError


class FakeTime:
    """A clock that moves only when the policy sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _resilience(fake: FakeTime, **policy) -> Resilience:
    return Resilience("upstream-a", RetryPolicy(**policy), clock=fake.clock, sleep=fake.sleep)


def _flaky(failures: list[BaseException], result: str = "ok"):
    calls = []

    async def attempt() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return result

    return attempt, calls


def _run(coro):
    return asyncio.run(coro)


def test_transient_failures_are_retried_with_jittered_backoff():
    fake = FakeTime()
    attempt, calls = _flaky([TransientError("503", status=503), TransientError("reset")])
    assert _run(_resilience(fake, initial_backoff=0.1, max_backoff=10).call(attempt, idempotent=True)) == "ok"
    assert len(calls) == 3
    # Full jitter: attempt n waits U(0, initial·2^n) capped — never more than the cap.
    assert len(fake.sleeps) == 2 and 0 <= fake.sleeps[0] <= 0.2 and 0 <= fake.sleeps[1] <= 0.4


def test_non_idempotent_calls_are_tried_once():
    fake = FakeTime()
    attempt, calls = _flaky([TransientError("503", status=503)])
    with pytest.raises(ApiError) as err:
        _run(_resilience(fake).call(attempt, idempotent=False))
    assert len(calls) == 1 and fake.sleeps == []
    assert err.value.error_code == "TEMPORARILY_UNAVAILABLE" and "upstream-a" in err.value.message


def test_errors_that_are_not_transient_pass_through_untouched():
    fake = FakeTime()
    not_found = ApiError("No Experiment with id=9 exists", "RESOURCE_DOES_NOT_EXIST")
    attempt, calls = _flaky([not_found])
    with pytest.raises(ApiError) as err:
        _run(_resilience(fake).call(attempt, idempotent=True))
    assert err.value is not_found and len(calls) == 1


def test_retry_after_is_honoured_and_a_too_long_one_is_not_waited_for():
    fake = FakeTime()
    attempt, calls = _flaky([TransientError("429", status=429, retry_after=3.0)])
    assert _run(_resilience(fake, max_retry_after=30).call(attempt, idempotent=True)) == "ok"
    assert fake.sleeps[0] >= 3.0

    fake = FakeTime()
    attempt, calls = _flaky([TransientError("429", status=429, retry_after=120.0)])
    with pytest.raises(ApiError):
        _run(_resilience(fake, max_retry_after=30).call(attempt, idempotent=True))
    assert len(calls) == 1 and fake.sleeps == []


def test_all_attempts_share_the_callers_deadline():
    fake = FakeTime()
    failures = [TransientError("503", status=503, retry_after=4.0) for _ in range(10)]
    attempt, calls = _flaky(failures)
    with pytest.raises(ApiError):
        _run(_resilience(fake, max_attempts=10).call(attempt, idempotent=True, timeout=10.0))
    # Waits of 4 s: attempts at t=0, 4 and 8; a fourth would start after the 10 s deadline.
    assert len(calls) == 3 and sum(fake.sleeps) <= 10.0


def test_retry_budget_drains_on_failures_and_refills_on_successes():
    budget = RetryBudget(max_tokens=10, token_ratio=0.5)
    assert budget.allows_retry()
    for _ in range(5):
        budget.record(False)
    assert not budget.allows_retry()  # 5 tokens left: at half, retries stop
    for _ in range(2):
        budget.record(True)
    assert budget.allows_retry()


def test_a_drained_budget_stops_retries_for_the_whole_backend():
    fake = FakeTime()
    resilience = _resilience(fake, budget_tokens=4, breaker_failures=100)
    for _ in range(2):
        resilience.budget.record(False)
    attempt, calls = _flaky([TransientError("503", status=503)])
    with pytest.raises(ApiError):
        _run(resilience.call(attempt, idempotent=True))
    assert len(calls) == 1


def test_circuit_breaker_opens_fails_fast_and_recovers_through_one_probe():
    fake = FakeTime()
    resilience = _resilience(fake, max_attempts=1, breaker_failures=3, breaker_open_seconds=30)
    for _ in range(3):
        attempt, _calls = _flaky([TransientError("503", status=503)])
        with pytest.raises(ApiError):
            _run(resilience.call(attempt, idempotent=True))
    assert resilience.breaker.state == "open"

    attempt, calls = _flaky([])
    with pytest.raises(ApiError) as err:
        _run(resilience.call(attempt, idempotent=True))
    assert calls == [] and "circuit breaker" in err.value.message and "upstream-a" in err.value.message

    fake.now += 30
    assert resilience.breaker.state == "half-open"
    assert _run(resilience.call(attempt, idempotent=True)) == "ok"
    assert resilience.breaker.state == "closed"


def test_half_open_breaker_lets_one_probe_through_and_reopens_if_it_fails():
    fake = FakeTime()
    breaker = CircuitBreaker(failures=1, open_seconds=10, clock=fake.clock)
    breaker.record(False)
    assert not breaker.admit()
    fake.now += 10
    assert breaker.admit() and not breaker.admit()  # one probe at a time
    breaker.record(False)
    assert breaker.state == "open" and not breaker.admit()


def test_parse_retry_after():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_060, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(60.0)
    assert parse_retry_after(email.utils.formatdate(1_000_000, usegmt=True), now=1_000_060) == 0.0


def test_a_request_the_upstream_never_saw_is_retried_even_when_not_idempotent():
    fake = FakeTime()
    attempt, calls = _flaky([TransientError("refused", request_sent=False)])
    assert _run(_resilience(fake).call(attempt, idempotent=False)) == "ok"
    assert len(calls) == 2


def test_running_out_of_deadline_is_deadline_exceeded():
    fake = FakeTime()
    calls = []

    async def slow() -> str:  # each attempt times out after 5 s
        calls.append(1)
        fake.now += 5.0
        raise TransientError("read timeout")

    with pytest.raises(ApiError) as err:
        _run(_resilience(fake, max_attempts=10).call(slow, idempotent=True, timeout=9.0))
    assert err.value.error_code == "DEADLINE_EXCEEDED" and "upstream-a" in err.value.message
    assert len(calls) == 2

    # Giving up early because the next wait would not fit is the backend's failure, not the deadline's.
    fake = FakeTime()
    attempt, calls = _flaky([TransientError("503", status=503, retry_after=4.0) for _ in range(10)])
    with pytest.raises(ApiError) as err:
        _run(_resilience(fake, max_attempts=10).call(attempt, idempotent=True, timeout=9.0))
    assert err.value.error_code == "TEMPORARILY_UNAVAILABLE" and len(calls) == 3


def test_the_callers_deadline_comes_from_the_call_context():
    fake = FakeTime()
    resilience = _resilience(fake, call_timeout=60)
    token = call_deadline.set(fake.now + 5.0)
    try:
        assert resilience.deadline() == fake.now + 5.0
        assert resilience.attempt_timeout(resilience.deadline()) == 5.0
    finally:
        call_deadline.reset(token)
    assert resilience.deadline() == fake.now + 60


def test_policy_from_options_refuses_unknown_or_bad_settings():
    assert RetryPolicy.from_options({"max_attempts": 2, "initial_backoff": 0.5}).max_attempts == 2
    for bad in ({"max_attempt": 2}, {"max_backoff": 0}, {"max_attempts": 2.5}, {"call_timeout": "10"}):
        with pytest.raises(ValueError):
            RetryPolicy.from_options(bad)
