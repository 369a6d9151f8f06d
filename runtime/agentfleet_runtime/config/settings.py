"""Configuration from the environment (and a ``.env`` file), validated in one pass.

The variable names are the ones docs/operations.md documents. Validation never stops at
the first problem: an operator fixing a deployment wants the whole list at once, so
:func:`load_settings` collects every missing or invalid setting into one
:class:`ConfigurationError`.
"""

from __future__ import annotations

import os
from datetime import time
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentfleet_runtime.brain.attachments import (
    DEFAULT_MAX_COUNT,
    DEFAULT_MAX_IMAGE_BYTES,
    DEFAULT_MAX_TEXT_BYTES,
    AttachmentLimits,
)
from agentfleet_runtime.contract import (
    CHANNELS,
    DEFAULT_EMBEDDING_DIMENSIONS,
    DEFAULT_FREE_START,
    DEFAULT_MEETING_START,
    DEFAULT_PROCESSING_START,
    DEFAULT_TIME_ZONE,
    ENVIRONMENT_DEFAULTS,
    MAX_EMBEDDING_DIMENSIONS,
    PERSONAS,
    SECRET_ENV,
    TOKEN_ENV,
    Env,
    Role,
    check_time_of_day,
    check_time_zone,
)
from agentfleet_runtime.retry import GEMINI_REQUEST


class ConfigurationError(Exception):
    """Raised with every configuration problem found, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration ({len(problems)} problems):\n{listing}")


def _parse_hhmm(value: str) -> time:
    return time(*check_time_of_day(value))


class Settings(BaseSettings):
    """Every setting of one runtime process; each field is named after its variable."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=True,
    )

    DISCORD_RECEPTION_TOKEN: SecretStr | None = None
    DISCORD_SPECTRA_TOKEN: SecretStr | None = None
    DISCORD_LYNQ_TOKEN: SecretStr | None = None
    DISCORD_PAZ_TOKEN: SecretStr | None = None
    DISCORD_API_BASE_URL: str | None = Field(
        default=None, description="A Discord-compatible REST base (the sandbox); unset = Discord."
    )
    DISCORD_GATEWAY_URL: str | None = None
    DISCORD_GUILD_ID: int | None = Field(
        default=None,
        description="The fleet's guild: /task is registered there and messages from any other"
        " guild are ignored; unset = every guild joined (the channel ids still decide).",
    )
    TASK_ROLE_ID: int | None = Field(
        default=None, description="Only members with this role may use /task; unset = anyone."
    )

    GEMINI_API_KEY: SecretStr | None = None
    GEMINI_BASE_URL: str | None = Field(
        default_factory=lambda: os.environ.get("GOOGLE_GEMINI_BASE_URL"),
        description="A Gemini-compatible base URL (the sandbox's server); unset = Google.",
    )
    GEMINI_MODEL: str = "gemini-3.8-flash"
    GEMINI_EMBEDDING_MODEL: str = "gemini-embedding-001"
    GEMINI_EMBEDDING_DIMENSIONS: int = Field(
        default=DEFAULT_EMBEDDING_DIMENSIONS, ge=1, le=MAX_EMBEDDING_DIMENSIONS
    )
    GEMINI_REQUESTS_PER_MINUTE: int = Field(default=10, ge=1)
    GEMINI_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)
    # cast: GEMINI_REQUEST has a limit (a Gemini call is never retried forever).
    GEMINI_MAX_ATTEMPTS: int = Field(default=cast(int, GEMINI_REQUEST.max_attempts), ge=1, le=10)

    REDIS_URL: SecretStr = SecretStr("redis://localhost:6379")
    POSTGRESQL_URL: SecretStr | None = None

    ENVIRONMENT: Literal["test", "production"] | None = None
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL"] = "INFO"
    LOG_FILE: str = Field(
        default="logs/discord_agent.log",
        description="Rotating log file for single-host runs; set but empty: no file "
        "(containers, whose logs are stdout).",
    )
    HEALTH_CHECK_PORT: int = Field(default=8000, ge=1, le=65535)

    COMMAND_CENTER_CHANNEL_ID: int | None = None
    LOUNGE_CHANNEL_ID: int | None = None
    DEVELOPMENT_CHANNEL_ID: int | None = None
    CREATION_CHANNEL_ID: int | None = None

    FLEET_NAME: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    FLEET_TIMEZONE: str = DEFAULT_TIME_ZONE
    PROCESSING_START: str = DEFAULT_PROCESSING_START
    MEETING_START: str = DEFAULT_MEETING_START
    FREE_START: str = DEFAULT_FREE_START
    AUTONOMOUS_SPEECH_INTERVAL_SECONDS: float | None = Field(default=None, gt=0)
    AUTONOMOUS_SPEECH_PROBABILITY: float | None = Field(default=None, ge=0, le=1)
    MAX_REPLIES_PER_MESSAGE: int = Field(default=1, ge=1, le=3)
    ENABLED_PERSONAS: str = ",".join(PERSONAS)
    ATTACHMENT_MAX_COUNT: int = Field(
        default=DEFAULT_MAX_COUNT,
        ge=0,
        le=10,
        description="Attachments of one message a persona reads (0: none); Discord allows 10.",
    )
    ATTACHMENT_MAX_IMAGE_BYTES: int = Field(
        default=DEFAULT_MAX_IMAGE_BYTES,
        ge=1,
        le=15 * 1024 * 1024,
        description="Largest image read; all images of a message must fit Gemini's 20 MB.",
    )
    ATTACHMENT_MAX_TEXT_BYTES: int = Field(
        default=DEFAULT_MAX_TEXT_BYTES, ge=1, description="Largest text file read."
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_means_unset(cls, data: Any) -> Any:
        # A copied .env.example leaves optional values empty: treat them as unset. LOG_FILE
        # is the exception: set and empty is how a container says "no log file".
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v != "" or k == Env.LOG_FILE}
        return data

    @field_validator("FLEET_TIMEZONE")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_time_zone(value)

    @field_validator("PROCESSING_START", "MEETING_START", "FREE_START")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        _parse_hhmm(value)
        return value

    @field_validator("ENABLED_PERSONAS")
    @classmethod
    def _personas(cls, value: str) -> str:
        names = [n.strip().lower() for n in value.split(",") if n.strip()]
        unknown = sorted(set(names) - set(PERSONAS))
        if unknown:
            raise ValueError(f"unknown personas {unknown}; known: {list(PERSONAS)}")
        if not names:
            raise ValueError("at least one persona must be enabled")
        return ",".join(names)

    # -- derived values ---------------------------------------------------------------

    @property
    def speech_interval_seconds(self) -> float:
        """Seconds between autonomous speech ticks (ENVIRONMENT default unless overridden)."""
        if self.AUTONOMOUS_SPEECH_INTERVAL_SECONDS is not None:
            return self.AUTONOMOUS_SPEECH_INTERVAL_SECONDS
        return ENVIRONMENT_DEFAULTS[self.ENVIRONMENT or "production"].speech_interval_seconds

    @property
    def speech_probability(self) -> float:
        """Chance that one tick produces speech (ENVIRONMENT default unless overridden)."""
        if self.AUTONOMOUS_SPEECH_PROBABILITY is not None:
            return self.AUTONOMOUS_SPEECH_PROBABILITY
        return ENVIRONMENT_DEFAULTS[self.ENVIRONMENT or "production"].speech_probability

    @property
    def zone(self) -> ZoneInfo:
        """The fleet's time zone, in which phases and events are scheduled."""
        return ZoneInfo(self.FLEET_TIMEZONE)

    @property
    def processing_start(self) -> time:
        """When PROCESSING (and the long-term memory pipeline) begins each day."""
        return _parse_hhmm(self.PROCESSING_START)

    @property
    def meeting_start(self) -> time:
        """When ACTIVE (the working day) begins."""
        return _parse_hhmm(self.MEETING_START)

    @property
    def free_start(self) -> time:
        """When FREE (social time in the lounge) begins."""
        return _parse_hhmm(self.FREE_START)

    @property
    def enabled_personas(self) -> tuple[str, ...]:
        """The personas this fleet runs, in the canonical order."""
        chosen = set(self.ENABLED_PERSONAS.split(","))
        return tuple(p for p in PERSONAS if p in chosen)

    @property
    def attachment_limits(self) -> AttachmentLimits:
        """How much of a message's attachments a persona reads."""
        return AttachmentLimits(
            self.ATTACHMENT_MAX_COUNT,
            self.ATTACHMENT_MAX_IMAGE_BYTES,
            self.ATTACHMENT_MAX_TEXT_BYTES,
        )

    @property
    def channel_ids(self) -> dict[str, int]:
        """Channel name → Discord id, for the channels that are configured."""
        found = {
            "command_center": self.COMMAND_CENTER_CHANNEL_ID,
            "development": self.DEVELOPMENT_CHANNEL_ID,
            "creation": self.CREATION_CHANNEL_ID,
            "lounge": self.LOUNGE_CHANNEL_ID,
        }
        return {name: cid for name, cid in found.items() if cid is not None}

    def token(self, bot: str) -> str:
        """The Discord token of ``bot`` (reception or a persona); raises if unset."""
        secret: SecretStr | None = getattr(self, TOKEN_ENV[bot].value)
        if secret is None:
            raise ConfigurationError([f"{TOKEN_ENV[bot].value} is not set"])
        return secret.get_secret_value()

    def secret_values(self) -> list[str]:
        """The values of every secret setting that is set: what logs must never contain."""
        values = []
        for name in SECRET_ENV:
            secret: SecretStr | None = getattr(self, name.value, None)
            if secret is not None:
                values.append(secret.get_secret_value())
        return values

    def problems_for(self, role: Role, persona: str | None = None) -> list[str]:
        """Settings that ``role`` needs but which are missing or inconsistent."""
        problems: list[str] = []
        if self.ENVIRONMENT is None:
            problems.append(f"{Env.ENVIRONMENT} is not set (must be 'test' or 'production')")
        bots: list[str] = []
        if role in (Role.ALL_IN_ONE, Role.RECEPTION):
            bots.append("reception")
        if role is Role.ALL_IN_ONE:
            bots += list(self.enabled_personas)
        if role is Role.PERSONA and persona is not None:
            bots.append(persona)
        problems += [
            f"{TOKEN_ENV[b].value} is not set" for b in bots if getattr(self, TOKEN_ENV[b]) is None
        ]
        needs_gemini = role in (Role.ALL_IN_ONE, Role.PERSONA, Role.PIPELINE)
        if needs_gemini and self.GEMINI_API_KEY is None:
            problems.append(f"{Env.GEMINI_API_KEY} is not set")
        if role in (Role.ALL_IN_ONE, Role.RECEPTION, Role.PIPELINE):
            problems += [
                f"{name.upper()}_CHANNEL_ID is not set"
                for name in CHANNELS
                if name not in self.channel_ids
            ]
        if role in (Role.PIPELINE, Role.MIGRATE) and self.POSTGRESQL_URL is None:
            problems.append(f"{Env.POSTGRESQL_URL} is not set")
        if not self.processing_start < self.meeting_start < self.free_start:
            problems.append(
                "phase times must satisfy PROCESSING_START < MEETING_START < FREE_START, got "
                f"{self.PROCESSING_START} / {self.MEETING_START} / {self.FREE_START}"
            )
        ids = list(self.channel_ids.values())
        if len(ids) != len(set(ids)):
            problems.append("the four *_CHANNEL_ID values must be different channels")
        return problems


def _describe(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "configuration"
        # Never echo the offending input: it may be a token pasted into the wrong variable.
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{name}: {message}")
    return problems


def read_settings(
    role: Role, persona: str | None = None, env_file: str | None = ".env"
) -> tuple[Settings, list[str]]:
    """Read the settings leniently: every problem ``role`` has, and settings despite them.

    An invalid value is replaced by its default, so a caller that reports rather than
    refuses (``agentfleet doctor``) can still check everything else.
    """
    problems: list[str] = []
    try:
        settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as error:
        problems = _describe(error)
        # Check the role's needs too, with the invalid fields at their defaults, so that the
        # one message lists every problem rather than only the first kind found.
        invalid = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
        defaults = {
            name: Settings.model_fields[name].get_default(call_default_factory=True)
            for name in invalid
            if name in Settings.model_fields
        }
        settings = Settings(_env_file=env_file, **defaults)  # type: ignore[call-arg]
    return settings, problems + settings.problems_for(role, persona)


def load_settings(
    role: Role, persona: str | None = None, env_file: str | None = ".env"
) -> Settings:
    """Read and validate the settings ``role`` needs, raising one error listing every problem.

    Variables come from the process environment first, then from ``env_file`` (the
    ``.env`` of a single host, docs/operations.md).
    """
    settings, problems = read_settings(role, persona, env_file)
    if problems:
        raise ConfigurationError(problems)
    return settings
