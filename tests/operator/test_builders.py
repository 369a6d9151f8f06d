"""The pure builders: what each child looks like for a given spec (no I/O)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentfleet_operator.api import constants as c
from agentfleet_operator.api.types import parse_spec
from agentfleet_operator.children.basics import store_secret
from agentfleet_operator.children.desired import Child, desired_children
from agentfleet_operator.children.workloads import pipeline_schedule
from agentfleet_operator.meta import FleetRef
from agentfleet_runtime.contract import HEALTH_PORT, SECRET_ENV
from tests.operator.conftest import BASE_SPEC

FLEET = FleetRef(name="demo", namespace="agents-test", uid="uid-1", generation=1)


def build(**overrides: Any) -> dict[tuple[str, str], Child]:
    spec = parse_spec({**BASE_SPEC, **overrides})
    return {(ch.resource.kind, ch.name): ch for ch in desired_children(FLEET, spec)}


def containers(child: Child) -> list[dict[str, Any]]:
    spec = child.body["spec"]
    if child.resource.kind == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = spec["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def test_default_fleet_has_exactly_the_expected_children() -> None:
    assert set(build()) == {
        ("ServiceAccount", "demo"),
        ("ConfigMap", "demo-config"),
        ("NetworkPolicy", "demo"),
        ("Service", "demo-redis"),
        ("StatefulSet", "demo-redis"),
        ("Service", "demo-postgresql"),
        ("StatefulSet", "demo-postgresql"),
        ("Deployment", "demo-reception"),
        ("Deployment", "demo-spectra"),
        ("Deployment", "demo-lynq"),
        ("Deployment", "demo-paz"),
        ("CronJob", "demo-pipeline"),
    }


def test_every_child_has_fixed_labels_and_a_controller_owner_reference() -> None:
    for child in build().values():
        meta = child.body["metadata"]
        assert meta["namespace"] == "agents-test"
        assert meta["labels"] == {
            c.LABEL_NAME: "agentfleet",
            c.LABEL_INSTANCE: "demo",
            c.LABEL_COMPONENT: meta["labels"][c.LABEL_COMPONENT],
            c.LABEL_PART_OF: "agentfleet",
            c.LABEL_MANAGED_BY: "agentfleet-operator",
        }
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "agentfleet.dev/v1alpha1",
                "kind": "AgentFleet",
                "name": "demo",
                "uid": "uid-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]


@pytest.mark.parametrize("name", ["demo-reception", "demo-spectra", "demo-lynq", "demo-paz"])
def test_bot_deployments_run_one_pod_with_probes_on_the_health_port(name: str) -> None:
    deployment = build()[("Deployment", name)].body
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    main = deployment["spec"]["template"]["spec"]["containers"][0]
    assert main["ports"] == [{"name": "metrics", "containerPort": HEALTH_PORT, "protocol": "TCP"}]
    assert main["startupProbe"]["httpGet"] == {"path": "/health", "port": HEALTH_PORT}
    assert main["livenessProbe"]["httpGet"] == {"path": "/health", "port": HEALTH_PORT}
    assert main["readinessProbe"]["httpGet"] == {"path": "/ready", "port": HEALTH_PORT}


def test_persona_commands_come_from_the_runtime_contract() -> None:
    children = build()
    reception = children[("Deployment", "demo-reception")]
    lynq = children[("Deployment", "demo-lynq")]
    assert [ct["command"] for ct in containers(reception)] == [
        ["agentfleet", "migrate"],
        ["agentfleet", "reception"],
    ]
    assert containers(lynq)[0]["command"] == ["agentfleet", "persona", "--persona", "lynq"]


def test_all_pods_meet_the_restricted_pod_security_profile() -> None:
    for child in build().values():
        if child.resource.kind not in {"Deployment", "StatefulSet", "CronJob"}:
            continue
        spec = child.body["spec"]
        if child.resource.kind == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]
        for container in containers(child):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_each_bot_gets_only_its_own_token_and_secrets_only_by_reference() -> None:
    children = build()
    for bot in ["reception", "spectra", "lynq", "paz"]:
        env = env_of(containers(children[("Deployment", f"demo-{bot}")])[-1])
        tokens = {name for name in env if name.startswith("DISCORD_") and "TOKEN" in name}
        assert tokens == {f"DISCORD_{bot.upper()}_TOKEN"}
        assert env[f"DISCORD_{bot.upper()}_TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": "discord-tokens",
            "key": f"DISCORD_{bot.upper()}_TOKEN",
        }
    # Each Pod holds only the secrets its role uses: reception never calls Gemini, the
    # pipeline never logs in to Discord (it hands the Daily Report to SPECTRA's worker).
    reception = env_of(containers(children[("Deployment", "demo-reception")])[-1])
    assert "GEMINI_API_KEY" not in reception
    pipeline = env_of(containers(children[("CronJob", "demo-pipeline")])[-1])
    assert set(pipeline) == {"GEMINI_API_KEY", "REDIS_URL", "POSTGRESQL_URL"}
    for child in children.values():
        for container in containers(child) if "template" in json.dumps(child.body) else []:
            for name, entry in env_of(container).items():
                if name in SECRET_ENV:
                    assert "value" not in entry, f"{child.name}: {name} is a literal"


def test_config_map_holds_environment_defaults_and_no_secret_names() -> None:
    test = build()[("ConfigMap", "demo-config")].body["data"]
    prod = build(environment="production")[("ConfigMap", "demo-config")].body["data"]
    assert (test["ENVIRONMENT"], test["AUTONOMOUS_SPEECH_INTERVAL_SECONDS"]) == ("test", "10")
    assert test["AUTONOMOUS_SPEECH_PROBABILITY"] == "1.0"
    assert (prod["ENVIRONMENT"], prod["AUTONOMOUS_SPEECH_INTERVAL_SECONDS"]) == (
        "production",
        "300",
    )
    assert prod["AUTONOMOUS_SPEECH_PROBABILITY"] == "0.33"
    assert (test["LOG_LEVEL"], prod["LOG_LEVEL"]) == ("DEBUG", "INFO")
    assert test["COMMAND_CENTER_CHANNEL_ID"] == "100000000000000011"
    assert not SECRET_ENV & set(test)
    overridden = build(speech={"intervalSeconds": 42, "probability": 0.0})
    data = overridden[("ConfigMap", "demo-config")].body["data"]
    assert data["AUTONOMOUS_SPEECH_INTERVAL_SECONDS"] == "42"
    assert data["AUTONOMOUS_SPEECH_PROBABILITY"] == "0.0"


def test_pipeline_cronjob_runs_in_the_fleet_zone_once_at_a_time() -> None:
    cron = build(timeZone="Europe/Berlin")[("CronJob", "demo-pipeline")].body["spec"]
    assert cron["schedule"] == "0 6 * * *"
    assert cron["timeZone"] == "Europe/Berlin"
    assert cron["concurrencyPolicy"] == "Forbid"
    assert cron["startingDeadlineSeconds"] == 3600
    assert 0 < cron["jobTemplate"]["spec"]["backoffLimit"] <= 3
    later = parse_spec({**BASE_SPEC, "phases": {"processingStart": "05:30"}})
    assert pipeline_schedule(later) == "30 5 * * *"
    custom = parse_spec({**BASE_SPEC, "pipeline": {"schedule": "15 4 * * 1-5"}})
    assert pipeline_schedule(custom) == "15 4 * * 1-5"


def test_managed_stores_use_pinned_images_and_keep_their_volumes() -> None:
    children = build()
    redis = children[("StatefulSet", "demo-redis")].body
    postgres = children[("StatefulSet", "demo-postgresql")].body
    image = redis["spec"]["template"]["spec"]["containers"][0]["image"]
    major_minor = tuple(int(x) for x in image.split(":")[1].split("-")[0].split(".")[:2])
    assert image.startswith("redis:") and major_minor <= (7, 2)
    assert postgres["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "pgvector/pgvector:pg17"
    )
    for sts in (redis, postgres):
        assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    postgres_env = env_of(postgres["spec"]["template"]["spec"]["containers"][0])
    assert postgres_env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "demo-stores",
        "key": "postgresql-password",
    }


def test_external_stores_replace_statefulsets_with_secret_references() -> None:
    children = build(
        postgresql={"external": {"urlSecretRef": {"name": "db-app", "key": "uri"}}},
        redis={"external": {"urlSecretRef": {"name": "cache", "key": "url"}}},
    )
    assert not [k for k in children if k[0] in {"StatefulSet", "Service"}]
    env = env_of(containers(children[("Deployment", "demo-spectra")])[0])
    assert env["POSTGRESQL_URL"]["valueFrom"]["secretKeyRef"] == {"name": "db-app", "key": "uri"}
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "cache", "key": "url"}


def test_disabled_persona_has_no_deployment_and_reception_knows() -> None:
    children = build(personas={"paz": {"enabled": False}})
    assert ("Deployment", "demo-paz") not in children
    data = children[("ConfigMap", "demo-config")].body["data"]
    assert data["ENABLED_PERSONAS"] == "spectra,lynq"


def test_a_reception_only_setting_changes_only_receptions_pod_template() -> None:
    before, after = build(), build(speech={"intervalSeconds": 60})
    changed = {key for key in before if before[key].body != after[key].body}
    assert changed == {("ConfigMap", "demo-config"), ("Deployment", "demo-reception")}


def test_a_persona_override_changes_only_that_persona() -> None:
    before, after = build(), build(personas={"lynq": {"model": "gemini-3.7-flash"}})
    changed = {key for key in before if before[key].body != after[key].body}
    assert changed == {("Deployment", "demo-lynq")}
    env = env_of(containers(after[("Deployment", "demo-lynq")])[0])
    assert env["GEMINI_MODEL"] == {"name": "GEMINI_MODEL", "value": "gemini-3.7-flash"}


def test_fleet_labels_are_not_copied_into_children() -> None:
    # Builders only see FleetRef: there is no path for the fleet's labels into children.
    assert "labels" not in FleetRef.__dataclass_fields__


def test_generated_store_secret_is_not_owned_and_embeds_passwords_in_urls() -> None:
    secret = store_secret(FLEET, token=lambda n: "x" * n)
    assert "ownerReferences" not in secret["metadata"]
    data = secret["stringData"]
    assert data["redis-url"] == f"redis://:{'x' * 32}@demo-redis:6379/0"
    assert data["postgresql-url"].startswith(f"postgresql://agentfleet:{'x' * 32}@demo-postgresql")


def test_network_policy_lets_only_fleet_pods_reach_the_stores() -> None:
    policy = build()[("NetworkPolicy", "demo")].body["spec"]
    selector = {c.LABEL_NAME: "agentfleet", c.LABEL_INSTANCE: "demo"}
    assert policy["podSelector"] == {"matchLabels": selector}
    assert policy["ingress"] == [
        {"from": [{"podSelector": {"matchLabels": selector}}]},
        {"ports": [{"port": HEALTH_PORT, "protocol": "TCP"}]},
    ]


def test_builders_are_deterministic() -> None:
    assert json.dumps([ch.body for ch in build().values()]) == json.dumps(
        [ch.body for ch in build().values()]
    )
