"""How the server answers over HTTP: JSON the way discord.py reads it, and Discord's errors.

The REST API and the control API both answer through these, so an error raised in either
renders with the same shape and the same exact ``Content-Type``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The server's own log: what it refused and what it accepted without modelling it. One
#: logger wherever the code lives, so a standalone server's output names them all.
SERVER_LOG = logging.getLogger("agentfleet_sandbox.discord_server.server")


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

    def reason(self) -> str:
        """One line for the server's log: the message, its code and each field at fault."""
        fields = "; ".join(f"{path}: {text}" for path, text in _field_errors(self.errors, ""))
        return f"{self.message} (code {self.code})" + (f": {fields}" if fields else "")


def _field_errors(errors: Any, path: str) -> Iterator[tuple[str, str]]:
    """Yield (dotted path, message) for each error in Discord's nested ``errors``."""
    if not isinstance(errors, dict):
        return
    for item in errors.get("_errors") or ():
        yield path or "body", str(item.get("message", ""))
    for key, nested in errors.items():
        if key != "_errors":
            yield from _field_errors(nested, f"{path}.{key}" if path else str(key))


def invalid_form_body(field: str, code: str, message: str) -> ApiError:
    """Return Discord's 400 "Invalid Form Body" (50035) naming the one ``field`` at fault.

    ``field`` is a dotted path (``embeds.0.fields.3.value``), nested in ``errors`` the way
    Discord nests it; discord.py shows the nested ``errors`` in its ``HTTPException``
    text, so a client's mistake reads the same as it would against Discord.
    """
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(field.split(".")):
        errors = {key: errors}
    return ApiError(400, 50035, "Invalid Form Body", errors)


def missing_field(field: str) -> ApiError:
    """Return Discord's "Invalid Form Body" for a required ``field`` left out."""
    return invalid_form_body(field, "BASE_TYPE_REQUIRED", "This field is required")


def not_one_of(field: str, choices: Iterable[object]) -> ApiError:
    """Return Discord's "Invalid Form Body" for a ``field`` outside its allowed ``choices``."""
    listed = ", ".join(str(c) for c in choices)
    return invalid_form_body(field, "BASE_TYPE_CHOICES", f"Value must be one of {{{listed}}}.")


@web.middleware
async def render_api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer an :class:`ApiError` raised by any handler with its Discord-shaped body.

    REST calls are answered (and logged) by the REST envelope before this; what reaches
    here is the control API's, logged the same way so a refused test call is explained.
    """
    try:
        return await handler(request)
    except ApiError as exc:
        log_refusal(f"{request.method} {request.path}", exc.status, exc.reason())
        return exc.response()


def log_refusal(route: str, status: int, reason: str) -> None:
    """Log a 4xx the server answered: the route and why, so a client's mistake is visible."""
    SERVER_LOG.warning("sandbox: %s -> %d %s", route, status, reason)


def ratelimit_bucket(route: str) -> str:
    """Return the ``X-RateLimit-Bucket`` of ``route``: stable, so discord.py keys on it."""
    return hashlib.sha1(route.encode()).hexdigest()[:16]
