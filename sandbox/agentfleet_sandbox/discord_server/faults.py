"""Fault injection: the failures a Discord bot must survive, on demand.

Tests (and the control API) use these to make the sandbox misbehave the way Discord does
under load or during incidents: 429s with Discord's headers, slow REST answers, dropped
websockets, invalidated sessions and events discord.py cannot parse. Each fault is
well-formed enough that discord.py takes its recovery path rather than a crash path.

Others are the set-up mistakes a person makes in the Developer Portal or the server's
settings: a token reset after it was deployed, the Message Content intent left off, a
channel overwrite that takes a permission from a bot. They answer as Discord does (401,
close code 4014, 403 with code 50013), which is what ``agentfleet doctor`` looks for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from .gateway import Gateway
from .responses import json_response, ratelimit_bucket
from .world import PERMISSION_NAMES, User, World

DEFAULT_ROUTE = "POST /channels/{channel_id}/messages"
"""The route a 429 hits unless told otherwise: sending is what a busy bot does most."""


@dataclass(slots=True)
class RateLimitFault:
    """Answer the next ``remaining`` matching REST calls with 429."""

    remaining: int
    retry_after: float
    bot: str | None
    route: str | None
    """``"POST /channels/{channel_id}/messages"`` style; None matches any route."""
    is_global: bool = False


class Faults:
    """The pending REST faults, and the gateway faults applied at once."""

    def __init__(self, world: World, gateway: Gateway) -> None:
        self.world = world
        self.gateway = gateway
        self.rate_limits: list[RateLimitFault] = []
        self.rest_delay = 0.0

    # -- gateway -----------------------------------------------------------------------

    def close_gateway(self, bot: str | None = None, code: int = 4000) -> int:
        """Close ``bot``'s websocket(s) with ``code`` (4000 → discord.py RESUMEs)."""
        return self.gateway.close_connections(bot, code)

    def invalidate_session(self, bot: str | None = None) -> int:
        """Send INVALID_SESSION(false): the client must IDENTIFY anew."""
        return self.gateway.invalidate(bot)

    def set_gateway_reachable(self, reachable: bool) -> None:
        """Take the gateway away from every bot, or give it back.

        Taking it away closes each websocket as a network drop would (1006-like, so the
        sessions stay resumable) and refuses new ones with 503: discord.py retries with
        backoff on its own, as it does through a real outage, and RESUMEs once it is back.
        """
        self.gateway.unreachable = not reachable
        if not reachable:
            self.gateway.close_connections(None, 4000)

    def send_malformed_event(self, bot: str | None = None) -> int:
        """Dispatch a MESSAGE_CREATE missing required keys to ``bot``'s sessions.

        discord.py's parser raises on it inside the gateway loop, which ends that client's
        ``start()``: the failure a supervisor must recover from.
        """
        channel_id = next(iter(self.world.channels))
        count = 0
        for session in self.gateway.sessions_of(bot):
            session.dispatch("MESSAGE_CREATE", {"id": "1", "channel_id": str(channel_id)})
            count += 1
        return count

    # -- set-up mistakes ---------------------------------------------------------------

    def reset_token(self, bot: str) -> str:
        """Replace ``bot``'s token (the old one now gets 401); return the new one."""
        return self.world.reset_token(bot)

    def set_message_content_intent(self, bot: str, enabled: bool) -> None:
        """Switch ``bot``'s Message Content intent; off, requesting it closes with 4014."""
        self.world.set_message_content_intent(bot, enabled)

    def deny_permission(self, bot: str, channel: str | int, permission: str | int) -> None:
        """Deny ``bot`` a permission (a name such as ``SEND_MESSAGES``, or bits) in a channel."""
        if isinstance(permission, str):
            if permission not in PERMISSION_NAMES:
                known = list(PERMISSION_NAMES)
                raise KeyError(f"unknown permission {permission!r}; known: {known}")
            permission = PERMISSION_NAMES[permission]
        self.world.deny_permission(bot, channel, permission)

    # -- REST --------------------------------------------------------------------------

    def inject_rate_limit(
        self,
        count: int = 1,
        *,
        retry_after: float = 0.05,
        bot: str | None = None,
        route: str | None = DEFAULT_ROUTE,
        is_global: bool = False,
    ) -> None:
        """Answer the next ``count`` matching REST calls with a well-formed 429."""
        self.rate_limits.append(RateLimitFault(count, retry_after, bot, route, is_global))

    def set_rest_delay(self, seconds: float) -> None:
        """Delay every REST response by ``seconds`` (0 disables)."""
        self.rest_delay = max(0.0, seconds)

    def clear(self) -> None:
        """Remove pending 429s, the REST delay, permission overwrites; intents and gateway back.

        A reset token stays reset: as in the portal, the old one cannot come back.
        """
        self.rate_limits.clear()
        self.gateway.unreachable = False
        self.rest_delay = 0.0
        self.world.clear_overwrites()
        for bot in self.world.bots:
            self.world.set_message_content_intent(bot, True)

    @property
    def pending_rate_limits(self) -> int:
        """How many REST calls will still be answered with 429."""
        return sum(f.remaining for f in self.rate_limits)

    def take_rate_limit(self, route: str, bot: User | None) -> RateLimitFault | None:
        """Use up one 429 matching this call, if one is pending."""
        for fault in self.rate_limits:
            if fault.remaining <= 0:
                continue
            if fault.route is not None and fault.route != route:
                continue
            if fault.bot is not None and (bot is None or bot.key != fault.bot):
                continue
            fault.remaining -= 1
            self.rate_limits = [f for f in self.rate_limits if f.remaining > 0]
            return fault
        return None


def too_many_requests(fault: RateLimitFault, route: str) -> web.Response:
    """Render the 429 for ``fault`` as Discord sends it.

    discord.py takes a 429 without ``Via`` (or with a non-JSON body) for a Cloudflare ban
    and gives up; Discord's real 429s carry both.
    """
    headers = {
        "Via": "1.1 google",
        "Retry-After": str(max(1, round(fault.retry_after))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset-After": f"{fault.retry_after:.3f}",
        "X-RateLimit-Reset": f"{time.time() + fault.retry_after:.3f}",
        "X-RateLimit-Bucket": ratelimit_bucket(route),
        "X-RateLimit-Scope": "global" if fault.is_global else "user",
    }
    if fault.is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {
        "message": "You are being rate limited.",
        "retry_after": fault.retry_after,
        "global": fault.is_global,
        "code": 0,
    }
    return json_response(body, status=429, headers=headers)
