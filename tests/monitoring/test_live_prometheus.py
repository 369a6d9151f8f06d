"""The real Prometheus scraping a running fleet: every rule and panel query returns data.

promtool proves the rules' logic on series written by hand; this proves them against what
the fleet really exposes: the all-in-one process (real discord.py clients on the local
Discord-compatible server, the google-genai client on the Gemini-compatible one, a real
redis-server and the embedded PostgreSQL) is scraped by Debian's prometheus binary, which
loads the chart's rules file as shipped. After the traffic an operator's dashboards are
for (people's messages, a direct message, a Gemini failure, the 06:00 pipeline and its
Daily Report, autonomous speech), every dashboard query and every rule must return data,
unless :data:`~tests.monitoring.prometheus.CLUSTER_ONLY` says why it cannot here.

An alert's expression is empty while nothing is wrong, so an alert is checked through its
inner series (:func:`~tests.monitoring.promql.inner_series`): what it compares must exist.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from agentfleet_runtime.brain.personas import PERSONAS
from agentfleet_sandbox.fleet_panel import PREFIX
from tests.fixtures.sandbox import SandboxFleet
from tests.monitoring.prometheus import (
    CLUSTER_ONLY,
    Prometheus,
    every_query,
    number,
    prometheus,
    until,
)
from tests.monitoring.promql import Query, rules

pytestmark = pytest.mark.service

#: The job label a fleet's PodMonitor gives it, as the rules and dashboards expect.
JOB = "agents-test/e2e"
#: 04:00 in Tokyo: STANDBY, so autonomous speech waits until the test moves the clock.
NIGHT = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
#: 10:00 in Tokyo the same day: ACTIVE, the fleet speaks on its own.
MORNING = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


async def ask(fleet: SandboxFleet, persona: str, text: str) -> str:
    """A person asks ``persona`` in #development; the reply's text."""
    discord = fleet.discord
    question = await discord.post_as_human("development", text, mentions=[persona])
    reply = await discord.wait_for_message(lambda m: m.reference_id == question.id, timeout=30)
    return reply.content


async def run_the_pipeline(fleet: SandboxFleet) -> None:
    """Run the 06:00 pipeline from the sandbox page's control; wait for SPECTRA's report."""
    discord = fleet.discord
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{discord.base_url}{PREFIX}/pipeline") as response:
            assert response.status == 202, await response.text()

        async def finished() -> bool:
            async with http.get(f"{discord.base_url}{PREFIX}/fleet") as response:
                run: dict[str, Any] = (await response.json())["pipeline"]
            assert run["state"] != "failed", run
            return bool(run["state"] == "completed")

        await until(finished, 90)
    report = await discord.wait_for_message(lambda m: m.content.startswith("📋 **日報"), timeout=30)
    assert report.author.key == "spectra"


async def test_prometheus_scrapes_a_fleet_and_every_rule_and_panel_returns_data(
    sandbox_fleet: SandboxFleet, postgres_url: str, tmp_path: Path
) -> None:
    sandbox_fleet.settings = sandbox_fleet.settings.model_copy(
        update={
            "POSTGRESQL_URL": SecretStr(postgres_url),
            "AUTONOMOUS_SPEECH_INTERVAL_SECONDS": 1,
            # Replies, recall, the pipeline and speech all in a minute: no wait for the budget.
            "GEMINI_REQUESTS_PER_MINUTE": 600,
        }
    )
    sandbox_fleet.clock.moment = NIGHT
    await sandbox_fleet.start()
    target = f"127.0.0.1:{sandbox_fleet.settings.HEALTH_CHECK_PORT}"
    async with prometheus(tmp_path, {JOB: target}) as api:
        # LYNQ's latency series is born with the first reply; once Prometheus has scraped it,
        # the second reply is an increase that rate() and the quantile can see.
        await ask(sandbox_fleet, "lynq", "LYNQ、監視の設定どう？")

        async def counted() -> bool:
            query = f'agentfleet_reply_latency_seconds_count{{job="{JOB}", agent=~"(?i)lynq"}}'
            return bool(await api.query(query))

        await until(counted, 20)
        await ask(sandbox_fleet, "lynq", "LYNQ、アラートのしきい値は？")
        # A direct message to the bot that reads: the fleet leaves it out of its channels.
        await sandbox_fleet.discord.post_direct("監視ってどこで見るの？", bot="reception")
        # Gemini answers 429 to every attempt of PAZ's call: PAZ apologises.
        sandbox_fleet.gemini.inject("429", count=4, retry_delay_s=0.05, endpoint="generate")
        assert await ask(sandbox_fleet, "paz", "PAZ、ダッシュボードの色は？") == (
            PERSONAS["paz"].apology
        )
        await run_the_pipeline(sandbox_fleet)
        # Morning: the fleet speaks on its own.
        sandbox_fleet.clock.moment = MORNING

        async def spoke() -> bool:
            return bool(await api.query('agentfleet_autonomous_speech_total{outcome="posted"}'))

        await until(spoke, 30)

        await check_latency_and_rules(api)
        await check_every_query_returns_data_or_is_cluster_only(api)


async def check_latency_and_rules(api: Prometheus) -> None:
    """The reply latency is recorded, and every rule of the file loads and evaluates."""

    async def latency_recorded() -> bool:
        query = f'job:agentfleet_reply_latency_seconds:p50_5m{{job="{JOB}"}}'
        return await api.returns_data(Query("p50", query))

    await until(latency_recorded, 30)
    (p50,) = await api.query(f'job:agentfleet_reply_latency_seconds:p50_5m{{job="{JOB}"}}')
    assert 0 < number(p50) <= 60
    loaded = await api.until_every_rule_evaluated()
    assert len(loaded) == len(rules())
    assert [(r["name"], r["lastError"]) for r in loaded if r["health"] != "ok"] == []


async def check_every_query_returns_data_or_is_cluster_only(api: Prometheus) -> None:
    """Each query returns data, or is listed as cluster-only (and then really has none)."""
    queries = every_query()
    assert set(CLUSTER_ONLY) <= {q.where for q in queries}, "a listed query no longer exists"
    silent: list[str] = []

    async def settled() -> bool:
        # rate() needs two scrapes after a series appears, a rule one evaluation after that.
        silent[:] = await api.silent(queries)
        return set(silent) == set(CLUSTER_ONLY)

    with contextlib.suppress(TimeoutError):  # the assertions below say what is missing
        await until(settled, 60)
    print("queries that need a cluster-only series:")
    for where, reason in CLUSTER_ONLY.items():
        print(f"  {where}: {reason}")
    assert sorted(set(silent) - set(CLUSTER_ONLY)) == [], "no data after the traffic"
    assert sorted(set(CLUSTER_ONLY) - set(silent)) == [], "listed as cluster-only, has data"
