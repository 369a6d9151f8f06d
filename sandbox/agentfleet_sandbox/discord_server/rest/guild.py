"""Reads of the one guild, its channels and members (``fetch_guild``, ``fetch_channel``...).

discord.py gets most of this from GUILD_CREATE; these answer the explicit fetches, so a
bot that re-reads the guild sees the same state the gateway gave it.
"""

from __future__ import annotations

from aiohttp import web

from ..responses import ApiError, json_response
from ..world import VIEW_CHANNEL, World
from .validation import caller, channel_id, check_guild, require_permission


class GuildRoutes:
    """``guilds/{guild_id}`` with its channels and members, and ``channels/{channel_id}``."""

    def __init__(self, world: World) -> None:
        self.world = world

    def add_routes(self, router: web.UrlDispatcher, prefix: str) -> None:
        """Mount the handlers under ``prefix``."""
        router.add_get(f"{prefix}/guilds/{{guild_id}}", self._get_guild)
        router.add_get(f"{prefix}/guilds/{{guild_id}}/channels", self._get_guild_channels)
        router.add_get(f"{prefix}/guilds/{{guild_id}}/members/{{user_id}}", self._get_member)
        router.add_get(f"{prefix}/channels/{{channel_id}}", self._get_channel)

    async def _get_guild(self, request: web.Request) -> web.Response:
        check_guild(self.world, request)
        payload = self.world.guild_payload()
        # The REST guild object, unlike GUILD_CREATE, carries none of the guild's contents.
        for key in ("members", "channels", "threads", "presences", "voice_states"):
            payload.pop(key, None)
        return json_response(payload)

    async def _get_guild_channels(self, request: web.Request) -> web.Response:
        check_guild(self.world, request)
        # Discord lists the guild's channels here: not its threads, never a DM.
        channels = [c for c in self.world.channels.values() if c.guild_text]
        return json_response([self.world.channel_payload(c) for c in channels])

    async def _get_member(self, request: web.Request) -> web.Response:
        check_guild(self.world, request)
        try:
            user = self.world.resolve_user(request.match_info["user_id"])
        except KeyError:
            raise ApiError(404, 10007, "Unknown Member") from None
        return json_response(self.world.member_payload(user))

    async def _get_channel(self, request: web.Request) -> web.Response:
        bot = caller(self.world, request)
        cid = channel_id(self.world, request)
        require_permission(self.world, bot, cid, VIEW_CHANNEL)
        return json_response(self.world.channel_payload(self.world.channels[cid]))
