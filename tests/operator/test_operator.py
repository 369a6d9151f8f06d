"""The whole operator (kopf wiring, watches, work queue) against kmock via KopfRunner."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner

from agentfleet_operator import metrics
from tests.operator.conftest import FLEET_KEY, NAMESPACE, create_fleet, fleet_body, patch_spec
from tests.operator.emulator import describe, writes


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture
def operator_env(k8s: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
        "contexts: [{name: t, context: {cluster: t, user: t}}]\n"
        f'clusters: [{{name: t, cluster: {{server: "{k8s.url}"}}}}]\n'
        "users: [{name: t, user: {token: test}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("AGENTFLEET_METRICS_PORT", "0")
    monkeypatch.setenv("AGENTFLEET_DEBOUNCE_SECONDS", "0.05")
    monkeypatch.setenv("AGENTFLEET_RESYNC_SECONDS", "300")


@contextlib.asynccontextmanager
async def running_operator() -> AsyncIterator[KopfRunner]:
    # kmock serves on this loop; the operator runs in KopfRunner's thread. Entering and
    # leaving in a worker thread keeps this loop free to answer the operator meanwhile.
    runner = KopfRunner(
        ["run", "--standalone", "--all-namespaces", "-m", "agentfleet_operator.handlers"],
        timeout=30,
    )
    await asyncio.to_thread(runner.__enter__)
    try:
        yield runner
    finally:
        await asyncio.to_thread(runner.__exit__, None, None, None)
    assert runner.exception is None


def exists(k8s: Any, resource: str, name: str) -> bool:
    try:
        return not k8s.objects[resource, NAMESPACE, name].deleted
    except KeyError:
        return False


def status(k8s: Any) -> dict[str, Any]:
    obj = k8s.objects[FLEET_KEY, NAMESPACE, "demo"]
    return dict(obj.raw.get("status") or {})


@pytest.mark.usefixtures("operator_env")
async def test_operator_creates_children_and_then_goes_quiet(k8s: Any) -> None:
    async with running_operator():
        await create_fleet(k8s, fleet_body())
        await eventually(lambda: status(k8s).get("observedGeneration") == 1)
        await eventually(lambda: exists(k8s, "batch/v1/cronjobs", "demo-pipeline"))
        # The children's own events wake the fleet once more; afterwards: silence.
        await asyncio.sleep(1.0)
        mark = len(list(k8s))
        await asyncio.sleep(1.0)
        assert describe(writes(k8s, mark)) == []
    assert exists(k8s, "apps/v1/deployments", "demo-reception")
    assert status(k8s)["ready"] == "1/7"


@pytest.mark.usefixtures("operator_env")
async def test_resync_pass_makes_zero_writes(k8s: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTFLEET_RESYNC_SECONDS", "0.5")
    async with running_operator():
        await create_fleet(k8s, fleet_body())
        await eventually(lambda: status(k8s).get("observedGeneration") == 1)
        await asyncio.sleep(0.5)
        mark = len(list(k8s))
        passes = metrics.value(metrics.RECONCILES, result="unchanged")
        await eventually(
            lambda: metrics.value(metrics.RECONCILES, result="unchanged") >= passes + 2
        )
        assert describe(writes(k8s, mark)) == []


@pytest.mark.usefixtures("operator_env")
async def test_deleted_child_is_recreated_within_seconds_by_the_watch(k8s: Any) -> None:
    async with running_operator():
        await create_fleet(k8s, fleet_body())
        await eventually(lambda: exists(k8s, "apps/v1/deployments", "demo-lynq"))
        await asyncio.sleep(0.5)
        async with k8s.delete(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/demo-lynq"):
            pass
        assert not exists(k8s, "apps/v1/deployments", "demo-lynq")
        # The resync interval is 300 s here: only the watch can bring it back this fast.
        await eventually(lambda: exists(k8s, "apps/v1/deployments", "demo-lynq"), timeout=5)


@pytest.mark.usefixtures("operator_env")
async def test_paused_fleet_is_left_alone(k8s: Any) -> None:
    async with running_operator():
        await create_fleet(k8s, fleet_body(paused=True))
        await eventually(lambda: bool(status(k8s).get("conditions")))
        await asyncio.sleep(0.5)
    kinds = {r.resource.plural for r in writes(k8s) if r.resource}
    assert kinds <= {"agentfleets", "events"}
    reasons = {c["type"]: c["reason"] for c in status(k8s)["conditions"]}
    assert reasons == {"Progressing": "Paused"}


@pytest.mark.usefixtures("operator_env")
async def test_spec_change_through_the_operator_rolls_one_deployment(k8s: Any) -> None:
    async with running_operator():
        await create_fleet(k8s, fleet_body())
        await eventually(lambda: status(k8s).get("observedGeneration") == 1)
        await asyncio.sleep(0.5)
        mark = len(list(k8s))
        await patch_spec(k8s, "demo", {"personas": {"paz": {"model": "gemini-3.6-flash"}}})
        await eventually(lambda: status(k8s).get("observedGeneration") == 2)
        await asyncio.sleep(0.5)
    children = [
        r for r in describe(writes(k8s, mark)) if "agentfleets/" not in r and "events/" not in r
    ]
    assert children == ["PATCH deployments/demo-paz"]


@pytest.mark.usefixtures("operator_env")
async def test_operator_counts_reconciles_and_fleets_by_condition(k8s: Any) -> None:
    before = metrics.value(metrics.RECONCILES, result="applied")
    async with running_operator():
        await create_fleet(k8s, fleet_body())
        await eventually(lambda: metrics.value(metrics.RECONCILES, result="applied") > before)
        await asyncio.sleep(0.5)
        # One applying pass for one fleet; this operator knows one fleet, not yet ready.
        assert metrics.value(metrics.RECONCILES, result="applied") == before + 1
        assert metrics.value(metrics.FLEETS, condition="Ready", status="False") == 1
        assert metrics.value(metrics.FLEETS, condition="Degraded", status="False") == 1
        assert metrics.value(metrics.API_REQUESTS, verb="PATCH") > 0
