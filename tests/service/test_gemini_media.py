"""Images in a prompt, through the real google-genai SDK, checked by the local Gemini server."""

from __future__ import annotations

import aiohttp
import pytest

from agentfleet_runtime.brain.attachments import InlineData
from agentfleet_runtime.llm.gemini import GeminiClient, LLMRequestRejected, Turn
from agentfleet_sandbox.gemini_server import GeminiServer
from tests.fixtures.gemini import GEMINI_TEST_API_KEY
from tests.fixtures.images import image_bytes

pytestmark = pytest.mark.service


async def test_an_image_reaches_the_model_and_the_answer_says_what_it_saw(
    gemini_client: GeminiClient, gemini_server: GeminiServer
) -> None:
    shot = InlineData("image/webp", image_bytes("WEBP", (120, 80)))
    data = "\n".join(
        [
            '{"type": "image", "name": "board.webp", "image": 1}',
            '{"type": "reply_to", "text": "どう？"}',
        ]
    )

    answer = await gemini_client.generate("あなたはPAZ。", [Turn("user", data, (shot,))])

    assert "WEBP画像「board.webp」（120×80）" in answer.text
    assert "かもしれない" in answer.text  # still PAZ speaking
    [request] = gemini_server.requests
    parts = request.body["contents"][0]["parts"]
    assert [list(part) for part in parts] == [["inlineData"], ["text"]]
    # The SDK names the blob's fields as given (mime_type); the API takes either spelling.
    assert parts[0]["inlineData"]["mime_type"] == "image/webp"
    # An image costs tokens beyond the text's, as Gemini counts them.
    assert answer.prompt_tokens > 258


@pytest.mark.parametrize(
    ("declared", "data", "message"),
    [
        ("image/gif", b"GIF89a\x01\x00\x01\x00", "Unsupported MIME type: image/gif"),
        ("image/jpeg", image_bytes("PNG"), "Unable to process input image"),
        ("image/png", b"\x89PNG\r\n\x1a\n but cut short", "Unable to process input image"),
    ],
    ids=["gif", "png-declared-as-jpeg", "broken-png"],
)
async def test_inline_data_gemini_would_refuse_is_refused_and_not_retried(
    gemini_client: GeminiClient,
    gemini_server: GeminiServer,
    declared: str,
    data: bytes,
    message: str,
) -> None:
    with pytest.raises(LLMRequestRejected, match=message):
        await gemini_client.generate("x", [Turn("user", "見て", (InlineData(declared, data),))])
    assert gemini_server.count("generate") == 1


async def test_inline_data_that_is_not_base64_gets_googles_error(
    gemini_server: GeminiServer,
) -> None:
    body = {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "%%"}}]}]}
    url = f"{gemini_server.base_url}/v1beta/models/gemini-3.8-flash:generateContent"
    async with aiohttp.ClientSession() as http:
        response = await http.post(url, json=body, headers={"x-goog-api-key": GEMINI_TEST_API_KEY})
        error = (await response.json())["error"]
    assert response.status == 400 and error["status"] == "INVALID_ARGUMENT"
    assert "Base64 decoding failed" in error["message"]
