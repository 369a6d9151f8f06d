"""Runs every check concurrently against the configured services and prints the checklist."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import uvloop

from agentfleet_runtime.config import Settings, read_settings
from agentfleet_runtime.contract import PERSONAS, TOKEN_ENV, Env, Role
from agentfleet_runtime.doctor.discord_checks import discord_checks
from agentfleet_runtime.doctor.discord_facts import DiscordFacts, api_base, fetch_discord_facts
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


@dataclass(frozen=True, slots=True)
class Scope:
    """What one role uses, hence what the doctor checks for it.

    Each Pod of a fleet holds only its own role's secrets (reception: its token and the
    stores; a persona: its token and the Gemini key), so the doctor run inside a Pod checks
    that role's part; the default, all-in-one, checks everything.
    """

    bots: tuple[str, ...]
    gemini: bool


def scope_for(settings: Settings, role: Role, persona: str | None) -> Scope:
    """The bots and services ``role`` (and ``persona``) uses."""
    bots: tuple[str, ...] = ()
    if role is Role.ALL_IN_ONE:
        bots = ("reception", *settings.enabled_personas)
    elif role is Role.RECEPTION:
        bots = ("reception",)
    elif role is Role.PERSONA and persona is not None:
        bots = (persona,)
    return Scope(bots, role in (Role.ALL_IN_ONE, Role.PERSONA, Role.PIPELINE))


def _tokens(settings: Settings, bots: Sequence[str]) -> dict[str, str]:
    """The tokens that are set, of ``bots`` (held in memory only)."""
    tokens = {}
    for bot in bots:
        secret = getattr(settings, TOKEN_ENV[bot].value)
        if secret is not None:
            tokens[bot] = secret.get_secret_value()
    return tokens


async def _discord(settings: Settings, scope: Scope) -> DiscordFacts | None:
    if not scope.bots:
        return None
    return await fetch_discord_facts(settings, scope.bots, _tokens(settings, scope.bots))


async def _models(settings: Settings, scope: Scope) -> list[ModelAnswer]:
    if not scope.gemini or settings.GEMINI_API_KEY is None:
        return []
    return await ask_models(settings)


async def _postgres(url: str | None) -> PostgresFacts | None:
    return await probe_postgres(url) if url is not None else None


async def diagnose(settings: Settings, problems: Sequence[str], scope: Scope) -> list[Check]:
    """Ask Discord, Gemini, Redis and PostgreSQL at once; return every check in order."""
    checks = config_checks(problems)
    try:
        api_base(settings)
    except ValueError as error:
        # Discord cannot be asked at all; everything else still can.
        fix = "Unset it to use Discord, or give the Discord-compatible server's URL."
        checks.append(failed(CONFIG_SECTION, Env.DISCORD_API_BASE_URL.value, str(error), fix))
        scope = Scope((), scope.gemini)
    redis_url = settings.REDIS_URL.get_secret_value()
    postgres_url = settings.POSTGRESQL_URL.get_secret_value() if settings.POSTGRESQL_URL else None
    discord, models, redis, postgres = await asyncio.gather(
        _discord(settings, scope),
        _models(settings, scope),
        probe_redis(redis_url),
        _postgres(postgres_url),
    )
    if discord is not None:
        checks += discord_checks(discord)
    if scope.gemini:
        checks += gemini_checks(settings.GEMINI_API_KEY is not None, models)
    checks.append(redis_check(redis_url, redis))
    checks += postgres_checks(postgres_url, postgres)
    return checks


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="agentfleet doctor",
        description="Check the fleet's configuration against Discord, Gemini, Redis and "
        "PostgreSQL; exit 1 if any check fails.",
    )
    parser.add_argument("--env-file", default=".env", help="read after the environment")
    parser.add_argument(
        "--role",
        default=Role.ALL_IN_ONE.value,
        choices=[r.value for r in Role],
        help="check only what this role uses (inside one of a cluster's Pods)",
    )
    parser.add_argument("--persona", choices=PERSONAS, help="with --role persona")
    args = parser.parse_args(list(argv))
    if args.role == Role.PERSONA.value and args.persona is None:
        parser.error("--role persona needs --persona spectra|lynq|paz")
    return args


def run_doctor(argv: Sequence[str] = ()) -> int:
    """``agentfleet doctor [--env-file PATH] [--role ROLE [--persona P]]``: print, exit code."""
    args = _parse(argv)
    role = Role(args.role)
    settings, problems = read_settings(role, args.persona, env_file=args.env_file)
    checks = uvloop.run(diagnose(settings, problems, scope_for(settings, role, args.persona)))
    heading = f"agentfleet doctor ({role.value}): the settings this process reads"
    print(f"{heading} (environment, then .env)\n")
    # Every check is written not to print secrets; redacting them anyway costs nothing.
    print(RedactingFilter(settings.secret_values()).redact(render(checks)))
    return exit_code(checks)
