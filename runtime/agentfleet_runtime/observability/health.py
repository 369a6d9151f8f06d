"""The HTTP endpoints of every role: /health (liveness), /ready (readiness), /metrics.

Liveness answers as long as the event loop runs, so Kubernetes restarts only a wedged
process. Readiness reports each dependency by name and answers 503 while any required one
is down, which is what a person running ``curl localhost:8000/ready`` needs to see.
Metrics read from Redis (the Gemini budget, the pipeline's outcome) are refreshed on
scrape, but a scrape waits for them at most :data:`METRICS_REFRESH_WAIT` seconds.

The same checks also run on their own, every :data:`DEPENDENCY_CHECK_INTERVAL` seconds
(and on a scrape when a round is due), so ``agentfleet_dependency_up`` stays current where
no kubelet calls /ready, as on a single host: the alerts on it could never fire otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agentfleet_runtime.contract import HEALTH_PATH, METRICS_PATH, READY_PATH
from agentfleet_runtime.observability.metrics import DEPENDENCY_UP, ERRORS, REGISTRY

log = logging.getLogger(__name__)

METRICS_REFRESH_WAIT: Final = 1.0
"""Seconds a /metrics answer waits for its refreshes; after that it serves the values of the
last refresh that finished (a stuck Redis must not make Prometheus time out the scrape)."""

DEPENDENCY_CHECK_INTERVAL: Final = 15.0
"""Seconds between two rounds of dependency checks that a process runs on its own. Short
against the 5 minutes the dependency alerts wait, and cheap: one Redis PING, one
PostgreSQL ``SELECT 1``, the rest read from memory."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one readiness check."""

    ok: bool
    detail: str = ""


Check = Callable[[], Awaitable[CheckResult]]
Refresh = Callable[[], Awaitable[object]]
"""Reads a value some metric shows (from Redis, say) and sets the metric."""


class HealthServer:
    """Serves the health, readiness and metrics endpoints on one port."""

    def __init__(self, port: int, role: str, host: str = "0.0.0.0") -> None:
        self.port = port
        self.role = role
        self.host = host
        self.checks: dict[str, Check] = {}
        self.refreshes: list[Refresh] = []
        self.started = time.time()
        self.check_interval = DEPENDENCY_CHECK_INTERVAL
        self._runner: web.AppRunner | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._checking: asyncio.Task[None] | None = None
        """The round of dependency checks in flight (shared by the timer and scrapes)."""
        self._next_round = -math.inf
        """Loop time from which the next round is due."""
        self._checker: asyncio.Task[None] | None = None
        self._up: dict[str, bool] = {}
        """Each dependency's last outcome, so that an outage is counted once."""

    def add_check(self, name: str, check: Check) -> None:
        """Make readiness depend on ``check`` (named in the /ready answer and the metric)."""
        self.checks[name] = check

    def add_refresh(self, refresh: Refresh) -> None:
        """Run ``refresh`` before answering /metrics, so a value read elsewhere is current."""
        self.refreshes.append(refresh)

    async def start(self) -> None:
        """Start serving."""
        app = web.Application()
        app.router.add_get(HEALTH_PATH, self._health)
        app.router.add_get(READY_PATH, self._ready)
        app.router.add_get(METRICS_PATH, self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self._checker = asyncio.create_task(self._check_periodically(), name="dependency-checks")
        log.info("health endpoints on :%d (%s, %s, %s)", self.port, HEALTH_PATH, READY_PATH,
                 METRICS_PATH)  # fmt: skip

    async def stop(self) -> None:
        """Stop serving, and the checks and refreshes still running."""
        for task in (self._checker, self._checking, self._refreshing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._runner is not None:
            await self._runner.cleanup()

    async def refresh_metrics(self) -> None:
        """Bring the metrics up to date, waiting at most :data:`METRICS_REFRESH_WAIT` seconds.

        The refreshes run on every scrape, the dependency checks only when a round is due.
        Either, still running from an earlier scrape, is waited for, not started again, so
        scrapes against a stuck Redis never pile up requests.
        """
        if self.refreshes and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.create_task(self._refresh_all())
        pending = {
            task
            for task in (self._refreshing, self._due_round())
            if task is not None and not task.done()
        }
        if pending:
            # wait() leaves them running past the timeout: the next scrape shows their values.
            await asyncio.wait(pending, timeout=METRICS_REFRESH_WAIT)

    async def _refresh_all(self) -> None:
        results = await asyncio.gather(*(r() for r in self.refreshes), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                # /ready and the consumers report Redis being away; the scrape keeps the
                # last values rather than failing.
                log.debug("metrics refresh failed: %s", result.__class__.__name__)

    async def readiness(self) -> tuple[bool, dict[str, dict[str, object]]]:
        """Run every check (each bounded to 2 s) and report them by name."""
        names = list(self.checks)
        results = await asyncio.gather(*(self._run(self.checks[n]) for n in names))
        report: dict[str, dict[str, object]] = {}
        for name, result in zip(names, results, strict=True):
            self._record(name, result.ok)
            report[name] = {"ok": result.ok, "detail": result.detail}
        return all(r.ok for r in results), report

    def _record(self, name: str, ok: bool) -> None:
        """Set the dependency's gauge, and count an outage in the errors when it starts.

        Counted once per outage (a check that fails after one that passed), not once per
        check: an outage shorter than Prometheus's scrape interval, which the gauge can
        miss, still shows in ``agentfleet_errors_total{component=<dependency>}``, and a long
        one does not count more the more often it is checked.
        """
        DEPENDENCY_UP.labels(dependency=name).set(1 if ok else 0)
        if not ok and self._up.get(name, False):
            ERRORS.labels(component=name).inc()
        self._up[name] = ok

    def _due_round(self) -> asyncio.Task[None] | None:
        """The round of checks in flight, else a new one if the last began an interval ago."""
        if self._checking is not None and not self._checking.done():
            return self._checking
        now = asyncio.get_running_loop().time()
        if now < self._next_round:
            return None
        self._next_round = now + self.check_interval
        self._checking = asyncio.create_task(self._check_round(), name="dependency-check-round")
        return self._checking

    async def _check_round(self) -> None:
        # The checks catch their own failures (a failed check is a result), so a round
        # never raises and the timer never dies.
        await self.readiness()

    async def _check_periodically(self) -> None:
        """Run a round of checks whenever one is due, for as long as the server runs."""
        loop = asyncio.get_running_loop()
        while True:
            round_ = self._due_round()
            if round_ is not None:
                # wait(), not await: a round a scrape is also waiting for is not cancelled.
                await asyncio.wait({round_})
            await asyncio.sleep(max(0.0, self._next_round - loop.time()))

    @staticmethod
    async def _run(check: Check) -> CheckResult:
        try:
            return await asyncio.wait_for(check(), 2.0)
        except TimeoutError:
            return CheckResult(False, "timed out")
        except Exception as error:
            return CheckResult(False, f"{error.__class__.__name__}: {error}")

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "role": self.role, "uptime_seconds": round(time.time() - self.started)}
        )

    async def _ready(self, _request: web.Request) -> web.Response:
        ready, report = await self.readiness()
        body = {"status": "ready" if ready else "not ready", "role": self.role, "checks": report}
        return web.json_response(body, status=200 if ready else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        await self.refresh_metrics()
        return web.Response(
            body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
