"""Keeping discord.py clients alive: restart a dead ``start()`` with exponential backoff.

discord.py reconnects and RESUMEs by itself for ordinary disconnects, but some failures end
``client.start()`` for good: an exception in a gateway event parser, a close code it will
not retry, an HTTP error while logging in. A :class:`ClientSupervisor` owns one client's
task, resets the client (``close()`` + ``clear()``) and starts it again after a growing
delay. Bad credentials and missing privileged intents are not retried: they need a person.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import replace
from enum import StrEnum
from typing import Any, Final

import discord

from agentfleet_runtime.retry import DISCORD_RESTART

log = logging.getLogger(__name__)

#: Failures that restarting cannot fix.
FATAL_ERRORS: Final = (discord.LoginFailure, discord.PrivilegedIntentsRequired)


class ClientState(StrEnum):
    """Where a supervised client is in its life."""

    STOPPED = "stopped"
    """Not started yet."""
    STARTING = "starting"
    """Logging in / connecting; not READY yet."""
    READY = "ready"
    """Connected and READY (discord.py resumes short disconnects on its own)."""
    BACKOFF = "backoff"
    """``start()`` died; waiting before the next attempt."""
    FAILED = "failed"
    """Gave up: a failure restarting cannot fix (bad token, missing intent)."""
    CLOSED = "closed"
    """Shut down by :meth:`ClientSupervisor.close`."""


class ClientSupervisor:
    """Runs ``client.start(token)`` in a task and restarts it when it dies.

    The delay before a restart follows :data:`~agentfleet_runtime.retry.DISCORD_RESTART`
    (``initial_backoff`` and ``max_backoff`` override its first and longest wait); it starts
    over once a client has stayed up for ``stable_after`` seconds.
    The token is held only in memory and never logged.
    """

    def __init__(
        self,
        client: discord.Client,
        token: str,
        *,
        name: str,
        initial_backoff: float = DISCORD_RESTART.initial,
        max_backoff: float = DISCORD_RESTART.cap,
        stable_after: float = 60.0,
    ) -> None:
        if initial_backoff <= 0 or max_backoff < initial_backoff:
            raise ValueError("need 0 < initial_backoff <= max_backoff")
        self.client = client
        self._token = token
        self.name = name
        self.backoff = replace(DISCORD_RESTART, initial=initial_backoff, cap=max_backoff)
        self.stable_after = stable_after
        self.restarts = 0
        """How many times ``start()`` has been restarted after dying."""
        self.last_error: str | None = None
        self._state = ClientState.STOPPED
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    # -- state -------------------------------------------------------------------------

    @property
    def state(self) -> ClientState:
        """The client's current state (READY is read live from the client)."""
        if self._state is ClientState.STARTING and self.client.is_ready():
            return ClientState.READY
        return self._state

    @property
    def is_ready(self) -> bool:
        """Whether the client is connected and READY (for a /ready endpoint).

        discord.py reconnects by itself through a network drop or a Discord outage and
        keeps saying ``is_ready()`` all along, so the gateway's own socket is asked too:
        a bot that cannot hear messages is not ready, whoever is retrying.
        """
        gateway = self.client.ws  # None until the first connection
        return (
            self.state is ClientState.READY
            and not self.client.is_closed()
            and gateway is not None
            and gateway.open
        )

    def status(self) -> dict[str, Any]:
        """A JSON-able summary (no secrets) for /ready and logs."""
        return {
            "name": self.name,
            "state": self.state.value,
            "ready": self.is_ready,
            "restarts": self.restarts,
            "last_error": self.last_error,
        }

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Start supervising (idempotent); returns the supervising task."""
        if self._task is None or self._task.done():
            self._closing.clear()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"discord-client:{self.name}"
            )
        return self._task

    async def wait_until_ready(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until the client is READY; raise if supervision has ended or on timeout."""
        async with asyncio.timeout(timeout):
            while not self.is_ready:
                if self._state in (ClientState.FAILED, ClientState.CLOSED):
                    raise RuntimeError(f"{self.name}: {self._state.value} ({self.last_error})")
                await asyncio.sleep(0.05)

    async def close(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Stop supervising and close the client cleanly."""
        self._closing.set()
        with contextlib.suppress(Exception):
            await self.client.close()
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._state = ClientState.CLOSED

    async def _run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while not self._closing.is_set():
            self._state = ClientState.STARTING
            started = loop.time()
            try:
                await self.client.start(self._token)
                if self._closing.is_set():
                    break
                error = "start() returned while not closing"
            except asyncio.CancelledError:
                raise
            except FATAL_ERRORS as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._state = ClientState.FAILED
                log.error("ERROR %s: %s; not restarting", self.name, self.last_error)
                await self._reset()
                return
            except Exception as exc:
                if self._closing.is_set():
                    break
                error = f"{type(exc).__name__}: {exc}"
                log.exception("ERROR %s: Discord client died", self.name)
            self.last_error = error
            await self._reset()
            if loop.time() - started >= self.stable_after:
                failures = 0
            failures += 1
            delay = self.backoff.delay(failures)
            self._state = ClientState.BACKOFF
            log.warning("WARN %s: restarting Discord client in %.1fs (%s)", self.name, delay, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)
            if self._closing.is_set():
                break
            self.restarts += 1
        self._state = ClientState.CLOSED

    async def _reset(self) -> None:
        # A dead start() leaves the HTTP session and socket open; close() releases them
        # and clear() makes the same client startable again.
        with contextlib.suppress(Exception):
            await self.client.close()
        self.client.clear()
        # close() also closed the HTTP connector, which discord.py would hand to the next
        # login's session ("Session is closed"); MISSING makes it create a fresh one.
        connector = self.client.http.connector
        if connector is not discord.utils.MISSING and connector.closed:
            self.client.http.connector = discord.utils.MISSING
        # close() also drops the client's loop, and login() only re-binds it for a client
        # that was never started; re-run discord.py's own loop setup (checked on 2.7).
        if self.client.loop is discord.utils.MISSING:
            await self.client._async_setup_hook()


class SupervisorGroup:
    """Several supervised clients (Reception + personas) started and closed together."""

    def __init__(self, supervisors: Iterable[ClientSupervisor] = ()) -> None:
        self.supervisors: list[ClientSupervisor] = list(supervisors)

    def add(self, supervisor: ClientSupervisor) -> ClientSupervisor:
        """Add a supervisor; it runs once :meth:`start` is called (or its own ``start()``)."""
        self.supervisors.append(supervisor)
        return supervisor

    def start(self) -> None:
        """Start every client."""
        for supervisor in self.supervisors:
            supervisor.start()

    @property
    def is_ready(self) -> bool:
        """Whether every client is READY."""
        return bool(self.supervisors) and all(s.is_ready for s in self.supervisors)

    def status(self) -> list[dict[str, Any]]:
        """Per-client status for /ready."""
        return [s.status() for s in self.supervisors]

    async def close(self) -> None:
        """Close every client concurrently."""
        await asyncio.gather(*(s.close() for s in self.supervisors), return_exceptions=True)
