"""``python -m agentfleet_sandbox.discord_server --port N``: serve the sandbox guild until Ctrl+C.

Prints the values for ``DISCORD_API_BASE_URL``, ``DISCORD_GATEWAY_URL`` and the channel ids
so the fleet can be pointed at it; tokens come from ``--token bot=value`` or the
``DISCORD_<BOT>_TOKEN`` variables, else the sandbox defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal

from .server import DiscordServer
from .world import BOTS


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m agentfleet_sandbox.discord_server", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any)")
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="BOT=TOKEN",
        help=f"token for a bot ({', '.join(BOTS)}); repeatable",
    )
    parser.add_argument(
        "--human", action="append", default=[], help="human member name; repeatable"
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def _tokens(pairs: list[str]) -> dict[str, str]:
    tokens = {
        bot: value for bot in BOTS if (value := os.environ.get(f"DISCORD_{bot.upper()}_TOKEN"))
    }
    for pair in pairs:
        bot, sep, value = pair.partition("=")
        if not sep or bot not in BOTS or not value:
            raise SystemExit(f"--token expects BOT=TOKEN with BOT in {', '.join(BOTS)}: {pair!r}")
        tokens[bot] = value
    return tokens


async def _serve(args: argparse.Namespace) -> None:
    server = DiscordServer(
        host=args.host,
        port=args.port,
        tokens=_tokens(args.token),
        humans=tuple(args.human) or ("alice", "bob"),
    )
    await server.start()
    print(f"Discord sandbox: {server.base_url}/  (web page)")
    print(f"DISCORD_API_BASE_URL={server.api_base}")
    print(f"DISCORD_GATEWAY_URL={server.gateway_url}")
    print(f"DISCORD_GUILD_ID={server.guild_id}")
    for name, cid in server.channel_ids.items():
        print(f"{name.upper()}_CHANNEL_ID={cid}")
    print("Ctrl+C to stop.", flush=True)  # flush: a parent process may be reading a pipe
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m agentfleet_sandbox.discord_server``."""
    args = _parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
