"""The containers of a fleet start and work, proven by running them as their Pods would.

The operator renders a fleet on the real API server; each Deployment's containers (the
migrate init container first) and then a Job made from the pipeline CronJob are started
from their live Pod templates as local processes: the image's user, a read-only root
filesystem, ``/tmp`` as the only writable place, Secrets and ConfigMap resolved from the
cluster (see tests/cluster/container.py). Their Services are pointed at a local Redis
(with the generated password), PostgreSQL, and the local Discord- and Gemini-compatible
servers. A person's message then gets a persona's reply, and the pipeline Job posts the
Daily Report.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from agentfleet_sandbox.discord_server import DiscordServer
from agentfleet_sandbox.gemini_server import GeminiServer
from tests.cluster.container import (
    ServiceMap,
    Started,
    pod_spec,
    start_container,
)
from tests.cluster.fleets import fleet, secrets, wait_for_condition
from tests.cluster.kube import Cluster, Operator, wait_until
from tests.fixtures.postgres import EmbeddedPostgres, SocketGate
from tests.fixtures.redis import RedisServer, free_port

NAMESPACE = "agents-test"
NAME = "live"
BOTS = ("reception", "spectra", "lynq", "paz")


@pytest.fixture
def redis_store(tmp_path: Path) -> Iterator[RedisServer]:
    """The local Redis the fleet's Redis Service is pointed at."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def servers() -> AsyncIterator[tuple[DiscordServer, GeminiServer]]:
    """The local Discord- and Gemini-compatible servers, in this test's event loop."""
    discord, gemini = DiscordServer(), GeminiServer()
    await discord.start()
    await gemini.start()
    try:
        yield discord, gemini
    finally:
        await gemini.stop()
        await discord.stop()


def live_fleet(discord: DiscordServer, gemini: GeminiServer) -> dict[str, Any]:
    """The test example, pointed at the local servers by its own URL fields."""
    channels = {
        "commandCenter": str(discord.channel_id("command_center")),
        "development": str(discord.channel_id("development")),
        "creation": str(discord.channel_id("creation")),
        "lounge": str(discord.channel_id("lounge")),
    }
    return fleet(
        NAME,
        NAMESPACE,
        {
            "discord": {
                "guildId": str(discord.guild_id),
                "channels": channels,
                "apiBaseUrl": discord.api_base,
                "gatewayUrl": discord.gateway_url,
            },
            "gemini": {"baseUrl": gemini.base_url, "requestsPerMinute": 600},
            # Replies only: autonomous speech would compete for the same servers.
            "speech": {"intervalSeconds": 3600},
        },
    )


async def prepare_stores(
    cluster: Cluster, redis: RedisServer, postgres: EmbeddedPostgres
) -> tuple[ServiceMap, SocketGate]:
    """Give the local stores the passwords the operator generated; map the Services."""
    generated = cluster.secret_data(NAMESPACE, f"{NAME}-stores")
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis.url)
    await client.config_set("requirepass", generated["redis-password"])
    await client.aclose()
    admin = await asyncpg.connect(postgres.url())
    try:
        password = generated["postgresql-password"].replace("'", "''")
        exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = 'agentfleet'")
        verb = "ALTER" if exists else "CREATE"
        # The pgvector image makes POSTGRES_USER a superuser; so does this.
        await admin.execute(f"{verb} ROLE agentfleet LOGIN SUPERUSER PASSWORD '{password}'")
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = 'agentfleet'"):
            await admin.execute("CREATE DATABASE agentfleet OWNER agentfleet")
    finally:
        await admin.close()
    gate = SocketGate(postgres.socket_path())
    await gate.open()
    return (
        ServiceMap(
            {
                f"{NAME}-redis:6379": f"127.0.0.1:{redis.port}",
                f"{NAME}-postgresql:5432": f"127.0.0.1:{gate.port}",
            }
        ),
        gate,
    )


def workload(cluster: Cluster, kind: str, name: str) -> dict[str, Any]:
    body = cluster.get(kind, name, NAMESPACE)
    assert body is not None, f"{kind} {name} was not created"
    return body


def own_port(env: dict[str, str]) -> None:
    """Each Pod has its own network namespace; on one host each process gets its own port."""
    env["HEALTH_CHECK_PORT"] = str(free_port())


async def wait_for_exit(started: Started, timeout: float) -> int:
    """Wait for a process that should finish (migrate, the pipeline); return its code."""
    for _ in range(int(timeout * 10)):
        code = started.process.poll()
        if code is not None:
            return code
        await asyncio.sleep(0.1)
    started.process.kill()
    raise AssertionError(
        f"{started.name} did not finish in {timeout} s:\n{started.output()[-3000:]}"
    )


def http_status(port: str, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


async def test_the_rendered_containers_answer_a_person_and_run_the_pipeline(
    operator: Operator,
    servers: tuple[DiscordServer, GeminiServer],
    redis_store: RedisServer,
    postgres_server: EmbeddedPostgres,
    tmp_path: Path,
) -> None:
    cluster = operator.cluster
    discord, gemini = servers
    tokens = {bot: discord.token(bot) for bot in BOTS}
    cluster.apply(*secrets(NAMESPACE, tokens))
    cluster.apply(live_fleet(discord, gemini))
    await asyncio.to_thread(wait_for_condition, cluster, NAMESPACE, NAME, "Ready", "True")
    services, forwarder = await prepare_stores(cluster, redis_store, postgres_server)
    started: list[Started] = []
    try:
        # The reception Pod's init container migrates the schema before reception starts.
        reception = workload(cluster, "deployment", f"{NAME}-reception")
        (migrate,) = pod_spec(reception)["initContainers"]
        step = start_container(cluster, NAMESPACE, reception, migrate, services, tmp_path)
        assert await wait_for_exit(step, 90) == 0, step.output()
        ports: dict[str, str] = {}
        for bot in BOTS:
            body = workload(cluster, "deployment", f"{NAME}-{bot}")
            (container,) = pod_spec(body)["containers"]

            def remember(env: dict[str, str], bot: str = bot) -> None:
                own_port(env)
                ports[bot] = env["HEALTH_CHECK_PORT"]

            started.append(
                start_container(
                    cluster, NAMESPACE, body, container, services, tmp_path, edit_env=remember
                )
            )

        def everyone_ready() -> bool:
            for process in started:
                assert process.process.poll() is None, f"{process.name} exited:\n{process.output()}"
            return all(http_status(ports[bot], "/ready") == 200 for bot in BOTS)

        await asyncio.to_thread(wait_until, everyone_ready, 120, "every bot's /ready")
        assert all(http_status(ports[bot], "/health") == 200 for bot in BOTS)

        question = await discord.post_as_human("development", "認証の設計、どこから確認する？")
        answer = await discord.wait_for(
            lambda: next(
                (m for m in discord.messages("development") if m.reference_id == question.id), None
            ),
            timeout=60,
        )
        assert answer.author.key in ("spectra", "lynq", "paz")

        # The pipeline: a Job from the CronJob (kwok completes its Pod), and the same Pod's
        # container run here; SPECTRA's worker posts the Daily Report it hands over.
        cluster.kubectl(
            "create", "job", f"--from=cronjob/{NAME}-pipeline", "live-now", "-n", NAMESPACE
        )
        job = workload(cluster, "job", "live-now")
        (container,) = pod_spec(job)["containers"]
        run = start_container(cluster, NAMESPACE, job, container, services, tmp_path)
        assert await wait_for_exit(run, 180) == 0, run.output()
        assert "長期記憶" in run.output() and "Daily Report" in run.output()
        report = await discord.wait_for(
            lambda: next(
                (
                    m
                    for m in discord.messages("command_center")
                    if m.author.key == "spectra" and "日報" in m.content
                ),
                None,
            ),
            timeout=60,
        )
        assert report.content
    finally:
        for process in started:
            process.terminate()
        codes = {p.name: await wait_for_exit(p, 30) for p in started}
        await forwarder.shut()
    assert set(codes.values()) == {0}, {p.name: p.output()[-2000:] for p in started}
    for process in started:
        output = process.output()
        for token in tokens.values():
            assert token not in output, f"{process.name} logged a token"
    cluster.kubectl("delete", "agentfleet", NAME, "-n", NAMESPACE)
