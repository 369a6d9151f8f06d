"""What the Gemini-compatible server makes of the images and files in a request.

The real API refuses inline data it cannot use: a media type it does not take (GIF among
them), bytes that are not base64, an image that does not decode as the type it claims.
:func:`inline_images` refuses the same, so a client that would fail against Google fails
against the sandbox first. What was accepted is described back (:func:`seen`) for the
persona's answer to mention, which lets a test see that the attachment reached the model.

File names are read from the fleet's prompt data (JSON Lines items ``{"type": "image",
"name": ...}`` numbering the images, and ``{"type": "file", "name": ..., "text": ...}``
for text files), the way a model reading that data would know them.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from PIL import Image, UnidentifiedImageError

#: Media types the API takes as inline data: images, and documents the fleet never sends.
INLINE_TYPES: Final = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/heic",
        "image/heif",
        "application/pdf",
        "text/plain",
    }
)
#: Declared image type → the format its bytes must decode as (HEIC/HEIF are not decoded).
_IMAGE_FORMATS: Final = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
#: Tokens an image costs (Gemini counts 258 for an image of up to 384 px a side).
IMAGE_TOKENS: Final = 258
UNPROCESSABLE_IMAGE: Final = (
    "Unable to process input image. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting"
)


class InvalidInlineData(ValueError):
    """Inline data the real API answers with 400 INVALID_ARGUMENT; the message is Google's."""


@dataclass(frozen=True, slots=True)
class SeenImage:
    """An image of the request, as decoded."""

    format: str
    width: int
    height: int


def inline_images(contents: Sequence[Any]) -> list[SeenImage]:
    """Check every ``inlineData`` part of ``contents``; return the images, in order."""
    images = []
    for i, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        for j, part in enumerate(parts if isinstance(parts, list) else []):
            blob = (
                part.get("inlineData") or part.get("inline_data")
                if isinstance(part, dict)
                else None
            )
            if isinstance(blob, dict):
                image = _check(blob, f"contents[{i}].parts[{j}].inline_data")
                if image is not None:
                    images.append(image)
    return images


def _check(blob: dict[str, Any], where: str) -> SeenImage | None:
    mime = str(blob.get("mimeType") or blob.get("mime_type") or "")
    if mime not in INLINE_TYPES:
        raise InvalidInlineData(f"Unsupported MIME type: {mime}")
    raw = str(blob.get("data") or "")
    try:
        # Protobuf's JSON mapping takes standard or URL-safe base64, padded or not.
        padded = raw.replace("-", "+").replace("_", "/") + "=" * (-len(raw) % 4)
        data = base64.b64decode(padded, validate=True)
    except binascii.Error:
        raise InvalidInlineData(
            f"Invalid value at '{where}.data' (TYPE_BYTES), Base64 decoding failed"
        ) from None
    if not data:
        raise InvalidInlineData(f"* GenerateContentRequest.{where}.data: data is empty")
    expected = _IMAGE_FORMATS.get(mime)
    if expected is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            found = SeenImage(str(image.format), image.width, image.height)
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise InvalidInlineData(UNPROCESSABLE_IMAGE) from None
    if found.format != expected:
        raise InvalidInlineData(UNPROCESSABLE_IMAGE)
    return found


def _items(text: str) -> list[dict[str, Any]]:
    """The JSON object lines of a user turn."""
    items = []
    for line in text.splitlines():
        if line.lstrip().startswith("{"):
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                items.append(item)
    return items


def seen(user_text: str, images: Sequence[SeenImage]) -> list[str]:
    """What the model saw of the attachments: each image and text file, named."""
    items = _items(user_text)
    names = [str(i.get("name")) for i in items if i.get("type") == "image"]
    described = []
    for number, image in enumerate(images):
        name = f"「{names[number]}」" if number < len(names) else ""
        described.append(f"{image.format}画像{name}（{image.width}×{image.height}）")
    for item in items:
        if item.get("type") == "file":
            lines = len(str(item.get("text", "")).splitlines())
            described.append(f"テキスト「{item.get('name')}」（{lines}行）")
    return described
