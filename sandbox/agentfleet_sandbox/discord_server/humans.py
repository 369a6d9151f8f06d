"""What the guild's human members do: post messages and invoke slash commands.

Bots act through REST; people act through the page or a test, which call these. The
result must look to the bots exactly like a person using Discord's own client: ``@Name``
typed becomes mention markup, and a typed ``/command`` line becomes the interaction data
Discord would build from the registered command's schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from .attachments import FileUpload
from .commands import CommandLineError, build_options, split_command_line
from .fanout import Fanout
from .gateway import Gateway
from .world import Interaction, Message, World


class Humans:
    """Acts as a human member of the guild and fans the result out to every client."""

    def __init__(self, world: World, gateway: Gateway, fanout: Fanout) -> None:
        self.world = world
        self.gateway = gateway
        self.fanout = fanout

    def post(
        self,
        channel: str | int,
        content: str,
        *,
        author: str,
        mentions: Iterable[str | int] = (),
        reply_to: int | None = None,
        files: Sequence[FileUpload] = (),
    ) -> Message:
        """Post as human ``author``; ``mentions`` (names or ids) are added as ``<@id>``.

        ``files`` are attached to the message, served at their CDN-style URLs.
        """
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
            attachments=self.world.add_attachments(target.id, files),
        )
        self.fanout.message_created(message)
        return message

    def post_direct(self, content: str, *, author: str, bot: str) -> Message:
        """Send ``bot`` a direct message as human ``author`` (only that bot hears of it)."""
        person, recipient = self.world.resolve_user(author), self.world.resolve_user(bot)
        if person.bot or not recipient.bot:
            raise ValueError("a direct message goes from a person to a bot")
        channel = self.world.direct_channel(person, recipient)
        message = self.world.add_message(
            channel_id=channel.id, author=person, content=content, source="human"
        )
        self.fanout.message_created(message)
        return message

    def _expand_mentions(self, content: str) -> str:
        """Turn ``@SPECTRA`` typed in the page into ``<@id>`` markup, as Discord's client does."""
        if "@" not in content:
            return content
        for user in self.world.users.values():
            pattern = re.compile(rf"(?<![<\w])@{re.escape(user.name)}\b", re.IGNORECASE)
            content = pattern.sub(f"<@{user.id}>", content)
        return content

    def invoke_command(
        self,
        channel: str | int,
        command_line: str | None,
        *,
        user: str,
        name: str | None = None,
        options: list[dict[str, Any]] | None = None,
    ) -> Interaction:
        """Invoke a registered slash command as ``user``; dispatches INTERACTION_CREATE.

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
        data = _command_data(self.world, command, words, options)
        interaction = self.world.new_interaction(
            app=app, user=invoker, channel_id=target.id, data=data
        )
        payload = self.world.interaction_payload(interaction)
        # Only the command's own application hears of the invocation, as on Discord.
        self.gateway.dispatch_all(
            "INTERACTION_CREATE", lambda s: payload if s.user.id == app.id else None
        )
        self.fanout.interaction_changed(interaction)
        return interaction


def _command_data(
    world: World,
    command: dict[str, Any],
    words: list[str],
    options: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """Build the interaction's ``data``: raw ``options`` as given, else parsed ``words``."""
    resolved: dict[str, Any] = {}
    if options is None:
        options, resolved = build_options(world, command, words)
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
    return data
