"""Images as Gemini reads them: checked by their bytes, a GIF reduced to its first frame.

A file's name and Discord's content type only say what it claims to be; the bytes decide.
Gemini reads PNG, JPEG and WebP inline; it refuses GIF, so a GIF (animated or not) is
sent as a PNG of its first frame. Anything Pillow cannot open as one of these is refused
here, before it costs a request that Gemini would answer with 400.

Decoding is CPU work: call :func:`prepare_image` in a worker thread.
"""

from __future__ import annotations

import io
import warnings
from typing import Final

from PIL import Image, UnidentifiedImageError

from agentfleet_runtime.brain.attachments import InlineData

#: Pillow format name → the media type Gemini is told; formats sent as they are.
_SENT_AS_IS: Final = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


class UnreadableImage(ValueError):
    """The bytes are not an image Gemini can be given."""


def prepare_image(data: bytes) -> InlineData:
    """``data`` as inline image data for Gemini.

    PNG, JPEG and WebP go as they are, a GIF as a PNG of its first frame. Raises
    :class:`UnreadableImage` for anything else, a broken file, or one whose pixel count
    could exhaust memory when decoded (Pillow's decompression-bomb limit, made an error).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format in _SENT_AS_IS:
                    # verify() reads the whole file: a truncated upload fails here, not at Google.
                    image.verify()
                    return InlineData(_SENT_AS_IS[image.format], data)
                if image.format == "GIF":
                    image.seek(0)
                    return InlineData("image/png", _png(image.convert("RGBA")))
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as exc:
        raise UnreadableImage(str(exc)) from None
    raise UnreadableImage(f"{image.format or 'unknown'} images are not read")


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
