"""CEL validation rules, written next to the fields they guard.

A :class:`Cel` in a field's ``Annotated[...]`` metadata (or in a model's ``__cel__``) becomes
an ``x-kubernetes-validations`` entry of the generated CRD, so the API server rejects a bad
AgentFleet at ``kubectl apply`` with the rule's message, before the operator ever sees it.

Rules are checked by a real API server in the cluster tests. Two of its habits shape them:
it validates each ``default:`` against the rules without applying nested defaults (so
defaults are written out in full by the generator), and it estimates every rule's cost from
the ``maxLength``/``maxItems`` bounds (so every string carries a ``maxLength``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from agentfleet_runtime.contract import CREDENTIAL_PATTERNS

VALIDATIONS = "x-kubernetes-validations"


@dataclass(frozen=True)
class Cel:
    """One CEL rule and the message the API server returns when it is false."""

    rule: str
    message: str
    field_path: str | None = None
    """Where the API server reports the error (e.g. ``.metadata.name``), if not here."""

    def as_schema(self) -> dict[str, str]:
        """Return the ``x-kubernetes-validations`` entry."""
        entry = {"rule": self.rule, "message": self.message}
        if self.field_path:
            entry["fieldPath"] = self.field_path
        return entry

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Add this rule to the JSON schema pydantic generates for the annotated type."""
        json_schema = handler.resolve_ref_schema(handler(schema))
        json_schema.setdefault(VALIDATIONS, []).append(self.as_schema())
        return json_schema


def matches(pattern: str) -> str:
    """Return a CEL ``matches`` call on ``self``; a raw string needs no escaping."""
    if "'" in pattern:
        raise ValueError(f"a pattern with a single quote cannot be a CEL raw string: {pattern}")
    return f"self.matches(r'{pattern}')"


def model_rules(schema: dict[str, Any], model: type) -> None:
    """``json_schema_extra`` hook: add a model's own ``__cel__`` rules to its schema."""
    for rule in model.__dict__.get("__cel__", ()):
        schema.setdefault(VALIDATIONS, []).append(rule.as_schema())


#: Put on every free-text string by the CRD generator: credentials belong in Secrets.
NOT_A_CREDENTIAL = Cel(
    " && ".join(f"!{matches(p)}" for p in CREDENTIAL_PATTERNS),
    "this looks like a credential (a Discord bot token or a Google API key): put the value "
    "into a Secret and reference the Secret here",
)
