"""Attachments as people use them: the whole fleet on the local Discord and Gemini servers.

A person posts images and files through the server's control API (as Discord's client
uploads them); real discord.py bots carry them to the persona, whose worker fetches them
from the server's CDN route and sends them through the real google-genai client to the
Gemini-compatible server, which checks each part and names what it saw in the persona's
answer.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from agentfleet_sandbox.discord_server.attachments import FileUpload
from tests.e2e.test_fleet_on_discord import stored_anywhere
from tests.fixtures.sandbox import SandboxFleet


def image(fmt: str, size: tuple[int, int], frames: int = 1) -> bytes:
    pictures = [Image.new("RGB", size, (40 * i, 90, 160)) for i in range(frames)]
    out = io.BytesIO()
    extra: dict[str, Any] = {"save_all": True, "append_images": pictures[1:]} if frames > 1 else {}
    pictures[0].save(out, format=fmt, **extra)
    return out.getvalue()


def inline_parts(fleet: SandboxFleet) -> list[dict[str, Any]]:
    """Every inline data part the Gemini server received, as the SDK sent it."""
    return [
        part["inlineData"]
        for request in fleet.gemini.requests
        for content in request.body.get("contents", [])
        for part in content.get("parts", [])
        if "inlineData" in part
    ]


async def test_a_persona_reads_the_image_and_the_file_it_is_shown(
    sandbox_fleet: SandboxFleet,
) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    screenshot = image("PNG", (64, 48))
    question = await discord.post_as_human(
        "development",
        "このエラー、どう見える？",
        mentions=["lynq"],
        files=[
            FileUpload("error.png", screenshot),
            FileUpload("trace.log", b"Traceback (most recent call last):\nKeyError: 'user'\n"),
        ],
    )

    reply = await discord.wait_for_message(lambda m: m.reference_id == question.id, timeout=15)

    assert reply.author.id == discord.user_id("lynq")
    # The model was shown both, and said so in LYNQ's voice.
    assert "PNG画像「error.png」（64×48）" in reply.content
    assert "テキスト「trace.log」（2行）" in reply.content
    assert "このエラー" in reply.content
    assert "読めなかった添付" not in reply.content
    # The image went as inline data, its bytes unchanged; the log as text in the prompt.
    [sent] = inline_parts(sandbox_fleet)
    assert sent["mime_type"] == "image/png"
    assert base64.urlsafe_b64decode(sent["data"]) == screenshot  # the SDK's encoding
    # Redis holds what was shared (name, type), never the bytes.
    assert await stored_anywhere(sandbox_fleet, "error.png")
    assert not await stored_anywhere(sandbox_fleet, "KeyError")
    assert not await stored_anywhere(sandbox_fleet, sent["data"][:40])


async def test_an_image_posted_alone_gets_a_reply_and_a_gif_is_read_as_its_first_frame(
    sandbox_fleet: SandboxFleet,
) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    animation = image("GIF", (32, 16), frames=3)

    shown = await discord.post_as_human(
        "creation", "", mentions=["paz"], files=[FileUpload("wave.gif", animation)]
    )
    alone = await discord.post_as_human(
        "lounge", "", files=[FileUpload("sunset.jpg", image("JPEG", (40, 30)))]
    )

    reply = await discord.wait_for_message(lambda m: m.reference_id == shown.id, timeout=15)
    answer = await discord.wait_for_message(lambda m: m.reference_id == alone.id, timeout=15)
    # Gemini reads no GIF: it was given a PNG of the first frame, at the GIF's size.
    assert "PNG画像「wave.gif」（32×16）" in reply.content
    # A message of nothing but a file is answered too (nobody mentioned: the weights pick).
    assert "JPEG画像「sunset.jpg」（40×30）" in answer.content
    assert {p["mime_type"] for p in inline_parts(sandbox_fleet)} == {"image/png", "image/jpeg"}


async def test_what_cannot_be_read_is_named_in_the_reply_with_the_reason(
    sandbox_fleet: SandboxFleet,
) -> None:
    sandbox_fleet.settings = sandbox_fleet.settings.model_copy(
        update={"ATTACHMENT_MAX_TEXT_BYTES": 1024}
    )
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    question = await discord.post_as_human(
        "command_center",
        "資料まとめて送るね",
        mentions=["spectra"],
        files=[
            FileUpload("slides.zip", b"PK\x03\x04" + b"\x00" * 64),
            FileUpload("full.log", b"line\n" * 400),
            FileUpload("fake.png", b"this is not a picture"),
            FileUpload("plan.md", "# 計画\n- 認証\n".encode()),
        ],
    )

    reply = await discord.wait_for_message(lambda m: m.reference_id == question.id, timeout=15)

    answer, note = reply.content.rsplit("\n", 1)
    assert "テキスト「plan.md」（2行）" in answer
    assert note.startswith("-# 📎 読めなかった添付: ")
    assert "slides.zip（対応していない形式" in note
    assert "full.log（大きすぎる（2 KB、上限 1 KB））" in note
    assert "fake.png（中身を読み取れなかった）" in note
    assert inline_parts(sandbox_fleet) == []
