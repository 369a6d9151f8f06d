"""The discord.py clients the conformance tests drive: what a bot sees, as discord.py parses it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import discord

from tests.discord.test_server import Recorder, reader_intents

T = TypeVar("T")


class Observer(Recorder):
    """A reader that also keeps every edit and every thread the gateway announces to it.

    Edits are kept as discord.py builds them from MESSAGE_UPDATE, so a test reads embeds
    and components exactly as a bot's ``on_raw_message_edit`` would.
    """

    def __init__(self, intents: discord.Intents | None = None) -> None:
        super().__init__(intents or reader_intents())
        self.edited: list[discord.Message] = []
        self.threads: list[discord.Thread] = []
        self._changed = asyncio.Event()

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        self.edited.append(payload.message)
        self._changed.set()

    async def on_thread_create(self, thread: discord.Thread) -> None:
        self.threads.append(thread)
        self._changed.set()

    async def on_thread_join(self, thread: discord.Thread) -> None:
        # A thread one is added to arrives as a join, not a creation.
        await self.on_thread_create(thread)

    async def until(self, found: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Wait until ``found()`` returns something (an edit or thread seen); return it."""
        async with asyncio.timeout(timeout):
            while (result := found()) is None:
                self._changed.clear()
                await self._changed.wait()
        return result
