"""The REST API as one piece: its route groups, and what every call passes through.

Every call under :data:`API_PREFIX` goes through :meth:`RestApi.envelope`: injected faults
first (delay, 429), then the handler, with errors in Discord's JSON shape and Discord's
``X-RateLimit-*`` headers on the answer, then a line in :attr:`RestApi.request_log`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final

from aiohttp import web

from ..fanout import Fanout
from ..faults import Faults, too_many_requests
from ..responses import ApiError, Handler, json_response, ratelimit_bucket
from ..world import World
from .guild import GuildRoutes
from .identity import IdentityRoutes
from .interactions import InteractionRoutes
from .messages import MessageRoutes

# The server's logger: the warning is the server answering, wherever the code lives.
_log = logging.getLogger("agentfleet_sandbox.discord_server.server")

API_PREFIX: Final = "/api/v10"


class RestApi:
    """The REST route groups and the middleware that wraps every REST call."""

    def __init__(
        self,
        world: World,
        fanout: Fanout,
        faults: Faults,
        *,
        gateway_url: Callable[[], str],
        interaction_ack_seconds: float,
    ) -> None:
        """Build the route groups; ``gateway_url`` is read per call (the port comes later)."""
        self.world = world
        self.faults = faults
        self.identity = IdentityRoutes(world, gateway_url)
        self.guild = GuildRoutes(world)
        self.messages = MessageRoutes(world, fanout)
        self.interactions = InteractionRoutes(world, fanout, interaction_ack_seconds)
        self.request_log: list[tuple[str, str, int]] = []
        """(method, route template, status) of every REST call, for tests."""

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Mount every group under :data:`API_PREFIX`."""
        for group in (self.identity, self.guild, self.messages, self.interactions):
            group.add_routes(router, API_PREFIX)

    @web.middleware
    async def envelope(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Apply faults, render errors, add rate-limit headers and log, for REST calls only."""
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        resource = request.match_info.route.resource
        template = resource.canonical[len(API_PREFIX) :] if resource is not None else request.path
        route = f"{request.method} {template}"
        if self.faults.rest_delay:
            await asyncio.sleep(self.faults.rest_delay)
        bot = self.world.bot_for_token(request.headers.get("Authorization", ""))
        fault = self.faults.take_rate_limit(route, bot)
        if fault is not None:
            response: web.StreamResponse = too_many_requests(fault, route)
        else:
            response = await self._answer(request, handler)
            _add_ratelimit_headers(response, route)
        self.request_log.append((request.method, template, response.status))
        return response

    @staticmethod
    async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except web.HTTPException as exc:
            # Unknown routes/methods answer in Discord's JSON error shape; logged so a
            # client calling an endpoint the sandbox lacks is visible.
            _log.warning("sandbox: %s %s -> %s", request.method, request.path, exc.status)
            return json_response(
                {"message": f"{exc.status}: {exc.reason}", "code": 0}, status=exc.status
            )


def _add_ratelimit_headers(response: web.StreamResponse, route: str) -> None:
    # A generous bucket: discord.py never has to pre-emptively wait on the sandbox.
    response.headers.update(
        {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Bucket": ratelimit_bucket(route),
        }
    )
