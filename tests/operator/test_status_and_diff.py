"""Pure status and drift logic."""

from __future__ import annotations

import asyncio
from typing import Any

from agentfleet_operator.diff import contains, drift
from agentfleet_operator.main import parse_args
from agentfleet_operator.options import Options
from agentfleet_operator.quantity import parse_quantity
from agentfleet_operator.status import (
    ComponentState,
    Outcome,
    build_status,
    deployment_state,
    merge_conditions,
    status_patch,
    unwritten_state,
)
from agentfleet_operator.workqueue import Lane, WorkQueue


def test_quantities_compare_by_value() -> None:
    assert parse_quantity("500m") == parse_quantity("0.5")
    assert parse_quantity("1Gi") == 1024**3
    assert contains({"limits": {"cpu": "500m"}}, {"limits": {"cpu": "0.5"}})
    assert not contains({"limits": {"cpu": "1"}}, {"limits": {"cpu": "0.5"}})


def test_defaults_added_by_the_server_are_not_drift_but_edits_are() -> None:
    desired = {"spec": {"ports": [{"port": 1}], "selector": {}, "suspend": False}}
    live = {"spec": {"ports": [{"port": 1, "protocol": "TCP"}], "type": "ClusterIP"}}
    assert drift(live, desired) is None
    assert drift({"spec": {"ports": [{"port": 2}]}}, desired) == "spec differs"
    assert drift({"spec": {"ports": [{"port": 1}, {"port": 9}]}}, desired) == "spec differs"
    assert drift(None, desired) == "missing"


def test_stuck_rollout_is_a_failure_with_a_hint() -> None:
    obj: dict[str, Any] = {
        "metadata": {"generation": 2},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 2,
            "conditions": [
                {"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "x"}
            ],
        },
    }
    state = deployment_state("lynq", obj, "see: kubectl logs deploy/demo-lynq")
    assert not state.ready and state.failure is not None
    assert "kubectl logs deploy/demo-lynq" in state.failure


def test_old_generation_is_not_ready_even_with_available_pods() -> None:
    obj = {
        "metadata": {"generation": 3},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 2, "updatedReplicas": 1, "availableReplicas": 1},
    }
    state = deployment_state("paz", obj, "")
    assert (state.ready, state.rolling) == (False, True)


def test_conditions_keep_transition_time_until_status_changes() -> None:
    first, transitions = merge_conditions([], [("Ready", "False", "A", "m")], 1, "t1")
    assert first[0]["lastTransitionTime"] == "t1" and len(transitions) == 1
    same, transitions = merge_conditions(first, [("Ready", "False", "A", "m2")], 2, "t2")
    assert same[0]["lastTransitionTime"] == "t1" and transitions == []
    assert same[0]["observedGeneration"] == 2
    flipped, transitions = merge_conditions(same, [("Ready", "True", "B", "m")], 2, "t3")
    assert flipped[0]["lastTransitionTime"] == "t3"
    assert [(t.type, t.status, t.event_type) for t in transitions] == [("Ready", "True", "Normal")]


def test_unchanged_outcome_gives_an_identical_status_and_no_patch() -> None:
    outcome = Outcome(generation=4, components=[ComponentState("paz", "Deployment", True, "1/1")])
    first, _ = build_status({}, outcome, where="-n ns", timestamp="t1")
    second, transitions = build_status(first, outcome, where="-n ns", timestamp="t2")
    assert status_patch(first, second) is None and transitions == []
    assert status_patch({"a": 1, "b": 2}, {"a": 1}) == {"b": None}


def test_degraded_names_the_problem_and_is_a_warning() -> None:
    outcome = Outcome(generation=1, invalid=["spec.timeZone: unknown IANA time zone 'X'"])
    built, transitions = build_status({}, outcome, where="-n ns")
    degraded = next(c for c in built["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "InvalidSpec"
    assert "spec.timeZone" in degraded["message"]
    assert any(t.type == "Degraded" and t.event_type == "Warning" for t in transitions)


def test_a_fleet_whose_children_cannot_be_written_is_never_ready() -> None:
    error = "Deployment demo-lynq: spec.template.spec.containers[0].resources.requests[gpus]"
    outcome = Outcome(
        generation=3,
        components=[
            ComponentState("reception", "Deployment", True, "1/1 available"),
            unwritten_state("lynq", "Deployment", error),
        ],
        errors=[error],
    )
    built, transitions = build_status({}, outcome, where="-n ns")
    conditions = {c["type"]: c for c in built["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "ApplyFailed"
    assert "requests[gpus]" in conditions["Ready"]["message"]
    assert conditions["Degraded"]["status"] == "True"
    assert built["ready"] == "1/2"
    assert any(t.type == "Ready" and t.event_type == "Warning" for t in transitions)


async def test_work_queue_coalesces_a_burst_into_one_pass() -> None:
    calls: list[str] = []

    async def work(key: str) -> str:
        calls.append(key)
        await asyncio.sleep(0.05)
        return "unchanged"

    queue: WorkQueue[str] = WorkQueue(work, concurrency=2, debounce=0.01)
    for _ in range(20):
        queue.add("a")
    queue.add("b")
    await asyncio.sleep(0.2)
    await queue.close()
    assert sorted(calls) == ["a", "b"]


async def test_work_queue_retries_errors_with_backoff() -> None:
    results = iter(["error", "error", "unchanged"])
    calls: list[float] = []

    async def work(key: str) -> str:
        calls.append(asyncio.get_running_loop().time())
        return next(results)

    queue: WorkQueue[str] = WorkQueue(work, debounce=0.0, backoff=(0.05, 1.0))
    queue.add("a")
    await asyncio.sleep(0.4)
    await queue.close()
    assert len(calls) == 3
    assert calls[2] - calls[1] > calls[1] - calls[0]  # exponential


async def test_work_queue_serves_events_before_the_resync() -> None:
    order: list[str] = []
    gate = asyncio.Event()

    async def work(key: str) -> str:
        order.append(key)
        await gate.wait()
        return "unchanged"

    queue: WorkQueue[str] = WorkQueue(work, concurrency=1, debounce=0.01)
    queue.add("busy")
    await asyncio.sleep(0.05)  # the only worker is now busy
    for key in ("r1", "r2", "r3"):
        queue.add(key, lane=Lane.RESYNC)
    queue.add("event")
    queue.add("r3")  # an event for a fleet already waiting for the resync moves it up
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.sleep(0.05)
    await queue.close()
    assert order[0] == "busy" and set(order[1:3]) == {"event", "r3"} and order[3:] == ["r1", "r2"]


def test_namespaces_come_from_flags_or_the_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("AGENTFLEET_NAMESPACES", "agents-test, agents-prod")
    assert parse_args([]).namespaces == ["agents-test", "agents-prod"]
    assert parse_args(["-n", "only"]).namespaces == ["only"]
    monkeypatch.setenv("AGENTFLEET_NAMESPACES", "")
    assert parse_args([]).namespaces == []  # all namespaces
    monkeypatch.setenv("AGENTFLEET_RESYNC_SECONDS", "42")
    assert Options.from_env().resync_seconds == 42
