"""Every change to the world goes out three ways: the gateway, the page, and waiting tests.

A message a bot sends over REST, a person posts from the page or an app answers to an
interaction all end in the same :class:`Fanout` call, so each client sees it exactly as
Discord would show it to that client (intents, content withheld) whatever its origin.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from .gateway import Gateway, GatewaySession
from .json_views import channel_json, interaction_json, message_json
from .page import LiveFeed
from .world import (
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGE_TYPING,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    VIEW_CHANNEL,
    Channel,
    Interaction,
    Message,
    User,
    World,
)

T = TypeVar("T")

#: How often a waiter re-checks on its own, for state the server is never told about.
_POLL_SECONDS = 0.05


class ChangeSignal:
    """Wakes the tests blocked in :meth:`wait_for` whenever the server's state changes."""

    def __init__(self) -> None:
        self._changed: asyncio.Condition | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Begin signalling (changes before the server starts have no one to wake)."""
        self._changed = asyncio.Condition()

    def notify(self) -> None:
        """Wake every waiter so it checks again."""
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

    async def wait_for(self, check: Callable[[], T | None], timeout: float) -> T:  # noqa: ASYNC109
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
                        await asyncio.wait_for(condition.wait(), _POLL_SECONDS)


def can_read(session: GatewaySession, message: Message, *, direct: bool = False) -> bool:
    """Whether ``session`` may see ``message``'s content.

    Discord withholds content from sessions without the message-content intent, except
    for their own messages, messages that mention them and direct messages.
    """
    return (
        direct
        or session.has_intent(INTENT_MESSAGE_CONTENT)
        or message.author.id == session.user.id
        or session.user.id in message.mention_ids
    )


class Fanout:
    """Tells gateway sessions, the page's feed and waiting tests what changed."""

    def __init__(
        self, world: World, gateway: Gateway, feed: LiveFeed, changes: ChangeSignal
    ) -> None:
        self.world = world
        self.gateway = gateway
        self.feed = feed
        self.changes = changes

    def message_created(self, message: Message) -> None:
        """A message was stored: MESSAGE_CREATE to the sessions that may see it."""
        self._dispatch_message("MESSAGE_CREATE", message)
        self._publish("message", message_json(self.world, message))

    def message_updated(self, message: Message) -> None:
        """A message was edited: MESSAGE_UPDATE to the sessions that may see it."""
        self._dispatch_message("MESSAGE_UPDATE", message)
        self._publish("message_update", message_json(self.world, message))

    def message_deleted(self, message: Message) -> None:
        """A message was removed from the world: MESSAGE_DELETE (ids only, as on Discord)."""
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

    def typing_started(self, channel_id: int, bot: User, at: float) -> None:
        """``bot`` started typing: TYPING_START to every other session with the intent."""
        data = {
            "channel_id": str(channel_id),
            "guild_id": str(self.world.guild_id),
            "user_id": str(bot.id),
            "timestamp": int(at),
            "member": self.world.member_payload(bot),
        }
        self.gateway.dispatch_all(
            "TYPING_START",
            lambda s: (
                data if s.has_intent(INTENT_GUILD_MESSAGE_TYPING) and s.user.id != bot.id else None
            ),
        )
        self._publish(
            "typing", {"channel_id": str(channel_id), "user": bot.key, "name": bot.name, "at": at}
        )

    def thread_created(self, thread: Channel, *, added: User | None = None) -> None:
        """A thread was opened: THREAD_CREATE to the sessions that can see it.

        ``added`` is a user just added to a thread it could not see: only it hears of the
        thread then, without ``newly_created`` (discord.py reports it as a thread join).
        """
        data = self.world.channel_payload(thread)
        if added is None:
            data["newly_created"] = True
        self.gateway.dispatch_all(
            "THREAD_CREATE",
            lambda s: (
                data
                if s.has_intent(INTENT_GUILDS)
                and (added is None or s.user.id == added.id)
                and self.world.permissions(s.user, thread.id) & VIEW_CHANNEL
                else None
            ),
        )
        if added is None:
            self._publish("thread", channel_json(thread))

    def interaction_changed(self, interaction: Interaction) -> None:
        """An interaction was created, answered or expired: refresh it on the page."""
        self._publish("interaction", interaction_json(self.world, interaction))

    def _dispatch_message(self, event: str, message: Message) -> None:
        # Ephemeral messages exist only for the invoking user's client, never on the gateway.
        if message.ephemeral:
            return
        # A direct message goes to the bot in it, under the DM intent, and to nobody else.
        direct = self.world.channels[message.channel_id].direct is not None
        intent = INTENT_DIRECT_MESSAGES if direct else INTENT_GUILD_MESSAGES
        self.gateway.dispatch_all(
            event,
            lambda s: (
                self.world.message_payload(
                    message, hide_content=not can_read(s, message, direct=direct)
                )
                if s.has_intent(intent)
                # A bot denied VIEW_CHANNEL receives nothing of that channel.
                and self.world.permissions(s.user, message.channel_id) & VIEW_CHANNEL
                else None
            ),
        )

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        """Show ``data`` on the page as a ``kind`` event and wake waiting tests."""
        self.feed.publish(kind, data)
        self.changes.notify()
