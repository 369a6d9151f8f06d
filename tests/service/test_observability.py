"""/health, /ready and /metrics over HTTP, and logs that never contain a secret."""

import asyncio
import io
import json
import logging
import sys
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from agentfleet_runtime.observability import health, logs
from agentfleet_runtime.observability.health import CheckResult, HealthServer
from agentfleet_runtime.observability.logs import REDACTED, WRITE_DELAY_SECONDS, configure_logging
from agentfleet_runtime.observability.metrics import MESSAGES_RECEIVED, REGISTRY
from tests.fixtures.redis import RedisServer, free_port


async def test_endpoints_report_dependencies_by_name(redis_server: RedisServer) -> None:
    redis = aioredis.Redis.from_url(redis_server.url, socket_timeout=1, socket_connect_timeout=1)

    async def redis_check() -> CheckResult:
        await redis.ping()
        return CheckResult(True, "ping ok")

    server = HealthServer(free_port(), "all-in-one", host="127.0.0.1")
    server.add_check("redis", redis_check)
    await server.start()
    MESSAGES_RECEIVED.labels(channel="development").inc()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/health") as response:
                assert response.status == 200
                assert (await response.json())["status"] == "ok"
            async with http.get(base + "/ready") as response:
                assert response.status == 200
                assert (await response.json())["checks"]["redis"]["ok"] is True
            async with http.get(base + "/metrics") as response:
                text = await response.text()
                assert 'agentfleet_messages_received_total{channel="development"}' in text
                assert "# TYPE agentfleet_reply_latency_seconds histogram" in text
            redis_server.stop()
            async with http.get(base + "/ready") as response:
                assert response.status == 503
                body = await response.json()
                assert body["checks"]["redis"]["ok"] is False
                assert body["checks"]["redis"]["detail"]
            async with http.get(base + "/health") as response:
                assert response.status == 200  # liveness must not restart us for Redis
    finally:
        await server.stop()
        await redis.aclose()


class PingCounter:
    """A Redis readiness check that counts its rounds and how many ever ran at once."""

    def __init__(self, redis: aioredis.Redis, seconds: float = 0.0) -> None:
        self.redis = redis
        self.seconds = seconds
        self.rounds = 0
        self.running = 0
        self.most_at_once = 0

    async def __call__(self) -> CheckResult:
        self.rounds += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.redis.ping()
            await asyncio.sleep(self.seconds)  # a Redis slower than the checks' interval
            return CheckResult(True, "ping ok")
        finally:
            self.running -= 1


async def scrape(server: HealthServer, times: int) -> None:
    """GET /metrics ``times`` times, five at once, as several Prometheus servers might."""
    url = f"http://127.0.0.1:{server.port}/metrics"

    async def one(http: aiohttp.ClientSession) -> None:
        async with http.get(url) as response:
            assert response.status == 200

    async with aiohttp.ClientSession() as http:
        for _ in range(0, times, 5):
            await asyncio.gather(*(one(http) for _ in range(5)))


def redis_up() -> float | None:
    return REGISTRY.get_sample_value("agentfleet_dependency_up", {"dependency": "redis"})


async def test_dependency_checks_run_by_themselves_and_follow_redis_without_ready(
    redis_client: aioredis.Redis, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a single host nothing calls /ready: the gauge the alerts read must move anyway.
    monkeypatch.setattr(health, "DEPENDENCY_CHECK_INTERVAL", 0.1)
    check = PingCounter(redis_client)
    server = HealthServer(free_port(), "all-in-one", host="127.0.0.1")
    server.add_check("redis", check)
    await server.start()
    errors = ("agentfleet_errors_total", {"component": "redis"})
    try:
        async with asyncio.timeout(10):
            while check.rounds < 3 or redis_up() != 1.0:
                await asyncio.sleep(0.05)
            before = REGISTRY.get_sample_value(*errors) or 0.0
            redis_server.stop()
            while redis_up() != 0.0:
                await asyncio.sleep(0.05)
            down_since = check.rounds
            redis_server.start()
            while redis_up() != 1.0:
                await asyncio.sleep(0.05)
    finally:
        await server.stop()
    assert check.rounds > down_since  # still checking on its own after the outage
    # The outage counts once in the errors, however many rounds saw it.
    assert (REGISTRY.get_sample_value(*errors) or 0.0) - before == 1


async def test_a_scrape_checks_at_most_once_per_interval(
    redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "DEPENDENCY_CHECK_INTERVAL", 3600.0)
    check = PingCounter(redis_client)
    server = HealthServer(free_port(), "all-in-one", host="127.0.0.1")
    server.add_check("redis", check)
    await server.start()
    try:
        async with asyncio.timeout(10):
            while check.rounds < 1:
                await asyncio.sleep(0.05)
        await scrape(server, 20)
        assert check.rounds == 1  # the round at start; twenty scrapes added none
        assert redis_up() == 1.0
        base = f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as http, http.get(base + "/ready") as response:
            assert response.status == 200
        assert check.rounds == 2  # /ready checks afresh, as a kubelet expects
    finally:
        await server.stop()


async def test_rounds_of_checks_never_overlap_even_when_slower_than_their_interval(
    redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stuck dependency must not pile up checks, from the timer or from scrapes.
    monkeypatch.setattr(health, "DEPENDENCY_CHECK_INTERVAL", 0.05)
    check = PingCounter(redis_client, seconds=0.3)
    server = HealthServer(free_port(), "all-in-one", host="127.0.0.1")
    server.add_check("redis", check)
    await server.start()
    try:
        async with asyncio.timeout(10):
            while check.rounds < 4:
                await scrape(server, 5)
    finally:
        await server.stop()
    assert check.most_at_once == 1


def test_secrets_never_reach_the_log_file_or_stdout(tmp_path: Path, capsys: object) -> None:
    token = "spectra-token-" + "x" * 30
    api_key = "AIza" + "B" * 35
    log_file = tmp_path / "logs" / "discord_agent.log"
    configure_logging("INFO", str(log_file), secrets=[token])
    log = logging.getLogger("agentfleet_runtime.test")
    try:
        log.info("connecting with %s", token)
        log.warning("key %s rejected", api_key)
        log.info("redis://default:hunter22@redis:6379/0 unreachable")
        try:
            raise RuntimeError(f"auth failed for {token}")
        except RuntimeError:
            log.exception("ERROR login")
        log.info("自発発言 spectra in #lounge: posted")
    finally:
        for handler in logging.getLogger().handlers:
            handler.flush()
    written = log_file.read_text(encoding="utf-8")
    stdout = capsys.readouterr().out  # type: ignore[attr-defined]
    for output in (written, stdout):
        assert token not in output
        assert api_key not in output
        assert "hunter22" not in output
        assert REDACTED in output
    assert "自発発言" in written
    assert " WARN " in written  # docs/operations.md greps ERROR|WARN
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    logging.getLogger().handlers.clear()


async def test_lines_logged_in_the_event_loop_reach_the_file_whole_and_in_order(
    tmp_path: Path,
) -> None:
    """A line logged on a reply's way is written a few milliseconds later, not during it.

    A warning written at once first writes the lines queued before it, so the file's
    order is the order things happened in, and a secret in a queued line's arguments is
    redacted as it was when logged, whatever happens to the arguments afterwards.
    """
    token = "spectra-token-" + "y" * 30
    log_file = tmp_path / "logs" / "discord_agent.log"
    configure_logging("INFO", str(log_file), secrets=[token])
    log = logging.getLogger("agentfleet_runtime.test")
    try:
        said = [token]
        log.info("API usage: kind=generate %s", said)
        said[0] = "changed"
        assert "API usage" not in log_file.read_text(encoding="utf-8")
        log.warning("WARN Redis unreachable")
        log.info("processed successfully")
        written = log_file.read_text(encoding="utf-8")
        assert "API usage" in written and "WARN Redis unreachable" in written
        assert written.index("API usage") < written.index("WARN Redis unreachable")
        assert "processed successfully" not in written
        await asyncio.sleep(WRITE_DELAY_SECONDS * 2)
        lines = log_file.read_text(encoding="utf-8").splitlines()
    finally:
        for handler in logging.getLogger().handlers:
            handler.close()
        logging.getLogger().handlers.clear()
    assert [line.split(": ", 1)[1] for line in lines] == [
        f"API usage: kind=generate ['{REDACTED}']",
        "WARN Redis unreachable",
        "processed successfully",
    ]


async def test_logging_set_up_again_while_a_line_waits_writes_it_where_it_was_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logging configured again (a test harness, the sandbox) with lines still queued:
    they go to the outputs of their time, and nothing fails once those are closed."""
    failures: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, error: failures.append(error))
    # A file, as a process's stdout is: once closed, flushing it fails.
    earlier_path = tmp_path / "earlier-stdout"
    earlier, later = earlier_path.open("w", encoding="utf-8"), io.StringIO()
    log = logging.getLogger("agentfleet_runtime.test")
    try:
        monkeypatch.setattr(sys, "stdout", earlier)
        configure_logging("INFO", None)
        log.info("processed successfully: the first")
        monkeypatch.setattr(sys, "stdout", later)
        configure_logging("INFO", None)
        earlier.close()
        written_before = earlier_path.read_text(encoding="utf-8")
        log.info("processed successfully: the second")
        await asyncio.sleep(WRITE_DELAY_SECONDS * 3)
        written_after = later.getvalue()
    finally:
        for handler in logging.getLogger().handlers:
            handler.close()
        logging.getLogger().handlers.clear()
    assert "the first" in written_before and "the second" in written_after
    assert "the first" not in written_after
    assert failures == []


async def test_the_log_file_rotates_at_its_size_and_keeps_every_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines written in batches still rotate the file near its limit, and none is lost."""
    limit = 2_000
    monkeypatch.setattr(logs, "LOG_FILE_MAX_BYTES", limit)
    log_file = tmp_path / "logs" / "discord_agent.log"
    configure_logging("INFO", str(log_file))
    log = logging.getLogger("agentfleet_runtime.test")
    try:
        for number in range(60):
            log.info("processed successfully %03d", number)
            if number % 6 == 5:  # a batch of six lines, written after the delay
                await asyncio.sleep(WRITE_DELAY_SECONDS * 2)
    finally:
        for handler in logging.getLogger().handlers:
            handler.close()
        logging.getLogger().handlers.clear()
    files = sorted(log_file.parent.iterdir(), key=lambda f: f.name)
    assert [f.name for f in files][:2] == ["discord_agent.log", "discord_agent.log.1"]
    lines = [line for f in files for line in f.read_text(encoding="utf-8").splitlines()]
    batch = 6 * max(len(line.encode()) + 1 for line in lines)
    assert all(f.stat().st_size < limit + batch for f in files)
    assert sorted(int(line.rsplit(" ", 1)[1]) for line in lines) == list(range(60))


def test_an_unwritable_log_file_degrades_to_stdout_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As in a container whose root filesystem is read-only: the bots must still start.
    # A regular file where the folder should be fails for root as well as for anyone.
    (tmp_path / "logs").write_text("not a folder")
    configure_logging("INFO", str(tmp_path / "logs" / "discord_agent.log"))
    logging.getLogger("agentfleet_runtime.test").info("processed successfully")
    out = capsys.readouterr().out
    assert "processed successfully" in out
    assert "WARN log file" in out and "stdout only" in out
