"""The REST API as one piece: its route groups, and what every call passes through.

Every call under :data:`API_PREFIX` goes through :meth:`RestApi.envelope`: injected faults
first (delay, 429), then the handler, with errors in Discord's JSON shape and Discord's
``X-RateLimit-*`` headers on the answer, then a line in :attr:`RestApi.request_log`. Every
4xx is also logged with its route and reason: a bot refused here should not have to
guess why.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web

from ..fanout import Fanout
from ..faults import Faults, too_many_requests
from ..responses import ApiError, Handler, json_response, log_refusal, ratelimit_bucket
from ..world import World
from .guild import GuildRoutes
from .identity import IdentityRoutes
from .interactions import InteractionRoutes
from .messages import MessageRoutes
from .threads import ThreadRoutes
from .validation import API_PREFIX, route_of

__all__ = ["API_PREFIX", "RestApi"]


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
        self.threads = ThreadRoutes(world, fanout)
        self.interactions = InteractionRoutes(world, fanout, interaction_ack_seconds)
        self.request_log: list[tuple[str, str, int]] = []
        """(method, route template, status) of every REST call, for tests."""

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Mount every group under :data:`API_PREFIX`."""
        for group in (self.identity, self.guild, self.messages, self.threads, self.interactions):
            group.add_routes(router, API_PREFIX)

    @web.middleware
    async def envelope(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Apply faults, render errors, add rate-limit headers and log, for REST calls only."""
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        route = route_of(request)
        if self.faults.rest_delay:
            await asyncio.sleep(self.faults.rest_delay)
        bot = self.world.bot_for_token(request.headers.get("Authorization", ""))
        fault = self.faults.take_rate_limit(route, bot)
        if fault is not None:
            response: web.StreamResponse = too_many_requests(fault, route)
            log_refusal(route, response.status, "rate limited (an injected fault)")
        else:
            response = await self._answer(request, handler, route)
            _add_ratelimit_headers(response, route)
        self.request_log.append((request.method, route.partition(" ")[2], response.status))
        return response

    @staticmethod
    async def _answer(request: web.Request, handler: Handler, route: str) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            if exc.status < 500:
                log_refusal(route, exc.status, exc.reason())
            return exc.response()
        except web.HTTPException as exc:
            # Unknown routes/methods answer in Discord's JSON error shape; logged with the
            # path, as a client calling an endpoint the sandbox lacks has no route here.
            log_refusal(f"{request.method} {request.path}", exc.status, exc.reason)
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
