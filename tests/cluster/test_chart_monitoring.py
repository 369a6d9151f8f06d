"""The chart's monitoring: rendered for the Prometheus Operator only where it is installed.

``helm template`` is told which kinds the cluster serves with ``--api-versions
monitoring.coreos.com/v1/<Kind>``, which is how a live cluster lists them to ``helm
install``; without them the chart must render none of them, so it installs anywhere.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.kube import CLUSTER_SCRIPT, ROOT, Cluster
from tests.monitoring.promql import DASHBOARDS, RULES_FILE, alert_names

CHART = str(ROOT / "charts" / "agentfleet")
MONITORING_KINDS = ("PrometheusRule", "ServiceMonitor", "PodMonitor")
ALL_KINDS = [f"--api-versions=monitoring.coreos.com/v1/{kind}" for kind in MONITORING_KINDS]
#: The chart's PodMonitor is off by default (fleets may have their own); on for these tests.
FLEETS_POD_MONITOR = ("--set", "monitoring.podMonitor.enabled=true")


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    """helm from the cluster binaries (``helm template`` talks to no cluster)."""
    built = subprocess.run(
        ["bash", str(CLUSTER_SCRIPT), "build"], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr[-3000:]
    state = tmp_path_factory.mktemp("helm")
    return Cluster(state / "no-kubeconfig", Path(built.stdout.strip().splitlines()[-1]), state)


def render(helm: Cluster, *args: str) -> list[dict[str, Any]]:
    out = helm.helm("template", "agentfleet", CHART, "-n", "agentfleet-system", *args)
    return [d for d in yaml.safe_load_all(out) if d]


def of_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind]


def test_without_the_prometheus_operator_none_of_its_objects_is_rendered(helm: Cluster) -> None:
    documents = render(helm, *FLEETS_POD_MONITOR)
    assert [d["kind"] for d in documents if d["kind"] in MONITORING_KINDS] == []
    # The group alone does not say which kinds exist: still nothing.
    documents = render(helm, *FLEETS_POD_MONITOR, "--api-versions=monitoring.coreos.com/v1")
    assert [d["kind"] for d in documents if d["kind"] in MONITORING_KINDS] == []


@pytest.mark.parametrize("kind", MONITORING_KINDS)
def test_each_kind_is_rendered_where_the_cluster_serves_it(helm: Cluster, kind: str) -> None:
    documents = render(helm, *FLEETS_POD_MONITOR, f"--api-versions=monitoring.coreos.com/v1/{kind}")
    assert [d["kind"] for d in documents if d["kind"] in MONITORING_KINDS] == [kind]


def test_the_switches_turn_them_off_where_the_cluster_serves_them(helm: Cluster) -> None:
    switches = [f"monitoring.{k}.enabled=false" for k in ("prometheusRule", "serviceMonitor")]
    documents = render(helm, *ALL_KINDS, "--set", ",".join(switches))
    assert [d["kind"] for d in documents if d["kind"] in MONITORING_KINDS] == []


def test_the_prometheus_rule_carries_the_plain_rules_file(helm: Cluster) -> None:
    (rule,) = of_kind(render(helm, *ALL_KINDS), "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES_FILE.read_text())
    assert rule["metadata"]["namespace"] == "agentfleet-system"


def test_runbook_links_follow_the_configured_base(helm: Cluster) -> None:
    base = "https://git.example.internal/ops/agentfleet/-/blob/main/docs/runbooks/"
    (rule,) = of_kind(
        render(helm, *ALL_KINDS, "--set", f"monitoring.prometheusRule.runbookBaseUrl={base}"),
        "PrometheusRule",
    )
    links = {
        r["alert"]: r["annotations"]["runbook_url"]
        for group in rule["spec"]["groups"]
        for r in group["rules"]
        if "alert" in r
    }
    assert set(links) == set(alert_names())
    assert all(url == f"{base}{alert}.md" for alert, url in links.items())


def test_the_service_monitor_scrapes_the_operators_metrics_port(helm: Cluster) -> None:
    documents = render(helm, *ALL_KINDS, "--set", "monitoring.labels.release=prometheus")
    (monitor,) = of_kind(documents, "ServiceMonitor")
    service = next(
        d for d in of_kind(documents, "Service") if d["metadata"]["name"].endswith("-metrics")
    )
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
    assert monitor["metadata"]["labels"]["release"] == "prometheus"


def test_the_pod_monitor_selects_the_bots_of_the_served_namespaces(helm: Cluster) -> None:
    (everywhere,) = of_kind(render(helm, *ALL_KINDS, *FLEETS_POD_MONITOR), "PodMonitor")
    assert everywhere["spec"]["namespaceSelector"] == {"any": True}
    (listed,) = of_kind(
        render(helm, *ALL_KINDS, *FLEETS_POD_MONITOR, "--set", "watchNamespaces={a,b}"),
        "PodMonitor",
    )
    assert listed["spec"]["namespaceSelector"] == {"matchNames": ["a", "b"]}
    # The operator's own labels for a bot Pod: name agentfleet, a port named metrics.
    assert listed["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "agentfleet"}
    (endpoint,) = listed["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["relabelings"][0]["targetLabel"] == "job"


def test_dashboards_are_configmaps_for_grafanas_sidecar(helm: Cluster) -> None:
    maps = [
        d
        for d in of_kind(render(helm, "--set", "dashboards.folder=Bots"), "ConfigMap")
        if d["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    assert len(maps) == len(DASHBOARDS)
    loaded = {name: json.loads(text) for m in maps for name, text in m["data"].items()}
    assert loaded == {p.name: json.loads(p.read_text()) for p in DASHBOARDS}
    assert all(m["metadata"]["annotations"] == {"grafana_folder": "Bots"} for m in maps)


def test_dashboards_can_be_left_out(helm: Cluster) -> None:
    documents = render(helm, "--set", "dashboards.enabled=false")
    assert not [
        d for d in of_kind(documents, "ConfigMap") if "grafana_dashboard" in d["metadata"]["labels"]
    ]


def test_a_runbook_base_that_would_break_the_links_is_refused(helm: Cluster) -> None:
    result = helm.run(
        "helm",
        "template",
        "agentfleet",
        CHART,
        "--set",
        "monitoring.prometheusRule.runbookBaseUrl=https://git.example.internal/runbooks",
        check=False,
    )
    assert result.returncode != 0
    assert "/monitoring/prometheusRule/runbookBaseUrl" in result.stderr
