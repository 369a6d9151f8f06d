"""Generate the AgentFleet CustomResourceDefinition from the API's types.

``python -m agentfleet_operator.api.crd`` writes ``crds/agentfleet.dev_agentfleets.yaml``
and the Helm chart's CRD template; ``--check`` only reports whether they are current (a
test runs the same check). Nobody edits those files by hand.

Pydantic already turns the types into a JSON schema; this module reshapes it into the
*structural* OpenAPI schema a CRD must have: references inlined, ``X | None`` as plain
``X``, no titles, exclusive bounds in OpenAPI 3.0 form, ``const`` as a one-value ``enum``,
defaults written out in full (the API server checks each default against the CEL rules
without filling in nested defaults), descriptions on one line, and the credential rule on
every free-text string of the spec.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel

from agentfleet_operator.api import constants as c
from agentfleet_operator.api.cel import NOT_A_CREDENTIAL, VALIDATIONS, Cel, matches
from agentfleet_operator.api.types import (
    FLEET_NAME,
    MAX_FLEET_NAME_LENGTH,
    FleetSpec,
    FleetStatus,
)

REPOSITORY: Final = Path(__file__).resolve().parents[3]
CRD_FILE: Final = REPOSITORY / "crds" / f"{c.GROUP}_{c.PLURAL}.yaml"
CHART_CRD_FILE: Final = REPOSITORY / "charts" / "agentfleet" / "templates" / "crd.yaml"

#: Rules on the object itself: its name becomes the prefix of every child's name.
ROOT_RULES: Final = (
    Cel(
        f"size(self.metadata.name) <= {MAX_FLEET_NAME_LENGTH}",
        f"must be at most {MAX_FLEET_NAME_LENGTH} characters (children's names "
        "and labels derive from it)",
        field_path=".metadata.name",
    ),
    Cel(
        matches(FLEET_NAME).replace("self.", "self.metadata.name.", 1),
        "must start with a letter and hold only lowercase letters, digits and "
        "'-' (it names the fleet's Services)",
        field_path=".metadata.name",
    ),
)

PRINTER_COLUMNS: Final = [
    {
        "name": "Environment",
        "type": "string",
        "jsonPath": ".spec.environment",
        "description": "test or production",
    },
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": ".status.ready",
        "description": "Ready components",
    },
    {
        "name": "Status",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
        "description": "Reason of the Ready condition",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def _without_none(value: Any) -> Any:
    """Drop None from a default: in Kubernetes an unset field is absent, never null."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Reshaper:
    """Turns one pydantic JSON schema into a structural OpenAPI v3 schema."""

    def __init__(self, definitions: dict[str, Any], *, credential_rule: bool) -> None:
        self.definitions = definitions
        self.credential_rule = credential_rule

    def node(self, schema: dict[str, Any]) -> dict[str, Any]:
        schema = copy.deepcopy(schema)
        schema.pop("title", None)
        if "$ref" in schema:
            target = self.definitions[schema.pop("$ref").rsplit("/", 1)[-1]]
            schema = self._merge(self.node(target), schema)
        options = schema.pop("anyOf", None)
        if options is not None:
            kept = [o for o in options if o.get("type") != "null"]
            if len(kept) == 1:
                schema = self._merge(self.node(kept[0]), schema)
            else:  # int-or-string: the one union a structural schema allows
                schema["anyOf"] = [{"type": o["type"]} for o in kept]
        if schema.get("default", 0) is None:
            del schema["default"]
        elif "default" in schema:
            schema["default"] = _without_none(schema["default"])
        if "const" in schema:
            schema["enum"] = [schema.pop("const")]
        for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if isinstance(schema.get(bound), int | float) and not isinstance(schema[bound], bool):
                schema[limit] = schema[bound]
                schema[bound] = True
        if "description" in schema:
            schema["description"] = _one_line(schema["description"])
        if "properties" in schema:
            schema["properties"] = {k: self.node(v) for k, v in schema["properties"].items()}
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                schema[key] = self.node(schema[key])
        if self.credential_rule and _may_hold_a_credential(schema):
            rules = schema.setdefault(VALIDATIONS, [])
            if NOT_A_CREDENTIAL.as_schema() not in rules:
                rules.append(NOT_A_CREDENTIAL.as_schema())
        return _ordered(schema)

    @staticmethod
    def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
        """Field-level keys (description, default, rules) on top of the referenced type's."""
        merged = {**base, **{k: v for k, v in overrides.items() if k != VALIDATIONS}}
        rules = base.get(VALIDATIONS, []) + [
            r for r in overrides.get(VALIDATIONS, []) if r not in base.get(VALIDATIONS, [])
        ]
        if rules:
            merged[VALIDATIONS] = rules
        return merged


#: The shortest credential shape (a Google API key) has 39 characters.
_SHORTEST_CREDENTIAL: Final = 39


def _may_hold_a_credential(schema: dict[str, Any]) -> bool:
    """Whether a string field is free enough to receive a pasted token or key."""
    if schema.get("type") != "string" or "enum" in schema:
        return False
    return int(schema.get("maxLength", _SHORTEST_CREDENTIAL)) >= _SHORTEST_CREDENTIAL


#: Key order in the generated YAML, so a reader sees what a field is before its details.
_KEY_ORDER: Final = (
    "type",
    "description",
    "format",
    "anyOf",
    "x-kubernetes-int-or-string",
    "enum",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "maxProperties",
    "items",
    "additionalProperties",
    "properties",
    "required",
    "default",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    VALIDATIONS,
)


def _ordered(schema: dict[str, Any]) -> dict[str, Any]:
    known = [k for k in _KEY_ORDER if k in schema]
    unknown = sorted(k for k in schema if k not in _KEY_ORDER)
    if unknown:
        raise ValueError(f"the CRD generator does not know the schema keys {unknown}")
    ordered = {k: schema[k] for k in known}
    if VALIDATIONS in ordered:
        ordered[VALIDATIONS] = [
            {key: r[key] for key in ("rule", "message", "fieldPath") if key in r}
            for r in ordered[VALIDATIONS]
        ]
    return ordered


def openapi_schema(model: type[BaseModel], *, credential_rule: bool) -> dict[str, Any]:
    """Return the structural OpenAPI schema of ``model`` as the CRD embeds it."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.pop("$defs", {})
    return _Reshaper(definitions, credential_rule=credential_rule).node(raw)


def custom_resource_definition() -> dict[str, Any]:
    """Return the whole AgentFleet CRD."""
    root = {
        "type": "object",
        "description": "AgentFleet: three AI colleagues (SPECTRA, LYNQ, PAZ) for one Discord "
        "server.",
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            # A CRD may constrain only metadata.name; declaring it lets the root rules
            # report their errors at that field.
            "metadata": {
                "type": "object",
                "properties": {"name": {"type": "string", "maxLength": 253}},
            },
            "spec": openapi_schema(FleetSpec, credential_rule=True),
            "status": openapi_schema(FleetStatus, credential_rule=False),
        },
        "required": ["spec"],
        VALIDATIONS: [rule.as_schema() for rule in ROOT_RULES],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{c.PLURAL}.{c.GROUP}"},
        "spec": {
            "group": c.GROUP,
            "names": {
                "kind": c.KIND,
                "listKind": f"{c.KIND}List",
                "plural": c.PLURAL,
                "singular": c.KIND.lower(),
                "shortNames": ["af", "fleet"],
                "categories": ["agentfleet"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": c.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no anchors, block style."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(document: dict[str, Any]) -> str:
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    if "{{" in text:  # it is also a Helm template: a literal {{ would be read as an action
        raise ValueError("the CRD contains '{{', which Helm would try to render")
    return text


_HEADER: Final = (
    "# Generated by `python -m agentfleet_operator.api.crd` from "
    "operator/agentfleet_operator/api/types.py.\n# Do not edit: change the types and run the "
    "command again.\n"
)


def rendered_files() -> dict[Path, str]:
    """Return the content each generated file must have."""
    crd = custom_resource_definition()
    chart_crd = copy.deepcopy(crd)
    # Templated rather than in the chart's crds/ folder, so `helm upgrade` upgrades it;
    # "keep" means `helm uninstall` never deletes the CRD and with it every fleet.
    chart_crd["metadata"]["annotations"] = {"helm.sh/resource-policy": "keep"}
    return {
        CRD_FILE: _HEADER + _dump(crd),
        CHART_CRD_FILE: "{{- if .Values.crds.install }}\n"
        + _HEADER
        + _dump(chart_crd)
        + "{{- end }}\n",
    }


def stale_files() -> list[Path]:
    """Return the generated files whose content on disk is not what the types produce."""
    return [
        path
        for path, text in rendered_files().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    """Write the generated files (or, with ``--check``, report the stale ones)."""
    parser = argparse.ArgumentParser(prog="python -m agentfleet_operator.api.crd")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path.relative_to(REPOSITORY)}", file=sys.stderr)
        return 1 if stale else 0
    for path, text in rendered_files().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(REPOSITORY)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
