"""What the guild's human members do: post messages and invoke slash commands.

Bots act through REST; people act through the page or a test, which call these. The
result must look to the bots exactly like a person using Discord's own client: ``@Name``
typed becomes mention markup, a typed ``/command`` line becomes the interaction data
Discord would build from the registered command's schema, a half-typed option asks the
app for autocomplete choices, and a click on a bot's button or select reaches the app
that sent the message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from . import layout
from .attachments import FileUpload
from .commands import CommandLineError, build_options, focus, split_command_line
from .fanout import Fanout
from .gateway import Gateway
from .world import (
    INTERACTION_AUTOCOMPLETE,
    INTERACTION_COMMAND,
    INTERACTION_COMPONENT,
    Interaction,
    Message,
    World,
)


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
        channel = self.world.direct_channel(person, recipient)
        message = self.world.add_message(
            channel_id=channel.id,
            author=person,
            content=self._expand_mentions(content),
            source="human",
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
        return self._command(channel, command_line, user=user, name=name, options=options)

    def autocomplete(
        self,
        channel: str | int,
        command_line: str | None,
        *,
        user: str,
        focused: str,
        name: str | None = None,
        options: list[dict[str, Any]] | None = None,
    ) -> Interaction:
        """Type into option ``focused`` of a command: an autocomplete interaction (type 4).

        ``command_line`` is what is typed so far (``/weather city:To``); required options
        may still be missing. The app's choices are kept on the interaction.
        """
        return self._command(
            channel, command_line, user=user, name=name, options=options, focused=focused
        )

    def _command(
        self,
        channel: str | int,
        command_line: str | None,
        *,
        user: str,
        name: str | None,
        options: list[dict[str, Any]] | None,
        focused: str | None = None,
    ) -> Interaction:
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
        data = _command_data(self.world, command, words, options, partial=focused is not None)
        if focused is not None:
            focus(data["options"], focused)
        interaction = self.world.new_interaction(
            app=app,
            user=invoker,
            channel_id=target.id,
            data=data,
            kind=INTERACTION_COMMAND if focused is None else INTERACTION_AUTOCOMPLETE,
        )
        self._send(interaction)
        return interaction

    def use_component(
        self, message_id: int, custom_id: str, *, user: str, values: list[str] | None = None
    ) -> Interaction:
        """Click a button (or pick ``values`` in a select) of a bot's message, as ``user``.

        The app that sent the message gets a component interaction (type 3) carrying it.
        """
        invoker = self.world.resolve_user(user)
        message = self.world.messages.get(message_id)
        if message is None:
            raise KeyError(f"unknown message {message_id}")
        app = message.author  # an interaction's answer, too, is authored by its app
        component = layout.find(message.components, custom_id)
        if component is None or not app.bot:
            raise CommandLineError(f"message {message_id} has no button or select {custom_id!r}")
        if component.get("disabled"):
            raise CommandLineError(f"{custom_id!r} is disabled")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] in layout.SELECTS:
            data["values"] = _chosen(component, values or [])
        interaction = self.world.new_interaction(
            app=app,
            user=invoker,
            channel_id=message.channel_id,
            data=data,
            kind=INTERACTION_COMPONENT,
            message_id=message.id,
        )
        self._send(interaction)
        return interaction

    def _send(self, interaction: Interaction) -> None:
        """INTERACTION_CREATE to the interaction's app only, as on Discord."""
        payload = self.world.interaction_payload(interaction)
        app_id = interaction.application.id
        self.gateway.dispatch_all(
            "INTERACTION_CREATE", lambda s: payload if s.user.id == app_id else None
        )
        self.fanout.interaction_changed(interaction)


def _chosen(select: dict[str, Any], values: list[str]) -> list[str]:
    """Check a person's pick in a select against its options and its min/max counts."""
    fewest, most = int(select.get("min_values", 1)), int(select.get("max_values", 1))
    if not fewest <= len(values) <= most:
        raise CommandLineError(f"pick {fewest} to {most} value(s), not {len(values)}")
    if select["type"] == layout.STRING_SELECT:
        offered = [str(o.get("value")) for o in select.get("options") or []]
        unknown = [v for v in values if v not in offered]
        if unknown:
            raise CommandLineError(f"{unknown} not among the options {offered}")
    return values


def _command_data(
    world: World,
    command: dict[str, Any],
    words: list[str],
    options: list[dict[str, Any]] | None,
    *,
    partial: bool = False,
) -> dict[str, Any]:
    """Build the interaction's ``data``: raw ``options`` as given, else parsed ``words``."""
    resolved: dict[str, Any] = {}
    if options is None:
        options, resolved = build_options(world, command, words, partial=partial)
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
