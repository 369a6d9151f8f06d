"""The local Discord-compatible server: REST + gateway + control API + web page.

:class:`DiscordServer` is both the aiohttp application and the Python handle tests use
(``start``/``stop``, ``post_as_human``, ``wait_for_message``, fault injection). REST lives
under ``/api/v10`` (point ``discord.http.Route.BASE`` at :attr:`DiscordServer.api_base`),
the gateway at ``/gw``, the JSON control API under ``/_control/`` and the page at ``/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, TypeVar

from aiohttp import web

from .commands import CommandLineError, build_options, split_command_line
from .gateway import Gateway, GatewaySession
from .world import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    INTENT_GUILD_MESSAGE_TYPING,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    MESSAGE_CHAT_INPUT_COMMAND,
    Interaction,
    Message,
    User,
    World,
)

_log = logging.getLogger(__name__)

API_PREFIX: Final = "/api/v10"
GATEWAY_PATH: Final = "/gw"
MAX_CONTENT: Final = 2000
MAX_NONCE: Final = 25

T = TypeVar("T")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


@dataclass(slots=True)
class RateLimitFault:
    """Answer the next ``remaining`` matching REST calls with 429."""

    remaining: int
    retry_after: float
    bot: str | None
    route: str | None
    """``"POST /channels/{channel_id}/messages"`` style; None matches any route."""
    is_global: bool = False


@dataclass(frozen=True, slots=True)
class TypingEvent:
    """A ``POST /channels/{id}/typing`` call: who started typing where and when."""

    channel_id: int
    user: User
    at: float


class DiscordServer:
    """A local Discord subset for discord.py 2.7 clients, plus a control API and web page.

    Use ``async with DiscordServer() as server`` or ``await start()``/``await stop()``.
    ``port=0`` picks a free port (see :attr:`port` after start).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Mapping[str, str] | None = None,
        humans: Sequence[str] = ("alice", "bob"),
        heartbeat_interval_ms: int = 41_250,
        guild_name: str = "AgentFleet Sandbox",
        interaction_ack_seconds: float = 3.0,
    ) -> None:
        """Configure the server; ``tokens`` maps bot keys (reception, spectra...) to tokens.

        ``interaction_ack_seconds`` is how long an app has to answer (or defer) an
        interaction before it becomes unknown, 3 s as on Discord.
        """
        self.host = host
        self._requested_port = port
        self.port = port
        self.world = World(tokens=tokens, humans=humans, guild_name=guild_name)
        self.gateway = Gateway(
            self.world, ws_url=lambda: self.gateway_url, heartbeat_interval_ms=heartbeat_interval_ms
        )
        self.gateway.ready_listeners.append(lambda _s: self._notify({"type": "session"}))
        self.interaction_ack_seconds = interaction_ack_seconds
        self.rate_limits: list[RateLimitFault] = []
        self.rest_delay = 0.0
        self.typing_events: list[TypingEvent] = []
        self.request_log: list[tuple[str, str, int]] = []
        """(method, route template, status) of every REST call, for tests."""
        self._subscribers: set[asyncio.Queue[str]] = set()
        self._changed: asyncio.Condition | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.app = self._build_app()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve (returns once listening)."""
        self._changed = asyncio.Condition()
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        # With port 0 the OS picks the port: read it back from the bound socket.
        self.port = int(self._runner.addresses[0][1])
        _log.info("discord sandbox listening on %s", self.base_url)

    async def stop(self) -> None:
        """Close every gateway socket and event stream, then stop serving."""
        await self.gateway.close_all()
        for queue in list(self._subscribers):
            queue.put_nowait("")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- addresses and ids -------------------------------------------------------------

    @property
    def public_host(self) -> str:
        """The host clients should use (loopback when bound to every interface)."""
        return "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the web page and control API."""
        return f"http://{self.public_host}:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE`` (and ``DISCORD_API_BASE_URL``)."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """Value for ``DiscordWebSocket.DEFAULT_GATEWAY`` (and ``DISCORD_GATEWAY_URL``)."""
        return f"ws://{self.public_host}:{self.port}{GATEWAY_PATH}"

    @property
    def guild_id(self) -> int:
        """The one guild's id."""
        return self.world.guild_id

    @property
    def channel_ids(self) -> dict[str, int]:
        """Channel name → id."""
        return dict(self.world.channel_ids)

    def channel_id(self, name: str) -> int:
        """Return the id of channel ``name`` (command_center, lounge, development, creation)."""
        return self.world.resolve_channel(name).id

    def user_id(self, name: str) -> int:
        """Return the user id of a bot key (``spectra``...) or human name (``alice``)."""
        return self.world.resolve_user(name).id

    def token(self, bot: str) -> str:
        """Return the token configured for bot key ``bot``."""
        return self.world.token_for(bot)

    # -- observation -------------------------------------------------------------------

    def messages(self, channel: str | int | None = None) -> list[Message]:
        """Messages oldest first: of one channel (name or id), or of all channels."""
        if channel is None:
            return sorted(self.world.messages.values(), key=lambda m: m.id)
        return list(self.world.history[self.world.resolve_channel(channel).id])

    def sessions(self, bot: str | None = None) -> list[GatewaySession]:
        """Gateway sessions (all, or of bot key ``bot``), including invalidated ones."""
        return [s for s in self.gateway.sessions.values() if bot is None or s.user.key == bot]

    def interaction(self, interaction_id: int) -> Interaction:
        """Return a stored interaction by id."""
        return self.world.interactions[interaction_id]

    async def wait_for(self, check: Callable[[], T | None], timeout: float = 5.0) -> T:  # noqa: ASYNC109
        """Wait until ``check()`` returns something other than None/False; return it.

        Raises ``TimeoutError`` after ``timeout`` seconds.
        """
        condition = self._changed
        assert condition is not None, "server not started"
        async with asyncio.timeout(timeout):
            while True:
                result = check()
                if result is not None and result is not False:
                    return result
                # Woken by any server-side change; the short poll also covers state that
                # lives outside the server (a client's own bookkeeping in a test).
                async with condition:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(condition.wait(), 0.05)

    async def wait_for_message(
        self,
        predicate: Callable[[Message], bool] = lambda _m: True,
        *,
        channel: str | int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a test handle: the deadline belongs in the call
    ) -> Message:
        """Return the first (oldest) stored message matching ``predicate``, waiting for it."""

        def check() -> Message | None:
            return next((m for m in self.messages(channel) if predicate(m)), None)

        return await self.wait_for(check, timeout)

    # -- actions as a human ------------------------------------------------------------

    async def post_as_human(
        self,
        channel: str | int,
        content: str,
        *,
        author: str = "alice",
        mentions: Iterable[str | int] = (),
        reply_to: int | None = None,
    ) -> Message:
        """Post as human ``author``; ``mentions`` (names or ids) are added as ``<@id>``."""
        user = self.world.resolve_user(author)
        if user.bot:
            raise ValueError(f"{author!r} is a bot; humans post through the control API")
        target = self.world.resolve_channel(channel)
        if reply_to is not None and reply_to not in self.world.messages:
            raise KeyError(f"unknown message {reply_to}")
        content = self._expand_mentions(content)
        prefix = []
        for ref in mentions:
            mention = f"<@{self.world.resolve_user(ref).id}>"
            if mention not in content:
                prefix.append(mention)
        if prefix:
            content = " ".join([*prefix, content])
        message = self.world.add_message(
            channel_id=target.id,
            author=user,
            content=content,
            reference_id=reply_to,
            source="human",
        )
        self._fanout_create(message)
        return message

    def _expand_mentions(self, content: str) -> str:
        """Turn ``@SPECTRA`` typed in the page into ``<@id>`` markup, as Discord's client does."""
        if "@" not in content:
            return content
        for user in self.world.users.values():
            pattern = re.compile(rf"(?<![<\w])@{re.escape(user.name)}\b", re.IGNORECASE)
            content = pattern.sub(f"<@{user.id}>", content)
        return content

    async def invoke_command(
        self,
        channel: str | int,
        command_line: str | None = None,
        *,
        user: str = "alice",
        name: str | None = None,
        options: list[dict[str, Any]] | None = None,
    ) -> Interaction:
        """Invoke a registered slash command as a human; dispatches INTERACTION_CREATE.

        Either ``command_line`` (``/task commit development "text"``, parsed against the
        registered schema) or ``name`` + raw ``options``.
        """
        invoker = self.world.resolve_user(user)
        target = self.world.resolve_channel(channel)
        if command_line is not None:
            name, words = split_command_line(command_line)
        elif name is None:
            raise CommandLineError("give a command line or a command name")
        else:
            words = []
        try:
            app, command = self.world.find_command(name)
        except KeyError as exc:
            raise CommandLineError(str(exc.args[0])) from None
        resolved: dict[str, Any] = {}
        if options is None:
            options, resolved = build_options(self.world, command, words)
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": 1,
            "options": options,
        }
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        interaction = self.world.new_interaction(
            app=app, user=invoker, channel_id=target.id, data=data
        )
        payload = self.world.interaction_payload(interaction)
        self.gateway.dispatch_all(
            "INTERACTION_CREATE", lambda s: payload if s.user.id == app.id else None
        )
        self._publish("interaction", self._interaction_json(interaction))
        return interaction

    async def wait_for_interaction_reply(
        self,
        interaction_id: int,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        final: bool = True,
    ) -> Message:
        """Wait for the interaction's visible reply: its original response message.

        With ``final`` a deferred ("thinking") response counts only once it has been edited
        or a follow-up was sent; then the newest such message is returned.
        """
        interaction = self.world.interactions[interaction_id]

        def check() -> Message | None:
            if interaction.followup_ids:
                return self.world.messages[interaction.followup_ids[-1]]
            if interaction.original_id is None:
                return None
            original = self.world.messages[interaction.original_id]
            if final and original.flags & FLAG_LOADING:
                return None
            return original

        return await self.wait_for(check, timeout)

    # -- faults ------------------------------------------------------------------------

    def close_gateway(self, bot: str | None = None, code: int = 4000) -> int:
        """Close ``bot``'s websocket(s) with ``code`` (4000 → discord.py RESUMEs)."""
        return self.gateway.close_connections(bot, code)

    def invalidate_session(self, bot: str | None = None) -> int:
        """Send INVALID_SESSION(false): the client must IDENTIFY anew."""
        return self.gateway.invalidate(bot)

    def send_malformed_event(self, bot: str | None = None) -> int:
        """Dispatch a MESSAGE_CREATE missing required keys to ``bot``'s sessions.

        discord.py's parser raises on it inside the gateway loop, which ends that client's
        ``start()``: the failure a supervisor must recover from.
        """
        channel_id = next(iter(self.world.channels))
        count = 0
        for session in self.gateway.sessions_of(bot):
            session.dispatch("MESSAGE_CREATE", {"id": "1", "channel_id": str(channel_id)})
            count += 1
        return count

    def inject_rate_limit(
        self,
        count: int = 1,
        *,
        retry_after: float = 0.05,
        bot: str | None = None,
        route: str | None = "POST /channels/{channel_id}/messages",
        is_global: bool = False,
    ) -> None:
        """Answer the next ``count`` matching REST calls with a well-formed 429."""
        self.rate_limits.append(RateLimitFault(count, retry_after, bot, route, is_global))

    def set_rest_delay(self, seconds: float) -> None:
        """Delay every REST response by ``seconds`` (0 disables)."""
        self.rest_delay = max(0.0, seconds)

    def clear_faults(self) -> None:
        """Remove pending 429s and the REST delay."""
        self.rate_limits.clear()
        self.rest_delay = 0.0

    # -- fan-out and notifications -----------------------------------------------------

    def _can_read(self, session: GatewaySession, message: Message) -> bool:
        # Discord withholds content from sessions without the message-content intent,
        # except for their own messages and messages that mention them.
        return (
            session.has_intent(INTENT_MESSAGE_CONTENT)
            or message.author.id == session.user.id
            or session.user.id in message.mention_ids
        )

    def _fanout_create(self, message: Message) -> None:
        if not message.ephemeral:
            self.gateway.dispatch_all(
                "MESSAGE_CREATE",
                lambda s: (
                    self.world.message_payload(message, hide_content=not self._can_read(s, message))
                    if s.has_intent(INTENT_GUILD_MESSAGES)
                    else None
                ),
            )
        self._publish("message", self.message_json(message))

    def _fanout_update(self, message: Message) -> None:
        if not message.ephemeral:
            self.gateway.dispatch_all(
                "MESSAGE_UPDATE",
                lambda s: (
                    self.world.message_payload(message, hide_content=not self._can_read(s, message))
                    if s.has_intent(INTENT_GUILD_MESSAGES)
                    else None
                ),
            )
        self._publish("message_update", self.message_json(message))

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        frame = json.dumps({"type": kind, "data": data}, ensure_ascii=False)
        for queue in self._subscribers:
            queue.put_nowait(frame)
        self._notify(data)

    def _notify(self, _data: object) -> None:
        condition = self._changed
        if condition is None:
            return

        async def wake() -> None:
            async with condition:
                condition.notify_all()

        # Waiters hold the condition only between checks, so waking them is quick.
        task = asyncio.get_running_loop().create_task(wake())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- JSON views for the control API (ids as strings: snowflakes exceed JS numbers) -

    def message_json(self, message: Message) -> dict[str, Any]:
        """Flat JSON view of a message for the control API and the web page."""
        channel = self.world.channels[message.channel_id]
        return {
            "id": str(message.id),
            "channel_id": str(channel.id),
            "channel": channel.name,
            "author_id": str(message.author.id),
            "author": message.author.key,
            "author_name": message.author.name,
            "bot": message.author.bot,
            "colour": message.author.colour,
            "content": message.content,
            "reply_to": str(message.reference_id) if message.reference_id else None,
            "mentions": [str(u) for u in message.mention_ids],
            "nonce": message.nonce,
            "flags": message.flags,
            "ephemeral": message.ephemeral,
            "loading": bool(message.flags & FLAG_LOADING),
            "allowed_mentions": message.allowed_mentions,
            "created_at": message.created_at,
            "edited_at": message.edited_at,
            "source": message.source,
            "interaction_id": str(message.interaction_id) if message.interaction_id else None,
        }

    def _interaction_json(self, interaction: Interaction) -> dict[str, Any]:
        def msg(mid: int | None) -> dict[str, Any] | None:
            return self.message_json(self.world.messages[mid]) if mid else None

        return {
            "id": str(interaction.id),
            "application": interaction.application.key,
            "user": interaction.user.key,
            "channel_id": str(interaction.channel_id),
            "data": interaction.data,
            "callback_type": interaction.callback_type,
            "acknowledged": interaction.acknowledged,
            "expired": interaction.expired,
            "original": msg(interaction.original_id),
            "followups": [msg(m) for m in interaction.followup_ids],
        }

    # -- app -------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._api_middleware], client_max_size=8 * 1024 * 1024)
        api = API_PREFIX
        r = app.router
        r.add_get(GATEWAY_PATH, self.gateway.handle)
        r.add_get(f"{api}/users/@me", self._get_me)
        r.add_get(f"{api}/users/{{user_id}}", self._get_user)
        r.add_get(f"{api}/oauth2/applications/@me", self._get_application)
        r.add_get(f"{api}/applications/@me", self._get_application)
        r.add_get(f"{api}/gateway", self._get_gateway)
        r.add_get(f"{api}/gateway/bot", self._get_gateway)
        r.add_get(f"{api}/guilds/{{guild_id}}", self._get_guild)
        r.add_get(f"{api}/guilds/{{guild_id}}/channels", self._get_guild_channels)
        r.add_get(f"{api}/guilds/{{guild_id}}/members/{{user_id}}", self._get_member)
        r.add_get(f"{api}/channels/{{channel_id}}", self._get_channel)
        r.add_post(f"{api}/channels/{{channel_id}}/typing", self._post_typing)
        r.add_post(f"{api}/channels/{{channel_id}}/messages", self._post_message)
        r.add_get(f"{api}/channels/{{channel_id}}/messages", self._get_messages)
        r.add_get(f"{api}/channels/{{channel_id}}/messages/{{message_id}}", self._get_message)
        r.add_patch(f"{api}/channels/{{channel_id}}/messages/{{message_id}}", self._patch_message)
        r.add_delete(f"{api}/channels/{{channel_id}}/messages/{{message_id}}", self._delete_message)
        r.add_put(f"{api}/applications/{{app_id}}/commands", self._put_commands)
        r.add_get(f"{api}/applications/{{app_id}}/commands", self._get_commands)
        r.add_put(f"{api}/applications/{{app_id}}/guilds/{{guild_id}}/commands", self._put_commands)
        r.add_get(f"{api}/applications/{{app_id}}/guilds/{{guild_id}}/commands", self._get_commands)
        r.add_post(f"{api}/interactions/{{interaction_id}}/{{token}}/callback", self._callback)
        r.add_post(f"{api}/webhooks/{{app_id}}/{{token}}", self._webhook_execute)
        hook_msg = f"{api}/webhooks/{{app_id}}/{{token}}/messages/{{message_id}}"
        r.add_get(hook_msg, self._webhook_get)
        r.add_patch(hook_msg, self._webhook_edit)
        r.add_delete(hook_msg, self._webhook_delete)
        # Control API and page.
        c = "/_control"
        r.add_get(f"{c}/state", self._c_state)
        r.add_get(f"{c}/messages", self._c_messages)
        r.add_get(f"{c}/channels/{{channel}}/messages", self._c_channel_messages)
        r.add_post(f"{c}/channels/{{channel}}/messages", self._c_post)
        r.add_post(f"{c}/interactions", self._c_invoke)
        r.add_get(f"{c}/interactions/{{interaction_id}}", self._c_interaction)
        r.add_get(f"{c}/commands", self._c_commands)
        r.add_get(f"{c}/sessions", self._c_sessions)
        r.add_get(f"{c}/typing", self._c_typing)
        r.add_get(f"{c}/events", self._c_events)
        r.add_post(f"{c}/faults/close-gateway", self._c_close_gateway)
        r.add_post(f"{c}/faults/invalidate-session", self._c_invalidate)
        r.add_post(f"{c}/faults/malformed-event", self._c_malformed)
        r.add_post(f"{c}/faults/rate-limit", self._c_rate_limit)
        r.add_post(f"{c}/faults/rest-delay", self._c_rest_delay)
        r.add_post(f"{c}/faults/clear", self._c_clear_faults)
        r.add_get("/", self._page)
        return app

    @web.middleware
    async def _api_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            try:
                return await handler(request)
            except ApiError as exc:
                return exc.response()
        resource = request.match_info.route.resource
        template = resource.canonical[len(API_PREFIX) :] if resource is not None else request.path
        route = f"{request.method} {template}"
        if self.rest_delay:
            await asyncio.sleep(self.rest_delay)
        bot = self.world.bot_for_token(request.headers.get("Authorization", ""))
        fault = self._take_rate_limit(route, bot)
        if fault is not None:
            response: web.StreamResponse = self._too_many_requests(fault, route)
        else:
            try:
                response = await handler(request)
            except ApiError as exc:
                response = exc.response()
            except web.HTTPException as exc:
                # Unknown routes/methods answer in Discord's JSON error shape; logged so a
                # client calling an endpoint the sandbox lacks is visible.
                _log.warning("sandbox: %s %s -> %s", request.method, request.path, exc.status)
                response = json_response(
                    {"message": f"{exc.status}: {exc.reason}", "code": 0}, status=exc.status
                )
            self._add_ratelimit_headers(response, route)
        self.request_log.append((request.method, template, response.status))
        return response

    def _take_rate_limit(self, route: str, bot: User | None) -> RateLimitFault | None:
        for fault in self.rate_limits:
            if fault.remaining <= 0:
                continue
            if fault.route is not None and fault.route != route:
                continue
            if fault.bot is not None and (bot is None or bot.key != fault.bot):
                continue
            fault.remaining -= 1
            self.rate_limits = [f for f in self.rate_limits if f.remaining > 0]
            return fault
        return None

    @staticmethod
    def _bucket(route: str) -> str:
        return hashlib.sha1(route.encode()).hexdigest()[:16]

    def _too_many_requests(self, fault: RateLimitFault, route: str) -> web.Response:
        # discord.py takes a 429 without ``Via`` (or with a non-JSON body) for a
        # Cloudflare ban and gives up; Discord's real 429s carry both.
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(max(1, round(fault.retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{fault.retry_after:.3f}",
            "X-RateLimit-Reset": f"{time.time() + fault.retry_after:.3f}",
            "X-RateLimit-Bucket": self._bucket(route),
            "X-RateLimit-Scope": "global" if fault.is_global else "user",
        }
        if fault.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": fault.retry_after,
            "global": fault.is_global,
            "code": 0,
        }
        return json_response(body, status=429, headers=headers)

    def _add_ratelimit_headers(self, response: web.StreamResponse, route: str) -> None:
        # A generous bucket: discord.py never has to pre-emptively wait on the sandbox.
        response.headers.update(
            {
                "X-RateLimit-Limit": "50",
                "X-RateLimit-Remaining": "49",
                "X-RateLimit-Reset-After": "1.000",
                "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
                "X-RateLimit-Bucket": self._bucket(route),
            }
        )

    # -- REST helpers ------------------------------------------------------------------

    def _auth(self, request: web.Request) -> User:
        bot = self.world.bot_for_token(request.headers.get("Authorization", ""))
        if bot is None:
            raise ApiError(401, 0, "401: Unauthorized")
        return bot

    def _channel(self, request: web.Request) -> int:
        try:
            cid = int(request.match_info["channel_id"])
        except ValueError:
            cid = -1
        if cid not in self.world.channels:
            raise ApiError(404, 10003, "Unknown Channel")
        return cid

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
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

    @staticmethod
    def _validate_content(content: str) -> None:
        if len(content) > MAX_CONTENT:
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "content": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_MAX_LENGTH",
                                "message": "Must be 2000 or fewer in length.",
                            }
                        ]
                    }
                },
            )

    def _message(self, request: web.Request, channel_id: int) -> Message:
        try:
            message = self.world.messages.get(int(request.match_info["message_id"]))
        except ValueError:
            message = None
        if message is None or message.channel_id != channel_id:
            raise ApiError(404, 10008, "Unknown Message")
        return message

    # -- REST: identity ----------------------------------------------------------------

    async def _get_me(self, request: web.Request) -> web.Response:
        return json_response(self._auth(request).self_payload())

    async def _get_user(self, request: web.Request) -> web.Response:
        self._auth(request)
        try:
            return json_response(self.world.resolve_user(request.match_info["user_id"]).payload())
        except KeyError:
            raise ApiError(404, 10013, "Unknown User") from None

    async def _get_application(self, request: web.Request) -> web.Response:
        return json_response(self.world.application_payload(self._auth(request)))

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 86_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    # -- REST: guild and channels ------------------------------------------------------

    def _guild(self, request: web.Request) -> None:
        self._auth(request)
        if request.match_info["guild_id"] != str(self.world.guild_id):
            raise ApiError(404, 10004, "Unknown Guild")

    async def _get_guild(self, request: web.Request) -> web.Response:
        self._guild(request)
        payload = self.world.guild_payload()
        for key in ("members", "channels", "threads", "presences", "voice_states"):
            payload.pop(key, None)
        return json_response(payload)

    async def _get_guild_channels(self, request: web.Request) -> web.Response:
        self._guild(request)
        return json_response([c.payload(self.world.guild_id) for c in self.world.channels.values()])

    async def _get_member(self, request: web.Request) -> web.Response:
        self._guild(request)
        try:
            user = self.world.resolve_user(request.match_info["user_id"])
        except KeyError:
            raise ApiError(404, 10007, "Unknown Member") from None
        return json_response(self.world.member_payload(user))

    async def _get_channel(self, request: web.Request) -> web.Response:
        self._auth(request)
        cid = self._channel(request)
        history = self.world.history[cid]
        return json_response(
            self.world.channels[cid].payload(
                self.world.guild_id, history[-1].id if history else None
            )
        )

    # -- REST: messages ----------------------------------------------------------------

    async def _post_typing(self, request: web.Request) -> web.Response:
        bot = self._auth(request)
        cid = self._channel(request)
        now = time.time()
        self.typing_events.append(TypingEvent(cid, bot, now))
        data = {
            "channel_id": str(cid),
            "guild_id": str(self.world.guild_id),
            "user_id": str(bot.id),
            "timestamp": int(now),
            "member": self.world.member_payload(bot),
        }
        self.gateway.dispatch_all(
            "TYPING_START",
            lambda s: (
                data if s.has_intent(INTENT_GUILD_MESSAGE_TYPING) and s.user.id != bot.id else None
            ),
        )
        self._publish(
            "typing", {"channel_id": str(cid), "user": bot.key, "name": bot.name, "at": now}
        )
        return web.Response(status=204)

    async def _post_message(self, request: web.Request) -> web.Response:
        bot = self._auth(request)
        cid = self._channel(request)
        body = await self._body(request)
        content = str(body.get("content") or "")
        self._validate_content(content)
        if not content.strip() and not body.get("embeds") and not body.get("sticker_ids"):
            raise ApiError(400, 50006, "Cannot send an empty message")
        nonce = body.get("nonce")
        nonce = str(nonce) if nonce is not None else None
        if nonce is not None and len(nonce) > MAX_NONCE:
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "nonce": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_MAX_LENGTH",
                                "message": "Must be 25 or fewer in length.",
                            }
                        ]
                    }
                },
            )
        if nonce is not None and body.get("enforce_nonce"):
            existing = self.world.find_by_nonce(bot, cid, nonce)
            if existing is not None:
                # Discord's documented idempotency: same author + nonce within minutes
                # returns the message already created and creates nothing new.
                return json_response(self.world.message_payload(existing))
        reference_id = self._reference(body, cid)
        allowed = body.get("allowed_mentions")
        message = self.world.add_message(
            channel_id=cid,
            author=bot,
            content=content,
            reference_id=reference_id,
            nonce=nonce,
            allowed_mentions=allowed if isinstance(allowed, dict) else None,
            flags=int(body.get("flags") or 0) & ~FLAG_EPHEMERAL,
        )
        self._fanout_create(message)
        return json_response(self.world.message_payload(message))

    def _reference(self, body: Mapping[str, Any], channel_id: int) -> int | None:
        ref = body.get("message_reference")
        if not isinstance(ref, dict) or ref.get("message_id") is None:
            return None
        target = self.world.messages.get(int(ref["message_id"]))
        if target is not None and target.channel_id == channel_id:
            return target.id
        if ref.get("fail_if_not_exists", True):
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "message_reference": {
                        "_errors": [
                            {"code": "REPLIES_UNKNOWN_MESSAGE", "message": "Unknown message"}
                        ]
                    }
                },
            )
        return None  # fail_if_not_exists=False: send as a plain message, like Discord

    async def _get_messages(self, request: web.Request) -> web.Response:
        self._auth(request)
        cid = self._channel(request)
        q = request.query
        limit = max(1, min(100, int(q.get("limit", "50"))))
        history = self.world.history[cid]
        if "before" in q:
            chosen = [m for m in history if m.id < int(q["before"])][-limit:]
        elif "after" in q:
            chosen = [m for m in history if m.id > int(q["after"])][:limit]
        elif "around" in q:
            around = int(q["around"])
            older = [m for m in history if m.id <= around][-((limit + 1) // 2) :]
            newer = [m for m in history if m.id > around][: limit // 2]
            chosen = older + newer
        else:
            chosen = history[-limit:]
        # Discord returns newest first whatever the query.
        return json_response([self.world.message_payload(m) for m in reversed(chosen)])

    async def _get_message(self, request: web.Request) -> web.Response:
        self._auth(request)
        return json_response(
            self.world.message_payload(self._message(request, self._channel(request)))
        )

    async def _patch_message(self, request: web.Request) -> web.Response:
        bot = self._auth(request)
        message = self._message(request, self._channel(request))
        if message.author.id != bot.id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        body = await self._body(request)
        if "content" in body:
            content = str(body.get("content") or "")
            self._validate_content(content)
            message.content = content
        message.edited_at = time.time()
        self._fanout_update(message)
        return json_response(self.world.message_payload(message))

    async def _delete_message(self, request: web.Request) -> web.Response:
        self._auth(request)
        message = self._message(request, self._channel(request))
        self._delete(message)
        return web.Response(status=204)

    def _delete(self, message: Message) -> None:
        self.world.messages.pop(message.id, None)
        history = self.world.history[message.channel_id]
        if message in history:
            history.remove(message)
        data = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "guild_id": str(self.world.guild_id),
        }
        if not message.ephemeral:
            self.gateway.dispatch_all(
                "MESSAGE_DELETE", lambda s: data if s.has_intent(INTENT_GUILD_MESSAGES) else None
            )
        self._publish("message_delete", data)

    # -- REST: application commands ----------------------------------------------------

    def _app(self, request: web.Request) -> User:
        bot = self._auth(request)
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
        self._notify(None)
        return json_response(stored)

    async def _get_commands(self, request: web.Request) -> web.Response:
        app = self._app(request)
        guild_id = self.world.guild_id if "guild_id" in request.match_info else None
        return json_response(list(self.world.commands.get(app.id, {}).get(guild_id, {}).values()))

    # -- REST: interactions and their webhooks -----------------------------------------

    def _interaction_for(self, request: web.Request) -> Interaction:
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
        if interaction.acknowledged:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if time.time() - interaction.created_at > self.interaction_ack_seconds:
            # Discord forgets an interaction not answered (or deferred) within 3 s.
            interaction.expired = True
            self._publish("interaction", self._interaction_json(interaction))
            raise ApiError(404, 10062, "Unknown interaction")
        body = await self._body(request)
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        ephemeral = bool(int(data.get("flags") or 0) & FLAG_EPHEMERAL)
        message: Message | None = None
        if kind in (4, 5):
            content = str(data.get("content") or "") if kind == 4 else ""
            self._validate_content(content)
            message = self.world.add_message(
                channel_id=interaction.channel_id,
                author=interaction.application,
                content=content,
                flags=(FLAG_EPHEMERAL if ephemeral else 0) | (FLAG_LOADING if kind == 5 else 0),
                msg_type=MESSAGE_CHAT_INPUT_COMMAND,
                webhook_id=interaction.application.id,
                interaction_id=interaction.id,
                allowed_mentions=data.get("allowed_mentions"),
                source="interaction",
            )
            interaction.original_id = message.id
        elif kind not in (1, 6, 7, 9):
            raise ApiError(400, 50035, f"Invalid interaction response type {kind}")
        interaction.callback_type = kind
        if message is not None:
            self._fanout_create(message)
        self._publish("interaction", self._interaction_json(interaction))
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return web.Response(status=204)
        result: dict[str, Any] = {
            "interaction": {
                "id": str(interaction.id),
                "type": 2,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": ephemeral,
            }
        }
        if message is not None:
            result["interaction"]["response_message_id"] = str(message.id)
            result["resource"] = {"type": kind, "message": self.world.message_payload(message)}
        else:
            result["resource"] = {"type": kind}
        return json_response(result)

    async def _webhook_execute(self, request: web.Request) -> web.Response:
        interaction = self._interaction_for(request)
        if not interaction.acknowledged:
            raise ApiError(404, 10015, "Unknown Webhook")
        body = await self._body(request)
        content = str(body.get("content") or "")
        self._validate_content(content)
        if not content.strip() and not body.get("embeds"):
            raise ApiError(400, 50006, "Cannot send an empty message")
        message = self.world.add_message(
            channel_id=interaction.channel_id,
            author=interaction.application,
            content=content,
            flags=int(body.get("flags") or 0) & FLAG_EPHEMERAL,
            msg_type=MESSAGE_CHAT_INPUT_COMMAND,
            webhook_id=interaction.application.id,
            interaction_id=interaction.id,
            allowed_mentions=body.get("allowed_mentions"),
            source="webhook",
        )
        interaction.followup_ids.append(message.id)
        self._fanout_create(message)
        self._publish("interaction", self._interaction_json(interaction))
        if request.query.get("wait", "").lower() in ("1", "true"):
            return json_response(self.world.message_payload(message))
        return web.Response(status=204)

    def _webhook_message(self, request: web.Request, interaction: Interaction) -> Message:
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
        body = await self._body(request)
        if "content" in body:
            content = str(body.get("content") or "")
            self._validate_content(content)
            message.content = content
        message.flags &= ~FLAG_LOADING
        message.edited_at = time.time()
        self._fanout_update(message)
        self._publish("interaction", self._interaction_json(interaction))
        return json_response(self.world.message_payload(message))

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        interaction = self._interaction_for(request)
        self._delete(self._webhook_message(request, interaction))
        return web.Response(status=204)

    # -- control API -------------------------------------------------------------------

    @staticmethod
    async def _c_body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            data = await request.json()
        except json.JSONDecodeError:
            raise ApiError(400, 0, "body must be JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, 0, "body must be a JSON object")
        return data

    async def _c_state(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "guild_id": str(self.world.guild_id),
                "guild_name": self.world.guild_name,
                "channels": [
                    {"id": str(c.id), "name": c.name, "position": c.position}
                    for c in self.world.channels.values()
                ],
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
                "base_url": self.base_url,
                "api_base": self.api_base,
                "gateway_url": self.gateway_url,
            }
        )

    async def _c_messages(self, request: web.Request) -> web.Response:
        after = int(request.query.get("after", "0") or 0)
        return json_response([self.message_json(m) for m in self.messages() if m.id > after])

    def _c_channel(self, request: web.Request) -> int:
        try:
            return self.world.resolve_channel(request.match_info["channel"]).id
        except KeyError as exc:
            raise ApiError(404, 10003, str(exc.args[0])) from None

    async def _c_channel_messages(self, request: web.Request) -> web.Response:
        cid = self._c_channel(request)
        return json_response([self.message_json(m) for m in self.messages(cid)])

    async def _c_post(self, request: web.Request) -> web.Response:
        cid = self._c_channel(request)
        body = await self._c_body(request)
        content = str(body.get("content") or "")
        if not content.strip():
            raise ApiError(400, 50006, "Cannot send an empty message")
        if len(content) > MAX_CONTENT:
            raise ApiError(400, 50035, "content must be 2000 or fewer characters")
        reply_to = body.get("reply_to")
        try:
            message = await self.post_as_human(
                cid,
                content,
                author=str(body.get("author") or next(iter(self.world.humans))),
                mentions=[str(m) for m in body.get("mentions") or []],
                reply_to=int(reply_to) if reply_to else None,
            )
        except (KeyError, ValueError) as exc:
            raise ApiError(400, 0, str(exc.args[0] if exc.args else exc)) from None
        return json_response(self.message_json(message))

    async def _c_invoke(self, request: web.Request) -> web.Response:
        body = await self._c_body(request)
        try:
            interaction = await self.invoke_command(
                str(body.get("channel") or body.get("channel_id") or "command_center"),
                body.get("command"),
                user=str(body.get("user") or next(iter(self.world.humans))),
                name=body.get("name"),
                options=body.get("options"),
            )
        except (CommandLineError, KeyError) as exc:
            raise ApiError(400, 0, str(exc.args[0] if exc.args else exc)) from None
        return json_response(self._interaction_json(interaction))

    async def _c_interaction(self, request: web.Request) -> web.Response:
        try:
            interaction = self.world.interactions[int(request.match_info["interaction_id"])]
        except (KeyError, ValueError):
            raise ApiError(404, 10062, "Unknown interaction") from None
        return json_response(self._interaction_json(interaction))

    async def _c_commands(self, request: web.Request) -> web.Response:
        out: list[dict[str, Any]] = []
        for app_id, scopes in self.world.commands.items():
            for commands in scopes.values():
                out.extend(
                    {**c, "application": self.world.users[app_id].key} for c in commands.values()
                )
        return json_response(out)

    async def _c_sessions(self, request: web.Request) -> web.Response:
        return json_response([s.info() for s in self.sessions()])

    async def _c_typing(self, request: web.Request) -> web.Response:
        return json_response(
            [
                {
                    "channel_id": str(t.channel_id),
                    "user": t.user.key,
                    "name": t.user.name,
                    "at": t.at,
                }
                for t in self.typing_events
            ]
        )

    async def _c_events(self, request: web.Request) -> web.StreamResponse:
        # Server-sent events: the page's live view. A blank frame means "server stopping".
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            await response.write(b": connected\n\n")
            while True:
                try:
                    frame = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if not frame:
                    break
                await response.write(f"data: {frame}\n\n".encode())
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._subscribers.discard(queue)
        with contextlib.suppress(Exception):
            await response.write_eof()
        return response

    async def _c_close_gateway(self, request: web.Request) -> web.Response:
        body = await self._c_body(request)
        count = self.close_gateway(body.get("bot"), int(body.get("code", 4000)))
        return json_response({"closed": count})

    async def _c_invalidate(self, request: web.Request) -> web.Response:
        body = await self._c_body(request)
        return json_response({"invalidated": self.invalidate_session(body.get("bot"))})

    async def _c_malformed(self, request: web.Request) -> web.Response:
        body = await self._c_body(request)
        return json_response({"sent": self.send_malformed_event(body.get("bot"))})

    async def _c_rate_limit(self, request: web.Request) -> web.Response:
        body = await self._c_body(request)
        self.inject_rate_limit(
            int(body.get("count", 1)),
            retry_after=float(body.get("retry_after", 0.05)),
            bot=body.get("bot"),
            route=body.get("route", "POST /channels/{channel_id}/messages"),
            is_global=bool(body.get("global", False)),
        )
        return json_response({"pending": sum(f.remaining for f in self.rate_limits)})

    async def _c_rest_delay(self, request: web.Request) -> web.Response:
        body = await self._c_body(request)
        self.set_rest_delay(float(body.get("seconds", 0)))
        return json_response({"seconds": self.rest_delay})

    async def _c_clear_faults(self, request: web.Request) -> web.Response:
        self.clear_faults()
        return json_response({"cleared": True})

    async def _page(self, request: web.Request) -> web.Response:
        html = resources.files(__package__).joinpath("static/index.html").read_text("utf-8")
        return web.Response(text=html, content_type="text/html")
