"""The operator's Pods and the runtime agree: each container's environment and command
start its role without a configuration error.

This is the one place both sides are checked together: the ConfigMap the operator writes,
the variables it adds per container, and Secret references filled with stand-in values are
handed to the runtime's own settings loader and command-line parser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agentfleet_operator.api.types import parse_spec
from agentfleet_operator.children.desired import desired_children
from agentfleet_operator.meta import FleetRef
from agentfleet_runtime.cli import parse_args
from agentfleet_runtime.config import load_settings
from agentfleet_runtime.contract import Env, Role

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {
    "fleet-test": ROOT / "examples" / "fleet-test.yaml",
    "fleet-production": ROOT / "examples" / "fleet-production.yaml",
}
FLEET = FleetRef(name="demo", namespace="agents-test", uid="uid-1", generation=1)


def pod_specs(example: str) -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    """Container name → (container, ConfigMap data) for every workload of the example."""
    manifest = yaml.safe_load(EXAMPLES[example].read_text())
    children = desired_children(FLEET, parse_spec(manifest["spec"]))
    config = next(c.body["data"] for c in children if c.resource.kind == "ConfigMap")
    found = {}
    for child in children:
        if child.resource.kind not in ("Deployment", "CronJob"):
            continue
        spec = child.body["spec"]
        if child.resource.kind == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        for container in spec["template"]["spec"]["containers"]:
            if container["command"][0] == "agentfleet":
                found[child.name] = (container, config)
    return found


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_every_bot_container_starts_its_role(example: str, monkeypatch: pytest.MonkeyPatch) -> None:
    containers = pod_specs(example)
    assert containers, "the example fleet has bot workloads"
    for name, (container, config) in containers.items():
        for variable in [*Env, "GOOGLE_GEMINI_BASE_URL"]:
            monkeypatch.delenv(variable, raising=False)
        for key, value in config.items():
            monkeypatch.setenv(key, value)
        for entry in container.get("env", []):
            # Secret references get a stand-in; plain values are taken as they are.
            value = entry.get("value", f"secret-for-{entry['name'].lower()}")
            monkeypatch.setenv(entry["name"], value)
        args = parse_args(container["command"][1:])
        settings = load_settings(Role(args.role), args.persona, env_file=None)
        assert manifest_environment(example) == settings.ENVIRONMENT, name
    assert {c["command"][1] for c, _ in containers.values()} >= {"reception", "persona"}


def manifest_environment(example: str) -> str:
    return str(yaml.safe_load(EXAMPLES[example].read_text())["spec"]["environment"])
