"""Autonomous speech (自発発言): whether a tick speaks, where, and who speaks.

The decision is pure: the caller supplies the phase, the active tasks, the last speaker and
a random source, so every rule is testable with a seeded ``random.Random``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from agentfleet_runtime.brain.phases import Phase
from agentfleet_runtime.brain.selection import speaker_weights, weighted_choice


@dataclass(frozen=True, slots=True)
class ActiveTask:
    """A task committed to a channel; the most recent one steers the working day."""

    channel: str
    text: str
    updated_at: float
    by: str = ""
    """Who set it (a display name), shown when the tasks are listed."""


@dataclass(frozen=True, slots=True)
class SpeechPlan:
    """One autonomous utterance to make: who, where, and the task it is about (if any)."""

    persona: str
    channel: str
    task: ActiveTask | None


class SpeechSkip(StrEnum):
    """Why a speech tick says nothing: operators tell a quiet night from a starved budget."""

    QUIET_PHASE = "quiet_phase"
    """STANDBY or PROCESSING: the fleet does not talk on its own then."""
    NOT_CHOSEN = "not_chosen"
    """The tick's probability said no (or no persona is enabled)."""
    BUDGET = "budget"
    """The shared Gemini budget is kept for replies to people (decided by the caller)."""


def speech_channel(phase: Phase, tasks: Sequence[ActiveTask]) -> str | None:
    """Where the fleet talks on its own in ``phase``; None when it stays quiet.

    In ACTIVE the most recently updated task's channel wins, then command_center; in FREE
    the fleet is social, in the lounge. STANDBY and PROCESSING are quiet.
    """
    if phase is Phase.ACTIVE:
        if tasks:
            return max(tasks, key=lambda t: t.updated_at).channel
        return "command_center"
    if phase is Phase.FREE:
        return "lounge"
    return None


def plan_speech(
    phase: Phase,
    tasks: Sequence[ActiveTask],
    personas: Sequence[str],
    last_speakers: Mapping[str, str],
    probability: float,
    rng: random.Random,
) -> SpeechPlan | SpeechSkip:
    """Decide one autonomous speech tick; ``last_speakers`` maps channel → last persona.

    Returns the plan, or why the tick stays silent.
    """
    channel = speech_channel(phase, tasks)
    if channel is None:
        return SpeechSkip.QUIET_PHASE
    if not personas or rng.random() >= probability:
        return SpeechSkip.NOT_CHOSEN
    weights = speaker_weights(channel, personas, last_speakers.get(channel))
    task = next((t for t in tasks if t.channel == channel), None) if phase is Phase.ACTIVE else None
    return SpeechPlan(weighted_choice(weights, rng), channel, task)
