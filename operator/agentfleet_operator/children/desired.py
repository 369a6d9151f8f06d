"""The full desired set of children of a fleet, in apply order, and what may need pruning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from agentfleet_operator.api.types import FleetSpec
from agentfleet_operator.children import basics, stores, workloads
from agentfleet_operator.config import config_data
from agentfleet_operator.meta import FleetRef, child_name
from agentfleet_runtime.contract import PERSONAS


@dataclass(frozen=True)
class ResourceType:
    """An API resource the operator writes: enough to build its URLs."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        """Return ``group/version`` (or ``v1`` for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def _base(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(self, namespace: str, name: str | None = None) -> str:
        """Return the URL path of the collection in ``namespace``, or of one object."""
        path = f"{self._base}/namespaces/{namespace}/{self.plural}"
        return f"{path}/{name}" if name else path

    def collection(self, namespace: str | None) -> str:
        """Return the URL path of the collection in ``namespace``, or in every namespace."""
        return self.path(namespace) if namespace else f"{self._base}/{self.plural}"


DEPLOYMENTS: Final = ResourceType("apps", "v1", "deployments", "Deployment")
STATEFULSETS: Final = ResourceType("apps", "v1", "statefulsets", "StatefulSet")
CRONJOBS: Final = ResourceType("batch", "v1", "cronjobs", "CronJob")
SERVICES: Final = ResourceType("", "v1", "services", "Service")
CONFIGMAPS: Final = ResourceType("", "v1", "configmaps", "ConfigMap")
SERVICEACCOUNTS: Final = ResourceType("", "v1", "serviceaccounts", "ServiceAccount")
SECRETS: Final = ResourceType("", "v1", "secrets", "Secret")
EVENTS: Final = ResourceType("", "v1", "events", "Event")
NETWORKPOLICIES: Final = ResourceType("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy")
PODMONITORS: Final = ResourceType("monitoring.coreos.com", "v1", "podmonitors", "PodMonitor")

#: Kinds whose changes the operator watches, to repair drift within seconds and to know
#: its children without reading them (see ``cache``). PodMonitors are watched once their
#: CRD exists (kopf notices it appear).
WATCHED: Final = (
    DEPLOYMENTS,
    STATEFULSETS,
    CRONJOBS,
    SERVICES,
    CONFIGMAPS,
    SERVICEACCOUNTS,
    NETWORKPOLICIES,
    PODMONITORS,
)


@dataclass(frozen=True)
class Child:
    """One desired child: where it lives, its manifest, and which component it serves."""

    resource: ResourceType
    body: dict[str, Any]
    component: str | None = None
    """Set for workloads whose readiness is reported in the fleet's status."""

    @property
    def name(self) -> str:
        """Return the child's name."""
        return str(self.body["metadata"]["name"])


def desired_children(fleet: FleetRef, spec: FleetSpec) -> list[Child]:
    """Return every child the spec asks for, in an order that keeps Pods happy.

    Configuration first (ServiceAccount, ConfigMap, NetworkPolicy), then stores, then the
    bots that depend on them, then the CronJob.
    """
    data = config_data(fleet, spec)
    children = [
        Child(SERVICEACCOUNTS, basics.service_account(fleet)),
        Child(CONFIGMAPS, basics.config_map(fleet, data)),
        Child(NETWORKPOLICIES, basics.network_policy(fleet)),
    ]
    if spec.redis.managed:
        children += [
            Child(SERVICES, stores.redis_service(fleet)),
            Child(STATEFULSETS, stores.redis_statefulset(fleet, spec.redis.managed), "redis"),
        ]
    if spec.postgresql.managed:
        children += [
            Child(SERVICES, stores.postgres_service(fleet)),
            Child(
                STATEFULSETS,
                stores.postgres_statefulset(fleet, spec.postgresql.managed),
                "postgresql",
            ),
        ]
    children.append(
        Child(DEPLOYMENTS, workloads.reception_deployment(fleet, spec, data), "reception")
    )
    for persona in spec.personas.enabled():
        body = workloads.persona_deployment(fleet, spec, data, persona)
        children.append(Child(DEPLOYMENTS, body, persona))
    children.append(Child(CRONJOBS, workloads.pipeline_cronjob(fleet, spec), "pipeline"))
    if spec.monitoring.pod_monitor:
        children.append(Child(PODMONITORS, basics.pod_monitor(fleet, spec)))
    return children


#: Kinds that run Pods; everything else is what those Pods read, and is applied first.
WORKLOAD_KINDS: Final = frozenset({"Deployment", "StatefulSet", "CronJob"})


def apply_waves(children: list[Child]) -> list[list[Child]]:
    """Split children into what Pods read (first) and the workloads that run them (then)."""
    plumbing = [child for child in children if child.resource.kind not in WORKLOAD_KINDS]
    workloads = [child for child in children if child.resource.kind in WORKLOAD_KINDS]
    return [wave for wave in (plumbing, workloads) if wave]


def possible_children(fleet: FleetRef) -> list[tuple[ResourceType, str]]:
    """Return every child a fleet can have whatever its spec: the candidates for pruning."""
    names: list[tuple[ResourceType, str]] = [
        (SERVICES, child_name(fleet, "redis")),
        (STATEFULSETS, child_name(fleet, "redis")),
        (SERVICES, child_name(fleet, "postgresql")),
        (STATEFULSETS, child_name(fleet, "postgresql")),
        (PODMONITORS, child_name(fleet)),
    ]
    names += [(DEPLOYMENTS, child_name(fleet, persona)) for persona in PERSONAS]
    return names
