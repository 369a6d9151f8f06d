import asyncio
import sys
from typing import Any

import pytest

from agentfleet_runtime.retry import RECONCILE, RetryPolicy, retry
from tests.fixtures.processes import fresh_python


class Down(Exception):
    pass


class Flaky:
    """An attempt that fails ``failures`` times with ``error``, then returns "ok"."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or Down("down")
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


class Sleeps:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_delays_grow_by_the_multiplier_up_to_the_cap() -> None:
    policy = RetryPolicy(initial=0.5, multiplier=3.0, cap=10.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.5, 4.5, 10.0, 10.0]


def test_a_failure_thousands_of_attempts_in_still_waits_the_cap() -> None:
    # An operator retries a broken fleet forever: the 2000th wait must not raise.
    assert RECONCILE.delay(2000) == RECONCILE.cap


def test_jitter_only_shortens_a_wait_and_keeps_under_the_cap() -> None:
    policy = RetryPolicy(initial=1.0, cap=4.0, jitter=0.5)
    first = [policy.delay(1) for _ in range(2000)]
    late = [policy.delay(10) for _ in range(2000)]
    assert all(0.5 <= d <= 1.0 for d in first)
    assert all(2.0 <= d <= 4.0 for d in late)
    # Spread over the range, not one fixed value: that is what de-synchronises pods.
    assert max(first) - min(first) > 0.4


def test_no_jitter_gives_the_same_wait_every_time() -> None:
    policy = RetryPolicy(initial=1.0)
    assert {policy.delay(3) for _ in range(100)} == {4.0}


@pytest.mark.parametrize(
    "changes",
    [
        {"initial": -1.0},
        {"multiplier": 0.5},
        {"jitter": 1.5},
        {"max_attempts": 0},
    ],
)
def test_nonsense_policies_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**{"initial": 1.0, **changes})


async def test_retries_until_success_waiting_the_backoff() -> None:
    attempt, sleeps = Flaky(3), Sleeps()
    policy = RetryPolicy(initial=1.0, cap=3.0)
    assert await retry(attempt, policy, retry_on=Down, sleep=sleeps) == "ok"
    assert attempt.calls == 4
    assert sleeps.waits == [1.0, 2.0, 3.0]


async def test_max_attempts_counts_the_first_and_raises_the_last_error() -> None:
    attempt, sleeps = Flaky(10), Sleeps()
    policy = RetryPolicy(initial=1.0, max_attempts=3)
    with pytest.raises(Down):
        await retry(attempt, policy, retry_on=Down, sleep=sleeps)
    assert attempt.calls == 3
    assert sleeps.waits == [1.0, 2.0]  # no pointless wait after the last attempt


async def test_exceptions_not_named_are_not_retried() -> None:
    attempt, sleeps = Flaky(1, ValueError("bad request")), Sleeps()
    with pytest.raises(ValueError):
        await retry(attempt, RetryPolicy(initial=1.0), retry_on=(Down, OSError), sleep=sleeps)
    assert attempt.calls == 1
    assert sleeps.waits == []


async def test_a_delay_hint_replaces_the_backoff_only_when_given() -> None:
    errors = iter([Down("retry in 7s"), Down("no hint")])

    async def attempt() -> str:
        error = next(errors, None)
        if error is not None:
            raise error
        return "ok"

    def hint(error: BaseException) -> float | None:
        return 7.0 if "7s" in str(error) else None

    sleeps = Sleeps()
    policy = RetryPolicy(initial=1.0, cap=2.0)
    assert await retry(attempt, policy, retry_on=Down, delay_hint=hint, sleep=sleeps) == "ok"
    # The hint wins even above the cap; without one, the backoff for attempt 2 applies.
    assert sleeps.waits == [7.0, 2.0]


async def test_before_wait_sees_each_retry_and_may_give_up() -> None:
    seen: list[tuple[int, str, float]] = []

    def before_wait(number: int, error: BaseException, wait: float) -> None:
        seen.append((number, str(error), wait))
        if wait > 1.5:
            raise RuntimeError("too long a wait")

    attempt, sleeps = Flaky(10), Sleeps()
    with pytest.raises(RuntimeError):
        await retry(
            attempt, RetryPolicy(initial=1.0), retry_on=Down, before_wait=before_wait, sleep=sleeps
        )
    assert seen == [(1, "down", 1.0), (2, "down", 2.0)]
    assert attempt.calls == 2
    assert sleeps.waits == [1.0]


async def test_waits_really_happen_by_default() -> None:
    loop_time = asyncio.get_running_loop().time
    started = loop_time()
    assert await retry(Flaky(2), RetryPolicy(initial=0.05), retry_on=Down) == "ok"
    assert loop_time() - started >= 0.05 + 0.1


def test_the_module_imports_nothing_outside_the_standard_library() -> None:
    # The operator imports it; it must not pull in the runtime's dependencies.
    code = (
        "import sys; before = set(sys.modules); import agentfleet_runtime.retry; "
        "print(*{m.split('.')[0] for m in set(sys.modules) - before})"
    )
    imported = set(fresh_python(code).split())
    outside = imported - set(sys.stdlib_module_names) - {"agentfleet_runtime"}
    assert not outside, outside
