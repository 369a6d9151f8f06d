"""Files attached to messages: what the server keeps of an upload and how it describes it.

An upload becomes an :class:`Attachment`: its bytes stay in memory and are served back at a
CDN-style URL of this server (``/attachments/{channel_id}/{attachment_id}/{filename}``, as
``cdn.discordapp.com`` serves them), and messages carry Discord's attachment object (id,
filename, content type, size, url, proxy_url; width and height for images), which
discord.py turns into ``discord.Attachment``.
"""

from __future__ import annotations

import io
import mimetypes
import re
from dataclasses import dataclass
from typing import Any, Final

from PIL import Image, UnidentifiedImageError

#: Discord's upload limit for a server without boosts, for all files of one request.
MAX_UPLOAD_BYTES: Final = 10 * 1024 * 1024
#: Discord's limit on files per message.
MAX_FILES: Final = 10
#: Where attachments are served, under the server's base URL.
CDN_PREFIX: Final = "/attachments"

_GENERIC_TYPES: Final = frozenset({"", "application/octet-stream"})
_UNSAFE_NAME: Final = re.compile(r"[^\w.\-]+")


@dataclass(frozen=True, slots=True)
class FileUpload:
    """A file someone sends with a message: a bot over REST, a person from the page."""

    filename: str
    data: bytes
    content_type: str | None = None
    """As the uploader declared it; discord.py always says ``application/octet-stream``."""
    description: str | None = None
    """Alt text."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """An uploaded file as the server stores it."""

    id: int
    channel_id: int
    filename: str
    content_type: str | None
    data: bytes
    description: str | None = None
    width: int | None = None
    height: int | None = None

    @property
    def path(self) -> str:
        """The CDN-style path the file is served at."""
        return f"{CDN_PREFIX}/{self.channel_id}/{self.id}/{self.filename}"

    def payload(self, base_url: str) -> dict[str, Any]:
        """Discord's attachment object, with URLs on the server at ``base_url``."""
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": f"{base_url}{self.path}",
            "proxy_url": f"{base_url}{self.path}",
            "content_type": self.content_type,
            "flags": 0,
        }
        if self.description is not None:
            payload["description"] = self.description
        if self.width is not None:
            payload |= {"width": self.width, "height": self.height}
        return payload


def safe_filename(name: str) -> str:
    """``name`` as Discord stores it: spaces and unusual characters become underscores."""
    cleaned = _UNSAFE_NAME.sub("_", name.strip().replace("/", "_")).strip("._")
    return cleaned or "unknown"


def content_type_for(filename: str, declared: str | None) -> str | None:
    """The content type Discord reports: the uploader's, else guessed from the name.

    discord.py sends every file as ``application/octet-stream``, and Discord answers with
    the type it derives from the file name, text types with their charset.
    """
    declared = (declared or "").strip()
    if declared.split(";", 1)[0].lower() not in _GENERIC_TYPES:
        return declared
    guessed, _encoding = mimetypes.guess_type(filename)
    if guessed is None:
        return None
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def image_size(content_type: str | None, data: bytes) -> tuple[int, int] | None:
    """An image's width and height, read from its header; None for anything else."""
    if not (content_type or "").startswith("image/"):
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.width, image.height
    except (UnidentifiedImageError, OSError):
        return None
