"""Which messages the fleet takes in at all: its guild's four channels, nothing else.

Reception sees every message its bot can read: other channels of the guild, other guilds
the bot was invited to, direct messages. Only messages in the fleet's channels are routed,
kept in memory and reported; a direct message from a person gets one polite line that says
where to talk, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.contract import CHANNELS

DIRECT_MESSAGE_REPLY: Final = (
    "ごめんね、DMではお話しできないの。サーバーの "
    + " / ".join(f"#{name}" for name in CHANNELS)
    + " で話しかけてね！"
)


class Admission(StrEnum):
    """What becomes of a message Reception saw."""

    FLEET = "fleet"
    """In one of the fleet's channels: routed, remembered, reported."""
    DIRECT = "direct"
    """A direct message: a person gets :data:`DIRECT_MESSAGE_REPLY`; nothing is stored."""
    OUTSIDE = "outside"
    """Another channel or another guild: ignored."""


def admit(
    message: InboundMessage, channel_names: Mapping[int, str], guild_id: int | None
) -> Admission:
    """Where ``message`` belongs; ``guild_id`` None trusts the channel ids alone.

    Channel ids are unique across Discord, so the four ids already pin the guild; the
    configured guild id is checked as well because a mistyped channel id must not open the
    fleet to a stranger's server.
    """
    if message.guild_id is None:
        return Admission.DIRECT
    if message.channel_id not in channel_names:
        return Admission.OUTSIDE
    if guild_id is not None and message.guild_id != guild_id:
        return Admission.OUTSIDE
    return Admission.FLEET
