"""Reading a message's attachments just before a persona answers it.

The brain decides what to read (:func:`agentfleet_runtime.brain.attachments.plan`); this
fetches those files at once from Discord's CDN through an :class:`AttachmentSource`, checks
what came back (an image by its bytes, a text file by its encoding) and hands the prompt
what it can use, in the message's order, with every skip and its reason. Nothing here is
kept: the bytes live for one reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from agentfleet_runtime.app.ports import AttachmentSource
from agentfleet_runtime.brain.attachments import (
    Accepted,
    AttachmentFetchError,
    AttachmentKind,
    AttachmentLimits,
    ReadImage,
    Reading,
    ReadText,
    SkipReason,
    decode_text,
    plan,
    skip,
)
from agentfleet_runtime.brain.messages import AttachmentRef
from agentfleet_runtime.llm.media import UnreadableImage, prepare_image

log = logging.getLogger(__name__)


class AttachmentReader:
    """Fetches and checks the attachments a persona may read, within ``limits``."""

    def __init__(self, source: AttachmentSource, limits: AttachmentLimits) -> None:
        self.source = source
        self.limits = limits

    async def read(self, refs: Sequence[AttachmentRef]) -> list[Reading]:
        """Every attachment of a message as the prompt shows it: read, or skipped and why."""
        decided = plan(refs, self.limits)
        readings = await asyncio.gather(
            *(self._read(d) if isinstance(d, Accepted) else _done(d) for d in decided)
        )
        return list(readings)

    async def _read(self, accepted: Accepted) -> Reading:
        ref, kind = accepted.ref, accepted.kind
        try:
            data = await self.source.fetch(ref.url, self.limits.max_bytes(kind))
        except AttachmentFetchError as error:
            log.warning(
                "attachment %s (%s) skipped: %s", ref.attachment_id, error.reason.value, error
            )
            return skip(ref, error.reason, self.limits)
        if kind is AttachmentKind.IMAGE:
            try:
                image = await asyncio.to_thread(prepare_image, data)
            except UnreadableImage as error:
                log.warning("attachment %s is not a readable image: %s", ref.attachment_id, error)
                return skip(ref, SkipReason.UNREADABLE, self.limits)
            return ReadImage(ref.filename, image)
        text = decode_text(data)
        if text is None:
            return skip(ref, SkipReason.UNREADABLE, self.limits)
        return ReadText(ref.filename, text)


async def _done(reading: Reading) -> Reading:
    """A decision already made, awaitable beside the fetches so the order is kept."""
    return reading
