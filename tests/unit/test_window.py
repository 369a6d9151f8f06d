"""The router's window of each channel's latest messages, as reply jobs carry it."""

import json
import time

from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.brain.prompts import conversation_line
from agentfleet_runtime.bus.codec import decode_conversation, encode_conversation
from agentfleet_runtime.memory import window as window_module
from agentfleet_runtime.memory.hot import HOT_WINDOW, RECENT_MESSAGES
from agentfleet_runtime.memory.window import RecentWindows

NOW = 1_800_000_000.0


def message(number: int, channel_id: int = 2, age: float = 0.0) -> InboundMessage:
    return InboundMessage(
        message_id=number,
        channel_id=channel_id,
        author_id=7,
        author_name="alice",
        author_is_bot=False,
        content=f"発言 {number}",
        created_at=NOW - age,
    )


def carried_ids(windows: RecentWindows, latest: InboundMessage) -> list[int]:
    """The numbers of the messages a job for ``latest`` carries, oldest first, as the
    worker reads them (each line's text is 「発言 <number>」)."""
    raw = encode_conversation(windows.conversation(latest, NOW))
    return [int(json.loads(line)["text"].split()[1]) for line in decode_conversation(raw)]


def test_a_job_carries_what_hot_memory_held_then_what_came_since() -> None:
    windows = RecentWindows()
    windows.read(2, [message(n) for n in (1, 2)])
    windows.add(message(3))
    assert carried_ids(windows, message(4)) == [1, 2, 3]
    # Carrying does not keep: the router adds the message once its script recorded it.
    windows.add(message(4))
    assert carried_ids(windows, message(5)) == [1, 2, 3, 4]


def test_a_job_carries_the_messages_before_its_own_among_the_latest_twenty() -> None:
    windows = RecentWindows()
    windows.read(2, [])
    for n in range(1, 31):
        windows.add(message(n))
    # The message answered counts among the twenty, as in hot memory, but is not carried:
    # the prompt names it last, as the message to answer.
    assert carried_ids(windows, message(31)) == list(range(31 - RECENT_MESSAGES + 1, 31))
    windows.add(message(31))
    assert carried_ids(windows, message(31)) == list(range(31 - RECENT_MESSAGES + 1, 31))
    assert windows.conversation(message(31), NOW)[-1] == conversation_line(message(30))


def test_a_message_a_prompt_does_not_show_is_not_carried() -> None:
    windows = RecentWindows()
    empty = InboundMessage(2, 2, 7, "alice", False, "\u200b", NOW)
    windows.read(2, [message(1), empty])
    assert carried_ids(windows, message(3)) == [1]


def test_a_message_seen_twice_is_carried_once() -> None:
    windows = RecentWindows()
    windows.read(2, [message(1)])
    windows.add(message(1))
    windows.add(message(2))
    windows.add(message(2))
    assert carried_ids(windows, message(3)) == [1, 2]


def test_messages_older_than_hot_memory_keeps_are_left_out() -> None:
    windows = RecentWindows()
    old, recent = message(1, age=HOT_WINDOW + 60), message(2, age=HOT_WINDOW - 60)
    windows.read(2, [old, recent])
    assert carried_ids(windows, message(3)) == [2]


def test_channels_are_kept_apart_and_an_unread_channel_keeps_nothing() -> None:
    windows = RecentWindows()
    windows.read(2, [message(1)])
    windows.add(message(2, channel_id=3))
    assert windows.needs_reading(3)
    assert carried_ids(windows, message(3, channel_id=3)) == []
    assert carried_ids(windows, message(4)) == [1]


def test_a_window_is_read_again_once_it_is_old() -> None:
    clock = [time.monotonic()]
    windows = RecentWindows(clock=lambda: clock[0])
    assert windows.needs_reading(2)
    windows.read(2, [])
    assert not windows.needs_reading(2)
    clock[0] += window_module.TRUST_SECONDS + 1
    assert windows.needs_reading(2)
