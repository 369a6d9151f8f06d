"""The alert rules, checked and unit-tested by the real promtool, and their runbooks.

``promtool test rules`` evaluates the rules over input series the way Prometheus does,
including the ``for:`` wait and the rendered summary and description, so each alert is run
here on its own: it must fire on the series that mean trouble and stay silent on the
others (a blip, a healthy pod, a quiet night).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring.promql import ROOT, RULE_TESTS, RULES_FILE, RUNBOOKS, alert_names, rules

#: Where the rules file's runbook links point (the chart can point them elsewhere).
RUNBOOK_BASE = "https://github.com/agentfleet/agentfleet/blob/main/docs/runbooks/"
SEVERITIES = {"critical", "warning"}
#: What every runbook answers, in this order.
RUNBOOK_SECTIONS = ("## What it means", "## Confirm it", "## Fix it")


@pytest.fixture(scope="module")
def promtool() -> str:
    """The promtool binary (Debian's prometheus package; scripts/bootstrap.sh installs it)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run `bash scripts/bootstrap.sh --for-tests`")
    return path


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_accepts_the_rules_file(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_rejects_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    # The check above can fail: a rule with a PromQL syntax error is refused.
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        yaml.safe_dump(
            {"groups": [{"name": "x", "rules": [{"alert": "X", "expr": "rate(up[5m]"}]}]}
        )
    )
    assert run(promtool, "check", "rules", str(broken)).returncode != 0


def test_the_documented_scrape_config_for_prometheus_without_the_operator_is_valid(
    promtool: str, tmp_path: Path
) -> None:
    doc = (ROOT / "docs" / "operations.md").read_text()
    section = doc.split("\n### Without the Prometheus Operator\n", 1)[1]
    config = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    # The document's copy of the rules file is this one.
    config["rule_files"] = [str(RULES_FILE)]
    # Debian builds Prometheus without Kubernetes discovery, so promtool would refuse that
    # key; every other line, the relabelling included, is checked as written.
    for job in config["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) == [{"role": "pod"}]:
            job["static_configs"] = [{"targets": ["127.0.0.1:8000"]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = run(promtool, "check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert jobs == {"agentfleet", "agentfleet-fleets", "agentfleet-operator"}


def unit_tests_of(alert: str) -> list[tuple[Path, dict[str, Any], list[dict[str, Any]]]]:
    """(file, its settings, its test groups that evaluate ``alert``) per promtool test file."""
    found = []
    for path in RULE_TESTS:
        document = yaml.safe_load(path.read_text())
        groups = [
            group
            for group in document["tests"]
            if any(case["alertname"] == alert for case in group.get("alert_rule_test", []))
        ]
        if groups:
            found.append((path, document, groups))
    return found


@pytest.mark.parametrize("alert", alert_names())
def test_alert_fires_when_it_should_and_stays_silent_otherwise(
    promtool: str, alert: str, tmp_path: Path
) -> None:
    files = unit_tests_of(alert)
    cases = [
        case
        for _, _, groups in files
        for group in groups
        for case in group["alert_rule_test"]
        if case["alertname"] == alert
    ]
    assert any(case["exp_alerts"] for case in cases), f"no case where {alert} fires"
    assert any(not case["exp_alerts"] for case in cases), f"no case where {alert} stays silent"
    for path, document, groups in files:
        # Only this alert's groups, so a failure names the alert that broke.
        single = tmp_path / path.name
        single.write_text(
            yaml.safe_dump({**document, "rule_files": [str(RULES_FILE)], "tests": groups})
        )
        result = run(promtool, "test", "rules", str(single))
        assert result.returncode == 0, result.stdout + result.stderr


def test_recording_rules_compute_quantiles_and_ratios(promtool: str, tmp_path: Path) -> None:
    for path in RULE_TESTS:
        document = yaml.safe_load(path.read_text())
        groups = [group for group in document["tests"] if group.get("promql_expr_test")]
        if not groups:
            continue
        single = tmp_path / path.name
        single.write_text(
            yaml.safe_dump({**document, "rule_files": [str(RULES_FILE)], "tests": groups})
        )
        result = run(promtool, "test", "rules", str(single))
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule", [r for r in rules() if "alert" in r], ids=lambda r: r["alert"])
def test_every_alert_says_how_long_how_bad_what_and_where_to_look(rule: dict[str, Any]) -> None:
    assert re.fullmatch(r"\d+[smh]", rule["for"])
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert annotations["summary"] and annotations["description"]
    assert annotations["runbook_url"] == f"{RUNBOOK_BASE}{rule['alert']}.md"


@pytest.mark.parametrize("alert", alert_names())
def test_every_alert_has_a_runbook_that_stands_on_its_own(alert: str) -> None:
    path = RUNBOOKS / f"{alert}.md"
    assert path.is_file(), f"{path} is missing"
    text = path.read_text()
    assert text.startswith(f"# {alert}\n")
    positions = [text.find(section) for section in RUNBOOK_SECTIONS]
    assert -1 not in positions and positions == sorted(positions), RUNBOOK_SECTIONS
    # Commands to run, not references elsewhere.
    assert "```" in text.split("## Confirm it", 1)[1]
    assert not re.search(r"#\d+|/work/|shared/", text)


def test_every_runbook_belongs_to_an_alert() -> None:
    assert sorted(p.stem for p in RUNBOOKS.glob("*.md")) == sorted(alert_names())
