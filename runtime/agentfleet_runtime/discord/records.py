"""discord.py messages as the fleet records them: the brain's :class:`InboundMessage`.

Reception converts what the gateway delivers; a persona's poster converts the messages
Discord created for its post, so the worker that posted records them itself.
"""

from __future__ import annotations

import discord

from agentfleet_runtime.brain.messages import AttachmentRef, InboundMessage


def reply_to_author_id(message: discord.Message) -> int | None:
    """Author of the message ``message`` replies to, when Discord resolved it."""
    reference = message.reference
    if reference is None:
        return None
    resolved = reference.resolved
    if isinstance(resolved, discord.Message):
        return resolved.author.id
    cached = reference.cached_message
    return cached.author.id if cached is not None else None


def to_inbound(message: discord.Message) -> InboundMessage:
    """Convert a discord.py message into the brain's :class:`InboundMessage`."""
    reference = message.reference
    author = message.author
    roles = author.roles if isinstance(author, discord.Member) else []
    return InboundMessage(
        message_id=message.id,
        channel_id=message.channel.id,
        author_id=author.id,
        author_name=author.display_name,
        author_is_bot=author.bot,
        content=message.content,
        created_at=message.created_at.timestamp(),
        mentioned_user_ids=tuple(user.id for user in message.mentions),
        reply_to_message_id=reference.message_id if reference is not None else None,
        reply_to_author_id=reply_to_author_id(message),
        guild_id=message.guild.id if message.guild is not None else None,
        author_role_ids=tuple(role.id for role in roles),
        attachments=tuple(
            AttachmentRef(a.id, a.filename, a.content_type, a.size, a.url)
            for a in message.attachments
        ),
    )
