"""The real Prometheus scraping a running fleet, evaluating every rule and panel query.

promtool proves the rules' logic on series written by hand; this proves them against what
the fleet really exposes: the all-in-one process (real discord.py clients on the local
Discord-compatible server, the google-genai client on the Gemini-compatible one, a real
redis-server) is scraped by Debian's prometheus binary, which loads the chart's rules file
as shipped. Every rule must evaluate without an error, every dashboard query must be
accepted, and a person's message must show up in the panels and the latency quantile.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.fixtures.redis import free_port
from tests.fixtures.sandbox import SandboxFleet
from tests.monitoring.promql import DASHBOARDS, RULES_FILE, dashboard_queries, rules

pytestmark = pytest.mark.service

#: The job label a fleet's PodMonitor gives it, as the rules and dashboards expect.
JOB = "agents-test/e2e"


class Prometheus:
    """Queries to a running Prometheus's HTTP API."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    async def get(self, path: str, **params: str) -> Any:
        async with self.http.get(self.base + path, params=params) as response:
            body = await response.json()
            assert response.status == 200 and body["status"] == "success", (params, body)
            return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        data = await self.get("/api/v1/query", query=expr)
        return list(data["result"])


@contextlib.asynccontextmanager
async def prometheus(folder: Path, target: str) -> AsyncIterator[Prometheus]:
    """Debian's prometheus on 127.0.0.1, scraping ``target`` and evaluating every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: run `bash scripts/bootstrap.sh --for-tests`")
    config = folder / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES_FILE)],
                "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
            }
        )
    )
    port = free_port()
    log = (folder / "prometheus.log").open("w")
    process = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with aiohttp.ClientSession() as http:
            api = Prometheus(http, f"http://127.0.0.1:{port}")

            async def ready() -> bool:
                assert process.returncode is None, (folder / "prometheus.log").read_text()[-3000:]
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(api.base + "/-/ready") as response:
                        return response.status == 200
                return False

            await until(ready, 30)
            yield api
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
        log.close()


async def until(condition: Callable[[], Awaitable[bool]], seconds: float) -> None:
    """Wait for ``condition``, failing after ``seconds``."""
    async with asyncio.timeout(seconds):
        while not await condition():
            await asyncio.sleep(0.25)


def number(sample: dict[str, Any]) -> float:
    return float(sample["value"][1])


async def test_prometheus_scrapes_a_fleet_and_evaluates_every_rule_and_panel(
    sandbox_fleet: SandboxFleet, tmp_path: Path
) -> None:
    await sandbox_fleet.start()
    target = f"127.0.0.1:{sandbox_fleet.settings.HEALTH_CHECK_PORT}"
    async with prometheus(tmp_path, target) as api:

        async def scraped() -> bool:
            return bool(await api.query(f'up{{job="{JOB}"}} == 1'))

        await until(scraped, 20)
        discord = sandbox_fleet.discord

        async def ask(text: str) -> None:
            question = await discord.post_as_human("development", text, mentions=["lynq"])
            await discord.wait_for_message(lambda m: m.reference_id == question.id, timeout=20)

        # LYNQ's latency series is born with the first reply; once Prometheus has scraped it,
        # the second reply is an increase that rate() and the quantile can see.
        await ask("LYNQ、監視の設定どう？")

        async def counted() -> bool:
            query = f'agentfleet_reply_latency_seconds_count{{job="{JOB}", agent=~"(?i)lynq"}}'
            return bool(await api.query(query))

        await until(counted, 20)
        await ask("LYNQ、アラートのしきい値は？")

        async def latency_recorded() -> bool:
            result = await api.query(f'job:agentfleet_reply_latency_seconds:p50_5m{{job="{JOB}"}}')
            return bool(result) and not math.isnan(number(result[0]))

        await until(latency_recorded, 30)
        (p50,) = await api.query(f'job:agentfleet_reply_latency_seconds:p50_5m{{job="{JOB}"}}')
        assert 0 < number(p50) <= 60

        # Every rule of the file was loaded and evaluates without an error.
        loaded: list[dict[str, Any]] = []

        async def evaluated() -> bool:
            groups = (await api.get("/api/v1/rules"))["groups"]
            loaded[:] = [rule for group in groups for rule in group["rules"]]
            return all(rule["health"] != "unknown" for rule in loaded)

        await until(evaluated, 10)
        assert len(loaded) == len(rules())
        assert [(r["name"], r["lastError"]) for r in loaded if r["health"] != "ok"] == []

        # Every panel's query is accepted, and the conversation shows in the panels.
        answers: dict[str, list[dict[str, Any]]] = {}
        for path in DASHBOARDS:
            for query in dashboard_queries(path):
                answers.setdefault(query.where, []).extend(await api.query(query.expr))
        for panel in (
            "Phase",
            "Gemini budget left",
            "Messages per minute",
            "Replies per minute",
            "Gemini requests per minute",
            "Tokens per hour",
        ):
            assert answers[f"fleet-overview.json: panel {panel!r}"], panel
        latency = answers["fleet-overview.json: panel 'Reply latency against the 2 s target'"]
        assert {s["metric"]["job"] for s in latency} == {JOB}
