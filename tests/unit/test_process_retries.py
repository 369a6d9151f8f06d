"""A fleet process's own retries (the 06:00 pipeline, bot registration), and their end on stop."""

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from agentfleet_runtime.app import roles
from agentfleet_runtime.app.roles import FleetProcess
from agentfleet_runtime.brain.events import DueEvent, daily_events
from agentfleet_runtime.brain.phases import DaySchedule
from agentfleet_runtime.config import load_settings
from agentfleet_runtime.contract import Env, Role
from agentfleet_runtime.pipeline import PipelineError
from tests.unit.test_config import VALID

TODAY = date(2026, 11, 25)
PIPELINE_DUE = DueEvent(daily_events(DaySchedule(ZoneInfo("Asia/Tokyo")))[0], TODAY)


class FailingRuns:
    """Stands in for ``catch_up_in_process``: fails ``failures`` times, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.days: list[date] = []
        self.scheduled: list[bool] = []

    async def __call__(
        self, _settings: Any, _redis: Any, _gemini: Any, day: date, *, scheduled: bool
    ) -> None:
        self.days.append(day)
        self.scheduled.append(scheduled)
        if len(self.days) <= self.failures:
            raise PipelineError(day, "extract", "Gemini unavailable")


@pytest.fixture
async def process(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FleetProcess]:
    for name in Env:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**VALID, "POSTGRESQL_URL": "postgresql://localhost/none"}.items():
        monkeypatch.setenv(name, value)
    # The real pauses are minutes long; keep the number of runs, shorten the waits.
    monkeypatch.setattr(roles, "PIPELINE_RUN", replace(roles.PIPELINE_RUN, initial=0.01))
    monkeypatch.setattr(roles, "BOT_REGISTRATION", replace(roles.BOT_REGISTRATION, initial=0.01))
    fleet = FleetProcess(load_settings(Role.ALL_IN_ONE, env_file=None), Role.ALL_IN_ONE, None)
    fleet.gemini = cast(Any, object())  # never called: catch_up_in_process is replaced
    yield fleet
    await fleet.redis.aclose()


async def run_pipeline(process: FleetProcess) -> None:
    await process._pipeline(PIPELINE_DUE)
    await asyncio.gather(*process._background)


async def test_a_failed_run_is_retried_for_the_same_day(
    process: FleetProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = FailingRuns(failures=2)
    monkeypatch.setattr(roles, "catch_up_in_process", runs)
    await run_pipeline(process)
    assert runs.days == [date(2026, 11, 24)] * 3
    assert runs.scheduled == [True] * 3


async def test_start_up_catches_up_through_the_latest_due_date(
    process: FleetProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = FailingRuns(failures=1)
    monkeypatch.setattr(roles, "catch_up_in_process", runs)
    # Back at 05:00 on the 26th: the 25th is not due before 06:00, the 24th is.
    process.clock = lambda: datetime(2026, 11, 26, 5, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    process._catch_up_missed_days()
    await asyncio.gather(*process._background)
    assert runs.days == [date(2026, 11, 24)] * 2  # retried like the 06:00 run
    assert runs.scheduled == [False, False]  # only dates with a log: no empty-day report


async def test_three_failed_runs_end_quietly(
    process: FleetProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = FailingRuns(failures=10)
    monkeypatch.setattr(roles, "catch_up_in_process", runs)
    await run_pipeline(process)  # the pipeline logs its own ERROR; nothing escapes the task
    assert len(runs.days) == 3


async def test_a_stopping_process_starts_no_new_run(
    process: FleetProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = FailingRuns(failures=10)
    monkeypatch.setattr(roles, "catch_up_in_process", runs)
    monkeypatch.setattr(roles, "PIPELINE_RUN", replace(roles.PIPELINE_RUN, initial=60.0))
    await process._pipeline(PIPELINE_DUE)
    await asyncio.sleep(0.05)  # the first run has failed; the 60 s pause has begun
    process.stop.set()
    async with asyncio.timeout(1.0):
        await asyncio.gather(*process._background)
    assert len(runs.days) == 1


class FlakyRedis:
    """Stands in for the process's Redis client: ``hset`` fails ``failures`` times."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.bots: dict[str, str] = {}

    async def hset(self, _key: str, name: str, value: str) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("Redis is restarting")
        self.bots[name] = value

    async def aclose(self) -> None:
        pass


def ready_supervisor() -> Any:
    async def wait_until_ready() -> None:
        pass

    user = SimpleNamespace(id=1234, name="PAZ")
    return SimpleNamespace(client=SimpleNamespace(user=user), wait_until_ready=wait_until_ready)


async def test_a_bot_is_registered_once_redis_takes_it(
    process: FleetProcess, caplog: pytest.LogCaptureFixture
) -> None:
    redis = FlakyRedis(failures=2)
    process.redis = cast(Any, redis)
    with caplog.at_level(logging.WARNING):
        await process._register_bot("paz", ready_supervisor())
    assert redis.bots == {"paz": "1234"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["WARN could not register paz: ConnectionError"] * 2


async def test_a_stopping_process_stops_registering(
    process: FleetProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = FlakyRedis(failures=100)
    process.redis = cast(Any, redis)
    monkeypatch.setattr(roles, "BOT_REGISTRATION", replace(roles.BOT_REGISTRATION, initial=60.0))
    registering = asyncio.create_task(process._register_bot("paz", ready_supervisor()))
    await asyncio.sleep(0.05)  # the first attempt has failed; the 60 s pause has begun
    process.stop.set()
    async with asyncio.timeout(1.0):
        await registering
    assert redis.calls == 1
