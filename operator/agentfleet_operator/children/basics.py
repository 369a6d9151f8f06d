"""The fleet's plumbing: ServiceAccount, ConfigMap, NetworkPolicy, PodMonitor, store Secret."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from agentfleet_operator.api.types import FleetSpec
from agentfleet_operator.children import pods, stores
from agentfleet_operator.children.workloads import config_map_name
from agentfleet_operator.meta import FleetRef, child_name, fleet_selector, object_meta
from agentfleet_runtime.contract import HEALTH_PORT, METRICS_PATH

#: The component label of objects that belong to the fleet as a whole.
FLEET_COMPONENT = "fleet"


def service_account(fleet: FleetRef) -> dict[str, Any]:
    """Return the bots' ServiceAccount; it grants nothing and mounts no token."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(fleet, child_name(fleet), FLEET_COMPONENT),
        "automountServiceAccountToken": False,
    }


def config_map(fleet: FleetRef, data: Mapping[str, str]) -> dict[str, Any]:
    """Return the ConfigMap of non-secret settings (see ``config.config_data``)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(fleet, config_map_name(fleet), FLEET_COMPONENT),
        "data": dict(data),
    }


def network_policy(fleet: FleetRef) -> dict[str, Any]:
    """Return the NetworkPolicy: only the fleet's own Pods reach the stores.

    Ingress to any fleet Pod is allowed from the fleet's Pods (bots to stores) and, on the
    health/metrics port only, from anywhere (Prometheus, probes). Egress stays open: the bots
    need Discord, the Gemini API and DNS, whose addresses a policy cannot pin down.
    """
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(fleet, child_name(fleet), FLEET_COMPONENT),
        "spec": {
            "podSelector": {"matchLabels": fleet_selector(fleet)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"podSelector": {"matchLabels": fleet_selector(fleet)}}]},
                {"ports": [{"port": HEALTH_PORT, "protocol": "TCP"}]},
            ],
        },
    }


def pod_monitor(fleet: FleetRef, spec: FleetSpec) -> dict[str, Any]:
    """Return a Prometheus Operator PodMonitor scraping every bot's /metrics."""
    meta = object_meta(fleet, child_name(fleet), FLEET_COMPONENT)
    meta["labels"] = {**spec.monitoring.pod_monitor_labels, **meta["labels"]}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": fleet_selector(fleet)},
            "podMetricsEndpoints": [{"port": pods.METRICS_PORT_NAME, "path": METRICS_PATH}],
        },
    }


def store_secret(fleet: FleetRef, *, token: Any = secrets.token_urlsafe) -> dict[str, Any]:
    """Return the generated-password Secret, created once and never read back.

    URL-safe passwords need no escaping inside the URLs. Both stores get a password even if
    external today, so switching a store to managed later needs no second Secret. The Secret
    has no owner reference on purpose: like the volume claims, it survives the fleet.
    """
    redis_password = token(32)
    postgres_password = token(32)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(fleet, pods.store_secret_name(fleet), FLEET_COMPONENT, owned=False),
        "type": "Opaque",
        "stringData": {
            pods.REDIS_PASSWORD_KEY: redis_password,
            pods.REDIS_URL_KEY: stores.redis_url(fleet, redis_password),
            pods.POSTGRES_PASSWORD_KEY: postgres_password,
            pods.POSTGRES_URL_KEY: stores.postgres_url(fleet, postgres_password),
        },
    }
