"""The sandbox page as a person uses it: headless Chromium, a message typed, a reply seen,
the fleet panel beside the chat (phase, tasks, Gemini budget) and its "run the 06:00
pipeline now" button, whose Daily Report then appears in the chat; and what bots send
besides text (embeds, components-v2 layouts, buttons a person clicks, threads, DMs) as
the page shows it.

Debian's chromium and chromium-driver are driven through selenium with an explicit driver
path, so Selenium Manager never looks for (or downloads) a browser. Selenium's calls block:
they run in a thread while the event loop serves the page and runs the fleet. The final
screenshots are kept in test-artifacts/ whether the tests pass or fail.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import discord
import pytest
from pydantic import SecretStr
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from agentfleet_runtime.brain.phases import Phase
from agentfleet_runtime.memory.state import FleetState
from agentfleet_sandbox.discord_server import DiscordServer
from agentfleet_sandbox.discord_server.attachments import FileUpload
from agentfleet_sandbox.fleet_panel import PIPELINE_LOGGER
from tests.discord.test_server import Recorder
from tests.fixtures.discord import StartClient, text_channel
from tests.fixtures.images import image_bytes
from tests.fixtures.sandbox import SandboxFleet

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
)
# What the page shows for each persona: emoji + name, in the persona's colour.
PERSONA_LABELS = {
    "🔵 SPECTRA": ("spectra", "rgba(59, 130, 246, 1)"),
    "🔴 LYNQ": ("lynq", "rgba(239, 68, 68, 1)"),
    "🟡 PAZ": ("paz", "rgba(234, 179, 8, 1)"),
}
QUESTION = "認証の設計、どこから確認する？"
TASK = "認証システム実装"
REPLY_TIMEOUT = 20.0
PIPELINE_TIMEOUT = 60.0


def launch(profile: Path) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


@pytest.fixture
async def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WebDriver]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: install Debian's browser with "
            "`apt-get install -y chromium chromium-driver` (scripts/bootstrap.sh does, as root)"
        )
    # Belt and braces: the explicit driver path already keeps Selenium Manager out.
    monkeypatch.setenv("SE_OFFLINE", "true")
    driver = await asyncio.to_thread(launch, tmp_path / "chromium-profile")
    try:
        yield driver
    finally:
        await asyncio.to_thread(driver.quit)


def channel_section(driver: WebDriver, name: str) -> WebElement:
    return driver.find_element(By.XPATH, f"//section[h2[normalize-space()='# {name}']]")


def open_page(driver: WebDriver, url: str) -> None:
    driver.get(url)
    wait = WebDriverWait(driver, 10)
    wait.until(lambda d: d.find_element(By.ID, "status").text == "live")
    wait.until(lambda d: channel_section(d, "development"))


def send_as(driver: WebDriver, person: str, channel: str, text: str) -> None:
    Select(driver.find_element(By.ID, "me")).select_by_value(person)
    section = channel_section(driver, channel)
    box = section.find_element(By.CSS_SELECTOR, "form input[type=text]")
    box.click()
    box.send_keys(text)
    section.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    # The page clears the box once the server has taken the message.
    WebDriverWait(driver, 5).until(lambda _: box.get_attribute("value") == "")


def persona_reply_node_id(driver: WebDriver, channel: str, quoted: str) -> str:
    """Wait until a persona's finished reply quoting ``quoted`` shows in ``channel``."""

    def shown(d: WebDriver) -> str | Literal[False]:
        for node in channel_section(d, channel).find_elements(By.CSS_SELECTOR, ".log .m"):
            refs = node.find_elements(By.CSS_SELECTOR, ".ref")
            who = node.find_element(By.CSS_SELECTOR, ".who").text
            body = node.find_element(By.CSS_SELECTOR, ".body").text
            if (
                refs
                and refs[0].text == f"↪ {quoted}"
                and who in PERSONA_LABELS
                and body.strip()
                and body != "… is thinking"
            ):
                return node.get_attribute("id") or False
        return False

    wait = WebDriverWait(
        driver, REPLY_TIMEOUT, ignored_exceptions=(StaleElementReferenceException,)
    )
    return wait.until(
        shown, f"no reply from SPECTRA, LYNQ or PAZ shown in #{channel} in {REPLY_TIMEOUT:.0f} s"
    )


def read_message(driver: WebDriver, node_id: str) -> tuple[str, str, str]:
    """(author label, its colour, body text) of message node ``node_id``."""
    node = driver.find_element(By.ID, node_id)
    who = node.find_element(By.CSS_SELECTOR, ".who")
    return (
        who.text,
        who.value_of_css_property("color"),
        node.find_element(By.CSS_SELECTOR, ".body").text,
    )


async def keep_screenshot(driver: WebDriver, name: str) -> bool:
    """Save the page as test-artifacts/``name``, on success too.

    Called from ``finally``: the caller asserts the result afterwards, so a failure to save
    never hides the test's own failure.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return await asyncio.to_thread(driver.save_screenshot, str(ARTIFACTS / name))


def text_of(driver: WebDriver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def wait_for_text(
    driver: WebDriver, element_id: str, check: Callable[[str], bool], timeout: float = 10.0
) -> str:
    """Wait until the text of ``element_id`` passes ``check``; return it."""

    def shown(d: WebDriver) -> str | Literal[False]:
        found = d.find_elements(By.ID, element_id)
        return found[0].text if found and check(found[0].text) else False

    wait = WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))
    try:
        return wait.until(shown)
    except TimeoutException:
        found = driver.find_elements(By.ID, element_id)
        now = repr(found[0].text) if found else "nothing (no such element)"
        raise AssertionError(f"#{element_id} never showed what was expected: {now}") from None


async def eventually(check: Callable[[], Awaitable[str | None]], timeout: float) -> None:
    """Wait until ``check`` finds nothing wrong (it returns None), for values read from two
    places that settle at different moments (Redis and the page); else fail with its word.
    """
    deadline = time.monotonic() + timeout
    while (wrong := await check()) is not None:
        assert time.monotonic() < deadline, wrong
        await asyncio.sleep(0.2)


async def test_a_message_typed_in_the_page_gets_a_persona_reply_shown_there(
    sandbox_fleet: SandboxFleet, browser: WebDriver
) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    try:
        await asyncio.to_thread(open_page, browser, discord.base_url + "/")
        await asyncio.to_thread(send_as, browser, "alice", "development", QUESTION)

        # The page really posted it: alice's message is on the server, in #development.
        question = await discord.wait_for_message(
            lambda m: m.content == QUESTION, channel="development", timeout=5
        )
        assert question.author.key == "alice" and not question.author.bot
        assert await asyncio.to_thread(read_message, browser, f"m{question.id}") == (
            "alice",
            "rgba(229, 231, 235, 1)",
            QUESTION,
        )

        node_id = await asyncio.to_thread(
            persona_reply_node_id, browser, "development", f"alice: {QUESTION}"
        )
        label, colour, body = await asyncio.to_thread(read_message, browser, node_id)
        persona, persona_colour = PERSONA_LABELS[label]
        assert colour == persona_colour

        # What the page shows is the fleet's reply to that message, as the server holds it.
        reply = next(m for m in discord.messages() if f"m{m.id}" == node_id)
        assert reply.reference_id == question.id
        assert reply.author.bot and reply.author.key == persona
        users = discord.world.users
        shown = re.sub(r"<@!?(\d+)>", lambda u: "@" + users[int(u[1])].name, reply.content)
        assert body == shown.strip()
        assert [m.id for m in sandbox_fleet.replies_to(question.id)] == [reply.id]

        errors = await asyncio.to_thread(
            lambda: [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".error") if e.text]
        )
        assert errors == []
    finally:
        saved = await keep_screenshot(browser, "sandbox-page.png")
    assert saved, f"could not save {ARTIFACTS / 'sandbox-page.png'}"


async def test_the_fleet_panel_shows_the_phase_tasks_and_budget_the_fleet_has(
    sandbox_fleet: SandboxFleet, browser: WebDriver
) -> None:
    await sandbox_fleet.start()
    process = sandbox_fleet.process
    assert process is not None and process.scheduler is not None
    try:
        await asyncio.to_thread(open_page, browser, sandbox_fleet.discord.base_url + "/")

        # The phase is the scheduler's own: 12:00 in Tokyo is working time, and the panel
        # follows the fleet's clock to the evening without a reload.
        await asyncio.to_thread(wait_for_text, browser, "phase", lambda t: t == "ACTIVE")
        assert process.scheduler.phase is Phase.ACTIVE
        sandbox_fleet.clock.moment = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # 21:00 JST
        await asyncio.to_thread(wait_for_text, browser, "phase", lambda t: t == "FREE", 15)
        assert process.scheduler.phase is Phase.FREE
        note = await asyncio.to_thread(text_of, browser, "phase-note")
        assert note.startswith("evening: social talk in #lounge") and "21:00" in note

        # A task committed through the page shows beside the chat, as the fleet stored it.
        assert "no task yet" in await asyncio.to_thread(text_of, browser, "tasks")
        command = f'/task commit development "{TASK}"'
        await asyncio.to_thread(send_as, browser, "alice", "development", command)
        shown = await asyncio.to_thread(
            wait_for_text, browser, "task-development", lambda t: TASK in t
        )
        assert shown.startswith("#development")
        stored = await FleetState(process.redis, process.keys).tasks()
        assert [(t.channel, t.text) for t in stored] == [("development", TASK)]

        # A reply spends Gemini calls; the panel shows what is left of the fleet's window.
        await asyncio.to_thread(send_as, browser, "bob", "development", QUESTION)
        await asyncio.to_thread(persona_reply_node_id, browser, "development", f"bob: {QUESTION}")
        limiter = process.limiter()

        async def budget_mismatch() -> str | None:
            in_use = await limiter.in_use()
            shown = await asyncio.to_thread(text_of, browser, "budget")
            left = limiter.per_minute - in_use
            expected = f"{left} of {limiter.per_minute} calls left this minute"
            if in_use >= 1 and shown == expected:
                return None
            return f"the page shows {shown!r}; the limiter has {in_use} calls in its window"

        await eventually(budget_mismatch, 10)
    finally:
        saved = await keep_screenshot(browser, "sandbox-panel.png")
    assert saved


def click_pipeline_twice(driver: WebDriver) -> str:
    """Start the pipeline, click again while it runs; return what the page said then."""
    button = driver.find_element(By.ID, "run-pipeline")
    button.click()
    wait_for_text(driver, "pipeline-status", lambda t: t.startswith("running for "), 5)
    button.click()
    return wait_for_text(driver, "pipeline-error", bool, 5)


def pipeline_steps(driver: WebDriver) -> list[str]:
    items = driver.find_elements(By.CSS_SELECTOR, "#pipeline-steps li")
    return [item.get_attribute("textContent") or "" for item in items]


def report_node_id(driver: WebDriver, heading: str) -> str:
    """Wait until SPECTRA's message starting with ``heading`` shows in #command_center."""

    def shown(d: WebDriver) -> str | Literal[False]:
        for node in channel_section(d, "command_center").find_elements(By.CSS_SELECTOR, ".m"):
            who = node.find_element(By.CSS_SELECTOR, ".who").text
            body = node.find_element(By.CSS_SELECTOR, ".body").get_attribute("textContent")
            if who == "🔵 SPECTRA" and (body or "").startswith(heading):
                return node.get_attribute("id") or False
        return False

    wait = WebDriverWait(
        driver, REPLY_TIMEOUT, ignored_exceptions=(StaleElementReferenceException,)
    )
    return wait.until(shown, f"no Daily Report from SPECTRA in #command_center ({heading})")


async def test_run_the_pipeline_now_posts_the_daily_report_in_the_page(
    sandbox_fleet: SandboxFleet,
    browser: WebDriver,
    postgres_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The sandbox logs at INFO, where the pipeline narrates its steps; pytest's default
    # would drop them before the panel saw them.
    caplog.set_level(logging.INFO, logger=PIPELINE_LOGGER)
    settings = sandbox_fleet.settings
    sandbox_fleet.settings = settings.model_copy(update={"POSTGRESQL_URL": SecretStr(postgres_url)})
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    today = datetime.now(settings.zone).date().isoformat()
    try:
        await asyncio.to_thread(open_page, browser, discord.base_url + "/")
        # Today's conversation: one question and the fleet's reply.
        await asyncio.to_thread(send_as, browser, "alice", "development", QUESTION)
        await asyncio.to_thread(persona_reply_node_id, browser, "development", f"alice: {QUESTION}")

        # The model thinks a second per call, so the run lasts long enough to click again.
        sandbox_fleet.gemini.latency_s = 1.0
        said = await asyncio.to_thread(click_pipeline_twice, browser)
        assert said.startswith(f"The 06:00 pipeline is already running for {today}")

        outcome = await asyncio.to_thread(
            wait_for_text,
            browser,
            "pipeline-status",
            lambda t: t.startswith(("completed:", "failed:")),
            PIPELINE_TIMEOUT,
        )
        assert re.match(rf"completed: 長期記憶 for {today}: [1-9]\d* messages, ", outcome), outcome
        assert outcome.endswith("Daily Report queued: SPECTRA posts it in #command_center.")
        # Progress as the pipeline itself tells it, from its first step to the report.
        steps = await asyncio.to_thread(pipeline_steps, browser)
        assert steps[0] == f"長期記憶 start: fleet=e2e day={today}"
        assert any(s.startswith("長期記憶 read ") for s in steps)
        assert any(s.startswith(f"Daily Report queued for {today}: job report:e2e:") for s in steps)

        # The report appears in the chat, posted by SPECTRA as at 06:00, and it counts
        # today's conversation: alice's question is its one message from a member.
        heading = f"📋 **日報 {today}"
        node_id = await asyncio.to_thread(report_node_id, browser, heading)
        report = next(m for m in discord.messages("command_center") if f"m{m.id}" == node_id)
        assert report.author.key == "spectra" and report.content.startswith(heading)
        [embed] = report.embeds
        assert "（メンバー1件・" in embed["fields"][0]["name"]
        body = await asyncio.to_thread(
            lambda: browser.find_element(By.CSS_SELECTOR, f"#{node_id} .body").get_attribute(
                "textContent"
            )
        )
        assert body == report.content
    finally:
        saved = await keep_screenshot(browser, "sandbox-pipeline.png")
    assert saved


class Approve(discord.ui.View):
    """One button; a click answers by replacing the message's text and removing it."""

    @discord.ui.button(label="承認", style=discord.ButtonStyle.primary, custom_id="approve")
    async def approve(
        self, interaction: discord.Interaction, button: discord.ui.Button[Approve]
    ) -> None:
        await interaction.response.edit_message(content="承認されました", view=None)


class Summary(discord.ui.LayoutView):
    """A components-v2 message: only a container of text, no content."""

    def __init__(self) -> None:
        super().__init__()
        self.add_item(
            discord.ui.Container(
                discord.ui.TextDisplay("## 今日のまとめ"),
                discord.ui.TextDisplay("LYNQ と PAZ が担当"),
            )
        )


def send_direct(driver: WebDriver, bot: str, text: str) -> None:
    """Type a direct message to ``bot`` in the page's DM section, as the chosen person."""
    Select(driver.find_element(By.ID, "dm-bot")).select_by_value(bot)
    section = driver.find_element(By.ID, "direct-messages")
    box = section.find_element(By.CSS_SELECTOR, "form input[type=text]")
    box.send_keys(text)
    section.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, 5).until(lambda _: box.get_attribute("value") == "")


def rich_view(driver: WebDriver, message_id: int) -> dict[str, object]:
    """What the page shows of a message: reply preview, body, embed parts, v2 text, buttons."""
    node = driver.find_element(By.ID, f"m{message_id}")

    def texts(selector: str) -> list[str]:
        return [e.text for e in node.find_elements(By.CSS_SELECTOR, selector)]

    embeds = node.find_elements(By.CSS_SELECTOR, ".embed")
    return {
        "ref": texts(".ref"),
        "body": texts(".body"),
        "tags": texts(".where-tag"),
        "embed": texts(".embed-title, .embed-description, .embed-field-name, .embed-field-value"),
        "embed_colour": embeds[0].value_of_css_property("border-left-color") if embeds else None,
        "v2": texts(".text-display"),
        "buttons": texts(".button"),
    }


def loaded_thumbnail(driver: WebDriver, message_id: int) -> list[object] | None:
    """A message's first thumbnail once the browser has loaded it: its size and address."""
    found: list[object] | None = driver.execute_script(
        "const i = document.querySelector(arguments[0]);"
        "if (!i || !i.complete || !i.naturalWidth) return null;"
        "return [i.naturalWidth, i.naturalHeight, i.src];",
        f"#m{message_id} img.thumb",
    )
    return found


async def test_the_page_shows_embeds_v2_text_threads_buttons_images_dms_and_names(
    discord_server: DiscordServer, start_client: StartClient, browser: WebDriver
) -> None:
    spectra = await start_client(Recorder(), "spectra")
    channel = text_channel(spectra, discord_server, "command_center")
    alice = discord_server.user_id("alice")
    question = await discord_server.post_as_human("command_center", "@SPECTRA 日報はまだ？")
    try:
        await asyncio.to_thread(open_page, browser, discord_server.base_url + "/")
        embed = discord.Embed(title="日報", description=f"<@{alice}> への回答", colour=0x3B82F6)
        embed.add_field(name="決定", value="認証はOAuth")
        asked = discord.MessageReference(message_id=question.id, channel_id=channel.id)
        report = await channel.send(embed=embed, reference=asked, view=Approve())
        summary = await channel.send(view=Summary())
        thread = await report.create_thread(name="日報の補足")
        note = await thread.send("補足です")

        settle = WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,))
        await asyncio.to_thread(settle.until, lambda d: d.find_elements(By.ID, f"m{note.id}"))
        assert await asyncio.to_thread(rich_view, browser, report.id) == {
            "ref": ["↪ alice: @SPECTRA 日報はまだ？"],  # the mention as a name, not <@id>
            "body": [""],
            "tags": ["· 🧵 日報の補足"],
            "embed": ["日報", "@alice への回答", "決定", "認証はOAuth"],
            "embed_colour": "rgba(59, 130, 246, 1)",
            "v2": [],
            "buttons": ["承認"],
        }
        summary_view = await asyncio.to_thread(rich_view, browser, summary.id)
        assert summary_view["v2"] == ["## 今日のまとめ", "LYNQ と PAZ が担当"]
        note_view = await asyncio.to_thread(rich_view, browser, note.id)
        assert (note_view["tags"], note_view["body"]) == (["🧵 日報の補足 ›"], ["補足です"])

        # A person clicks the button in the page: the bot's view answers, the page follows.
        button = browser.find_element(By.CSS_SELECTOR, f"#m{report.id} .button")
        await asyncio.to_thread(button.click)
        clicked = await discord_server.wait_for_message(lambda m: m.content == "承認されました")
        assert clicked.id == report.id and clicked.components == []

        def updated(d: WebDriver) -> bool:
            return rich_view(d, report.id)["body"] == ["承認されました"]

        await asyncio.to_thread(settle.until, updated)
        assert (await asyncio.to_thread(rich_view, browser, report.id))["buttons"] == []

        # A person's screenshot shows as a thumbnail the browser loads from the CDN route.
        shot = FileUpload("error.png", image_bytes("PNG", (90, 60)), "image/png", None)
        shared = await discord_server.post_as_human("command_center", "これ見て", files=[shot])
        width, height, src = await asyncio.to_thread(
            settle.until, lambda d: loaded_thumbnail(d, shared.id)
        )
        assert (width, height) == (90, 60)
        assert src == shared.attachments[0].payload(discord_server.base_url)["url"]

        # A DM typed in the page reaches the bot alone; its answer shows beside it.
        await asyncio.to_thread(send_direct, browser, "spectra", "こっそり相談")
        whisper = await spectra.next_message(lambda m: isinstance(m.channel, discord.DMChannel))
        assert whisper.content == "こっそり相談" and whisper.author.id == alice
        answer = await whisper.channel.send("どうしました？")
        await asyncio.to_thread(settle.until, lambda d: d.find_elements(By.ID, f"m{answer.id}"))
        answer_view = await asyncio.to_thread(rich_view, browser, answer.id)
        assert (answer_view["tags"], answer_view["body"]) == (
            ["✉ alice ↔ SPECTRA ›"],
            ["どうしました？"],
        )
    finally:
        saved = await keep_screenshot(browser, "sandbox-rich.png")
    assert saved
