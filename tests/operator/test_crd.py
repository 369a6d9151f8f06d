"""The CRD is generated from the API's types, documented, bounded and carries its rules.

These are the fast checks; tests/cluster proves the same CRD against a real API server
(that it is accepted, and that it rejects bad fleets with messages naming the field).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from agentfleet_operator.api import crd
from agentfleet_operator.api.types import (
    CRON_PATTERN,
    FleetSpec,
    SpecError,
    parse_fleet,
    parse_spec,
)
from agentfleet_runtime.contract import CREDENTIAL_PATTERNS, looks_like_credential

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "agentfleet"
EXAMPLES = [ROOT / "examples" / "fleet-test.yaml", ROOT / "examples" / "fleet-production.yaml"]
#: Shaped like real credentials; built at run time so no literal looks like a leaked one.
DISCORD_TOKEN = ".".join(["MTIzNDU2Nzg5MDEyMzQ1Njc4OQ", "GhAbCd", "abcdefghijklmnopqrstuvwxyz0123"])
GOOGLE_KEY = "AIza" + "SyA1234567890abcdefghijklmnopqrstuvw"


def root_schema() -> dict[str, Any]:
    return dict(
        crd.custom_resource_definition()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    )


def at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    node = schema
    for part in path.split("."):
        node = node["properties"][part] if part != "*" else node["additionalProperties"]
    return node


def rules(node: dict[str, Any]) -> list[str]:
    return [r["rule"] for r in node.get("x-kubernetes-validations", [])]


def walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for name, prop in node.get("properties", {}).items():
        found += walk(prop, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        found += walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += walk(node["additionalProperties"], f"{path}.*")
    return found


def test_generated_files_are_current() -> None:
    stale = [str(p.relative_to(ROOT)) for p in crd.stale_files()]
    assert stale == [], f"run: python -m agentfleet_operator.api.crd (stale: {stale})"


def test_chart_template_is_the_crd_with_a_keep_policy() -> None:
    text = crd.CHART_CRD_FILE.read_text()
    lines = text.splitlines()
    assert lines[0] == "{{- if .Values.crds.install }}" and lines[-1] == "{{- end }}"
    templated = yaml.safe_load("\n".join(lines[1:-1]))
    assert templated["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
    assert templated == yaml.safe_load(crd.CRD_FILE.read_text())


def test_every_property_is_documented_and_every_string_bounded() -> None:
    undocumented, unbounded = [], []
    for path, node in walk(root_schema()):
        documentable = path.startswith((".spec.", ".status.")) and not path.endswith(".*")
        if documentable and not node.get("description"):
            undocumented.append(path)
        # The API server estimates each CEL rule's cost from these bounds.
        if node.get("type") == "string" and "maxLength" not in node and "enum" not in node:
            unbounded.append(path)
    assert undocumented == []
    assert unbounded == [".apiVersion", ".kind"]


def test_every_free_text_string_of_the_spec_refuses_credentials() -> None:
    spec = at(root_schema(), "spec")
    missing = [
        path
        for path, node in walk(spec, "spec")
        if node.get("type") == "string"
        and "enum" not in node
        and node.get("maxLength", 0) >= 39
        and crd.NOT_A_CREDENTIAL.rule not in rules(node)
    ]
    assert missing == []
    for path in ["gemini.model", "image", "monitoring.podMonitorLabels.*", "imagePullSecrets"]:
        node = at(spec, path) if not path.endswith("Secrets") else at(spec, path)["items"]
        assert crd.NOT_A_CREDENTIAL.rule in rules(node), path


def test_defaults_are_written_out_in_full() -> None:
    # A real API server checks `default:` against the CEL rules without filling in the
    # nested defaults, so an object default must already hold every key its rules read.
    spec = at(root_schema(), "spec")
    assert at(spec, "phases")["default"] == {
        "processingStart": "06:00",
        "meetingStart": "07:00",
        "freeStart": "20:00",
    }
    assert at(spec, "personas")["default"] == {
        p: {"enabled": True} for p in ("spectra", "lynq", "paz")
    }
    assert at(spec, "redis")["default"]["managed"]["storage"] == {"size": "1Gi"}


def test_crd_has_status_subresource_printer_columns_and_short_names() -> None:
    definition = crd.custom_resource_definition()
    version = definition["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {col["name"]: col["jsonPath"] for col in version["additionalPrinterColumns"]}
    assert columns == {
        "Environment": ".spec.environment",
        "Ready": ".status.ready",
        "Status": '.status.conditions[?(@.type=="Ready")].reason',
        "Age": ".metadata.creationTimestamp",
    }
    assert "af" in definition["spec"]["names"]["shortNames"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_against_the_schema_and_the_types(path: Path) -> None:
    fleet = yaml.safe_load(path.read_text())
    jsonschema.Draft7Validator(root_schema()).validate(fleet)
    spec = parse_fleet(fleet["metadata"]["name"], fleet["spec"])
    namespace = fleet["metadata"]["namespace"]
    assert (namespace, spec.environment.value) in {
        ("agents-test", "test"),
        ("agents-prod", "production"),
    }


def test_the_types_fill_in_what_the_crd_defaults() -> None:
    # The operator reads what the API server stored; both must agree on every default.
    minimal = yaml.safe_load(EXAMPLES[0].read_text())["spec"]
    for key in ("timeZone", "redis", "postgresql", "pipeline"):
        minimal.pop(key, None)
    parsed = FleetSpec.model_validate(minimal).model_dump(by_alias=True, exclude_none=True)
    spec = at(root_schema(), "spec")
    for name, node in spec["properties"].items():
        if "default" in node:
            assert parsed[name] == node["default"], name


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


@pytest.mark.parametrize(
    ("schedule", "valid"),
    [
        ("0 6 * * *", True),
        ("@daily", True),
        ("*/5 * * * 1-5", True),
        ("30 23 31 12 7", True),
        ("0 6 * * MON-FRI", True),
        ("0 6 ? * sun", True),
        ("61 6 * * *", False),
        ("0 24 * * *", False),
        ("0 6 32 * *", False),
        ("0 6 * 13 *", False),
        ("0 6 * * 8", False),
        ("0 6 * *", False),
        ("*/0 * * * *", False),
    ],
)
def test_cron_rule_checks_each_field_range(schedule: str, valid: bool) -> None:
    # The same pattern is the CEL rule (RE2) and the operator's check (Python).
    assert bool(re.match(CRON_PATTERN, schedule)) is valid
    assert any(
        "self.matches" in rule for rule in rules(at(root_schema(), "spec.pipeline.schedule"))
    )


def test_credential_shapes_are_caught_and_key_names_are_not() -> None:
    assert looks_like_credential(DISCORD_TOKEN) and looks_like_credential(GOOGLE_KEY)
    assert looks_like_credential(f"gemini {GOOGLE_KEY}")
    for harmless in ["DISCORD_RECEPTION_TOKEN", "gemini-3.8-flash", "ghcr.io/agentfleet/x:0.1"]:
        assert not looks_like_credential(harmless), harmless
    assert all(p in crd.NOT_A_CREDENTIAL.rule for p in CREDENTIAL_PATTERNS)


def test_operator_names_every_field_that_slips_past_the_schema() -> None:
    fleet = yaml.safe_load(EXAMPLES[0].read_text())
    fleet["spec"]["timeZone"] = "Asia/Tokio"  # shape-valid, but no such zone
    fleet["spec"]["gemini"]["model"] = GOOGLE_KEY
    with pytest.raises(SpecError) as info:
        parse_fleet("1fleet", fleet["spec"])
    problems = "\n".join(info.value.problems)
    assert "metadata.name: must start with a letter" in problems
    assert "spec.gemini.model: this looks like a credential" in problems
    assert "spec.timeZone: unknown IANA time zone 'Asia/Tokio'" in problems
    assert GOOGLE_KEY not in problems


def test_operator_checks_quantities_like_the_crd() -> None:
    fleet = yaml.safe_load(EXAMPLES[0].read_text())
    fleet["spec"]["resources"] = {"requests": {"memory": "512Mi"}, "limits": {"memory": "256Mi"}}
    with pytest.raises(SpecError, match=r"limits.memory \(256Mi\) is below requests.memory"):
        parse_spec(fleet["spec"])
    fleet["spec"]["resources"] = {"requests": {"memory": "-1Mi", "cpu": 1}}
    with pytest.raises(SpecError, match="not a non-negative quantity"):
        parse_spec(fleet["spec"])


def _strip_helm(text: str) -> str:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("{{")]
    return "\n".join(lines)


def _render_loosely(text: str) -> list[dict[str, Any]]:
    """Render a template without helm: drop directive lines, blank out inline expressions."""
    body = _strip_helm(text)
    body = re.sub(r"\{\{.*?\}\}", "x", body)
    return [doc for doc in yaml.safe_load_all(body) if doc]


def test_chart_rbac_never_reads_secrets() -> None:
    docs = _render_loosely((CHART / "templates" / "clusterrole.yaml").read_text())
    roles = [doc for doc in docs if doc["kind"] == "ClusterRole"]
    secret_verbs = {
        verb
        for role in roles
        for rule in role["rules"]
        if "secrets" in rule["resources"] or "*" in rule["resources"]
        for verb in rule["verbs"]
    }
    assert secret_verbs == {"create"}
    assert all("*" not in rule["verbs"] for role in roles for rule in role["rules"])


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
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(values)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate({**values, "operator": {"logFormat": "xml"}})
