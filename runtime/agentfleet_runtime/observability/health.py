"""The HTTP endpoints of every role: /health (liveness), /ready (readiness), /metrics.

Liveness answers as long as the event loop runs, so Kubernetes restarts only a wedged
process. Readiness reports each dependency by name and answers 503 while any required one
is down, which is what a person running ``curl localhost:8000/ready`` needs to see.
Metrics read from Redis (the Gemini budget, the pipeline's outcome) are refreshed on
scrape, but a scrape waits for them at most :data:`METRICS_REFRESH_WAIT` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agentfleet_runtime.contract import HEALTH_PATH, METRICS_PATH, READY_PATH
from agentfleet_runtime.observability.metrics import DEPENDENCY_UP, REGISTRY

log = logging.getLogger(__name__)

METRICS_REFRESH_WAIT: Final = 1.0
"""Seconds a /metrics answer waits for its refreshes; after that it serves the values of the
last refresh that finished (a stuck Redis must not make Prometheus time out the scrape)."""


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
        self._runner: web.AppRunner | None = None
        self._refreshing: asyncio.Task[None] | None = None

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
        log.info("health endpoints on :%d (%s, %s, %s)", self.port, HEALTH_PATH, READY_PATH,
                 METRICS_PATH)  # fmt: skip

    async def stop(self) -> None:
        """Stop serving."""
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing
        if self._runner is not None:
            await self._runner.cleanup()

    async def refresh_metrics(self) -> None:
        """Run the refreshes, waiting at most :data:`METRICS_REFRESH_WAIT` seconds.

        A refresh still running from an earlier scrape is waited for, not started again,
        so scrapes against a stuck Redis never pile up requests.
        """
        if not self.refreshes:
            return
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh_all())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._refreshing), METRICS_REFRESH_WAIT)

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
            DEPENDENCY_UP.labels(dependency=name).set(1 if result.ok else 0)
            report[name] = {"ok": result.ok, "detail": result.detail}
        return all(r.ok for r in results), report

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
