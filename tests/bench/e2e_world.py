"""The end-to-end benchmark's world: the Discord and Gemini servers and the people.

Run by ``tests.bench.bench_e2e`` as a process of its own, so the servers' work (which in
production happens on Discord's and Google's machines) does not share an event loop with
the bot being measured. The people are simulated here too, because both ends of every
measurement are timed at this server's fan-out of MESSAGE_CREATE: the moment every gateway
session is sent the message, which is what a person in the channel would see.

Protocol, one JSON object per line: on start it prints what a bot needs to connect
(``{"api_base": ..., "tokens": ..., ...}``); then each line read on stdin is a command and
each answer one line on stdout:

* ``{"warm_up": true}``: a few messages, each waiting for its reply (fails if none comes);
* ``{"users": U, "per_user": M, "seed": S, "think": T, "grace": G}``: the closed loop of
  one load level (T seconds' pause between a reply and the next message; G seconds for
  late replies afterwards); answers with every reply's whole time, its overhead (the
  whole minus the time the Gemini server held the reply's requests) and the part of the
  overhead before the first of them arrived, in ms, lost and duplicated replies, the
  Gemini requests the level made by kind, and this process's CPU time;
* end of input: stop.

The Gemini server plays the model's timing given on the command line
(:class:`agentfleet_sandbox.gemini_server.ModelTiming`). The time it held a request, from
its arrival to its answer, is Google's in production: the model's time and the server's own
handling of the request (which here runs on the bot's machine, slower for a longer prompt).
What remains of a reply's whole time is the bot's: its overhead. For a reply no request
was answered for (a bot that sleeps instead of asking), the model's time for the reply's
text stands in for it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import re
import sys
import time
from collections import defaultdict
from dataclasses import asdict
from typing import Any

import uvloop

from agentfleet_sandbox.discord_server import DiscordServer
from agentfleet_sandbox.discord_server.world import Message
from agentfleet_sandbox.gemini_server import GeminiServer, ModelTiming, estimate_tokens

CHANNEL = "development"
HUMANS = tuple(f"user{i:02d}" for i in range(50))
TOPICS = (
    "この API のエラーハンドリング、どう整理するのがいいと思う？",
    "テストが遅いんだけど、どこから手を付ける？",
    "キャッシュの無効化、TTL とイベントどっちが筋がいい？",
    "このリファクタ、今やるべきか後回しにするか迷ってる。",
    "ログの粒度ってどのくらいが適切？",
)
#: Every person's message ends with a tag naming its author and number, unique in a level.
TAG = re.compile(r"\((user\d\d #\d+)\)")


class FanoutClock:
    """Timestamps every message at the server's MESSAGE_CREATE fan-out.

    Human posts are keyed by their id, replies (their time and text) by the message they
    reply to; a reply resolves the waiter of its human message. The clock is
    ``time.monotonic``, the Gemini server's for the requests it records.
    """

    def __init__(self, server: DiscordServer) -> None:
        self.posted: dict[int, float] = {}
        self.replies: dict[int, list[tuple[float, str]]] = defaultdict(list)
        self._waiters: dict[int, asyncio.Future[float]] = {}
        original = server.fanout.message_created

        def fanout(message: Message) -> None:
            now = time.monotonic()
            original(message)
            if message.reference_id is None:
                if not message.author.bot:
                    self.posted[message.id] = now
                return
            self.replies[message.reference_id].append((now, message.content))
            waiter = self._waiters.pop(message.reference_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(now)

        # An instance attribute shadows the method, and every path that stores a message
        # calls ``server.fanout.message_created``.
        server.fanout.message_created = fanout  # type: ignore[method-assign]

    async def reply_to(self, message_id: int, timeout: float) -> bool:
        """Wait for the first reply to ``message_id``; False after ``timeout`` seconds."""
        if self.replies.get(message_id):
            return True
        waiter = self._waiters.setdefault(message_id, asyncio.get_running_loop().create_future())
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return False
        return True


class People:
    """The humans of the channel, posting and waiting for answers."""

    def __init__(
        self, server: DiscordServer, gemini: GeminiServer, timing: ModelTiming, timeout: float
    ) -> None:
        self.server = server
        self.gemini = gemini
        self.clock = FanoutClock(server)
        self.timing = timing
        self.timeout = timeout

    async def warm_up(self) -> dict[str, Any]:
        """A message to each persona first (a bare bot answers them all).

        Connection pools and caches of every process are then warm before anything is
        measured.
        """
        for n, persona in enumerate(("SPECTRA", "LYNQ", "PAZ")):
            message = await self.server.post_as_human(
                CHANNEL, f"@{persona} おはよう、準備はいい？ (warm-up {n})", author=HUMANS[0]
            )
            if not await self.clock.reply_to(message.id, self.timeout):
                return {"error": "no reply to a warm-up message: the bot is not answering"}
        return {"ok": True}

    async def load(
        self, users: int, per_user: int, seed: int, think: float, grace: float
    ) -> dict[str, Any]:
        """Closed loop: ``users`` people each post, wait for the reply, post again.

        Between a reply and their next message people pause for ``think`` seconds on
        average (uniformly 0.5x to 1.5x): the time to read the answer and type. With
        ``think`` 0 they post the moment the reply lands, a stress test of throughput.
        """
        rng = random.Random(seed)
        # People start spread over one pause (at least the time to a first token), not in
        # lockstep; the same schedule for every bot.
        offsets = [rng.uniform(0, max(self.timing.first_token_s, think)) for _ in range(users)]
        pauses = [[rng.uniform(0.5, 1.5) * think for _ in range(per_user)] for _ in range(users)]
        sent: list[int] = []
        tagged: dict[str, int] = {}

        async def person(index: int) -> None:
            await asyncio.sleep(offsets[index])
            name = HUMANS[index]
            for n in range(per_user):
                if n:
                    await asyncio.sleep(pauses[index][n])
                tag = f"{name} #{n}"
                text = f"{TOPICS[(index + n) % len(TOPICS)]} ({tag})"
                message = await self.server.post_as_human(CHANNEL, text, author=name)
                sent.append(message.id)
                tagged[tag] = message.id
                await self.clock.reply_to(message.id, self.timeout)

        requests = self.gemini.counts
        started, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(person(i) for i in range(users)))
        seconds = time.monotonic() - started
        cpu_seconds = time.process_time() - cpu
        # Late and duplicate replies get a grace period before they are counted.
        await asyncio.sleep(grace)
        asked = self.asked(started, tagged)
        wholes: list[float] = []
        overheads: list[float] = []
        before_request: list[float] = []
        lost = duplicates = 0
        for message_id in sent:
            replies = self.clock.replies.get(message_id, [])
            if not replies:
                lost += 1
                continue
            duplicates += len(replies) - 1
            at, text = min(replies)
            posted = self.clock.posted[message_id]
            wholes.append((at - posted) * 1000)
            if message_id in asked:
                arrived, answered = asked[message_id]
                overheads.append((arrived - posted + at - answered) * 1000)
                before_request.append((arrived - posted) * 1000)
            else:
                # No request answered for it (a bot that sleeps instead, an apology): the
                # model's time for its text is what the server would have held it.
                model_s = self.timing.generation_s(estimate_tokens(text))
                overheads.append((at - posted - model_s) * 1000)
                before_request.append(math.nan)
        after = self.gemini.counts
        return {
            "whole_ms": wholes,
            "overheads_ms": overheads,
            "before_request_ms": before_request,
            "lost": lost,
            "duplicates": duplicates,
            "seconds": seconds,
            "world_cpu_seconds": cpu_seconds,
            "requests": {kind: after[kind] - requests[kind] for kind in ("generate", "embed")},
        }

    def asked(self, since: float, tagged: dict[str, int]) -> dict[int, tuple[float, float]]:
        """For each person's message: when the first generation request for it reached the
        server, and when the server answered the last one.

        A prompt may quote earlier messages too (a fleet's history): the message a request
        answers is the last one it quotes.
        """
        held: dict[int, tuple[float, float]] = {}
        # Newest first, so the earliest request for a message is the one kept.
        for request in reversed(self.gemini.requests):
            if request.at < since:
                break
            if request.endpoint != "generate" or request.answered_at is None:
                continue
            texts = [
                part.get("text", "")
                for content in request.body.get("contents", [])
                for part in content.get("parts", [])
            ]
            tags = TAG.findall("\n".join(texts))
            message_id = tagged.get(tags[-1]) if tags else None
            if message_id is not None:
                last = held.get(message_id, (0.0, request.answered_at))[1]
                held[message_id] = (request.at, last)
        return held


def connection_details(discord: DiscordServer, gemini: GeminiServer) -> dict[str, Any]:
    """What a bot needs to connect to this world."""
    return {
        "api_base": discord.api_base,
        "gateway_url": discord.gateway_url,
        "guild_id": discord.guild_id,
        "channel_ids": discord.channel_ids,
        "tokens": {bot: discord.token(bot) for bot in ("reception", "spectra", "lynq", "paz")},
        "user_ids": {bot: discord.user_id(bot) for bot in ("reception", "spectra", "lynq", "paz")},
        "gemini_base_url": gemini.base_url,
        "timing": asdict(gemini.timing),
    }


def answer(payload: dict[str, Any]) -> None:
    """One line of output: the reply to one command."""
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def serve(timing: ModelTiming, timeout: float) -> None:
    """Start the servers, print how to reach them, obey commands until stdin closes."""
    discord = DiscordServer(humans=HUMANS)
    gemini = GeminiServer(timing=timing)
    people = People(discord, gemini, timing, timeout)
    await discord.start()
    await gemini.start()
    try:
        answer(connection_details(discord, gemini))
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command = json.loads(line)
            if command.get("warm_up"):
                answer(await people.warm_up())
            else:
                answer(
                    await people.load(
                        command["users"],
                        command["per_user"],
                        command["seed"],
                        command["think"],
                        command["grace"],
                    )
                )
    finally:
        await gemini.stop()
        await discord.stop()


def main() -> None:
    """Entry point: ``python -m tests.bench.e2e_world --timing '{"first_token_s": 0.4}'``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timing", type=json.loads, required=True, help="ModelTiming as JSON")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    uvloop.run(serve(ModelTiming(**args.timing), args.timeout))


if __name__ == "__main__":
    main()
