"""The local Discord-compatible server: assembles the pieces and is the handle tests hold.

:class:`DiscordServer` builds the world, the gateway (``/gw``), the REST API (``/api/v10``,
see :mod:`.rest`), the control API (``/_control/``, :mod:`.control`) and the web page
(``/``, :mod:`.page`) into one aiohttp application, starts and stops it, and gives tests
one object to drive it: post as a person, invoke commands, inject faults, wait for results.
Point ``discord.http.Route.BASE`` at :attr:`DiscordServer.api_base`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

from aiohttp import web

from .attachments import FileUpload
from .control import ControlApi
from .fanout import ChangeSignal, Fanout
from .faults import DEFAULT_ROUTE, Faults
from .gateway import Gateway, GatewaySession
from .humans import Humans
from .page import LiveFeed, add_page_routes
from .responses import render_api_errors
from .rest import API_PREFIX, RestApi, TypingEvent
from .rest.uploads import add_cdn_routes
from .world import FLAG_LOADING, Interaction, Message, World

_log = logging.getLogger(__name__)

GATEWAY_PATH: Final = "/gw"

T = TypeVar("T")


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
        self.feed = LiveFeed()
        self.changes = ChangeSignal()
        self.fanout = Fanout(self.world, self.gateway, self.feed, self.changes)
        # A new session changes what sessions() shows: wake tests waiting for it.
        self.gateway.ready_listeners.append(lambda _session: self.changes.notify())
        self.faults = Faults(self.world, self.gateway)
        self.humans = Humans(self.world, self.gateway, self.fanout)
        self.rest = RestApi(
            self.world,
            self.fanout,
            self.faults,
            gateway_url=lambda: self.gateway_url,
            interaction_ack_seconds=interaction_ack_seconds,
        )
        self.control = ControlApi(self)
        self._runner: web.AppRunner | None = None
        self.app = self._build_app()

    def _build_app(self) -> web.Application:
        # Outermost first: Discord-shaped errors for every path, then the REST envelope.
        # Room for Discord's 10 MiB of files plus the control API's base64 of them: the
        # handlers enforce Discord's own limit and answer with Discord's error.
        app = web.Application(
            middlewares=[render_api_errors, self.rest.envelope], client_max_size=16 * 1024 * 1024
        )
        app.router.add_get(GATEWAY_PATH, self.gateway.handle)
        self.rest.add_routes(app.router)
        self.control.add_routes(app.router)
        add_cdn_routes(app.router, self.world)
        add_page_routes(app.router, self.feed)
        return app

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve (returns once listening)."""
        self.changes.start()
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        # With port 0 the OS picks the port: read it back from the bound socket.
        self.port = int(self._runner.addresses[0][1])
        self.world.cdn_base_url = self.base_url
        _log.info("discord sandbox listening on %s", self.base_url)

    async def stop(self) -> None:
        """Close every gateway socket and event stream, then stop serving."""
        await self.gateway.close_all()
        self.feed.close()
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

    @property
    def typing_events(self) -> list[TypingEvent]:
        """Every ``POST /channels/{id}/typing``, oldest first."""
        return self.rest.messages.typing_events

    @property
    def request_log(self) -> list[tuple[str, str, int]]:
        """(method, route template, status) of every REST call, for tests."""
        return self.rest.request_log

    @property
    def interaction_ack_seconds(self) -> float:
        """How long an app has to answer (or defer) an interaction; tests may shorten it."""
        return self.rest.interactions.ack_seconds

    @interaction_ack_seconds.setter
    def interaction_ack_seconds(self, seconds: float) -> None:
        self.rest.interactions.ack_seconds = seconds

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
        return await self.changes.wait_for(check, timeout)

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

    # -- actions as a human ------------------------------------------------------------

    async def post_as_human(
        self,
        channel: str | int,
        content: str,
        *,
        author: str = "alice",
        mentions: Iterable[str | int] = (),
        reply_to: int | None = None,
        files: Sequence[FileUpload] = (),
    ) -> Message:
        """Post as human ``author``; ``mentions`` (names or ids) are added as ``<@id>``.

        ``@Name`` typed in ``content`` becomes mention markup, as in Discord's client;
        ``files`` are attached, as a person drops them into Discord's client.
        """
        return self.humans.post(
            channel, content, author=author, mentions=mentions, reply_to=reply_to, files=files
        )

    async def post_direct(self, content: str, *, author: str = "alice", bot: str) -> Message:
        """Send ``bot`` a direct message as human ``author``."""
        return self.humans.post_direct(content, author=author, bot=bot)

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
        return self.humans.invoke_command(
            channel, command_line, user=user, name=name, options=options
        )

    async def autocomplete(
        self,
        channel: str | int,
        command_line: str | None = None,
        *,
        focused: str,
        user: str = "alice",
        name: str | None = None,
        options: list[dict[str, Any]] | None = None,
    ) -> Interaction:
        """Type into option ``focused`` of a slash command: an autocomplete interaction.

        ``command_line`` is what is typed so far (``/weather city:To``); the app's answer
        is on the interaction's ``choices`` (see :meth:`wait_for_choices`).
        """
        return self.humans.autocomplete(
            channel, command_line, user=user, focused=focused, name=name, options=options
        )

    async def wait_for_choices(
        self,
        interaction_id: int,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Wait for the app's autocomplete choices (callback type 8) and return them."""
        interaction = self.world.interactions[interaction_id]
        return await self.wait_for(lambda: interaction.choices, timeout)

    async def use_component(
        self,
        message_id: int,
        custom_id: str,
        *,
        user: str = "alice",
        values: list[str] | None = None,
    ) -> Interaction:
        """Click button ``custom_id`` of a bot's message (or pick ``values`` in a select)."""
        return self.humans.use_component(message_id, custom_id, user=user, values=values)

    # -- faults (see faults.py) --------------------------------------------------------

    def close_gateway(self, bot: str | None = None, code: int = 4000) -> int:
        """Close ``bot``'s websocket(s) with ``code`` (4000 → discord.py RESUMEs)."""
        return self.faults.close_gateway(bot, code)

    def invalidate_session(self, bot: str | None = None) -> int:
        """Send INVALID_SESSION(false): the client must IDENTIFY anew."""
        return self.faults.invalidate_session(bot)

    def set_gateway_reachable(self, reachable: bool) -> None:
        """Take the gateway away from every bot (a Discord outage), or give it back."""
        self.faults.set_gateway_reachable(reachable)

    def send_malformed_event(self, bot: str | None = None) -> int:
        """Dispatch an event discord.py cannot parse, which ends that client's ``start()``."""
        return self.faults.send_malformed_event(bot)

    def inject_rate_limit(
        self,
        count: int = 1,
        *,
        retry_after: float = 0.05,
        bot: str | None = None,
        route: str | None = DEFAULT_ROUTE,
        is_global: bool = False,
    ) -> None:
        """Answer the next ``count`` matching REST calls with a well-formed 429."""
        self.faults.inject_rate_limit(
            count, retry_after=retry_after, bot=bot, route=route, is_global=is_global
        )

    def set_rest_delay(self, seconds: float) -> None:
        """Delay every REST response by ``seconds`` (0 disables)."""
        self.faults.set_rest_delay(seconds)

    def reset_token(self, bot: str) -> str:
        """Reset ``bot``'s token as the Developer Portal does; return the new one."""
        return self.faults.reset_token(bot)

    def set_message_content_intent(self, bot: str, enabled: bool) -> None:
        """Switch ``bot``'s Message Content intent in its (sandbox) Developer Portal."""
        self.faults.set_message_content_intent(bot, enabled)

    def deny_permission(self, bot: str, channel: str | int, permission: str | int) -> None:
        """Deny ``bot`` ``permission`` (e.g. ``"SEND_MESSAGES"``) in ``channel``."""
        self.faults.deny_permission(bot, channel, permission)

    def clear_faults(self) -> None:
        """Remove pending 429s, the REST delay and overwrites; switch intents back on."""
        self.faults.clear()
