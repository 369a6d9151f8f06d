"""Names, labels and owner references of a fleet's children (pure functions).

Every child gets the same fixed ``app.kubernetes.io/*`` label set and one controller owner
reference to its fleet; nothing is copied from the fleet's own labels (unlike ``kopf.adopt``),
so a label someone puts on the AgentFleet never rolls its workloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentfleet_operator.api import constants as c


@dataclass(frozen=True)
class FleetRef:
    """What builders need to know about the fleet object itself (not its spec)."""

    name: str
    namespace: str
    uid: str
    generation: int | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> FleetRef:
        """Read the reference out of an AgentFleet object as the API returns it."""
        meta = body.get("metadata", {})
        uid = meta.get("uid")
        if not uid:
            # Owner references need it; the API server always sets it.
            raise ValueError(f"AgentFleet {meta.get('name')!r} has no metadata.uid")
        return cls(
            name=meta["name"],
            namespace=meta["namespace"],
            uid=uid,
            generation=meta.get("generation"),
        )


def child_name(fleet: FleetRef, suffix: str | None = None) -> str:
    """Return the name of a child: ``<fleet>`` or ``<fleet>-<suffix>``."""
    return fleet.name if not suffix else f"{fleet.name}-{suffix}"


def selector_labels(fleet: FleetRef, component: str) -> dict[str, str]:
    """Return the labels that select one component's Pods (immutable in a Deployment)."""
    return {
        c.LABEL_NAME: c.APP_NAME,
        c.LABEL_INSTANCE: fleet.name,
        c.LABEL_COMPONENT: component,
    }


def labels(fleet: FleetRef, component: str) -> dict[str, str]:
    """Return the fixed label set of every child and Pod."""
    return {
        **selector_labels(fleet, component),
        c.LABEL_PART_OF: c.APP_NAME,
        c.LABEL_MANAGED_BY: c.MANAGED_BY,
    }


def fleet_selector(fleet: FleetRef) -> dict[str, str]:
    """Return the labels that select every Pod of the fleet."""
    return {c.LABEL_NAME: c.APP_NAME, c.LABEL_INSTANCE: fleet.name}


def owner_reference(fleet: FleetRef) -> dict[str, Any]:
    """Return the controller owner reference that lets the garbage collector delete a child."""
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "name": fleet.name,
        "uid": fleet.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(
    fleet: FleetRef,
    name: str,
    component: str,
    *,
    annotations: Mapping[str, str] | None = None,
    owned: bool = True,
) -> dict[str, Any]:
    """Return ``metadata`` for a child: name, namespace, labels, owner reference."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": fleet.namespace,
        "labels": labels(fleet, component),
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    if owned:
        meta["ownerReferences"] = [owner_reference(fleet)]
    return meta


def owner_of(body: Mapping[str, Any]) -> str | None:
    """Return the name of the AgentFleet that controls ``body``, if any."""
    for ref in body.get("metadata", {}).get("ownerReferences", None) or []:
        api_version = str(ref.get("apiVersion", ""))
        if ref.get("kind") == c.KIND and api_version.split("/")[0] == c.GROUP:
            return str(ref.get("name"))
    return None


def is_owned_by(body: Mapping[str, Any], fleet: FleetRef) -> bool:
    """Whether ``body`` carries an owner reference to this very fleet (same uid)."""
    refs = body.get("metadata", {}).get("ownerReferences", None) or []
    return any(ref.get("uid") == fleet.uid for ref in refs)
