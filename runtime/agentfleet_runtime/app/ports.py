"""The edges the fleet's services talk through, as protocols.

The Discord adapter (agentfleet_runtime.discord) implements :class:`Poster` and
:class:`AttachmentSource`; the Gemini adapter (agentfleet_runtime.llm) implements
:class:`TextModel`. Services depend on these shapes only, so the same worker runs against
real Discord, the sandbox's server, or in a benchmark harness.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from agentfleet_runtime.brain.messages import InboundMessage, OutboundMessage
from agentfleet_runtime.brain.prompts import Prompt


class Poster(Protocol):
    """Posts as one persona's bot."""

    async def post(self, message: OutboundMessage) -> list[InboundMessage]:
        """Post ``message`` (split if long); returns the messages created, as recorded."""
        ...

    def typing(self, channel_id: int) -> AbstractAsyncContextManager[None]:
        """Show the typing indicator in the channel while the block runs."""
        ...


class TextModel(Protocol):
    """Generates one utterance for a prompt."""

    async def complete(self, prompt: Prompt) -> str:
        """The model's text for ``prompt``; raises LLMError when it cannot answer."""
        ...


class Recall(Protocol):
    """Long-term memories relevant to a message."""

    async def recall(self, query: str, channel: str) -> list[str]:
        """Memories (as text) relevant to ``query`` in ``channel``, most relevant first."""
        ...


class AttachmentSource(Protocol):
    """Where an attachment's bytes are fetched from (Discord's CDN)."""

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        """The file at ``url``, at most ``max_bytes`` long.

        Raises ``AttachmentFetchError`` (agentfleet_runtime.brain.attachments) saying why
        not: too large, or unavailable.
        """
        ...
