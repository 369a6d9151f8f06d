"""Fetching attachment bytes from Discord's CDN, for the persona about to answer.

Reception passes on only an attachment's URL; the bytes are fetched here, once, by the
worker that needs them. Three guards, because the URL comes from a message: only Discord's
CDN hosts (and the configured Discord-compatible server, in the sandbox) are fetched from,
with no redirects, so a message cannot make the fleet fetch an arbitrary address; the body
is read up to a size cap and no further; and the whole fetch has a timeout. URLs carry
Discord's signature in their query, so logs name the host and path, not the URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Final

import aiohttp
import yarl

from agentfleet_runtime.brain.attachments import AttachmentFetchError, SkipReason

#: Where Discord serves attachments (``url`` and ``proxy_url``).
DISCORD_CDN_HOSTS: Final = frozenset({"cdn.discordapp.com", "media.discordapp.net"})
#: A file that has not arrived by then is skipped: the person is waiting for the reply.
FETCH_TIMEOUT_SECONDS: Final = 10.0
_CHUNK: Final = 64 * 1024


class CdnFetcher:
    """Implements ``AttachmentSource``: fetches from Discord's CDN with one HTTP session.

    ``extra_hosts`` are further hosts to trust, such as the host of
    ``DISCORD_API_BASE_URL``, whose server also serves the attachments. Call
    :meth:`close` on shutdown.
    """

    def __init__(
        self, extra_hosts: Iterable[str] = (), timeout: float = FETCH_TIMEOUT_SECONDS
    ) -> None:
        self.hosts = DISCORD_CDN_HOSTS | frozenset(extra_hosts)
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        """The file at ``url``; :class:`AttachmentFetchError` if too large or unavailable."""
        target = yarl.URL(url)
        where = f"{target.host}{target.path}"
        if target.scheme not in ("http", "https") or target.host not in self.hosts:
            raise AttachmentFetchError(SkipReason.UNAVAILABLE, f"not a Discord CDN URL: {where}")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(self.timeout):
                return await self._read(target, where, max_bytes)
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise AttachmentFetchError(
                SkipReason.UNAVAILABLE, f"{where}: {type(error).__name__}"
            ) from None

    async def _read(self, url: yarl.URL, where: str, max_bytes: int) -> bytes:
        assert self._session is not None
        async with self._session.get(url, allow_redirects=False) as response:
            if response.status != 200:
                raise AttachmentFetchError(
                    SkipReason.UNAVAILABLE, f"{where}: HTTP {response.status}"
                )
            too_large = AttachmentFetchError(
                SkipReason.TOO_LARGE, f"{where}: more than {max_bytes} bytes"
            )
            if (response.content_length or 0) > max_bytes:
                raise too_large
            body = bytearray()
            async for chunk in response.content.iter_chunked(_CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise too_large
            return bytes(body)

    async def close(self) -> None:
        """Release the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
