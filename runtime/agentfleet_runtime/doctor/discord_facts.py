"""What the doctor learns from Discord's REST API, kept as answers, and the calls that fetch it.

The facts are plain data (each call's status and JSON body), so the checks that judge them
(:mod:`agentfleet_runtime.doctor.discord_checks`) are pure functions a unit test feeds
directly. Only :func:`fetch_discord_facts` talks to Discord: over aiohttp with each bot's
own token, against ``DISCORD_API_BASE_URL`` when it is set (a Discord-compatible server)
and Discord otherwise.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp

from agentfleet_runtime.config import Settings
from agentfleet_runtime.discord.connection import DISCORD_API_BASE, normalize_api_base

#: Per request; a doctor that hangs on a dead network helps nobody.
REQUEST_TIMEOUT: Final = 10.0
#: A 429 asking for a longer wait than this is reported instead of waited out.
MAX_RATE_LIMIT_WAIT: Final = 5.0
_USER_AGENT: Final = "DiscordBot (https://github.com/agentfleet/agentfleet, 0.1) agentfleet-doctor"


@dataclass(frozen=True, slots=True)
class Reply:
    """One REST call's outcome: the HTTP status (0 when nothing answered) and JSON body."""

    status: int
    body: Any = None
    error: str = ""
    """Why nothing answered (connection refused, timeout...); empty when it did."""

    @property
    def ok(self) -> bool:
        """Whether Discord answered 2xx."""
        return 200 <= self.status < 300

    @property
    def code(self) -> int | None:
        """Discord's JSON error code (10003 Unknown Channel, 50013 Missing Permissions...)."""
        if isinstance(self.body, dict) and isinstance(self.body.get("code"), int):
            return int(self.body["code"])
        return None

    def describe(self) -> str:
        """The answer in a few words: ``404 Unknown Channel (code 10003)``, or the error."""
        if self.status == 0:
            return f"no answer ({self.error})"
        message = self.body.get("message") if isinstance(self.body, dict) else None
        code = f" (code {self.code})" if self.code else ""
        return f"{self.status} {message or 'error'}{code}"


@dataclass(frozen=True, slots=True)
class BotFacts:
    """One bot's token as Discord sees it: whose it is, and its application."""

    bot: str
    """``reception`` or a persona."""
    me: Reply | None
    """``GET /users/@me``; None when the token is not set."""
    application: Reply | None = None
    """``GET /applications/@me`` (its ``flags`` hold the intents switched on)."""

    @property
    def valid(self) -> bool:
        """Whether Discord accepted the token."""
        return self.me is not None and self.me.ok

    @property
    def user_id(self) -> int | None:
        """The bot user's id, when the token is valid."""
        return int(self.me.body["id"]) if self.me is not None and self.me.ok else None

    @property
    def username(self) -> str:
        """The bot user's name, when the token is valid."""
        return str(self.me.body.get("username", "?")) if self.me and self.me.ok else "?"

    @property
    def application_id(self) -> int | None:
        """The application's id (the invite URL's ``client_id``); the bot's id if unknown."""
        if self.application is not None and self.application.ok:
            return int(self.application.body["id"])
        return self.user_id


@dataclass(frozen=True, slots=True)
class GuildFacts:
    """The guild the fleet lives in, as the bots can see it."""

    guild_id: int
    from_setting: bool
    """True when DISCORD_GUILD_ID named it; False when it is the channels' guild."""
    guild: Reply
    """``GET /guilds/{id}``: its name, owner and roles."""
    channels: Reply | None = None
    """``GET /guilds/{id}/channels``, with each channel's permission overwrites."""
    lookups: Mapping[int, Reply] = field(default_factory=dict)
    """``GET /channels/{id}`` of configured channels missing from the guild's list."""
    members: Mapping[str, Reply] = field(default_factory=dict)
    """Bot → ``GET /guilds/{id}/members/{bot id}``."""
    commands: Sequence[Reply] = ()
    """Reception's guild commands, then its global ones."""


@dataclass(frozen=True, slots=True)
class DiscordFacts:
    """Everything the Discord checks judge."""

    bots: Sequence[BotFacts]
    channel_ids: Mapping[str, int]
    """Configured channels: name → id."""
    guild: GuildFacts | None
    """None when no bot could look (no valid token) or no guild is configured."""
    guild_lookup: Reply | None = None
    """How the guild was found from a channel when DISCORD_GUILD_ID is unset."""


class DiscordApi:
    """GET requests to Discord's REST API with a bot token; every answer kept as a Reply."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def get(self, path: str, token: str) -> Reply:
        """``GET {base}{path}`` as the token's bot; one wait and retry if rate limited."""
        reply = await self._get_once(path, token)
        wait = reply.body.get("retry_after") if isinstance(reply.body, dict) else None
        if reply.status == 429 and isinstance(wait, int | float) and wait <= MAX_RATE_LIMIT_WAIT:
            await asyncio.sleep(wait)
            reply = await self._get_once(path, token)
        return reply

    async def _get_once(self, path: str, token: str) -> Reply:
        headers = {"Authorization": f"Bot {token}", "User-Agent": _USER_AGENT}
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                async with self.session.get(f"{self.base}{path}", headers=headers) as response:
                    status, text = response.status, await response.text()
        except TimeoutError:
            return Reply(0, error=f"no answer within {REQUEST_TIMEOUT:.0f}s")
        except (aiohttp.ClientError, OSError) as exc:
            # ClientError texts name the host and port only; a token is a header, never here.
            return Reply(0, error=f"{type(exc).__name__}: {exc}")
        try:
            return Reply(status, json.loads(text) if text else None)
        except ValueError:
            # Not Discord answering (a proxy's HTML page): keep the status, drop the body.
            return Reply(status)


def api_base(settings: Settings) -> str:
    """Where the fleet's REST calls go: DISCORD_API_BASE_URL, else Discord."""
    if settings.DISCORD_API_BASE_URL:
        return normalize_api_base(settings.DISCORD_API_BASE_URL)
    return DISCORD_API_BASE


async def fetch_discord_facts(
    settings: Settings, bots: Sequence[str], tokens: Mapping[str, str]
) -> DiscordFacts:
    """Ask Discord what each token is and what the guild and channels look like.

    ``bots`` are the bots to check (reception and personas); ``tokens`` maps those whose
    token is set to it.
    """
    async with aiohttp.ClientSession() as session:
        api = DiscordApi(session, api_base(settings))
        facts = await asyncio.gather(*(_bot_facts(api, b, tokens.get(b)) for b in bots))
        observers = [(f, tokens[f.bot]) for f in facts if f.valid]
        guild_id, lookup = await _guild_id(api, settings, observers)
        guild = (
            await _guild_facts(api, settings, guild_id, observers)
            if guild_id is not None and observers
            else None
        )
    return DiscordFacts(facts, settings.channel_ids, guild, lookup)


async def _bot_facts(api: DiscordApi, bot: str, token: str | None) -> BotFacts:
    if token is None:
        return BotFacts(bot, None)
    me, application = await asyncio.gather(
        api.get("/users/@me", token), api.get("/applications/@me", token)
    )
    return BotFacts(bot, me, application)


async def _guild_id(
    api: DiscordApi, settings: Settings, observers: Sequence[tuple[BotFacts, str]]
) -> tuple[int | None, Reply | None]:
    """DISCORD_GUILD_ID, else the guild of the first configured channel a bot can read."""
    if settings.DISCORD_GUILD_ID is not None:
        return settings.DISCORD_GUILD_ID, None
    reply = None
    for channel_id in settings.channel_ids.values():
        for _bot, token in observers:
            reply = await api.get(f"/channels/{channel_id}", token)
            if reply.ok and isinstance(reply.body, dict) and reply.body.get("guild_id"):
                return int(reply.body["guild_id"]), reply
    return None, reply


async def _guild_facts(
    api: DiscordApi,
    settings: Settings,
    guild_id: int,
    observers: Sequence[tuple[BotFacts, str]],
) -> GuildFacts:
    """The guild as the first bot that can read it sees it: roles, channels, members."""
    guild = Reply(0, error="no bot tried")
    token = observers[0][1]
    for _bot, token in observers:
        guild = await api.get(f"/guilds/{guild_id}", token)
        if guild.ok:
            break
    from_setting = settings.DISCORD_GUILD_ID is not None
    if not guild.ok:
        return GuildFacts(guild_id, from_setting, guild)
    channels = await api.get(f"/guilds/{guild_id}/channels", token)
    listed = {int(c["id"]) for c in channels.body} if channels.ok else set()
    missing = [cid for cid in settings.channel_ids.values() if cid not in listed]
    lookups = await asyncio.gather(*(api.get(f"/channels/{cid}", token) for cid in missing))
    members = await asyncio.gather(
        *(api.get(f"/guilds/{guild_id}/members/{bot.user_id}", token) for bot, _ in observers)
    )
    return GuildFacts(
        guild_id,
        from_setting,
        guild,
        channels,
        dict(zip(missing, lookups, strict=True)),
        {bot.bot: reply for (bot, _), reply in zip(observers, members, strict=True)},
        await _commands(api, guild_id, observers),
    )


async def _commands(
    api: DiscordApi, guild_id: int, observers: Sequence[tuple[BotFacts, str]]
) -> list[Reply]:
    """Reception's application commands in the guild and globally (empty if it has no token)."""
    for bot, token in observers:
        if bot.bot == "reception":
            app = bot.application_id
            return list(
                await asyncio.gather(
                    api.get(f"/applications/{app}/guilds/{guild_id}/commands", token),
                    api.get(f"/applications/{app}/commands", token),
                )
            )
    return []
