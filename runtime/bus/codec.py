"""How messages and jobs are written into Redis stream entries and read back.

One JSON field per entry keeps entries readable with ``redis-cli XRANGE`` and lets the shapes
grow without a migration: unknown fields are ignored when reading.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from runtime.brain.messages import InboundMessage, JobKind, PersonaJob

FIELD = "data"


def _known(cls: type[Any], data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def encode_message(message: InboundMessage) -> str:
    """Serialise an inbound message for a stream entry."""
    return json.dumps(dataclasses.asdict(message), ensure_ascii=False)


def decode_message(raw: str | bytes) -> InboundMessage:
    """Read an inbound message back from a stream entry."""
    data = _known(InboundMessage, json.loads(raw))
    data["mentioned_user_ids"] = tuple(data.get("mentioned_user_ids", ()))
    return InboundMessage(**data)


def encode_job(job: PersonaJob) -> str:
    """Serialise a persona job for a queue entry."""
    return json.dumps(dataclasses.asdict(job), ensure_ascii=False)


def decode_job(raw: str | bytes) -> PersonaJob:
    """Read a persona job back from a queue entry."""
    data = _known(PersonaJob, json.loads(raw))
    data["kind"] = JobKind(data["kind"])
    if data.get("message") is not None:
        data["message"] = decode_message(json.dumps(data["message"]))
    return PersonaJob(**data)
