"""/health, /ready and /metrics over HTTP, and logs that never contain a secret."""

import json
import logging
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from agentfleet_runtime.observability.health import CheckResult, HealthServer
from agentfleet_runtime.observability.logs import REDACTED, configure_logging
from agentfleet_runtime.observability.metrics import MESSAGES_RECEIVED
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
