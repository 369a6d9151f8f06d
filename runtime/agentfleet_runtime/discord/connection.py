"""Pointing discord.py at a Discord-compatible server (the sandbox) instead of Discord.

discord.py has no per-client base URL: REST URLs are built from the class attribute
``discord.http.Route.BASE`` and a plain ``Client`` connects to
``DiscordWebSocket.DEFAULT_GATEWAY`` (resumes then follow READY's ``resume_gateway_url``).
Both are process-wide, which suits the fleet: every client of one process talks to the same
Discord. With neither variable set nothing is touched and discord.py talks to Discord.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import discord
import yarl

from agentfleet_runtime.contract import Env

log = logging.getLogger(__name__)

#: The REST API version discord.py 2.7 speaks.
API_VERSION = 10
#: Discord's own REST base, where requests go when DISCORD_API_BASE_URL is unset.
DISCORD_API_BASE = f"https://discord.com/api/v{API_VERSION}"
_VERSIONED = re.compile(r"/api/v\d+$")


@dataclass(frozen=True, slots=True)
class DiscordEndpoints:
    """Where the fleet's Discord clients connect; both None means real Discord."""

    api_base_url: str | None = None
    """REST base including ``/api/v10`` (a bare ``http://host:port`` is completed)."""
    gateway_url: str | None = None
    """Gateway websocket URL, e.g. ``ws://127.0.0.1:8765/gw``."""

    @property
    def is_default(self) -> bool:
        """Whether these are Discord's own endpoints (nothing to configure)."""
        return self.api_base_url is None and self.gateway_url is None


def normalize_api_base(url: str) -> str:
    """Return ``url`` ending in ``/api/v10``: a bare server address is completed."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{Env.DISCORD_API_BASE_URL} must be an http(s) URL, got {url!r}")
    if _VERSIONED.search(url):
        return url
    if url.endswith("/api"):
        return f"{url}/v{API_VERSION}"
    return f"{url}/api/v{API_VERSION}"


def apply_endpoints(endpoints: DiscordEndpoints) -> None:
    """Point discord.py at ``endpoints``; a no-op for real Discord (both unset).

    Call before any client's ``start()``: URLs are built when requests are made and the
    gateway URL is read when a client connects.
    """
    if endpoints.is_default:
        return
    if endpoints.api_base_url is not None:
        discord.http.Route.BASE = endpoints.api_base_url
    if endpoints.gateway_url is not None:
        url = yarl.URL(endpoints.gateway_url)
        if url.scheme not in ("ws", "wss"):
            raise ValueError(
                f"{Env.DISCORD_GATEWAY_URL} must be a ws(s) URL, got {endpoints.gateway_url!r}"
            )
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = url
    elif endpoints.api_base_url is not None:
        # REST on a local server but the gateway on Discord would mix two worlds.
        log.warning(
            "%s is set but %s is not: the gateway stays Discord's",
            Env.DISCORD_API_BASE_URL,
            Env.DISCORD_GATEWAY_URL,
        )
    log.info(
        "Discord endpoints: REST %s, gateway %s",
        discord.http.Route.BASE,
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )
