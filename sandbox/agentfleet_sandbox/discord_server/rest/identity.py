"""Who is calling and where to connect: the calls discord.py makes while logging in.

``login()`` reads ``users/@me`` (an unknown token fails here, as ``LoginFailure``), the
application (its id becomes ``client.application_id``) and ``gateway/bot`` (where the
websocket goes). ``users/{id}`` answers ``fetch_user``, and ``users/@me/channels`` opens
the direct-message channel ``user.create_dm()`` sends to.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ..responses import ApiError, json_response, missing_field
from ..world import World
from .validation import caller, read_body


class IdentityRoutes:
    """``users``, ``applications/@me`` and ``gateway`` under the API prefix."""

    def __init__(self, world: World, gateway_url: Callable[[], str]) -> None:
        """``gateway_url`` returns the public websocket URL, known only once listening."""
        self.world = world
        self.gateway_url = gateway_url

    def add_routes(self, router: web.UrlDispatcher, prefix: str) -> None:
        """Mount the handlers under ``prefix``."""
        router.add_get(f"{prefix}/users/@me", self._get_me)
        router.add_get(f"{prefix}/users/{{user_id}}", self._get_user)
        router.add_post(f"{prefix}/users/@me/channels", self._open_dm)
        router.add_get(f"{prefix}/oauth2/applications/@me", self._get_application)
        router.add_get(f"{prefix}/applications/@me", self._get_application)
        router.add_get(f"{prefix}/gateway", self._get_gateway)
        router.add_get(f"{prefix}/gateway/bot", self._get_gateway)

    async def _get_me(self, request: web.Request) -> web.Response:
        return json_response(caller(self.world, request).self_payload())

    async def _get_user(self, request: web.Request) -> web.Response:
        caller(self.world, request)
        try:
            return json_response(self.world.resolve_user(request.match_info["user_id"]).payload())
        except KeyError:
            raise ApiError(404, 10013, "Unknown User") from None

    async def _open_dm(self, request: web.Request) -> web.Response:
        """Open (or find) the one DM channel between the calling bot and a person."""
        bot = caller(self.world, request)
        recipient = (await read_body(request)).get("recipient_id")
        if recipient is None:
            raise missing_field("recipient_id")
        try:
            user = self.world.resolve_user(str(recipient))
        except KeyError:
            raise ApiError(404, 10013, "Unknown User") from None
        if user.bot:
            # Discord lets no bot message another bot directly.
            raise ApiError(400, 50007, "Cannot send messages to this user")
        return json_response(self.world.channel_payload(self.world.direct_channel(user, bot)))

    async def _get_application(self, request: web.Request) -> web.Response:
        return json_response(self.world.application_payload(caller(self.world, request)))

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url(),
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 86_400_000,
                    "max_concurrency": 1,
                },
            }
        )
