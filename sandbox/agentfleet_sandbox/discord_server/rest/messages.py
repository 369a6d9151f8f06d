"""A bot's messages: send, read, edit, delete, and the typing indicator.

Sending follows Discord's rules that bots rely on: replies through ``message_reference``
(``fail_if_not_exists``), pings decided by ``allowed_mentions``, idempotent retries with
``nonce`` + ``enforce_nonce``, the 2000-character limit, embeds and components as
``rich.py`` checks them, files as multipart uploads (:mod:`.uploads`). Every change is
fanned out as the matching gateway event, so other bots see it as they would on Discord.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from ..fanout import Fanout
from ..responses import ApiError, invalid_form_body, json_response
from ..world import (
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    Message,
    User,
    World,
)
from .rich import MESSAGE_BODY_FIELDS, read_edit, read_new
from .uploads import read_message_form
from .validation import (
    MAX_NONCE,
    FieldNotes,
    caller,
    channel_id,
    message_in,
    read_body,
    require_permission,
)

#: What a send's body may say that the server acts on; anything else is noted in the log.
MODELLED_SEND_FIELDS: Final = MESSAGE_BODY_FIELDS | {"nonce", "enforce_nonce", "message_reference"}


@dataclass(frozen=True, slots=True)
class TypingEvent:
    """A ``POST /channels/{id}/typing`` call: who started typing where and when."""

    channel_id: int
    user: User
    at: float


class MessageRoutes:
    """``channels/{channel_id}/messages`` and ``channels/{channel_id}/typing``."""

    def __init__(self, world: World, fanout: Fanout) -> None:
        self.world = world
        self.fanout = fanout
        self.typing_events: list[TypingEvent] = []
        """Every typing call, oldest first: typing has no lasting state to inspect."""
        self.notes = FieldNotes()

    def add_routes(self, router: web.UrlDispatcher, prefix: str) -> None:
        """Mount the handlers under ``prefix``."""
        channel = f"{prefix}/channels/{{channel_id}}"
        router.add_post(f"{channel}/typing", self._post_typing)
        router.add_post(f"{channel}/messages", self._post_message)
        router.add_get(f"{channel}/messages", self._get_messages)
        router.add_get(f"{channel}/messages/{{message_id}}", self._get_message)
        router.add_patch(f"{channel}/messages/{{message_id}}", self._patch_message)
        router.add_delete(f"{channel}/messages/{{message_id}}", self._delete_message)

    async def _post_typing(self, request: web.Request) -> web.Response:
        bot = caller(self.world, request)
        cid = channel_id(self.world, request)
        require_permission(self.world, bot, cid, SEND_MESSAGES)
        now = time.time()
        self.typing_events.append(TypingEvent(cid, bot, now))
        self.fanout.typing_started(cid, bot, now)
        return web.Response(status=204)

    async def _post_message(self, request: web.Request) -> web.Response:
        bot = caller(self.world, request)
        cid = channel_id(self.world, request)
        require_permission(self.world, bot, cid, SEND_MESSAGES)
        body, uploads = await read_message_form(request)
        self.notes.note(request, body, MODELLED_SEND_FIELDS)
        shown = read_new(body, other_parts=bool(uploads))
        nonce = _nonce(body)
        if nonce is not None and body.get("enforce_nonce"):
            existing = self.world.find_by_nonce(bot, cid, nonce)
            if existing is not None:
                # Discord's documented idempotency: same author + nonce within minutes
                # returns the message already created and creates nothing new.
                return json_response(self.world.message_payload(existing))
        reference_id = self._reference(body, cid)
        if reference_id is not None:
            # A reply shows the message it answers: Discord asks for the history permission.
            require_permission(self.world, bot, cid, READ_MESSAGE_HISTORY)
        allowed = body.get("allowed_mentions")
        message = self.world.add_message(
            channel_id=cid,
            author=bot,
            content=shown.content,
            reference_id=reference_id,
            nonce=nonce,
            allowed_mentions=allowed if isinstance(allowed, dict) else None,
            flags=shown.flags,
            embeds=shown.embeds,
            components=shown.components,
            attachments=self.world.add_attachments(cid, uploads),
        )
        self.fanout.message_created(message)
        return json_response(self.world.message_payload(message))

    def _reference(self, body: Mapping[str, Any], channel: int) -> int | None:
        """Return the id of the message this one replies to, if it is one of ``channel``."""
        ref = body.get("message_reference")
        if not isinstance(ref, dict) or ref.get("message_id") is None:
            return None
        target = self.world.messages.get(int(ref["message_id"]))
        if target is not None and target.channel_id == channel:
            return target.id
        if ref.get("fail_if_not_exists", True):
            raise invalid_form_body(
                "message_reference", "REPLIES_UNKNOWN_MESSAGE", "Unknown message"
            )
        return None  # fail_if_not_exists=False: send as a plain message, like Discord

    async def _get_messages(self, request: web.Request) -> web.Response:
        bot = caller(self.world, request)
        cid = channel_id(self.world, request)
        require_permission(self.world, bot, cid, VIEW_CHANNEL)
        if not self.world.permissions(bot, cid) & READ_MESSAGE_HISTORY:
            return json_response([])  # Discord answers an empty history, not an error
        chosen = _page_of(self.world.history[cid], request.query)
        # Discord returns newest first whatever the query.
        return json_response([self.world.message_payload(m) for m in reversed(chosen)])

    async def _get_message(self, request: web.Request) -> web.Response:
        caller(self.world, request)
        message = message_in(self.world, request, channel_id(self.world, request))
        return json_response(self.world.message_payload(message))

    async def _patch_message(self, request: web.Request) -> web.Response:
        bot = caller(self.world, request)
        message = message_in(self.world, request, channel_id(self.world, request))
        if message.author.id != bot.id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        body = await read_body(request)
        self.notes.note(request, body, MESSAGE_BODY_FIELDS)
        # Editing a message's files is not modelled: the ones it has stay.
        read_edit(body, message, other_parts=bool(message.attachments)).apply(message)
        message.edited_at = time.time()
        self.fanout.message_updated(message)
        return json_response(self.world.message_payload(message))

    async def _delete_message(self, request: web.Request) -> web.Response:
        caller(self.world, request)
        message = message_in(self.world, request, channel_id(self.world, request))
        self.world.remove_message(message)
        self.fanout.message_deleted(message)
        return web.Response(status=204)


def _nonce(body: Mapping[str, Any]) -> str | None:
    """Return the body's ``nonce`` as Discord stores it (a string), refusing long ones."""
    nonce = body.get("nonce")
    if nonce is None:
        return None
    nonce = str(nonce)
    if len(nonce) > MAX_NONCE:
        raise invalid_form_body(
            "nonce", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_NONCE} or fewer in length."
        )
    return nonce


def _page_of(history: list[Message], query: Mapping[str, str]) -> list[Message]:
    """Pick the messages ``?limit`` with ``before``, ``after`` or ``around`` asks for."""
    limit = max(1, min(100, int(query.get("limit", "50"))))
    if "before" in query:
        return [m for m in history if m.id < int(query["before"])][-limit:]
    if "after" in query:
        return [m for m in history if m.id > int(query["after"])][:limit]
    if "around" in query:
        around = int(query["around"])
        older = [m for m in history if m.id <= around][-((limit + 1) // 2) :]
        newer = [m for m in history if m.id > around][: limit // 2]
        return older + newer
    return history[-limit:]
