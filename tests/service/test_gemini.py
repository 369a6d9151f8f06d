"""The Gemini adapter through the real google-genai SDK against the local server."""

from __future__ import annotations

import logging
import math
import socket
import time
from typing import Literal

import aiohttp
import pytest
from aiohttp import web
from google import genai
from google.genai import types
from pydantic import BaseModel, Field

from agentfleet_runtime.llm.gemini import (
    GeminiClient,
    GeminiSettings,
    Generation,
    LLMEmptyResponse,
    LLMRequestRejected,
    LLMUnavailable,
    Turn,
)
from agentfleet_runtime.observability.metrics import REGISTRY
from agentfleet_sandbox.gemini_server import GeminiServer
from tests.fixtures.gemini import GEMINI_TEST_API_KEY

pytestmark = pytest.mark.service

MARKERS = {"SPECTRA": "しよう", "LYNQ": "を確認すると", "PAZ": "かもしれない"}


def system_prompt(persona: str) -> str:
    others = ", ".join(p for p in MARKERS if p != persona)
    return f"あなたは{persona}。同僚は{others}。カジュアルな日本語で短く答える。"


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def replace(settings: GeminiSettings, **changes: object) -> GeminiSettings:
    # model_copy(update=...) skips validation, which would leave a str api_key unwrapped.
    return GeminiSettings.model_validate({**settings.model_dump(), **changes})


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Memory(BaseModel):
    content: str
    importance: float = Field(ge=0.0, le=1.0)
    type: Literal["conversation", "task", "progress", "learning", "decision"]
    entities: list[str]
    counts: dict[str, int]  # the SDK's own schema conversion rejects dicts for the Gemini API


class Extraction(BaseModel):
    memories: list[Memory]
    summary: str | None = None


# -- generation ------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["SPECTRA", "LYNQ", "PAZ"])
async def test_generate_answers_in_the_personas_voice(
    gemini_client: GeminiClient, gemini_server: GeminiServer, persona: str
) -> None:
    gen = await gemini_client.generate(
        system_prompt(persona),
        [Turn("user", "おはよう"), Turn("model", "おはよう！"), Turn("user", "リリース準備どう？")],
    )
    assert isinstance(gen, Generation)
    assert MARKERS[persona] in gen.text
    assert "リリース準備どう" in gen.text  # it answers the last user message, not the first
    assert gen.prompt_tokens > 10
    assert gen.output_tokens > 0
    assert gen.model == "gemini-3.8-flash"
    (request,) = gemini_server.requests
    assert request.version == "v1beta"
    assert request.model == "gemini-3.8-flash"
    assert [c["role"] for c in request.body["contents"]] == ["user", "model", "user"]


async def test_generate_is_deterministic_and_varied(gemini_client: GeminiClient) -> None:
    prompt = system_prompt("PAZ")
    first = await gemini_client.generate(prompt, [Turn("user", "新しいロゴの案")])
    again = await gemini_client.generate(prompt, [Turn("user", "新しいロゴの案")])
    assert first.text == again.text
    topics = [f"アイデア{i}番" for i in range(12)]
    texts = [(await gemini_client.generate(prompt, [Turn("user", t)])).text for t in topics]
    shapes = {text.replace(topic, "") for text, topic in zip(texts, topics, strict=True)}
    assert len(shapes) >= 3, shapes  # different templates, not only a different topic


async def test_temperature_is_sent(
    gemini_client: GeminiClient, gemini_server: GeminiServer
) -> None:
    await gemini_client.generate("SPECTRA", [Turn("user", "hi")], temperature=0.2)
    assert gemini_server.requests[0].body["generationConfig"]["temperature"] == 0.2


async def test_structured_output_parses_into_the_model(
    gemini_client: GeminiClient, gemini_server: GeminiServer
) -> None:
    transcript = "taro: デプロイ完了した\nhanako: 明日はテストを書く\njiro: DB移行はまだ"
    gen = await gemini_client.generate(
        "Extract memories.", [Turn("user", transcript)], response_schema=Extraction
    )
    assert isinstance(gen.parsed, Extraction)
    assert [m.content for m in gen.parsed.memories] == transcript.splitlines()
    body = gemini_server.requests[0].body
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert body["generationConfig"]["responseJsonSchema"] == Extraction.model_json_schema()


async def test_structured_output_with_a_json_schema_dict(
    gemini_client: GeminiClient, gemini_server: GeminiServer
) -> None:
    schema = Extraction.model_json_schema()
    gen = await gemini_client.generate(
        "Extract.", [Turn("user", "a: hello\nb: world")], response_schema=schema
    )
    assert gen.parsed is None
    assert len(Extraction.model_validate_json(gen.text).memories) == 2
    assert gemini_server.requests[0].body["generationConfig"]["responseJsonSchema"] == schema


async def test_stream_and_v1_endpoints_serve_the_same_answer(gemini_server: GeminiServer) -> None:
    # The SDK's default api_version is v1; streamGenerateContent is SSE.
    client = genai.Client(
        api_key=GEMINI_TEST_API_KEY, http_options=types.HttpOptions(base_url=gemini_server.base_url)
    )
    config = types.GenerateContentConfig(system_instruction=system_prompt("LYNQ"))
    try:
        whole = await client.aio.models.generate_content(
            model="m", contents="ビルドが遅い", config=config
        )
        chunks = [
            c.text or ""
            async for c in await client.aio.models.generate_content_stream(
                model="m", contents="ビルドが遅い", config=config
            )
        ]
    finally:
        await client.aio.aclose()
    assert len(chunks) > 1
    assert "".join(chunks) == whole.text
    assert {r.version for r in gemini_server.requests} == {"v1"}
    assert gemini_server.counts == {"generate": 1, "stream": 1, "embed": 0, "total": 2}


# -- embeddings ------------------------------------------------------------------------


async def test_embed_batch_returns_one_unit_vector_per_text(
    gemini_client: GeminiClient, gemini_server: GeminiServer
) -> None:
    texts = [
        "今日の会議は10時から始まります",
        "本日のミーティングは午前10時開始です",
        "猫がソファの上で寝ている",
        "データベースの移行が完了した",
        "PostgreSQLへのデータ移行が終わった",
    ]
    vectors = await gemini_client.embed(texts)
    assert len(vectors) == len(texts)
    assert all(len(v) == 768 for v in vectors)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-6 for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert cosine(vectors[3], vectors[4]) > cosine(vectors[3], vectors[2])
    (request,) = gemini_server.requests  # one batch call
    assert request.endpoint == "embed"
    assert {r["outputDimensionality"] for r in request.body["requests"]} == {768}
    assert {r["taskType"] for r in request.body["requests"]} == {"RETRIEVAL_DOCUMENT"}


async def test_embed_splits_batches_at_googles_limit(
    gemini_client: GeminiClient, gemini_server: GeminiServer
) -> None:
    vectors = await gemini_client.embed([f"メモ {i}" for i in range(130)])
    assert len(vectors) == 130
    assert [len(r.body["requests"]) for r in gemini_server.requests] == [100, 30]


async def test_query_and_document_task_types_differ(gemini_client: GeminiClient) -> None:
    (doc,) = await gemini_client.embed(["猫が好き"], task_type="RETRIEVAL_DOCUMENT")
    (query,) = await gemini_client.embed(["猫が好き"], task_type="RETRIEVAL_QUERY")
    assert doc != query  # e5's query:/passage: prefixes
    assert await gemini_client.embed([]) == []


# -- faults and retries -----------------------------------------------------------------


async def test_429_waits_the_servers_retry_delay_then_succeeds(
    gemini_server: GeminiServer, gemini_settings: GeminiSettings
) -> None:
    # A 5 s backoff: finishing well under it proves the server's RetryInfo was used.
    settings = replace(gemini_settings, backoff_base_seconds=5.0)
    gemini_server.inject("429", count=1, retry_delay_s=0.3)
    async with await GeminiClient.create(settings) as client:
        started = time.monotonic()
        gen = await client.generate(system_prompt("SPECTRA"), [Turn("user", "進捗")])
        elapsed = time.monotonic() - started
    assert "しよう" in gen.text
    first, second = gemini_server.requests
    assert (first.fault, second.fault) == ("429", None)
    assert 0.28 <= second.at - first.at < 1.5
    assert elapsed < 2.0


async def test_500s_exhaust_attempts_into_llm_unavailable(
    gemini_client: GeminiClient, gemini_server: GeminiServer
) -> None:
    calls_before = metric(
        "agentfleet_gemini_calls_total", model="gemini-3.8-flash", kind="generate", status="500"
    )
    errors_before = metric("agentfleet_errors_total", component="gemini")
    gemini_server.inject("500", count=None)
    with pytest.raises(LLMUnavailable) as caught:
        await gemini_client.generate("SPECTRA", [Turn("user", "x")])
    assert caught.value.attempts == 3
    assert caught.value.status == "500"
    assert gemini_server.count("generate") == 3
    calls_after = metric(
        "agentfleet_gemini_calls_total", model="gemini-3.8-flash", kind="generate", status="500"
    )
    assert calls_after - calls_before == 3
    assert metric("agentfleet_errors_total", component="gemini") - errors_before == 1


async def test_503_then_success(gemini_client: GeminiClient, gemini_server: GeminiServer) -> None:
    gemini_server.inject("503", count=2)
    gen = await gemini_client.generate("LYNQ", [Turn("user", "CI")])
    assert "を確認すると" in gen.text
    assert gemini_server.count() == 3


async def test_malformed_body_is_retried(
    gemini_client: GeminiClient, gemini_server: GeminiServer
) -> None:
    gemini_server.inject("malformed", count=1)
    gen = await gemini_client.generate("PAZ", [Turn("user", "色")])
    assert "かもしれない" in gen.text
    assert [r.fault for r in gemini_server.requests] == ["malformed", None]


async def test_malformed_embeddings_are_retried(
    gemini_client: GeminiClient, gemini_server: GeminiServer
) -> None:
    gemini_server.inject("malformed", endpoint="embed")
    assert len(await gemini_client.embed(["a", "b"])) == 2
    assert gemini_server.count("embed") == 2


async def test_timeout_is_retried(
    gemini_server: GeminiServer, gemini_settings: GeminiSettings
) -> None:
    settings = replace(gemini_settings, timeout_seconds=0.3)
    gemini_server.inject("slow", delay_s=3.0)
    async with await GeminiClient.create(settings) as client:
        started = time.monotonic()
        gen = await client.generate("SPECTRA", [Turn("user", "遅い")])
        elapsed = time.monotonic() - started
    assert gen.text
    assert gemini_server.count() == 2
    assert elapsed < 1.5  # gave up on the slow answer instead of waiting 3 s


async def test_safety_block_is_retried_once_then_llm_empty_response(
    gemini_client: GeminiClient, gemini_server: GeminiServer
) -> None:
    gemini_server.inject("blocked", count=None)
    with pytest.raises(LLMEmptyResponse) as caught:
        await gemini_client.generate("SPECTRA", [Turn("user", "x")])
    assert gemini_server.count() == 2  # max_attempts is 3, but an empty answer gets one retry
    assert "SAFETY" in str(caught.value)
    assert not isinstance(caught.value, LLMUnavailable)


async def test_a_single_safety_block_recovers(
    gemini_client: GeminiClient, gemini_server: GeminiServer
) -> None:
    gemini_server.inject("blocked", count=1)
    assert (await gemini_client.generate("PAZ", [Turn("user", "x")])).text
    assert gemini_server.count() == 2


async def test_long_retry_delay_gives_up_at_once(
    gemini_client: GeminiClient, gemini_server: GeminiServer
) -> None:
    gemini_server.inject("429", count=None, retry_delay_s=120)
    started = time.monotonic()
    with pytest.raises(LLMUnavailable) as caught:
        await gemini_client.generate("SPECTRA", [Turn("user", "x")])
    assert time.monotonic() - started < 1.0
    assert caught.value.status == "429"
    assert gemini_server.count() == 1


async def test_unreachable_server_fails_fast(gemini_settings: GeminiSettings) -> None:
    port = closed_port()
    settings = replace(gemini_settings, base_url=f"http://127.0.0.1:{port}")
    async with await GeminiClient.create(settings) as client:
        started = time.monotonic()
        with pytest.raises(LLMUnavailable) as caught:
            await client.generate("SPECTRA", [Turn("user", "x")])
    assert caught.value.status == "connection"
    assert caught.value.attempts == 3
    assert time.monotonic() - started < 2.0  # the SDK's hidden 1-10 s retry is off


async def test_rate_limiter_is_awaited_before_every_request(
    gemini_server: GeminiServer, gemini_settings: GeminiSettings
) -> None:
    class CountingLimiter:
        def __init__(self) -> None:
            self.calls = 0

        async def acquire(self) -> None:
            self.calls += 1

    limiter = CountingLimiter()
    gemini_server.inject("500", count=1)
    async with await GeminiClient.create(gemini_settings, rate_limiter=limiter) as client:
        await client.generate("SPECTRA", [Turn("user", "x")])
        await client.embed(["a"])
    assert limiter.calls == 3 == gemini_server.count()


async def test_control_api_drives_faults_and_counts(
    gemini_client: GeminiClient, gemini_server: GeminiServer
) -> None:
    async with aiohttp.ClientSession(gemini_server.base_url) as http:
        async with http.post("/_control/faults", json={"kind": "nope"}) as bad:
            assert bad.status == 400
        async with http.post("/_control/faults", json={"kind": "500", "count": 3}) as ok:
            assert ok.status == 200
        with pytest.raises(LLMUnavailable):
            await gemini_client.generate("SPECTRA", [Turn("user", "x")])
        async with http.get("/_control/requests") as counts:
            assert counts.headers["Content-Type"] == "application/json"
            assert (await counts.json())["generate"] == 3
        async with http.post("/_control/reset"):
            pass
        async with http.get("/_control/requests") as counts:
            assert (await counts.json())["total"] == 0
    assert (await gemini_client.generate("SPECTRA", [Turn("user", "x")])).text


# -- logs and secrets -------------------------------------------------------------------


async def test_api_usage_log_line(
    gemini_client: GeminiClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agentfleet_runtime.llm.gemini")
    gen = await gemini_client.generate("SPECTRA", [Turn("user", "今日のタスク")])
    await gemini_client.embed(["a", "b"])
    usage = [r.getMessage() for r in caplog.records if "API usage" in r.getMessage()]
    assert len(usage) == 2
    assert "model=gemini-3.8-flash" in usage[0]
    assert f"prompt_tokens={gen.prompt_tokens} output_tokens={gen.output_tokens}" in usage[0]
    assert "model=gemini-embedding-001" in usage[1] and "texts=2" in usage[1]


async def test_retries_log_warning_and_giving_up_logs_error(
    gemini_client: GeminiClient, gemini_server: GeminiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agentfleet_runtime.llm.gemini")
    gemini_server.inject("500", count=None)
    with pytest.raises(LLMUnavailable):
        await gemini_client.generate("SPECTRA", [Turn("user", "x")])
    levels = [r.levelno for r in caplog.records if r.name == "agentfleet_runtime.llm.gemini"]
    assert levels == [logging.WARNING, logging.WARNING, logging.ERROR]


async def test_api_key_never_appears_in_logs_or_errors(
    gemini_settings: GeminiSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's and aiohttp's included
    secret = "AIzaSy-super-secret-key-DO-NOT-LEAK"
    raised: list[BaseException] = []

    # 1. A key the server rejects: 400 API_KEY_INVALID, not retried.
    async with GeminiServer(api_key="the-right-key") as strict:
        settings = replace(gemini_settings, api_key=secret, base_url=strict.base_url)
        assert secret not in repr(settings) and secret not in str(settings)
        async with await GeminiClient.create(settings) as client:
            with pytest.raises(LLMRequestRejected) as caught:
                await client.generate("SPECTRA", [Turn("user", "x")])
            raised.append(caught.value)
            assert caught.value.attempts == 1 and caught.value.status == "400"
            assert strict.count() == 1

    # 2. A hostile proxy that echoes the key back in its 500 and 429 bodies.
    async def echo(request: web.Request) -> web.Response:
        key = request.headers.get("x-goog-api-key", "")
        code = 429 if "batchEmbed" in request.path else 500
        body = {"error": {"code": code, "message": f"bad key {key}", "status": "INTERNAL"}}
        return web.json_response(body, status=code)

    app = web.Application()
    app.router.add_post("/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        settings = replace(
            gemini_settings, **{"api_key": secret, "base_url": f"http://127.0.0.1:{port}"}
        )
        async with await GeminiClient.create(settings) as client:
            with pytest.raises(LLMUnavailable) as caught_gen:
                await client.generate("SPECTRA", [Turn("user", "x")])
            with pytest.raises(LLMUnavailable) as caught_embed:
                await client.embed(["x"])
            raised += [caught_gen.value, caught_embed.value]
    finally:
        await runner.cleanup()

    assert "[REDACTED]" in str(caught_gen.value)  # the echo happened and was redacted
    for exc in raised:
        assert secret not in str(exc) and secret not in repr(exc)
        assert exc.__cause__ is None and exc.__suppress_context__
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage() + (str(record.exc_info[1]) if record.exc_info else "")
        assert secret not in text, record.name
    assert secret not in caplog.text


async def test_requests_go_through_the_proxy_the_environment_names(
    gemini_server: GeminiServer,
    gemini_settings: GeminiSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Clusters behind an egress proxy set HTTP(S)_PROXY; Gemini calls must honour it."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        # A proxy receives the absolute URL and relays the request to it.
        seen.append(str(request.url))
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                str(request.url),
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
                data=await request.read(),
            ) as upstream,
        ):
            return web.Response(
                body=await upstream.read(),
                status=upstream.status,
                content_type=upstream.content_type,
            )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{runner.addresses[0][1]}")
    try:
        async with await GeminiClient.create(gemini_settings) as client:
            gen = await client.generate(system_prompt("LYNQ"), [Turn("user", "テスト")])
    finally:
        await runner.cleanup()
    assert "を確認すると" in gen.text
    assert len(seen) == 1 and seen[0].startswith(gemini_server.base_url), seen


# -- helpers ----------------------------------------------------------------------------


def closed_port() -> int:
    """A port that was free a moment ago and has nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        GeminiSettings(api_key="k", max_attempts=0)
    settings = GeminiSettings(api_key="k")
    with pytest.raises(ValueError):
        settings.model = "other"  # type: ignore[misc]  # frozen


async def test_generate_needs_turns(gemini_client: GeminiClient) -> None:
    with pytest.raises(ValueError):
        await gemini_client.generate("SPECTRA", [])


def test_server_persona_detection_prefers_the_first_name() -> None:
    from agentfleet_sandbox.gemini_server import detect_persona

    assert detect_persona(system_prompt("LYNQ")) == "LYNQ"
    assert detect_persona("no persona") == ""
