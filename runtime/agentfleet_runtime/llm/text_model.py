"""The persona workers' view of Gemini: one prompt in, one utterance out."""

from __future__ import annotations

from agentfleet_runtime.brain.prompts import Prompt
from agentfleet_runtime.llm.gemini import GeminiClient, Turn


class GeminiTextModel:
    """Adapts :class:`GeminiClient` to the workers' ``TextModel`` port."""

    def __init__(self, client: GeminiClient) -> None:
        self.client = client

    async def complete(self, prompt: Prompt) -> str:
        """Generate the persona's utterance for ``prompt``."""
        turn = Turn("user", prompt.user, prompt.images)
        generation = await self.client.generate(prompt.system, [turn])
        return generation.text.strip()
