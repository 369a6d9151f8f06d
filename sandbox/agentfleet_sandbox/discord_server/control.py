"""The control API under ``/_control/``: the test handle of :class:`DiscordServer`, over HTTP.

The web page, a test in another process and a person with ``curl`` use it to see the
guild, post as a person, invoke slash commands and inject faults, which bots cannot do
through Discord's own API. Bodies and answers are JSON with ids as strings; errors use
Discord's ``{"code", "message"}`` shape.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .attachments import MAX_UPLOAD_BYTES, FileUpload
from .commands import CommandLineError
from .faults import DEFAULT_ROUTE
from .json_views import channel_json, interaction_json, message_json
from .responses import ApiError, json_response
from .rest.uploads import entity_too_large
from .rest.validation import MAX_CONTENT

if TYPE_CHECKING:
    from .server import DiscordServer

PREFIX = "/_control"


class ControlApi:
    """The ``/_control/`` handlers, each a thin HTTP face of a :class:`DiscordServer` method."""

    def __init__(self, server: DiscordServer) -> None:
        self.server = server
        self.world = server.world

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Mount the handlers under :data:`PREFIX` (the page's feed is mounted by the page)."""
        c = PREFIX
        router.add_get(f"{c}/state", self._state)
        router.add_get(f"{c}/messages", self._messages)
        router.add_get(f"{c}/channels/{{channel}}/messages", self._channel_messages)
        router.add_post(f"{c}/channels/{{channel}}/messages", self._post)
        router.add_post(f"{c}/direct-messages", self._post_direct)
        router.add_post(f"{c}/interactions", self._invoke)
        router.add_get(f"{c}/interactions/{{interaction_id}}", self._interaction)
        router.add_get(f"{c}/commands", self._commands)
        router.add_get(f"{c}/sessions", self._sessions)
        router.add_get(f"{c}/typing", self._typing)
        router.add_post(f"{c}/faults/close-gateway", self._close_gateway)
        router.add_post(f"{c}/faults/invalidate-session", self._invalidate)
        router.add_post(f"{c}/faults/gateway-reachable", self._gateway_reachable)
        router.add_post(f"{c}/faults/malformed-event", self._malformed)
        router.add_post(f"{c}/faults/rate-limit", self._rate_limit)
        router.add_post(f"{c}/faults/rest-delay", self._rest_delay)
        router.add_post(f"{c}/faults/clear", self._clear_faults)
        router.add_post(f"{c}/faults/reset-token", self._reset_token)
        router.add_post(f"{c}/faults/message-content-intent", self._message_content_intent)
        router.add_post(f"{c}/faults/deny-permission", self._deny_permission)

    # -- reading the guild -------------------------------------------------------------

    async def _state(self, request: web.Request) -> web.Response:
        server = self.server
        return json_response(
            {
                "guild_id": str(self.world.guild_id),
                "guild_name": self.world.guild_name,
                "channels": [channel_json(c) for c in self.world.channels.values()],
                "users": [
                    {
                        "id": str(u.id),
                        "key": u.key,
                        "name": u.name,
                        "bot": u.bot,
                        "colour": u.colour,
                    }
                    for u in self.world.users.values()
                ],
                "base_url": server.base_url,
                "api_base": server.api_base,
                "gateway_url": server.gateway_url,
            }
        )

    async def _messages(self, request: web.Request) -> web.Response:
        after = int(request.query.get("after", "0") or 0)
        return json_response(
            [message_json(self.world, m) for m in self.server.messages() if m.id > after]
        )

    def _channel(self, request: web.Request) -> int:
        """Return the id of the path's ``{channel}``, given as an id or a name."""
        try:
            return self.world.resolve_channel(request.match_info["channel"]).id
        except KeyError as exc:
            raise ApiError(404, 10003, str(exc.args[0])) from None

    async def _channel_messages(self, request: web.Request) -> web.Response:
        cid = self._channel(request)
        return json_response([message_json(self.world, m) for m in self.server.messages(cid)])

    async def _interaction(self, request: web.Request) -> web.Response:
        try:
            interaction = self.world.interactions[int(request.match_info["interaction_id"])]
        except (KeyError, ValueError):
            raise ApiError(404, 10062, "Unknown interaction") from None
        return json_response(interaction_json(self.world, interaction))

    async def _commands(self, request: web.Request) -> web.Response:
        out: list[dict[str, Any]] = []
        for app_id, scopes in self.world.commands.items():
            for commands in scopes.values():
                out.extend(
                    {**c, "application": self.world.users[app_id].key} for c in commands.values()
                )
        return json_response(out)

    async def _sessions(self, request: web.Request) -> web.Response:
        return json_response([s.info() for s in self.server.sessions()])

    async def _typing(self, request: web.Request) -> web.Response:
        return json_response(
            [
                {
                    "channel_id": str(t.channel_id),
                    "user": t.user.key,
                    "name": t.user.name,
                    "at": t.at,
                }
                for t in self.server.typing_events
            ]
        )

    # -- acting as a person ------------------------------------------------------------

    async def _post(self, request: web.Request) -> web.Response:
        cid = self._channel(request)
        body = await _body(request)
        files = _files(body.get("attachments"))
        content = _content(body, with_files=bool(files))
        reply_to = body.get("reply_to")
        try:
            message = await self.server.post_as_human(
                cid,
                content,
                author=str(body.get("author") or next(iter(self.world.humans))),
                mentions=[str(m) for m in body.get("mentions") or []],
                reply_to=int(reply_to) if reply_to else None,
                files=files,
            )
        except (KeyError, ValueError) as exc:
            raise ApiError(400, 0, str(exc.args[0] if exc.args else exc)) from None
        return json_response(message_json(self.world, message))

    async def _post_direct(self, request: web.Request) -> web.Response:
        body = await _body(request)
        content = _content(body)
        try:
            message = await self.server.post_direct(
                content,
                author=str(body.get("author") or next(iter(self.world.humans))),
                bot=str(body.get("bot")),
            )
        except (KeyError, ValueError) as exc:
            raise ApiError(400, 0, str(exc.args[0] if exc.args else exc)) from None
        return json_response(message_json(self.world, message))

    async def _invoke(self, request: web.Request) -> web.Response:
        """A person using an app: a button click, autocomplete, or a slash command."""
        body = await _body(request)
        user = str(body.get("user") or next(iter(self.world.humans)))
        channel = str(body.get("channel") or body.get("channel_id") or "command_center")
        try:
            if body.get("custom_id") is not None:
                interaction = await self.server.use_component(
                    int(body.get("message_id") or 0),
                    str(body["custom_id"]),
                    user=user,
                    values=[str(v) for v in body.get("values") or []],
                )
            elif body.get("focused") is not None:
                interaction = await self.server.autocomplete(
                    channel,
                    body.get("command"),
                    focused=str(body["focused"]),
                    user=user,
                    name=body.get("name"),
                    options=body.get("options"),
                )
            else:
                interaction = await self.server.invoke_command(
                    channel,
                    body.get("command"),
                    user=user,
                    name=body.get("name"),
                    options=body.get("options"),
                )
        except (CommandLineError, KeyError, ValueError) as exc:
            raise ApiError(400, 0, str(exc.args[0] if exc.args else exc)) from None
        return json_response(interaction_json(self.world, interaction))

    # -- faults ------------------------------------------------------------------------

    async def _close_gateway(self, request: web.Request) -> web.Response:
        body = await _body(request)
        count = self.server.close_gateway(body.get("bot"), int(body.get("code", 4000)))
        return json_response({"closed": count})

    async def _gateway_reachable(self, request: web.Request) -> web.Response:
        reachable = bool((await _body(request)).get("reachable", True))
        self.server.set_gateway_reachable(reachable)
        return json_response({"reachable": reachable})

    async def _invalidate(self, request: web.Request) -> web.Response:
        body = await _body(request)
        return json_response({"invalidated": self.server.invalidate_session(body.get("bot"))})

    async def _malformed(self, request: web.Request) -> web.Response:
        body = await _body(request)
        return json_response({"sent": self.server.send_malformed_event(body.get("bot"))})

    async def _rate_limit(self, request: web.Request) -> web.Response:
        body = await _body(request)
        self.server.inject_rate_limit(
            int(body.get("count", 1)),
            retry_after=float(body.get("retry_after", 0.05)),
            bot=body.get("bot"),
            route=body.get("route", DEFAULT_ROUTE),
            is_global=bool(body.get("global", False)),
        )
        return json_response({"pending": self.server.faults.pending_rate_limits})

    async def _rest_delay(self, request: web.Request) -> web.Response:
        body = await _body(request)
        self.server.set_rest_delay(float(body.get("seconds", 0)))
        return json_response({"seconds": self.server.faults.rest_delay})

    async def _reset_token(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            return json_response({"token": self.server.reset_token(str(body.get("bot")))})
        except KeyError as exc:
            raise ApiError(400, 0, str(exc.args[0])) from None

    async def _message_content_intent(self, request: web.Request) -> web.Response:
        body = await _body(request)
        bot, enabled = str(body.get("bot")), bool(body.get("enabled", False))
        try:
            self.server.set_message_content_intent(bot, enabled)
        except KeyError:
            raise ApiError(400, 0, f"unknown bot {bot!r}") from None
        return json_response({"bot": bot, "enabled": enabled})

    async def _deny_permission(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            self.server.deny_permission(
                str(body.get("bot")),
                str(body.get("channel")),
                body.get("permission") or "SEND_MESSAGES",
            )
        except KeyError as exc:
            raise ApiError(400, 0, str(exc.args[0])) from None
        return json_response({"denied": True})

    async def _clear_faults(self, request: web.Request) -> web.Response:
        self.server.clear_faults()
        return json_response({"cleared": True})


_FILES_USAGE = (
    'attachments must be a list of {"filename": "cat.png", "data": "<base64 of the bytes>"} '
    '(optional "content_type" and "description")'
)


def _files(items: Any) -> list[FileUpload]:
    """The files a person attaches: ``attachments`` of a control API post, bytes in base64."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise ApiError(400, 0, _FILES_USAGE)
    files = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
            raise ApiError(400, 0, _FILES_USAGE)
        try:
            data = base64.b64decode(str(item.get("data", "")), validate=True)
        except binascii.Error:
            raise ApiError(400, 0, f"{item['filename']}: data is not base64") from None
        content_type, description = item.get("content_type"), item.get("description")
        files.append(
            FileUpload(
                item["filename"],
                data,
                str(content_type) if content_type else None,
                str(description) if description else None,
            )
        )
    if sum(len(f.data) for f in files) > MAX_UPLOAD_BYTES:
        raise entity_too_large()
    return files


async def _body(request: web.Request) -> dict[str, Any]:
    """Return the JSON object posted (empty without a body); 400 for anything else."""
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except json.JSONDecodeError:
        raise ApiError(400, 0, "body must be JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, 0, "body must be a JSON object")
    return data


def _content(body: dict[str, Any], *, with_files: bool = False) -> str:
    """Return a person's message text, refused as Discord's client refuses it.

    Text may be empty only when files go with it.
    """
    content = str(body.get("content") or "")
    if not content.strip() and not with_files:
        raise ApiError(400, 50006, "Cannot send an empty message")
    if len(content) > MAX_CONTENT:
        raise ApiError(400, 50035, f"content must be {MAX_CONTENT} or fewer characters")
    return content
