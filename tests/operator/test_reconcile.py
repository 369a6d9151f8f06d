"""Reconcile passes against kmock: what is written, and when nothing is."""

from __future__ import annotations

import json
from typing import Any

from agentfleet_operator.reconcile import Reconciler
from tests.operator.conftest import (
    FLEET_KEY,
    NAMESPACE,
    create_fleet,
    fleet_body,
    patch_spec,
)
from tests.operator.emulator import describe, writes

#: The writes of a fleet's first pass, in order: the store Secret, then what Pods read
#: (concurrently, so in any order), then the workloads (likewise), then the status.
EXPECTED_CREATE = [
    ["POST secrets/demo-stores"],
    [
        "PATCH serviceaccounts/demo",
        "PATCH configmaps/demo-config",
        "PATCH networkpolicies/demo",
        "PATCH services/demo-redis",
        "PATCH services/demo-postgresql",
    ],
    [
        "PATCH statefulsets/demo-redis",
        "PATCH statefulsets/demo-postgresql",
        "PATCH deployments/demo-reception",
        "PATCH deployments/demo-spectra",
        "PATCH deployments/demo-lynq",
        "PATCH deployments/demo-paz",
        "PATCH cronjobs/demo-pipeline",
    ],
    ["PATCH agentfleets/demo/status"],
]


def child_writes(requests: list[str]) -> list[str]:
    return [r for r in requests if "events/" not in r and "agentfleets/" not in r]


def fleet(k8s: Any, name: str = "demo") -> dict[str, Any]:
    return dict(k8s.objects[FLEET_KEY, NAMESPACE, name].raw)


def conditions(k8s: Any, name: str = "demo") -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in fleet(k8s, name)["status"]["conditions"]}


async def settle(reconciler: Reconciler, name: str = "demo") -> None:
    await reconciler.reconcile(NAMESPACE, name)
    await reconciler.reconcile(NAMESPACE, name)


async def test_create_writes_exactly_the_children_by_server_side_apply(
    k8s: Any, reconciler: Reconciler
) -> None:
    await create_fleet(k8s, fleet_body())
    mark = len(list(k8s))
    assert await reconciler.reconcile(NAMESPACE, "demo") == "applied"
    done = writes(k8s, mark)
    seen = [r for r in describe(done) if "events/" not in r]
    waves, start = [], 0
    for expected in EXPECTED_CREATE:
        waves.append(sorted(seen[start : start + len(expected)]))
        start += len(expected)
    assert waves == [sorted(expected) for expected in EXPECTED_CREATE]
    assert start == len(seen)
    for request in done:
        if request.method.value == "PATCH" and request.subresource is None:
            assert request.params == {"fieldManager": "agentfleet-operator", "force": "true"}
            content_type = {k.lower(): v for k, v in request.headers.items()}["content-type"]
            assert content_type == "application/apply-patch+yaml"
    deployment = k8s.objects["apps/v1/deployments", NAMESPACE, "demo-lynq"]
    assert deployment["metadata"]["ownerReferences"][0]["uid"] == fleet(k8s)["metadata"]["uid"]


async def test_second_pass_makes_zero_mutating_requests(k8s: Any, reconciler: Reconciler) -> None:
    await create_fleet(k8s, fleet_body())
    await reconciler.reconcile(NAMESPACE, "demo")
    mark = len(list(k8s))
    assert await reconciler.reconcile(NAMESPACE, "demo") == "unchanged"
    assert describe(writes(k8s, mark)) == []


async def test_status_reports_conditions_components_and_generation(
    k8s: Any, reconciler: Reconciler
) -> None:
    await create_fleet(k8s, fleet_body())
    await reconciler.reconcile(NAMESPACE, "demo")
    status = fleet(k8s)["status"]
    assert status["observedGeneration"] == 1
    conds = conditions(k8s)
    assert {t: c["status"] for t, c in conds.items()} == {
        "Ready": "False",
        "Progressing": "True",
        "Degraded": "False",
    }
    assert all(c["observedGeneration"] == 1 for c in conds.values())
    assert "kubectl get pods -n agents-test" in conds["Ready"]["message"]
    assert [c["name"] for c in status["components"]] == [
        "reception",
        "spectra",
        "lynq",
        "paz",
        "redis",
        "postgresql",
        "pipeline",
    ]
    assert status["ready"] == "1/7"  # the CronJob exists; no Pod runs in kmock
    assert status["storeSecret"] == "demo-stores"


async def test_readiness_follows_the_childrens_own_status(k8s: Any, reconciler: Reconciler) -> None:
    await create_fleet(k8s, fleet_body())
    await reconciler.reconcile(NAMESPACE, "demo")
    # Play the controllers: every workload reports itself ready.
    for name in ["reception", "spectra", "lynq", "paz"]:
        k8s.objects["apps/v1/deployments", NAMESPACE, f"demo-{name}"].patch(
            {"status": {"observedGeneration": 1, "updatedReplicas": 1, "availableReplicas": 1}}
        )
    for name in ["redis", "postgresql"]:
        k8s.objects["apps/v1/statefulsets", NAMESPACE, f"demo-{name}"].patch(
            {"status": {"observedGeneration": 1, "readyReplicas": 1}}
        )
    mark = len(list(k8s))
    await reconciler.reconcile(NAMESPACE, "demo")
    conds = conditions(k8s)
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("True", "AllComponentsReady")
    assert (conds["Progressing"]["status"], conds["Progressing"]["reason"]) == (
        "False",
        "Reconciled",
    )
    assert fleet(k8s)["status"]["ready"] == "7/7"
    # Only the status changed, and the transition was announced as Events.
    written = describe(writes(k8s, mark))
    assert child_writes(written) == []
    events = [r.data for r in writes(k8s, mark) if r.resource.plural == "events"]
    assert {(e["type"], e["reason"]) for e in events} == {
        ("Normal", "AllComponentsReady"),
        ("Normal", "Reconciled"),
    }


async def test_deleted_child_is_recreated_and_nothing_else_written(
    k8s: Any, reconciler: Reconciler
) -> None:
    await create_fleet(k8s, fleet_body())
    await settle(reconciler)
    async with k8s.delete(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/demo-paz"):
        pass
    mark = len(list(k8s))
    await reconciler.reconcile(NAMESPACE, "demo")
    assert child_writes(describe(writes(k8s, mark))) == ["PATCH deployments/demo-paz"]
    assert k8s.objects["apps/v1/deployments", NAMESPACE, "demo-paz"]["spec"]["replicas"] == 1


async def test_edited_child_is_restored(k8s: Any, reconciler: Reconciler) -> None:
    await create_fleet(k8s, fleet_body())
    await settle(reconciler)
    k8s.objects["apps/v1/deployments", NAMESPACE, "demo-spectra"].patch({"spec": {"replicas": 3}})
    k8s.objects["v1/configmaps", NAMESPACE, "demo-config"].patch(
        {"data": {"ENVIRONMENT": "production"}}
    )
    mark = len(list(k8s))
    await reconciler.reconcile(NAMESPACE, "demo")
    assert child_writes(describe(writes(k8s, mark))) == [
        "PATCH configmaps/demo-config",
        "PATCH deployments/demo-spectra",
    ]
    assert k8s.objects["apps/v1/deployments", NAMESPACE, "demo-spectra"]["spec"]["replicas"] == 1
    assert k8s.objects["v1/configmaps", NAMESPACE, "demo-config"]["data"]["ENVIRONMENT"] == "test"


async def test_paused_fleet_gets_no_writes_to_children(k8s: Any, reconciler: Reconciler) -> None:
    await create_fleet(k8s, fleet_body())
    await settle(reconciler)
    await patch_spec(k8s, "demo", {"paused": True, "speech": {"intervalSeconds": 99}})
    async with k8s.delete(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/demo-lynq"):
        pass
    mark = len(list(k8s))
    assert await reconciler.reconcile(NAMESPACE, "demo") == "paused"
    assert await reconciler.reconcile(NAMESPACE, "demo") == "paused"
    # Only the fleet's own status says so, once; the deleted child stays deleted.
    written = describe(writes(k8s, mark))
    assert [r for r in written if "events/" not in r] == ["PATCH agentfleets/demo/status"]
    assert conditions(k8s)["Progressing"]["reason"] == "Paused"
    assert k8s.objects["apps/v1/deployments", NAMESPACE, "demo-lynq"].deleted
    await patch_spec(k8s, "demo", {"paused": False})
    await reconciler.reconcile(NAMESPACE, "demo")
    assert not k8s.objects["apps/v1/deployments", NAMESPACE, "demo-lynq"].deleted


async def test_spec_change_rolls_only_the_affected_deployment_once(
    k8s: Any, reconciler: Reconciler
) -> None:
    await create_fleet(k8s, fleet_body())
    await settle(reconciler)
    before = {
        name: json.dumps(k8s.objects["apps/v1/deployments", NAMESPACE, f"demo-{name}"].raw)
        for name in ["reception", "spectra", "lynq", "paz"]
    }
    await patch_spec(k8s, "demo", {"personas": {"lynq": {"model": "gemini-3.7-flash"}}})
    mark = len(list(k8s))
    await settle(reconciler)
    await reconciler.reconcile(NAMESPACE, "demo")
    assert child_writes(describe(writes(k8s, mark))) == ["PATCH deployments/demo-lynq"]
    after = {
        name: json.dumps(k8s.objects["apps/v1/deployments", NAMESPACE, f"demo-{name}"].raw)
        for name in before
    }
    assert [name for name in before if before[name] != after[name]] == ["lynq"]


async def test_reception_only_setting_rolls_reception_and_not_the_personas(
    k8s: Any, reconciler: Reconciler
) -> None:
    await create_fleet(k8s, fleet_body())
    await settle(reconciler)
    await patch_spec(k8s, "demo", {"speech": {"intervalSeconds": 60}})
    mark = len(list(k8s))
    await settle(reconciler)
    assert child_writes(describe(writes(k8s, mark))) == [
        "PATCH configmaps/demo-config",
        "PATCH deployments/demo-reception",
    ]


async def test_disabling_a_persona_deletes_its_deployment(k8s: Any, reconciler: Reconciler) -> None:
    await create_fleet(k8s, fleet_body())
    await settle(reconciler)
    await patch_spec(k8s, "demo", {"personas": {"paz": {"enabled": False}}})
    mark = len(list(k8s))
    await settle(reconciler)
    assert child_writes(describe(writes(k8s, mark))) == [
        "PATCH configmaps/demo-config",
        "PATCH deployments/demo-reception",
        "DELETE deployments/demo-paz",
    ]


async def test_invalid_spec_is_degraded_naming_the_field_and_changes_nothing(
    k8s: Any, reconciler: Reconciler
) -> None:
    await create_fleet(k8s, fleet_body())
    await settle(reconciler)
    await patch_spec(k8s, "demo", {"timeZone": "Asia/Tokio", "environment": "test"})
    mark = len(list(k8s))
    assert await reconciler.reconcile(NAMESPACE, "demo") == "invalid"
    assert child_writes(describe(writes(k8s, mark))) == []
    degraded = conditions(k8s)["Degraded"]
    assert (degraded["status"], degraded["reason"]) == ("True", "InvalidSpec")
    assert "spec.timeZone: unknown IANA time zone 'Asia/Tokio'" in degraded["message"]
    assert degraded["observedGeneration"] == 2
    events = [r.data for r in writes(k8s, mark) if r.resource.plural == "events"]
    assert any(e["type"] == "Warning" and e["reason"] == "InvalidSpec" for e in events)


async def test_apply_failure_is_degraded_with_an_actionable_message(
    k8s: Any, reconciler: Reconciler
) -> None:
    # PodMonitor requested, but the Prometheus Operator CRDs are not installed.
    await create_fleet(k8s, fleet_body(monitoring={"podMonitor": True}))
    assert await reconciler.reconcile(NAMESPACE, "demo") == "error"
    degraded = conditions(k8s)["Degraded"]
    assert (degraded["status"], degraded["reason"]) == ("True", "ApplyFailed")
    assert "set spec.monitoring.podMonitor: false" in degraded["message"]
    # Everything else was still applied.
    assert not k8s.objects["apps/v1/deployments", NAMESPACE, "demo-paz"].deleted


async def test_foreign_object_with_a_childs_name_is_not_taken_over(
    k8s: Any, reconciler: Reconciler
) -> None:
    k8s.objects["apps/v1/deployments", NAMESPACE, "demo-paz"] = {
        "metadata": {"name": "demo-paz", "namespace": NAMESPACE},
        "spec": {"replicas": 5},
    }
    await create_fleet(k8s, fleet_body())
    await reconciler.reconcile(NAMESPACE, "demo")
    assert k8s.objects["apps/v1/deployments", NAMESPACE, "demo-paz"]["spec"]["replicas"] == 5
    assert "does not belong to this fleet" in conditions(k8s)["Degraded"]["message"]


async def test_store_secret_is_created_once_and_passwords_go_nowhere_else(
    k8s: Any, reconciler: Reconciler
) -> None:
    await create_fleet(k8s, fleet_body())
    await settle(reconciler)
    await patch_spec(k8s, "demo", {"environment": "production"})
    await settle(reconciler)
    posts = [r for r in writes(k8s) if r.resource.plural == "secrets"]
    assert len(posts) == 1
    assert "ownerReferences" not in posts[0].data["metadata"]
    password = "p" * 32  # the test reconciler's generator
    leaks = [
        line
        for line, request in zip(describe(writes(k8s)), writes(k8s), strict=True)
        if password in request.text and request.resource.plural != "secrets"
    ]
    assert leaks == []
    assert all(r.method.value != "GET" for r in list(k8s) if r.resource and "secrets" in str(r.url))


async def test_recreated_fleet_reuses_the_retained_secret(k8s: Any, reconciler: Reconciler) -> None:
    await create_fleet(k8s, fleet_body())
    await reconciler.reconcile(NAMESPACE, "demo")
    # The fleet is deleted and created again; the unowned Secret survived it.
    async with k8s.delete(f"/apis/agentfleet.dev/v1alpha1/namespaces/{NAMESPACE}/agentfleets/demo"):
        pass
    assert await reconciler.reconcile(NAMESPACE, "demo") == "gone"
    await create_fleet(k8s, fleet_body())
    await reconciler.reconcile(NAMESPACE, "demo")
    assert fleet(k8s)["status"]["storeSecret"] == "demo-stores"
    secret = k8s.objects["v1/secrets", NAMESPACE, "demo-stores"]
    assert secret["stringData"]["redis-password"] == "p" * 32
