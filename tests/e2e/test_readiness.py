"""/ready names every dependency the fleet uses, and recovers by itself when one comes back.

The whole fleet runs as ``python main.py`` does, on the local Discord and Gemini servers,
redis-server and the embedded PostgreSQL, reached through a port the test can shut. Its
/metrics follows the same dependencies with nobody calling /ready, as on a single host.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentfleet_runtime.config import load_settings
from agentfleet_runtime.contract import METRICS_PATH, READY_PATH, Role
from agentfleet_runtime.observability import health
from tests.fixtures.postgres import SocketGate
from tests.fixtures.redis import RedisServer
from tests.fixtures.sandbox import SandboxFleet

#: 04:00 in Tokyo: STANDBY, so no 06:00 pipeline run or speech competes with the checks.
NIGHT = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)


async def ready(fleet: SandboxFleet) -> tuple[int, dict[str, Any]]:
    """The /ready answer: its status code and body."""
    url = f"http://127.0.0.1:{fleet.settings.HEALTH_CHECK_PORT}{READY_PATH}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


async def until_ready(fleet: SandboxFleet, seconds: float = 10.0) -> dict[str, Any]:
    """Poll /ready, as a kubelet does, until it answers 200; its last body."""
    async with asyncio.timeout(seconds):
        while True:
            status, body = await ready(fleet)
            if status == 200:
                return body
            await asyncio.sleep(0.2)


async def test_ready_names_postgres_while_it_is_away_and_recovers_by_itself(
    sandbox_fleet: SandboxFleet,
    postgres_gate: tuple[SocketGate, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate, dsn = postgres_gate
    monkeypatch.setenv("POSTGRESQL_URL", dsn)
    sandbox_fleet.settings = load_settings(Role.ALL_IN_ONE, env_file=None)
    sandbox_fleet.clock.moment = NIGHT
    await sandbox_fleet.start()

    body = await until_ready(sandbox_fleet)
    assert set(body["checks"]) == {"redis", "discord", "gemini", "postgres"}
    assert body["checks"]["postgres"]["ok"] is True

    await gate.shut()
    status, body = await ready(sandbox_fleet)
    assert status == 503 and body["status"] == "not ready"
    assert body["checks"]["postgres"]["ok"] is False and body["checks"]["postgres"]["detail"]
    assert all(body["checks"][name]["ok"] for name in ("redis", "discord", "gemini"))

    await gate.open()
    body = await until_ready(sandbox_fleet)
    assert body["checks"]["postgres"] == {"ok": True, "detail": "select 1 ok"}


async def test_ready_names_gemini_after_a_call_gives_up_until_one_succeeds(
    sandbox_fleet: SandboxFleet,
) -> None:
    sandbox_fleet.clock.moment = NIGHT
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    # Without POSTGRESQL_URL there is no long-term memory, so no PostgreSQL check either.
    assert set((await until_ready(sandbox_fleet))["checks"]) == {"redis", "discord", "gemini"}

    sandbox_fleet.gemini.inject("500", count=None)
    question = await discord.post_as_human("lounge", "PAZ、聞こえる？", mentions=["paz"])
    await discord.wait_for_message(lambda m: m.reference_id == question.id, timeout=30)
    status, body = await ready(sandbox_fleet)
    assert status == 503 and body["checks"]["gemini"]["ok"] is False
    assert "500" in body["checks"]["gemini"]["detail"]
    assert "sandbox-key" not in body["checks"]["gemini"]["detail"]

    sandbox_fleet.gemini.reset()
    again = await discord.post_as_human("lounge", "PAZ、今度はどう？", mentions=["paz"])
    await discord.wait_for_message(lambda m: m.reference_id == again.id, timeout=30)
    assert (await until_ready(sandbox_fleet))["checks"]["gemini"]["ok"] is True


async def scrape(fleet: SandboxFleet, name: str, label: str) -> dict[str, float]:
    """One family of the fleet's /metrics, as Prometheus reads it: ``label`` value → value."""
    url = f"http://127.0.0.1:{fleet.settings.HEALTH_CHECK_PORT}{METRICS_PATH}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        text = await response.text()
    return {
        sample.labels[label]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


async def until_up(fleet: SandboxFleet, **expected: float) -> None:
    """Scrape until ``agentfleet_dependency_up`` shows ``expected`` (dependency=value)."""
    async with asyncio.timeout(15):
        while True:
            up = await scrape(fleet, "agentfleet_dependency_up", "dependency")
            if all(up.get(name) == value for name, value in expected.items()):
                return
            await asyncio.sleep(0.05)


async def test_metrics_follow_each_dependency_down_and_back_with_nobody_calling_ready(
    sandbox_fleet: SandboxFleet,
    postgres_gate: tuple[SocketGate, str],
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Checks every 0.1 s instead of 15 s, so that a one-second outage is seen.
    monkeypatch.setattr(health, "DEPENDENCY_CHECK_INTERVAL", 0.1)
    gate, dsn = postgres_gate
    monkeypatch.setenv("POSTGRESQL_URL", dsn)
    sandbox_fleet.settings = load_settings(Role.ALL_IN_ONE, env_file=None)
    sandbox_fleet.clock.moment = NIGHT
    await sandbox_fleet.start()
    everything = {"redis": 1.0, "discord": 1.0, "gemini": 1.0, "postgres": 1.0}
    await until_up(sandbox_fleet, **everything)
    before = await scrape(sandbox_fleet, "agentfleet_errors_total", "component")

    await gate.shut()
    await until_up(sandbox_fleet, **{**everything, "postgres": 0.0})
    await gate.open()
    await until_up(sandbox_fleet, **everything)

    # LYNQ's gateway closed with a code discord.py does not resume: its client is down
    # until the supervisor has started it again, a second later.
    assert sandbox_fleet.discord.close_gateway("lynq", code=4004) == 1
    await until_up(sandbox_fleet, discord=0.0)
    await until_up(sandbox_fleet, **everything)

    redis_server.stop()
    await until_up(sandbox_fleet, redis=0.0)
    redis_server.start()
    await until_up(sandbox_fleet, **everything)

    after = await scrape(sandbox_fleet, "agentfleet_errors_total", "component")
    # Each outage counted once, however many checks saw it (Redis's consumers count their own).
    assert after.get("postgres", 0) - before.get("postgres", 0) == 1
    assert after.get("discord", 0) - before.get("discord", 0) == 1
    assert after.get("redis", 0) - before.get("redis", 0) >= 1
