"""Where a reply's time goes, stage by stage, in the fleet running in this process.

``bench_e2e --trace`` wraps a few methods of the fleet's own classes while an in-process
fleet runs: each wrapper notes when its call began and ended, keyed by the id of the
person's message the call works for (nested calls inherit it through a context
variable). Nothing else changes: the same code runs, a few clock reads slower. The
stages, in the order a reply passes them:

* Reception hands the person's message to the inbox;
* the router picks it up, records it and queues the persona's job;
* the persona's worker picks the job up and takes what the prompt needs (a reply's job
  carries it) while recall runs;
* the prompt and the request are built; the rate limiter admits the request;
* the Gemini request, the SDK's own work included (the model's time is in here);
* the reply is posted; after the post, it is recorded and the job is marked done and
  acknowledged (off the reply's path: the person already sees the reply).

Only replies whose every stage was seen count. Our own personas' posts, which Reception
sees too and hands on to nobody, are not traced.

The floor (``run_floor`` in tests/bench/bench_e2e.py) marks the points it has in its own
code, and :data:`FLOOR_ROWS` keeps the fleet's rows between them. The two rows that span
from the router's start to the Gemini request compare the hops whichever of two ready
tasks the event loop happens to run first.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any

from agentfleet_runtime.app.persona_worker import PersonaWorker
from agentfleet_runtime.bus.codec import FIELD, decode_job, decode_message
from agentfleet_runtime.bus.routing import Router
from agentfleet_runtime.discord.poster import PersonaPoster
from agentfleet_runtime.discord.reception import ReceptionBot
from agentfleet_runtime.llm.gemini import GeminiClient
from tests.bench.bench_e2e import percentile

Marks = dict[int, dict[str, float]]
"""Person's message id → ``"<stage>+"`` / ``"<stage>-"`` → when the call began / ended."""

_CURRENT: contextvars.ContextVar[int | None] = contextvars.ContextVar("traced", default=None)


def _reception_key(_self: Any, message: Any) -> int | None:
    return None if message.author.bot else int(message.id)


def _router_key(_self: Any, _entry_id: str, fields: dict[str, str]) -> int | None:
    message = decode_message(fields[FIELD])
    return None if message.author_is_bot else message.message_id


def _worker_key(_self: Any, _entry_id: str, fields: dict[str, str]) -> int | None:
    job = decode_job(fields[FIELD])
    return job.message.message_id if job.message is not None else None


def _inherited(*_args: Any) -> int | None:
    return None


#: (stage, class, method, the id of the person's message a call works for).
PROBES: tuple[tuple[str, type, str, Callable[..., int | None]], ...] = (
    ("reception", ReceptionBot, "on_message", _reception_key),
    ("router", Router, "handle", _router_key),
    ("worker", PersonaWorker, "handle", _worker_key),
    ("reads", PersonaWorker, "_read", _inherited),
    ("gemini", GeminiClient, "_attempt", _inherited),
    ("request", GeminiClient, "_send", _inherited),
    ("post", PersonaPoster, "post", _inherited),
)

#: Each row: what happens between two marks.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("Reception: message → inbox", "reception+", "reception-"),
    ("inbox → router", "reception-", "router+"),
    ("router: record, route, queue", "router+", "router-"),
    ("queue → worker", "router-", "worker+"),
    ("worker: context from the job, recall", "worker+", "reads-"),
    ("prompt and request built", "reads-", "gemini+"),
    ("rate limiter", "gemini+", "request+"),
    ("(router starts → worker starts the job)", "router+", "worker+"),
    ("(worker: job → Gemini request)", "worker+", "request+"),
    ("Gemini request (model's time included)", "request+", "request-"),
    ("answer → post", "request-", "post+"),
    ("post to Discord", "post+", "post-"),
    ("after the post: recorded (the fleet), done, acknowledged", "post-", "worker-"),
)


#: The points the floor's own code marks (``run_floor`` in tests/bench/bench_e2e.py).
FLOOR_MARKS: frozenset[str] = frozenset(
    [
        "reception+",
        "reception-",
        "router+",
        "router-",
        "worker+",
        "request+",
        "request-",
        "post+",
        "post-",
        "worker-",
    ]
)

#: The floor's stages: the fleet's rows whose two points the floor marks too.
FLOOR_ROWS: tuple[tuple[str, str, str], ...] = tuple(
    row for row in ROWS if {row[1], row[2]} <= FLOOR_MARKS
)


def _probe(marks: Marks, stage: str, method: Any, key: Callable[..., int | None]) -> Any:
    @functools.wraps(method)
    async def traced(*args: Any, **kwargs: Any) -> Any:
        own = key(*args, **kwargs)
        token = _CURRENT.set(own) if own is not None else None
        message = own if own is not None else _CURRENT.get()
        if message is not None:
            marks.setdefault(message, {}).setdefault(f"{stage}+", time.perf_counter())
        try:
            return await method(*args, **kwargs)
        finally:
            if message is not None:
                marks[message].setdefault(f"{stage}-", time.perf_counter())
            if token is not None:
                _CURRENT.reset(token)

    return traced


@contextlib.contextmanager
def traced(marks: Marks) -> Iterator[None]:
    """Record every traced call into ``marks`` while the block runs."""
    originals = [(cls, name, getattr(cls, name)) for _stage, cls, name, _key in PROBES]
    for stage, cls, name, key in PROBES:
        setattr(cls, name, _probe(marks, stage, getattr(cls, name), key))
    try:
        yield
    finally:
        for cls, name, original in originals:
            setattr(cls, name, original)


def print_stages(name: str, marks: Marks, rows: tuple[tuple[str, str, str], ...] = ROWS) -> None:
    """Each stage's p50 and p90 over the replies seen whole, and its mean in the slowest, in ms."""
    wanted = {mark for _row, start, end in rows for mark in (start, end)}
    whole = [m for m in marks.values() if wanted <= m.keys()]
    # The slowest twentieth by the bot's own share of the reply (all but the request),
    # and what each stage took in them: where the overhead's p95 comes from.
    slowest = sorted(whole, key=_bots_share)[-max(1, len(whole) // 20) :]
    print(f"{name}: where {len(whole)} replies spent their time (ms)")
    print(f"  {'':<48}      p50           p90    slowest 5 %, mean")
    for row, start, end in rows:
        spans = [(m[end] - m[start]) * 1000 for m in whole]
        if spans:
            p50, p90 = percentile(spans, 0.5), percentile(spans, 0.9)
            tail = sum((m[end] - m[start]) * 1000 for m in slowest) / len(slowest)
            print(f"  {row:<48} p50 {p50:8.2f}  p90 {p90:8.2f}  {tail:14.2f}")


def _bots_share(marks: dict[str, float]) -> float:
    """Message to post, less the Gemini request."""
    return (marks["request+"] - marks["reception+"]) + (marks["post-"] - marks["request-"])
