"""Prometheus metrics of the runtime, one registry per process.

Names follow the vocabulary of docs/operations.md so that a dashboard reads like it:
messages received, replies, autonomous speech (自発発言), API usage. They are a contract
with the dashboards and alert rules: units are in the names, and every label takes a
small, fixed set of values (never a user, message or channel id).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from agentfleet_runtime.brain.speech import SpeechSkip

REGISTRY = CollectorRegistry(auto_describe=True)

# Memory and CPU of this process (process_resident_memory_bytes, process_cpu_seconds_total,
# open file descriptors), read from /proc on each scrape, and the Python version.
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)


class GeminiErrorKind(StrEnum):
    """Why a Gemini request failed, as ``agentfleet_gemini_errors_total`` counts it."""

    RATE_LIMITED = "rate_limited"
    """429: the key's quota is used up; the shared limiter is set above the quota."""
    SERVER_ERROR = "server_error"
    """5xx, or no connection to Gemini at all: Google's side (or the way there) is failing."""
    TIMEOUT = "timeout"
    """No answer within GEMINI_TIMEOUT_SECONDS (or Google's own 408)."""
    MALFORMED = "malformed"
    """An answer that is not what was asked for: a truncated body, JSON off its schema."""
    CLIENT_ERROR = "client_error"
    """Another 4xx: a bad key, an unknown model, a bad request. Retrying cannot help."""


MESSAGES_RECEIVED = Counter(
    "agentfleet_messages_received",
    "Human messages accepted into the inbox, by channel.",
    ["channel"],
    registry=REGISTRY,
)
MESSAGES_IGNORED = Counter(
    "agentfleet_messages_ignored",
    "Messages not taken in because they were outside the fleet's channels, by reason"
    " (direct, outside).",
    ["reason"],
    registry=REGISTRY,
)
REPLIES = Counter(
    "agentfleet_replies",
    "Replies posted, by persona and outcome (ok, apology).",
    ["agent", "outcome"],
    registry=REGISTRY,
)
REPLY_LATENCY = Histogram(
    "agentfleet_reply_latency_seconds",
    "From the message entering the inbox to its reply being posted, by persona.",
    ["agent"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
    registry=REGISTRY,
)
GEMINI_CALLS = Counter(
    "agentfleet_gemini_calls",
    "Gemini API calls by model, kind (generate, embed) and status (ok, or the HTTP code).",
    ["model", "kind", "status"],
    registry=REGISTRY,
)
GEMINI_ERRORS = Counter(
    "agentfleet_gemini_errors",
    "Failed Gemini requests (each retry counts) by kind (rate_limited, server_error, timeout,"
    " malformed, client_error).",
    ["kind"],
    registry=REGISTRY,
)
GEMINI_MODEL_LATENCY = Histogram(
    "agentfleet_gemini_model_latency_seconds",
    "The model's own time to answer one Gemini request, by model; answered requests only,"
    " without the wait for the shared rate limiter.",
    ["model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60),
    registry=REGISTRY,
)
GEMINI_LIMITER_WAIT = Histogram(
    "agentfleet_gemini_limiter_wait_seconds",
    "Time each Gemini request waited for the fleet's shared rate limiter before it was sent.",
    buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60),
    registry=REGISTRY,
)
GEMINI_BUDGET_REMAINING = Gauge(
    "agentfleet_gemini_budget_remaining_ratio",
    "Share (0..1) of the fleet's per-minute Gemini budget not used in the last minute.",
    registry=REGISTRY,
)
API_USAGE_TOKENS = Counter(
    "agentfleet_api_usage_tokens",
    "Gemini tokens used, by model and direction (prompt, output).",
    ["model", "direction"],
    registry=REGISTRY,
)
AUTONOMOUS_SPEECH = Counter(
    "agentfleet_autonomous_speech",
    "Autonomous speech (自発発言) decisions, by persona and outcome (posted, skipped_duplicate).",
    ["agent", "outcome"],
    registry=REGISTRY,
)
AUTONOMOUS_SPEECH_SKIPPED = Counter(
    "agentfleet_autonomous_speech_skipped",
    "Autonomous speech (自発発言) ticks that planned nothing, by reason (budget: the Gemini"
    " budget is kept for people; quiet_phase: STANDBY or PROCESSING; not_chosen: the tick's"
    " probability said no).",
    ["reason"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "agentfleet_errors",
    "Errors by component (discord, gemini, redis, postgres, router, worker, scheduler).",
    ["component"],
    registry=REGISTRY,
)
DAY_LOGS_EXPIRED = Counter(
    "agentfleet_pipeline_day_logs_expired",
    "Dates whose day log expired from Redis before the pipeline formed their long-term "
    "memories: those conversations are not remembered.",
    registry=REGISTRY,
)
DEPENDENCY_UP = Gauge(
    "agentfleet_dependency_up",
    "1 when a dependency answered its last check, else 0.",
    ["dependency"],
    registry=REGISTRY,
)
PHASE = Gauge(
    "agentfleet_phase",
    "1 for the fleet's current daily phase, 0 for the others.",
    ["phase"],
    registry=REGISTRY,
)


class PipelineOutcomeField(StrEnum):
    """Fields of the fleet's pipeline-outcome hash in Redis (``FleetKeys.pipeline_outcome``)."""

    LAST_SUCCESS = "last_success_at"
    LAST_DURATION = "last_duration_seconds"
    LAST_MEMORIES_STORED = "last_memories_stored"
    LAST_DUPLICATES_DROPPED = "last_duplicates_dropped"
    REPORT_POSTED = "report_posted_at"


class PipelineOutcome(Collector):
    """The 06:00 pipeline's last outcome as gauges, from what the runs left in Redis.

    In Kubernetes the pipeline is a short-lived Job that Prometheus never scrapes, so the
    run writes its outcome to one Redis hash and the long-running Reception serves it.
    :meth:`update` takes the hash as read elsewhere (before a scrape, bounded in time), so a
    slow Redis never stalls /metrics; a field never written is left out rather than
    exported as a 0 that would read as "1970".
    """

    GAUGES: Final[Mapping[PipelineOutcomeField, tuple[str, str]]] = {
        PipelineOutcomeField.LAST_SUCCESS: (
            "agentfleet_pipeline_last_success_timestamp_seconds",
            "When the 06:00 pipeline last completed a date (Unix time).",
        ),
        PipelineOutcomeField.LAST_DURATION: (
            "agentfleet_pipeline_last_duration_seconds",
            "How long that completed run took.",
        ),
        PipelineOutcomeField.LAST_MEMORIES_STORED: (
            "agentfleet_pipeline_last_memories_stored",
            "Long-term memories that run stored.",
        ),
        PipelineOutcomeField.LAST_DUPLICATES_DROPPED: (
            "agentfleet_pipeline_last_duplicates_dropped",
            "Near-duplicate memories that run dropped.",
        ),
        PipelineOutcomeField.REPORT_POSTED: (
            "agentfleet_daily_report_last_posted_timestamp_seconds",
            "When SPECTRA last posted a Daily Report to Discord (Unix time).",
        ),
    }

    def __init__(self) -> None:
        self._values: dict[PipelineOutcomeField, float] = {}

    def update(self, values: Mapping[PipelineOutcomeField, float]) -> None:
        """Replace the values served with those of the hash just read."""
        self._values = dict(values)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The gauges' names, so the registry refuses a clash even before any value."""
        for name, documentation in self.GAUGES.values():
            yield GaugeMetricFamily(name, documentation)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One gauge per field the pipeline has written."""
        for field, (name, documentation) in self.GAUGES.items():
            if field in self._values:
                yield GaugeMetricFamily(name, documentation, value=self._values[field])


PIPELINE_OUTCOME: Final = PipelineOutcome()
REGISTRY.register(PIPELINE_OUTCOME)

# Every label value exported from the start, at 0: a rate() or an alert on a kind that has
# not happened yet then reads 0 instead of "no data".
for _kind in GeminiErrorKind:
    GEMINI_ERRORS.labels(kind=_kind.value)
for _reason in SpeechSkip:
    AUTONOMOUS_SPEECH_SKIPPED.labels(reason=_reason.value)
