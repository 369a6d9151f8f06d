"""Every metric an alert or a dashboard panel reads is one the fleet serves.

A misspelt or renamed metric does not fail in Prometheus or Grafana: the alert just never
fires and the panel says "No data". So each name in the rules and dashboards must be served
by /metrics (the runtime's, read over HTTP from a running health server, and the
operator's) or be recorded by a rule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agentfleet_operator import metrics as operator_metrics
from agentfleet_runtime.observability.health import HealthServer
from agentfleet_runtime.observability.metrics import PipelineOutcome, PipelineOutcomeField
from tests.fixtures.redis import free_port
from tests.monitoring.promql import (
    DASHBOARDS,
    Query,
    dashboard_queries,
    inner_series,
    metric_names,
    recorded_names,
    rule_queries,
)

#: The series names a metric family of each type is exposed as.
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
    "info": ("_info",),
}


def series_names(families: Iterable[tuple[str, str]]) -> set[str]:
    """What Prometheus stores for families given as (name, type)."""
    return {name + suffix for name, kind in families for suffix in SUFFIXES.get(kind, ("",))}


def exposition_families(text: str) -> set[tuple[str, str]]:
    """The families a /metrics page declares, samples or not."""
    return {(family.name, family.type) for family in text_string_to_metric_families(text)}


async def runtime_exposition() -> str:
    """The runtime's /metrics page, over HTTP from a started health server."""
    server = HealthServer(free_port(), "all-in-one", host="127.0.0.1")
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{server.port}/metrics") as response,
        ):
            assert response.status == 200
            return await response.text()
    finally:
        await server.stop()


@pytest.fixture(scope="module")
def known() -> set[str]:
    """Names served by the runtime's and the operator's /metrics, or recorded by a rule."""
    runtime = asyncio.run(runtime_exposition())
    # The pipeline's gauges appear once a run was recorded (Reception reads them from
    # Redis): a recorded outcome of their own shows them.
    outcome = PipelineOutcome()
    outcome.update(dict.fromkeys(PipelineOutcomeField, 1.0))
    pipeline = CollectorRegistry()
    pipeline.register(outcome)
    operator = generate_latest(operator_metrics.REGISTRY).decode()
    families = (
        exposition_families(runtime)
        | exposition_families(generate_latest(pipeline).decode())
        | exposition_families(operator)
    )
    assert ("agentfleet_dependency_up", "gauge") in families
    assert ("agentfleet_operator_fleets", "gauge") in families
    return series_names(families) | recorded_names()


def unknown_names(queries: list[Query], known: set[str]) -> list[str]:
    """``where: name`` for each name a query reads that nobody serves."""
    return [
        f"{query.where}: {name}"
        for query in queries
        for name in sorted(metric_names(query.expr) - known)
    ]


def test_alert_and_recording_rules_read_only_served_metrics(known: set[str]) -> None:
    assert unknown_names(rule_queries(), known) == []


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_dashboard_query_parses_and_reads_served_metrics(path: Path, known: set[str]) -> None:
    queries = dashboard_queries(path)
    assert queries, f"{path.name} has no queries"
    assert unknown_names(queries, known) == []


def test_every_recorded_series_is_read_by_an_alert_or_a_dashboard() -> None:
    read = {
        name
        for query in rule_queries() + [q for p in DASHBOARDS for q in dashboard_queries(p)]
        for name in metric_names(query.expr)
    }
    assert sorted(recorded_names() - read) == []


def test_a_misspelt_metric_is_caught() -> None:
    # The check itself: a name with a typo, hidden in a binary expression, is reported.
    query = Query("example", "sum(rate(agentfleet_replies_totl[5m])) / 2 > on () time()")
    assert unknown_names([query], {"agentfleet_replies_total"}) == [
        "example: agentfleet_replies_totl"
    ]


def test_an_alert_is_probed_through_the_series_it_compares() -> None:
    # A quiet alert returns nothing; what it compares must exist for it ever to fire.
    assert Query("a", 'up{job="x"} == 0', alert=True).probe == 'up{job="x"}'
    assert inner_series("time() - last_success > 26 * 3600") == "time() - last_success{}"
    assert inner_series("a > 0.1 and on (job) b") == "a{} and on (job) b{}"
    # Kept as written: a comparison of two series, one with bool, and a recording rule.
    assert inner_series("a > b") == "a{} > b{}"
    assert inner_series("a > bool 1") == "a{} > bool 1"
    assert Query("r", "a > 1").probe == "a > 1"
