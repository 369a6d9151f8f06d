"""Status: per-component readiness from the children's own status, and the three conditions.

Pure functions. ``Ready`` says whether the bots can talk; ``Progressing`` whether the
operator or a controller is still moving things; ``Degraded`` whether a person has to act,
and the message says what to do. Conditions keep their ``lastTransitionTime`` unless their
status changes, so an unchanged fleet produces an identical status and no write.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentfleet_operator.api.types import FleetSpec

READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"


@dataclass(frozen=True)
class ComponentState:
    """What one workload's own status says about it."""

    name: str
    kind: str
    ready: bool
    message: str
    rolling: bool = False
    """A controller is still bringing it to the current spec (not an error)."""
    failure: str | None = None
    """Something a person must look at (a stuck rollout, a crashing Pod)."""

    def as_status(self) -> dict[str, Any]:
        """Return the ``status.components[]`` entry."""
        return {"name": self.name, "kind": self.kind, "ready": self.ready, "message": self.message}


@dataclass
class Outcome:
    """What one reconcile pass found and did; the input of :func:`conditions`."""

    generation: int | None
    components: list[ComponentState] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    paused: bool = False


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _condition(obj: Mapping[str, Any], ctype: str) -> Mapping[str, Any]:
    for cond in obj.get("status", {}).get("conditions", None) or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return {}


def _observed(obj: Mapping[str, Any]) -> bool:
    generation = obj.get("metadata", {}).get("generation")
    observed = obj.get("status", {}).get("observedGeneration")
    if generation is None:
        # No generation (an emulator, not a real API server): trust the replica counts.
        return True
    return observed is not None and int(observed) >= int(generation)


def deployment_state(name: str, obj: Mapping[str, Any] | None, hint: str) -> ComponentState:
    """Derive readiness of a Deployment from its status (``hint``: how to investigate)."""
    if obj is None:
        return ComponentState(name, "Deployment", False, "not created yet", rolling=True)
    status = obj.get("status", {}) or {}
    wanted = _int(obj.get("spec", {}).get("replicas", 1))
    available = _int(status.get("availableReplicas"))
    updated = _int(status.get("updatedReplicas"))
    summary = f"{available}/{wanted} available"
    progressing = _condition(obj, "Progressing")
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return ComponentState(
            name,
            "Deployment",
            False,
            summary,
            failure=f"{name}: rollout stuck ({progressing.get('message', '')}); {hint}",
        )
    if _observed(obj) and updated >= wanted and available >= wanted:
        return ComponentState(name, "Deployment", True, summary)
    rollout_done = progressing.get("reason") == "NewReplicaSetAvailable"
    available_cond = _condition(obj, "Available")
    if rollout_done and available_cond.get("status") == "False":
        return ComponentState(
            name,
            "Deployment",
            False,
            summary,
            failure=f"{name}: no Pod available after a finished rollout; {hint}",
        )
    return ComponentState(name, "Deployment", False, summary, rolling=True)


def statefulset_state(name: str, obj: Mapping[str, Any] | None) -> ComponentState:
    """Derive readiness of a StatefulSet from its status."""
    if obj is None:
        return ComponentState(name, "StatefulSet", False, "not created yet", rolling=True)
    status = obj.get("status", {}) or {}
    wanted = _int(obj.get("spec", {}).get("replicas", 1))
    ready = _int(status.get("readyReplicas"))
    current = status.get("currentRevision")
    update = status.get("updateRevision")
    summary = f"{ready}/{wanted} ready"
    settled = current == update or update is None
    if _observed(obj) and ready >= wanted and settled:
        return ComponentState(name, "StatefulSet", True, summary)
    return ComponentState(name, "StatefulSet", False, summary, rolling=True)


def cronjob_state(name: str, obj: Mapping[str, Any] | None) -> ComponentState:
    """Derive the pipeline's state: ready once the CronJob exists; says when it last ran."""
    if obj is None:
        return ComponentState(name, "CronJob", False, "not created yet", rolling=True)
    spec = obj.get("spec", {})
    status = obj.get("status", {}) or {}
    where = f"{spec.get('schedule')} ({spec.get('timeZone')})"
    if spec.get("suspend"):
        return ComponentState(name, "CronJob", True, f"suspended; schedule {where}")
    last = status.get("lastSuccessfulTime")
    tail = f"; last success {last}" if last else "; no successful run yet"
    return ComponentState(name, "CronJob", True, f"schedule {where}{tail}")


def unwritten_state(name: str, kind: str, error: str) -> ComponentState:
    """A workload the API server refused to write: not ready, and a person must act."""
    return ComponentState(name, kind, False, "could not be written", failure=error)


def external_state(name: str, secret: str, key: str) -> ComponentState:
    """An external store: the operator cannot see it; the bots' readiness will tell."""
    return ComponentState(name, "External", True, f"external; URL from Secret {secret} key {key}")


def external_components(spec: FleetSpec) -> list[ComponentState]:
    """Return the component entries of external stores."""
    out = []
    if spec.redis.external:
        ref = spec.redis.external.url_secret_ref
        out.append(external_state("redis", ref.name, ref.key))
    if spec.postgresql.external:
        ref = spec.postgresql.external.url_secret_ref
        out.append(external_state("postgresql", ref.name, ref.key))
    return out


def now() -> str:
    """Return the current time as Kubernetes writes it (RFC 3339, seconds, UTC)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _join(items: Sequence[str], limit: int = 5) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def desired_conditions(outcome: Outcome, where: str) -> list[tuple[str, str, str, str]]:
    """Return (type, status, reason, message) for each condition; ``where``: ``-n ns name``."""
    comps = outcome.components
    if outcome.paused:
        return [
            (
                PROGRESSING,
                "False",
                "Paused",
                "spec.paused is true: the operator changes nothing. Set it to false to resume.",
            )
        ]
    failures = [c.failure for c in comps if c.failure]
    waiting = [f"{c.name} ({c.message})" for c in comps if not c.ready]
    all_ready = bool(comps) and not waiting

    if outcome.invalid:
        degraded = ("True", "InvalidSpec", "Fix the spec: " + _join(outcome.invalid))
    elif outcome.errors:
        degraded = ("True", "ApplyFailed", "Could not write: " + _join(outcome.errors))
    elif failures:
        degraded = ("True", "ComponentFailing", _join(failures))
    else:
        degraded = ("False", "AsExpected", "No problems found.")

    if outcome.invalid:
        progressing = (
            "False",
            "InvalidSpec",
            "Nothing was changed: the spec is invalid (see Degraded).",
        )
    elif any(c.rolling for c in comps):
        # Derived from the children only (not from this pass' writes), so the pass after an
        # apply computes the same condition and writes nothing.
        rolling = [c.name for c in comps if c.rolling]
        progressing = ("True", "RollingOut", "Waiting for: " + ", ".join(rolling))
    else:
        progressing = ("False", "Reconciled", "All children match the spec.")

    if outcome.invalid:
        ready = ("False", "InvalidSpec", "The spec is invalid (see Degraded).")
    elif outcome.errors:
        # A child that cannot be written is not running as specified, whatever the others
        # say: never Ready, so `kubectl wait --for=condition=Ready` does not pass.
        ready = ("False", "ApplyFailed", "Could not write: " + _join(outcome.errors))
    elif all_ready:
        ready = ("True", "AllComponentsReady", f"All {len(comps)} components are ready.")
    else:
        ready = (
            "False",
            "ComponentsNotReady",
            f"Not ready: {_join(waiting)}. Inspect with: kubectl get pods {where}",
        )
    return [
        (READY, *ready),
        (PROGRESSING, *progressing),
        (DEGRADED, *degraded),
    ]


@dataclass(frozen=True)
class Transition:
    """A condition whose status or reason changed: worth a Kubernetes Event."""

    type: str
    status: str
    reason: str
    message: str

    @property
    def event_type(self) -> str:
        """Return ``Warning`` for bad news, ``Normal`` otherwise."""
        bad = (self.type == DEGRADED and self.status == "True") or (
            self.type == READY and self.status == "False"
        )
        return "Warning" if bad else "Normal"


def merge_conditions(
    old: Iterable[Mapping[str, Any]],
    new: Iterable[tuple[str, str, str, str]],
    generation: int | None,
    timestamp: str,
) -> tuple[list[dict[str, Any]], list[Transition]]:
    """Merge new condition values into the old list; return it and the transitions.

    ``lastTransitionTime`` changes only when the status changes; conditions not mentioned
    (while paused) are kept as they were.
    """
    previous = {str(c.get("type")): dict(c) for c in old}
    transitions: list[Transition] = []
    for ctype, status, reason, message in new:
        before = previous.get(ctype)
        changed = before is None or before.get("status") != status
        if changed or (before is not None and before.get("reason") != reason):
            transitions.append(Transition(ctype, status, reason, message))
        cond: dict[str, Any] = {
            "type": ctype,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": timestamp
            if changed or before is None
            else before.get("lastTransitionTime", timestamp),
        }
        if generation is not None:
            cond["observedGeneration"] = generation
        previous[ctype] = cond
    order = [READY, PROGRESSING, DEGRADED]
    merged = sorted(
        previous.values(),
        key=lambda cond: order.index(cond["type"]) if cond["type"] in order else len(order),
    )
    return merged, transitions


def build_status(
    old_status: Mapping[str, Any],
    outcome: Outcome,
    *,
    where: str,
    timestamp: str | None = None,
) -> tuple[dict[str, Any], list[Transition]]:
    """Return the new ``status`` and the condition transitions of one pass."""
    conditions, transitions = merge_conditions(
        old_status.get("conditions", None) or [],
        desired_conditions(outcome, where),
        outcome.generation,
        timestamp or now(),
    )
    status: dict[str, Any] = dict(old_status)
    status["conditions"] = conditions
    if outcome.generation is not None:
        status["observedGeneration"] = outcome.generation
    if not outcome.paused and not outcome.invalid:
        status["components"] = [c.as_status() for c in outcome.components]
        ready = sum(1 for c in outcome.components if c.ready)
        status["ready"] = f"{ready}/{len(outcome.components)}"
    return status, transitions


def status_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return a merge patch turning ``old`` into ``new`` (None if they are equal)."""
    if dict(old) == dict(new):
        return None
    patch: dict[str, Any] = {k: v for k, v in new.items() if old.get(k) != v}
    patch.update({k: None for k in old if k not in new})
    return patch
