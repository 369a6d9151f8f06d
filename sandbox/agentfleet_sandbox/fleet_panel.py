"""The sandbox page's fleet panel: phase, tasks, Gemini budget, and "run the pipeline now".

Beside the chat, a person trying the fleet wants to see what it is doing and why: which
phase of the day it is in (the scheduler's own), the task each channel works on (read with
:meth:`~agentfleet_runtime.memory.state.FleetState.tasks`), and how much of the shared
Gemini budget is left (the fleet's :class:`~agentfleet_runtime.llm.rate_limit.RedisRateLimiter`
window, the one autonomous speech waits on). The panel serves that at ``GET
/_sandbox/fleet`` and pushes it on the page's live feed as ``fleet`` frames whenever it
changes.

``POST /_sandbox/pipeline`` runs the 06:00 long-term-memory pipeline now, on today's
conversation, through the same call the fleet makes at 06:00
(:func:`~agentfleet_runtime.pipeline.run_in_process`, with the fleet's Redis and Gemini
client), so its Daily Report is posted by SPECTRA in #command_center as it would be in the
morning. This control exists only in the sandbox: the product has no way to trigger the
pipeline from a page. One run at a time; the page shows the pipeline's own progress lines
and the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from aiohttp import web

from agentfleet_runtime.app.roles import SPEECH_BUDGET_SHARE, FleetProcess
from agentfleet_runtime.brain.report import REPORT_PERSONA
from agentfleet_runtime.bus.streams import REDIS_DOWN
from agentfleet_runtime.llm.rate_limit import RedisRateLimiter
from agentfleet_runtime.memory.state import FleetState
from agentfleet_runtime.observability.logs import RedactingFilter
from agentfleet_runtime.pipeline import PipelineError, PipelineResult, run_in_process
from agentfleet_runtime.pipeline.run import REPORT_CHANNEL

from .discord_server.page import LiveFeed
from .discord_server.responses import json_response

log = logging.getLogger(__name__)

PREFIX = "/_sandbox"
PIPELINE_LOGGER = "agentfleet_runtime.pipeline"
"""Where the pipeline narrates its steps (長期記憶 read / extracted / …, Daily Report queued)."""
REFRESH_SECONDS = 1.0
"""How often the panel re-reads Redis: the budget window slides even when nothing happens."""


@dataclass
class PipelineRun:
    """One press of "run the 06:00 pipeline now", as the page shows it."""

    day: date
    started_at: float
    state: str = "running"
    """``running``, then ``completed`` or ``failed``."""
    steps: list[str] = field(default_factory=list)
    """The pipeline's own progress lines, in order (redacted)."""
    outcome: str | None = None
    finished_at: float | None = None

    def finish(self, state: str, outcome: str) -> None:
        """Record how the run ended."""
        self.state, self.outcome, self.finished_at = state, outcome, time.time()

    def json(self) -> dict[str, Any]:
        """The run for the page."""
        return {
            "day": self.day.isoformat(),
            "state": self.state,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "steps": list(self.steps),
            "outcome": self.outcome,
        }


class _StepLog(logging.Handler):
    """Copies the pipeline's log lines of one run (its task only) into :class:`PipelineRun`.

    The pipeline already says what it is doing, step by step, for operators who grep the
    log; the page shows the same lines rather than a second, invented account of progress.
    A 06:00 run of another date in the same process logs from another task and is left out.
    """

    def __init__(
        self,
        run: PipelineRun,
        task: asyncio.Task[Any],
        redactor: RedactingFilter,
        changed: Callable[[], None],
    ) -> None:
        super().__init__(logging.INFO)
        self.run, self.task, self.redactor, self.changed = run, task, redactor, changed

    def emit(self, record: logging.LogRecord) -> None:
        """Keep ``record``'s message if it comes from this run."""
        try:
            current = asyncio.current_task()
        except RuntimeError:  # logged outside the event loop: not this run's line
            return
        if current is not self.task:
            return
        self.run.steps.append(self.redactor.redact(record.getMessage()))
        self.changed()


def describe(result: PipelineResult) -> str:
    """One line for the page on what a run did (PipelineResult's status, in words)."""
    report = (
        f"Daily Report queued: {REPORT_PERSONA.upper()} posts it in #{REPORT_CHANNEL}."
        if result.report_queued
        else "Its Daily Report was queued before: not again."
    )
    if result.status == "completed":
        return (
            f"長期記憶 for {result.day}: {result.messages} messages, "
            f"{result.memories_stored} memories stored ({result.duplicates_dropped} "
            f"near-duplicates dropped), {result.llm_calls} Gemini calls in "
            f"{result.duration_s:.1f} s. {report}"
        )
    if result.status == "report_only":
        return f"長期記憶 for {result.day} was stored earlier. {report}"
    if result.status == "already_done":
        return (
            f"長期記憶 for {result.day} was already made and its Daily Report posted: "
            "a date runs once."
        )
    return f"Another run for {result.day} holds the date's lock: this one stopped."


class FleetPanel:
    """The fleet panel's HTTP face and live updates, mounted on the sandbox's page server.

    Mount it with :meth:`install` before the server starts (routes cannot be added to a
    running aiohttp app), then :meth:`attach` the fleet process once it exists: the page is
    up before the fleet, and says "starting" until then.
    """

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed
        self.process: FleetProcess | None = None
        self._limiter: RedisRateLimiter | None = None
        self.run: PipelineRun | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    def install(self, app: web.Application) -> None:
        """Add the routes and the live-update loop (tied to the app's lifetime) to ``app``."""
        app.router.add_get(f"{PREFIX}/fleet", self._get_fleet)
        app.router.add_post(f"{PREFIX}/pipeline", self._post_pipeline)
        app.cleanup_ctx.append(self._live)

    def attach(self, process: FleetProcess) -> None:
        """Show ``process`` (an all-in-one fleet) from now on."""
        self.process = process
        self._limiter = process.limiter()
        self._changed.set()

    # -- what the panel shows ----------------------------------------------------------

    async def snapshot(self) -> dict[str, Any]:
        """Phase, tasks, budget and the last pipeline run, as the page renders them."""
        pipeline = self.run.json() if self.run else None
        process, limiter = self.process, self._limiter
        if process is None or limiter is None:
            return {"ready": False, "pipeline": pipeline}
        if process.stop.is_set():
            # Its Redis client is closing or closed: say so rather than read through it.
            return {"ready": False, "stopped": True, "pipeline": pipeline}
        scheduler = process.scheduler
        view: dict[str, Any] = {
            "ready": True,
            "phase": scheduler.phase.value if scheduler and scheduler.phase else None,
            "clock": process.clock().astimezone(process.settings.zone).strftime("%H:%M"),
            "zone": process.settings.FLEET_TIMEZONE,
            "pipeline": pipeline,
        }
        try:
            tasks = await FleetState(process.redis, process.keys).tasks()
            in_use = await limiter.in_use()
            speech_allowed = await limiter.has_headroom(SPEECH_BUDGET_SHARE)
        except REDIS_DOWN as error:
            view["error"] = f"Redis unreachable ({error.__class__.__name__})"
            return view
        view["tasks"] = [
            {"channel": t.channel, "text": t.text, "updated_at": t.updated_at} for t in tasks
        ]
        view["budget"] = {
            "per_minute": limiter.per_minute,
            "in_use": in_use,
            "left": max(0, limiter.per_minute - in_use),
            "window_seconds": limiter.window_ms / 1000,
            "speech_allowed": speech_allowed,
        }
        return view

    async def _get_fleet(self, request: web.Request) -> web.Response:
        return json_response(await self.snapshot())

    async def _live(self, _app: web.Application) -> AsyncIterator[None]:
        """While the server runs: push a ``fleet`` frame whenever the snapshot changes."""
        loop = asyncio.create_task(self._push_changes(), name="sandbox-fleet-panel")
        yield
        for task in (loop, self._run_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _push_changes(self) -> None:
        shown: dict[str, Any] | None = None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), REFRESH_SECONDS)
            self._changed.clear()
            try:
                view = await self.snapshot()
            except Exception as error:
                # A display must not die of one bad read: say so and try again next tick.
                log.warning("WARN sandbox fleet panel could not read the fleet: %r", error)
                continue
            if view != shown:
                self.feed.publish("fleet", view)
                shown = view

    # -- the pipeline control ----------------------------------------------------------

    async def _post_pipeline(self, request: web.Request) -> web.Response:
        process = self.process
        if self.run is not None and self.run.state == "running":
            since = datetime.fromtimestamp(self.run.started_at).strftime("%H:%M:%S")
            message = (
                f"The 06:00 pipeline is already running for {self.run.day} (since {since}); "
                "wait for its outcome below."
            )
            return json_response({"message": message, "pipeline": self.run.json()}, 409)
        if process is None or process.gemini is None:
            return json_response({"message": "The fleet is still starting: try again soon."}, 503)
        if process.settings.POSTGRESQL_URL is None:
            message = "Long-term memory needs PostgreSQL: POSTGRESQL_URL is not set."
            return json_response({"message": message}, 503)
        # Today's conversation, as the day log files it: by the fleet-local date of each
        # message's real time (the fleet's clock only decides its phase).
        run = PipelineRun(datetime.now(process.settings.zone).date(), time.time())
        self.run = run
        self._run_task = asyncio.create_task(self._pipeline(process, run), name="sandbox-pipeline")
        self._changed.set()
        log.info("長期記憶 pipeline run requested from the sandbox page for %s", run.day)
        return json_response({"pipeline": run.json()}, 202)

    async def _pipeline(self, process: FleetProcess, run: PipelineRun) -> None:
        """Run the pipeline for ``run.day`` until it ends or the fleet stops."""
        assert process.gemini is not None
        runner = asyncio.create_task(
            run_in_process(process.settings, process.redis, process.gemini, run.day)
        )
        steps = _StepLog(
            run, runner, RedactingFilter(process.settings.secret_values()), self._changed.set
        )
        logger = logging.getLogger(PIPELINE_LOGGER)
        logger.addHandler(steps)
        stopping = asyncio.create_task(process.stop.wait())
        try:
            await asyncio.wait({runner, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not runner.done():
                runner.cancel()
                run.finish("failed", "The fleet stopped before the pipeline finished.")
            else:
                self._outcome(run, runner, steps.redactor)
        finally:
            stopping.cancel()
            if not runner.done():
                runner.cancel()
            logger.removeHandler(steps)
            self._changed.set()

    @staticmethod
    def _outcome(
        run: PipelineRun, runner: asyncio.Task[PipelineResult], redactor: RedactingFilter
    ) -> None:
        error = runner.exception()
        if error is None:
            run.finish("completed", describe(runner.result()))
            return
        if not isinstance(error, PipelineError):
            # The pipeline logs its own step failures as ERROR 長期記憶; this one it could not.
            log.error("ERROR 長期記憶 sandbox run for %s failed: %r", run.day, error)
        run.finish("failed", redactor.redact(f"{type(error).__name__}: {error}"))
