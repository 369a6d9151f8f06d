"""The operator's own Prometheus metrics (kopf has none).

A dedicated registry keeps them apart from anything a library registers globally, and makes
the exposition exactly what the chart's dashboards and alerts expect.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY: Final = CollectorRegistry(auto_describe=True)

RECONCILES: Final = Counter(
    "agentfleet_operator_reconciles_total",
    "Reconcile passes by result (applied, unchanged, paused, invalid, error, gone).",
    ["result"],
    registry=REGISTRY,
)
ERRORS: Final = Counter(
    "agentfleet_operator_reconcile_errors_total",
    "Reconcile errors by reason (the Degraded condition's reason).",
    ["reason"],
    registry=REGISTRY,
)
DURATION: Final = Histogram(
    "agentfleet_operator_reconcile_duration_seconds",
    "Duration of reconcile passes by result.",
    ["result"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
WRITES: Final = Counter(
    "agentfleet_operator_child_writes_total",
    "Writes to children by kind and verb (apply, create, delete).",
    ["kind", "verb"],
    registry=REGISTRY,
)
API_REQUESTS: Final = Counter(
    "agentfleet_operator_api_requests_total",
    "Requests the reconciler made to the API server, by HTTP verb.",
    ["verb"],
    registry=REGISTRY,
)
FLEETS: Final = Gauge(
    "agentfleet_operator_fleets",
    "Fleets by condition type and status.",
    ["condition", "status"],
    registry=REGISTRY,
)
QUEUE_DEPTH: Final = Gauge(
    "agentfleet_operator_queue_depth",
    "Fleets waiting for a reconcile.",
    registry=REGISTRY,
)

CONDITION_TYPES: Final = ("Ready", "Progressing", "Degraded")
CONDITION_STATUSES: Final = ("True", "False", "Unknown")


def set_fleet_conditions(conditions: Iterable[dict[str, str]]) -> None:
    """Recompute the fleets-by-condition gauge from every fleet's conditions."""
    counts = {(t, s): 0 for t in CONDITION_TYPES for s in CONDITION_STATUSES}
    for condition in conditions:
        key = (condition.get("type", ""), condition.get("status", ""))
        if key in counts:
            counts[key] += 1
    for (ctype, status), count in counts.items():
        FLEETS.labels(condition=ctype, status=status).set(count)


def value(counter: Counter | Gauge, **labels: str) -> float:
    """Return the current value of one labelled series (used by tests and the benchmark)."""
    for metric in counter.collect():
        for sample in metric.samples:
            if sample.name.endswith("_created"):
                continue
            if all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def total(counter: Counter) -> float:
    """Return the sum of a counter over all its label values."""
    return sum(
        sample.value
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


def serve(port: int, address: str = "0.0.0.0") -> None:
    """Serve /metrics on ``port`` from a background thread (0 disables it)."""
    if port:
        start_http_server(port, addr=address, registry=REGISTRY)
