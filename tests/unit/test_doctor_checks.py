"""The doctor's judgements, fed facts directly: permissions as Discord computes them, Gemini
answers told apart, the checklist's shape and exit code."""

from __future__ import annotations

from agentfleet_runtime.doctor import permissions as perms
from agentfleet_runtime.doctor.discord_checks import invite_url, token_checks
from agentfleet_runtime.doctor.discord_facts import BotFacts, Reply
from agentfleet_runtime.doctor.gemini_check import ModelAnswer, gemini_checks
from agentfleet_runtime.doctor.report import Status, exit_code, failed, passed, render, skipped
from agentfleet_runtime.doctor.stores import where

GUILD, OWNER, BOT, ROLE = 1000, 2000, 3000, 4000
EVERYONE_CAN = perms.VIEW_CHANNEL | perms.SEND_MESSAGES | perms.READ_MESSAGE_HISTORY


def in_channel(*overwrites: perms.Overwrite, roles: dict[int, int] | None = None) -> int:
    member = perms.Member(BOT, frozenset({ROLE}))
    return perms.channel_permissions(
        member,
        guild_id=GUILD,
        owner_id=OWNER,
        role_permissions=roles if roles is not None else {GUILD: EVERYONE_CAN},
        overwrites=overwrites,
    )


def test_overwrites_apply_everyone_then_roles_then_the_member() -> None:
    deny_everyone = perms.Overwrite(GUILD, perms.OVERWRITE_ROLE, 0, perms.SEND_MESSAGES)
    allow_role = perms.Overwrite(ROLE, perms.OVERWRITE_ROLE, perms.SEND_MESSAGES, 0)
    deny_member = perms.Overwrite(BOT, perms.OVERWRITE_MEMBER, 0, perms.SEND_MESSAGES)

    assert in_channel() == EVERYONE_CAN
    assert not in_channel(deny_everyone) & perms.SEND_MESSAGES
    assert in_channel(deny_everyone, allow_role) & perms.SEND_MESSAGES  # role beats @everyone
    assert not in_channel(deny_everyone, allow_role, deny_member) & perms.SEND_MESSAGES
    # A member overwrite with the bot's id but role type is a role overwrite, not the bot's.
    as_role = perms.Overwrite(BOT, perms.OVERWRITE_ROLE, 0, perms.SEND_MESSAGES)
    assert in_channel(as_role) & perms.SEND_MESSAGES


def test_no_view_means_nothing_and_administrators_ignore_overwrites() -> None:
    hide = perms.Overwrite(GUILD, perms.OVERWRITE_ROLE, 0, perms.VIEW_CHANNEL)
    assert in_channel(hide) == 0
    admin = {GUILD: EVERYONE_CAN, ROLE: perms.ADMINISTRATOR}
    assert in_channel(hide, roles=admin) == perms.ALL
    assert in_channel(hide, roles={GUILD: 0}) == 0


def test_what_each_bot_needs_and_the_invite_url() -> None:
    assert perms.names(perms.needs("reception")) == ["View Channel", "Read Message History"]
    assert perms.needs("paz") == perms.PERSONA_NEEDS
    assert perms.INVITE_PERMISSIONS == 68608  # the number docs/discord-setup.md gives
    assert invite_url(42, 7) == (
        "https://discord.com/oauth2/authorize?client_id=42"
        "&scope=bot+applications.commands&permissions=68608&guild_id=7"
    )


def me(user_id: int, name: str) -> Reply:
    return Reply(200, {"id": str(user_id), "username": name})


def test_tokens_are_named_by_their_bot_and_sharing_one_fails() -> None:
    checks = token_checks(
        [
            BotFacts("reception", me(1, "Reception")),
            BotFacts("spectra", me(2, "SPECTRA")),
            BotFacts("lynq", me(2, "SPECTRA")),
            BotFacts("paz", Reply(401, {"message": "401: Unauthorized", "code": 0})),
        ]
    )
    assert [c.status for c in checks] == [
        Status.PASSED,
        Status.PASSED,
        Status.FAILED,
        Status.FAILED,
    ]
    assert checks[0].detail == "bot Reception (id 1)"
    assert "DISCORD_SPECTRA_TOKEN" in checks[2].detail
    assert "Reset Token" in checks[3].fix


def test_a_bad_key_and_an_unknown_model_are_different_failures() -> None:
    ok = ModelAnswer(
        "GEMINI_EMBEDDING_MODEL", "gemini-embedding-001", 200, methods=("embedContent",)
    )
    unknown = ModelAnswer("GEMINI_MODEL", "gemini-x", 404, "NOT_FOUND")
    key, model, embedding = gemini_checks(True, [unknown, ok])
    assert (key.status, model.status, embedding.status) == (
        Status.PASSED,
        Status.FAILED,
        Status.PASSED,
    )

    bad = ModelAnswer("GEMINI_MODEL", "gemini-x", 400, "INVALID_ARGUMENT", "API_KEY_INVALID")
    key, *models = gemini_checks(True, [bad, bad])
    assert key.failed and "API_KEY_INVALID" in key.detail
    assert {m.status for m in models} == {Status.SKIPPED}

    chat_only = ModelAnswer(
        "GEMINI_EMBEDDING_MODEL", "gemini-3.8-flash", 200, methods=("generateContent",)
    )
    assert gemini_checks(True, [chat_only])[1].detail == "exists but does not support embedContent"
    assert gemini_checks(False, [])[0].status is Status.SKIPPED


def test_the_checklist_prints_fixes_under_failures_and_exits_non_zero() -> None:
    checks = [
        passed("Stores", "Redis", "PING answered"),
        failed("Stores", "PostgreSQL", "cannot connect", "Start PostgreSQL."),
        skipped("Gemini", "GEMINI_API_KEY", "not set"),
    ]
    assert render(checks).splitlines() == [
        "Stores",
        "  ✓ Redis: PING answered",
        "  ✗ PostgreSQL: cannot connect",
        "      fix: Start PostgreSQL.",
        "",
        "Gemini",
        "  – GEMINI_API_KEY: not set",
        "",
        "1 check(s) failed; fix them from the top (later ones may follow).",
    ]
    assert exit_code(checks) == 1
    assert exit_code([checks[0], checks[2]]) == 0
    assert render([checks[0], checks[2]]).endswith("All 1 checks that ran passed (1 skipped).")


def test_store_locations_never_show_a_password() -> None:
    assert where("redis://:s3cret@redis.internal:6380/0") == "redis.internal:6380/0"
    assert where("postgresql://app:s3cret@db:5432/agentfleet") == "db:5432/agentfleet"
    assert where("postgresql://postgres:@/test?host=/tmp/pg") == "/tmp/pg/test"
