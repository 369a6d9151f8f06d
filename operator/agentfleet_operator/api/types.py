"""A typed mirror of the AgentFleet CRD (``crds/agentfleet.dev_agentfleets.yaml``).

The CRD is the source of truth; these models repeat its fields and defaults (a test walks
both and fails when they drift apart) so that the builders work with checked, typed values.
They also re-check what the API server's schema and CEL rules cannot: a time zone that has
the right shape but does not exist, or a spec that reached us without the schema (an older
CRD, a test cluster without validation). Such a spec becomes a ``Degraded`` condition that
names the field, never a crash.
"""

from __future__ import annotations

import re
import zoneinfo
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from agentfleet_runtime.contract import PERSONAS, Env

__all__ = [
    "ComponentStatus",
    "Condition",
    "DiscordChannels",
    "DiscordSpec",
    "DiscordTokensRef",
    "Environment",
    "ExternalStore",
    "FleetSpec",
    "FleetStatus",
    "GeminiSpec",
    "ManagedPostgres",
    "ManagedRedis",
    "MonitoringSpec",
    "PersonaSpec",
    "PersonasSpec",
    "PhasesSpec",
    "PipelineSpec",
    "PostgresSpec",
    "PostgresStorage",
    "RedisSpec",
    "Resources",
    "SecretKeyRef",
    "SpecError",
    "SpeechSpec",
    "Storage",
    "parse_spec",
]

_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_CRON_FIELD = r"[0-9A-Za-z*/,?-]+"
_CRON_MACRO = r"@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
_CRON = re.compile(rf"^({_CRON_FIELD}( {_CRON_FIELD}){{4}}|{_CRON_MACRO})$")
_SNOWFLAKE = re.compile(r"^[0-9]{17,20}$")


def _check_time(value: str) -> str:
    if not _TIME.match(value):
        raise ValueError(f"{value!r} is not a 24-hour time HH:MM (e.g. 06:00)")
    return value


def _check_zone(value: str) -> str:
    # The CRD's CEL rule checks the shape; only a lookup knows whether the zone exists.
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown IANA time zone {value!r} (e.g. Asia/Tokyo, Europe/Berlin, UTC)"
        ) from None
    return value


def _check_snowflake(value: str) -> str:
    if not _SNOWFLAKE.match(value):
        raise ValueError(f"{value!r} is not a Discord id (17-20 digits)")
    return value


def _check_cron(value: str) -> str:
    # CronJob.spec.timeZone is the only place for a zone: the API rejects TZ= in a schedule.
    if "TZ" in value or not _CRON.match(value):
        raise ValueError(f"{value!r} is not a 5-field cron schedule without TZ= (e.g. '0 6 * * *')")
    return value


_USERINFO = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*@")
_CRED_QUERY = re.compile(r"[?&](key|token|access_token|api_key|apikey|password)=")
_LOOKS_LIKE_TOKEN = re.compile(
    r"^[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}$|^AIza[0-9A-Za-z_-]{20,}$"
)


def _check_url(value: str) -> str:
    # Mirrors the CRD's CEL rules: credentials belong in Secrets, never in a CR.
    if _USERINFO.match(value) or _CRED_QUERY.search(value):
        raise ValueError("URLs must not carry credentials; reference a Secret instead")
    return value


def _check_secret_key(value: str) -> str:
    if _LOOKS_LIKE_TOKEN.match(value):
        raise ValueError(
            "this looks like a credential: put the value into the Secret and write the "
            "key's name here"
        )
    return value


Url = Annotated[str, AfterValidator(_check_url)]
SecretKey = Annotated[str, AfterValidator(_check_secret_key)]
Time = Annotated[str, AfterValidator(_check_time)]
Snowflake = Annotated[str, AfterValidator(_check_snowflake)]


class _Model(BaseModel):
    """Common settings: camelCase aliases as in the CRD, frozen values, unknown keys ignored."""

    # Unknown keys are ignored rather than rejected: a newer CRD may add a field before the
    # operator knows it, and the API server has already pruned anything the CRD lacks.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )


class Environment(StrEnum):
    """Which behaviour defaults a fleet gets (the guide's ``ENVIRONMENT``)."""

    TEST = "test"
    PRODUCTION = "production"


class SecretKeyRef(_Model):
    """A key in a Secret of the fleet's namespace."""

    name: str = Field(description="Name of the Secret, in the fleet's namespace.")
    key: SecretKey = Field(description="Key inside the Secret whose value is used.")


class Resources(_Model):
    """Container resource requests and limits, as in a Pod spec."""

    requests: dict[str, str] = Field(
        default_factory=dict, description="Minimum resources, e.g. {cpu: 50m, memory: 128Mi}."
    )
    limits: dict[str, str] = Field(
        default_factory=dict, description="Maximum resources, e.g. {memory: 256Mi}."
    )

    @model_validator(mode="before")
    @classmethod
    def _quantities_as_strings(cls, data: Any) -> Any:
        # The CRD types quantities as int-or-string; builders always emit strings.
        if isinstance(data, dict):
            return {
                k: {name: str(q) for name, q in v.items()} if isinstance(v, dict) else v
                for k, v in data.items()
            }
        return data

    def as_k8s(self) -> dict[str, dict[str, str]]:
        """Return the ``resources`` block of a container."""
        out: dict[str, dict[str, str]] = {}
        if self.requests:
            out["requests"] = dict(self.requests)
        if self.limits:
            out["limits"] = dict(self.limits)
        return out


class PhasesSpec(_Model):
    """Start times of the daily phases, in the fleet's time zone."""

    processing_start: Time = Field(
        default="06:00", description="PROCESSING starts; the pipeline runs (HH:MM)."
    )
    meeting_start: Time = Field(default="07:00", description="ACTIVE (work mode) starts (HH:MM).")
    free_start: Time = Field(default="20:00", description="FREE (social mode) starts (HH:MM).")

    @model_validator(mode="after")
    def _ordered(self) -> PhasesSpec:
        if not self.processing_start < self.meeting_start < self.free_start:
            raise ValueError(
                "phases must be ordered processingStart < meetingStart < freeStart, got "
                f"{self.processing_start} / {self.meeting_start} / {self.free_start}"
            )
        return self


class SpeechSpec(_Model):
    """Overrides of the autonomous speech defaults that ``environment`` sets."""

    interval_seconds: int | None = Field(
        default=None, ge=1, description="Seconds between attempts (test 10, production 300)."
    )
    probability: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Chance per attempt (test 1.0, production 0.33)."
    )
    max_replies_per_message: int = Field(
        default=1, ge=1, le=3, description="Persona replies per human message."
    )


class DiscordChannels(_Model):
    """The four channel ids of the Discord server."""

    command_center: Snowflake = Field(description="command_center channel id.")
    development: Snowflake = Field(description="development channel id.")
    creation: Snowflake = Field(description="creation channel id.")
    lounge: Snowflake = Field(description="lounge channel id.")


class DiscordTokensRef(_Model):
    """The Secret holding the four bot tokens, and the key of each token in it."""

    name: str = Field(description="Name of the Secret holding the four bot tokens.")
    reception_key: SecretKey = Field(default=Env.DISCORD_RECEPTION_TOKEN.value, description="Key.")
    spectra_key: SecretKey = Field(default=Env.DISCORD_SPECTRA_TOKEN.value, description="Key.")
    lynq_key: SecretKey = Field(default=Env.DISCORD_LYNQ_TOKEN.value, description="Key.")
    paz_key: SecretKey = Field(default=Env.DISCORD_PAZ_TOKEN.value, description="Key.")

    def key_for(self, bot: str) -> str:
        """Return the Secret key of ``bot`` (reception or a persona)."""
        return str(getattr(self, f"{bot}_key"))


class DiscordSpec(_Model):
    """The Discord server the fleet lives in."""

    guild_id: Snowflake = Field(description="Discord server (guild) id.")
    channels: DiscordChannels = Field(description="Channel ids.")
    tokens_secret_ref: DiscordTokensRef = Field(description="Secret with the four bot tokens.")
    api_base_url: Url | None = Field(default=None, description="Discord REST base URL override.")
    gateway_url: Url | None = Field(default=None, description="Discord gateway URL override.")


class GeminiSpec(_Model):
    """The LLM: a Secret with the API key, model names and the shared rate limit."""

    api_key_secret_ref: SecretKeyRef = Field(description="Secret key holding GEMINI_API_KEY.")
    model: str | None = Field(default=None, description="Generation model; unset: runtime's.")
    embedding_model: str | None = Field(default=None, description="Embedding model.")
    embedding_dimensions: int = Field(
        default=768, ge=1, le=2000, description="Embedding size; immutable."
    )
    requests_per_minute: int | None = Field(default=None, ge=1, description="Shared limit.")
    base_url: Url | None = Field(default=None, description="API base URL override.")


class PersonaSpec(_Model):
    """One persona worker: on or off, and its overrides."""

    enabled: bool = Field(default=True, description="Run this persona's worker.")
    model: str | None = Field(default=None, description="Generation model for this persona.")
    resources: Resources | None = Field(default=None, description="Overrides spec.resources.")


class PersonasSpec(_Model):
    """The three personas."""

    spectra: PersonaSpec = Field(default_factory=PersonaSpec, description="SPECTRA.")
    lynq: PersonaSpec = Field(default_factory=PersonaSpec, description="LYNQ.")
    paz: PersonaSpec = Field(default_factory=PersonaSpec, description="PAZ.")

    def get(self, persona: str) -> PersonaSpec:
        """Return the spec of ``persona`` (one of ``runtime.contract.PERSONAS``)."""
        return getattr(self, persona)  # type: ignore[no-any-return]

    def enabled(self) -> list[str]:
        """Return the enabled personas in the contract's order."""
        return [p for p in PERSONAS if self.get(p).enabled]

    @model_validator(mode="after")
    def _at_least_one(self) -> PersonasSpec:
        if not self.enabled():
            raise ValueError("at least one persona must be enabled")
        return self


class Storage(_Model):
    """A managed store's volume; immutable (a StatefulSet's claims cannot change)."""

    size: str = Field(default="1Gi", description="Volume size.")
    storage_class_name: str | None = Field(default=None, description="StorageClass.")


class PostgresStorage(Storage):
    """PostgreSQL's volume: memories grow, so it starts larger."""

    size: str = Field(default="5Gi", description="Volume size.")


class ManagedRedis(_Model):
    """Redis run by the operator as a StatefulSet."""

    image: str = Field(default="redis:7.2.7-alpine", description="BSD-licensed Redis <= 7.2.")
    storage: Storage = Field(default_factory=Storage, description="Volume.")
    resources: Resources | None = Field(default=None, description="Container resources.")


class ManagedPostgres(_Model):
    """PostgreSQL with pgvector run by the operator as a StatefulSet."""

    image: str = Field(default="pgvector/pgvector:pg17", description="PostgreSQL + pgvector.")
    storage: PostgresStorage = Field(default_factory=PostgresStorage, description="Volume.")
    resources: Resources | None = Field(default=None, description="Container resources.")


class ExternalStore(_Model):
    """A store run elsewhere: a Secret key holds its URL (e.g. a CloudNativePG app secret)."""

    url_secret_ref: SecretKeyRef = Field(description="Secret key holding the URL.")


def _exactly_one(managed: object, external: object, store: str) -> None:
    if (managed is None) == (external is None):
        raise ValueError(f"{store}: set exactly one of managed or external")


class RedisSpec(_Model):
    """Redis: managed by the operator or external."""

    managed: ManagedRedis | None = Field(default=None, description="Run Redis in the fleet.")
    external: ExternalStore | None = Field(default=None, description="Use an external Redis.")

    @model_validator(mode="after")
    def _one(self) -> RedisSpec:
        _exactly_one(self.managed, self.external, "redis")
        return self


class PostgresSpec(_Model):
    """PostgreSQL: managed by the operator or external."""

    managed: ManagedPostgres | None = Field(default=None, description="Run PostgreSQL.")
    external: ExternalStore | None = Field(default=None, description="External PostgreSQL.")

    @model_validator(mode="after")
    def _one(self) -> PostgresSpec:
        _exactly_one(self.managed, self.external, "postgresql")
        return self


class PipelineSpec(_Model):
    """The daily long-term memory + report job (a CronJob)."""

    schedule: Annotated[str, AfterValidator(_check_cron)] | None = Field(
        default=None, description="Cron schedule; unset: phases.processingStart daily."
    )
    suspend: bool = Field(default=False, description="Suspend the CronJob.")
    starting_deadline_seconds: int = Field(default=3600, ge=10, description="Late start limit.")
    backoff_limit: int = Field(default=2, ge=0, le=6, description="Job retries.")
    active_deadline_seconds: int = Field(default=1800, ge=60, description="Job time limit.")
    resources: Resources | None = Field(default=None, description="Overrides spec.resources.")


class MonitoringSpec(_Model):
    """Monitoring switches."""

    scrape_annotations: bool = Field(default=True, description="prometheus.io/* annotations.")
    pod_monitor: bool = Field(default=False, description="Create a PodMonitor.")
    pod_monitor_labels: dict[str, str] = Field(default_factory=dict, description="Its labels.")


class FleetSpec(_Model):
    """The desired state of one fleet: one Discord server's three AI colleagues."""

    environment: Environment = Field(description="test or production; sets the defaults.")
    image: str = Field(default="ghcr.io/agentfleet/agentfleet:0.1.0", description="Image.")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", description="Pull policy."
    )
    image_pull_secrets: list[str] = Field(default_factory=list, description="Pull secrets.")
    time_zone: Annotated[str, AfterValidator(_check_zone)] = Field(
        default="Asia/Tokyo", description="IANA time zone of phases and the pipeline."
    )
    phases: PhasesSpec = Field(default_factory=PhasesSpec, description="Phase start times.")
    speech: SpeechSpec = Field(default_factory=SpeechSpec, description="Speech overrides.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = Field(
        default=None, description="Log level; unset: DEBUG in test, INFO in production."
    )
    discord: DiscordSpec = Field(description="Discord server, channels and tokens.")
    gemini: GeminiSpec = Field(description="LLM settings.")
    personas: PersonasSpec = Field(default_factory=PersonasSpec, description="Personas.")
    redis: RedisSpec = Field(
        default_factory=lambda: RedisSpec(managed=ManagedRedis()), description="Redis."
    )
    postgresql: PostgresSpec = Field(
        default_factory=lambda: PostgresSpec(managed=ManagedPostgres()), description="Postgres."
    )
    pipeline: PipelineSpec = Field(default_factory=PipelineSpec, description="Daily pipeline.")
    resources: Resources | None = Field(default=None, description="Bot container resources.")
    paused: bool = Field(default=False, description="Stop all writes to the fleet's children.")
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec, description="Monitoring.")


class SpecError(Exception):
    """The spec is invalid; ``problems`` name each field (``spec.phases.meetingStart: ...``)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = ["spec"]
    for item in loc:
        if isinstance(item, int):
            parts[-1] += f"[{item}]"
        elif item not in {"function-after", "tagged-union"} and not item.startswith(
            ("function-", "str[", "constrained-")
        ):
            parts.append(item)
    return ".".join(parts)


def parse_spec(spec: Any) -> FleetSpec:
    """Validate a raw ``spec`` mapping; raise :class:`SpecError` naming every bad field."""
    try:
        return FleetSpec.model_validate(spec if spec is not None else {})
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{_field_path(tuple(err['loc']))}: {message}")
        raise SpecError(problems) from None


# --- status -----------------------------------------------------------------------------


class Condition(_Model):
    """A standard Kubernetes condition (``metav1.Condition``)."""

    type: str = Field(description="Ready, Progressing or Degraded.")
    status: Literal["True", "False", "Unknown"] = Field(description="Condition status.")
    reason: str = Field(description="CamelCase reason.")
    message: str = Field(default="", description="What a person can do about it.")
    last_transition_time: str = Field(description="When status last changed.")
    observed_generation: int | None = Field(default=None, description="Generation seen.")


class ComponentStatus(_Model):
    """Readiness of one workload, derived from its own status."""

    name: str = Field(description="reception, spectra, lynq, paz, redis, postgresql, pipeline.")
    kind: str = Field(description="Kind of the child (Deployment, StatefulSet, CronJob...).")
    ready: bool = Field(description="Whether the component is ready.")
    message: str = Field(default="", description="Why not, or a summary.")


class FleetStatus(_Model):
    """The observed state of a fleet, written by the operator only."""

    observed_generation: int | None = Field(default=None, description="Generation reconciled.")
    conditions: list[Condition] = Field(default_factory=list, description="Conditions.")
    components: list[ComponentStatus] = Field(default_factory=list, description="Components.")
    ready: str | None = Field(default=None, description="Ready components, e.g. 7/7.")
    store_secret: str | None = Field(default=None, description="Generated-password Secret.")
