"""How messages and jobs are written into Redis stream entries and read back.

One JSON field per entry keeps entries readable with ``redis-cli XRANGE`` and lets the shapes
grow without a migration: unknown fields are ignored when reading.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from agentfleet_runtime.brain.messages import (
    AttachmentRef,
    Embed,
    EmbedField,
    InboundMessage,
    JobKind,
    PersonaJob,
)

FIELD = "data"
CONVERSATION_FIELD = "conversation"
"""A reply job's entry also carries the conversation before the message it answers (the
prompt's line of each of the channel's latest messages, oldest first, one per line: see
:func:`encode_conversation`) and every channel's task (a JSON array of channel, record
pairs): what the prompt is written from, as the router knew them when it queued the job."""
TASKS_FIELD = "tasks"


_MESSAGE_FIELDS = tuple(f.name for f in dataclasses.fields(InboundMessage))
_JOB_FIELDS = tuple(f.name for f in dataclasses.fields(PersonaJob))
_TUPLE_FIELDS = ("mentioned_user_ids", "author_role_ids")
_ATTACHMENT_FIELDS = tuple(f.name for f in dataclasses.fields(AttachmentRef))
_MESSAGE_FIELD_SET = frozenset(_MESSAGE_FIELDS)
_JOB_FIELD_SET = frozenset(_JOB_FIELDS)
_ATTACHMENT_FIELD_SET = frozenset(_ATTACHMENT_FIELDS)
# Every reply decodes a channel's recent history, so these run often: field names are read
# once, values are copied shallowly (``dataclasses.asdict`` deep-copies each field), and
# orjson reads and writes the JSON (a quarter of the standard library's time here). Reading
# a message back takes 3.3 us, 2.6 of them InboundMessage's own (frozen) constructor.


def _message_dict(message: InboundMessage) -> dict[str, Any]:
    data = {name: getattr(message, name) for name in _MESSAGE_FIELDS}
    # Metadata only (name, type, size, URL): the bytes are fetched when a persona answers.
    data["attachments"] = [
        {name: getattr(ref, name) for name in _ATTACHMENT_FIELDS} for ref in message.attachments
    ]
    return data


def _message_from(data: dict[str, Any]) -> InboundMessage:
    # ``data`` is freshly parsed and ours to change; it has just our fields unless it was
    # written by another version.
    known = data if data.keys() == _MESSAGE_FIELD_SET else _only(data, _MESSAGE_FIELD_SET)
    for name in _TUPLE_FIELDS:  # JSON has lists only
        known[name] = tuple(known.get(name, ()))
    refs = known.get("attachments")
    known["attachments"] = (
        tuple(AttachmentRef(**_only(ref, _ATTACHMENT_FIELD_SET)) for ref in refs) if refs else ()
    )
    return InboundMessage(**known)


def _only(data: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in names}


def encode_message(message: InboundMessage) -> str:
    """Serialise an inbound message for a stream entry."""
    return orjson.dumps(_message_dict(message)).decode()


def decode_message(raw: str | bytes) -> InboundMessage:
    """Read an inbound message back from a stream entry."""
    return _message_from(orjson.loads(raw))


def encode_conversation(lines: list[str]) -> str:
    """Join a conversation's lines for a job's entry; a prompt line holds no line break."""
    return "\n".join(lines)


def decode_conversation(raw: str) -> list[str]:
    """The lines :func:`encode_conversation` joined."""
    return raw.split("\n") if raw else []


def encode_job(job: PersonaJob) -> str:
    """Serialise a persona job for a queue entry."""
    data = {name: getattr(job, name) for name in _JOB_FIELDS}
    if job.message is not None:
        data["message"] = _message_dict(job.message)
    if job.embed is not None:
        data["embed"] = dataclasses.asdict(job.embed)
    return orjson.dumps(data).decode()


def decode_job(raw: str | bytes) -> PersonaJob:
    """Read a persona job back from a queue entry."""
    data = _only(orjson.loads(raw), _JOB_FIELD_SET)
    data["kind"] = JobKind(data["kind"])
    if data.get("message") is not None:
        data["message"] = _message_from(data["message"])
    if data.get("embed") is not None:
        fields = tuple(EmbedField(**f) for f in data["embed"].pop("fields", ()))
        data["embed"] = Embed(**data["embed"], fields=fields)
    return PersonaJob(**data)
