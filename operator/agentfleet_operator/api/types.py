"""The AgentFleet API: every field, its default, its documentation and its validation rules.

This module is the API's one definition. ``python -m agentfleet_operator.api.crd`` generates
the CustomResourceDefinition from it (``crds/`` and the Helm chart's template), so the API
server validates with the same bounds, patterns and CEL rules (:class:`~.cel.Cel`) that
the operator's builders see here as typed, checked values. Field docstrings become the
descriptions ``kubectl explain agentfleet.spec`` prints.

The operator validates again on its side, for what CEL cannot express (a time zone that
has the right shape but does not exist) and for a spec that reached it without the schema
(an older CRD). Such a spec becomes an ``InvalidSpec`` condition naming the field, never a
crash.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel

from agentfleet_operator.api.cel import Cel, matches, model_rules
from agentfleet_operator.quantity import parse_quantity
from agentfleet_runtime.contract import (
    DEFAULT_EMBEDDING_DIMENSIONS,
    DEFAULT_FREE_START,
    DEFAULT_MEETING_START,
    DEFAULT_PROCESSING_START,
    DEFAULT_TIME_ZONE,
    MAX_EMBEDDING_DIMENSIONS,
    PERSONAS,
    TIME_OF_DAY_PATTERN,
    Env,
    check_time_of_day,
    check_time_zone,
    looks_like_credential,
)

# --- field types --------------------------------------------------------------------------

#: A DNS subdomain: the name of a Secret, a StorageClass, an image pull Secret.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: A fleet's name names its Services, which must be DNS-1035 labels (no leading digit).
FLEET_NAME = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
MAX_FLEET_NAME_LENGTH = 40
"""A StatefulSet's pods carry ``controller-revision-hash: <sts>-<10 characters>``, a label
of at most 63 characters, and ``<fleet>-postgresql`` is the longest StatefulSet name."""

ResourceName = Annotated[str, Field(max_length=253, pattern=DNS_SUBDOMAIN)]
SecretKey = Annotated[str, Field(max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]
Snowflake = Annotated[str, Field(max_length=20, pattern=r"^[0-9]{17,20}$")]
ModelName = Annotated[str, Field(max_length=128, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_./]*$")]
Image = Annotated[str, Field(max_length=512, pattern=r"^[^\s]+$")]
LabelValue = Annotated[
    str, Field(max_length=63, pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
]


def _check_time_of_day(value: str) -> str:
    check_time_of_day(value)
    return value


TimeOfDay = Annotated[
    str,
    AfterValidator(_check_time_of_day),
    Field(max_length=5),
    Cel(matches(TIME_OF_DAY_PATTERN), "must be a 24-hour time HH:MM, e.g. 06:00"),
]

TimeZone = Annotated[
    str,
    AfterValidator(check_time_zone),
    Field(max_length=64),
    # The shape only: whether the zone exists is checked by the operator (InvalidSpec).
    Cel(
        f"self == 'UTC' || {matches(r'^[A-Z][A-Za-z_-]+(/[A-Za-z0-9_+-]+){1,2}$')}",
        "must be an IANA time zone such as Asia/Tokyo, America/Argentina/Buenos_Aires or UTC",
    ),
]

_URL = r"^(https?|wss?)://[^\s]+$"
_URL_USERINFO = r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*@"
_URL_CREDENTIAL_QUERY = r"[?&](key|token|access_token|api_key|apikey|password)="


def _check_url(value: str) -> str:
    if not re.search(_URL, value):
        raise ValueError("must be an http(s) or ws(s) URL")
    if re.search(_URL_USERINFO, value) or re.search(_URL_CREDENTIAL_QUERY, value):
        raise ValueError("URLs must not carry credentials; reference a Secret instead")
    return value


Url = Annotated[
    str,
    AfterValidator(_check_url),
    Field(max_length=2048),
    Cel(matches(_URL), "must be an http(s) or ws(s) URL"),
    Cel(
        f"!{matches(_URL_USERINFO)}",
        "URLs must not carry credentials (user:password@); reference a Secret instead",
    ),
    Cel(
        f"!{matches(_URL_CREDENTIAL_QUERY)}",
        "URLs must not carry credentials in the query; reference a Secret instead",
    ),
]


def _cron_field(number: str, names: str = "", *, blank: bool = False) -> str:
    """One cron field: ``*``, values, ranges and steps, comma-separated; RE2 and Python."""
    value = f"({number}|(?i:{names}))" if names else f"({number})"
    start = r"\*|\?" if blank else r"\*"
    item = f"({start}|{value}(-{value})?)(/[1-9][0-9]?)?"
    return f"{item}(,{item})*"


_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"
#: What the CronJob controller's parser accepts, field by field with their ranges.
CRON_PATTERN = (
    "^("
    + " +".join(
        [
            _cron_field("[0-5]?[0-9]"),
            _cron_field("[01]?[0-9]|2[0-3]"),
            _cron_field("0?[1-9]|[12][0-9]|3[01]", blank=True),
            _cron_field("0?[1-9]|1[0-2]", _MONTHS),
            _cron_field("[0-7]", _DAYS, blank=True),
        ]
    )
    + "|@(yearly|annually|monthly|weekly|daily|midnight|hourly))$"
)


def _check_cron(value: str) -> str:
    if "TZ" in value or not re.match(CRON_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a 5-field cron schedule with values in range (e.g. '0 6 * * *')"
        )
    return value


Cron = Annotated[
    str,
    AfterValidator(_check_cron),
    Field(max_length=100),
    Cel(
        matches(CRON_PATTERN),
        "must be a 5-field cron schedule with each field in range (minute 0-59, hour 0-23, "
        "day 1-31, month 1-12, weekday 0-7), such as '0 6 * * *'",
    ),
    Cel("!self.contains('TZ')", "set the zone with spec.timeZone, not TZ= in the schedule"),
]


def _quantity_text(value: Any) -> Any:
    # YAML gives `cpu: 1` as an integer; Kubernetes accepts both, builders emit strings.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _check_quantity(value: str) -> str:
    parsed = parse_quantity(value)
    if parsed is None or parsed < 0:
        raise ValueError(f"{value!r} is not a non-negative quantity (e.g. 128Mi, 500m, 1)")
    return value


Quantity = Annotated[
    str,
    BeforeValidator(_quantity_text),
    AfterValidator(_check_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            # Bounds the cost of the CEL rules below, as the API server estimates it.
            "maxLength": 64,
        }
    ),
    Cel(
        "isQuantity(string(self)) && !quantity(string(self)).isLessThan(quantity('0'))",
        "must be a non-negative quantity such as 128Mi, 500m or 1",
    ),
]


# --- the spec -------------------------------------------------------------------------------


class _Model(BaseModel):
    """camelCase names as in the CRD, frozen values, unknown keys ignored, field docstrings.

    Unknown keys are ignored rather than rejected: the API server has already pruned what
    the CRD lacks, and a newer CRD may add a field before this operator knows it.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",
        use_attribute_docstrings=True,
        json_schema_extra=model_rules,
    )
    __cel__: ClassVar[tuple[Cel, ...]] = ()


class Environment(StrEnum):
    """Which behaviour defaults a fleet gets (the guide's ``ENVIRONMENT``)."""

    TEST = "test"
    PRODUCTION = "production"


class SecretKeyRef(_Model):
    """A key in a Secret of the fleet's namespace."""

    name: ResourceName
    """Name of a Secret in the fleet's namespace."""
    key: SecretKey
    """Key in that Secret whose value is used."""


def _limits_at_least_requests(data: Resources) -> Resources:
    for name, limit in data.limits.items():
        request = data.requests.get(name)
        if request is not None and parse_quantity(limit) < parse_quantity(request):  # type: ignore[operator]
            raise ValueError(f"limits.{name} ({limit}) is below requests.{name} ({request})")
    return data


class Resources(_Model):
    """Container resource requests and limits, as in a Pod spec."""

    __cel__ = (
        Cel(
            "!has(self.requests) || !has(self.limits) || self.limits.all(k, !(k in self.requests)"
            " || !isQuantity(string(self.limits[k])) || !isQuantity(string(self.requests[k]))"
            " || quantity(string(self.limits[k])).compareTo(quantity(string(self.requests[k])))"
            " >= 0)",
            "each limit must be at least the request of the same resource",
        ),
    )

    requests: dict[str, Quantity] = Field(default_factory=dict, max_length=8)
    """Minimum resources, e.g. {cpu: 50m, memory: 192Mi}."""
    limits: dict[str, Quantity] = Field(default_factory=dict, max_length=8)
    """Maximum resources, e.g. {memory: 512Mi}; each at least its request."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Check what the CRD's rule checks, for specs that reached us without it."""
        _limits_at_least_requests(self)
        return self

    def as_k8s(self) -> dict[str, dict[str, str]]:
        """Return the ``resources`` block of a container."""
        out: dict[str, dict[str, str]] = {}
        if self.requests:
            out["requests"] = dict(self.requests)
        if self.limits:
            out["limits"] = dict(self.limits)
        return out


class PhasesSpec(_Model):
    """Start times of the daily phases, HH:MM in timeZone; STANDBY runs until the first."""

    __cel__ = (
        Cel(
            "self.processingStart < self.meetingStart && self.meetingStart < self.freeStart",
            "phases must be ordered: processingStart < meetingStart < freeStart",
        ),
    )

    processing_start: TimeOfDay = DEFAULT_PROCESSING_START
    """PROCESSING starts: long-term memory and the daily report (also the pipeline's default
    schedule)."""
    meeting_start: TimeOfDay = DEFAULT_MEETING_START
    """ACTIVE (work mode) starts."""
    free_start: TimeOfDay = DEFAULT_FREE_START
    """FREE (social mode in the lounge) starts."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Check the order, as the CRD's rule does."""
        if not self.processing_start < self.meeting_start < self.free_start:
            raise ValueError(
                "phases must be ordered processingStart < meetingStart < freeStart, got "
                f"{self.processing_start} / {self.meeting_start} / {self.free_start}"
            )
        return self


class SpeechSpec(_Model):
    """Overrides of the autonomous speech defaults that environment sets."""

    interval_seconds: int | None = Field(default=None, ge=1, le=86400)
    """Seconds between autonomous speech attempts; unset: 10 (test) or 300 (production)."""
    probability: float | None = Field(default=None, ge=0.0, le=1.0)
    """Chance to speak per attempt; unset: 1.0 (test) or 0.33 (production)."""
    max_replies_per_message: int = Field(default=1, ge=1, le=3)
    """Persona replies per human message."""


class DiscordChannels(_Model):
    """The four channel ids of the Discord server; four different channels."""

    __cel__ = (
        Cel(
            "self.commandCenter != self.development && self.commandCenter != self.creation"
            " && self.commandCenter != self.lounge && self.development != self.creation"
            " && self.development != self.lounge && self.creation != self.lounge",
            "the four channels must be different channels",
        ),
    )

    command_center: Snowflake
    """command_center channel id (COMMAND_CENTER_CHANNEL_ID)."""
    development: Snowflake
    """development channel id (DEVELOPMENT_CHANNEL_ID)."""
    creation: Snowflake
    """creation channel id (CREATION_CHANNEL_ID)."""
    lounge: Snowflake
    """lounge channel id (LOUNGE_CHANNEL_ID)."""


class DiscordTokensRef(_Model):
    """The Secret holding the four bot tokens; each bot Pod reads only its own token."""

    name: ResourceName
    """Name of the Secret."""
    reception_key: SecretKey = Env.DISCORD_RECEPTION_TOKEN.value
    """Key of the Reception bot's token."""
    spectra_key: SecretKey = Env.DISCORD_SPECTRA_TOKEN.value
    """Key of SPECTRA's token."""
    lynq_key: SecretKey = Env.DISCORD_LYNQ_TOKEN.value
    """Key of LYNQ's token."""
    paz_key: SecretKey = Env.DISCORD_PAZ_TOKEN.value
    """Key of PAZ's token."""

    def key_for(self, bot: str) -> str:
        """Return the Secret key of ``bot`` (reception or a persona)."""
        return str(getattr(self, f"{bot}_key"))


class DiscordSpec(_Model):
    """The Discord server: ids and the Secret with the four bot tokens."""

    guild_id: Snowflake
    """The Discord server (guild) id."""
    channels: DiscordChannels
    """Channel ids."""
    tokens_secret_ref: DiscordTokensRef
    """The Secret holding the four bot tokens."""
    task_role_id: Snowflake | None = None
    """Only members with this role may use /task; unset: anyone in the fleet's channels."""
    api_base_url: Url | None = None
    """Discord REST base URL override (a proxy or a local test server); unset: Discord."""
    gateway_url: Url | None = None
    """Discord gateway URL override; unset: Discord."""


class GeminiSpec(_Model):
    """The LLM: a Secret with the API key, model names and the fleet-wide rate limit."""

    api_key_secret_ref: SecretKeyRef
    """The Secret key holding GEMINI_API_KEY."""
    model: ModelName | None = None
    """Generation model (GEMINI_MODEL); unset: the runtime's default GA flash model."""
    embedding_model: ModelName | None = None
    """Embedding model (GEMINI_EMBEDDING_MODEL); unset: the runtime's default."""
    embedding_dimensions: Annotated[
        int,
        Cel("self == oldSelf", "embeddingDimensions is immutable: every stored embedding has it"),
    ] = Field(default=DEFAULT_EMBEDDING_DIMENSIONS, ge=1, le=MAX_EMBEDDING_DIMENSIONS)
    """Embedding dimensions stored in pgvector. Immutable: stored memories would no longer
    match."""
    requests_per_minute: int | None = Field(default=None, ge=1, le=100000)
    """Requests per minute shared by the whole fleet; unset: the runtime's default."""
    base_url: Url | None = None
    """Gemini API base URL override; unset: Google."""


class PersonaSpec(_Model):
    """One persona's worker: on or off, and its overrides."""

    enabled: bool = True
    """Run this persona's worker."""
    model: ModelName | None = None
    """Gemini model for this persona only; unset: spec.gemini.model."""
    resources: Resources | None = None
    """Container resources; unset: spec.resources."""


class PersonasSpec(_Model):
    """The three personas; each can be disabled or given overrides."""

    __cel__ = (
        Cel(
            "self.spectra.enabled || self.lynq.enabled || self.paz.enabled",
            "at least one persona must be enabled",
        ),
    )

    spectra: PersonaSpec = PersonaSpec()
    """SPECTRA (facilitator)."""
    lynq: PersonaSpec = PersonaSpec()
    """LYNQ (logic engineer)."""
    paz: PersonaSpec = PersonaSpec()
    """PAZ (creative)."""

    def get(self, persona: str) -> PersonaSpec:
        """Return the spec of ``persona`` (one of the contract's ``PERSONAS``)."""
        spec: PersonaSpec = getattr(self, persona)
        return spec

    def enabled(self) -> list[str]:
        """Return the enabled personas in the contract's order."""
        return [p for p in PERSONAS if self.get(p).enabled]

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Check that a persona is left, as the CRD's rule does."""
        if not self.enabled():
            raise ValueError("at least one persona must be enabled")
        return self


_IMMUTABLE_STORAGE = Cel(
    "self == oldSelf",
    "storage is immutable: a StatefulSet's volume claims cannot change (resizing or moving "
    "would strand the data); migrate to a new fleet instead",
)


class Storage(_Model):
    """A data volume: a PersistentVolumeClaim, kept when the fleet is deleted; immutable."""

    size: Quantity = "1Gi"
    """Volume size, e.g. 1Gi."""
    storage_class_name: ResourceName | None = None
    """StorageClass of the volume; unset: the cluster's default."""


class PostgresStorage(Storage):
    """PostgreSQL's data volume: memories grow, so it starts larger. Immutable."""

    size: Quantity = "5Gi"
    """Volume size, e.g. 5Gi."""


class ManagedRedis(_Model):
    """Run Redis as a StatefulSet in the fleet (BSD-licensed: Redis <= 7.2, or Valkey)."""

    image: Image = "redis:7.2.7-alpine"
    """Redis image."""
    storage: Annotated[Storage, _IMMUTABLE_STORAGE] = Storage()
    """The data volume. Immutable."""
    resources: Resources | None = None
    """Container resources; unset: small defaults."""


class ManagedPostgres(_Model):
    """Run PostgreSQL with pgvector as a StatefulSet in the fleet."""

    image: Image = "pgvector/pgvector:pg17"
    """PostgreSQL image with the pgvector extension."""
    storage: Annotated[PostgresStorage, _IMMUTABLE_STORAGE] = PostgresStorage()
    """The data volume. Immutable."""
    resources: Resources | None = None
    """Container resources; unset: small defaults."""


class ExternalStore(_Model):
    """A store run elsewhere: a Secret key holds its URL (e.g. CloudNativePG's `uri`)."""

    url_secret_ref: SecretKeyRef
    """The Secret key holding the connection URL."""


def _store_rules(store: str) -> tuple[Cel, ...]:
    return (
        Cel("has(self.managed) != has(self.external)", "set exactly one of managed or external"),
        Cel(
            "has(self.managed) == has(oldSelf.managed)",
            f"{store} cannot switch between managed and external: the data would stay behind; "
            "create a new fleet and migrate the data",
        ),
    )


def _exactly_one(managed: object, external: object, store: str) -> None:
    if (managed is None) == (external is None):
        raise ValueError(f"{store}: set exactly one of managed or external")


class RedisSpec(_Model):
    """Redis (hot memory and queues): exactly one of managed or external."""

    __cel__ = _store_rules("redis")

    managed: ManagedRedis | None = None
    """Run Redis in the fleet."""
    external: ExternalStore | None = None
    """Use an external Redis."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Check exclusivity, as the CRD's rule does."""
        _exactly_one(self.managed, self.external, "redis")
        return self


class PostgresSpec(_Model):
    """PostgreSQL with pgvector (long-term memory): exactly one of managed or external."""

    __cel__ = _store_rules("postgresql")

    managed: ManagedPostgres | None = None
    """Run PostgreSQL in the fleet."""
    external: ExternalStore | None = None
    """Use an external PostgreSQL."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Check exclusivity, as the CRD's rule does."""
        _exactly_one(self.managed, self.external, "postgresql")
        return self


class PipelineSpec(_Model):
    """The daily long-term memory and report job (a CronJob)."""

    schedule: Cron | None = None
    """Cron schedule (5 fields, in timeZone); unset: daily at phases.processingStart."""
    suspend: bool = False
    """Suspend the CronJob (no new runs)."""
    starting_deadline_seconds: int = Field(default=3600, ge=10, le=86400)
    """How late a missed run may still start."""
    backoff_limit: int = Field(default=2, ge=0, le=6)
    """Retries of a failed run."""
    active_deadline_seconds: int = Field(default=1800, ge=60, le=86400)
    """Time limit of one run."""
    resources: Resources | None = None
    """Container resources; unset: spec.resources."""


class MonitoringSpec(_Model):
    """Monitoring switches."""

    scrape_annotations: bool = True
    """Put prometheus.io/scrape, port and path annotations on the bot Pods."""
    pod_monitor: bool = False
    """Create a Prometheus Operator PodMonitor (needs its CRDs)."""
    pod_monitor_labels: dict[str, LabelValue] = Field(default_factory=dict, max_length=16)
    """Extra labels on the PodMonitor (e.g. release: prometheus)."""


class FleetSpec(_Model):
    """The desired state of the fleet."""

    environment: Environment
    """test or production: sets ENVIRONMENT and its defaults (autonomous speech every 10 s at
    100% vs every 300 s at 33%; log level DEBUG vs INFO)."""
    image: Image = "ghcr.io/agentfleet/agentfleet:0.1.0"
    """The AgentFleet image; one image serves every role."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    """Image pull policy of the bot containers."""
    image_pull_secrets: list[
        Annotated[ResourceName, Field(description="A docker-registry Secret's name.")]
    ] = Field(default_factory=list, max_length=8)
    """Names of Secrets used to pull the image."""
    time_zone: TimeZone = DEFAULT_TIME_ZONE
    """IANA time zone of the daily phases and of the pipeline's schedule."""
    phases: PhasesSpec = PhasesSpec()
    """Start times of the daily phases."""
    speech: SpeechSpec = SpeechSpec()
    """Overrides of the autonomous speech defaults."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = None
    """Log level of the bots; unset: DEBUG (test) or INFO (production)."""
    discord: DiscordSpec
    """The Discord server: ids and the Secret with the four bot tokens."""
    gemini: GeminiSpec
    """The LLM: a Secret with the API key, model names and the shared rate limit."""
    personas: PersonasSpec = PersonasSpec()
    """The three personas; each can be disabled or given overrides."""
    redis: RedisSpec = RedisSpec(managed=ManagedRedis())
    """Redis (hot memory and queues): managed by the operator, or external."""
    postgresql: PostgresSpec = PostgresSpec(managed=ManagedPostgres())
    """PostgreSQL with pgvector (long-term memory): managed by the operator, or external."""
    pipeline: PipelineSpec = PipelineSpec()
    """The daily long-term memory and report job."""
    resources: Resources | None = None
    """Container resources of the bots; unset: requests 50m CPU / 128Mi, limit 512Mi."""
    paused: bool = False
    """Stop all writes to the fleet's children (the operator only reports that it is
    paused)."""
    monitoring: MonitoringSpec = MonitoringSpec()
    """Monitoring switches."""


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
        elif item not in {"function-after", "function-before", "tagged-union"} and not (
            item.startswith(("function-", "str[", "constrained-", "int[", "float["))
        ):
            parts.append(item)
    return ".".join(parts)


def _credentials_in(value: Any, path: str) -> Iterator[str]:
    """Yield the paths of strings in ``value`` that look like credentials."""
    if isinstance(value, str):
        if looks_like_credential(value):
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _credentials_in(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _credentials_in(item, f"{path}[{index}]")


CREDENTIAL_MESSAGE = (
    "this looks like a credential (a Discord bot token or a Google API key): put the value "
    "into a Secret and reference the Secret here"
)


def parse_spec(spec: Any) -> FleetSpec:
    """Validate a raw ``spec`` mapping; raise :class:`SpecError` naming every bad field."""
    raw = spec if spec is not None else {}
    problems = [f"{path}: {CREDENTIAL_MESSAGE}" for path in _credentials_in(raw, "spec")]
    try:
        parsed = FleetSpec.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{_field_path(tuple(err['loc']))}: {message}")
        raise SpecError(problems) from None
    if problems:
        raise SpecError(problems)
    return parsed


def parse_fleet(name: str, spec: Any) -> FleetSpec:
    """Validate a fleet's name and spec; raise :class:`SpecError` naming every problem."""
    problems = check_fleet_name(name)
    try:
        parsed = parse_spec(spec)
    except SpecError as exc:
        raise SpecError(problems + exc.problems) from None
    if problems:
        raise SpecError(problems)
    return parsed


def check_fleet_name(name: str) -> list[str]:
    """Return what is wrong with a fleet's name (the CRD checks the same at the root)."""
    problems = []
    if len(name) > MAX_FLEET_NAME_LENGTH:
        problems.append(
            f"metadata.name: at most {MAX_FLEET_NAME_LENGTH} characters (children's names "
            "and labels derive from it)"
        )
    if not re.match(FLEET_NAME, name):
        problems.append(
            "metadata.name: must start with a letter and hold only lowercase letters, digits "
            "and '-' (it names the fleet's Services)"
        )
    return problems


# --- status ---------------------------------------------------------------------------------


class Condition(_Model):
    """A condition (metav1.Condition)."""

    type: str = Field(max_length=316)
    """Ready, Progressing or Degraded."""
    status: Literal["True", "False", "Unknown"]
    """True, False or Unknown."""
    reason: str = Field(max_length=1024)
    """Machine-readable reason in CamelCase."""
    message: str = Field(default="", max_length=32768)
    """What happened and what a person can do about it."""
    last_transition_time: str = Field(max_length=64, json_schema_extra={"format": "date-time"})
    """When the status last changed."""
    observed_generation: int | None = Field(
        default=None, ge=0, json_schema_extra={"format": "int64"}
    )
    """The generation this condition was computed for."""


class ComponentStatus(_Model):
    """One component."""

    name: str = Field(max_length=32)
    """reception, spectra, lynq, paz, redis, postgresql or pipeline."""
    kind: str = Field(max_length=32)
    """Kind of the child: Deployment, StatefulSet, CronJob or External."""
    ready: bool
    """Whether it is ready."""
    message: str = Field(default="", max_length=1024)
    """Replica counts, schedule, or why it is not ready."""


class FleetStatus(_Model):
    """The observed state, written by the operator only."""

    observed_generation: int | None = Field(default=None, json_schema_extra={"format": "int64"})
    """The generation of the spec the operator last acted on."""
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=8,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Ready, Progressing and Degraded."""
    components: list[ComponentStatus] = Field(default_factory=list, max_length=16)
    """Readiness of each workload, from its own status."""
    ready: str | None = Field(default=None, max_length=16)
    """Ready components out of all, e.g. 7/7."""
    store_secret: str | None = Field(default=None, max_length=253)
    """The Secret with generated store passwords, once created (the operator never reads
    it)."""


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
    "check_fleet_name",
    "parse_fleet",
    "parse_spec",
]
