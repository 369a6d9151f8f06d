"""Threads: a conversation branched off a text channel, from a message or on its own.

``message.create_thread`` and ``channel.create_thread`` land here, and ``thread.join``,
``thread.add_user`` and ``thread.leave``. A thread is a channel of its own (messages are
sent to its id as to any channel) that takes its parent's permissions; one started from a
message has that message's id, as on Discord. Creating one sends THREAD_CREATE to the bots
that can see it; a bot added to a private thread gets THREAD_CREATE then, as on Discord.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from ..fanout import Fanout
from ..responses import ApiError, invalid_form_body, json_response, not_one_of
from ..world import (
    CHANNEL_PRIVATE_THREAD,
    CHANNEL_PUBLIC_THREAD,
    CREATE_PRIVATE_THREADS,
    CREATE_PUBLIC_THREADS,
    VIEW_CHANNEL,
    Channel,
    World,
)
from .validation import (
    FieldNotes,
    caller,
    channel_id,
    message_in,
    read_body,
    require_permission,
)

MAX_THREAD_NAME: Final = 100
#: Minutes of inactivity after which Discord archives a thread; the only values it takes.
ARCHIVE_DURATIONS: Final = (60, 1440, 4320, 10080)
DEFAULT_ARCHIVE_DURATION: Final = 1440
MODELLED_FIELDS: Final = frozenset({"name", "auto_archive_duration", "type"})


class ThreadRoutes:
    """``channels/{id}/messages/{id}/threads`` and ``channels/{id}/threads``."""

    def __init__(self, world: World, fanout: Fanout) -> None:
        self.world = world
        self.fanout = fanout
        self.notes = FieldNotes()

    def add_routes(self, router: web.UrlDispatcher, prefix: str) -> None:
        """Mount the handlers under ``prefix``."""
        channel = f"{prefix}/channels/{{channel_id}}"
        router.add_post(f"{channel}/messages/{{message_id}}/threads", self._from_message)
        router.add_post(f"{channel}/threads", self._without_message)
        router.add_put(f"{channel}/thread-members/{{user_id}}", self._add_member)
        router.add_delete(f"{channel}/thread-members/@me", self._leave)

    async def _from_message(self, request: web.Request) -> web.Response:
        bot = caller(self.world, request)
        parent = self._parent(request)
        starter = message_in(self.world, request, parent.id)
        require_permission(self.world, bot, parent.id, CREATE_PUBLIC_THREADS)
        if starter.id in self.world.channels:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        body = await read_body(request)
        self.notes.note(request, body, MODELLED_FIELDS)
        thread = self.world.add_thread(
            parent,
            name=_name(body),
            owner=bot,
            private=False,
            auto_archive_duration=_archive_duration(body),
            starter=starter,
        )
        self.fanout.thread_created(thread)
        # The starter message now shows its thread (and the HAS_THREAD flag).
        self.fanout.message_updated(starter)
        return json_response(self.world.channel_payload(thread), status=201)

    async def _without_message(self, request: web.Request) -> web.Response:
        bot = caller(self.world, request)
        parent = self._parent(request)
        body = await read_body(request)
        self.notes.note(request, body, MODELLED_FIELDS)
        # Discord's API still defaults a thread without a message to a private one.
        kind = body.get("type") or CHANNEL_PRIVATE_THREAD
        if kind not in (CHANNEL_PUBLIC_THREAD, CHANNEL_PRIVATE_THREAD):
            raise not_one_of("type", (CHANNEL_PUBLIC_THREAD, CHANNEL_PRIVATE_THREAD))
        private = kind == CHANNEL_PRIVATE_THREAD
        require_permission(
            self.world, bot, parent.id, CREATE_PRIVATE_THREADS if private else CREATE_PUBLIC_THREADS
        )
        thread = self.world.add_thread(
            parent,
            name=_name(body),
            owner=bot,
            private=private,
            auto_archive_duration=_archive_duration(body),
        )
        self.fanout.thread_created(thread)
        return json_response(self.world.channel_payload(thread), status=201)

    async def _add_member(self, request: web.Request) -> web.Response:
        """Join the thread (``@me``) or add a user; only who sees the thread may do either."""
        bot = caller(self.world, request)
        thread = self._thread(request)
        require_permission(self.world, bot, thread.id, VIEW_CHANNEL)
        ref = request.match_info["user_id"]
        try:
            member = bot if ref == "@me" else self.world.resolve_user(ref)
        except KeyError:
            raise ApiError(404, 10013, "Unknown User") from None
        could_see = self.world.permissions(member, thread.id) & VIEW_CHANNEL
        self.world.thread_members[thread.id].add(member.id)
        if not could_see:
            self.fanout.thread_created(thread, added=member)
        return web.Response(status=204)

    async def _leave(self, request: web.Request) -> web.Response:
        bot = caller(self.world, request)
        thread = self._thread(request)
        self.world.thread_members[thread.id].discard(bot.id)
        return web.Response(status=204)

    def _thread(self, request: web.Request) -> Channel:
        """Return the path's channel if it is a thread."""
        channel = self.world.channels[channel_id(self.world, request)]
        if channel.thread is None:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        return channel

    def _parent(self, request: web.Request) -> Channel:
        """Return the path's channel if threads can hang off it (a guild text channel)."""
        channel = self.world.channels[channel_id(self.world, request)]
        if not channel.guild_text:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        return channel


def _name(body: Mapping[str, Any]) -> str:
    name = str(body.get("name") or "").strip()
    if not 1 <= len(name) <= MAX_THREAD_NAME:
        raise invalid_form_body(
            "name", "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_THREAD_NAME} in length."
        )
    return name


def _archive_duration(body: Mapping[str, Any]) -> int:
    duration = body.get("auto_archive_duration") or DEFAULT_ARCHIVE_DURATION
    if duration not in ARCHIVE_DURATIONS:
        raise not_one_of("auto_archive_duration", ARCHIVE_DURATIONS)
    return int(duration)
