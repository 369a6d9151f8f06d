"""The operator scraped by a real Prometheus: its dashboard and alerts return data.

The single-host monitoring test cannot show the operator's series (no operator runs beside
a fleet there), so it lists those queries as cluster-only. Here Debian's prometheus scrapes
the session's operator, a local process reconciling against the real kube-apiserver with
the chart's RBAC, while fleets are applied: one that becomes Ready and one whose spec is
invalid. Every query listed for the operator must then return data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from tests.cluster.fleets import fleet, secrets, wait_for_condition
from tests.cluster.kube import Operator
from tests.monitoring.prometheus import (
    CLUSTER_ONLY,
    NEEDS_THE_OPERATOR,
    every_query,
    prometheus,
    until,
)
from tests.monitoring.promql import CHART, dashboard_queries

NAMESPACE = "agents-test"
#: The job label of the operator's scrape config in docs/operations.md.
JOB = "agentfleet-operator"
OPERATOR_VIEW = CHART / "files" / "dashboards" / "operator.json"


async def test_prometheus_scrapes_the_operator_and_its_view_and_alerts_return_data(
    operator: Operator, tmp_path: Path
) -> None:
    cluster = operator.cluster
    cluster.apply(*secrets(NAMESPACE))
    queries = [q for q in every_query() if CLUSTER_ONLY.get(q.where) == NEEDS_THE_OPERATOR]
    # The whole operator view is among them, and both operator alerts.
    listed = {q.where for q in queries}
    assert {q.where for q in dashboard_queries(OPERATOR_VIEW)} <= listed
    assert {"alert AgentFleetNotReady (critical)"} <= listed
    async with prometheus(tmp_path, {JOB: f"127.0.0.1:{operator.metrics_port}"}) as api:
        # Reconciles while Prometheus watches: a fleet that becomes Ready, one refused.
        cluster.apply(fleet("observed", NAMESPACE))
        cluster.apply(fleet("observed-invalid", NAMESPACE, {"timeZone": "Asia/Tokio"}))
        try:
            await asyncio.to_thread(
                wait_for_condition, cluster, NAMESPACE, "observed", "Ready", "True"
            )
            await asyncio.to_thread(
                wait_for_condition,
                cluster,
                NAMESPACE,
                "observed-invalid",
                "Degraded",
                "True",
                reason="InvalidSpec",
            )

            # A quantile needs an increase Prometheus saw: once it has the duration series
            # (born with the first pass of this operator), a spec change is one more pass.
            async def timed() -> bool:
                query = "agentfleet_operator_reconcile_duration_seconds_count"
                return bool(await api.query(query))

            await until(timed, 20)
            change = {"spec": {"gemini": {"requestsPerMinute": 11}}}
            cluster.kubectl(
                "patch", "agentfleet", "observed", "-n", NAMESPACE, "--type=merge",
                "-p", json.dumps(change),
            )  # fmt: skip
            loaded = await api.until_every_rule_evaluated()
            assert [(r["name"], r["lastError"]) for r in loaded if r["health"] != "ok"] == []
            silent: list[str] = []

            async def settled() -> bool:
                silent[:] = await api.silent(queries)
                return not silent

            with contextlib.suppress(TimeoutError):  # the assertion says what is missing
                await until(settled, 60)
            assert silent == [], "no data from the operator"
        finally:
            cluster.kubectl("delete", "agentfleet", "observed", "observed-invalid", "-n", NAMESPACE)
