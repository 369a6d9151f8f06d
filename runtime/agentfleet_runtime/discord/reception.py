"""The Reception bot: reads every message and receives the ``/task`` slash command.

It decides nothing. Every message (humans', other bots', our own personas') becomes an
:class:`InboundMessage` handed to ``on_message``, which may return a line to answer with
directly (how a direct message is told where to talk); the brain filters and routes.
``/task`` invocations are parsed by Discord into their options and handed to
``on_task_command`` as a :class:`TaskRequest`, whose returned text is the invoking user's
ephemeral reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import discord
from discord import app_commands

from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.brain.tasks import TaskRequest
from agentfleet_runtime.contract import CHANNELS
from agentfleet_runtime.discord.records import to_inbound

log = logging.getLogger(__name__)

#: ``message -> a line to answer with directly, or None``.
OnMessage = Callable[[InboundMessage], Awaitable[str | None]]
#: ``request -> the invoking user's ephemeral reply``.
OnTaskCommand = Callable[[TaskRequest], Awaitable[str]]

#: Discord invalidates an unanswered interaction after 3 s; defer well before that.
DEFAULT_DEFER_AFTER: Final = 2.0
_MAX_REPLY: Final = 2000
_CHANNEL_CHOICES: Final = [app_commands.Choice(name=name, value=name) for name in CHANNELS]
_FAILED_REPLY: Final = "⚠️ タスクコマンドを処理できなかった。少し待ってもう一度試してみて。"


def reception_intents() -> discord.Intents:
    """What Reception reads, and nothing more: messages (guild and direct) with content.

    ``guilds`` keeps discord.py's channel and thread cache. Default intents would also
    stream typing, reactions, voice states and the like to a bot that reads none of them:
    every persona's typing indicator came back to Reception as an event to parse, about a
    millisecond of CPU per reply in the end-to-end benchmark. Message content is the one
    privileged intent.
    """
    return discord.Intents(guilds=True, guild_messages=True, dm_messages=True, message_content=True)


class ReceptionBot(discord.Client):
    """discord.Client that forwards every message and the ``/task`` command.

    ``guild_id`` is the guild ``/task`` is registered in (at login, over REST); without it
    the command is registered in every guild the bot is in once the gateway is READY.
    Extra keyword ``options`` go to :class:`discord.Client` (e.g. ``guild_ready_timeout``).
    """

    def __init__(
        self,
        *,
        on_message: OnMessage,
        on_task_command: OnTaskCommand | None = None,
        guild_id: int | None = None,
        defer_after: float = DEFAULT_DEFER_AFTER,
        **options: Any,
    ) -> None:
        # No message cache: every message is handed on at once and never looked up again,
        # and discord.py's default keeps the last 1,000 (each with its author and member).
        super().__init__(intents=reception_intents(), max_messages=None, **options)
        self._on_message = on_message
        self._on_task_command = on_task_command
        self.guild_id = guild_id
        self.defer_after = defer_after
        self.tree = app_commands.CommandTree(self)
        self._synced_guilds: set[int] = set()
        if on_task_command is not None:
            self.tree.add_command(self._task_group())

    # -- messages ----------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        """Hand every message to the callback; its errors are logged, never fatal."""
        try:
            answer = await self._on_message(to_inbound(message))
            if answer is not None:
                await message.channel.send(answer)
        except Exception:
            # One bad message must not stop the gateway reader.
            log.exception("ERROR handling Discord message %s", message.id)

    # -- /task ---------------------------------------------------------------------------

    def _task_group(self) -> app_commands.Group:
        group = app_commands.Group(name="task", description="チャンネルのタスクを管理する")

        @group.command(name="commit", description="チャンネルで新しいタスクを始める")
        @app_commands.describe(channel="対象チャンネル", text="タスクの内容")
        @app_commands.choices(channel=_CHANNEL_CHOICES)
        async def commit(
            interaction: discord.Interaction, channel: app_commands.Choice[str], text: str
        ) -> None:
            await self._handle_task(interaction, "commit", channel.value, text)

        @group.command(
            name="change", description="タスクを変更する（タスクの無いチャンネルなら移動する）"
        )
        @app_commands.describe(channel="対象チャンネル", text="タスクの内容")
        @app_commands.choices(channel=_CHANNEL_CHOICES)
        async def change(
            interaction: discord.Interaction, channel: app_commands.Choice[str], text: str
        ) -> None:
            await self._handle_task(interaction, "change", channel.value, text)

        @group.command(name="done", description="タスクを完了にする")
        @app_commands.describe(channel="対象チャンネル（省略時は最新のタスク）")
        @app_commands.choices(channel=_CHANNEL_CHOICES)
        async def done(
            interaction: discord.Interaction, channel: app_commands.Choice[str] | None = None
        ) -> None:
            await self._handle_task(interaction, "done", channel.value if channel else "", "")

        @group.command(name="list", description="いまのタスクを見る")
        async def list_(interaction: discord.Interaction) -> None:
            await self._handle_task(interaction, "list", "", "")

        return group

    async def _handle_task(
        self, interaction: discord.Interaction, action: str, channel: str, text: str
    ) -> None:
        """Answer within Discord's 3 s: directly if the callback is quick, else defer."""
        assert self._on_task_command is not None
        user = interaction.user
        roles = user.roles if isinstance(user, discord.Member) else []
        request = TaskRequest(
            action=action,
            channel=channel,
            text=text,
            by=user.display_name,
            role_ids=tuple(role.id for role in roles),
            channel_id=interaction.channel_id,
        )
        call = asyncio.ensure_future(self._on_task_command(request))
        done, _ = await asyncio.wait({call}, timeout=self.defer_after)
        if call in done:
            await interaction.response.send_message(_reply_text(call), ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await asyncio.wait({call})
        await interaction.edit_original_response(content=_reply_text(call))

    # -- command registration ----------------------------------------------------------

    async def setup_hook(self) -> None:
        """Register ``/task`` in the configured guild as soon as REST is logged in."""
        if self._on_task_command is not None and self.guild_id is not None:
            await self._sync_guild(self.guild_id)

    async def on_ready(self) -> None:
        """Register ``/task`` where it is not yet: every guild joined, or the configured one."""
        if self._on_task_command is None:
            return
        wanted = [self.guild_id] if self.guild_id is not None else [g.id for g in self.guilds]
        for guild_id in wanted:
            if guild_id not in self._synced_guilds:
                await self._sync_guild(guild_id)

    async def _sync_guild(self, guild_id: int) -> None:
        # Guild commands appear at once (global ones can take an hour on Discord).
        guild = discord.Object(id=guild_id)
        self.tree.copy_global_to(guild=guild)
        try:
            commands = await self.tree.sync(guild=guild)
        except discord.HTTPException as exc:
            # Reading messages matters more than the slash form of /task (the typed form
            # still works): log and carry on; the next READY retries.
            log.error("ERROR registering /task in guild %s: %s", guild_id, exc)
            return
        self._synced_guilds.add(guild_id)
        log.info("registered %s in guild %s", ", ".join(f"/{c.name}" for c in commands), guild_id)


def _reply_text(call: asyncio.Future[str]) -> str:
    """The callback's reply, or an apology if it failed (logged as ERROR)."""
    exc = call.exception()
    if exc is not None:
        log.error("ERROR in /task handler", exc_info=exc)
        return _FAILED_REPLY
    reply = call.result().strip() or "OK"
    return reply if len(reply) <= _MAX_REPLY else reply[: _MAX_REPLY - 1] + "…"
