"""A persona's bot: posts replies and shows the typing indicator; reads nothing.

Each persona has its own token, hence its own ``discord.Client``. It needs no privileged
intent (it never reads message content) and only the ``guilds`` intent, so the gateway
does not stream every message of the server to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any, Final

import aiohttp
import discord

from agentfleet_runtime.brain.messages import Embed, InboundMessage, OutboundMessage
from agentfleet_runtime.discord.records import to_inbound

log = logging.getLogger(__name__)

#: Discord's limit on a message's content.
MAX_MESSAGE_LENGTH: Final = 2000
#: Discord accepts nonces of at most 25 characters.
NONCE_LENGTH: Final = 25
#: How long a block runs before "typing…" is shown. Discord asks bots to show it only when
#: an answer is expected to take a few seconds; a reply within about a second reads as
#: immediate, and an indicator flickering for half a second before it is one more request
#: against the bot's rate limits (and CPU) for nothing. A slower answer (a long reply, a
#: retried request, a wait for the rate limiter) shows it from here on.
TYPING_DELAY: Final = 1.0

# Where a long text may be cut, best first. A cut inside the last half of the window only,
# so no part is needlessly short.
_PARAGRAPH = "\n\n"
_SENTENCE_ENDS = ("。", "！", "？", "!", "?", "．", "…")
_LATIN_SENTENCE_ENDS = (". ", "! ", "? ")
_CLAUSE_ENDS = ("、", "，", ", ", "; ", "；")


def _units(text: str) -> int:
    """Length as Discord's clients count it (UTF-16 code units; ≥ code points)."""
    return len(text.encode("utf-16-le")) // 2


def _window(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-16 units."""
    window = text[:limit]
    while _units(window) > limit:
        window = window[: len(window) - (_units(window) - limit + 1) // 2 - 1]
    return window


def _best_cut(window: str) -> int:
    """Index in ``window`` after which to cut (the part is ``window[:index]``)."""
    floor = len(window) // 2
    paragraph = window.rfind(_PARAGRAPH)
    if paragraph >= floor:
        return paragraph + len(_PARAGRAPH)
    newline = window.rfind("\n")
    if newline >= floor:
        return newline + 1
    sentence = max(
        *(window.rfind(end) + len(end) for end in _SENTENCE_ENDS),
        *(window.rfind(end) + len(end) for end in _LATIN_SENTENCE_ENDS),
    )
    if sentence > floor:
        return sentence
    space = max(window.rfind(" "), window.rfind("\u3000"), window.rfind("\t"))
    if space >= floor:
        return space + 1
    clause = max(window.rfind(end) + len(end) for end in _CLAUSE_ENDS)
    if clause > floor:
        return clause
    # One unbroken run (e.g. a URL or Japanese without punctuation): a hard cut is all
    # that is left.
    return len(window)


_FENCE = "```"
#: Room kept in each part for closing and reopening a code block cut in two.
_FENCE_RESERVE = len("\n```") + len("```\n")


def split_content(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters.

    Cuts at paragraph breaks, then line breaks, then sentence ends (Japanese and Latin),
    then spaces, then clause marks, and only then mid-word. Parts are stripped of the
    whitespace at the cut; empty text gives no parts. A code block cut in two is closed
    at the end of one part and reopened at the start of the next, so both render.
    """
    if limit < 2 * _FENCE_RESERVE:
        raise ValueError(f"limit must be at least {2 * _FENCE_RESERVE}")
    if _FENCE not in text:
        return _split_plain(text, limit)
    parts = _split_plain(text, limit - _FENCE_RESERVE)
    fenced: list[str] = []
    open_fence = False
    for part in parts:
        if open_fence:
            part = f"{_FENCE}\n{part}"
        if part.count(_FENCE) % 2 == 1:
            part = f"{part}\n{_FENCE}"
            open_fence = True
        else:
            open_fence = False
        fenced.append(part)
    return fenced


def _split_plain(text: str, limit: int) -> list[str]:
    parts: list[str] = []
    rest = text.strip()
    while _units(rest) > limit:
        window = _window(rest, limit)
        cut = _best_cut(window)
        part = rest[:cut].rstrip()
        if not part:  # only whitespace before the cut: take the window as it is
            part, cut = window, len(window)
        parts.append(part)
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def nonce_for(idempotency_key: str, part: int) -> str:
    """A Discord nonce (≤ 25 chars) stable for one part of one logical post.

    With ``enforce_nonce`` (discord.py sets it whenever a nonce is given) Discord returns
    the already-created message for a repeated nonce from the same bot within a few
    minutes, so a retried post is not duplicated.
    """
    digest = hashlib.sha256(f"{idempotency_key}\x00{part}".encode()).hexdigest()
    return digest[:NONCE_LENGTH]


def to_discord_embed(embed: Embed) -> discord.Embed:
    """The brain's embed as discord.py sends it; every field on its own line."""
    shown = discord.Embed(
        title=embed.title, description=embed.description or None, colour=embed.colour
    )
    for item in embed.fields:
        shown.add_field(name=item.name, value=item.value, inline=False)
    return shown


def poster_intents() -> discord.Intents:
    """Only ``guilds``: a poster reads no messages and needs no privileged intent."""
    return discord.Intents(guilds=True)


class PosterUnavailable(RuntimeError):
    """The persona's client is not logged in (starting, restarting or closed): retry later.

    Retrying a post with the same ``idempotency_key`` is safe.
    """


class PersonaPoster(discord.Client):
    """discord.Client for one persona's bot: :meth:`post` and :meth:`typing`.

    It implements ``agentfleet_runtime.app.ports.Poster``. Extra keyword ``options`` go to
    :class:`discord.Client`.
    """

    def __init__(self, persona: str, **options: Any) -> None:
        super().__init__(intents=poster_intents(), **options)
        self.persona = persona
        self._guild_ids: dict[int, int] = {}

    async def post(self, message: OutboundMessage) -> list[InboundMessage]:
        """Post ``message``, split over several messages if long; return what was created.

        The messages created come back as the fleet records them, as Reception would have
        seen them. The first part replies to ``reply_to_message_id`` (if that message is
        gone it is posted plainly) and carries the message's embed; nobody is pinged. Each
        part carries a nonce derived from ``idempotency_key``, so posting the same message
        again creates nothing new and returns the same messages. Raises
        :class:`PosterUnavailable` while the client is down and ``discord.HTTPException``
        when Discord refuses the post.
        """
        if self.is_closed() or self.user is None:
            raise PosterUnavailable(f"{self.persona}: Discord client is not logged in")
        parts = split_content(message.content) or ([""] if message.embed else [])
        if not parts:
            log.warning(
                "%s: nothing to post to channel %s (empty content)",
                self.persona,
                message.channel_id,
            )
            return []
        channel = self._messageable(message.channel_id)
        embed = to_discord_embed(message.embed) if message.embed else discord.utils.MISSING
        posted: list[InboundMessage] = []
        for index, part in enumerate(parts):
            reference = None
            if index == 0 and message.reply_to_message_id is not None:
                reference = discord.MessageReference(
                    message_id=message.reply_to_message_id,
                    channel_id=message.channel_id,
                    fail_if_not_exists=False,
                )
            # discord.py sends a random nonce when none is given; a derived one makes the
            # post idempotent (and a random one keeps key-less posts independent).
            nonce = (
                nonce_for(message.idempotency_key, index)
                if message.idempotency_key
                else secrets.token_hex(12)
            )
            sent = await channel.send(
                part or None,
                embed=embed if index == 0 else discord.utils.MISSING,
                reference=reference,  # type: ignore[arg-type]  # None = no reply (checked at runtime)
                allowed_mentions=discord.AllowedMentions.none(),
                nonce=nonce,
            )
            posted.append(to_inbound(sent))
        return posted

    def _messageable(self, channel_id: int) -> discord.PartialMessageable:
        """Where to post in ``channel_id``, with its guild when the channel is known.

        Knowing the guild, discord.py takes the author of what is posted for this bot's
        member there, whose display name (a server nickname, if set) is the one
        Reception's record of the post would carry.
        """
        guild_id = self._guild_ids.get(channel_id)
        if guild_id is None:
            guild = getattr(self.get_channel(channel_id), "guild", None)
            if guild is not None:
                # A channel never changes guild; the lookup is kept off later posts' path.
                guild_id = self._guild_ids[channel_id] = guild.id
        return self.get_partial_messageable(channel_id, guild_id=guild_id)

    @contextlib.asynccontextmanager
    async def typing(self, channel_id: int) -> AsyncIterator[None]:
        """Show "<persona> is typing…" in the channel while the block runs.

        The indicator starts :data:`TYPING_DELAY` into the block, so a reply never waits
        for its request; a block done sooner shows none. Once started it is awaited on the
        way out, so it cannot reach Discord after the reply (which would show "typing…"
        under an answered message). The indicator is cosmetic: if it cannot be sent the
        block still runs.
        """
        indicator = self.get_partial_messageable(channel_id).typing()
        started = False

        async def show() -> None:
            nonlocal started
            await asyncio.sleep(TYPING_DELAY)
            started = True
            await indicator.__aenter__()

        shown = asyncio.ensure_future(show())
        try:
            yield
        finally:
            if not started:
                # Still waiting out the delay: no request was made, none will be.
                shown.cancel()
            else:
                try:
                    await shown
                except (discord.DiscordException, aiohttp.ClientError, OSError) as exc:
                    log.warning(
                        "%s: typing indicator failed in %s: %s", self.persona, channel_id, exc
                    )
                else:
                    await indicator.__aexit__(None, None, None)
