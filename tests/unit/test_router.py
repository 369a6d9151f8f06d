import random
from collections import Counter

import pytest

from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.brain.router import FleetDirectory, RouteReason, route

DIRECTORY = FleetDirectory(
    personas=("spectra", "lynq", "paz"),
    persona_user_ids={"spectra": 101, "lynq": 102, "paz": 103},
    channel_names={1: "command_center", 2: "development", 3: "creation", 4: "lounge"},
    own_bot_ids=frozenset({100, 101, 102, 103}),
)


def message(**overrides: object) -> InboundMessage:
    fields: dict[str, object] = {
        "message_id": 9000,
        "channel_id": 2,
        "author_id": 7,
        "author_name": "alice",
        "author_is_bot": False,
        "content": "認証の設計どうする？",
        "created_at": 0.0,
    }
    fields.update(overrides)
    return InboundMessage(**fields)  # type: ignore[arg-type]


def test_mention_wins_over_channel_weights() -> None:
    decision = route(message(mentioned_user_ids=(103,)), DIRECTORY, None, random.Random(1))
    assert decision.personas == ("paz",)
    assert decision.reason is RouteReason.MENTION


def test_reply_to_a_persona_goes_to_that_persona() -> None:
    decision = route(
        message(reply_to_message_id=5, reply_to_author_id=101),
        DIRECTORY,
        "spectra",
        random.Random(1),
    )
    assert decision.personas == ("spectra",)
    assert decision.reason is RouteReason.REPLY


def test_mention_beats_reply() -> None:
    decision = route(
        message(mentioned_user_ids=(102,), reply_to_author_id=101),
        DIRECTORY,
        None,
        random.Random(1),
    )
    assert decision.personas == ("lynq",)


def test_bots_are_never_answered_including_our_own() -> None:
    rng = random.Random(1)
    assert route(message(author_is_bot=True), DIRECTORY, None, rng).personas == ()
    own = route(message(author_id=102, mentioned_user_ids=(101,)), DIRECTORY, None, rng)
    assert own.personas == ()
    assert own.reason is RouteReason.IGNORED_BOT


def test_unknown_channel_is_ignored_even_when_addressed() -> None:
    rng = random.Random(1)
    assert route(message(channel_id=99), DIRECTORY, None, rng).reason is RouteReason.IGNORED_CHANNEL
    addressed = route(message(channel_id=99, mentioned_user_ids=(102,)), DIRECTORY, None, rng)
    assert addressed.personas == ()


@pytest.mark.parametrize(
    "content",
    ["  ", "\u200b", "\u200b\u200c\u200d\u2060\ufeff", "\u3000\u3164", "\u2800", "\u202e\n"],
)
def test_invisible_content_is_not_answered(content: str) -> None:
    decision = route(message(content=content), DIRECTORY, None, random.Random(1))
    assert (decision.personas, decision.reason) == ((), RouteReason.IGNORED_EMPTY)


def test_text_behind_invisible_characters_is_answered() -> None:
    assert route(message(content="\u200bねえ"), DIRECTORY, None, random.Random(1)).personas


def test_development_weights_favour_lynq() -> None:
    rng = random.Random(42)
    counts = Counter(route(message(), DIRECTORY, None, rng).personas[0] for _ in range(4000))
    # 25 / 50 / 25: LYNQ answers about half of the messages in #development.
    assert 0.46 < counts["lynq"] / 4000 < 0.54
    assert 0.21 < counts["spectra"] / 4000 < 0.29


def test_anti_repeat_damps_the_last_speaker() -> None:
    rng = random.Random(42)
    counts = Counter(route(message(), DIRECTORY, "lynq", rng).personas[0] for _ in range(4000))
    # LYNQ's weight 50 × 0.1 = 5 against 25 + 25: about 9 %.
    assert 0.06 < counts["lynq"] / 4000 < 0.12


def test_one_reply_per_message_unless_configured() -> None:
    rng = random.Random(3)
    assert len(route(message(), DIRECTORY, None, rng).personas) == 1
    several = route(message(), DIRECTORY, None, rng, max_replies=2).personas
    assert len(several) == 2
    assert len(set(several)) == 2


def test_disabled_persona_is_never_chosen() -> None:
    two = FleetDirectory(
        personas=("spectra", "paz"),
        persona_user_ids={"spectra": 101, "lynq": 102, "paz": 103},
        channel_names=DIRECTORY.channel_names,
        own_bot_ids=DIRECTORY.own_bot_ids,
    )
    rng = random.Random(5)
    chosen = {route(message(), two, None, rng).personas[0] for _ in range(200)}
    assert chosen == {"spectra", "paz"}
    # Addressing a disabled persona falls back to the channel's enabled ones.
    assert route(message(mentioned_user_ids=(102,)), two, None, rng).personas[0] != "lynq"


def test_personas_are_chosen_before_their_bots_have_logged_in() -> None:
    # The router must not drop messages while it has not yet learnt the bots' user ids.
    unknown = FleetDirectory(
        personas=("spectra", "lynq", "paz"),
        persona_user_ids={},
        channel_names=DIRECTORY.channel_names,
        own_bot_ids=frozenset(),
    )
    assert len(route(message(), unknown, None, random.Random(1)).personas) == 1
