"""The gateway: websocket sessions with HELLO/IDENTIFY/READY, heartbeats, RESUME and fan-out.

Each IDENTIFY creates a :class:`GatewaySession` that outlives its websocket: events
dispatched while a client is disconnected are sequenced and kept, so a RESUME (op 6)
replays exactly what was missed, then sends RESUMED, as Discord does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import WSMsgType, web

from .world import INTENT_MESSAGE_CONTENT, User, World

_log = logging.getLogger(__name__)

# Gateway opcodes the server sends or acts on (presence and voice updates are ignored).
OP_DISPATCH: Final = 0
OP_HEARTBEAT: Final = 1
OP_IDENTIFY: Final = 2
OP_RESUME: Final = 6
OP_REQUEST_GUILD_MEMBERS: Final = 8
OP_INVALID_SESSION: Final = 9
OP_HELLO: Final = 10
OP_HEARTBEAT_ACK: Final = 11

#: Close code for an unknown token, which discord.py does not retry.
CLOSE_AUTHENTICATION_FAILED: Final = 4004
#: Close code for a privileged intent the app has not switched on in the Developer Portal;
#: discord.py raises ``PrivilegedIntentsRequired``.
CLOSE_DISALLOWED_INTENTS: Final = 4014
#: How many events a session keeps for RESUME.
REPLAY_LIMIT: Final = 5000
#: How long a disconnected session stays resumable (Discord keeps them for minutes).
RESUME_WINDOW_SECONDS: Final = 180.0
HEARTBEAT_ACK_DELAY: Final = 0.02
"""Seconds before a heartbeat is acknowledged, a network round trip's worth. discord.py's
keep-alive thread notes a heartbeat's send time only once it gets the GIL back; an instant
ACK can arrive first, and the bot then reports a whole heartbeat interval as its latency
(and logs "Can't keep up, … 41.3s behind")."""


@dataclass(eq=False)
class Connection:
    """One websocket; frames go through a queue so every session's order is preserved."""

    ws: web.WebSocketResponse
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)

    def send(self, frame: str) -> None:
        """Queue ``frame`` (non-blocking; the writer task sends in order)."""
        self.queue.put_nowait(frame)

    async def writer(self) -> None:
        """Send queued frames until a None sentinel or the socket closes."""
        while True:
            frame = await self.queue.get()
            if frame is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return


@dataclass(eq=False)
class GatewaySession:
    """A gateway session of one bot: sequence, replay log and its current connection."""

    session_id: str
    user: User
    intents: int
    seq: int = 0
    log: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=REPLAY_LIMIT))
    conn: Connection | None = None
    identified_at: float = field(default_factory=time.time)
    resumes: int = 0
    invalidated: bool = False
    disconnected_at: float | None = None
    """When the last websocket went away (None while connected)."""
    events: dict[str, int] = field(default_factory=dict)
    """Count of dispatched events by name (for tests and the sessions list)."""

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Sequence ``event``, keep it for RESUME and send it if connected."""
        self.seq += 1
        frame = json.dumps(
            {"op": OP_DISPATCH, "t": event, "s": self.seq, "d": data}, ensure_ascii=False
        )
        self.log.append((self.seq, frame))
        self.events[event] = self.events.get(event, 0) + 1
        if self.conn is not None:
            self.conn.send(frame)

    def detach(self, conn: Connection) -> None:
        """Forget ``conn`` if it is still this session's connection."""
        if self.conn is conn:
            self.conn = None
            self.disconnected_at = time.time()

    def invalidate(self) -> None:
        """Make the session unresumable and drop its replay log."""
        self.invalidated = True
        self.log.clear()

    def has_intent(self, bit: int) -> bool:
        """Whether the session identified with intent ``bit``."""
        return bool(self.intents & bit)

    def info(self) -> dict[str, Any]:
        """A JSON summary for the control API."""
        return {
            "session_id": self.session_id,
            "bot": self.user.key,
            "user_id": str(self.user.id),
            "intents": self.intents,
            "connected": self.conn is not None,
            "seq": self.seq,
            "resumes": self.resumes,
            "invalidated": self.invalidated,
            "identified_at": self.identified_at,
            "events": dict(self.events),
        }


class Gateway:
    """All sessions plus the websocket handler mounted at ``/gw``."""

    def __init__(
        self,
        world: World,
        *,
        ws_url: Callable[[], str],
        heartbeat_interval_ms: int = 41_250,
    ) -> None:
        """``ws_url`` returns the public gateway URL, put into READY.resume_gateway_url."""
        self.world = world
        self.ws_url = ws_url
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.sessions: dict[str, GatewaySession] = {}
        self.ready_listeners: list[Callable[[GatewaySession], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.unreachable = False
        """While set, every new websocket is refused with 503: Discord out of reach."""

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        # Keep a reference: the loop holds tasks only weakly.
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- fan-out -----------------------------------------------------------------------

    def live_sessions(self) -> list[GatewaySession]:
        """Sessions that still receive events (connected or resumable)."""
        horizon = time.time() - RESUME_WINDOW_SECONDS
        for session in self.sessions.values():
            gone = session.disconnected_at is not None and session.disconnected_at < horizon
            if session.conn is None and gone and not session.invalidated:
                session.invalidate()
        return [s for s in self.sessions.values() if not s.invalidated]

    def dispatch_all(
        self,
        event: str,
        build: Callable[[GatewaySession], dict[str, Any] | None],
    ) -> int:
        """Dispatch ``build(session)`` to every live session (None skips); return count."""
        count = 0
        for session in self.live_sessions():
            data = build(session)
            if data is not None:
                session.dispatch(event, data)
                count += 1
        return count

    # -- faults ------------------------------------------------------------------------

    def sessions_of(self, bot: str | None) -> list[GatewaySession]:
        """Live sessions of bot key ``bot`` (all bots when None)."""
        return [s for s in self.live_sessions() if bot is None or s.user.key == bot]

    def close_connections(self, bot: str | None, code: int = 4000) -> int:
        """Close the websockets of ``bot`` with ``code``; sessions stay resumable."""
        closed = 0
        for session in self.sessions_of(bot):
            conn = session.conn
            if conn is None:
                continue
            session.detach(conn)
            self._spawn(self._close(conn, code))
            closed += 1
        return closed

    def invalidate(self, bot: str | None) -> int:
        """Send INVALID_SESSION (not resumable) to ``bot``'s sessions; they re-IDENTIFY."""
        count = 0
        for session in self.sessions_of(bot):
            session.invalidate()
            if session.conn is not None:
                session.conn.send(json.dumps({"op": OP_INVALID_SESSION, "d": False}))
                count += 1
        return count

    @staticmethod
    async def _close(conn: Connection, code: int) -> None:
        conn.queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await conn.ws.close(code=code, message=b"closed by sandbox fault injection")

    async def close_all(self) -> None:
        """Close every websocket (server shutdown)."""
        conns = [s.conn for s in self.sessions.values() if s.conn is not None]
        for session in self.sessions.values():
            if session.conn is not None:
                session.detach(session.conn)
        await asyncio.gather(*(self._close(c, 1001) for c in conns), return_exceptions=True)

    # -- websocket handler -------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one gateway websocket (any ``v``/``encoding``/``compress`` query).

        Frames are always sent as uncompressed JSON text, which discord.py accepts even
        when it asked for zlib/zstd transport compression.
        """
        if self.unreachable:
            # As a Discord outage looks from a bot: the handshake fails, so it retries.
            raise web.HTTPServiceUnavailable(reason="gateway unreachable (sandbox fault)")
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=0, autoping=True)
        await ws.prepare(request)
        conn = Connection(ws)
        writer = asyncio.get_running_loop().create_task(conn.writer())
        session: GatewaySession | None = None
        conn.send(
            json.dumps({"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        )
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(msg.data)
                except json.JSONDecodeError:
                    await ws.close(code=4002, message=b"decode error")
                    break
                session = await self._on_payload(conn, session, payload)
        finally:
            if session is not None and session.conn is conn:
                session.detach(conn)
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await writer
        return ws

    async def _on_payload(
        self, conn: Connection, session: GatewaySession | None, payload: dict[str, Any]
    ) -> GatewaySession | None:
        op = payload.get("op")
        data = payload.get("d")
        if op == OP_HEARTBEAT:
            asyncio.get_running_loop().call_later(
                HEARTBEAT_ACK_DELAY, conn.send, json.dumps({"op": OP_HEARTBEAT_ACK})
            )
            return session
        if op == OP_IDENTIFY and isinstance(data, dict):
            return await self._identify(conn, data)
        if op == OP_RESUME and isinstance(data, dict):
            return await self._resume(conn, data)
        if op == OP_REQUEST_GUILD_MEMBERS and session is not None and isinstance(data, dict):
            members = [self.world.member_payload(u) for u in self.world.users.values()]
            chunk: dict[str, Any] = {
                "guild_id": str(self.world.guild_id),
                "members": members,
                "chunk_index": 0,
                "chunk_count": 1,
            }
            if "nonce" in data:
                chunk["nonce"] = data["nonce"]
            session.dispatch("GUILD_MEMBERS_CHUNK", chunk)
            return session
        # Presence and voice updates are accepted and ignored.
        return session

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> GatewaySession | None:
        bot = self.world.bot_for_token(str(data.get("token", "")))
        if bot is None:
            conn.queue.put_nowait(None)
            await conn.ws.close(code=CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return None
        intents = int(data.get("intents", 0))
        if intents & INTENT_MESSAGE_CONTENT and not self.world.may_read_message_content(bot):
            conn.queue.put_nowait(None)
            await conn.ws.close(code=CLOSE_DISALLOWED_INTENTS, message=b"Disallowed intent(s).")
            return None
        session = GatewaySession(session_id=secrets.token_hex(16), user=bot, intents=intents)
        self.sessions[session.session_id] = session
        session.conn = conn
        session.dispatch(
            "READY",
            {
                "v": 10,
                "user": bot.self_payload(),
                "guilds": [{"id": str(self.world.guild_id), "unavailable": True}],
                "session_id": session.session_id,
                "resume_gateway_url": self.ws_url(),
                "session_type": "normal",
                "shard": [0, 1],
                "application": {"id": str(bot.id), "flags": self.world.app_flags[bot.key]},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
            },
        )
        session.dispatch("GUILD_CREATE", self.world.guild_payload())
        _log.info("gateway: %s identified (session %s)", bot.key, session.session_id)
        for listener in self.ready_listeners:
            listener(session)
        return session

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> GatewaySession | None:
        session = self.sessions.get(str(data.get("session_id")))
        bot = self.world.bot_for_token(str(data.get("token", "")))
        seq = data.get("seq")
        oldest = session.log[0][0] if session is not None and session.log else 1
        if (
            session is None
            or session.invalidated
            or bot is None
            or bot.id != session.user.id
            or not isinstance(seq, int)
            or seq + 1 < oldest
        ):
            # Not resumable: the client clears its session and IDENTIFYs again.
            conn.send(json.dumps({"op": OP_INVALID_SESSION, "d": False}))
            return None
        if session.conn is not None and session.conn is not conn:
            old = session.conn
            self._spawn(self._close(old, 4000))
        session.conn = conn
        session.disconnected_at = None
        session.resumes += 1
        for event_seq, frame in list(session.log):
            if event_seq > seq:
                conn.send(frame)
        session.dispatch("RESUMED", {})
        _log.info(
            "gateway: %s resumed session %s from seq %s", session.user.key, session.session_id, seq
        )
        return session
