"""Stream entries: what the router and workers write is what they read back."""

from __future__ import annotations

import json

from agentfleet_runtime.brain.messages import InboundMessage, JobKind, PersonaJob
from agentfleet_runtime.bus.codec import decode_job, decode_message, encode_job, encode_message

MESSAGE = InboundMessage(
    message_id=11,
    channel_id=22,
    author_id=33,
    author_name="みさき",
    author_is_bot=False,
    content="テストが遅い <@44>",
    created_at=1_764_000_000.5,
    mentioned_user_ids=(44, 55),
    reply_to_message_id=9,
    reply_to_author_id=44,
    guild_id=1,
)


def test_a_message_round_trips_and_stays_readable_text() -> None:
    raw = encode_message(MESSAGE)
    assert decode_message(raw) == MESSAGE
    assert decode_message(raw.encode()) == MESSAGE
    # Readable with redis-cli: Japanese as written, not \\u escapes.
    assert "みさき" in raw


def test_a_reply_job_round_trips_with_its_message() -> None:
    job = PersonaJob(
        job_id="reply:11:lynq",
        kind=JobKind.REPLY,
        persona="lynq",
        channel="development",
        channel_id=22,
        enqueued_at=1_764_000_001.0,
        message=MESSAGE,
        expires_at=1_764_000_100.0,
    )
    decoded = decode_job(encode_job(job))
    assert decoded == job
    assert decoded.kind is JobKind.REPLY


def test_fields_a_newer_writer_added_are_ignored() -> None:
    data = json.loads(encode_message(MESSAGE))
    data["stickers"] = ["wave"]
    assert decode_message(json.dumps(data)) == MESSAGE
    job = json.loads(encode_job(PersonaJob("j", JobKind.ANNOUNCE, "paz", "lounge", 5, 1.0)))
    job["priority"] = 3
    assert decode_job(json.dumps(job)).text is None
