"""Interactions from the app's side: registering commands, answering, following up.

``CommandTree.sync`` bulk-overwrites an app's commands; a person invoking one, clicking a
message's button or typing into an autocompleted option (from the page or a test)
becomes an INTERACTION_CREATE; the app then answers once through the callback and may
send follow-ups through the interaction's webhook. Which answers fit which interaction,
the 3 s acknowledgement deadline and the one-answer rule are Discord's, so an app that
answers wrongly, slowly or twice fails here as it would there:

=====  ==========================  ==================================================
type   callback                    what it does here
=====  ==========================  ==================================================
4      CHANNEL_MESSAGE             a new message answering the interaction
5      DEFERRED_CHANNEL_MESSAGE    a "thinking" message, delivered by editing it
6      DEFERRED_UPDATE_MESSAGE     component only: ``@original`` is the clicked message
7      UPDATE_MESSAGE              component only: edits the clicked message
8      AUTOCOMPLETE_RESULT         autocomplete only: the choices, kept for the control API
9      MODAL                       accepted; the modal itself is not modelled
=====  ==========================  ==================================================
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from ..fanout import Fanout
from ..responses import ApiError, invalid_form_body, json_response, missing_field, not_one_of
from ..world import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    INTERACTION_AUTOCOMPLETE,
    INTERACTION_COMMAND,
    INTERACTION_COMPONENT,
    MESSAGE_CHAT_INPUT_COMMAND,
    Interaction,
    Message,
    User,
    World,
)
from .rich import MESSAGE_BODY_FIELDS, Shown, read_edit, read_new
from .validation import FieldNotes, caller, read_body

CALLBACK_MESSAGE: Final = 4
CALLBACK_DEFERRED_MESSAGE: Final = 5
CALLBACK_DEFERRED_UPDATE: Final = 6
CALLBACK_UPDATE: Final = 7
CALLBACK_AUTOCOMPLETE: Final = 8
CALLBACK_MODAL: Final = 9
#: The callbacks Discord takes for each interaction type.
ALLOWED_CALLBACKS: Final[Mapping[int, frozenset[int]]] = {
    INTERACTION_COMMAND: frozenset({CALLBACK_MESSAGE, CALLBACK_DEFERRED_MESSAGE, CALLBACK_MODAL}),
    INTERACTION_COMPONENT: frozenset(
        {
            CALLBACK_MESSAGE,
            CALLBACK_DEFERRED_MESSAGE,
            CALLBACK_DEFERRED_UPDATE,
            CALLBACK_UPDATE,
            CALLBACK_MODAL,
        }
    ),
    INTERACTION_AUTOCOMPLETE: frozenset({CALLBACK_AUTOCOMPLETE}),
}
MAX_CHOICES: Final = 25
MAX_CHOICE_NAME: Final = 100
#: What a callback's ``data`` may say that the server acts on, by callback type.
MODELLED_DATA: Final[Mapping[int, frozenset[str]]] = {
    CALLBACK_MESSAGE: MESSAGE_BODY_FIELDS,
    CALLBACK_DEFERRED_MESSAGE: frozenset({"flags"}),
    CALLBACK_UPDATE: MESSAGE_BODY_FIELDS,
    CALLBACK_AUTOCOMPLETE: frozenset({"choices"}),
}


class InteractionRoutes:
    """``applications/{app_id}/.../commands``, ``interactions/.../callback`` and ``webhooks``."""

    def __init__(self, world: World, fanout: Fanout, ack_seconds: float) -> None:
        """``ack_seconds`` is how long an app has to answer (or defer) an interaction."""
        self.world = world
        self.fanout = fanout
        self.ack_seconds = ack_seconds
        self.notes = FieldNotes()

    def add_routes(self, router: web.UrlDispatcher, prefix: str) -> None:
        """Mount the handlers under ``prefix``."""
        app = f"{prefix}/applications/{{app_id}}"
        router.add_put(f"{app}/commands", self._put_commands)
        router.add_get(f"{app}/commands", self._get_commands)
        router.add_put(f"{app}/guilds/{{guild_id}}/commands", self._put_commands)
        router.add_get(f"{app}/guilds/{{guild_id}}/commands", self._get_commands)
        router.add_post(
            f"{prefix}/interactions/{{interaction_id}}/{{token}}/callback", self._callback
        )
        hook = f"{prefix}/webhooks/{{app_id}}/{{token}}"
        router.add_post(hook, self._webhook_execute)
        router.add_get(f"{hook}/messages/{{message_id}}", self._webhook_get)
        router.add_patch(f"{hook}/messages/{{message_id}}", self._webhook_edit)
        router.add_delete(f"{hook}/messages/{{message_id}}", self._webhook_delete)

    # -- application commands ----------------------------------------------------------

    def _app(self, request: web.Request) -> User:
        """Return the calling bot if the path's app (and guild) is its own."""
        bot = caller(self.world, request)
        if request.match_info["app_id"] != str(bot.id):
            raise ApiError(403, 50001, "Missing Access")
        if "guild_id" in request.match_info and request.match_info["guild_id"] != str(
            self.world.guild_id
        ):
            raise ApiError(404, 10004, "Unknown Guild")
        return bot

    async def _put_commands(self, request: web.Request) -> web.Response:
        app = self._app(request)
        body = await request.json()
        if not isinstance(body, list):
            raise ApiError(400, 50035, "Invalid Form Body")
        guild_id = self.world.guild_id if "guild_id" in request.match_info else None
        stored = self.world.put_commands(app, guild_id, body)
        self.fanout.changes.notify()
        return json_response(stored)

    async def _get_commands(self, request: web.Request) -> web.Response:
        app = self._app(request)
        guild_id = self.world.guild_id if "guild_id" in request.match_info else None
        return json_response(list(self.world.commands.get(app.id, {}).get(guild_id, {}).values()))

    # -- the callback: the app's one answer ----------------------------------------------

    def _interaction_for(self, request: web.Request) -> Interaction:
        """Return the interaction the path's token (and id or app id) names."""
        interaction = self.world.interaction_by_token(request.match_info["token"])
        if interaction is None:
            raise ApiError(404, 10015, "Unknown Webhook")
        if "interaction_id" in request.match_info and request.match_info["interaction_id"] != str(
            interaction.id
        ):
            raise ApiError(404, 10062, "Unknown interaction")
        if "app_id" in request.match_info and request.match_info["app_id"] != str(
            interaction.application.id
        ):
            raise ApiError(404, 10015, "Unknown Webhook")
        return interaction

    async def _callback(self, request: web.Request) -> web.Response:
        interaction = self._interaction_for(request)
        self._check_answerable(interaction)
        body = await read_body(request)
        kind = body.get("type")
        allowed = ALLOWED_CALLBACKS[interaction.type]
        if kind not in allowed:
            raise not_one_of("type", sorted(allowed))
        data = body.get("data") or {}
        self.notes.note(request, data, MODELLED_DATA.get(kind, frozenset()))
        ephemeral = bool(int(data.get("flags") or 0) & FLAG_EPHEMERAL)
        message: Message | None = None
        if kind in (CALLBACK_MESSAGE, CALLBACK_DEFERRED_MESSAGE):
            message = self._original_response(interaction, kind, data, ephemeral)
            self.fanout.message_created(message)
        elif kind in (CALLBACK_DEFERRED_UPDATE, CALLBACK_UPDATE):
            message = self._update_clicked(interaction, kind, data)
        elif kind == CALLBACK_AUTOCOMPLETE:
            interaction.choices = _choices(data)
        interaction.callback_type = kind
        self.fanout.interaction_changed(interaction)
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return web.Response(status=204)
        return json_response(_callback_result(self.world, interaction, kind, ephemeral, message))

    def _check_answerable(self, interaction: Interaction) -> None:
        """Refuse a second answer, and any answer after the acknowledgement deadline."""
        if interaction.acknowledged:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if time.time() - interaction.created_at > self.ack_seconds:
            # Discord forgets an interaction not answered (or deferred) within 3 s.
            interaction.expired = True
            self.fanout.interaction_changed(interaction)
            raise ApiError(404, 10062, "Unknown interaction")

    def _original_response(
        self, interaction: Interaction, kind: int, data: dict[str, Any], ephemeral: bool
    ) -> Message:
        """Store the answer message (empty and loading while deferred), not yet fanned out."""
        if kind == CALLBACK_MESSAGE:
            shown = read_new(data, other_parts=bool(data.get("attachments")))
        else:
            shown = Shown(content="", embeds=[], components=[], flags=0)
        loading = FLAG_LOADING if kind == CALLBACK_DEFERRED_MESSAGE else 0
        message = self.world.add_message(
            channel_id=interaction.channel_id,
            author=interaction.application,
            content=shown.content,
            embeds=shown.embeds,
            components=shown.components,
            flags=shown.flags | (FLAG_EPHEMERAL if ephemeral else 0) | loading,
            msg_type=MESSAGE_CHAT_INPUT_COMMAND,
            webhook_id=interaction.application.id,
            interaction_id=interaction.id,
            allowed_mentions=data.get("allowed_mentions"),
            source="interaction",
        )
        interaction.original_id = message.id
        return message

    def _update_clicked(
        self, interaction: Interaction, kind: int, data: Mapping[str, Any]
    ) -> Message | None:
        """Answer a click by updating the clicked message: now (7) or by a later edit (6).

        Either way the clicked message becomes the interaction's ``@original``.
        """
        message = self.world.messages.get(interaction.message_id or 0)
        if message is None:
            raise ApiError(404, 10008, "Unknown Message")
        interaction.original_id = message.id
        if kind == CALLBACK_DEFERRED_UPDATE:
            return None
        read_edit(data, message, other_parts=bool(data.get("attachments"))).apply(message)
        message.edited_at = time.time()
        self.fanout.message_updated(message)
        return message

    # -- the interaction's webhook: follow-ups and the original response ----------------

    async def _webhook_execute(self, request: web.Request) -> web.Response:
        interaction = self._interaction_for(request)
        if not interaction.acknowledged:
            raise ApiError(404, 10015, "Unknown Webhook")
        body = await read_body(request)
        self.notes.note(request, body, MESSAGE_BODY_FIELDS)
        shown = read_new(body, other_parts=bool(body.get("attachments")))
        message = self.world.add_message(
            channel_id=interaction.channel_id,
            author=interaction.application,
            content=shown.content,
            embeds=shown.embeds,
            components=shown.components,
            flags=shown.flags | (int(body.get("flags") or 0) & FLAG_EPHEMERAL),
            msg_type=MESSAGE_CHAT_INPUT_COMMAND,
            webhook_id=interaction.application.id,
            interaction_id=interaction.id,
            allowed_mentions=body.get("allowed_mentions"),
            source="webhook",
        )
        interaction.followup_ids.append(message.id)
        self.fanout.message_created(message)
        self.fanout.interaction_changed(interaction)
        if request.query.get("wait", "").lower() in ("1", "true"):
            return json_response(self.world.message_payload(message))
        return web.Response(status=204)

    def _webhook_message(self, request: web.Request, interaction: Interaction) -> Message:
        """Return the path's ``@original`` or follow-up id if it belongs to ``interaction``."""
        ref = request.match_info["message_id"]
        mid = interaction.original_id if ref == "@original" else int(ref) if ref.isdigit() else None
        owned = {interaction.original_id, *interaction.followup_ids}
        if mid is None or mid not in owned or mid not in self.world.messages:
            raise ApiError(404, 10008, "Unknown Message")
        return self.world.messages[mid]

    async def _webhook_get(self, request: web.Request) -> web.Response:
        interaction = self._interaction_for(request)
        return json_response(
            self.world.message_payload(self._webhook_message(request, interaction))
        )

    async def _webhook_edit(self, request: web.Request) -> web.Response:
        interaction = self._interaction_for(request)
        message = self._webhook_message(request, interaction)
        body = await read_body(request)
        self.notes.note(request, body, MESSAGE_BODY_FIELDS)
        # A deferred answer is empty until this edit fills it: check the result as a send.
        read_edit(body, message, other_parts=bool(body.get("attachments"))).apply(message)
        # Editing a deferred answer is how the app delivers it: the "thinking" state ends.
        message.flags &= ~FLAG_LOADING
        message.edited_at = time.time()
        self.fanout.message_updated(message)
        self.fanout.interaction_changed(interaction)
        return json_response(self.world.message_payload(message))

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        interaction = self._interaction_for(request)
        message = self._webhook_message(request, interaction)
        self.world.remove_message(message)
        self.fanout.message_deleted(message)
        return web.Response(status=204)


def _callback_result(
    world: World, interaction: Interaction, kind: int, ephemeral: bool, message: Message | None
) -> dict[str, Any]:
    """Render the ``?with_response=true`` body: the interaction and what it now shows."""
    result: dict[str, Any] = {
        "interaction": {
            "id": str(interaction.id),
            "type": interaction.type,
            "response_message_loading": kind == CALLBACK_DEFERRED_MESSAGE,
            "response_message_ephemeral": ephemeral,
        }
    }
    if message is not None:
        result["interaction"]["response_message_id"] = str(message.id)
        result["resource"] = {"type": kind, "message": world.message_payload(message)}
    else:
        result["resource"] = {"type": kind}
    return result


def _choices(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Check an autocomplete answer as Discord does: up to 25 choices, each named."""
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise missing_field("data.choices")
    if len(choices) > MAX_CHOICES:
        raise invalid_form_body(
            "data.choices", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CHOICES} or fewer in length."
        )
    for i, choice in enumerate(choices):
        name = choice.get("name") if isinstance(choice, dict) else None
        named = isinstance(name, str) and 1 <= len(name) <= MAX_CHOICE_NAME
        if not named or "value" not in choice:
            raise invalid_form_body(
                f"data.choices.{i}",
                "BASE_TYPE_BAD_LENGTH",
                f"A choice needs a name of 1 to {MAX_CHOICE_NAME} characters and a value.",
            )
    return choices
