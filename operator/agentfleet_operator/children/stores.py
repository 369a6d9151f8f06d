"""Managed stores: Redis and PostgreSQL+pgvector, each a StatefulSet behind a headless Service.

Volume claims are retained when the fleet (and so the StatefulSet) is deleted: memories are
the one thing a user cannot recreate. The generated-password Secret is retained too, so that
a fleet recreated under the same name finds both its data and the password that opens it.
"""

from __future__ import annotations

from typing import Any, Final

from agentfleet_operator.api.types import ManagedPostgres, ManagedRedis, Resources
from agentfleet_operator.children import pods
from agentfleet_operator.meta import FleetRef, child_name, labels, object_meta, selector_labels

REDIS_PORT: Final = 6379
POSTGRES_PORT: Final = 5432
POSTGRES_USER: Final = "agentfleet"
POSTGRES_DB: Final = "agentfleet"

DEFAULT_REDIS_RESOURCES: Final = Resources(
    requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "256Mi"}
)
DEFAULT_POSTGRES_RESOURCES: Final = Resources(
    requests={"cpu": "100m", "memory": "256Mi"}, limits={"memory": "1Gi"}
)


def redis_host(fleet: FleetRef) -> str:
    """Return the in-namespace host name of the managed Redis."""
    return child_name(fleet, "redis")


def postgres_host(fleet: FleetRef) -> str:
    """Return the in-namespace host name of the managed PostgreSQL."""
    return child_name(fleet, "postgresql")


def _service(fleet: FleetRef, component: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(fleet, child_name(fleet, component), component),
        "spec": {
            # Headless: the StatefulSet's governing Service; one Pod, so DNS is enough.
            "clusterIP": "None",
            "selector": selector_labels(fleet, component),
            "ports": [{"name": component, "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }


def _statefulset(
    fleet: FleetRef,
    component: str,
    *,
    container: dict[str, Any],
    volumes: list[dict[str, Any]],
    data_path: str,
    storage_size: str,
    storage_class: str | None,
) -> dict[str, Any]:
    container["volumeMounts"] = [
        {"name": "data", "mountPath": data_path},
        *container.get("volumeMounts", []),
    ]
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": storage_size}},
    }
    if storage_class:
        claim_spec["storageClassName"] = storage_class
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": object_meta(fleet, child_name(fleet, component), component),
        "spec": {
            "replicas": 1,
            "serviceName": child_name(fleet, component),
            "selector": {"matchLabels": selector_labels(fleet, component)},
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Retain",
                "whenScaled": "Retain",
            },
            "template": {
                "metadata": {"labels": labels(fleet, component)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pods.pod_security_context(pods.STORE_UID),
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                    "volumes": volumes,
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data", "labels": labels(fleet, component)},
                    "spec": claim_spec,
                }
            ],
        },
    }


def redis_service(fleet: FleetRef) -> dict[str, Any]:
    """Return the managed Redis' headless Service."""
    return _service(fleet, "redis", REDIS_PORT)


def redis_statefulset(fleet: FleetRef, managed: ManagedRedis) -> dict[str, Any]:
    """Return the managed Redis StatefulSet (password from the generated Secret, AOF on)."""
    secret = pods.store_secret_name(fleet)
    container: dict[str, Any] = {
        "name": "redis",
        "image": managed.image,
        "command": ["redis-server"],
        # $(VAR) is expanded by the kubelet from env, so the password is never in the spec.
        "args": [
            "--requirepass",
            "$(REDIS_PASSWORD)",
            "--appendonly",
            "yes",
            "--dir",
            "/data",
            "--port",
            str(REDIS_PORT),
        ],
        "env": [
            pods.secret_env("REDIS_PASSWORD", (secret, pods.REDIS_PASSWORD_KEY)),
            # redis-cli reads this, so the probe needs no password on its command line.
            pods.secret_env("REDISCLI_AUTH", (secret, pods.REDIS_PASSWORD_KEY)),
        ],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "exec": {"command": ["redis-cli", "ping"]},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
        },
        "livenessProbe": {"tcpSocket": {"port": REDIS_PORT}, "periodSeconds": 20},
        "resources": (managed.resources or DEFAULT_REDIS_RESOURCES).as_k8s(),
        "securityContext": pods.container_security_context(),
        "volumeMounts": [pods.tmp_mount()],
    }
    return _statefulset(
        fleet,
        "redis",
        container=container,
        volumes=[pods.tmp_volume()],
        data_path="/data",
        storage_size=managed.storage.size,
        storage_class=managed.storage.storage_class_name,
    )


def postgres_service(fleet: FleetRef) -> dict[str, Any]:
    """Return the managed PostgreSQL's headless Service."""
    return _service(fleet, "postgresql", POSTGRES_PORT)


def postgres_statefulset(fleet: FleetRef, managed: ManagedPostgres) -> dict[str, Any]:
    """Return the managed PostgreSQL+pgvector StatefulSet."""
    secret = pods.store_secret_name(fleet)
    ready = ["pg_isready", "-h", "127.0.0.1", "-U", POSTGRES_USER, "-d", POSTGRES_DB]
    container: dict[str, Any] = {
        "name": "postgresql",
        "image": managed.image,
        "env": [
            {"name": "POSTGRES_USER", "value": POSTGRES_USER},
            {"name": "POSTGRES_DB", "value": POSTGRES_DB},
            pods.secret_env("POSTGRES_PASSWORD", (secret, pods.POSTGRES_PASSWORD_KEY)),
            # A subdirectory: the volume's root may hold lost+found, which initdb refuses.
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
        ],
        "ports": [{"name": "postgresql", "containerPort": POSTGRES_PORT, "protocol": "TCP"}],
        "readinessProbe": {"exec": {"command": ready}, "periodSeconds": 10, "timeoutSeconds": 5},
        "livenessProbe": {
            "exec": {"command": ready},
            "periodSeconds": 30,
            "timeoutSeconds": 5,
            "failureThreshold": 5,
        },
        "resources": (managed.resources or DEFAULT_POSTGRES_RESOURCES).as_k8s(),
        "securityContext": pods.container_security_context(),
        # The read-only root needs writable /tmp and the socket directory.
        "volumeMounts": [pods.tmp_mount(), {"name": "run", "mountPath": "/var/run/postgresql"}],
    }
    return _statefulset(
        fleet,
        "postgresql",
        container=container,
        volumes=[pods.tmp_volume(), {"name": "run", "emptyDir": {}}],
        data_path="/var/lib/postgresql/data",
        storage_size=managed.storage.size,
        storage_class=managed.storage.storage_class_name,
    )


def redis_url(fleet: FleetRef, password: str) -> str:
    """Return the URL of the managed Redis for a password (stored only in the Secret)."""
    return f"redis://:{password}@{redis_host(fleet)}:{REDIS_PORT}/0"


def postgres_url(fleet: FleetRef, password: str) -> str:
    """Return the URL of the managed PostgreSQL for a password (stored only in the Secret)."""
    return (
        f"postgresql://{POSTGRES_USER}:{password}@{postgres_host(fleet)}:{POSTGRES_PORT}/"
        f"{POSTGRES_DB}"
    )
