"""Debian's real Prometheus on 127.0.0.1, loading the chart's rules file, and its HTTP API.

Both places where a real Prometheus scrapes AgentFleet use this: the monitoring tests (a
sandbox fleet, on a single host) and the cluster tests (the operator, against a real
kube-apiserver). Together they must show every dashboard query and every rule returning
data; what only one of them can serve is listed in :data:`CLUSTER_ONLY`, with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
import yaml

from tests.fixtures.redis import free_port
from tests.monitoring.promql import DASHBOARDS, RULES_FILE, Query, dashboard_queries, rule_queries

NEEDS_THE_OPERATOR: Final = (
    "the operator's series: the operator runs in a cluster, not beside a single-host fleet "
    "(tests/cluster/test_operator_prometheus.py has Prometheus scrape it)"
)

#: Queries that return no data against a single-host fleet, and why. Reviewed: the
#: single-host test fails if one of them returns data there (the entry is stale) or if a
#: query missing here returns none, and the cluster test proves each of them against the
#: operator.
CLUSTER_ONLY: Final[Mapping[str, str]] = {
    "operator.json: panel 'Fleets', query A": NEEDS_THE_OPERATOR,
    "operator.json: panel 'Fleets', query B": NEEDS_THE_OPERATOR,
    "operator.json: panel 'Fleets', query C": NEEDS_THE_OPERATOR,
    "operator.json: panel 'Fleets by condition', query A": NEEDS_THE_OPERATOR,
    "operator.json: panel 'Reconciles per minute', query A": NEEDS_THE_OPERATOR,
    "operator.json: panel 'Reconcile errors', query A": NEEDS_THE_OPERATOR,
    "operator.json: panel 'Reconcile duration', query A": NEEDS_THE_OPERATOR,
    "operator.json: panel 'Reconcile duration', query B": NEEDS_THE_OPERATOR,
    "operator.json: panel 'Queue depth', query A": NEEDS_THE_OPERATOR,
    "operator.json: panel 'Child writes per minute', query A": NEEDS_THE_OPERATOR,
    "operator.json: panel 'API requests per minute', query A": NEEDS_THE_OPERATOR,
    "operator.json: variable namespace": NEEDS_THE_OPERATOR,
    "operator.json: variable job": NEEDS_THE_OPERATOR,
    "record job:agentfleet_operator_reconcile_duration_seconds:p50_5m": NEEDS_THE_OPERATOR,
    "record job:agentfleet_operator_reconcile_duration_seconds:p95_5m": NEEDS_THE_OPERATOR,
    "alert AgentFleetNotReady (critical)": NEEDS_THE_OPERATOR,
    "alert AgentFleetOperatorReconcileErrors (warning)": NEEDS_THE_OPERATOR,
}


def every_query() -> list[Query]:
    """Every rule's expression and every dashboard query, the dashboards' variables too."""
    return rule_queries() + [query for path in DASHBOARDS for query in dashboard_queries(path)]


class Prometheus:
    """Queries to a running Prometheus's HTTP API."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    async def get(self, path: str, **params: str) -> Any:
        """The ``data`` of a successful answer (anything else fails the test)."""
        async with self.http.get(self.base + path, params=params) as response:
            body = await response.json()
            assert response.status == 200 and body["status"] == "success", (params, body)
            return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """The samples of an instant vector query, evaluated now."""
        data = await self.get("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", (expr, data["resultType"])
        return list(data["result"])

    async def returns_data(self, query: Query) -> bool:
        """Whether ``query`` (an alert: its inner series) has a sample that is a number.

        NaN does not count: a quantile or a ratio over a window without events is NaN, which
        Grafana draws as nothing.
        """
        return any(not math.isnan(number(s)) for s in await self.query(query.probe))

    async def silent(self, queries: Iterable[Query]) -> list[str]:
        """Where each of ``queries`` that returns no data comes from."""
        return [query.where for query in queries if not await self.returns_data(query)]

    async def until_every_rule_evaluated(self) -> list[dict[str, Any]]:
        """Wait for each loaded rule's first evaluation; the rules as the API reports them."""
        loaded: list[dict[str, Any]] = []

        async def evaluated() -> bool:
            groups = (await self.get("/api/v1/rules"))["groups"]
            loaded[:] = [rule for group in groups for rule in group["rules"]]
            return bool(loaded) and all(rule["health"] != "unknown" for rule in loaded)

        await until(evaluated, 10)
        return loaded


@contextlib.asynccontextmanager
async def prometheus(folder: Path, jobs: Mapping[str, str]) -> AsyncIterator[Prometheus]:
    """Debian's prometheus on 127.0.0.1, scraping each job's target, every second.

    ``jobs`` maps a job name (the ``job`` label the rules and dashboards group by) to one
    ``host:port``. The chart's rules file is loaded as shipped and evaluated every second.
    """
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: run `bash scripts/bootstrap.sh --for-tests`")
    config = folder / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES_FILE)],
                "scrape_configs": [
                    {"job_name": job, "static_configs": [{"targets": [target]}]}
                    for job, target in jobs.items()
                ],
            }
        )
    )
    port = free_port()
    log_path = folder / "prometheus.log"
    log = log_path.open("w")
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
                assert process.returncode is None, log_path.read_text()[-3000:]
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(api.base + "/-/ready") as response:
                        return response.status == 200
                return False

            await until(ready, 30)

            async def scraped() -> bool:
                return len(await api.query("up == 1")) == len(jobs)

            await until(scraped, 20)
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


def number(sample: Mapping[str, Any]) -> float:
    """A sample's value (the API sends it as a string)."""
    return float(sample["value"][1])
