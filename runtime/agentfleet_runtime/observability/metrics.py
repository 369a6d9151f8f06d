"""Prometheus metrics of the runtime, one registry per process.

Names follow the vocabulary of docs/operations.md so that a dashboard reads like it:
messages received, replies, autonomous speech (自発発言), API usage.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

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
GEMINI_LATENCY = Histogram(
    "agentfleet_gemini_latency_seconds",
    "Gemini API call latency by model and kind, retries included.",
    ["model", "kind"],
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
