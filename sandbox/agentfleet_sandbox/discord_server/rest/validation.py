"""The checks every REST handler starts with, failing the way Discord fails.

Who is calling (the bot token), which guild, channel or message the path names, whether
the body is JSON and the content short enough: each answers with Discord's status and
error code, because discord.py maps those to ``Forbidden``, ``NotFound`` and so on.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Final

from aiohttp import web

from ..responses import SERVER_LOG, ApiError, invalid_form_body
from ..world import VIEW_CHANNEL, Message, User, World

API_PREFIX: Final = "/api/v10"
MAX_CONTENT: Final = 2000
MAX_NONCE: Final = 25


def route_of(request: web.Request) -> str:
    """Name the call's route as ``METHOD /template`` (``POST /channels/{channel_id}/messages``).

    Logs and injected faults name routes this way, with the ids left as placeholders.
    """
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else request.path
    return f"{request.method} {template.removeprefix(API_PREFIX)}"


class FieldNotes:
    """Logs once per route and field name that a body field is accepted but not modelled.

    A bot using a part of Discord the sandbox does not model still gets its answer, and
    whoever reads the server's log learns which part of its request the answer ignored.
    A field left at nothing (null, false, empty) asks for nothing, so it is not noted:
    discord.py sends ``"tts": false`` with every message.
    """

    def __init__(self) -> None:
        self._noted: set[tuple[str, str]] = set()

    def note(
        self, request: web.Request, body: Mapping[str, Any], modelled: Collection[str]
    ) -> None:
        """Log each field of ``body`` outside ``modelled`` not yet noted for this route."""
        route = route_of(request)
        for name, value in body.items():
            if name in modelled or value in (None, False, "", [], {}):
                continue
            if (route, name) in self._noted:
                continue
            self._noted.add((route, name))
            SERVER_LOG.warning(
                "sandbox: %s accepted field %r but does not model it (noted once)", route, name
            )


def caller(world: World, request: web.Request) -> User:
    """Return the bot whose token authorises ``request``; 401 otherwise."""
    bot = world.bot_for_token(request.headers.get("Authorization", ""))
    if bot is None:
        raise ApiError(401, 0, "401: Unauthorized")
    return bot


def check_guild(world: World, request: web.Request) -> None:
    """Authorise ``request`` and check that its ``{guild_id}`` is the sandbox guild."""
    caller(world, request)
    if request.match_info["guild_id"] != str(world.guild_id):
        raise ApiError(404, 10004, "Unknown Guild")


def channel_id(world: World, request: web.Request) -> int:
    """Return the path's ``{channel_id}`` if it names a channel (of the guild, or a DM)."""
    try:
        cid = int(request.match_info["channel_id"])
    except ValueError:
        cid = -1
    if cid not in world.channels:
        raise ApiError(404, 10003, "Unknown Channel")
    return cid


def require_permission(world: World, bot: User, channel: int, permission: int) -> None:
    """Refuse the call unless ``bot`` holds ``permission`` in ``channel``, as Discord does.

    A channel the bot cannot see is 403 "Missing Access" (50001); a missing permission in
    a channel it sees is 403 "Missing Permissions" (50013), which discord.py raises as
    ``Forbidden``.
    """
    allowed = world.permissions(bot, channel)
    if not allowed & VIEW_CHANNEL:
        raise ApiError(403, 50001, "Missing Access")
    if allowed & permission != permission:
        raise ApiError(403, 50013, "Missing Permissions")


def message_in(world: World, request: web.Request, channel: int) -> Message:
    """Return the path's ``{message_id}`` if it is a message of ``channel``."""
    try:
        message = world.messages.get(int(request.match_info["message_id"]))
    except ValueError:
        message = None
    if message is None or message.channel_id != channel:
        raise ApiError(404, 10008, "Unknown Message")
    return message


async def read_body(request: web.Request) -> dict[str, Any]:
    """Return the JSON object a client sent (empty without a body)."""
    if not request.can_read_body:
        return {}
    if request.content_type.startswith("multipart/"):
        # discord.py sends multipart only with files; the JSON part is payload_json.
        form = await request.post()
        raw = form.get("payload_json")
        return json.loads(str(raw)) if raw is not None else {}
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, 50109, "The request body contains invalid JSON.")
    return data


def check_content(content: str) -> None:
    """Refuse message content over Discord's 2000 characters."""
    if len(content) > MAX_CONTENT:
        raise invalid_form_body(
            "content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
        )
