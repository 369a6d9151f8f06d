"""Weighted choice of a speaker, shared by replies and autonomous speech."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

from agentfleet_runtime.brain.personas import ANTI_REPEAT_FACTOR, CHANNEL_WEIGHTS


def speaker_weights(
    channel: str, candidates: Iterable[str], last_speaker: str | None
) -> dict[str, float]:
    """Channel weights of ``candidates`` with the last speaker damped by the anti-repeat factor."""
    base = CHANNEL_WEIGHTS[channel]
    return {
        name: base[name] * (ANTI_REPEAT_FACTOR if name == last_speaker else 1.0)
        for name in candidates
    }


def weighted_choice(weights: Mapping[str, float], rng: random.Random) -> str:
    """Pick one key with probability proportional to its weight.

    Keys are taken in sorted order so that a seeded ``rng`` gives the same answer on every
    run, whatever order the mapping was built in.
    """
    names = sorted(weights)
    if not names:
        raise ValueError("no candidates to choose from")
    return rng.choices(names, weights=[weights[n] for n in names], k=1)[0]
