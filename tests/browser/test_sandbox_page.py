"""The sandbox page as a person uses it: headless Chromium, a message typed, a reply seen.

Debian's chromium and chromium-driver are driven through selenium with an explicit driver
path, so Selenium Manager never looks for (or downloads) a browser. Selenium's calls block:
they run in a thread while the event loop serves the page and runs the fleet. The final
screenshot is kept in test-artifacts/ whether the test passes or fails.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.fixtures.sandbox import SandboxFleet

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[2] / "test-artifacts" / "sandbox-page.png"
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
REPLY_TIMEOUT = 20.0


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
        # Kept on success too; a failure to save must not hide the test's own failure.
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        saved = await asyncio.to_thread(browser.save_screenshot, str(SCREENSHOT))
    assert saved, f"could not save {SCREENSHOT}"
