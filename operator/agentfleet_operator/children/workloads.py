"""The bots: a Deployment for reception and one per enabled persona, and the pipeline CronJob."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentfleet_operator.api import constants as c
from agentfleet_operator.api.types import FleetSpec
from agentfleet_operator.children import pods
from agentfleet_operator.config import config_hash
from agentfleet_operator.meta import FleetRef, child_name, labels, object_meta, selector_labels
from agentfleet_runtime.contract import TOKEN_ENV, Env, Role, command


def config_map_name(fleet: FleetRef) -> str:
    """Return the name of the fleet's ConfigMap."""
    return child_name(fleet, "config")


def _secret_env(
    fleet: FleetRef, spec: FleetSpec, *, bot: str | None, gemini: bool
) -> list[dict[str, Any]]:
    """Secret env of a Pod: only what its role uses (a Discord token, the LLM key), store URLs.

    Least privilege inside the fleet too: reception never calls Gemini and the pipeline
    never logs in to Discord, so neither Pod can read what it does not need.
    """
    env: list[dict[str, Any]] = []
    if bot is not None:
        tokens = spec.discord.tokens_secret_ref
        env.append(pods.secret_env(TOKEN_ENV[bot].value, (tokens.name, tokens.key_for(bot))))
    if gemini:
        env.append(pods.secret_env(Env.GEMINI_API_KEY.value, spec.gemini.api_key_secret_ref))
    env += pods.store_url_env(fleet, spec)
    return env


def _container(
    fleet: FleetRef,
    spec: FleetSpec,
    *,
    name: str,
    argv: list[str],
    env: list[dict[str, Any]],
    resources: dict[str, Any],
    serving: bool,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": argv,
        "envFrom": pods.config_env_from(config_map_name(fleet)),
        "env": env,
        "resources": resources,
        "securityContext": pods.container_security_context(),
        "volumeMounts": [pods.tmp_mount()],
    }
    if serving:
        container["ports"] = [pods.metrics_port()]
        container.update(pods.http_probes())
    return container


def _pod_spec(
    fleet: FleetRef, spec: FleetSpec, containers: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "serviceAccountName": child_name(fleet),
        # The bots never talk to the Kubernetes API: no token in their Pods.
        "automountServiceAccountToken": False,
        "securityContext": pods.pod_security_context(pods.BOT_UID),
        "imagePullSecrets": pods.pull_secrets(spec),
        "terminationGracePeriodSeconds": 30,
        "containers": containers,
        "volumes": [pods.tmp_volume()],
        **extra,
    }


def _deployment(
    fleet: FleetRef,
    spec: FleetSpec,
    *,
    component: str,
    pod_spec: dict[str, Any],
    config_hash_value: str,
) -> dict[str, Any]:
    annotations = {c.CONFIG_HASH_ANNOTATION: config_hash_value, **pods.scrape_annotations(spec)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(fleet, child_name(fleet, component), component),
        "spec": {
            # One bot token is one gateway session: never two Pods of a bot at once.
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector_labels(fleet, component)},
            "template": {
                "metadata": {"labels": labels(fleet, component), "annotations": annotations},
                "spec": pod_spec,
            },
        },
    }


def reception_deployment(
    fleet: FleetRef, spec: FleetSpec, config: Mapping[str, str]
) -> dict[str, Any]:
    """Return reception's Deployment; its init container migrates the database schema."""
    migrate = _container(
        fleet,
        spec,
        name="migrate",
        argv=command(Role.MIGRATE),
        env=pods.store_url_env(fleet, spec),
        resources=pods.resources_for(spec, None),
        serving=False,
    )
    main = _container(
        fleet,
        spec,
        name="reception",
        argv=command(Role.RECEPTION),
        env=_secret_env(fleet, spec, bot="reception", gemini=False),
        resources=pods.resources_for(spec, None),
        serving=True,
    )
    return _deployment(
        fleet,
        spec,
        component="reception",
        pod_spec=_pod_spec(fleet, spec, [main], initContainers=[migrate]),
        config_hash_value=config_hash(config, Role.RECEPTION),
    )


def persona_deployment(
    fleet: FleetRef, spec: FleetSpec, config: Mapping[str, str], persona: str
) -> dict[str, Any]:
    """Return one persona worker's Deployment (its own token, its own model override)."""
    persona_spec = spec.personas.get(persona)
    env = _secret_env(fleet, spec, bot=persona, gemini=True)
    if persona_spec.model:
        # `env` wins over `envFrom`, so only this persona uses the other model.
        env.append({"name": Env.GEMINI_MODEL.value, "value": persona_spec.model})
    main = _container(
        fleet,
        spec,
        name=persona,
        argv=command(Role.PERSONA, persona),
        env=env,
        resources=pods.resources_for(spec, persona_spec.resources),
        serving=True,
    )
    return _deployment(
        fleet,
        spec,
        component=persona,
        pod_spec=_pod_spec(fleet, spec, [main]),
        config_hash_value=config_hash(config, Role.PERSONA),
    )


def pipeline_schedule(spec: FleetSpec) -> str:
    """Return the CronJob schedule: the spec's, else daily at ``phases.processingStart``."""
    if spec.pipeline.schedule:
        return spec.pipeline.schedule
    hour, minute = spec.phases.processing_start.split(":")
    return f"{int(minute)} {int(hour)} * * *"


def pipeline_cronjob(fleet: FleetRef, spec: FleetSpec) -> dict[str, Any]:
    """Return the daily pipeline CronJob (in the fleet's zone, never two runs at once)."""
    pipeline = spec.pipeline
    main = _container(
        fleet,
        spec,
        name="pipeline",
        argv=command(Role.PIPELINE),
        # The Daily Report is handed to SPECTRA's worker through Redis, which posts it.
        env=_secret_env(fleet, spec, bot=None, gemini=True),
        resources=pods.resources_for(spec, pipeline.resources),
        serving=False,
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": object_meta(fleet, child_name(fleet, "pipeline"), "pipeline"),
        "spec": {
            "schedule": pipeline_schedule(spec),
            "timeZone": spec.time_zone,
            "concurrencyPolicy": "Forbid",
            # The controller may skip a run (operator down, cluster busy); an hour late is
            # still useful, later is not. Jobs are idempotent per logical date.
            "startingDeadlineSeconds": pipeline.starting_deadline_seconds,
            "suspend": pipeline.suspend,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels(fleet, "pipeline")},
                "spec": {
                    "backoffLimit": pipeline.backoff_limit,
                    "activeDeadlineSeconds": pipeline.active_deadline_seconds,
                    "ttlSecondsAfterFinished": 86400,
                    "template": {
                        "metadata": {"labels": labels(fleet, "pipeline")},
                        "spec": _pod_spec(fleet, spec, [main], restartPolicy="Never"),
                    },
                },
            },
        },
    }
