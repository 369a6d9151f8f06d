"""One reconcile pass of one fleet: read it, apply what differs, prune, report status.

Level-triggered and idempotent: the pass reads the fleet and each child fresh, so it does
not matter what woke it (a fleet event, a child event, the periodic resync). A child is
written only when it is missing, its desired manifest changed (the ``spec-hash``
annotation), or someone changed a field we set; otherwise the pass makes no writes at all.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

import aiohttp

from agentfleet_operator import metrics
from agentfleet_operator.api import constants as c
from agentfleet_operator.api.types import FleetSpec, SpecError, parse_fleet
from agentfleet_operator.cache import ChildCache, NotCached
from agentfleet_operator.children import basics
from agentfleet_operator.children.desired import (
    SECRETS,
    Child,
    ResourceType,
    apply_waves,
    desired_children,
    possible_children,
)
from agentfleet_operator.children.pods import store_secret_name
from agentfleet_operator.config import digest
from agentfleet_operator.diff import drift
from agentfleet_operator.kube import ApiError, KubeClient
from agentfleet_operator.meta import FleetRef, is_owned_by
from agentfleet_operator.status import (
    ComponentState,
    Outcome,
    Transition,
    build_status,
    cronjob_state,
    deployment_state,
    external_components,
    now,
    statefulset_state,
    status_patch,
    unwritten_state,
)

logger = logging.getLogger(__name__)

FLEETS: Final = ResourceType(c.GROUP, c.VERSION, c.PLURAL, c.KIND)
COMPONENT_ORDER: Final = ("reception", "spectra", "lynq", "paz", "redis", "postgresql", "pipeline")


def with_spec_hash(body: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``body`` annotated with the hash of its own desired content.

    The hash catches what a containment check cannot: a field we stopped setting. When it
    differs, the apply removes such fields (server-side apply drops fields its manager no
    longer sends).
    """
    out = copy.deepcopy(dict(body))
    annotations = out["metadata"].setdefault("annotations", {})
    annotations.pop(c.SPEC_HASH_ANNOTATION, None)
    annotations[c.SPEC_HASH_ANNOTATION] = digest(out)
    return out


def _hash_of(obj: Mapping[str, Any] | None) -> str | None:
    if obj is None:
        return None
    annotations = obj.get("metadata", {}).get("annotations") or {}
    value = annotations.get(c.SPEC_HASH_ANNOTATION)
    return str(value) if value is not None else None


def component_state(child: Child, live: Mapping[str, Any] | None) -> ComponentState:
    """Return the readiness of a workload child from its live object."""
    name = child.component or child.name
    ns = child.body["metadata"]["namespace"]
    if child.resource.kind == "Deployment":
        hint = (
            f"see: kubectl -n {ns} logs deploy/{child.name}; "
            f"kubectl -n {ns} describe deploy/{child.name}"
        )
        return deployment_state(name, live, hint)
    if child.resource.kind == "StatefulSet":
        return statefulset_state(name, live)
    return cronjob_state(name, live)


class Reconciler:
    """Reconciles fleets through a :class:`KubeClient`; keeps the fleets-by-condition gauge."""

    def __init__(
        self,
        client: KubeClient,
        *,
        cache: ChildCache | None = None,
        password: Callable[[int], str] = secrets.token_urlsafe,
        instance: str | None = None,
    ) -> None:
        self.client = client
        self.cache = cache
        self._password = password
        self._instance = instance or os.environ.get("HOSTNAME", "agentfleet-operator")
        self._conditions: dict[tuple[str, str], list[dict[str, str]]] = {}

    async def reconcile(self, namespace: str, name: str) -> str:
        """Run one pass; return its result (applied, unchanged, paused, invalid, error, gone)."""
        started = time.monotonic()
        result = "error"
        try:
            result = await self._reconcile(namespace, name)
            return result
        finally:
            metrics.RECONCILES.labels(result=result).inc()
            metrics.DURATION.labels(result=result).observe(time.monotonic() - started)
            metrics.set_fleet_conditions(
                cond for conds in self._conditions.values() for cond in conds
            )

    async def _reconcile(self, namespace: str, name: str) -> str:
        body = await self.client.get(FLEETS, namespace, name)
        if body is None or body.get("metadata", {}).get("deletionTimestamp"):
            # Children go with the fleet by garbage collection: nothing to do.
            self._conditions.pop((namespace, name), None)
            return "gone"
        fleet = FleetRef.from_body(body)
        old_status: dict[str, Any] = dict(body.get("status") or {})
        raw_spec = body.get("spec") or {}
        outcome = Outcome(generation=fleet.generation)
        extra: dict[str, Any] = {}

        if raw_spec.get("paused") is True:
            outcome.paused = True
            result = "paused"
        else:
            try:
                spec = parse_fleet(name, raw_spec)
            except SpecError as exc:
                outcome.invalid = exc.problems
                metrics.ERRORS.labels(reason="InvalidSpec").inc()
                result = "invalid"
            else:
                secret_known = old_status.get("storeSecret") == store_secret_name(fleet)
                if not secret_known and await self._ensure_store_secret(fleet, outcome):
                    extra["storeSecret"] = store_secret_name(fleet)
                await self._apply_children(fleet, spec, outcome)
                outcome.components += external_components(spec)
                outcome.components.sort(key=lambda s: COMPONENT_ORDER.index(s.name))
                result = "error" if outcome.errors else "applied" if outcome.writes else "unchanged"
                if outcome.errors:
                    metrics.ERRORS.labels(reason="ApplyFailed").inc()

        where = f"-n {namespace} -l {c.LABEL_INSTANCE}={name}"
        new_status, transitions = build_status(old_status, outcome, where=where)
        new_status.update(extra)
        patch = status_patch(old_status, new_status)
        if patch is not None:
            await self.client.patch_status(FLEETS, namespace, name, patch)
        self._conditions[(namespace, name)] = [
            {"type": str(cond["type"]), "status": str(cond["status"])}
            for cond in new_status.get("conditions", [])
        ]
        for transition in transitions:
            await self._event(body, transition)
        if outcome.writes:
            await self._event(
                body,
                Transition("Applied", "True", "Applied", "; ".join(outcome.writes)[:1000]),
            )
        if outcome.writes or outcome.errors or outcome.invalid:
            logger.info(
                "reconciled %s/%s: %s",
                namespace,
                name,
                result,
                extra={"writes": outcome.writes, "errors": outcome.errors + outcome.invalid},
            )
        return result

    async def _ensure_store_secret(self, fleet: FleetRef, outcome: Outcome) -> bool:
        """Create the generated-password Secret once; True once it is known to exist.

        The operator cannot read Secrets (least privilege), so "exists" is learnt from the
        answer to a create: 201 or 409. The fleet's status remembers it, so later passes
        skip the request entirely.
        """
        secret = basics.store_secret(fleet, token=self._password)
        try:
            created = await self.client.create(SECRETS, secret)
        except ApiError as exc:
            outcome.errors.append(
                f"Secret {secret['metadata']['name']}: {exc.message} (the operator needs "
                "'create' on secrets in this namespace)"
            )
            return False
        if created:
            metrics.WRITES.labels(kind="Secret", verb="create").inc()
            outcome.writes.append(f"Secret {secret['metadata']['name']} created")
        return True

    async def _apply_children(self, fleet: FleetRef, spec: FleetSpec, outcome: Outcome) -> None:
        """Read and, where needed, apply every child; prune those the spec no longer has.

        Children are handled concurrently in two waves: what Pods read (ServiceAccount,
        ConfigMap, Services...) first, then the workloads, so a Pod never starts before
        its configuration exists and a pass costs two round trips' time, not thirteen.
        """
        children = desired_children(fleet, spec)
        for wave in apply_waves(children):
            await asyncio.gather(*(self._apply_child(fleet, child, outcome) for child in wave))
        wanted = {(child.resource, child.name) for child in children}
        stale = [(r, n) for r, n in possible_children(fleet) if (r, n) not in wanted]
        await asyncio.gather(*(self._prune(fleet, r, n, outcome) for r, n in stale))

    async def _apply_child(self, fleet: FleetRef, child: Child, outcome: Outcome) -> None:
        desired = with_spec_hash(child.body)
        kind, cname = child.resource.kind, child.name
        try:
            live = await self._read(child.resource, fleet.namespace, cname)
        except ApiError as exc:
            _failed(outcome, child, f"{kind} {cname}: {exc.message}")
            return
        if live is not None and not is_owned_by(live, fleet):
            _failed(
                outcome,
                child,
                f"{kind} {cname} exists but does not belong to this fleet; delete or rename it",
            )
            return
        why = "spec changed" if _hash_of(live) != _hash_of(desired) else None
        why = "missing" if live is None else why or drift(live, desired)
        if why is not None:
            try:
                live = await self.client.apply(child.resource, desired)
            except ApiError as exc:
                _failed(outcome, child, _apply_error(kind, cname, exc))
                return
            if self.cache is not None:
                self.cache.wrote(child.resource, live)
            metrics.WRITES.labels(kind=kind, verb="apply").inc()
            outcome.writes.append(f"{kind} {cname} ({why})")
            logger.info("applied %s %s/%s: %s", kind, fleet.namespace, cname, why)
        if child.component:
            outcome.components.append(component_state(child, live))

    async def _prune(
        self, fleet: FleetRef, resource: ResourceType, cname: str, outcome: Outcome
    ) -> None:
        try:
            live = await self._read(resource, fleet.namespace, cname)
            if live is None or not is_owned_by(live, fleet):
                return
            await self.client.delete(resource, fleet.namespace, cname)
            if self.cache is not None:
                self.cache.deleted(resource, live)
        except ApiError as exc:
            outcome.errors.append(f"{resource.kind} {cname}: {exc.message}")
            return
        metrics.WRITES.labels(kind=resource.kind, verb="delete").inc()
        outcome.writes.append(f"{resource.kind} {cname} deleted (no longer in the spec)")

    async def _read(
        self, resource: ResourceType, namespace: str, name: str
    ) -> dict[str, Any] | None:
        """A child from the watch cache, or from the API server for kinds it lacks."""
        if self.cache is not None:
            try:
                return self.cache.get(resource, namespace, name)
            except NotCached:
                pass
        return await self.client.get(resource, namespace, name)

    async def _event(self, fleet_body: Mapping[str, Any], transition: Transition) -> None:
        meta = fleet_body["metadata"]
        stamp = now()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                # Unique without generateName: names are "<object>.<random>" like kubectl's.
                "name": f"{meta['name']}.{uuid.uuid4().hex[:16]}",
                "namespace": meta["namespace"],
            },
            "involvedObject": {
                "apiVersion": c.API_VERSION,
                "kind": c.KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "type": transition.event_type,
            "reason": transition.reason,
            "message": f"{transition.type}={transition.status}: {transition.message}"[:1024],
            "source": {"component": c.MANAGED_BY},
            "reportingComponent": f"{c.GROUP}/operator",
            "reportingInstance": self._instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await self.client.post_event(event)
        except aiohttp.ClientError as exc:  # pragma: no cover - post_event already guards
            logger.warning("event not posted: %s", exc)

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted fleet from the condition gauge."""
        self._conditions.pop((namespace, name), None)


def _failed(outcome: Outcome, child: Child, error: str) -> None:
    """Record a child the pass could not read or write; a workload counts as not ready."""
    outcome.errors.append(error)
    if child.component:
        name = child.component
        outcome.components.append(unwritten_state(name, child.resource.kind, error))


def _apply_error(kind: str, name: str, exc: ApiError) -> str:
    if kind == "PodMonitor" and exc.status == 404:
        return (
            "PodMonitor: the monitoring.coreos.com/v1 API is not installed; install the "
            "Prometheus Operator CRDs or set spec.monitoring.podMonitor: false"
        )
    if exc.status == 422 and kind == "StatefulSet":
        return (
            f"{kind} {name}: {exc.message} (volume claims are immutable; to resize, "
            "migrate the data to a new fleet)"
        )
    return f"{kind} {name}: {exc.message}"
