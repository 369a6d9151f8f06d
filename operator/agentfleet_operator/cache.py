"""What the operator knows of its children from their watch streams, so a pass reads nothing.

Every child kind is watched anyway (to repair drift within seconds; see
:mod:`agentfleet_operator.informer`); each event also lands here as the child's body
without its ``managedFields``, compacted to JSON bytes (a few KiB per child instead of
tens of KiB of Python objects). Once a kind's first list is in, a child missing from the
cache is missing from the cluster: a pass over an unchanged fleet makes no request for its
children at all. Until then, or for a kind the API server does not serve, the pass reads
the API server instead (:class:`NotCached`).

A watch event may lag the operator's own write by a moment. The answers of the operator's
own applies and deletes are kept as an overlay until the stream catches up, so a pass
right after a write does not mistake the old object for drift.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any, Final

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
"""(namespace, name) of a child."""


def compact(body: Mapping[str, Any]) -> bytes:
    """A child's body as a pass needs it, as JSON bytes."""
    kept = {key: body[key] for key in _KEEP if key in body}
    kept["metadata"] = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
    return orjson.dumps(kept)


def _key(body: Mapping[str, Any]) -> ChildKey:
    meta = body["metadata"]
    return str(meta.get("namespace", "")), str(meta["name"])


def entry(body: Mapping[str, Any]) -> tuple[ChildKey, bytes]:
    """A child as the cache keeps it: its (namespace, name) and its compacted body."""
    return _key(body), compact(body)


def _version(body: Mapping[str, Any]) -> int:
    # Resource versions are opaque to clients, but an API server backed by etcd hands
    # out increasing integers; anything else counts as older than what we wrote.
    try:
        return int(body["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return -1


class NotCached(Exception):
    """The kind is not in the cache (not listed yet, or not served): ask the API server."""


Scope = tuple[str, str | None]
"""(kind's plural, namespace or None for every namespace): what one watch covers."""


class ChildCache:
    """Children by kind, namespace and name, from the watch streams and our own writes.

    ``namespaces`` are the ones the operator serves, each watched on its own; empty means
    one watch per kind over the whole cluster.
    """

    def __init__(self, kinds: Iterable[ResourceType] = (), namespaces: Iterable[str] = ()) -> None:
        self._namespaced = tuple(namespaces)
        self._stores: dict[Scope, dict[ChildKey, bytes]] = {}
        self._written: dict[tuple[str, str, str], tuple[int, dict[str, Any] | None]] = {}
        self._pending = {(k.plural, ns) for k in kinds for ns in self._namespaced or (None,)}
        self._settled = asyncio.Event()
        if not self._pending:
            self._settled.set()

    def _scope(self, resource: ResourceType, namespace: str) -> Scope:
        return resource.plural, namespace if self._namespaced else None

    # -- fed by the informers ----------------------------------------------------------

    def replace(
        self, resource: ResourceType, namespace: str | None, fresh: Mapping[ChildKey, bytes]
    ) -> list[dict[str, Any]]:
        """Take a full list of the kind (see :func:`entry`); return the children that changed.

        A relist after a broken watch may differ from what the stream had said (a child
        deleted meanwhile comes back in its last known form): the caller queues their owners.
        """
        old = self._stores.get((resource.plural, namespace), {})
        changed = [
            orjson.loads(fresh.get(key) or old[key])
            for key in fresh.keys() | old.keys()
            if fresh.get(key) != old.get(key)
        ]
        self._stores[resource.plural, namespace] = dict(fresh)
        self.settle(resource, namespace)
        return changed

    def put(self, resource: ResourceType, body: Mapping[str, Any]) -> None:
        """A child added or modified, as its watch stream delivered it."""
        key, value = entry(body)
        self._stores.setdefault(self._scope(resource, key[0]), {})[key] = value

    def remove(self, resource: ResourceType, body: Mapping[str, Any]) -> None:
        """A child deleted, as its watch stream delivered it."""
        key = _key(body)
        self._stores.get(self._scope(resource, key[0]), {}).pop(key, None)

    def settle(self, resource: ResourceType, namespace: str | None) -> None:
        """The first list attempt of the kind in ``namespace`` is over (listed or not)."""
        self._pending.discard((resource.plural, namespace))
        if not self._pending:
            self._settled.set()

    async def settled(self) -> None:
        """Wait until every kind's first list attempt is over.

        Passes wait for this so that a restart next to many fleets does not read every
        child from the API server while the lists are still coming in.
        """
        await self._settled.wait()

    # -- read by the reconciler ----------------------------------------------------------

    def get(self, resource: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        """The child as last seen or written, None if absent; :class:`NotCached` if unknown."""
        store = self._stores.get(self._scope(resource, namespace))
        if store is None:
            raise NotCached(resource.plural)
        raw = store.get((namespace, name))
        seen: dict[str, Any] | None = orjson.loads(raw) if raw is not None else None
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
