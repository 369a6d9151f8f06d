"""Who answers a human message: the routing rules, with no I/O.

Order of precedence: a persona that is mentioned or replied to answers; otherwise the
channel's weights pick one, with the last speaker damped so that the same persona does not
answer every message. Bots — including our own four — are never answered, which is what
keeps the agents from talking to each other in a loop, and nothing outside the fleet's four
channels is answered (brain.scope keeps such messages out before they get here).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.brain.selection import speaker_weights, weighted_choice


class RouteReason(StrEnum):
    """Why the router decided what it did (logged, and asserted on in tests)."""

    MENTION = "mention"
    REPLY = "reply"
    WEIGHTS = "weights"
    IGNORED_BOT = "ignored_bot"
    IGNORED_CHANNEL = "ignored_channel"
    IGNORED_EMPTY = "ignored_empty"


@dataclass(frozen=True, slots=True)
class Route:
    """The personas that will answer (empty when the message is ignored) and why."""

    personas: tuple[str, ...]
    reason: RouteReason


@dataclass(frozen=True, slots=True)
class FleetDirectory:
    """What the router needs to know about the fleet's personas and Discord identities."""

    personas: tuple[str, ...]
    """The enabled personas: the candidates when nobody in particular is addressed."""
    persona_user_ids: dict[str, int]
    """Persona name → its bot's Discord user id, for the bots that have logged in."""
    channel_names: dict[int, str]
    """Discord channel id → fleet channel name (command_center, development, …)."""
    own_bot_ids: frozenset[int]
    """All four of our bots, reception included."""

    def persona_of(self, user_id: int | None) -> str | None:
        """The persona whose bot has ``user_id``, if any."""
        for name, uid in self.persona_user_ids.items():
            if uid == user_id:
                return name
        return None


def route(
    message: InboundMessage,
    directory: FleetDirectory,
    last_speaker: str | None,
    rng: random.Random,
    max_replies: int = 1,
) -> Route:
    """Decide which personas answer ``message``."""
    if message.author_is_bot or message.author_id in directory.own_bot_ids:
        return Route((), RouteReason.IGNORED_BOT)
    if message.is_empty:
        # Without visible text or an attachment there is nothing to answer (zero-width
        # characters, or no content intent).
        return Route((), RouteReason.IGNORED_EMPTY)

    channel = directory.channel_names.get(message.channel_id)
    if channel is None:
        return Route((), RouteReason.IGNORED_CHANNEL)

    mentioned: list[str] = []
    for uid in message.mentioned_user_ids:
        name = directory.persona_of(uid)
        if name is not None and name in directory.personas and name not in mentioned:
            mentioned.append(name)
    if mentioned:
        return Route(tuple(mentioned[:max_replies]), RouteReason.MENTION)

    replied = directory.persona_of(message.reply_to_author_id)
    if replied is not None and replied in directory.personas:
        return Route((replied,), RouteReason.REPLY)

    weights = speaker_weights(channel, directory.personas, last_speaker)
    chosen: list[str] = []
    while weights and len(chosen) < max_replies:
        pick = weighted_choice(weights, rng)
        chosen.append(pick)
        del weights[pick]
    return Route(tuple(chosen), RouteReason.WEIGHTS)
