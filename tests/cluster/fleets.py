"""AgentFleet manifests for the cluster tests, built from the shipped examples."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import yaml

from tests.cluster.kube import ROOT, Cluster, wait_until

EXAMPLE_TEST = ROOT / "examples" / "fleet-test.yaml"
EXAMPLE_PRODUCTION = ROOT / "examples" / "fleet-production.yaml"


def merged(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``patch`` merged in, recursively (a JSON merge patch; None deletes)."""
    out = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def fleet(name: str, namespace: str, spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The test example renamed and moved, with ``spec`` merged into its spec."""
    manifest = yaml.safe_load(EXAMPLE_TEST.read_text())
    manifest["metadata"] = {"name": name, "namespace": namespace}
    manifest["spec"] = merged(manifest["spec"], spec or {})
    return dict(manifest)


def secrets(namespace: str, tokens: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The two Secrets a fleet references: the four bot tokens and the Gemini key."""
    tokens = tokens or {bot: f"{bot}-token" for bot in ("reception", "spectra", "lynq", "paz")}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "discord-tokens", "namespace": namespace},
            "stringData": {f"DISCORD_{bot.upper()}_TOKEN": t for bot, t in tokens.items()},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "gemini", "namespace": namespace},
            "stringData": {"GEMINI_API_KEY": "gemini-key-for-tests"},
        },
    ]


def condition(body: Mapping[str, Any] | None, ctype: str) -> dict[str, Any]:
    """One condition of a fleet's status (empty if absent)."""
    for cond in ((body or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return {}


def wait_for_condition(
    cluster: Cluster,
    namespace: str,
    name: str,
    ctype: str,
    status: str,
    *,
    reason: str | None = None,
    timeout: float = 120,
) -> dict[str, Any]:
    """Wait until the fleet's condition has ``status`` (and ``reason``); return the fleet."""

    def check() -> dict[str, Any] | None:
        body = cluster.get("agentfleet", name, namespace)
        cond = condition(body, ctype)
        generation = (body or {}).get("metadata", {}).get("generation")
        current = cond.get("status") == status and cond.get("observedGeneration") == generation
        return body if current and reason in (None, cond.get("reason")) else None

    return wait_until(check, timeout, f"{namespace}/{name} {ctype}={status} {reason or ''}")


def warning_events(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    """Warning Events posted about the fleet."""
    return [
        e
        for e in cluster.list("events", namespace)
        if e.get("involvedObject", {}).get("name") == name
        and e.get("involvedObject", {}).get("kind") == "AgentFleet"
        and e.get("type") == "Warning"
    ]
