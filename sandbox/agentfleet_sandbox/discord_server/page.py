"""The web page at ``/`` and its live feed of server-sent events at ``/_control/events``.

The page is one static HTML file: it reads the guild and the history through the control
API once, then follows the feed, so people watching see bots type and answer as it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from importlib import resources
from typing import Any

from aiohttp import web

#: Seconds between keep-alive comments, so proxies and browsers keep an idle feed open.
KEEP_ALIVE_SECONDS = 15
_CLOSING = ""
"""The frame that tells a feed the server is stopping (a real frame is never empty)."""


class LiveFeed:
    """Every connected page's queue of frames: what happened, as ``{"type", "data"}`` JSON."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[str]] = set()

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Send ``{"type": kind, "data": data}`` to every connected page."""
        frame = json.dumps({"type": kind, "data": data}, ensure_ascii=False)
        for queue in self._subscribers:
            queue.put_nowait(frame)

    def close(self) -> None:
        """End every open feed, so stopping the server does not wait on browsers."""
        for queue in list(self._subscribers):
            queue.put_nowait(_CLOSING)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Serve one page's feed until it goes away or the server stops."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            await response.write(b": connected\n\n")
            await self._forward(queue, response)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._subscribers.discard(queue)
        with contextlib.suppress(Exception):
            await response.write_eof()
        return response

    @staticmethod
    async def _forward(queue: asyncio.Queue[str], response: web.StreamResponse) -> None:
        while True:
            try:
                frame = await asyncio.wait_for(queue.get(), timeout=KEEP_ALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if frame == _CLOSING:
                return
            await response.write(f"data: {frame}\n\n".encode())


async def page(request: web.Request) -> web.Response:
    """Serve the chat page (read on every request, so editing it needs no restart)."""
    html = resources.files(__package__).joinpath("static/index.html").read_text("utf-8")
    return web.Response(text=html, content_type="text/html")


def add_page_routes(router: web.UrlDispatcher, feed: LiveFeed) -> None:
    """Mount the page at ``/`` and ``feed`` at ``/_control/events``."""
    router.add_get("/_control/events", feed.stream)
    router.add_get("/", page)
