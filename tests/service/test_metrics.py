"""The metrics an operator reads, produced by the real parts and read back from /metrics.

Real services only: redis-server, the embedded PostgreSQL, the real google-genai client
against the Gemini-compatible server with its fault injection, the real scheduler and
pipeline, and the real HTTP endpoint Prometheus scrapes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from agentfleet_runtime.app.roles import serve_fleet_gauges
from agentfleet_runtime.app.scheduler import Scheduler, SpeechSettings
from agentfleet_runtime.brain.events import DueEvent
from agentfleet_runtime.brain.phases import DaySchedule
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.llm.gemini import (
    GeminiClient,
    GeminiSettings,
    LLMRequestRejected,
    LLMUnavailable,
    Turn,
)
from agentfleet_runtime.llm.rate_limit import RedisRateLimiter
from agentfleet_runtime.memory.long_term import LongTermStore
from agentfleet_runtime.memory.state import FleetState
from agentfleet_runtime.observability.health import HealthServer
from agentfleet_runtime.observability.metrics import REGISTRY, GeminiErrorKind
from agentfleet_runtime.pipeline import PipelineConfig, PipelineDeps, run_day
from agentfleet_sandbox.gemini_server import GeminiServer
from tests.fixtures.fleet import CHANNELS, FleetHarness
from tests.fixtures.redis import free_port
from tests.service.test_pipeline import DAY, NEAR_DUPLICATES, STORED, report_posts, seed_day

pytestmark = pytest.mark.service

TOKYO = ZoneInfo("Asia/Tokyo")
MODEL = "gemini-3.8-flash"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def error_counts() -> dict[str, float]:
    return {
        kind.value: sample("agentfleet_gemini_errors_total", kind=kind.value)
        for kind in GeminiErrorKind
    }


def with_settings(settings: GeminiSettings, **changes: object) -> GeminiSettings:
    return GeminiSettings.model_validate({**settings.model_dump(), **changes})


async def scrape(health: HealthServer) -> dict[str, float]:
    """GET /metrics as Prometheus would; every sample by name (labels left out)."""
    timeout = aiohttp.ClientTimeout(total=10)
    url = f"http://127.0.0.1:{health.port}/metrics"
    async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return {
        s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples
    }


@pytest.fixture
async def health() -> AsyncIterator[HealthServer]:
    server = HealthServer(free_port(), "reception", host="127.0.0.1")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# -- Gemini ---------------------------------------------------------------------------------


async def test_each_gemini_failure_is_counted_by_its_kind(
    gemini_server: GeminiServer, gemini_settings: GeminiSettings
) -> None:
    before = error_counts()
    settings = with_settings(gemini_settings, timeout_seconds=0.3)
    async with await GeminiClient.create(settings) as client:
        for fault in ("429", "500", "malformed", "slow"):
            gemini_server.inject(fault, count=1, retry_delay_s=0.01, delay_s=3.0)
            assert (await client.generate("SPECTRA", [Turn("user", fault)])).text
        gemini_server.inject("blocked", count=1)  # a safety block is the model's answer
        assert (await client.generate("SPECTRA", [Turn("user", "blocked")])).text
        gemini_server.retire_model(MODEL)
        with pytest.raises(LLMRequestRejected):
            await client.generate("SPECTRA", [Turn("user", "retired")])
    # Nothing listening: every attempt fails to connect, which counts as Gemini's side.
    unreachable = with_settings(gemini_settings, base_url=f"http://127.0.0.1:{free_port()}")
    async with await GeminiClient.create(unreachable) as client:
        with pytest.raises(LLMUnavailable):
            await client.generate("SPECTRA", [Turn("user", "x")])

    after = error_counts()
    assert {kind: after[kind] - before[kind] for kind in after} == {
        "rate_limited": 1,
        "server_error": 1 + 3,
        "malformed": 1,
        "timeout": 1,
        "client_error": 1,
    }


async def test_limiter_wait_is_kept_apart_from_the_models_time(
    gemini_server: GeminiServer,
    gemini_settings: GeminiSettings,
    redis_client: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="agentfleet_runtime.llm.gemini")
    gemini_server.latency_s = 0.2
    # A tiny budget: two requests per 1.5 s, so the third waits about a second for a slot.
    limiter = RedisRateLimiter(redis_client, "af:test:gemini-calls", 2, window_ms=1500)
    wait_before = sample("agentfleet_gemini_limiter_wait_seconds_sum")
    model_before = sample("agentfleet_gemini_model_latency_seconds_sum", model=MODEL)
    count_before = sample("agentfleet_gemini_model_latency_seconds_count", model=MODEL)
    async with GeminiClient(gemini_settings, limiter) as client:
        for topic in ("一", "二", "三"):
            await client.generate("LYNQ", [Turn("user", topic)])

    waited = sample("agentfleet_gemini_limiter_wait_seconds_sum") - wait_before
    modelled = sample("agentfleet_gemini_model_latency_seconds_sum", model=MODEL) - model_before
    assert sample("agentfleet_gemini_model_latency_seconds_count", model=MODEL) - count_before == 3
    assert waited >= 0.8  # the third request's wait for the window
    assert 0.6 <= modelled < waited  # three answers of 0.2 s, none of the wait in them
    usage = [r.getMessage() for r in caplog.records if "API usage" in r.getMessage()]
    third = re.search(r"latency_ms=(\d+) limiter_wait_ms=(\d+)", usage[-1])
    assert third is not None, usage[-1]
    latency_ms, wait_ms = int(third.group(1)), int(third.group(2))
    assert wait_ms >= 800
    assert 200 <= latency_ms < wait_ms  # the model's own time, not the time queued
    assert sample("agentfleet_gemini_budget_remaining_ratio") == 0.0  # both slots taken


async def test_budget_gauge_fills_up_again_on_scrape_while_idle(
    redis_client: aioredis.Redis, health: HealthServer
) -> None:
    limiter = RedisRateLimiter(redis_client, "af:test:gemini-calls", 4, window_ms=1000)
    serve_fleet_gauges(health, FleetState(redis_client, FleetKeys("test")), limiter, pipeline=False)
    for _ in range(3):
        await limiter.acquire()
    assert (await scrape(health))["agentfleet_gemini_budget_remaining_ratio"] == 0.25
    await asyncio.sleep(1.1)  # the window moves on with no call made in this process
    assert (await scrape(health))["agentfleet_gemini_budget_remaining_ratio"] == 1.0


# -- autonomous speech ------------------------------------------------------------------


async def test_speech_ticks_that_plan_nothing_are_counted_by_reason(
    redis_client: aioredis.Redis,
) -> None:
    budget_free = True
    probability = SpeechSettings(interval_seconds=10, probability=1.0)
    moment = datetime(2026, 11, 25, 3, 0, tzinfo=TOKYO)  # STANDBY

    async def budget() -> bool:
        return budget_free

    async def no_pipeline(_due: DueEvent) -> None:
        return None

    def scheduler(speech: SpeechSettings) -> Scheduler:
        return Scheduler(
            redis_client,
            FleetKeys("test"),
            DaySchedule(TOKYO),
            speech,
            ("spectra", "lynq", "paz"),
            CHANNELS,
            no_pipeline,
            clock=lambda: moment,
            rng=random.Random(5),
            speech_budget=budget,
        )

    def skipped() -> dict[str, float]:
        reasons = ("budget", "quiet_phase", "not_chosen")
        return {r: sample("agentfleet_autonomous_speech_skipped_total", reason=r) for r in reasons}

    before = skipped()
    assert await scheduler(probability).tick_speech() is None  # STANDBY: quiet
    moment = datetime(2026, 11, 25, 10, 0, tzinfo=TOKYO)  # ACTIVE
    silent = SpeechSettings(interval_seconds=10, probability=0.0)
    assert await scheduler(silent).tick_speech() is None  # the dice said no
    budget_free = False
    assert await scheduler(probability).tick_speech() is None  # kept for people
    budget_free = True
    assert await scheduler(probability).tick_speech() is not None  # speaks: nothing skipped
    after = skipped()
    assert {r: after[r] - before[r] for r in after} == {
        "budget": 1,
        "quiet_phase": 1,
        "not_chosen": 1,
    }


# -- the 06:00 pipeline ---------------------------------------------------------------------


async def test_pipeline_outcome_is_served_by_metrics_after_a_run(
    fleet: FleetHarness,
    store: LongTermStore,
    gemini_client: GeminiClient,
    health: HealthServer,
) -> None:
    limiter = RedisRateLimiter(fleet.redis, fleet.keys.rate_limit, 100)
    serve_fleet_gauges(health, FleetState(fleet.redis, fleet.keys), limiter, pipeline=True)
    served = await scrape(health)
    # Nothing recorded yet: no gauge claims a run in 1970.
    assert "agentfleet_pipeline_last_success_timestamp_seconds" not in served
    assert "agentfleet_daily_report_last_posted_timestamp_seconds" not in served
    await seed_day(fleet)
    deps = PipelineDeps(fleet.redis, store, gemini_client, PipelineConfig("test", CHANNELS, TOKYO))
    started = time.time()

    result = await run_day(deps, DAY)
    await fleet.wait_for(lambda posts: len(report_posts(fleet)) == 1)

    served = await scrape(health)
    assert result.status == "completed"
    assert started <= served["agentfleet_pipeline_last_success_timestamp_seconds"] <= time.time()
    assert served["agentfleet_pipeline_last_duration_seconds"] == pytest.approx(result.duration_s)
    assert served["agentfleet_pipeline_last_memories_stored"] == STORED
    assert served["agentfleet_pipeline_last_duplicates_dropped"] == NEAR_DUPLICATES
    # Posted by SPECTRA's worker once queued, which may be before the run itself ends.
    assert started <= served["agentfleet_daily_report_last_posted_timestamp_seconds"] <= time.time()

    # A second run finds the date done: the last real run's figures stay.
    assert (await run_day(deps, DAY)).status == "already_done"
    again = await scrape(health)
    assert again["agentfleet_pipeline_last_memories_stored"] == STORED
    assert again["agentfleet_pipeline_last_duration_seconds"] == pytest.approx(result.duration_s)


# -- the endpoint ---------------------------------------------------------------------------


async def test_metrics_show_the_processs_memory_and_cpu_and_every_label_value(
    health: HealthServer,
) -> None:
    served = await scrape(health)
    assert served["process_resident_memory_bytes"] > 10 * 2**20
    assert served["process_cpu_seconds_total"] > 0
    assert "python_info" in served
    # Each error kind and skip reason is there from the start (at 0 in a fresh process), so
    # an alert on a kind that has not happened yet reads 0, not "no data".
    for kind in GeminiErrorKind:
        assert (
            REGISTRY.get_sample_value("agentfleet_gemini_errors_total", {"kind": kind.value})
            is not None
        )
    for reason in ("budget", "quiet_phase", "not_chosen"):
        labels = {"reason": reason}
        assert (
            REGISTRY.get_sample_value("agentfleet_autonomous_speech_skipped_total", labels)
            is not None
        )
    assert "agentfleet_gemini_latency_seconds_count" not in served  # replaced by the two below
    assert "agentfleet_gemini_limiter_wait_seconds_count" in served


async def test_a_stuck_refresh_does_not_hold_up_the_scrape(health: HealthServer) -> None:
    started: list[float] = []
    never = asyncio.Event()

    async def stuck() -> None:
        started.append(time.monotonic())
        await never.wait()  # as a Redis that accepted the connection and went silent

    health.add_refresh(stuck)
    for _ in range(2):
        served = await scrape(health)  # the client gives up after 10 s
        assert "process_resident_memory_bytes" in served
    assert len(started) == 1  # the second scrape waited on the same refresh, no pile-up
