"""The runtime's contract with whatever deploys it: roles, commands, ports, variables.

The operator imports this module to build Pods, so a change here is a change to both sides
at once. Keep it free of third-party imports: the operator must be able to import it (and
:mod:`agentfleet_runtime.retry`, the only other runtime module it uses) without pulling the
runtime's dependencies' weight.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
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
    TASK_ROLE_ID = "TASK_ROLE_ID"
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
    ATTACHMENT_MAX_COUNT = "ATTACHMENT_MAX_COUNT"
    ATTACHMENT_MAX_IMAGE_BYTES = "ATTACHMENT_MAX_IMAGE_BYTES"
    ATTACHMENT_MAX_TEXT_BYTES = "ATTACHMENT_MAX_TEXT_BYTES"


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


# --- defaults and checks shared by the runtime's settings and the AgentFleet API ----------


@dataclass(frozen=True)
class EnvironmentDefaults:
    """What ``ENVIRONMENT`` implies unless overridden (the operations guide's numbers)."""

    speech_interval_seconds: int
    speech_probability: float
    log_level: str


ENVIRONMENT_DEFAULTS: Final = {
    "test": EnvironmentDefaults(
        speech_interval_seconds=10, speech_probability=1.0, log_level="DEBUG"
    ),
    "production": EnvironmentDefaults(
        speech_interval_seconds=300, speech_probability=0.33, log_level="INFO"
    ),
}

DEFAULT_TIME_ZONE: Final = "Asia/Tokyo"
DEFAULT_PROCESSING_START: Final = "06:00"
DEFAULT_MEETING_START: Final = "07:00"
DEFAULT_FREE_START: Final = "20:00"

#: A 24-hour time of day, ``HH:MM``; written in the common subset of Python's and RE2's
#: syntax, so the CRD's CEL rules use the very same pattern.
TIME_OF_DAY_PATTERN: Final = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"

#: pgvector indexes ``vector`` columns of at most 2000 dimensions.
DEFAULT_EMBEDDING_DIMENSIONS: Final = 768
MAX_EMBEDDING_DIMENSIONS: Final = 2000
#: gemini-embedding-001 answers with this many values when no outputDimensionality is given.
MODEL_EMBEDDING_DIMENSIONS: Final = 3072

#: Shapes of the credentials a person might paste into the wrong place: a Discord bot token
#: and a Google API key. Unanchored, so they are found inside longer text; RE2-compatible,
#: so the CRD rejects them with the same patterns the logs are redacted with.
CREDENTIAL_PATTERNS: Final = (
    r"[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,40}",
    r"AIza[0-9A-Za-z_-]{35}",
)
_CREDENTIAL = re.compile("|".join(CREDENTIAL_PATTERNS))
_TIME_OF_DAY = re.compile(TIME_OF_DAY_PATTERN)


def looks_like_credential(value: str) -> bool:
    """Whether ``value`` contains something shaped like a bot token or an API key."""
    return _CREDENTIAL.search(value) is not None


def check_time_of_day(value: str) -> tuple[int, int]:
    """Return ``(hour, minute)`` of an ``HH:MM`` time; raise ValueError naming the format."""
    if not _TIME_OF_DAY.match(value):
        raise ValueError(f"{value!r} is not a 24-hour time HH:MM (e.g. 06:00)")
    hour, minute = value.split(":")
    return int(hour), int(minute)


def check_time_zone(value: str) -> str:
    """Return ``value`` if it names an IANA time zone; raise ValueError otherwise."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown IANA time zone {value!r} (e.g. Asia/Tokyo, Europe/Berlin, UTC)"
        ) from None
    return value
