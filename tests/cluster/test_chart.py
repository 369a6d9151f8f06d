"""The Helm chart as shipped: lint, render, install, and RBAC no wider than needed."""

from __future__ import annotations

import pytest
import yaml

from tests.cluster.conftest import FLEET_NAMESPACES, OPERATOR_ACCOUNT, OPERATOR_NAMESPACE
from tests.cluster.kube import ROOT, Cluster

CHART = str(ROOT / "charts" / "agentfleet")
AS_OPERATOR = f"--as=system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"


def test_chart_lints_strictly(cluster: Cluster) -> None:
    out = cluster.helm("lint", "--strict", CHART)
    assert "1 chart(s) linted, 0 chart(s) failed" in out


def _kinds(rendered: str) -> list[tuple[str, str, str | None]]:
    return [
        (d["kind"], d["metadata"]["name"], d["metadata"].get("namespace"))
        for d in yaml.safe_load_all(rendered)
        if d
    ]


def test_cluster_wide_install_binds_cluster_wide(cluster: Cluster) -> None:
    kinds = _kinds(cluster.helm("template", "agentfleet", CHART, "-n", OPERATOR_NAMESPACE))
    assert ("ClusterRoleBinding", "agentfleet-operator", None) in kinds
    assert not [k for k in kinds if k[0] == "RoleBinding"]


def test_namespaced_install_binds_only_those_namespaces(cluster: Cluster) -> None:
    rendered = cluster.helm(
        "template", "agentfleet", CHART, "-n", OPERATOR_NAMESPACE, "--set", "watchNamespaces={a,b}"
    )
    kinds = _kinds(rendered)
    assert ("ClusterRoleBinding", "agentfleet-operator", None) not in kinds
    bindings = {(k[0], k[2]) for k in kinds if k[0] == "RoleBinding"}
    assert bindings == {("RoleBinding", "a"), ("RoleBinding", "b")}
    # What stays cluster-wide is read-only discovery.
    discovery = next(
        d
        for d in yaml.safe_load_all(rendered)
        if d and d["kind"] == "ClusterRole" and d["metadata"]["name"].endswith("-discovery")
    )
    assert {v for rule in discovery["rules"] for v in rule["verbs"]} == {"list", "watch"}


def can_i(cluster: Cluster, verb: str, resource: str, namespace: str | None) -> bool:
    resource, _, subresource = resource.partition("/")
    args = ["auth", "can-i", verb, resource, AS_OPERATOR]
    args += [f"--subresource={subresource}"] if subresource else []
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    return cluster.kubectl(*args, check=False).strip() == "yes"


@pytest.mark.parametrize(
    ("verb", "resource", "namespace", "allowed"),
    [
        ("patch", "deployments.apps", "agents-test", True),
        ("create", "secrets", "agents-test", True),
        ("get", "secrets", "agents-test", False),
        ("list", "secrets", "agents-test", False),
        ("watch", "agentfleets.agentfleet.dev", "agents-prod", True),
        ("update", "agentfleets.agentfleet.dev", "agents-prod", False),
        ("patch", "agentfleets.agentfleet.dev/status", "agents-prod", True),
        ("list", "deployments.apps", "default", False),
        ("create", "configmaps", "kube-system", False),
        ("list", "agentfleets.agentfleet.dev", None, False),
        ("list", "customresourcedefinitions.apiextensions.k8s.io", None, True),
        ("delete", "persistentvolumeclaims", "agents-test", False),
        ("create", "pods", "agents-test", False),
    ],
)
def test_the_operator_may_do_what_a_fleet_needs_and_no_more(
    chart: Cluster, verb: str, resource: str, namespace: str | None, allowed: bool
) -> None:
    assert can_i(chart, verb, resource, namespace) is allowed


def test_the_install_serves_the_listed_namespaces(chart: Cluster) -> None:
    for namespace in FLEET_NAMESPACES:
        binding = chart.get("rolebinding", "agentfleet-operator", namespace)
        assert binding is not None, namespace
    deployment = chart.get("deployment", "agentfleet-operator", OPERATOR_NAMESPACE)
    assert deployment is not None
    env = {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["AGENTFLEET_NAMESPACES"] == ",".join(FLEET_NAMESPACES)
