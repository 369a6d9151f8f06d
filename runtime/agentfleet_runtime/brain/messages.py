"""The values that flow through the fleet: what came in from Discord, what goes out.

Plain frozen dataclasses with no I/O, so the brain can be tested without Discord and every
adapter (Discord, Redis streams) converts to and from the same shapes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

#: Characters that draw nothing although Unicode does not class them as spaces or
#: formatting: Hangul fillers, the blank Braille pattern, the combining grapheme joiner,
#: the Mongolian vowel separator and the variation selectors.
_INVISIBLE: Final = frozenset(
    "\u115f\u1160\u3164\uffa0\u2800\u034f\u180e" + "".join(chr(c) for c in range(0xFE00, 0xFE10))
)
#: Separators (Zs, Zl, Zp), controls (Cc) and formatting characters (Cf: zero-width
#: spaces and joiners, direction marks, the BOM, tag characters).
_BLANK_CATEGORIES: Final = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})


def is_blank(text: str) -> bool:
    """Whether ``text`` shows nothing on screen: nothing to answer or to store as a task.

    ``str.strip()`` keeps zero-width and formatting characters, so a message of only
    U+200B would look like text to it.
    """
    return all(
        ch in _INVISIBLE
        or unicodedata.category(ch) in _BLANK_CATEGORIES
        or 0xE0100 <= ord(ch) <= 0xE01EF  # variation selectors supplement
        for ch in text
    )


#: Characters Discord reads as markup (emphasis, code, spoilers, quotes, mentions, links).
_MARKUP: Final = re.compile(r"([\\`*_~|<>\[\]])")


def escape_markup(text: str) -> str:
    """``text`` with Discord's markup characters escaped, so it shows as typed.

    What people wrote (a task, a memory, a file name) is quoted back in the fleet's own
    posts; unescaped, a ``*`` or a backtick in it would reshape the rest of the post.
    """
    return _MARKUP.sub(r"\\\1", text)


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """A file attached to a message, as Discord describes it: metadata only, never bytes.

    This is all that travels through Redis and stays in memory; the persona's worker
    fetches the bytes from ``url`` just before it answers (see agentfleet_runtime.app).
    """

    attachment_id: int
    filename: str
    content_type: str | None
    """Discord's guess from the upload (``image/png``, ``text/plain; charset=utf-8``...)."""
    size: int
    """Bytes, as Discord reports them."""
    url: str


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message seen by the Reception bot, before any decision about it.

    ``mentioned_user_ids`` and ``reply_to_author_id`` are Discord user ids, which lets the
    router tell a persona was addressed without knowing anything about Discord itself.
    """

    message_id: int
    channel_id: int
    author_id: int
    author_name: str
    author_is_bot: bool
    content: str
    created_at: float
    """Unix time in seconds (Discord's timestamp of the message)."""
    mentioned_user_ids: tuple[int, ...] = ()
    reply_to_message_id: int | None = None
    reply_to_author_id: int | None = None
    guild_id: int | None = None
    """None for a direct message."""
    author_role_ids: tuple[int, ...] = ()
    """The author's role ids in the guild (who may use /task)."""
    attachments: tuple[AttachmentRef, ...] = ()
    """Files and images attached to the message, in Discord's order."""

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing to answer or remember: no visible text, no attachment."""
        return is_blank(self.content) and not self.attachments


@dataclass(frozen=True, slots=True)
class EmbedField:
    """One titled part of an embed."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Embed:
    """A rich embed as plain data; the Discord adapter turns it into ``discord.Embed``."""

    title: str
    colour: int
    """0xRRGGBB, the bar down the embed's side."""
    description: str = ""
    fields: tuple[EmbedField, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A message a persona is to post: a reply when ``reply_to_message_id`` is set."""

    persona: str
    channel_id: int
    content: str
    reply_to_message_id: int | None = None
    idempotency_key: str = field(default="")
    """Stable for one logical post, so that a retried post can be recognised as the same."""
    embed: Embed | None = None
    """Shown under ``content`` (the Daily Report's sections)."""


class JobKind(StrEnum):
    """Why a persona is asked to speak."""

    REPLY = "reply"
    """Answer a human message."""
    SPEECH = "speech"
    """Autonomous speech (自発発言)."""
    EVENT = "event"
    """A scheduled post: the evening conclusion or the midnight rest."""
    ANNOUNCE = "announce"
    """Post fixed text as is, with no generation (task confirmations, the daily report)."""


@dataclass(frozen=True, slots=True)
class PersonaJob:
    """One unit of work on a persona's queue.

    ``job_id`` is the idempotency key of the whole job: it names the run-once marker and the
    Discord nonce, so a job that is delivered twice is posted once.
    """

    job_id: str
    kind: JobKind
    persona: str
    channel: str
    """Fleet channel name (command_center, development, creation, lounge)."""
    channel_id: int
    enqueued_at: float
    message: InboundMessage | None = None
    """The human message being answered (REPLY)."""
    text: str | None = None
    """The task being worked on (SPEECH), the event name (EVENT) or the text (ANNOUNCE)."""
    expires_at: float | None = None
    """Unix time after which the job is dropped unposted: autonomous speech that waited
    behind replies is stale, and posting it late would only interrupt."""
    embed: Embed | None = None
    """Posted with ``text`` (ANNOUNCE): the Daily Report as an embed."""
