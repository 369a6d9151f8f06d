"""The operator process' own settings, from the environment (the chart sets them)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

PREFIX: Final = "AGENTFLEET_"


def _float(name: str, default: float) -> float:
    raw = os.environ.get(PREFIX + name, "").strip()
    return float(raw) if raw else default


def _int(name: str, default: int) -> int:
    raw = os.environ.get(PREFIX + name, "").strip()
    return int(raw) if raw else default


@dataclass(frozen=True)
class Options:
    """Tunables of the operator process; every one has a safe default."""

    resync_seconds: float = 300.0
    """Safety net: every fleet is reconciled at least this often, events or not."""
    debounce_seconds: float = 0.05
    """How long an event waits for the rest of its burst, so one pass sees all of it."""
    concurrency: int = 8
    """Fleets reconciled at the same time."""
    metrics_port: int = 9090
    """Port of the operator's own /metrics (0 disables)."""
    request_timeout: float = 30.0
    """Timeout of each API request the reconciler makes."""
    namespaces: tuple[str, ...] = ()
    """Namespaces to serve; empty means all."""
    liveness: str = "http://0.0.0.0:8080/healthz"
    """kopf's liveness endpoint (empty disables)."""
    log_format: str = "json"
    """json (one object per line) or plain."""
    verbose: bool = False
    """Debug logging."""

    @classmethod
    def from_env(cls) -> Options:
        """Read ``AGENTFLEET_*`` variables, falling back to the defaults."""
        namespaces = os.environ.get(PREFIX + "NAMESPACES", "")
        return cls(
            resync_seconds=_float("RESYNC_SECONDS", cls.resync_seconds),
            debounce_seconds=_float("DEBOUNCE_SECONDS", cls.debounce_seconds),
            concurrency=_int("CONCURRENCY", cls.concurrency),
            metrics_port=_int("METRICS_PORT", cls.metrics_port),
            request_timeout=_float("REQUEST_TIMEOUT", cls.request_timeout),
            namespaces=tuple(ns.strip() for ns in namespaces.split(",") if ns.strip()),
            liveness=os.environ.get(PREFIX + "LIVENESS", cls.liveness),
            log_format=os.environ.get(PREFIX + "LOG_FORMAT", cls.log_format),
            verbose=os.environ.get(PREFIX + "VERBOSE", "").lower() in {"1", "true", "yes"},
        )
