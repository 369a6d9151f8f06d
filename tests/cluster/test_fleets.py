"""Fleets on a real API server, reconciled by the operator running with the chart's RBAC.

Each test does what a person running a cluster would do (``kubectl apply``, ``patch``,
``delete``, ``create job --from``) and checks what they would look at: the children, the
fleet's conditions and printer columns, Events, and the operator's write counter.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentfleet_runtime.cli import parse_args
from tests.cluster.fleets import (
    EXAMPLE_PRODUCTION,
    EXAMPLE_TEST,
    condition,
    fleet,
    secrets,
    wait_for_condition,
    warning_events,
)
from tests.cluster.kube import Cluster, Operator, wait_until

ROOT = Path(__file__).resolve().parents[2]
TEST_NS, PROD_NS, RESTRICTED_NS = "agents-test", "agents-prod", "agents-restricted"
WORKLOADS = ("reception", "spectra", "lynq", "paz")
INSTANCE = "app.kubernetes.io/instance"

#: A stand-in for the Prometheus Operator's PodMonitor CRD: the API server then serves
#: monitoring.coreos.com/v1 podmonitors, which is all the operator needs of it.
PODMONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "podmonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "names": {"kind": "PodMonitor", "plural": "podmonitors", "singular": "podmonitor"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def fleets(operator: Operator) -> Cluster:
    """The operator's cluster with the Secrets fleets reference in every namespace."""
    cluster = operator.cluster
    for namespace in (TEST_NS, PROD_NS, RESTRICTED_NS):
        cluster.apply(*secrets(namespace))
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "agentfleet-db-app", "namespace": PROD_NS},
            "stringData": {"uri": "postgresql://agentfleet:pw@db.example.internal:5432/agentfleet"},
        }
    )
    return cluster


def children(cluster: Cluster, namespace: str, name: str) -> set[tuple[str, str]]:
    """(kind, name) of every object labelled as a child of fleet ``name``."""
    kinds = "deployments,statefulsets,services,configmaps,cronjobs,serviceaccounts,networkpolicies"
    out = cluster.kubectl("get", kinds, "-n", namespace, "-l", f"{INSTANCE}={name}", "-o", "json")
    return {(i["kind"], i["metadata"]["name"]) for i in json.loads(out)["items"]}


def expected_children(name: str) -> set[tuple[str, str]]:
    return {
        ("ServiceAccount", name),
        ("ConfigMap", f"{name}-config"),
        ("NetworkPolicy", name),
        ("Service", f"{name}-redis"),
        ("StatefulSet", f"{name}-redis"),
        ("Service", f"{name}-postgresql"),
        ("StatefulSet", f"{name}-postgresql"),
        *{("Deployment", f"{name}-{w}") for w in WORKLOADS},
        ("CronJob", f"{name}-pipeline"),
    }


@pytest.fixture(scope="module")
def demo(fleets: Cluster) -> Cluster:
    """examples/fleet-test.yaml applied as shipped, and Ready."""
    fleets.kubectl("apply", "-f", str(EXAMPLE_TEST))
    fleets.kubectl(
        "wait", "--for=condition=Ready", "agentfleet/demo", "-n", TEST_NS, "--timeout=120s"
    )
    return fleets


def test_the_test_example_becomes_ready_with_every_child(demo: Cluster) -> None:
    assert children(demo, TEST_NS, "demo") == expected_children("demo")
    assert demo.get("secret", "demo-stores", TEST_NS) is not None
    table = demo.kubectl("get", "agentfleets", "-n", TEST_NS).splitlines()
    assert table[0].split() == ["NAME", "ENVIRONMENT", "READY", "STATUS", "AGE"]
    assert table[1].split()[:4] == ["demo", "test", "7/7", "AllComponentsReady"]
    body = demo.get("agentfleet", "demo", TEST_NS)
    assert body is not None
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"]
    config = demo.get("configmap", "demo-config", TEST_NS)
    assert config is not None and config["data"]["ENVIRONMENT"] == "test"
    assert config["data"]["LOG_FILE"] == ""


def test_the_production_example_waits_for_podmonitors_then_becomes_ready(
    fleets: Cluster,
) -> None:
    fleets.kubectl("apply", "-f", str(EXAMPLE_PRODUCTION))
    # Without the Prometheus Operator the PodMonitor cannot be written: never Ready.
    body = wait_for_condition(fleets, PROD_NS, "main", "Ready", "False", reason="ApplyFailed")
    assert "monitoring.coreos.com/v1" in condition(body, "Ready")["message"]
    assert condition(body, "Degraded")["status"] == "True"
    assert any("PodMonitor" in e["message"] for e in warning_events(fleets, PROD_NS, "main"))
    fleets.apply(PODMONITOR_CRD)
    body = wait_for_condition(fleets, PROD_NS, "main", "Ready", "True", timeout=180)
    assert body["status"]["ready"] == "7/7"
    components = {c["name"]: c for c in body["status"]["components"]}
    assert components["postgresql"]["kind"] == "External"
    assert fleets.get("podmonitor", "main", PROD_NS) is not None
    assert fleets.get("statefulset", "main-postgresql", PROD_NS) is None


def _deployments(cluster: Cluster, name: str) -> dict[str, tuple[int, int]]:
    """Deployment → (generation, number of ReplicaSets): a rollout adds one of each."""
    out: dict[str, tuple[int, int]] = {}
    for workload in WORKLOADS:
        deployment = cluster.get("deployment", f"{name}-{workload}", TEST_NS)
        assert deployment is not None
        sets = cluster.list(
            "replicasets", TEST_NS, f"app.kubernetes.io/component={workload},{INSTANCE}={name}"
        )
        out[workload] = (int(deployment["metadata"]["generation"]), len(sets))
    return out


def _patch(cluster: Cluster, name: str, spec: dict[str, Any], namespace: str = TEST_NS) -> None:
    cluster.kubectl(
        "patch",
        "agentfleet",
        name,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": spec}),
    )


@pytest.mark.parametrize(
    ("spec", "rolled"),
    [
        ({"speech": {"intervalSeconds": 30}}, {"reception"}),
        ({"personas": {"lynq": {"model": "gemini-3.7-flash"}}}, {"lynq"}),
        ({"logLevel": "INFO"}, set(WORKLOADS)),
    ],
    ids=["speech rolls reception", "a persona's model rolls that persona", "log level rolls all"],
)
def test_a_spec_change_rolls_exactly_the_affected_deployments_once(
    demo: Cluster, spec: dict[str, Any], rolled: set[str]
) -> None:
    before = _deployments(demo, "demo")
    _patch(demo, "demo", spec)
    wait_for_condition(demo, TEST_NS, "demo", "Ready", "True")
    time.sleep(2)  # a second, unwanted rollout would show up here
    after = _deployments(demo, "demo")
    for workload in WORKLOADS:
        generation, sets = before[workload]
        if workload in rolled:
            assert after[workload] == (generation + 1, sets + 1), workload
        else:
            assert after[workload] == (generation, sets), workload


def test_a_deleted_or_edited_child_is_restored(demo: Cluster, operator: Operator) -> None:
    demo.kubectl("delete", "configmap", "demo-config", "-n", TEST_NS)
    wait_until(lambda: demo.get("configmap", "demo-config", TEST_NS), 30, "the ConfigMap back")
    demo.kubectl("scale", "deployment", "demo-paz", "--replicas=3", "-n", TEST_NS)
    wait_until(
        lambda: (demo.get("deployment", "demo-paz", TEST_NS) or {})["spec"]["replicas"] == 1,
        30,
        "demo-paz back at one replica (one token, one session)",
    )
    demo.kubectl("set", "image", "deployment/demo-lynq", "lynq=evil:latest", "-n", TEST_NS)

    def image() -> str:
        body = demo.get("deployment", "demo-lynq", TEST_NS) or {}
        return str(body["spec"]["template"]["spec"]["containers"][0]["image"])

    wait_until(lambda: image() == "ghcr.io/agentfleet/agentfleet:0.1.0", 30, "the image back")


def test_an_unchanged_fleet_costs_no_writes_not_even_after_a_restart(
    demo: Cluster, operator: Operator
) -> None:
    wait_for_condition(demo, TEST_NS, "demo", "Ready", "True")
    before = operator.writes()
    # A child event that changes nothing of ours wakes a pass, which must write nothing.
    demo.kubectl(
        "annotate", "configmap", "demo-config", "-n", TEST_NS, "touched=yes", "--overwrite"
    )
    time.sleep(3)
    assert operator.writes() == before
    operator.restart()
    served = len(json.loads(demo.kubectl("get", "agentfleets", "-A", "-o", "json"))["items"])

    def passes() -> float:
        values = operator.metrics()
        return sum(
            v for k, v in values.items() if k.startswith("agentfleet_operator_reconciles_total")
        )

    wait_until(lambda: passes() >= served, 60, "a pass of every fleet after the restart")
    time.sleep(2)
    assert operator.writes() == 0, operator.tail()


def test_a_paused_fleet_is_left_alone_until_resumed(demo: Cluster) -> None:
    _patch(demo, "demo", {"paused": True})
    body = wait_for_condition(demo, TEST_NS, "demo", "Progressing", "False", reason="Paused")
    assert "spec.paused" in condition(body, "Progressing")["message"]
    demo.kubectl("delete", "configmap", "demo-config", "-n", TEST_NS)
    time.sleep(5)
    assert demo.get("configmap", "demo-config", TEST_NS) is None
    _patch(demo, "demo", {"paused": False})
    wait_until(lambda: demo.get("configmap", "demo-config", TEST_NS), 30, "the ConfigMap back")
    wait_for_condition(demo, TEST_NS, "demo", "Ready", "True")


def test_a_fleet_whose_children_cannot_be_written_is_never_ready(fleets: Cluster) -> None:
    # Valid for the CRD, refused by the Deployment API: no such resource as "gpus".
    manifest = fleet("unwritable", TEST_NS, {"resources": {"requests": {"gpus": "1"}}})
    fleets.apply(manifest)
    body = wait_for_condition(fleets, TEST_NS, "unwritable", "Ready", "False", reason="ApplyFailed")
    message = condition(body, "Ready")["message"]
    assert "Deployment unwritable-reception" in message and "gpus" in message
    assert condition(body, "Degraded")["reason"] == "ApplyFailed"
    # The stores come up; the bots and the pipeline (same resources) cannot be written.
    body = wait_until(
        lambda: (
            (b := fleets.get("agentfleet", "unwritable", TEST_NS))
            and b["status"].get("ready") == "2/7"
            and b
        ),
        60,
        "the stores ready",
    )
    assert condition(body, "Ready")["status"] == "False"
    events = warning_events(fleets, TEST_NS, "unwritable")
    assert any("gpus" in e["message"] for e in events)
    # Whatever the other children do, `kubectl wait` must not report it Ready.
    waited = fleets.run(
        "kubectl",
        "wait",
        "--for=condition=Ready",
        "agentfleet/unwritable",
        "-n",
        TEST_NS,
        "--timeout=5s",
        check=False,
    )
    assert waited.returncode != 0
    fleets.kubectl("delete", "agentfleet", "unwritable", "-n", TEST_NS)


def test_what_cel_cannot_check_is_an_invalid_spec_and_nothing_is_written(
    fleets: Cluster,
) -> None:
    fleets.apply(fleet("tokio", TEST_NS, {"timeZone": "Asia/Tokio"}))
    body = wait_for_condition(fleets, TEST_NS, "tokio", "Degraded", "True", reason="InvalidSpec")
    assert (
        "spec.timeZone: unknown IANA time zone 'Asia/Tokio'"
        in condition(body, "Degraded")["message"]
    )
    assert condition(body, "Ready")["status"] == "False"
    assert children(fleets, TEST_NS, "tokio") == set()
    assert any("Asia/Tokio" in e["message"] for e in warning_events(fleets, TEST_NS, "tokio"))
    fleets.kubectl("delete", "agentfleet", "tokio", "-n", TEST_NS)


def _job_complete(cluster: Cluster, namespace: str, name: str) -> bool:
    job = cluster.get("job", name, namespace) or {}
    return any(
        c.get("type") == "Complete" and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def test_the_pipeline_cronjob_runs_a_job_to_completion(demo: Cluster) -> None:
    demo.kubectl("create", "job", "--from=cronjob/demo-pipeline", "pipeline-now", "-n", TEST_NS)
    wait_until(lambda: _job_complete(demo, TEST_NS, "pipeline-now"), 60, "the Job to complete")


def test_the_documented_rerun_of_one_date_is_a_job_of_the_pipeline_with_that_date(
    demo: Cluster,
) -> None:
    # The command docs/operations.md gives, for the example fleet in its namespace.
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = guide.split("\n## Re-running the pipeline", 1)[1]
    script = section.split("```bash\n", 1)[1].split("```", 1)[0]
    script = script.replace("<fleet>", "demo").replace("agents-prod", TEST_NS)
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], env=demo.env(), check=True, timeout=60
    )
    job = demo.get("job", "demo-pipeline-20261130", TEST_NS)
    assert job is not None
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["agentfleet", "pipeline"]
    args = parse_args(container["command"][1:])
    assert (args.role, args.date, args.force) == ("pipeline", "2026-11-30", False)
    cronjob = demo.get("cronjob", "demo-pipeline", TEST_NS)
    assert cronjob is not None
    template = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert {**container, "command": template["command"]} == template  # all else as scheduled
    wait_until(lambda: _job_complete(demo, TEST_NS, "demo-pipeline-20261130"), 60, "the Job")


def test_a_restricted_namespace_admits_every_pod_the_product_creates(fleets: Cluster) -> None:
    fleets.apply(fleet("strict", RESTRICTED_NS))
    wait_for_condition(fleets, RESTRICTED_NS, "strict", "Ready", "True")
    fleets.kubectl(
        "create", "job", "--from=cronjob/strict-pipeline", "strict-now", "-n", RESTRICTED_NS
    )
    wait_until(lambda: _job_complete(fleets, RESTRICTED_NS, "strict-now"), 60, "the Job")
    pods = {
        p["metadata"]["labels"]["app.kubernetes.io/component"]
        for p in fleets.list("pods", RESTRICTED_NS)
    }
    assert pods >= {*WORKLOADS, "redis", "postgresql", "pipeline"}
    refused = [
        e["message"]
        for e in fleets.list("events", RESTRICTED_NS)
        if "violates PodSecurity" in e.get("message", "")
    ]
    assert refused == []


def test_deleting_a_fleet_collects_its_children_and_keeps_its_data(fleets: Cluster) -> None:
    fleets.apply(fleet("doomed", TEST_NS))
    wait_for_condition(fleets, TEST_NS, "doomed", "Ready", "True")
    fleets.kubectl("delete", "agentfleet", "doomed", "-n", TEST_NS)
    wait_until(lambda: not children(fleets, TEST_NS, "doomed"), 90, "garbage collection")
    claims = {c["metadata"]["name"] for c in fleets.list("pvc", TEST_NS, f"{INSTANCE}=doomed")}
    assert claims == {"data-doomed-redis-0", "data-doomed-postgresql-0"}
    assert fleets.get("secret", "doomed-stores", TEST_NS) is not None


def test_an_operator_killed_while_creating_fleets_converges_without_extra_writes(
    fleets: Cluster, operator: Operator
) -> None:
    names = [f"burst-{i}" for i in range(5)]
    text = yaml.safe_dump_all([fleet(n, TEST_NS) for n in names])
    fleets.kubectl("apply", "-f", "-", stdin=text)
    wait_until(lambda: any(children(fleets, TEST_NS, n) for n in names), 30, "the first children")
    operator.stop(signal.SIGKILL)
    operator.start()
    for name in names:
        wait_for_condition(fleets, TEST_NS, name, "Ready", "True")
        assert children(fleets, TEST_NS, name) == expected_children(name)
    operator.restart()
    served = len(json.loads(fleets.kubectl("get", "agentfleets", "-A", "-o", "json"))["items"])
    wait_until(
        lambda: (
            sum(
                v
                for k, v in operator.metrics().items()
                if k.startswith("agentfleet_operator_reconciles_total")
            )
            >= served
        ),
        60,
        "a pass of every fleet",
    )
    time.sleep(2)
    assert operator.writes() == 0, operator.tail()
    fleets.kubectl("delete", "agentfleet", *names, "-n", TEST_NS)
