"""Flat JSON views of messages and interactions, as the control API and the web page show them.

Discord's own payloads (``World.message_payload``) nest users and members for discord.py;
a test or the page wants one flat object with names and colours resolved. Ids are strings
because snowflakes exceed the integers JavaScript can hold.
"""

from __future__ import annotations

from typing import Any

from .world import FLAG_LOADING, Interaction, Message, World


def message_json(world: World, message: Message) -> dict[str, Any]:
    """Return the flat view of ``message``."""
    channel = world.channels[message.channel_id]
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
        "attachments": [a.payload(world.cdn_base_url) for a in message.attachments],
        "embeds": list(message.embeds),
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
        "data": interaction.data,
        "callback_type": interaction.callback_type,
        "acknowledged": interaction.acknowledged,
        "expired": interaction.expired,
        "original": message(interaction.original_id),
        "followups": [message(m) for m in interaction.followup_ids],
    }
