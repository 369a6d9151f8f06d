"""What the operator knows of its children from their watch streams, so a pass reads nothing.

Every child kind is watched anyway (to repair drift within seconds); each event also lands
here, through a kopf index (``@kopf.index``), as the child's body without its
``managedFields``, compacted to JSON bytes (a few KiB per child instead of tens of KiB of
Python objects). kopf fills every index from the initial list before it calls any other
handler, and the reconciler only runs because a handler asked for it, so a child missing
from the cache is missing from the cluster: a pass over an unchanged fleet makes no request
for its children at all.

A watch event may lag the operator's own write by a moment. The answers of the operator's
own applies and deletes are kept as an overlay until the stream catches up, so a pass
right after a write does not mistake the old object for drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import kopf
import orjson

from agentfleet_operator.children.desired import ResourceType

#: What a pass reads of a child; the rest (managedFields above all) is not kept.
_KEEP: Final = (
    "apiVersion",
    "kind",
    "spec",
    "data",
    "type",
    "automountServiceAccountToken",
    "status",
)

ChildKey = tuple[str, str]
"""(namespace, name) of a child, the key of each kind's index."""


def index_id(resource: ResourceType) -> str:
    """The kopf index id of a child kind (also the handler keyword that carries it)."""
    return f"{resource.plural}_cache"


def compact(body: Mapping[str, Any]) -> bytes:
    """A child's body as a pass needs it, as JSON bytes."""
    kept = {key: body[key] for key in _KEEP if key in body}
    kept["metadata"] = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
    return orjson.dumps(kept)


def index_child(body: kopf.Body, namespace: str | None, name: str | None, **_: Any) -> Any:
    """Kopf indexing handler: one child, keyed by (namespace, name)."""
    return {(namespace, name): compact(body)}


def _version(body: Mapping[str, Any]) -> int:
    # Resource versions are opaque to clients, but an API server backed by etcd hands
    # out increasing integers; anything else counts as older than what we wrote.
    try:
        return int(body["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return -1


class NotCached(Exception):
    """The kind is not in the cache (no index for it yet): read it from the API server."""


class ChildCache:
    """Children by kind, namespace and name, from kopf's indexes and the operator's writes."""

    def __init__(self) -> None:
        self._indexes: dict[str, Mapping[ChildKey, Any]] = {}
        self._written: dict[tuple[str, str, str], tuple[int, dict[str, Any] | None]] = {}

    def bind(self, handler_kwargs: Mapping[str, Any]) -> None:
        """Take kopf's indexes from any handler's keyword arguments (they are the same)."""
        if not self._indexes:
            self._indexes = {k: v for k, v in handler_kwargs.items() if k.endswith("_cache")}

    def get(self, resource: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        """The child as last seen or written, None if absent; :class:`NotCached` if unknown."""
        index = self._indexes.get(index_id(resource))
        if index is None:
            raise NotCached(resource.plural)
        store = index.get((namespace, name))
        seen: dict[str, Any] | None = orjson.loads(next(iter(store))) if store else None
        written = self._written.get((resource.plural, namespace, name))
        if written is None:
            return seen
        version, body = written
        if seen is not None and _version(seen) >= version:
            del self._written[(resource.plural, namespace, name)]  # the stream caught up
            return seen
        if seen is None and body is None:
            self._written.pop((resource.plural, namespace, name))
        return body

    def wrote(self, resource: ResourceType, body: Mapping[str, Any]) -> None:
        """Remember the answer of our own apply until the watch stream delivers it."""
        meta = body["metadata"]
        self._written[(resource.plural, meta["namespace"], meta["name"])] = (
            _version(body),
            orjson.loads(compact(body)),
        )

    def deleted(self, resource: ResourceType, body: Mapping[str, Any]) -> None:
        """Remember our own delete until the watch stream delivers it."""
        meta = body["metadata"]
        self._written[(resource.plural, meta["namespace"], meta["name"])] = (
            _version(body) + 1,
            None,
        )
