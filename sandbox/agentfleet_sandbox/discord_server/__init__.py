"""A local Discord-compatible server for driving real discord.py clients offline.

Run it standalone with ``python -m agentfleet_sandbox.discord_server --port 8765`` and open the
page at ``http://127.0.0.1:8765/``, or use :class:`DiscordServer` in tests.
"""

from .commands import CommandLineError
from .gateway import GatewaySession
from .rest import TypingEvent
from .server import DiscordServer
from .world import BOTS, CHANNEL_IDS, DEFAULT_TOKENS, GUILD_ID, Interaction, Message, User

__all__ = [
    "BOTS",
    "CHANNEL_IDS",
    "DEFAULT_TOKENS",
    "GUILD_ID",
    "CommandLineError",
    "DiscordServer",
    "GatewaySession",
    "Interaction",
    "Message",
    "TypingEvent",
    "User",
]
