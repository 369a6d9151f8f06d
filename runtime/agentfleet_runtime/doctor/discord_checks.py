"""The Discord checks: pure functions from :class:`DiscordFacts` to checklist lines.

Each failure's fix names the Developer Portal page, the server setting or the variable to
change, because a person reading it has the portal open, not this code. Where a value
goes: ``.env`` on a single host; in Kubernetes the tokens live in the Secret that
``spec.discord.tokensSecretRef`` names and the ids in the AgentFleet's ``spec.discord``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from agentfleet_runtime.brain.personas import PERSONAS
from agentfleet_runtime.contract import TOKEN_ENV
from agentfleet_runtime.doctor import permissions as perms
from agentfleet_runtime.doctor.discord_facts import BotFacts, DiscordFacts, GuildFacts, Reply
from agentfleet_runtime.doctor.report import Check, failed, passed, skipped

BOTS_SECTION: Final = "Discord bots"
SERVER_SECTION: Final = "Discord server"

#: Application flags of the Message Content intent (GET /applications/@me ``flags``): a
#: verified app gets the first, an unverified one (under 100 servers) the second.
GATEWAY_MESSAGE_CONTENT: Final = 1 << 18
GATEWAY_MESSAGE_CONTENT_LIMITED: Final = 1 << 19
#: Channel types a bot can post in like a text channel.
TEXT_CHANNEL_TYPES: Final = {0: "text channel", 5: "announcement channel"}
_CHANNEL_TYPE_NAMES: Final = {2: "voice channel", 4: "category", 13: "stage", 15: "forum"}
_IN_K8S: Final = "in Kubernetes, the Secret that spec.discord.tokensSecretRef names"


def label(bot: str) -> str:
    """How people name the bot: Reception, SPECTRA, LYNQ, PAZ."""
    return PERSONAS[bot].display_name if bot in PERSONAS else bot.capitalize()


def invite_url(application_id: int | None, guild_id: int | None) -> str:
    """The OAuth2 URL that adds a bot with the fleet's permissions and /task's scope."""
    client = application_id if application_id is not None else "<application id>"
    url = (
        f"https://discord.com/oauth2/authorize?client_id={client}"
        f"&scope=bot+applications.commands&permissions={perms.INVITE_PERMISSIONS}"
    )
    return f"{url}&guild_id={guild_id}" if guild_id is not None else url


def discord_checks(facts: DiscordFacts) -> list[Check]:
    """Every Discord line, in the order a person would fix them."""
    # A persona's Pod holds no Reception token: its intent and /task are not its to check.
    reception = next((bot for bot in facts.bots if bot.bot == "reception"), None)
    checks = token_checks(facts.bots)
    if reception is not None:
        checks.append(intent_check(reception))
    checks.append(guild_check(facts))
    if facts.guild is not None and facts.guild.guild.ok:
        checks += channel_checks(facts.guild, facts.channel_ids)
        checks += [member_check(bot, facts.guild, facts.channel_ids) for bot in facts.bots]
        if reception is not None:
            checks.append(command_check(facts.guild, reception))
    return checks


def token_checks(bots: Sequence[BotFacts]) -> list[Check]:
    """Each token: valid, whose bot, and not shared with another role."""
    checks: list[Check] = []
    owners: dict[int, str] = {}
    for bot in bots:
        env = TOKEN_ENV[bot.bot].value
        name = label(bot.bot)
        if bot.me is None:
            checks.append(skipped(BOTS_SECTION, env, "not set (see Configuration)"))
        elif bot.me.status == 401:
            checks.append(
                failed(
                    BOTS_SECTION,
                    env,
                    "Discord rejects this token (401 Unauthorized): mistyped, or reset since",
                    f"Developer Portal → the {name} application → Bot → Reset Token; put "
                    f"the new token in {env} (.env; {_IN_K8S}) and restart the fleet.",
                )
            )
        elif not bot.me.ok:
            checks.append(_unreachable(env, bot.me))
        elif bot.user_id in owners:
            other = owners[bot.user_id]
            checks.append(
                failed(
                    BOTS_SECTION,
                    env,
                    f"the same bot ({bot.username}, id {bot.user_id}) as "
                    f"{TOKEN_ENV[other].value}: two roles cannot share one bot",
                    f"Create a separate application for {name} in the Developer Portal, "
                    f"invite its bot, and put its own token in {env}.",
                )
            )
        else:
            assert bot.user_id is not None
            owners[bot.user_id] = bot.bot
            checks.append(passed(BOTS_SECTION, env, f"bot {bot.username} (id {bot.user_id})"))
    return checks


def _unreachable(title: str, reply: Reply) -> Check:
    return failed(
        BOTS_SECTION,
        title,
        f"Discord did not answer as expected: {reply.describe()}",
        "Check the network path to discord.com (proxy, firewall, egress policy) and, if "
        "set, DISCORD_API_BASE_URL; then run the doctor again.",
    )


def intent_check(reception: BotFacts) -> Check:
    """Reception reads what people write: its app needs the Message Content intent."""
    title = "Message Content intent (Reception)"
    app = reception.application
    if not reception.valid or app is None:
        return skipped(BOTS_SECTION, title, "needs a valid DISCORD_RECEPTION_TOKEN")
    if not app.ok:
        return _unreachable(title, app)
    flags = int(app.body.get("flags") or 0)
    if flags & GATEWAY_MESSAGE_CONTENT:
        return passed(BOTS_SECTION, title, "on (GATEWAY_MESSAGE_CONTENT)")
    if flags & GATEWAY_MESSAGE_CONTENT_LIMITED:
        return passed(BOTS_SECTION, title, "on (GATEWAY_MESSAGE_CONTENT_LIMITED)")
    return failed(
        BOTS_SECTION,
        title,
        "off: Discord would close Reception's connection (4014 Disallowed intent(s))",
        "Developer Portal → the Reception application → Bot → Privileged Gateway Intents → "
        "turn on MESSAGE CONTENT INTENT → Save Changes, then restart the fleet.",
    )


def guild_check(facts: DiscordFacts) -> Check:
    """The guild is known (DISCORD_GUILD_ID or the channels') and a bot can read it."""
    title = "guild"
    guild = facts.guild
    if not any(bot.valid for bot in facts.bots):
        return skipped(SERVER_SECTION, title, "needs at least one valid bot token")
    if guild is None:
        why = facts.guild_lookup.describe() if facts.guild_lookup else "no channel id is set"
        return failed(
            SERVER_SECTION,
            title,
            f"DISCORD_GUILD_ID is not set and no configured channel could be read ({why})",
            "Turn on Developer Mode (User Settings → Advanced), right-click the server icon "
            "→ Copy Server ID, and set DISCORD_GUILD_ID (spec.discord.guildId).",
        )
    source = "DISCORD_GUILD_ID" if guild.from_setting else "the channels' guild"
    if not guild.guild.ok:
        return failed(
            SERVER_SECTION,
            title,
            f"{guild.guild_id} (from {source}): no bot can read it ({guild.guild.describe()})",
            "Check the id (right-click the server icon → Copy Server ID) and invite the bots "
            f"with {invite_url(None, guild.guild_id)} (one per application's client_id).",
        )
    name = guild.guild.body.get("name", "?")
    return passed(SERVER_SECTION, title, f"{name} (id {guild.guild_id}, from {source})")


def _listed_channels(guild: GuildFacts) -> dict[int, dict[str, Any]]:
    body = guild.channels.body if guild.channels is not None and guild.channels.ok else []
    return {int(c["id"]): c for c in body if isinstance(c, dict)}


def channel_checks(guild: GuildFacts, channel_ids: Mapping[str, int]) -> list[Check]:
    """Each configured channel exists, is a text channel and belongs to the guild."""
    listed = _listed_channels(guild)
    checks = []
    for name, channel_id in channel_ids.items():
        env = f"{name.upper()}_CHANNEL_ID"
        title = f"#{name} ({env})"
        channel = listed.get(channel_id)
        if channel is None:
            checks.append(_missing_channel(title, env, channel_id, guild))
            continue
        kind = int(channel.get("type", -1))
        if kind not in TEXT_CHANNEL_TYPES:
            what = _CHANNEL_TYPE_NAMES.get(kind, f"channel of type {kind}")
            checks.append(
                failed(
                    SERVER_SECTION,
                    title,
                    f"{channel_id} is a {what} (#{channel.get('name')}), not a text channel",
                    f"Right-click the text channel for {name} → Copy Channel ID, set {env}.",
                )
            )
            continue
        detail = f"{TEXT_CHANNEL_TYPES[kind]} #{channel.get('name')} (id {channel_id})"
        checks.append(passed(SERVER_SECTION, title, detail))
    return checks


def _missing_channel(title: str, env: str, channel_id: int, guild: GuildFacts) -> Check:
    """A configured id that is not among the guild's channels: unknown, or elsewhere."""
    lookup = guild.lookups.get(channel_id, Reply(0, error="not looked up"))
    fix = (
        "Turn on Developer Mode (User Settings → Advanced), right-click the channel in "
        f"this server → Copy Channel ID, and set {env} (spec.discord.channels)."
    )
    if lookup.ok:
        where = lookup.body.get("guild_id")
        why = f"{channel_id} is a channel of another guild ({where}), not {guild.guild_id}"
    elif lookup.code == 10003:
        why = f"{channel_id} is not a channel Discord knows (404 Unknown Channel)"
    else:
        why = f"{channel_id} is not in the guild ({lookup.describe()})"
    return failed(SERVER_SECTION, title, why, fix)


def member_check(bot: BotFacts, guild: GuildFacts, channel_ids: Mapping[str, int]) -> Check:
    """The bot is in the guild and holds what it needs in every configured channel."""
    name = label(bot.bot)
    title = f"{name} in the server"
    member = guild.members.get(bot.bot)
    if member is None:
        return skipped(SERVER_SECTION, title, f"needs a valid {TOKEN_ENV[bot.bot].value}")
    invite = invite_url(bot.application_id, guild.guild_id)
    if not member.ok:
        return failed(
            SERVER_SECTION,
            title,
            f"not a member of the guild ({member.describe()})",
            f"Invite the bot (as the server's owner or a manager): {invite}",
        )
    lacking = _lacking(bot, member.body, guild, channel_ids)
    needed = ", ".join(perms.names(perms.needs(bot.bot)))
    if not lacking:
        return passed(SERVER_SECTION, title, f"member; {needed} in every fleet channel")
    missing = "; ".join(f"#{channel} lacks {', '.join(gaps)}" for channel, gaps in lacking)
    return failed(
        SERVER_SECTION,
        title,
        missing,
        f"For each channel named: Edit Channel (its gear) → Permissions → allow {needed} "
        f"for {name} (or its role), and remove any overwrite that denies them.",
    )


def _lacking(
    bot: BotFacts, member: dict[str, Any], guild: GuildFacts, channel_ids: Mapping[str, int]
) -> list[tuple[str, list[str]]]:
    """(channel, missing permission names) for each channel where the bot lacks something."""
    assert bot.user_id is not None
    body = guild.guild.body
    roles = {int(r["id"]): int(r.get("permissions") or 0) for r in body.get("roles", [])}
    who = perms.Member(bot.user_id, frozenset(int(r) for r in member.get("roles", [])))
    listed = _listed_channels(guild)
    lacking = []
    for name, channel_id in channel_ids.items():
        channel = listed.get(channel_id)
        if channel is None:
            continue  # reported by the channel checks
        have = perms.channel_permissions(
            who,
            guild_id=guild.guild_id,
            owner_id=int(body.get("owner_id") or 0),
            role_permissions=roles,
            overwrites=[_overwrite(o) for o in channel.get("permission_overwrites", [])],
        )
        gaps = perms.names(perms.needs(bot.bot) & ~have)
        if gaps:
            lacking.append((name, gaps))
    return lacking


def _overwrite(raw: Mapping[str, Any]) -> perms.Overwrite:
    return perms.Overwrite(
        int(raw["id"]),
        int(raw.get("type", 0)),
        int(raw.get("allow") or 0),
        int(raw.get("deny") or 0),
    )


def command_check(guild: GuildFacts, reception: BotFacts) -> Check:
    """``/task`` is registered for Reception's app, in the guild or globally."""
    title = "/task slash command"
    if not guild.commands:
        return skipped(SERVER_SECTION, title, "needs a valid DISCORD_RECEPTION_TOKEN")
    scopes = ("in the guild", "globally")
    for scope, reply in zip(scopes, guild.commands, strict=False):
        if reply.ok and any(c.get("name") == "task" for c in reply.body):
            return passed(SERVER_SECTION, title, f"registered {scope}")
    errors = [r.describe() for r in guild.commands if not r.ok]
    why = f" ({'; '.join(errors)})" if errors else ""
    return failed(
        SERVER_SECTION,
        title,
        f"not registered for Reception's application{why}",
        "Start the fleet once: Reception registers /task when it logs in (in "
        "DISCORD_GUILD_ID's guild, else in every guild it joins). If it still is missing, "
        "re-invite Reception with the applications.commands scope: "
        f"{invite_url(reception.application_id, guild.guild_id)}",
    )
