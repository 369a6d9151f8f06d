"""Runs every check concurrently against the configured services and prints the checklist."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from typing import Final

import uvloop

from agentfleet_runtime.config import Settings, read_settings
from agentfleet_runtime.contract import TOKEN_ENV, Env, Role
from agentfleet_runtime.doctor.discord_checks import discord_checks
from agentfleet_runtime.doctor.discord_facts import api_base, fetch_discord_facts
from agentfleet_runtime.doctor.gemini_check import ModelAnswer, ask_models, gemini_checks
from agentfleet_runtime.doctor.report import Check, exit_code, failed, passed, render
from agentfleet_runtime.doctor.stores import (
    PostgresFacts,
    postgres_checks,
    probe_postgres,
    probe_redis,
    redis_check,
)
from agentfleet_runtime.observability.logs import RedactingFilter

CONFIG_SECTION: Final = "Configuration"
_CONFIG_FIX: Final = (
    "Set it in .env (copy .env.example) on a single host; in Kubernetes, in the AgentFleet "
    "resource or the Secrets it names (docs/discord-setup.md, docs/operator.md)."
)


def config_checks(problems: Sequence[str]) -> list[Check]:
    """One failed line per configuration problem, or one line saying there are none."""
    if not problems:
        return [passed(CONFIG_SECTION, "settings", "every setting the fleet needs is set")]
    return [failed(CONFIG_SECTION, "setting", problem, _CONFIG_FIX) for problem in problems]


def _tokens(settings: Settings) -> dict[str, str]:
    """The tokens set for Reception and the enabled personas (held in memory only)."""
    tokens = {}
    for bot in ("reception", *settings.enabled_personas):
        secret = getattr(settings, TOKEN_ENV[bot].value)
        if secret is not None:
            tokens[bot] = secret.get_secret_value()
    return tokens


async def _models(settings: Settings) -> list[ModelAnswer]:
    return await ask_models(settings) if settings.GEMINI_API_KEY is not None else []


async def _postgres(url: str | None) -> PostgresFacts | None:
    return await probe_postgres(url) if url is not None else None


async def diagnose(settings: Settings, problems: Sequence[str]) -> list[Check]:
    """Ask Discord, Gemini, Redis and PostgreSQL at once; return every check in order."""
    checks = config_checks(problems)
    try:
        api_base(settings)
    except ValueError as error:
        # Discord cannot be asked at all; everything else still can.
        fix = "Unset it to use Discord, or give the Discord-compatible server's URL."
        checks.append(failed(CONFIG_SECTION, Env.DISCORD_API_BASE_URL.value, str(error), fix))
        discord = None
    else:
        discord = fetch_discord_facts(settings, _tokens(settings))
    redis_url = settings.REDIS_URL.get_secret_value()
    postgres_url = settings.POSTGRESQL_URL.get_secret_value() if settings.POSTGRESQL_URL else None
    facts, models, redis, postgres = await asyncio.gather(
        discord if discord is not None else asyncio.sleep(0),
        _models(settings),
        probe_redis(redis_url),
        _postgres(postgres_url),
    )
    if facts is not None:
        checks += discord_checks(facts)
    checks += gemini_checks(settings.GEMINI_API_KEY is not None, models)
    checks.append(redis_check(redis_url, redis))
    checks += postgres_checks(postgres_url, postgres)
    return checks


def run_doctor(argv: Sequence[str] = ()) -> int:
    """``agentfleet doctor [--env-file PATH]``: print the checklist, return the exit code."""
    parser = argparse.ArgumentParser(
        prog="agentfleet doctor",
        description="Check the fleet's configuration against Discord, Gemini, Redis and "
        "PostgreSQL; exit 1 if any check fails.",
    )
    parser.add_argument("--env-file", default=".env", help="read after the environment")
    args = parser.parse_args(list(argv))
    settings, problems = read_settings(Role.ALL_IN_ONE, env_file=args.env_file)
    checks = uvloop.run(diagnose(settings, problems))
    print("agentfleet doctor: the settings this process reads (environment, then .env)\n")
    # Every check is written not to print secrets; redacting them anyway costs nothing.
    print(RedactingFilter(settings.secret_values()).redact(render(checks)))
    return exit_code(checks)
