"""The store checks: Redis answers; PostgreSQL answers, has pgvector and the current schema.

The probes return plain facts and the checks judge them, as for Discord. Locations are
printed as host and database only: the URLs carry passwords.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from agentfleet_runtime.doctor.report import Check, failed, passed, skipped
from agentfleet_runtime.memory.long_term import SCHEMA_VERSION

SECTION: Final = "Stores"
#: Seconds to wait for a store before calling it unreachable.
CONNECT_TIMEOUT: Final = 5.0
_MIGRATE: Final = (
    "Run `agentfleet migrate` with this POSTGRESQL_URL (in Kubernetes, reception's init "
    "container runs it: kubectl -n <namespace> rollout restart deploy/<fleet>-reception)."
)


def where(url: str) -> str:
    """``host:port/database`` of a store URL, without user or password."""
    parts = urlsplit(url)
    host = parts.hostname or parse_qs(parts.query).get("host", ["local socket"])[0]
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path or ''}"


@dataclass(frozen=True, slots=True)
class RedisFacts:
    """Redis's answer to PING (and its version), or why there was none."""

    version: str | None = None
    error: str = ""
    auth_failed: bool = False


async def probe_redis(url: str) -> RedisFacts:
    """PING and INFO server, each bounded by :data:`CONNECT_TIMEOUT`."""
    client = aioredis.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT
    )
    try:
        await client.ping()
        info = await client.info("server")
        return RedisFacts(version=str(info.get("redis_version", "?")))
    except redis_errors.AuthenticationError as exc:
        return RedisFacts(error=type(exc).__name__, auth_failed=True)
    except (redis_errors.RedisError, OSError) as exc:
        return RedisFacts(error=f"{type(exc).__name__}: {exc}")
    finally:
        await client.aclose()


def redis_check(url: str, facts: RedisFacts) -> Check:
    """Redis carries every message between the fleet's roles: it must answer."""
    title = f"Redis {where(url)}"
    if facts.version is not None:
        return passed(SECTION, title, f"PING answered (Redis {facts.version})")
    if facts.auth_failed:
        return failed(
            SECTION,
            title,
            "Redis refused the password",
            "Put the right password in REDIS_URL (redis://:PASSWORD@host:6379).",
        )
    return failed(
        SECTION,
        title,
        f"no answer ({facts.error})",
        "Start Redis (single host: `redis-server`, or `systemctl start redis-server`) or fix "
        "REDIS_URL; in Kubernetes check the <fleet>-redis StatefulSet or spec.redis.external.",
    )


@dataclass(frozen=True, slots=True)
class PostgresFacts:
    """What one connection learnt: pgvector's state and the recorded schema version."""

    error: str = ""
    """Why it could not connect; empty when it did."""
    vector_version: str | None = None
    """pgvector's installed version in this database."""
    vector_available: bool = False
    """Whether the server could install pgvector (``CREATE EXTENSION vector``)."""
    schema_version: int | None = None
    """The highest applied migration; None when ``schema_version`` does not exist."""


async def probe_postgres(url: str) -> PostgresFacts:
    """Connect once and read pgvector's state and the schema version."""
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
        # asyncpg's messages name the user and database, never the password.
        return PostgresFacts(error=f"{type(exc).__name__}: {exc}")
    try:
        installed = await conn.fetchval(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        )
        available = await conn.fetchval(
            "SELECT count(*) > 0 FROM pg_available_extensions WHERE name = 'vector'"
        )
        version = None
        if await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"):
            version = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
        return PostgresFacts("", installed, bool(available), version)
    finally:
        await asyncio.shield(conn.close())


def postgres_checks(url: str | None, facts: PostgresFacts | None) -> list[Check]:
    """Reachable, pgvector installed, schema at this code's version (three lines)."""
    if url is None or facts is None:
        detail = "POSTGRESQL_URL is not set: long-term memory (長期記憶) is off"
        return [skipped(SECTION, "PostgreSQL", detail)]
    title = f"PostgreSQL {where(url)}"
    if facts.error:
        return [
            failed(
                SECTION,
                title,
                f"cannot connect ({facts.error})",
                "Start PostgreSQL or fix POSTGRESQL_URL (user, password, host, database); in "
                "Kubernetes check the <fleet>-postgresql StatefulSet or spec.postgresql.external.",
            )
        ]
    return [passed(SECTION, title, "connected"), _vector_check(facts), _schema_check(facts)]


def _vector_check(facts: PostgresFacts) -> Check:
    title = "pgvector extension"
    if facts.vector_version is not None:
        return passed(SECTION, title, f"installed (version {facts.vector_version})")
    if facts.vector_available:
        return failed(SECTION, title, "available but not installed in this database", _MIGRATE)
    return failed(
        SECTION,
        title,
        "not available on this server",
        "Install pgvector on the PostgreSQL server (e.g. the pgvector/pgvector:pg17 image, or "
        "the postgresql-<version>-pgvector package), then run `agentfleet migrate`.",
    )


def _schema_check(facts: PostgresFacts) -> Check:
    title = "schema version"
    current = facts.schema_version
    if current == SCHEMA_VERSION:
        return passed(SECTION, title, f"{current} (current)")
    if current is None or current < SCHEMA_VERSION:
        found = "no schema yet" if not current else f"version {current}"
        return failed(SECTION, title, f"{found}; this release needs {SCHEMA_VERSION}", _MIGRATE)
    return failed(
        SECTION,
        title,
        f"version {current} is newer than this release's {SCHEMA_VERSION}",
        "A newer release migrated this database: run that release's image, not this one.",
    )
