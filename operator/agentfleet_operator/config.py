"""The fleet's non-secret configuration: environment defaults, the ConfigMap, per-role hashes.

All non-secret settings go into one ConfigMap that every workload reads with ``envFrom``.
Each Deployment's pod template carries a hash of only the keys its role uses, so a change
that matters to one role (say, the speech interval, used by reception) rolls that role only.
Secrets never pass through here: they reach Pods by ``secretKeyRef`` (see ``children.pods``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Final

from agentfleet_operator.api.types import FleetSpec
from agentfleet_operator.meta import FleetRef
from agentfleet_runtime.contract import ENVIRONMENT_DEFAULTS, HEALTH_PORT, SECRET_ENV, Env, Role

#: Keys every role reads: identity, logging, the shared LLM limiter, Discord ids.
_COMMON: Final = frozenset(
    {
        Env.ENVIRONMENT,
        Env.FLEET_NAME,
        Env.FLEET_TIMEZONE,
        Env.LOG_LEVEL,
        Env.LOG_FILE,
        Env.HEALTH_CHECK_PORT,
        Env.DISCORD_GUILD_ID,
        Env.DISCORD_API_BASE_URL,
        Env.DISCORD_GATEWAY_URL,
        Env.COMMAND_CENTER_CHANNEL_ID,
        Env.DEVELOPMENT_CHANNEL_ID,
        Env.CREATION_CHANNEL_ID,
        Env.LOUNGE_CHANNEL_ID,
        Env.GEMINI_BASE_URL,
        Env.GEMINI_REQUESTS_PER_MINUTE,
        Env.GEMINI_EMBEDDING_MODEL,
        Env.GEMINI_EMBEDDING_DIMENSIONS,
    }
)

#: The keys whose change must restart a role. Reception owns phases, routing and speech;
#: persona workers generate text; the pipeline runs as a fresh Job each day, so it always
#: reads the current ConfigMap and is never "rolled".
ROLE_KEYS: Final[Mapping[Role, frozenset[Env]]] = {
    Role.RECEPTION: _COMMON
    | {
        Env.PROCESSING_START,
        Env.MEETING_START,
        Env.FREE_START,
        Env.AUTONOMOUS_SPEECH_INTERVAL_SECONDS,
        Env.AUTONOMOUS_SPEECH_PROBABILITY,
        Env.MAX_REPLIES_PER_MESSAGE,
        Env.ENABLED_PERSONAS,
        Env.TASK_ROLE_ID,
    },
    Role.PERSONA: _COMMON | {Env.GEMINI_MODEL},
    Role.PIPELINE: _COMMON | {Env.GEMINI_MODEL, Env.PROCESSING_START},
}


def config_data(fleet: FleetRef, spec: FleetSpec) -> dict[str, str]:
    """Return the ConfigMap's data: every non-secret setting, defaults made explicit."""
    defaults = ENVIRONMENT_DEFAULTS[spec.environment.value]
    channels = spec.discord.channels
    gemini = spec.gemini
    values: dict[Env, str | None] = {
        Env.ENVIRONMENT: spec.environment.value,
        Env.FLEET_NAME: fleet.name,
        Env.FLEET_TIMEZONE: spec.time_zone,
        Env.LOG_LEVEL: spec.log_level or defaults.log_level,
        # Logs go to stdout for `kubectl logs`; the root filesystem is read-only anyway.
        Env.LOG_FILE: "",
        Env.HEALTH_CHECK_PORT: str(HEALTH_PORT),
        Env.DISCORD_GUILD_ID: spec.discord.guild_id,
        Env.TASK_ROLE_ID: spec.discord.task_role_id,
        Env.DISCORD_API_BASE_URL: spec.discord.api_base_url,
        Env.DISCORD_GATEWAY_URL: spec.discord.gateway_url,
        Env.COMMAND_CENTER_CHANNEL_ID: channels.command_center,
        Env.DEVELOPMENT_CHANNEL_ID: channels.development,
        Env.CREATION_CHANNEL_ID: channels.creation,
        Env.LOUNGE_CHANNEL_ID: channels.lounge,
        Env.PROCESSING_START: spec.phases.processing_start,
        Env.MEETING_START: spec.phases.meeting_start,
        Env.FREE_START: spec.phases.free_start,
        Env.AUTONOMOUS_SPEECH_INTERVAL_SECONDS: str(
            spec.speech.interval_seconds or defaults.speech_interval_seconds
        ),
        Env.AUTONOMOUS_SPEECH_PROBABILITY: str(
            spec.speech.probability
            if spec.speech.probability is not None
            else defaults.speech_probability
        ),
        Env.MAX_REPLIES_PER_MESSAGE: str(spec.speech.max_replies_per_message),
        Env.ENABLED_PERSONAS: ",".join(spec.personas.enabled()),
        Env.GEMINI_MODEL: gemini.model,
        Env.GEMINI_EMBEDDING_MODEL: gemini.embedding_model,
        Env.GEMINI_EMBEDDING_DIMENSIONS: str(gemini.embedding_dimensions),
        Env.GEMINI_REQUESTS_PER_MINUTE: (
            str(gemini.requests_per_minute) if gemini.requests_per_minute else None
        ),
        Env.GEMINI_BASE_URL: gemini.base_url,
    }
    data = {key.value: value for key, value in values.items() if value is not None}
    leaked = SECRET_ENV & set(data)
    if leaked:  # pragma: no cover - a programming error, guarded because it would leak tokens
        raise AssertionError(f"secret variables must never enter a ConfigMap: {sorted(leaked)}")
    return data


def config_hash(data: Mapping[str, str], role: Role, extra: Mapping[str, str] = {}) -> str:
    """Hash the ConfigMap keys ``role`` reads (plus role-specific ``extra`` values)."""
    keys = ROLE_KEYS[role]
    subset = {k: v for k, v in data.items() if k in keys}
    return digest({"config": subset, "extra": dict(extra)})


def digest(value: object) -> str:
    """Return a short, stable hash of a JSON-serialisable value."""
    raw = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]
