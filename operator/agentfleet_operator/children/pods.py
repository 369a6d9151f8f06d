"""Pieces shared by every Pod the operator defines: security, probes, secret references."""

from __future__ import annotations

from typing import Any, Final

from agentfleet_operator.api.types import FleetSpec, Resources, SecretKeyRef
from agentfleet_operator.meta import FleetRef, child_name
from agentfleet_runtime.contract import HEALTH_PATH, HEALTH_PORT, METRICS_PATH, READY_PATH, Env

#: The bots' uid/gid; any non-root id works because the root filesystem is read-only.
BOT_UID: Final = 10001
#: The uid of both the redis (alpine) and postgres (debian) official images.
STORE_UID: Final = 999

#: Used when neither the spec nor a component override says otherwise. Each role measures
#: 88-103 MB resident after the end-to-end benchmark's load (docs/benchmarks.md), so the
#: request leaves room above that, and the limit room for a persona reading images.
DEFAULT_BOT_RESOURCES: Final = Resources(
    requests={"cpu": "50m", "memory": "128Mi"}, limits={"memory": "512Mi"}
)
METRICS_PORT_NAME: Final = "metrics"

#: Keys of the generated-password Secret (see ``children.basics.store_secret``).
REDIS_PASSWORD_KEY: Final = "redis-password"
REDIS_URL_KEY: Final = "redis-url"
POSTGRES_PASSWORD_KEY: Final = "postgresql-password"
POSTGRES_URL_KEY: Final = "postgresql-url"


def store_secret_name(fleet: FleetRef) -> str:
    """Return the name of the Secret holding the generated store passwords and URLs."""
    return child_name(fleet, "stores")


def pod_security_context(uid: int) -> dict[str, Any]:
    """Return a Pod securityContext that passes the ``restricted`` Pod Security profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """Return a container securityContext for the ``restricted`` profile, read-only root."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def tmp_volume() -> dict[str, Any]:
    """Return the emptyDir that gives a read-only container a writable /tmp."""
    return {"name": "tmp", "emptyDir": {}}


def tmp_mount() -> dict[str, Any]:
    """Return the mount of :func:`tmp_volume`."""
    return {"name": "tmp", "mountPath": "/tmp"}


def secret_env(name: str, ref: SecretKeyRef | tuple[str, str]) -> dict[str, Any]:
    """Return an env entry that reads ``name`` from a Secret key (never a literal value)."""
    secret, key = (ref.name, ref.key) if isinstance(ref, SecretKeyRef) else ref
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def store_url_env(fleet: FleetRef, spec: FleetSpec) -> list[dict[str, Any]]:
    """Return REDIS_URL and POSTGRESQL_URL, from the generated or the external Secret."""
    generated = store_secret_name(fleet)
    redis = spec.redis.external.url_secret_ref if spec.redis.external else None
    postgres = spec.postgresql.external.url_secret_ref if spec.postgresql.external else None
    return [
        secret_env(Env.REDIS_URL.value, redis or (generated, REDIS_URL_KEY)),
        secret_env(Env.POSTGRESQL_URL.value, postgres or (generated, POSTGRES_URL_KEY)),
    ]


def config_env_from(config_map: str) -> list[dict[str, Any]]:
    """Return the envFrom that loads every non-secret setting from the fleet's ConfigMap."""
    return [{"configMapRef": {"name": config_map}}]


def http_probes() -> dict[str, Any]:
    """Return startup, liveness (/health) and readiness (/ready) probes on the health port."""

    def get(path: str) -> dict[str, Any]:
        return {"path": path, "port": HEALTH_PORT}

    return {
        # Startup covers a slow first connect to Discord (up to 3 minutes) so that liveness
        # can be strict afterwards without killing a Pod that is still logging in.
        "startupProbe": {"httpGet": get(HEALTH_PATH), "periodSeconds": 5, "failureThreshold": 36},
        "livenessProbe": {
            "httpGet": get(HEALTH_PATH),
            "periodSeconds": 20,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": get(READY_PATH),
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
    }


def metrics_port() -> dict[str, Any]:
    """Return the container port serving /health, /ready and /metrics."""
    return {"name": METRICS_PORT_NAME, "containerPort": HEALTH_PORT, "protocol": "TCP"}


def scrape_annotations(spec: FleetSpec) -> dict[str, str]:
    """Return the prometheus.io annotations for a Pod template, if monitoring wants them."""
    if not spec.monitoring.scrape_annotations:
        return {}
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(HEALTH_PORT),
        "prometheus.io/path": METRICS_PATH,
    }


def pull_secrets(spec: FleetSpec) -> list[dict[str, str]]:
    """Return the imagePullSecrets of the bot Pods."""
    return [{"name": name} for name in spec.image_pull_secrets]


def resources_for(spec: FleetSpec, override: Resources | None) -> dict[str, Any]:
    """Return a container's resources: the override, else ``spec.resources``, else defaults."""
    return (override or spec.resources or DEFAULT_BOT_RESOURCES).as_k8s()
