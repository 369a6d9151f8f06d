"""The local Gemini server playing a real model's timing, seen through the real SDK.

Benchmarks subtract "the model's own time" from what a person waits for, so the server must
take exactly the time its timing says: the first token after a wait, the rest at a steady
rate (a longer answer takes longer), and a fixed time per embedding request. The delays here
are a few tenths of a second; each assertion is a lower bound the server's own sleep
guarantees, never a speed of ours.
"""

from __future__ import annotations

import subprocess
import sys
import time

import aiohttp
import pytest
from google import genai
from google.genai import types

from agentfleet_runtime.llm.gemini import GeminiClient
from agentfleet_sandbox.gemini_server import (
    FLASH_TIMING,
    TIMING_ENV,
    GeminiServer,
    ModelTiming,
    estimate_tokens,
)
from tests.fixtures.gemini import GEMINI_TEST_API_KEY

pytestmark = pytest.mark.service

SLOW = ModelTiming(first_token_s=0.15, tokens_per_s=100.0, embed_s=0.2)


async def test_a_generation_takes_the_first_token_wait_plus_its_tokens() -> None:
    async with GeminiServer(timing=SLOW) as server:
        client = genai.Client(
            api_key=GEMINI_TEST_API_KEY, http_options=types.HttpOptions(base_url=server.base_url)
        )
        config = types.GenerateContentConfig(system_instruction="あなたはLYNQ。")
        try:
            started = time.monotonic()
            whole = await client.aio.models.generate_content(
                model="m", contents="ビルドが遅い", config=config
            )
            took_whole = time.monotonic() - started
            started = time.monotonic()
            stream = await client.aio.models.generate_content_stream(
                model="m", contents="ビルドが遅い", config=config
            )
            arrivals = [(time.monotonic() - started, chunk.text or "") async for chunk in stream]
        finally:
            await client.aio.aclose()
    tokens = estimate_tokens(whole.text or "")
    assert whole.usage_metadata is not None
    assert whole.usage_metadata.candidates_token_count == tokens
    # Not streamed: nothing arrives before the whole generation is done.
    assert took_whole >= SLOW.generation_s(tokens) > SLOW.first_token_s
    # Streamed: the first chunk after the first-token wait, the last as late as the whole.
    assert "".join(text for _, text in arrivals) == whole.text
    first, last = arrivals[0][0], arrivals[-1][0]
    assert SLOW.first_token_s <= first < last
    assert last >= SLOW.generation_s(tokens)


async def test_an_embedding_request_takes_its_time_however_many_texts(
    gemini_client: GeminiClient, gemini_server: GeminiServer
) -> None:
    await gemini_client.embed(["warm the model up"])  # loading the model is not its time
    gemini_server.timing = SLOW
    started = time.monotonic()
    vectors = await gemini_client.embed(["署名鍵の周期", "キャンプの予定", "DBの更新"])
    assert time.monotonic() - started >= SLOW.embed_s
    assert len(vectors) == 3
    assert gemini_server.count("embed") == 2  # one request for the three texts


async def test_the_timing_is_set_and_refused_through_the_control_api(
    gemini_server: GeminiServer,
) -> None:
    assert gemini_server.timing == ModelTiming()  # tests get an instant model by default
    async with aiohttp.ClientSession(gemini_server.base_url) as http:
        async with http.post("/_control/config", json={"first_token_s": 0.3}) as ok:
            assert ok.status == 200
            assert (await ok.json())["first_token_s"] == 0.3
        async with http.post("/_control/config", json={"tokens_per_s": -5}) as bad:
            assert bad.status == 400
            assert "tokens_per_s" in (await bad.json())["error"]
    assert gemini_server.timing == ModelTiming(first_token_s=0.3)


def test_the_environment_sets_the_timing_and_a_bad_value_names_its_variable() -> None:
    variable = TIMING_ENV["embed_s"]
    timing = ModelTiming.from_env({variable: " 0.05 "}, FLASH_TIMING)
    assert timing == ModelTiming(FLASH_TIMING.first_token_s, FLASH_TIMING.tokens_per_s, 0.05)
    assert ModelTiming.from_env({}, FLASH_TIMING) == FLASH_TIMING
    for raw in ("slow", "-1", "nan"):
        with pytest.raises(ValueError) as caught:
            ModelTiming.from_env({variable: raw}, FLASH_TIMING)
        assert variable in str(caught.value) and repr(raw) in str(caught.value)


def test_the_command_line_refuses_a_bad_timing_before_it_serves() -> None:
    # The standalone server's flags default to a fast Flash model; nonsense stops it at once.
    result = subprocess.run(
        [sys.executable, "-m", "agentfleet_sandbox.gemini_server", "--tokens-per-second", "-3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--tokens-per-second" in result.stderr and "non-negative" in result.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "agentfleet_sandbox.gemini_server", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    text = " ".join(shown.stdout.split())  # help lines wrap anywhere
    assert TIMING_ENV["first_token_s"] in text
    assert f"default {FLASH_TIMING.first_token_s}" in text
