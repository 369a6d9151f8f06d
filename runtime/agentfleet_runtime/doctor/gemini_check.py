"""The Gemini checks: whether the key is accepted and the configured models exist.

One ``models.get`` per configured model (generation and embedding) through google-genai,
built exactly as the fleet builds it (:func:`agentfleet_runtime.llm.gemini.sdk_client`),
so the doctor reaches what the fleet would reach. Google answers a bad key with 400
``INVALID_ARGUMENT`` and the reason ``API_KEY_INVALID``, and an unknown model with 404
``NOT_FOUND``; telling the two apart is the point of these checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from google.genai import errors as genai_errors

from agentfleet_runtime.config import Settings
from agentfleet_runtime.contract import Env
from agentfleet_runtime.doctor.report import Check, failed, passed, skipped
from agentfleet_runtime.llm.gemini import http_session, sdk_client
from agentfleet_runtime.pipeline import gemini_settings

SECTION: Final = "Gemini"
_KEY_FIX: Final = (
    "Create a key at https://aistudio.google.com/apikey (or copy yours again, whole), put it "
    "in GEMINI_API_KEY (.env; in Kubernetes, the Secret that spec.gemini.apiKeySecretRef "
    "names) and restart the fleet."
)


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """What Gemini said about one configured model."""

    env: str
    """The variable naming it: GEMINI_MODEL or GEMINI_EMBEDDING_MODEL."""
    model: str
    code: int
    """HTTP status; 200 when it exists, 0 when nothing answered."""
    status: str = ""
    """Google's status (``NOT_FOUND``...) or, with code 0, the connection error."""
    reason: str = ""
    """The ``google.rpc.ErrorInfo`` reason, e.g. ``API_KEY_INVALID``."""
    methods: tuple[str, ...] = ()
    """What the model supports (``generateContent``, ``embedContent``...)."""

    def describe(self) -> str:
        """``404 NOT_FOUND`` (and the reason), or the connection error."""
        if self.code == 0:
            return f"no answer ({self.status})"
        return " ".join(p for p in (str(self.code), self.status, self.reason) if p)


def _reason(details: Any) -> str:
    """The ErrorInfo reason in a Google error body (the SDK's ``APIError.details``)."""
    if isinstance(details, list) and len(details) == 1:
        details = details[0]
    error = details.get("error", details) if isinstance(details, dict) else {}
    items = error.get("details") if isinstance(error, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("ErrorInfo"):
            return str(item.get("reason", ""))
    return ""


async def ask_models(settings: Settings) -> list[ModelAnswer]:
    """``models.get`` for the generation and the embedding model (needs GEMINI_API_KEY)."""
    config = gemini_settings(settings)
    session = http_session()
    client = await asyncio.to_thread(sdk_client, config, session)
    try:
        return list(
            await asyncio.gather(
                _ask(client, Env.GEMINI_MODEL.value, config.model),
                _ask(client, Env.GEMINI_EMBEDDING_MODEL.value, config.embedding_model),
            )
        )
    finally:
        await client.aio.aclose()
        await session.close()


async def _ask(client: Any, env: str, model: str) -> ModelAnswer:
    try:
        async with asyncio.timeout(30):
            found = await client.aio.models.get(model=model)
    except genai_errors.APIError as exc:
        return ModelAnswer(env, model, int(exc.code or 0), exc.status or "", _reason(exc.details))
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        # Connection errors name the host, never the key (it travels in a header).
        return ModelAnswer(env, model, 0, f"{type(exc).__name__}: {exc}".strip(": "))
    return ModelAnswer(env, model, 200, methods=tuple(found.supported_actions or ()))


def gemini_checks(key_set: bool, answers: Sequence[ModelAnswer]) -> list[Check]:
    """The key's line, then one line per model (skipped when the key is the problem)."""
    key_title = Env.GEMINI_API_KEY.value
    if not key_set:
        return [skipped(SECTION, key_title, "not set (see Configuration)")]
    key = key_check(answers)
    if key.failed:
        reason = "needs a working GEMINI_API_KEY"
        return [key, *(skipped(SECTION, f"{a.env} {a.model}", reason) for a in answers)]
    return [key, *(model_check(a) for a in answers)]


def key_check(answers: Sequence[ModelAnswer]) -> Check:
    """Whether Google accepted the key: any answer but a refusal of the key itself."""
    title = Env.GEMINI_API_KEY.value
    for answer in answers:
        if answer.reason == "API_KEY_INVALID" or (answer.code in (400, 401) and not answer.reason):
            detail = f"Gemini rejects this key ({answer.describe()})"
            return failed(SECTION, title, detail, _KEY_FIX)
        if answer.code == 403:
            return failed(
                SECTION,
                title,
                f"the key may not use the Gemini API ({answer.describe()})",
                "In Google Cloud console → APIs & Services, enable the Generative Language "
                "API for the key's project and allow it in the key's API restrictions; or "
                "create a key at https://aistudio.google.com/apikey.",
            )
    if answers and all(a.code == 0 for a in answers):
        return failed(
            SECTION,
            title,
            f"Gemini did not answer: {answers[0].describe()}",
            "Check the network path to generativelanguage.googleapis.com (proxy, firewall, "
            "egress policy) and, if set, GEMINI_BASE_URL.",
        )
    return passed(SECTION, title, "accepted by Gemini")


#: What each model variable's model must support for the fleet's calls.
_NEEDED_METHOD: Final = {
    Env.GEMINI_MODEL.value: "generateContent",
    Env.GEMINI_EMBEDDING_MODEL.value: "embedContent",
}


def model_check(answer: ModelAnswer) -> Check:
    """The model exists and supports the call the fleet makes with it."""
    title = f"{answer.env} {answer.model}"
    needed = _NEEDED_METHOD[answer.env]
    if answer.code == 200 and (not answer.methods or needed in answer.methods):
        return passed(SECTION, title, "available")
    example = "gemini-embedding-001" if needed == "embedContent" else "gemini-3.8-flash"
    fix = (
        f"Set {answer.env} to a model listed at https://ai.google.dev/gemini-api/docs/models "
        f"that supports {needed} (e.g. {example}), in .env or the AgentFleet's spec.gemini."
    )
    if answer.code == 200:
        return failed(SECTION, title, f"exists but does not support {needed}", fix)
    if answer.code == 404:
        return failed(SECTION, title, f"Gemini has no such model ({answer.describe()})", fix)
    return failed(
        SECTION,
        title,
        f"Gemini did not answer as expected ({answer.describe()})",
        "Run the doctor again in a minute; a 429 means the key's quota is used up for now.",
    )
