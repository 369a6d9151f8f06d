"""Attachments on a person's message: which ones a persona reads, which it skips, and why.

People post screenshots, photos and text files (notes, code, logs, CSV) and expect the
persona to have looked at them. The model reads images (PNG, JPEG, WebP; a GIF as its
first frame) and text, within limits a fleet can tune (``ATTACHMENT_MAX_*``): too many or
too large files would blow the request size and the token budget. Everything else is
skipped, and the reply says so in one short line, so nobody thinks the persona ignored
their file.

Pure decisions only: the worker fetches the bytes (agentfleet_runtime.app.attachments),
and memory keeps only what :func:`label` says (name and kind), never the bytes.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Final

from agentfleet_runtime.brain.messages import AttachmentRef, InboundMessage, escape_markup

#: Defaults of the ``ATTACHMENT_MAX_*`` settings. Four images of 3 MiB stay within Gemini's
#: 20 MB limit on a request's inline data (base64 adds a third); 32 KiB of text is about
#: ten thousand tokens, a long source file.
DEFAULT_MAX_COUNT: Final = 4
DEFAULT_MAX_IMAGE_BYTES: Final = 3 * 1024 * 1024
DEFAULT_MAX_TEXT_BYTES: Final = 32 * 1024

#: Image types the model reads, by extension (Discord's content type may be missing).
IMAGE_EXTENSIONS: Final = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
IMAGE_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
#: Text files by extension: prose, data and the common programming languages.
TEXT_EXTENSIONS: Final = frozenset(
    {
        *(".txt", ".md", ".markdown", ".rst", ".log", ".csv", ".tsv", ".json", ".jsonl"),
        *(".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".env", ".xml", ".html", ".css"),
        *(".py", ".js", ".mjs", ".ts", ".tsx", ".jsx", ".java", ".kt", ".go", ".rs", ".rb"),
        *(".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".swift", ".php", ".sh", ".bash", ".sql"),
        *(".diff", ".patch", ".dockerfile", ".tf", ".lua", ".r", ".scala", ".dart", ".vue"),
    }
)
#: Non-``text/`` content types that are text all the same.
TEXT_TYPES: Final = frozenset(
    {
        "application/json",
        "application/xml",
        "application/x-yaml",
        "application/yaml",
        "application/toml",
        "application/javascript",
        "application/x-sh",
        "application/sql",
    }
)


class AttachmentKind(StrEnum):
    """How the model is given an attachment."""

    IMAGE = "image"
    """As inline image data."""
    TEXT = "text"
    """As text in the prompt's data."""


class SkipReason(StrEnum):
    """Why an attachment was not given to the model."""

    UNSUPPORTED = "unsupported"
    TOO_LARGE = "too_large"
    TOO_MANY = "too_many"
    UNREADABLE = "unreadable"
    """Fetched, but not the image or text it claimed to be (or not decodable)."""
    UNAVAILABLE = "unavailable"
    """The file could not be fetched (gone, timed out, not on Discord's CDN)."""


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    """How much a persona reads of one message's attachments."""

    max_count: int = DEFAULT_MAX_COUNT
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES

    def max_bytes(self, kind: AttachmentKind) -> int:
        """The size cap of one attachment of ``kind``."""
        return self.max_image_bytes if kind is AttachmentKind.IMAGE else self.max_text_bytes


class AttachmentFetchError(Exception):
    """An adapter could not provide an attachment's bytes; ``reason`` says why."""

    def __init__(self, reason: SkipReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Accepted:
    """An attachment the model will be given, once its bytes are fetched."""

    ref: AttachmentRef
    kind: AttachmentKind


@dataclass(frozen=True, slots=True)
class Skipped:
    """An attachment the model is not given; ``why`` is the reader-facing reason."""

    ref: AttachmentRef
    reason: SkipReason
    why: str


@dataclass(frozen=True, slots=True)
class InlineData:
    """Bytes the model reads as they are (an image), with their IANA media type."""

    mime_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ReadImage:
    """An image ready for the prompt."""

    name: str
    image: InlineData


@dataclass(frozen=True, slots=True)
class ReadText:
    """A text file ready for the prompt."""

    name: str
    text: str


#: One attachment as the prompt shows it, in the message's order.
Reading = ReadImage | ReadText | Skipped


def _extension(filename: str) -> str:
    name = filename.lower()
    # "Dockerfile" has no suffix; PurePosixPath gives "" for it, which is no type.
    return PurePosixPath(name).suffix or (f".{name}" if name == "dockerfile" else "")


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def kind_of(ref: AttachmentRef) -> AttachmentKind | None:
    """How the model can read ``ref``, from its content type or name; None if it cannot."""
    media, extension = _media_type(ref.content_type), _extension(ref.filename)
    if media in IMAGE_TYPES or (not media.startswith("image/") and extension in IMAGE_EXTENSIONS):
        return AttachmentKind.IMAGE
    if media.startswith("text/") or media in TEXT_TYPES or extension in TEXT_EXTENSIONS:
        return AttachmentKind.TEXT
    return None


def _size(count: int) -> str:
    """A byte count as people read it: ``3 MB``, ``12.5 MB``, ``32 KB``."""
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):.1f}".removesuffix(".0") + " MB"
    return f"{max(1, round(count / 1024))} KB"


def skip(ref: AttachmentRef, reason: SkipReason, limits: AttachmentLimits) -> Skipped:
    """``ref`` skipped for ``reason``, with the reason worded for the person who posted it."""
    if reason is SkipReason.TOO_LARGE:
        cap = limits.max_bytes(kind_of(ref) or AttachmentKind.TEXT)
        # Discord's size is shown when it explains the skip; a file that turned out larger
        # than it claimed shows only the cap.
        size = f"{_size(ref.size)}、" if ref.size > cap else ""
        why = f"大きすぎる（{size}上限 {_size(cap)}）"
    else:
        why = {
            SkipReason.UNSUPPORTED: "対応していない形式（画像とテキストファイルなら読める）",
            SkipReason.TOO_MANY: f"一度に読めるのは{limits.max_count}個まで",
            SkipReason.UNREADABLE: "中身を読み取れなかった",
            SkipReason.UNAVAILABLE: "ファイルを取得できなかった",
        }[reason]
    return Skipped(ref, reason, why)


def plan(refs: Sequence[AttachmentRef], limits: AttachmentLimits) -> list[Accepted | Skipped]:
    """Decide, in the message's order, which attachments to fetch and which to skip.

    Unsupported and oversized files are skipped first, so they do not use up the count.
    """
    decided: list[Accepted | Skipped] = []
    taken = 0
    for ref in refs:
        kind = kind_of(ref)
        if kind is None:
            decided.append(skip(ref, SkipReason.UNSUPPORTED, limits))
        elif ref.size > limits.max_bytes(kind):
            decided.append(skip(ref, SkipReason.TOO_LARGE, limits))
        elif taken >= limits.max_count:
            decided.append(skip(ref, SkipReason.TOO_MANY, limits))
        else:
            taken += 1
            decided.append(Accepted(ref, kind))
    return decided


def decode_text(data: bytes) -> str | None:
    """A text file's content: UTF-8 (with or without BOM), else Shift_JIS; None if binary.

    Shift_JIS because Japanese Windows tools still save in it; a NUL byte means binary.
    """
    if b"\x00" in data:
        return None
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return codecs.decode(data, encoding)
        except UnicodeDecodeError:
            continue
    return None


def label(ref: AttachmentRef) -> str:
    """What memory and the day log keep of an attachment: its kind and name.

    ``[画像: cat.png]`` or ``[ファイル: notes.md]``, on one line; what quotes it in a
    Discord post escapes it there.
    """
    noun = "画像" if kind_of(ref) is AttachmentKind.IMAGE else "ファイル"
    return f"[{noun}: {' '.join(ref.filename.split())}]"


def message_text(message: InboundMessage) -> str:
    """The message as history shows it: its text, then a label per attachment."""
    parts = [message.content.strip(), *(label(ref) for ref in message.attachments)]
    return " ".join(part for part in parts if part)


def skipped_note(readings: Sequence[Reading]) -> str:
    """One subtext line naming each skipped attachment and why; empty if none was."""
    skipped = [r for r in readings if isinstance(r, Skipped)]
    if not skipped:
        return ""
    items = "、".join(f"{escape_markup(s.ref.filename)}（{s.why}）" for s in skipped)
    return f"-# 📎 読めなかった添付: {items}"


def with_skipped_note(reply: str, readings: Sequence[Reading]) -> str:
    """``reply`` followed by :func:`skipped_note` when something was skipped."""
    note = skipped_note(readings)
    return f"{reply}\n{note}" if note else reply
