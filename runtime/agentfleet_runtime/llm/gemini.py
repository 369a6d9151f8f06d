"""The fleet's only door to Gemini: generation and embeddings through google-genai's async client.

Everything that talks to the model goes through :class:`GeminiClient` so that retries, rate
limiting, metrics, the guide's ``API usage`` log line and secret hygiene are done once:

* **Retries are ours.** The SDK's own retry (``HttpRetryOptions``) is switched off with
  ``attempts=1`` so that exactly one loop decides: 429, 5xx, timeouts, connection errors and
  malformed bodies are retried up to ``max_attempts`` requests in total, waiting what the
  server asks for in its ``google.rpc.RetryInfo`` detail, else an exponential backoff with
  jitter. Other 4xx (bad key, bad request) are not retried: a retry cannot fix them.
* **Rate limiting is shared.** Free-tier quotas are per project, so an optional
  :class:`RateLimiter` (a Redis one shared by every pod lives elsewhere) is awaited before
  every request, retries included: each one counts against the quota.
* **Waiting is not the model's time.** The time spent queued at the rate limiter and the
  model's own time are measured apart (``agentfleet_gemini_limiter_wait_seconds``,
  ``agentfleet_gemini_model_latency_seconds``, and ``limiter_wait_ms`` / ``latency_ms`` in
  the ``API usage`` line): a full budget and a slow model need different fixes.
* **The API key never leaks.** It is kept as a ``SecretStr``; the exceptions this module
  raises carry only a redacted summary and are raised ``from None``, so the SDK's exception
  (which embeds the server's response) never reaches a log through a traceback either.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import re
import time
import urllib.request
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, NamedTuple, NoReturn, Protocol, Self, TypeVar, cast

import aiohttp
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from agentfleet_runtime.brain.attachments import InlineData
from agentfleet_runtime.contract import DEFAULT_EMBEDDING_DIMENSIONS, MODEL_EMBEDDING_DIMENSIONS
from agentfleet_runtime.observability.metrics import (
    API_USAGE_TOKENS,
    ERRORS,
    GEMINI_CALLS,
    GEMINI_ERRORS,
    GEMINI_LIMITER_WAIT,
    GEMINI_MODEL_LATENCY,
    GeminiErrorKind,
)
from agentfleet_runtime.retry import GEMINI_REQUEST, retry

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Google rejects batchEmbedContents with more requests than this, so larger inputs are split.
EMBED_BATCH_LIMIT: Final = 100
#: Task types of ``embed`` (the Gemini API's ``TaskType``).
EMBED_TASK_TYPES: Final = frozenset(
    {
        "TASK_TYPE_UNSPECIFIED",
        "RETRIEVAL_QUERY",
        "RETRIEVAL_DOCUMENT",
        "SEMANTIC_SIMILARITY",
        "CLASSIFICATION",
        "CLUSTERING",
        "QUESTION_ANSWERING",
        "FACT_VERIFICATION",
        "CODE_RETRIEVAL_QUERY",
    }
)
_REDACTED: Final = "[REDACTED]"


class GeminiSettings(BaseModel):
    """How to reach Gemini; built from the GEMINI_* environment variables by the caller.

    ``api_key`` is a ``SecretStr``: its ``repr``/``str`` print asterisks, so logging the
    settings object is safe.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr
    base_url: str | None = None
    """``None`` for Google's endpoint; the sandbox's server URL otherwise."""
    model: str = "gemini-3.8-flash"
    embedding_model: str = "gemini-embedding-001"
    embedding_dimensions: int = Field(
        default=DEFAULT_EMBEDDING_DIMENSIONS, ge=1, le=MODEL_EMBEDDING_DIMENSIONS
    )
    timeout_seconds: float = Field(default=30.0, gt=0)
    """Per request, not per call: a call may make up to ``max_attempts`` requests."""
    # cast: GEMINI_REQUEST has a limit (a Gemini call is never retried forever).
    max_attempts: int = Field(default=cast(int, GEMINI_REQUEST.max_attempts), ge=1)
    """Requests per call, the first one included."""
    backoff_base_seconds: float = Field(default=GEMINI_REQUEST.initial, ge=0)
    """First backoff when the server gives no RetryInfo; grows per attempt, with jitter."""
    backoff_max_seconds: float = Field(default=GEMINI_REQUEST.cap, ge=0)
    max_retry_delay_seconds: float = Field(default=60.0, ge=0)
    """When a 429 asks us to wait longer than this, give up at once instead of sleeping."""


class RateLimiter(Protocol):
    """Waits until one more Gemini request is allowed (shared by every process)."""

    async def acquire(self) -> None:
        """Return when the caller may send one request."""
        ...


class Turn(NamedTuple):
    """One message of a conversation, oldest first; ``model`` is the persona's own."""

    role: Literal["user", "model"]
    text: str
    images: tuple[InlineData, ...] = ()
    """Sent as inline data before the text, as Google advises for prompts with images."""


@dataclass(frozen=True, slots=True)
class Generation:
    """A successful generation."""

    text: str
    prompt_tokens: int
    output_tokens: int
    """Billed output tokens: the answer plus any thinking tokens."""
    model: str
    """The model that answered (its version when the server reports one)."""
    parsed: BaseModel | None = None
    """The answer validated into the pydantic model given as ``response_schema``."""


class LLMError(Exception):
    """Base of this module's errors; the message never contains the API key."""

    def __init__(self, message: str, *, attempts: int, status: str | None) -> None:
        super().__init__(message)
        self.attempts = attempts
        """Requests made before giving up."""
        self.status = status
        """Last failure: an HTTP code ("429", "500"...), "timeout", "connection",
        "malformed" or "empty"."""


class LLMUnavailable(LLMError):
    """Gemini could not produce an answer within ``max_attempts`` requests."""


class LLMRequestRejected(LLMUnavailable):
    """Gemini refused the request itself (4xx other than 429: bad key, bad request).

    A subclass of :class:`LLMUnavailable` because, to a caller, both mean "no answer";
    it is not retried since sending the same request again cannot succeed.
    """


class LLMEmptyResponse(LLMError):
    """Gemini answered without text (safety block, or an empty candidate) twice in a row."""


class _Malformed(Exception):
    """A 200 response that does not have the shape we need."""


class _Empty(Exception):
    """A well-formed response without any text."""


class _Failed(Exception):
    """A request failed; ``failure`` says how, and whether another request may help."""

    def __init__(self, failure: _Failure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


class _Retryable(_Failed):
    """A failed request worth sending again."""


_RETRY_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def parse_retry_delay(details: Any) -> float | None:
    """Seconds from the ``google.rpc.RetryInfo`` detail of a Google error body, if any.

    ``details`` is the SDK's ``APIError.details``: the whole JSON error body, whose
    ``error.details`` list may hold ``{"@type": ".../google.rpc.RetryInfo",
    "retryDelay": "17s"}`` (a protobuf Duration in its JSON form).
    """
    if isinstance(details, list) and len(details) == 1:
        details = details[0]
    if not isinstance(details, dict):
        return None
    error = details.get("error", details)
    items = error.get("details") if isinstance(error, dict) else None
    if not isinstance(items, list):
        return None
    for item in items:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _RETRY_DELAY.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


class _Failure(NamedTuple):
    status: str
    reason: str
    retryable: bool
    retry_after: float | None = None


def error_kind(status: str) -> GeminiErrorKind | None:
    """The error kind of a failed request's status; None for an empty answer.

    An empty answer (a safety block) is the model's answer, not Gemini failing. A failed
    connection counts with the 5xx: either way Gemini's side cannot be reached.
    """
    if status == "empty":
        return None
    if status in ("timeout", "408"):
        return GeminiErrorKind.TIMEOUT
    if status == "malformed":
        return GeminiErrorKind.MALFORMED
    if status == "429":
        return GeminiErrorKind.RATE_LIMITED
    if status == "connection" or int(status) >= 500:
        return GeminiErrorKind.SERVER_ERROR
    return GeminiErrorKind.CLIENT_ERROR


@dataclass(slots=True)
class _Spent:
    """What one call cost, summed over its requests, for the ``API usage`` line."""

    attempts: int = 0
    """Requests sent, retries included."""
    model_s: float = 0.0
    """The model's own time: from sending each request to its answer (or failure)."""
    limiter_wait_s: float = 0.0
    """Time queued at the shared rate limiter before the requests could be sent."""


def http_session() -> aiohttp.ClientSession:
    """The aiohttp session the SDK sends through (call inside the event loop).

    The SDK's own session trusts the environment, which costs two thread hops per request
    (a ``~/.netrc`` lookup and a proxy lookup): 0.6 ms of CPU each time, measured. An API
    key needs no netrc, so the environment is trusted only where a proxy is configured.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        trust_env=bool(urllib.request.getproxies_environment()),
        # The SDK's own buffer size: streamed responses can carry long lines.
        read_bufsize=2**22,
    )


def sdk_client(settings: GeminiSettings, session: aiohttp.ClientSession | None) -> genai.Client:
    """The google-genai client for ``settings``: the endpoint, API version and timeout.

    It makes one request per SDK call: :class:`GeminiClient` owns retries (see the module
    docstring), and setting ``attempts`` also stops the SDK's hidden 1-10 s retry on
    connection errors. ``agentfleet doctor`` uses the same client, so it checks what the
    fleet would reach.
    """
    http_options = types.HttpOptions(
        base_url=settings.base_url,
        api_version="v1beta",
        timeout=max(1, int(settings.timeout_seconds * 1000)),
        retry_options=types.HttpRetryOptions(attempts=1),
        aiohttp_client=session,
    )
    return genai.Client(api_key=settings.api_key.get_secret_value(), http_options=http_options)


class GeminiClient:
    """Async Gemini client: ``generate`` and ``embed`` with retries, limits and metrics.

    Build it with ``await GeminiClient.create(...)`` inside the event loop, once per process,
    and share it; call :meth:`close` (or use ``async with``) on shutdown. The constructor
    makes no network call but loads TLS certificates (~0.1 s of blocking disk I/O), which
    ``create`` does in a worker thread; it also gives the SDK the session of
    :func:`http_session`. Constructed directly (``session`` None), the SDK's own session is
    used.
    """

    def __init__(
        self,
        settings: GeminiSettings,
        rate_limiter: RateLimiter | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.settings = settings
        self._limiter = rate_limiter
        self._secret = settings.api_key.get_secret_value()
        self._retry = replace(
            GEMINI_REQUEST,
            initial=settings.backoff_base_seconds,
            cap=settings.backoff_max_seconds,
            max_attempts=settings.max_attempts,
        )
        self._session = session
        self._client = sdk_client(settings, session)
        # The SDK enforces the timeout on the HTTP exchange; this guard also bounds anything
        # around it (connection pool waits, body parsing) so a call can never hang.
        self._guard_seconds = settings.timeout_seconds + 1.0
        self.failing: str | None = None
        """Why the latest call gave up (redacted), until a call succeeds: what /ready shows."""

    @classmethod
    async def create(
        cls, settings: GeminiSettings, rate_limiter: RateLimiter | None = None
    ) -> GeminiClient:
        """Build a client in a worker thread, keeping the event loop responsive."""
        return await asyncio.to_thread(cls, settings, rate_limiter, http_session())

    async def __aenter__(self) -> GeminiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the HTTP sessions; the client cannot be used afterwards."""
        await self._client.aio.aclose()
        if self._session is not None:
            # The SDK closes only the sessions it made itself.
            await self._session.close()

    # -- public calls --------------------------------------------------------------------

    async def generate(
        self,
        system_prompt: str,
        turns: Sequence[Turn],
        *,
        response_schema: dict[str, Any] | type[BaseModel] | None = None,
        temperature: float | None = None,
    ) -> Generation:
        """Generate the model's next turn.

        ``response_schema`` asks for JSON, sent as ``responseJsonSchema``: a pydantic model
        class (its JSON Schema; the answer is validated into ``Generation.parsed``) or a
        JSON Schema dict (the answer must be valid JSON). An answer that does not validate
        counts as malformed and is retried.

        Raises :class:`LLMUnavailable` (or its :class:`LLMRequestRejected`) and
        :class:`LLMEmptyResponse`.
        """
        if not turns:
            raise ValueError("generate needs at least one turn")
        model = self.settings.model
        contents = _contents(turns)
        config = _generate_config(system_prompt, response_schema, temperature)

        async def send() -> types.GenerateContentResponse:
            return await self._client.aio.models.generate_content(
                model=model, contents=contents, config=config
            )

        def check(response: types.GenerateContentResponse) -> Generation:
            return self._generation(response, model, response_schema)

        spent = _Spent()
        generation = await self._call("generate", model, send, check, spent)
        _log_generation(model, generation, spent)
        return generation

    async def embed(
        self, texts: Sequence[str], *, task_type: str = "RETRIEVAL_DOCUMENT"
    ) -> list[list[float]]:
        """Embed ``texts`` into unit vectors of ``settings.embedding_dimensions`` values.

        One ``batchEmbedContents`` request per 100 texts (Google's per-batch limit), so a
        normal day's memories take one call. Vectors are L2-normalised here because Google
        only normalises the full 3072-dimension output, and the memory store compares by
        cosine / inner product.
        """
        if task_type not in EMBED_TASK_TYPES:
            raise ValueError(f"unknown task_type {task_type!r}")
        if not texts:
            return []
        model = self.settings.embedding_model
        dims = self.settings.embedding_dimensions
        config = types.EmbedContentConfig(task_type=task_type, output_dimensionality=dims)
        vectors: list[list[float]] = []
        spent = _Spent()
        for start in range(0, len(texts), EMBED_BATCH_LIMIT):
            # Typed as the SDK's content list: list is invariant, so list[str] is not one.
            chunk: list[types.ContentUnionDict] = list(texts[start : start + EMBED_BATCH_LIMIT])

            async def send(
                chunk: list[types.ContentUnionDict] = chunk,
            ) -> types.EmbedContentResponse:
                return await self._client.aio.models.embed_content(
                    model=model, contents=chunk, config=config
                )

            def check(
                response: types.EmbedContentResponse, expected: int = len(chunk)
            ) -> list[list[float]]:
                return _embedding_values(response, expected, dims)

            vectors.extend(await self._call("embed", model, send, check, spent))
        log.info(
            "API usage: kind=embed model=%s texts=%d dimensions=%d attempts=%d latency_ms=%d "
            "limiter_wait_ms=%d",
            model,
            len(texts),
            dims,
            spent.attempts,
            spent.model_s * 1000,
            spent.limiter_wait_s * 1000,
        )
        return vectors

    # -- internals -----------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        # Server messages are echoed into ours; a misbehaving proxy could echo the key.
        return text.replace(self._secret, _REDACTED) if self._secret else text

    @staticmethod
    def _generation(
        response: types.GenerateContentResponse,
        model: str,
        schema: dict[str, Any] | type[BaseModel] | None,
    ) -> Generation:
        text = response.text
        if not text:
            reason = "no candidates"
            if response.prompt_feedback and response.prompt_feedback.block_reason:
                reason = f"prompt blocked ({response.prompt_feedback.block_reason.value})"
            elif response.candidates and response.candidates[0].finish_reason:
                reason = f"finish reason {response.candidates[0].finish_reason.value}"
            raise _Empty(reason)
        parsed: BaseModel | None = None
        if isinstance(schema, type):
            try:
                parsed = schema.model_validate_json(text)
            except ValidationError as exc:
                raise _Malformed(
                    f"answer does not match {schema.__name__}: {exc.error_count()} errors"
                ) from None
        elif schema is not None:
            try:
                json.loads(text)
            except ValueError:
                raise _Malformed("answer is not JSON") from None
        usage = response.usage_metadata
        prompt_tokens = (usage.prompt_token_count or 0) if usage else 0
        output_tokens = (
            ((usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0))
            if usage
            else 0
        )
        return Generation(
            text=text,
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
            model=response.model_version or model,
            parsed=parsed,
        )

    def _classify(self, exc: BaseException) -> _Failure | None:
        """What a failed attempt means; ``None`` for exceptions that are bugs, not outages."""
        if isinstance(exc, genai_errors.APIError):
            code = int(exc.code or 0)
            reason = self._redact(f"HTTP {code} {exc.status or ''}: {exc.message or ''}".strip())
            # 408 is a timeout at Google's front end; the rest of 4xx are our own fault.
            retryable = code in (408, 429) or code >= 500
            return _Failure(str(code), reason, retryable, parse_retry_delay(exc.details))
        if isinstance(exc, TimeoutError):  # before OSError: TimeoutError is one
            return _Failure("timeout", f"no answer within {self.settings.timeout_seconds}s", True)
        if isinstance(exc, (aiohttp.ClientError, OSError)):
            return _Failure("connection", self._redact(f"{type(exc).__name__}: {exc}"), True)
        if isinstance(
            exc,
            (
                json.JSONDecodeError,
                ValidationError,
                genai_errors.UnknownApiResponseError,
                _Malformed,
            ),
        ):
            # What the SDK raises on a truncated body or one of an unexpected shape. Other
            # ValueErrors are our own mistakes (bad arguments) and must not be retried.
            return _Failure("malformed", self._redact(f"malformed response: {exc}"), True)
        return None

    async def _call(
        self,
        kind: str,
        model: str,
        send: Callable[[], Awaitable[T]],
        check: Callable[[T], R],
        spent: _Spent,
    ) -> R:
        """Run ``send`` then ``check`` with retries, adding the requests' cost to ``spent``."""
        attempts = 0
        empties = 0

        async def attempt() -> R:
            nonlocal attempts, empties
            attempts += 1
            spent.attempts += 1
            try:
                return await self._attempt(kind, model, send, check, empties, spent)
            except _Retryable as error:
                empties += error.failure.status == "empty"
                raise

        def before_wait(number: int, error: _Retryable, delay: float) -> None:
            self._before_retry(kind, model, number, error.failure, delay)

        try:
            result = await retry(
                attempt,
                self._retry,
                retry_on=_Retryable,
                delay_hint=lambda error: error.failure.retry_after,
                before_wait=before_wait,
            )
            self.failing = None
            return result
        except _Failed as failed:
            self._give_up(kind, model, failed.failure, attempts)

    async def _attempt(
        self,
        kind: str,
        model: str,
        send: Callable[[], Awaitable[T]],
        check: Callable[[T], R],
        empties: int,
        spent: _Spent,
    ) -> R:
        """One request: its result, or :class:`_Retryable` / :class:`_Failed` saying why not."""
        if self._limiter is not None:
            queued = time.monotonic()
            await self._limiter.acquire()
            waited = time.monotonic() - queued
            spent.limiter_wait_s += waited
            GEMINI_LIMITER_WAIT.observe(waited)
        try:
            result = check(await self._send(model, send, spent))
        except _Empty as exc:
            # An empty answer is asked again once: a second one is the model's answer.
            failure = _Failure("empty", f"empty answer: {exc}", empties < 1)
        except Exception as exc:
            classified = self._classify(exc)
            if classified is None:
                raise
            failure = classified
        else:
            GEMINI_CALLS.labels(model=model, kind=kind, status="ok").inc()
            return result
        GEMINI_CALLS.labels(model=model, kind=kind, status=failure.status).inc()
        kind_of_error = error_kind(failure.status)
        if kind_of_error is not None:
            GEMINI_ERRORS.labels(kind=kind_of_error.value).inc()
        raise _Retryable(failure) if failure.retryable else _Failed(failure)

    async def _send(self, model: str, send: Callable[[], Awaitable[T]], spent: _Spent) -> T:
        """``send`` within the guard timeout, timed: the model's own time, without any wait."""
        sent = time.monotonic()
        try:
            async with asyncio.timeout(self._guard_seconds):
                raw = await send()
        finally:
            took = time.monotonic() - sent
            spent.model_s += took
        GEMINI_MODEL_LATENCY.labels(model=model).observe(took)
        return raw

    def _before_retry(
        self, kind: str, model: str, number: int, failure: _Failure, delay: float
    ) -> None:
        """Log the retry about to wait, or give up if the server asks for too long a wait."""
        if delay > self.settings.max_retry_delay_seconds:
            log.warning(
                "Gemini %s %s failed (%s); server asks to wait %.1fs, more than "
                "the %.1fs allowed: giving up",
                kind,
                model,
                failure.reason,
                delay,
                self.settings.max_retry_delay_seconds,
            )
            raise _Failed(failure)
        log.warning(
            "Gemini %s %s attempt %d/%d failed (%s); retrying in %.2fs",
            kind,
            model,
            number,
            self.settings.max_attempts,
            failure.reason,
            delay,
        )

    def _give_up(self, kind: str, model: str, failure: _Failure, attempts: int) -> NoReturn:
        """Log the final failure and raise the error the callers handle."""
        ERRORS.labels(component="gemini").inc()
        message = self._redact(
            f"Gemini {kind} with {model} failed after {attempts} request(s): {failure.reason}"
        )
        log.error("%s", message)
        if failure.status != "empty":
            # An empty answer is the model's (a safety block), not Gemini being away.
            self.failing = message
        if failure.status == "empty":
            raise LLMEmptyResponse(message, attempts=attempts, status=failure.status) from None
        if not failure.retryable:
            raise LLMRequestRejected(message, attempts=attempts, status=failure.status) from None
        raise LLMUnavailable(message, attempts=attempts, status=failure.status) from None


def _contents(turns: Sequence[Turn]) -> str | list[types.ContentDict]:
    """The request's turns in the form the SDK turns into a request with the least work.

    Plain dicts (the SDK's TypedDicts) rather than its pydantic types save it about 12 %
    of its CPU per call; a lone user turn of text, the persona's usual prompt, goes as the
    bare string, which the SDK sends as that same user turn for about 0.04 ms less again.
    """
    if len(turns) == 1 and turns[0].role == "user" and not turns[0].images:
        return turns[0].text
    return [{"role": t.role, "parts": [*_image_parts(t.images), {"text": t.text}]} for t in turns]


def _image_parts(images: Sequence[InlineData]) -> list[types.PartDict]:
    """Inline data parts; the SDK sends the bytes base64-encoded."""
    return [{"inline_data": {"mime_type": i.mime_type, "data": i.data}} for i in images]


class _RequestConfig(types.GenerateContentConfig):
    """The SDK's request configuration, answering ``key in config`` at once.

    For every field it may send (about a hundred per request), the SDK first asks
    ``key in config``. A pydantic model has no ``__contains__``, so Python answers by
    iterating all of the model's fields, and the answer is always False (the iteration
    yields ``(name, value)`` pairs, never a name), after which the SDK reads the
    attribute. Saying False directly is the same answer: measured, 0.3 ms less CPU per
    generate request, about half of what a system instruction adds to the SDK's cost.
    """

    def __contains__(self, key: object) -> bool:
        return False

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Itself in place of the deep copy the SDK takes of every request's configuration.

        The SDK copies so that it may change its copy, which it does only to open MCP
        tool sessions, never passed here; nothing else changes a configuration once it
        is made, so one serves every request with the same instructions
        (:func:`_generate_config`). The copy cost about 0.05 ms.
        """
        if update or not deep:
            return super().model_copy(update=update, deep=deep)
        return self


def _generate_config(
    system_prompt: str,
    response_schema: dict[str, Any] | type[BaseModel] | None,
    temperature: float | None,
) -> types.GenerateContentConfig:
    """The request's configuration: instructions, sampling and the answer's shape.

    Without a schema it is the one made for these instructions before: a persona's
    replies share a handful of system instructions, and making a configuration (the SDK
    checks each of its fields as it is built) cost 40-60 us of every request.
    """
    if response_schema is None:
        return _instructed_config(system_prompt, temperature)
    config = _new_config(system_prompt, temperature)
    config.response_mime_type = "application/json"
    # JSON Schema for both forms: the SDK's own conversion of a pydantic model (its
    # ``response_schema``) rejects common shapes such as ``dict[str, int]`` fields
    # for the Gemini API, while ``responseJsonSchema`` takes pydantic's schema as is.
    config.response_json_schema = (
        response_schema
        if isinstance(response_schema, dict)
        else response_schema.model_json_schema()
    )
    return config


def _new_config(system_prompt: str, temperature: float | None) -> _RequestConfig:
    """A configuration with these instructions and temperature, answering in text."""
    return _RequestConfig(
        # No tools are ever passed; disabling the SDK's function-calling loop takes the
        # direct path and drops its "AFC is enabled" INFO line from every call.
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        system_instruction=system_prompt or None,
        temperature=temperature,
    )


#: A configuration per (system instruction, temperature) of the latest kinds asked for.
_instructed_config = functools.lru_cache(maxsize=64)(_new_config)


def _log_generation(model: str, generation: Generation, spent: _Spent) -> None:
    """Count the tokens and write the ``API usage`` line operators grep for.

    ``latency_ms`` is the model's own time (every request of the call), ``limiter_wait_ms``
    the time queued at the fleet's rate limiter before them.
    """
    API_USAGE_TOKENS.labels(model=model, direction="prompt").inc(generation.prompt_tokens)
    API_USAGE_TOKENS.labels(model=model, direction="output").inc(generation.output_tokens)
    log.info(
        "API usage: kind=generate model=%s prompt_tokens=%d output_tokens=%d "
        "total_tokens=%d attempts=%d latency_ms=%d limiter_wait_ms=%d",
        model,
        generation.prompt_tokens,
        generation.output_tokens,
        generation.prompt_tokens + generation.output_tokens,
        spent.attempts,
        spent.model_s * 1000,
        spent.limiter_wait_s * 1000,
    )


def _embedding_values(
    response: types.EmbedContentResponse, expected: int, dims: int
) -> list[list[float]]:
    """The vectors of a batch response, checked and L2-normalised."""
    embeddings = response.embeddings or []
    if len(embeddings) != expected:
        raise _Malformed(f"{len(embeddings)} embeddings for {expected} texts")
    vectors: list[list[float]] = []
    for embedding in embeddings:
        values = embedding.values or []
        if len(values) != dims:
            raise _Malformed(f"embedding has {len(values)} values, expected {dims}")
        norm = math.sqrt(sum(v * v for v in values))
        if not math.isfinite(norm) or norm == 0.0:
            raise _Malformed("embedding is zero or not finite")
        vectors.append([v / norm for v in values])
    return vectors
