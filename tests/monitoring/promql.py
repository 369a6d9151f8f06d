"""The chart's alert rules and dashboards as data: their PromQL and the metric names in it.

Expressions are parsed by a real PromQL parser, so a name is what Prometheus would look up
(not a label, a function or a word in a string), and a query that does not parse fails here
rather than as an empty Grafana panel. The same parser finds what an alert watches when
nothing is wrong (:func:`inner_series`).
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


#: PromQL's comparison operators: without ``bool`` they filter, keeping only the series
#: for which the comparison holds.
COMPARISONS = frozenset({"==", "!=", ">", "<", ">=", "<="})


@dataclass(frozen=True)
class Query:
    """One PromQL expression and where it comes from (for a readable failure)."""

    where: str
    expr: str
    alert: bool = False
    """An alert's expression: empty while nothing is wrong (see :attr:`probe`)."""

    @property
    def probe(self) -> str:
        """What must return data once the series it reads exist: an alert's inner series."""
        return inner_series(self.expr) if self.alert else self.expr


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
    """Every rule's expression, named so that each is told apart (an alert may have several)."""
    return [
        Query(f"alert {rule['alert']} ({rule['labels']['severity']})", rule["expr"], alert=True)
        if "alert" in rule
        else Query(f"record {rule['record']}", rule["expr"])
        for rule in rules()
    ]


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
        Query(
            f"{path.name}: panel {panel['title']!r}, query {target['refId']}",
            _as_promql(target["expr"]),
        )
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


def inner_series(expr: str) -> str:
    """``expr`` with every filtering comparison against a constant replaced by its series.

    An alert's expression returns nothing while nothing is wrong (``up == 0`` on a healthy
    target), which cannot tell a quiet alert from one that reads a series nobody serves.
    What it compares can: ``x > 0.1`` becomes ``x``, ``time() - t > 26 * 3600`` becomes
    ``time() - t``, and ``a > 1 and on (job) b`` becomes ``a and on (job) b``, so the
    series each side of ``and`` keeps must exist together, as they must for the alert to
    fire. Only comparisons whose other side reads no series are dropped; a comparison of
    two vectors, or one with ``bool`` (which already returns every series), is kept as
    written, and an expression with nothing to drop is returned unchanged.
    """

    def drop_comparison(node: promql_parser.Expr) -> promql_parser.Expr | None:
        if not (
            isinstance(node, promql_parser.BinaryExpr)
            and str(node.op) in COMPARISONS
            and not (node.modifier is not None and node.modifier.return_bool)
        ):
            return None
        left, right = _reads_series(node.lhs), _reads_series(node.rhs)
        if left == right:
            return None  # two vectors (or two constants): no side is "the" series
        return node.lhs if left else node.rhs

    inner = str(promql_parser.transform(promql_parser.parse(expr), post_visit=drop_comparison))
    promql_parser.parse(inner)  # what was rendered is PromQL again
    return inner


def _reads_series(node: promql_parser.Expr) -> bool:
    found: list[promql_parser.Expr] = []

    def visit(child: promql_parser.Expr) -> bool:
        if isinstance(child, promql_parser.VectorSelector | promql_parser.MatrixSelector):
            found.append(child)
        return True

    promql_parser.walk(node, visit)
    return bool(found)
