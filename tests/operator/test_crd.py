"""The CRD: documented, mirrored by the operator's types, validating the examples, with CEL
rules where the schema alone cannot express a constraint; the chart's copy is identical."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from agentfleet_operator.api.types import FleetSpec, FleetStatus, SpecError, parse_spec

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "crds" / "agentfleet.dev_agentfleets.yaml"
CHART = ROOT / "charts" / "agentfleet"
EXAMPLES = [ROOT / "examples" / "fleet-test.yaml", ROOT / "examples" / "fleet-production.yaml"]


def load_crd() -> dict[str, Any]:
    return dict(yaml.safe_load(CRD_PATH.read_text()))


def root_schema() -> dict[str, Any]:
    return dict(load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    node = schema
    for part in path.split("."):
        node = node["properties"][part]
    return node


def rules(node: dict[str, Any]) -> list[str]:
    return [r["rule"] for r in node.get("x-kubernetes-validations", [])]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            inner = _model_of(arg)
            if inner is not None:
                return inner
    return None


def _compare(model: type[BaseModel], node: dict[str, Any], path: str) -> list[str]:
    problems = []
    fields = {f.alias or name: f for name, f in model.model_fields.items()}
    props = node.get("properties", {})
    if set(fields) != set(props):
        problems.append(f"{path}: types {sorted(fields)} != CRD {sorted(props)}")
    required = {alias for alias, f in fields.items() if f.is_required()}
    if required != set(node.get("required", [])):
        problems.append(f"{path}: required {sorted(required)} != {node.get('required', [])}")
    for alias, field in fields.items():
        prop = props.get(alias)
        if prop is None:
            continue
        if not prop.get("description"):
            problems.append(f"{path}.{alias}: no description")
        sub = _model_of(field.annotation)
        if "default" in prop:
            default = field.get_default(call_default_factory=True)
            expected = sub.model_validate(prop["default"]) if sub else prop["default"]
            if default != expected:
                problems.append(f"{path}.{alias}: default {default!r} != CRD {prop['default']!r}")
        elif not field.is_required() and field.get_default(call_default_factory=True) not in (
            None,
            [],
            {},
        ):
            problems.append(f"{path}.{alias}: types have a default the CRD lacks")
        if sub is not None and prop.get("type") == "object":
            problems += _compare(sub, prop, f"{path}.{alias}")
    return problems


def test_types_mirror_the_crd_fields_required_and_defaults() -> None:
    schema = root_schema()
    assert _compare(FleetSpec, at(schema, "spec"), "spec") == []
    assert _compare(FleetStatus, at(schema, "status"), "status") == []


def test_every_schema_property_is_documented() -> None:
    missing = []

    def walk(node: dict[str, Any], path: str) -> None:
        for name, prop in node.get("properties", {}).items():
            if path and not prop.get("description"):
                missing.append(f"{path}.{name}")
            walk(prop, f"{path}.{name}")
        if "items" in node:
            walk(node["items"], f"{path}[]")

    walk(at(root_schema(), "spec"), "spec")
    walk(at(root_schema(), "status"), "status")
    assert missing == []


def test_crd_has_status_subresource_printer_columns_and_short_names() -> None:
    crd = load_crd()
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {col["name"]: col["jsonPath"] for col in version["additionalPrinterColumns"]}
    assert columns == {
        "Environment": ".spec.environment",
        "Ready": ".status.ready",
        "Status": '.status.conditions[?(@.type=="Ready")].reason',
        "Age": ".metadata.creationTimestamp",
    }
    assert "af" in crd["spec"]["names"]["shortNames"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_against_the_crd_schema_and_the_types(path: Path) -> None:
    fleet = yaml.safe_load(path.read_text())
    jsonschema.Draft7Validator(root_schema()).validate(fleet)
    spec = parse_spec(fleet["spec"])
    namespace = fleet["metadata"]["namespace"]
    assert (namespace, spec.environment.value) in {
        ("agents-test", "test"),
        ("agents-prod", "production"),
    }


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"environment": "staging"}, "environment"),
        ({"discord": {"guildId": "abc"}}, "guildId"),
        ({"speech": {"probability": 1.5}}, "probability"),
        ({"gemini": {"apiKeySecretRef": {"name": "Not_A_Secret_Name", "key": "k"}}}, "name"),
    ],
)
def test_schema_rejects_what_it_can_express(patch: dict[str, Any], field: str) -> None:
    fleet = yaml.safe_load(EXAMPLES[0].read_text())
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(fleet["spec"].get(key), dict):
            fleet["spec"][key] = {**fleet["spec"][key], **value}
        else:
            fleet["spec"][key] = value
    with pytest.raises(jsonschema.ValidationError) as info:
        jsonschema.Draft7Validator(root_schema()).validate(fleet)
    assert field in str(info.value.path) or field in info.value.message


#: (field path, a distinctive piece of the CEL rule that must sit on that field)
CEL_RULES = [
    ("spec.timeZone", "self.matches('^[A-Z]"),
    ("spec.phases.processingStart", "([01][0-9]|2[0-3])"),
    ("spec.phases.meetingStart", "([01][0-9]|2[0-3])"),
    ("spec.phases.freeStart", "([01][0-9]|2[0-3])"),
    ("spec.phases", "self.processingStart < self.meetingStart"),
    ("spec.redis", "has(self.managed) != has(self.external)"),
    ("spec.postgresql", "has(self.managed) != has(self.external)"),
    ("spec.redis.managed.storage", "self == oldSelf"),
    ("spec.postgresql.managed.storage", "self == oldSelf"),
    ("spec.gemini.embeddingDimensions", "self == oldSelf"),
    ("spec.personas", "self.spectra.enabled || self.lynq.enabled"),
    ("spec.pipeline.schedule", "!self.contains('TZ')"),
    ("spec.discord.tokensSecretRef.receptionKey", "AIza"),
    ("spec.gemini.apiKeySecretRef.key", "AIza"),
    ("spec.postgresql.external.urlSecretRef.key", "AIza"),
    ("spec.gemini.baseUrl", "://[^/]*@"),
    ("spec.discord.apiBaseUrl", "(key|token|access_token"),
]


@pytest.mark.parametrize(("path", "fragment"), CEL_RULES)
def test_cel_rules_sit_on_the_right_fields(path: str, fragment: str) -> None:
    node = at(root_schema(), path)
    assert any(fragment in rule for rule in rules(node)), rules(node)
    for rule in node["x-kubernetes-validations"]:
        assert rule.get("message"), f"{path}: a CEL rule without a message"


def test_fleet_name_length_is_bounded_by_cel() -> None:
    assert "size(self.metadata.name) <= 40" in rules(root_schema())


def _cel_regexes(path: str) -> list[re.Pattern[str]]:
    out = []
    for rule in rules(at(root_schema(), path)):
        for literal in re.findall(r"matches\('((?:[^']|'')*)'\)", rule):
            # CEL single-quoted strings: a backslash escape is written doubled.
            out.append(re.compile(literal.replace("\\\\", "\\")))
    return out


@pytest.mark.parametrize(
    ("path", "good", "bad"),
    [
        ("spec.timeZone", ["Asia/Tokyo", "America/Argentina/Buenos_Aires"], ["tokyo", "+09:00"]),
        ("spec.phases.meetingStart", ["07:00", "23:59"], ["7:00", "24:00", "07:60"]),
        ("spec.pipeline.schedule", ["0 6 * * *", "@daily", "*/5 * * * 1-5"], ["0 6 * *"]),
    ],
)
def test_cel_format_rules_accept_and_reject_as_intended(
    path: str, good: list[str], bad: list[str]
) -> None:
    (pattern,) = _cel_regexes(path)[:1]
    assert all(pattern.search(value) for value in good)
    assert not any(pattern.search(value) for value in bad)


def test_cel_credential_rules_catch_pasted_secrets() -> None:
    token = ".".join(["MTIzNDU2Nzg5MDEyMzQ1Njc4OQ", "GhAbCd", "abcdefghijklmnopqrstuvwxyz0123"])
    key_rule = rules(at(root_schema(), "spec.discord.tokensSecretRef.receptionKey"))[0]
    token_re, gemini_re = (
        re.compile(lit.replace("\\\\", "\\"))
        for lit in re.findall(r"matches\('((?:[^']|'')*)'\)", key_rule)
    )
    assert token_re.search(token) and not token_re.search("DISCORD_RECEPTION_TOKEN")
    assert gemini_re.search("AIzaSyA1234567890abcdefghijklmnopqrstu")
    url_patterns = _cel_regexes("spec.gemini.baseUrl")
    leaky = ["https://user:pw@example.com/v1", "https://example.com/v1?key=abc"]
    assert all(any(p.search(u) for p in url_patterns[1:]) for u in leaky)
    assert not any(p.search("https://example.com/v1beta") for p in url_patterns[1:])


def test_operator_rejects_what_slips_past_the_schema() -> None:
    fleet = yaml.safe_load(EXAMPLES[0].read_text())
    fleet["spec"]["timeZone"] = "Asia/Tokio"  # shape-valid, but no such zone
    with pytest.raises(SpecError) as info:
        parse_spec(fleet["spec"])
    assert info.value.problems == [
        "spec.timeZone: unknown IANA time zone 'Asia/Tokio' (e.g. Asia/Tokyo, Europe/Berlin, UTC)"
    ]


def _strip_helm(text: str) -> str:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("{{")]
    return "\n".join(lines)


def test_chart_crd_is_the_crd_with_a_keep_policy() -> None:
    templated = yaml.safe_load(_strip_helm((CHART / "templates" / "crd.yaml").read_text()))
    annotations = templated["metadata"].pop("annotations")
    assert annotations == {"helm.sh/resource-policy": "keep"}
    assert templated == load_crd()


def _render_loosely(text: str) -> list[dict[str, Any]]:
    """Render a template without helm: drop directive lines, blank out inline expressions."""
    body = _strip_helm(text)
    body = re.sub(r"\{\{.*?\}\}", "x", body)
    return [doc for doc in yaml.safe_load_all(body) if doc]


def test_chart_rbac_never_reads_secrets() -> None:
    docs = _render_loosely((CHART / "templates" / "clusterrole.yaml").read_text())
    role = next(doc for doc in docs if doc["kind"] == "ClusterRole")
    secret_verbs = {
        verb
        for rule in role["rules"]
        if "secrets" in rule["resources"] or "*" in rule["resources"]
        for verb in rule["verbs"]
    }
    assert secret_verbs == {"create"}
    assert all("*" not in rule["verbs"] for rule in role["rules"])


def test_chart_runs_one_restricted_operator_replica() -> None:
    docs = _render_loosely((CHART / "templates" / "deployment.yaml").read_text())
    deployment = next(doc for doc in docs if doc["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["command"] == ["agentfleet-operator"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_chart_values_match_their_schema() -> None:
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(values)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate({**values, "operator": {"logFormat": "xml"}})
