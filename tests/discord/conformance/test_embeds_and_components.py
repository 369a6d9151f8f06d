"""Embeds and components through discord.py's own API: sent, echoed, seen, edited, refused.

Each test sends what a bot author writes (``channel.send(embed=..., view=...)``,
``message.edit``, a LayoutView) so a discord.py upgrade that changes the request it builds
shows up here, and reads the result back the three ways a bot can: the REST answer, the
gateway event another bot receives, and the channel history.
"""

from __future__ import annotations

import logging

import discord
import pytest

from agentfleet_sandbox.discord_server import DiscordServer
from tests.discord.conformance.clients import Observer
from tests.discord.test_server import Recorder
from tests.fixtures.discord import StartClient as Start
from tests.fixtures.discord import text_channel

SERVER_LOGGER = "agentfleet_sandbox.discord_server.server"


def report_embed() -> discord.Embed:
    embed = discord.Embed(
        title="日報 2026-12-01",
        description="今日の議題と決定事項",
        colour=discord.Colour(0x3B82F6),
    )
    embed.add_field(name="決定", value="認証はOAuthで進める", inline=False)
    embed.add_field(name="担当", value="<@1> LYNQ", inline=True)
    embed.set_footer(text="SPECTRA")
    return embed


async def test_an_embed_is_echoed_dispatched_kept_in_history_and_replaced_by_an_edit(
    discord_server: DiscordServer, start_client: Start
) -> None:
    observer = await start_client(Observer(), "reception")
    spectra = await start_client(Recorder(), "spectra")
    channel = text_channel(spectra, discord_server, "command_center")

    sent = await channel.send(embed=report_embed())

    [echoed] = sent.embeds
    assert (echoed.title, echoed.colour) == ("日報 2026-12-01", discord.Colour(0x3B82F6))
    assert [(f.name, f.value, f.inline) for f in echoed.fields] == [
        ("決定", "認証はOAuthで進める", False),
        ("担当", "<@1> LYNQ", True),
    ]
    assert echoed.footer.text == "SPECTRA" and sent.content == ""
    seen = await observer.next_message(lambda m: m.id == sent.id)
    assert [e.to_dict() for e in seen.embeds] == [echoed.to_dict()]
    [from_history] = [m async for m in channel.history(limit=1)]
    assert from_history.embeds[0].description == "今日の議題と決定事項"

    revised = await sent.edit(embed=discord.Embed(title="日報（改訂）"))
    assert [e.title for e in revised.embeds] == ["日報（改訂）"]
    edit = await observer.until(lambda: next(iter(observer.edited), None))
    assert [e.title for e in edit.embeds] == ["日報（改訂）"] and edit.edited_at is not None
    assert discord_server.messages("command_center")[0].embeds[0]["title"] == "日報（改訂）"


class Vote(discord.ui.View):
    """A v1 view: a button row and a select, as most bots still send."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.picked: list[str] = []

    @discord.ui.button(label="賛成", style=discord.ButtonStyle.success, custom_id="vote:yes")
    async def yes(self, interaction: discord.Interaction, button: discord.ui.Button[Vote]) -> None:
        # Callback 7: the clicked message itself changes, its buttons gone.
        await interaction.response.edit_message(content="賛成で決まり", view=None)

    @discord.ui.select(
        custom_id="vote:who",
        placeholder="担当",
        options=[discord.SelectOption(label=n, value=n) for n in ("LYNQ", "PAZ")],
    )
    async def who(self, interaction: discord.Interaction, select: discord.ui.Select[Vote]) -> None:
        self.picked = list(select.values)
        # Callback 6, then an edit of @original: the clicked message is what changes.
        await interaction.response.defer()
        await interaction.edit_original_response(content=f"担当: {select.values[0]}")


async def test_buttons_and_selects_reach_the_view_and_update_the_clicked_message(
    discord_server: DiscordServer, start_client: Start
) -> None:
    observer = await start_client(Observer(), "reception")
    lynq = await start_client(Recorder(), "lynq")
    channel = text_channel(lynq, discord_server, "development")
    view = Vote()

    sent = await channel.send("どうする？", view=view)

    seen = await observer.next_message(lambda m: m.id == sent.id)
    [buttons, select] = seen.components
    assert isinstance(buttons, discord.ActionRow) and isinstance(select, discord.ActionRow)
    labels = [(c.label, c.custom_id) for c in buttons.children if isinstance(c, discord.Button)]
    assert labels == [("賛成", "vote:yes")]
    assert isinstance(select.children[0], discord.SelectMenu)
    assert [o.value for o in select.children[0].options] == ["LYNQ", "PAZ"]

    picked = await discord_server.use_component(sent.id, "vote:who", user="bob", values=["PAZ"])
    await discord_server.wait_for(
        lambda: discord_server.world.messages[sent.id].content == "担当: PAZ"
    )
    assert view.picked == ["PAZ"]
    assert discord_server.interaction(picked.id).callback_type == 6

    clicked = await discord_server.use_component(sent.id, "vote:yes")
    edit = await observer.until(
        lambda: next((m for m in observer.edited if m.content == "賛成で決まり"), None)
    )
    assert edit.id == sent.id and edit.components == []
    assert discord_server.interaction(clicked.id).callback_type == 7
    # The buttons are gone: nobody can click them again.
    with pytest.raises(ValueError, match="no button or select 'vote:yes'"):
        await discord_server.use_component(sent.id, "vote:yes")


class Card(discord.ui.LayoutView):
    """A components-v2 layout: a container with text, a section with a button beside it."""

    def __init__(self, heading: str) -> None:
        super().__init__(timeout=None)
        self.clicks = 0
        more: discord.ui.Button[Card] = discord.ui.Button(label="詳しく", custom_id="card:more")
        more.callback = self.more  # type: ignore[method-assign]
        self.add_item(
            discord.ui.Container(
                discord.ui.TextDisplay(f"## {heading}"),
                discord.ui.Section(discord.ui.TextDisplay("<@1> が担当"), accessory=more),
                accent_colour=discord.Colour(0xEAB308),
            )
        )

    async def more(self, interaction: discord.Interaction) -> None:
        self.clicks += 1
        await interaction.response.send_message("詳細はスレッドで", ephemeral=True)


async def test_a_components_v2_message_without_content_is_valid_and_editable(
    discord_server: DiscordServer, start_client: Start
) -> None:
    observer = await start_client(Observer(), "reception")
    paz = await start_client(Recorder(), "paz")
    channel = text_channel(paz, discord_server, "creation")
    card = Card("新しいアイデア")

    sent = await channel.send(view=card)

    assert sent.flags.components_v2 and sent.content == ""
    seen = await observer.next_message(lambda m: m.id == sent.id)
    [container] = seen.components
    assert isinstance(container, discord.components.Container)
    texts = [c.content for c in container.children if isinstance(c, discord.TextDisplay)]
    assert texts == ["## 新しいアイデア"]
    stored = discord_server.world.messages[sent.id]
    assert [c["id"] for c in stored.components] == [1]  # ids given as Discord gives them

    clicked = await discord_server.use_component(sent.id, "card:more")
    reply = await discord_server.wait_for_interaction_reply(clicked.id)
    assert card.clicks == 1 and reply.content == "詳細はスレッドで" and reply.ephemeral

    edited = await sent.edit(view=Card("アイデア（改訂）"))
    assert edited.flags.components_v2
    edit = await observer.until(lambda: next(iter(observer.edited), None))
    [container] = edit.components
    assert isinstance(container, discord.components.Container)
    assert isinstance(container.children[0], discord.TextDisplay)
    assert container.children[0].content == "## アイデア（改訂）"


async def refused(send: object) -> discord.HTTPException:
    """Await a send or edit that must fail; return discord.py's exception for it."""
    with pytest.raises(discord.HTTPException) as caught:
        await send  # type: ignore[misc]
    return caught.value


async def test_discords_limits_are_refused_with_the_field_named_and_logged(
    discord_server: DiscordServer, start_client: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=SERVER_LOGGER)
    lynq = await start_client(Recorder(), "lynq")
    channel = text_channel(lynq, discord_server, "development")

    too_long = [discord.Embed(description="長" * 4000), discord.Embed(description="長" * 2001)]
    error = await refused(channel.send(embeds=too_long))
    assert (error.status, error.code) == (400, 50035)
    assert "Embed size exceeds maximum size of 6000" in error.text
    crowded = discord.Embed(title="多すぎる")
    for n in range(26):
        crowded.add_field(name=f"f{n}", value="v")
    error = await refused(channel.send(embed=crowded))
    assert "embeds.0.fields" in error.text and "25 or fewer" in error.text
    # discord.py's types forbid content with a LayoutView; an untyped bot sends it anyway.
    with_text = channel.send("本文", view=Card("v2には本文を付けられない"))  # type: ignore[call-overload]
    error = await refused(with_text)
    assert "IS_COMPONENTS_V2" in error.text
    assert discord_server.messages("development") == []

    # A v2 message cannot be edited back into plain content either.
    card = await channel.send(view=Card("案"))
    error = await refused(card.edit(content="本文"))
    assert (error.status, error.code) == (400, 50035)
    error = await refused(card.edit(view=None))
    assert (error.status, error.code) == (400, 50006)  # nothing left to show

    refusals = [r.getMessage() for r in caplog.records if "-> 400" in r.getMessage()]
    assert refusals[0] == (
        "sandbox: POST /channels/{channel_id}/messages -> 400 Invalid Form Body (code 50035): "
        "embeds: Embed size exceeds maximum size of 6000"
    )
    assert refusals[-1].startswith(
        "sandbox: PATCH /channels/{channel_id}/messages/{message_id} -> 400 "
        "Cannot send an empty message (code 50006)"
    )
    assert len(refusals) == 5
    # Text-to-speech is accepted but not modelled: the log says so once, not per send.
    await channel.send("読み上げて", tts=True)
    await channel.send("もう一度", tts=True)
    noted = [r.getMessage() for r in caplog.records if "does not model" in r.getMessage()]
    assert noted == [
        "sandbox: POST /channels/{channel_id}/messages accepted field 'tts' but does not "
        "model it (noted once)"
    ]
