"""The metric names dashboards and alert rules are written against: none may go missing.

A renamed series does not fail anything at run time; a dashboard just goes blank and an
alert never fires. So the names (and label names) are listed here as those rules use them.
"""

from __future__ import annotations

from prometheus_client.metrics_core import Metric

from agentfleet_operator import metrics as operator_metrics
from agentfleet_runtime.observability import metrics as runtime_metrics

RUNTIME: dict[str, tuple[str, ...]] = {
    "agentfleet_messages_received_total": ("channel",),
    "agentfleet_messages_ignored_total": ("reason",),
    "agentfleet_replies_total": ("agent", "outcome"),
    "agentfleet_reply_latency_seconds": ("agent",),
    "agentfleet_gemini_calls_total": ("model", "kind", "status"),
    "agentfleet_api_usage_tokens_total": ("model", "direction"),
    "agentfleet_autonomous_speech_total": ("agent", "outcome"),
    "agentfleet_errors_total": ("component",),
    "agentfleet_pipeline_day_logs_expired_total": (),
    "agentfleet_dependency_up": ("dependency",),
    "agentfleet_phase": ("phase",),
    "agentfleet_gemini_errors_total": ("kind",),
    "agentfleet_gemini_model_latency_seconds": ("model",),
    "agentfleet_gemini_limiter_wait_seconds": (),
    "agentfleet_gemini_budget_remaining_ratio": (),
    "agentfleet_autonomous_speech_skipped_total": ("reason",),
    "process_resident_memory_bytes": (),
    "process_cpu_seconds_total": (),
    "agentfleet_pipeline_last_success_timestamp_seconds": (),
    "agentfleet_pipeline_last_duration_seconds": (),
    "agentfleet_pipeline_last_memories_stored": (),
    "agentfleet_pipeline_last_duplicates_dropped": (),
    "agentfleet_daily_report_last_posted_timestamp_seconds": (),
}
OPERATOR: dict[str, tuple[str, ...]] = {
    "agentfleet_operator_reconciles_total": ("result",),
    "agentfleet_operator_reconcile_errors_total": ("reason",),
    "agentfleet_operator_reconcile_duration_seconds": ("result",),
    "agentfleet_operator_child_writes_total": ("kind", "verb"),
    "agentfleet_operator_api_requests_total": ("verb",),
    "agentfleet_operator_fleets": ("condition", "status"),
    "agentfleet_operator_queue_depth": (),
}


def exposed(families: list[Metric]) -> dict[str, tuple[str, ...]]:
    """Series name → label names, as a scrape would show them (counters with ``_total``)."""
    names: dict[str, tuple[str, ...]] = {}
    for family in families:
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = {k for s in family.samples for k in s.labels if k not in ("le", "quantile")}
        names[name] = tuple(sorted(labels))
    return names


def test_the_runtime_serves_every_contract_name_with_its_labels() -> None:
    # The pipeline gauges appear once a run was recorded: give them one.
    outcome = runtime_metrics.PipelineOutcome()
    outcome.update({field: 1.0 for field in runtime_metrics.PipelineOutcomeField})
    families = list(runtime_metrics.REGISTRY.collect()) + list(outcome.collect())
    served = exposed(families)
    for name, labels in RUNTIME.items():
        assert name in served, f"{name} is missing from the runtime's /metrics"
        if served[name]:  # a labelled series shows its labels once it has a value
            assert served[name] == tuple(sorted(labels)), name
    assert "agentfleet_gemini_latency_seconds" not in served  # split in two, not kept


def test_the_operator_serves_every_contract_name() -> None:
    served = exposed(list(operator_metrics.REGISTRY.collect()))
    for name, labels in OPERATOR.items():
        assert name in served, f"{name} is missing from the operator's /metrics"
        if served[name]:
            assert served[name] == tuple(sorted(labels)), name
