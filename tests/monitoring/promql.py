"""The chart's alert rules and dashboards as data: their PromQL and the metric names in it.

Expressions are parsed by a real PromQL parser, so a name is what Prometheus would look up
(not a label, a function or a word in a string), and a query that does not parse fails here
rather than as an empty Grafana panel.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "agentfleet"
RULES_FILE = CHART / "files" / "alerts.yaml"
DASHBOARDS = sorted((CHART / "files" / "dashboards").glob("*.json"))
RUNBOOKS = ROOT / "docs" / "runbooks"
#: promtool unit tests of the rules (see the files' headers).
RULE_TESTS = sorted(Path(__file__).parent.glob("alerts*_test.yaml"))

#: Grafana's interval variables stand for a duration; a variable in a label matcher's string
#: for "All" (every value), any other for a number.
_INTERVAL_VARIABLE = re.compile(r"\$__\w+|\$\{__\w+\}")
_VARIABLE = re.compile(r"\$\{\w+\}|\$\w+")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
#: A query variable's ``label_values(<selector>, <label>)``.
_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*\w+\)$")


@dataclass(frozen=True)
class Query:
    """One PromQL expression and where it comes from (for a readable failure)."""

    where: str
    expr: str


def rule_groups() -> list[dict[str, Any]]:
    """The groups of the plain rules file."""
    return list(yaml.safe_load(RULES_FILE.read_text())["groups"])


def rules() -> list[dict[str, Any]]:
    """Every rule, recording and alerting, in file order."""
    return [rule for group in rule_groups() for rule in group["rules"]]


def alert_names() -> list[str]:
    """Each alert's name once (an alert may have several rules, one per severity)."""
    return list(dict.fromkeys(rule["alert"] for rule in rules() if "alert" in rule))


def recorded_names() -> set[str]:
    """The series the recording rules create."""
    return {rule["record"] for rule in rules() if "record" in rule}


def rule_queries() -> list[Query]:
    """Every rule's expression."""
    return [Query(rule.get("alert") or rule["record"], rule["expr"]) for rule in rules()]


def dashboard(path: Path) -> dict[str, Any]:
    """One dashboard's JSON model."""
    model: dict[str, Any] = json.loads(path.read_text())
    return model


def panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    for panel in model["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(path: Path) -> list[Query]:
    """Every panel target's expression and every query variable's selector, as PromQL."""
    model = dashboard(path)
    queries = [
        Query(f"{path.name}: panel {panel['title']!r}", _as_promql(target["expr"]))
        for panel in panels(model)
        for target in panel.get("targets", [])
    ]
    for variable in model["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = _LABEL_VALUES.match(variable["query"]["query"])
        assert match, f"{path.name}: variable {variable['name']} is not label_values(...)"
        queries.append(
            Query(f"{path.name}: variable {variable['name']}", _as_promql(match["selector"]))
        )
    return queries


def _as_promql(expr: str) -> str:
    """The query as Prometheus receives it with every variable at "All" (or a number)."""
    expr = _INTERVAL_VARIABLE.sub("5m", expr)
    expr = _STRING.sub(lambda string: _VARIABLE.sub(".*", string[0]), expr)
    return _VARIABLE.sub("1", expr)


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads; raises if it does not parse."""
    names: set[str] = set()

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            names.add(_selector_name(node, expr))
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def _selector_name(selector: promql_parser.VectorSelector, expr: str) -> str:
    if selector.name:
        return str(selector.name)
    by_name = [
        m
        for m in selector.matchers.matchers
        if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal
    ]
    assert by_name, f"a selector without a fixed metric name cannot be checked: {expr}"
    return str(by_name[0].value)
