"""The runtime's contract with whatever deploys it: roles, commands, ports, variables.

The operator imports this module (and nothing else from the runtime) to build Pods, so a
change here is a change to both sides at once. Keep it free of third-party imports: the
operator must be able to import it without pulling the runtime's dependencies' weight.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

#: The one port every role serves: /health, /ready and /metrics.
HEALTH_PORT: Final = 8000
HEALTH_PATH: Final = "/health"
READY_PATH: Final = "/ready"
METRICS_PATH: Final = "/metrics"

#: The console script installed with the distribution (see pyproject.toml).
EXECUTABLE: Final = "agentfleet"


class Role(StrEnum):
    """What one process of a fleet does; one image serves every role."""

    ALL_IN_ONE = "all-in-one"
    """Reception, router, the three persona workers and the scheduler in one process."""
    RECEPTION = "reception"
    """Reads the gateway, routes messages, runs phases, events and autonomous speech."""
    PERSONA = "persona"
    """Generates and posts one persona's replies (needs ``--persona``)."""
    PIPELINE = "pipeline"
    """The 06:00 long-term memory and daily report job (a CronJob in a cluster)."""
    MIGRATE = "migrate"
    """Creates or upgrades the PostgreSQL schema and exits."""


PERSONAS: Final = ("spectra", "lynq", "paz")
CHANNELS: Final = ("command_center", "development", "creation", "lounge")


def command(role: Role, persona: str | None = None) -> list[str]:
    """Return the container command (argv) that starts ``role``."""
    argv = [EXECUTABLE, role.value]
    if role is Role.PERSONA:
        if persona not in PERSONAS:
            raise ValueError(f"persona must be one of {PERSONAS}, got {persona!r}")
        argv += ["--persona", persona]
    return argv


class Env(StrEnum):
    """Environment variable names: what people set (docs/operations.md), so never renamed."""

    DISCORD_RECEPTION_TOKEN = "DISCORD_RECEPTION_TOKEN"
    DISCORD_SPECTRA_TOKEN = "DISCORD_SPECTRA_TOKEN"
    DISCORD_LYNQ_TOKEN = "DISCORD_LYNQ_TOKEN"
    DISCORD_PAZ_TOKEN = "DISCORD_PAZ_TOKEN"
    DISCORD_API_BASE_URL = "DISCORD_API_BASE_URL"
    DISCORD_GATEWAY_URL = "DISCORD_GATEWAY_URL"
    DISCORD_GUILD_ID = "DISCORD_GUILD_ID"
    GEMINI_API_KEY = "GEMINI_API_KEY"
    GEMINI_BASE_URL = "GEMINI_BASE_URL"
    GEMINI_MODEL = "GEMINI_MODEL"
    GEMINI_EMBEDDING_MODEL = "GEMINI_EMBEDDING_MODEL"
    GEMINI_EMBEDDING_DIMENSIONS = "GEMINI_EMBEDDING_DIMENSIONS"
    GEMINI_REQUESTS_PER_MINUTE = "GEMINI_REQUESTS_PER_MINUTE"
    GEMINI_TIMEOUT_SECONDS = "GEMINI_TIMEOUT_SECONDS"
    GEMINI_MAX_ATTEMPTS = "GEMINI_MAX_ATTEMPTS"
    REDIS_URL = "REDIS_URL"
    POSTGRESQL_URL = "POSTGRESQL_URL"
    ENVIRONMENT = "ENVIRONMENT"
    LOG_LEVEL = "LOG_LEVEL"
    LOG_FILE = "LOG_FILE"
    HEALTH_CHECK_PORT = "HEALTH_CHECK_PORT"
    COMMAND_CENTER_CHANNEL_ID = "COMMAND_CENTER_CHANNEL_ID"
    LOUNGE_CHANNEL_ID = "LOUNGE_CHANNEL_ID"
    DEVELOPMENT_CHANNEL_ID = "DEVELOPMENT_CHANNEL_ID"
    CREATION_CHANNEL_ID = "CREATION_CHANNEL_ID"
    FLEET_NAME = "FLEET_NAME"
    FLEET_TIMEZONE = "FLEET_TIMEZONE"
    PROCESSING_START = "PROCESSING_START"
    MEETING_START = "MEETING_START"
    FREE_START = "FREE_START"
    AUTONOMOUS_SPEECH_INTERVAL_SECONDS = "AUTONOMOUS_SPEECH_INTERVAL_SECONDS"
    AUTONOMOUS_SPEECH_PROBABILITY = "AUTONOMOUS_SPEECH_PROBABILITY"
    MAX_REPLIES_PER_MESSAGE = "MAX_REPLIES_PER_MESSAGE"
    ENABLED_PERSONAS = "ENABLED_PERSONAS"


#: Which token variable belongs to which persona (and to reception).
TOKEN_ENV: Final = {
    "reception": Env.DISCORD_RECEPTION_TOKEN,
    "spectra": Env.DISCORD_SPECTRA_TOKEN,
    "lynq": Env.DISCORD_LYNQ_TOKEN,
    "paz": Env.DISCORD_PAZ_TOKEN,
}

#: Variables that carry secrets: never logged, never put in a ConfigMap or a CR.
SECRET_ENV: Final = frozenset(
    {*TOKEN_ENV.values(), Env.GEMINI_API_KEY, Env.REDIS_URL, Env.POSTGRESQL_URL}
)
