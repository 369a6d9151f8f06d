from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.brain.scope import DIRECT_MESSAGE_REPLY, Admission, admit

CHANNELS = {1: "command_center", 2: "development", 3: "creation", 4: "lounge"}
GUILD = 500


def message(channel_id: int, guild_id: int | None) -> InboundMessage:
    return InboundMessage(
        message_id=9,
        channel_id=channel_id,
        author_id=7,
        author_name="alice",
        author_is_bot=False,
        content="こんにちは",
        created_at=0.0,
        guild_id=guild_id,
    )


def test_only_the_fleets_channels_in_its_guild_are_taken_in() -> None:
    assert admit(message(2, GUILD), CHANNELS, GUILD) is Admission.FLEET
    assert admit(message(99, GUILD), CHANNELS, GUILD) is Admission.OUTSIDE
    # A fleet channel id seen in another guild: a mistyped id must not open the fleet.
    assert admit(message(2, 777), CHANNELS, GUILD) is Admission.OUTSIDE
    assert admit(message(123, None), CHANNELS, GUILD) is Admission.DIRECT


def test_without_a_guild_id_the_channel_ids_decide() -> None:
    assert admit(message(2, 777), CHANNELS, None) is Admission.FLEET
    assert admit(message(99, 777), CHANNELS, None) is Admission.OUTSIDE


def test_the_direct_message_answer_says_where_to_talk() -> None:
    assert all(f"#{name}" in DIRECT_MESSAGE_REPLY for name in CHANNELS.values())
