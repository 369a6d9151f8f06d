"""Long-term memory: the ``unified_memories`` table in PostgreSQL + pgvector, via asyncpg.

The 06:00 pipeline writes one day of extracted memories here; personas read the most
relevant ones back (:meth:`LongTermStore.search`) when they answer. People check the
table with ``SELECT COUNT(*) FROM unified_memories WHERE DATE(timestamp) = CURRENT_DATE``,
so its name and columns are kept as that query expects, and ``timestamp`` is when a memory
was *formed* (the pipeline run that stored it): right after the 06:00 run, the query
counts what that run stored. The conversation date a memory belongs to is ``day``, and the
time of its newest source message is ``source_at``.

Design choices, and why:

* **halfvec, not vector.** Embeddings are stored as ``halfvec(N)`` (N =
  ``GEMINI_EMBEDDING_DIMENSIONS``, 768 by default): half the memory and index size of
  ``vector`` for a loss in cosine similarity far below what ranking notices, and HNSW can
  index halfvec up to 4000 dimensions (``vector``: 2000).
* **HNSW (cosine)** on the embedding: memory grows every day, and HNSW needs no training
  or rebuild as rows arrive (IVFFlat does). Per-channel searches use pgvector 0.8's
  iterative index scan (``hnsw.iterative_scan = relaxed_order``, set per connection) so a
  filter cannot starve the result, then re-sort exactly.
* **Idempotent upsert.** ``UNIQUE (fleet, day, content_hash)`` with ``ON CONFLICT DO
  NOTHING``: a re-run of the same date cannot store the same memory twice. The hash is of
  the memory's normalised text (:func:`agentfleet_runtime.dedup.normalize`), so punctuation, width
  and spacing variants collide as well.
* **One transaction per day.** The memories, the day's progress and the run's completion
  record are committed together (:meth:`LongTermStore.commit_day`): a run that fails
  half-way leaves nothing behind, and a completed date is recognisable without any LLM call.
* **Versioned, locked migrations.** ``schema_version`` records what was applied; a
  transaction-scoped advisory lock serialises concurrent ``migrate`` runs (two pods, a
  Helm hook and a CronJob), and ``CREATE EXTENSION IF NOT EXISTS vector`` runs under it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from agentfleet_runtime.dedup import normalize

if TYPE_CHECKING:
    import asyncpg

# asyncpg and pgvector are imported where a database is first used: every process imports
# this module, and a persona or a single host without PostgreSQL would carry 3 MB for them.

log = logging.getLogger(__name__)

MemoryType = Literal["conversation", "task", "progress", "learning", "decision"]
#: The memory types the table accepts (its CHECK constraint).
MEMORY_TYPES: Final[tuple[MemoryType, ...]] = (
    "conversation",
    "task",
    "progress",
    "learning",
    "decision",
)

#: The schema version this code writes and reads.
SCHEMA_VERSION: Final = 1

#: Columns the code relies on; checked after migrating so that a leftover table of another
#: shape (another version of the bot's) fails loudly instead of on the first insert.
REQUIRED_COLUMNS: Final = frozenset(
    {
        "id",
        "fleet",
        "day",
        "timestamp",
        "source_at",
        "channel",
        "content",
        "memory_type",
        "importance",
        "entities",
        "source_message_ids",
        "embedding",
        "content_hash",
    }
)

_MIGRATE_LOCK: Final = "agentfleet:migrate"


class SchemaMismatch(RuntimeError):
    """The database holds a schema this code cannot use as is (no automatic fix exists)."""


def _migration_v1(dimensions: int) -> list[str]:
    types = ", ".join(f"'{t}'" for t in MEMORY_TYPES)
    return [
        f"""
        CREATE TABLE IF NOT EXISTS unified_memories (
            id bigserial PRIMARY KEY,
            fleet text NOT NULL,
            day date NOT NULL,
            "timestamp" timestamptz NOT NULL DEFAULT now(),
            source_at timestamptz,
            channel text NOT NULL,
            content text NOT NULL,
            memory_type text NOT NULL CHECK (memory_type IN ({types})),
            importance real NOT NULL CHECK (importance >= 0 AND importance <= 1),
            entities text[] NOT NULL DEFAULT '{{}}',
            source_message_ids bigint[] NOT NULL DEFAULT '{{}}',
            embedding halfvec({dimensions}) NOT NULL,
            content_hash text NOT NULL,
            CONSTRAINT unified_memories_once UNIQUE (fleet, day, content_hash)
        )
        """,
        """
        CREATE INDEX IF NOT EXISTS unified_memories_embedding_hnsw
            ON unified_memories USING hnsw (embedding halfvec_cosine_ops)
        """,
        """
        CREATE INDEX IF NOT EXISTS unified_memories_channel_time
            ON unified_memories (fleet, channel, "timestamp")
        """,
        """
        CREATE TABLE IF NOT EXISTS daily_progress (
            fleet text NOT NULL,
            day date NOT NULL,
            summary jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (fleet, day)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS pipeline_runs (
            fleet text NOT NULL,
            day date NOT NULL,
            completed_at timestamptz NOT NULL DEFAULT now(),
            report_queued_at timestamptz,
            stats jsonb NOT NULL DEFAULT '{}',
            PRIMARY KEY (fleet, day)
        )
        """,
    ]


#: version → (description, statements for a given embedding dimension).
MIGRATIONS: Final = {1: ("unified_memories, daily_progress, pipeline_runs", _migration_v1)}


async def migrate(dsn: str, dimensions: int, *, timezone: str | None = None) -> list[int]:
    """Create or upgrade the schema; return the versions applied now (``[]``: up to date).

    Safe to run any number of times and concurrently. ``timezone`` (the fleet's, e.g.
    ``Asia/Tokyo``) becomes the database's default session time zone when given, so that
    ``DATE(timestamp) = CURRENT_DATE`` counts by the fleet's local date in
    ``psql``; it is skipped with a warning when the role may not alter the database.

    Raises :class:`SchemaMismatch` when the stored embedding dimension differs from
    ``dimensions`` (re-embedding is needed: nothing is changed) or when an existing
    ``unified_memories`` table lacks columns this code needs.
    """
    if not 1 <= dimensions <= 4000:
        raise ValueError(f"halfvec supports 1..4000 dimensions, got {dimensions}")
    import asyncpg

    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    try:
        applied: list[int] = []
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _MIGRATE_LOCK
            )
            await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            await conn.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_version (
                    version integer PRIMARY KEY,
                    description text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """
            )
            current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
            if await conn.fetchval("SELECT to_regclass('unified_memories') IS NOT NULL"):
                # Before any DDL: an index on a missing column would fail less clearly.
                await _check_shape(conn, dimensions)
            for version in sorted(MIGRATIONS):
                if version <= current:
                    continue
                description, statements = MIGRATIONS[version]
                for statement in statements(dimensions):
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_version (version, description) VALUES ($1, $2)",
                    version,
                    description,
                )
                applied.append(version)
            await _check_shape(conn, dimensions)
        if timezone is not None:
            await _set_database_timezone(conn, timezone)
    finally:
        await conn.close()
    return applied


async def _check_shape(conn: asyncpg.Connection, dimensions: int) -> None:
    rows = await conn.fetch(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
        FROM pg_attribute a
        WHERE a.attrelid = 'unified_memories'::regclass AND a.attnum > 0 AND NOT a.attisdropped
        """
    )
    columns = {row["attname"]: row["type"] for row in rows}
    missing = sorted(REQUIRED_COLUMNS - set(columns))
    if missing:
        raise SchemaMismatch(
            f"unified_memories exists without the columns {missing}: it was created by "
            "another version of the bot. Rename it (ALTER TABLE unified_memories RENAME TO "
            "unified_memories_old) and run `agentfleet migrate` again."
        )
    expected = f"halfvec({dimensions})"
    if columns["embedding"] != expected:
        raise SchemaMismatch(
            f"unified_memories.embedding is {columns['embedding']}, but "
            f"GEMINI_EMBEDDING_DIMENSIONS={dimensions} needs {expected}: the stored vectors "
            "cannot be compared with new ones. Keep the old dimension, or re-embed."
        )


async def _set_database_timezone(conn: asyncpg.Connection, timezone: str) -> None:
    name = await conn.fetchval("SELECT current_database()")
    # Validate through the server first: the zone is interpolated as a literal below
    # (ALTER DATABASE takes no parameters).
    valid = await conn.fetchval("SELECT count(*) FROM pg_timezone_names WHERE name = $1", timezone)
    if not valid:
        raise ValueError(f"PostgreSQL does not know the time zone {timezone!r}")
    quoted_db = '"' + str(name).replace('"', '""') + '"'
    quoted_tz = "'" + timezone.replace("'", "''") + "'"
    import asyncpg

    try:
        await conn.execute(f"ALTER DATABASE {quoted_db} SET timezone TO {quoted_tz}")
    except asyncpg.InsufficientPrivilegeError:
        log.warning(
            "WARN could not set the database time zone to %s (not the owner): the guide's "
            "DATE(timestamp) query will count by the server's time zone",
            timezone,
        )


def content_hash(content: str) -> str:
    """The idempotency key of a memory's text: sha256 of its normal form."""
    form = normalize(content) or content.strip()
    return hashlib.sha256(form.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewMemory:
    """A memory to store, with its embedding (one row of ``unified_memories``)."""

    channel: str
    content: str
    memory_type: MemoryType
    importance: float
    embedding: Sequence[float]
    entities: tuple[str, ...] = ()
    source_message_ids: tuple[int, ...] = ()
    source_at: datetime | None = None

    @property
    def content_hash(self) -> str:
        """See :func:`content_hash`."""
        return content_hash(self.content)


@dataclass(frozen=True, slots=True)
class StoredMemory:
    """A memory read back from the table; ``similarity`` is set by :meth:`search` only."""

    id: int
    day: date
    timestamp: datetime
    channel: str
    content: str
    memory_type: str
    importance: float
    entities: tuple[str, ...] = ()
    source_message_ids: tuple[int, ...] = ()
    source_at: datetime | None = None
    similarity: float | None = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """The completion record of one pipeline date."""

    completed_at: datetime
    report_queued_at: datetime | None
    stats: dict[str, Any] = field(default_factory=dict)


_MEMORY_COLUMNS: Final = (
    'id, day, "timestamp", channel, content, memory_type, importance, entities, '
    "source_message_ids, source_at"
)


_COUNT_DAY: Final = "SELECT count(*) FROM unified_memories WHERE fleet = $1 AND day = $2"

_INSERT_MEMORY: Final = """
    INSERT INTO unified_memories (fleet, day, "timestamp", source_at, channel,
        content, memory_type, importance, entities, source_message_ids,
        embedding, content_hash)
    VALUES ($1, $2, coalesce($3, now()), $4, $5, $6, $7, $8, $9, $10, $11, $12)
    ON CONFLICT (fleet, day, content_hash) DO NOTHING
"""

_UPSERT_PROGRESS: Final = """
    INSERT INTO daily_progress (fleet, day, summary) VALUES ($1, $2, $3)
    ON CONFLICT (fleet, day) DO UPDATE
        SET summary = EXCLUDED.summary, created_at = now()
"""

_RECORD_RUN: Final = """
    INSERT INTO pipeline_runs (fleet, day, stats) VALUES ($1, $2, $3)
    ON CONFLICT (fleet, day) DO UPDATE
        SET completed_at = now(), stats = EXCLUDED.stats
"""


def _memory_row(
    fleet: str, day: date, formed_at: datetime | None, memory: NewMemory
) -> tuple[Any, ...]:
    """The parameters of :data:`_INSERT_MEMORY` for one memory."""
    return (
        fleet,
        day,
        formed_at,
        memory.source_at,
        memory.channel,
        memory.content,
        memory.memory_type,
        memory.importance,
        list(memory.entities),
        list(memory.source_message_ids),
        list(memory.embedding),
        memory.content_hash,
    )


def _memory(row: asyncpg.Record, similarity: float | None = None) -> StoredMemory:
    return StoredMemory(
        id=row["id"],
        day=row["day"],
        timestamp=row["timestamp"],
        channel=row["channel"],
        content=row["content"],
        memory_type=row["memory_type"],
        importance=float(row["importance"]),
        entities=tuple(row["entities"]),
        source_message_ids=tuple(row["source_message_ids"]),
        source_at=row["source_at"],
        similarity=similarity,
    )


async def _init_connection(conn: asyncpg.Connection) -> None:
    from pgvector.asyncpg import register_vector

    await register_vector(conn)
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=lambda v: json.dumps(v, ensure_ascii=False),
        decoder=json.loads,
    )


class LongTermStore:
    """Reads and writes long-term memory through an asyncpg pool with pgvector codecs.

    Build with :meth:`connect` (after :func:`migrate`: the codecs need the ``vector``
    extension) and :meth:`close` it on shutdown. Every method takes the fleet name, so
    several fleets can share one database.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int = 1, max_size: int = 4) -> LongTermStore:
        """Open a pool; each connection gets the vector/halfvec and jsonb codecs."""
        import asyncpg

        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            # A session default (not SET in init): the pool's RESET ALL on release keeps it.
            server_settings={"hnsw.iterative_scan": "relaxed_order"},
        )
        return cls(pool)

    async def close(self) -> None:
        """Close every connection of the pool."""
        await self.pool.close()

    async def ping(self) -> None:
        """One round trip through the pool: what /ready asks, on the connections recall uses."""
        await self.pool.fetchval("SELECT 1")

    # -- reading -------------------------------------------------------------------------

    async def search(
        self,
        fleet: str,
        query_embedding: Sequence[float],
        channel: str | None = None,
        limit: int = 5,
        *,
        exact: bool = False,
    ) -> list[StoredMemory]:
        """The ``limit`` memories closest to ``query_embedding`` (cosine), best first.

        What a persona consults before answering: embed the question with task type
        ``RETRIEVAL_QUERY`` and pass the vector. ``channel`` restricts to one channel's
        memories. ``exact=True`` bypasses the HNSW index (a sequential scan and exact
        sort): the reference the benchmark compares the index against.
        """
        if limit < 1:
            return []
        where = "fleet = $2" + (" AND channel = $4" if channel is not None else "")
        sql = f"""
            WITH nearest AS MATERIALIZED (
                SELECT {_MEMORY_COLUMNS}, embedding <=> $1 AS distance
                FROM unified_memories
                WHERE {where}
                ORDER BY distance
                LIMIT $3
            )
            SELECT * FROM nearest ORDER BY distance
        """
        args: list[Any] = [list(query_embedding), fleet, limit]
        if channel is not None:
            args.append(channel)
        async with self.pool.acquire() as conn:
            if exact:
                async with conn.transaction():
                    await conn.execute("SET LOCAL enable_indexscan = off")
                    rows = await conn.fetch(sql, *args)
            else:
                rows = await conn.fetch(sql, *args)
        return [_memory(row, 1.0 - float(row["distance"])) for row in rows]

    async def has_memories(self, fleet: str, channel: str) -> bool:
        """Whether any memory of ``channel`` is stored: recall need not search one without.

        An index lookup (``unified_memories_channel_time``), far cheaper than an embedding.
        """
        return bool(
            await self.pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM unified_memories WHERE fleet = $1 AND channel = $2)",
                fleet,
                channel,
            )
        )

    async def day_memories(self, fleet: str, day: date) -> list[StoredMemory]:
        """The memories of one conversation date, most important first."""
        rows = await self.pool.fetch(
            f"SELECT {_MEMORY_COLUMNS} FROM unified_memories WHERE fleet = $1 AND day = $2 "
            "ORDER BY importance DESC, id",
            fleet,
            day,
        )
        return [_memory(row) for row in rows]

    async def progress_before(self, fleet: str, day: date) -> tuple[date, Any] | None:
        """The latest stored progress summary of a date before ``day`` (with its date)."""
        row = await self.pool.fetchrow(
            "SELECT day, summary FROM daily_progress WHERE fleet = $1 AND day < $2 "
            "ORDER BY day DESC LIMIT 1",
            fleet,
            day,
        )
        return (row["day"], row["summary"]) if row is not None else None

    async def progress(self, fleet: str, day: date) -> Any | None:
        """The progress summary stored for ``day``, if any."""
        return await self.pool.fetchval(
            "SELECT summary FROM daily_progress WHERE fleet = $1 AND day = $2", fleet, day
        )

    async def run_record(self, fleet: str, day: date) -> RunRecord | None:
        """The completion record of ``day``'s pipeline, or None when it has not completed."""
        row = await self.pool.fetchrow(
            "SELECT completed_at, report_queued_at, stats FROM pipeline_runs "
            "WHERE fleet = $1 AND day = $2",
            fleet,
            day,
        )
        if row is None:
            return None
        return RunRecord(row["completed_at"], row["report_queued_at"], dict(row["stats"]))

    # -- writing -------------------------------------------------------------------------

    @asynccontextmanager
    async def day_lock(self, fleet: str, day: date) -> AsyncIterator[bool]:
        """Hold the session advisory lock of one pipeline date; yields whether it was got.

        Two runs of the same date (the CronJob controller may start two) cannot overlap:
        the second sees ``False`` and stops. The lock is a session lock on a connection
        kept for the whole block, so a crashed run releases it when its connection dies.
        """
        key = f"agentfleet:pipeline:{fleet}:{day.isoformat()}"
        async with self.pool.acquire() as conn:
            got = bool(
                await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key)
            )
            try:
                yield got
            finally:
                if got:
                    await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)

    async def commit_day(
        self,
        fleet: str,
        day: date,
        memories: Sequence[NewMemory],
        progress: Any | None,
        stats: dict[str, Any],
        *,
        formed_at: datetime | None = None,
    ) -> int:
        """Store a date's memories, progress and completion in one transaction.

        Returns how many memory rows were new (memories already stored for the date, by
        content hash, are skipped). ``formed_at`` is the memories' ``timestamp`` (default:
        the transaction's ``now()``). ``progress`` None keeps any stored progress.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            before = await conn.fetchval(_COUNT_DAY, fleet, day)
            if memories:
                rows = [_memory_row(fleet, day, formed_at, m) for m in memories]
                await conn.executemany(_INSERT_MEMORY, rows)
            after = await conn.fetchval(_COUNT_DAY, fleet, day)
            if progress is not None:
                await conn.execute(_UPSERT_PROGRESS, fleet, day, progress)
            inserted = int(after) - int(before)
            await conn.execute(_RECORD_RUN, fleet, day, {**stats, "memories_inserted": inserted})
        return inserted

    async def mark_report_queued(self, fleet: str, day: date) -> None:
        """Record that ``day``'s report was handed to SPECTRA's queue."""
        await self.pool.execute(
            "UPDATE pipeline_runs SET report_queued_at = now() WHERE fleet = $1 AND day = $2",
            fleet,
            day,
        )
