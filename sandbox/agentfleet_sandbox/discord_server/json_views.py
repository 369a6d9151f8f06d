"""Flat JSON views of messages and interactions, as the control API and the web page show them.

Discord's own payloads (``World.message_payload``) nest users and members for discord.py;
a test or the page wants one flat object with names and colours resolved. Ids are strings
because snowflakes exceed the integers JavaScript can hold.
"""

from __future__ import annotations

from typing import Any

from .world import FLAG_LOADING, Channel, Interaction, Message, World


def channel_json(channel: Channel) -> dict[str, Any]:
    """Return the flat view of ``channel``: a guild text channel, a thread or a DM."""
    kind = "dm" if channel.direct is not None else "thread" if channel.thread else "text"
    return {
        "id": str(channel.id),
        "name": channel.name,
        "position": channel.position,
        "kind": kind,
        "parent_id": str(channel.thread.parent_id) if channel.thread else None,
        "private": bool(channel.thread and channel.thread.private),
    }


def message_json(world: World, message: Message) -> dict[str, Any]:
    """Return the flat view of ``message``.

    Embeds, components, attachments and the thread a message started are taken from the
    Discord payload itself, so the page shows exactly what the bots were sent.
    """
    channel = world.channels[message.channel_id]
    payload = world.message_payload(message)
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
        "embeds": payload["embeds"],
        "components": payload["components"],
        "attachments": payload["attachments"],
        "thread_id": payload["thread"]["id"] if "thread" in payload else None,
        "direct": [u.name for u in channel.direct] if channel.direct else None,
    }


def interaction_json(world: World, interaction: Interaction) -> dict[str, Any]:
    """Return the flat view of ``interaction`` with its original response and follow-ups."""

    def message(mid: int | None) -> dict[str, Any] | None:
        return message_json(world, world.messages[mid]) if mid else None

    return {
        "id": str(interaction.id),
        "application": interaction.application.key,
        "user": interaction.user.key,
        "channel_id": str(interaction.channel_id),
        "type": interaction.type,
        "message_id": str(interaction.message_id) if interaction.message_id else None,
        "data": interaction.data,
        "choices": interaction.choices,
        "callback_type": interaction.callback_type,
        "acknowledged": interaction.acknowledged,
        "expired": interaction.expired,
        "original": message(interaction.original_id),
        "followups": [message(m) for m in interaction.followup_ids],
    }
