"""/ready names every dependency the fleet uses, and recovers by itself when one comes back.

The whole fleet runs as ``python main.py`` does, on the local Discord and Gemini servers,
redis-server and the embedded PostgreSQL, reached through a port the test can shut.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from agentfleet_runtime.config import load_settings
from agentfleet_runtime.contract import READY_PATH, Role
from tests.fixtures.postgres import SocketGate
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
