"""How the server answers over HTTP: JSON the way discord.py reads it, and Discord's errors.

The REST API and the control API both answer through these, so an error raised in either
renders with the same shape and the same exact ``Content-Type``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Return JSON with ``Content-Type: application/json`` exactly.

    discord.py compares the header to that string; ``web.json_response`` would add
    ``; charset=utf-8`` and make discord.py treat every body as text.
    """
    body = json.dumps(data, ensure_ascii=False).encode()
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


class ApiError(Exception):
    """An error answered as Discord does: ``{"code": ..., "message": ...}``."""

    def __init__(self, status: int, code: int, message: str, errors: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def response(self) -> web.Response:
        """Render the error body."""
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return json_response(body, status=self.status)


def invalid_form_body(field: str, code: str, message: str) -> ApiError:
    """Return Discord's 400 "Invalid Form Body" (50035) naming the one ``field`` at fault.

    discord.py shows the nested ``errors`` in its ``HTTPException`` text, so a client's
    mistake reads the same as it would against Discord.
    """
    errors = {field: {"_errors": [{"code": code, "message": message}]}}
    return ApiError(400, 50035, "Invalid Form Body", errors)


@web.middleware
async def render_api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer an :class:`ApiError` raised by any handler with its Discord-shaped body."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()


def ratelimit_bucket(route: str) -> str:
    """Return the ``X-RateLimit-Bucket`` of ``route``: stable, so discord.py keys on it."""
    return hashlib.sha1(route.encode()).hexdigest()[:16]
