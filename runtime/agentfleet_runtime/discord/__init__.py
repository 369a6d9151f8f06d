"""The runtime's Discord adapters: thin conversions between discord.py and the brain.

No routing or business decision lives here (that is ``agentfleet_runtime.brain``):
:mod:`.connection` points discord.py at a local server, :mod:`.reception` turns gateway
messages and ``/task`` into callbacks, :mod:`.poster` posts a persona's messages,
:mod:`.records` converts discord.py's messages into the fleet's records,
:mod:`.supervisor` keeps the clients running and :mod:`.attachments` fetches attachment
bytes from Discord's CDN.
"""

from .attachments import CdnFetcher
from .connection import DiscordEndpoints, apply_endpoints, normalize_api_base
from .poster import PersonaPoster, PosterUnavailable, nonce_for, split_content
from .reception import OnMessage, OnTaskCommand, ReceptionBot
from .records import to_inbound
from .supervisor import ClientState, ClientSupervisor, SupervisorGroup

__all__ = [
    "CdnFetcher",
    "ClientState",
    "ClientSupervisor",
    "DiscordEndpoints",
    "OnMessage",
    "OnTaskCommand",
    "PersonaPoster",
    "PosterUnavailable",
    "ReceptionBot",
    "SupervisorGroup",
    "apply_endpoints",
    "nonce_for",
    "normalize_api_base",
    "split_content",
    "to_inbound",
]
