"""The 06:00 pipeline: long-term memory (長期記憶) and the Daily Report, once per date.

Entry points: :func:`run_pipeline` (``agentfleet pipeline [--date D [--force]]``, the
CronJob or a person's re-run; opens and closes its own clients), :func:`run_migrate`
(``agentfleet migrate``), :func:`catch_up_in_process` (the all-in-one process at 06:00
and at start-up) and :func:`run_in_process` (one date, as the sandbox's page asks), both
reusing the process's Redis and Gemini clients, :func:`catch_up` (yesterday and the days
missed while the fleet was down) and :func:`run_day` (open clients, one date; what the
others call).
"""

from agentfleet_runtime.pipeline.run import (
    PipelineConfig,
    PipelineDeps,
    PipelineError,
    PipelineResult,
    catch_up,
    catch_up_in_process,
    gemini_settings,
    pipeline_config,
    previous_day,
    run_day,
    run_in_process,
    run_migrate,
    run_pipeline,
)

__all__ = [
    "PipelineConfig",
    "PipelineDeps",
    "PipelineError",
    "PipelineResult",
    "catch_up",
    "catch_up_in_process",
    "gemini_settings",
    "pipeline_config",
    "previous_day",
    "run_day",
    "run_in_process",
    "run_migrate",
    "run_pipeline",
]
