"""The child cache: what the watch streams delivered, with the operator's own writes on top."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentfleet_operator.cache import ChildCache, NotCached, entry
from agentfleet_operator.children.desired import CONFIGMAPS, DEPLOYMENTS


def body(name: str, version: int, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": str(version),
            "managedFields": [{"manager": "x"}],
        },
        "data": data,
    }


def cache_with(*seen: dict[str, Any]) -> ChildCache:
    cache = ChildCache([CONFIGMAPS, DEPLOYMENTS])
    cache.replace(CONFIGMAPS, None, dict(entry(b) for b in seen))
    return cache


def test_a_child_is_read_from_the_stream_without_its_managed_fields() -> None:
    cache = cache_with(body("a", 5, key="v"))
    found = cache.get(CONFIGMAPS, "ns", "a")
    assert found is not None and found["data"] == {"key": "v"}
    assert "managedFields" not in found["metadata"]
    assert cache.get(CONFIGMAPS, "ns", "missing") is None


def test_a_kind_not_listed_yet_is_read_from_the_api_server() -> None:
    cache = cache_with()
    with pytest.raises(NotCached):
        cache.get(DEPLOYMENTS, "ns", "a")


async def test_passes_wait_until_every_kind_was_listed_once() -> None:
    cache = cache_with()
    waiting = asyncio.ensure_future(cache.settled())
    await asyncio.sleep(0)
    assert not waiting.done()  # deployments are still to come
    cache.settle(DEPLOYMENTS, None)  # e.g. the list failed: passes read the API server instead
    await asyncio.wait_for(waiting, 1)


def test_our_own_write_wins_until_the_stream_catches_up() -> None:
    cache = cache_with(body("a", 5, key="old"))
    cache.wrote(CONFIGMAPS, body("a", 9, key="new"))
    assert cache.get(CONFIGMAPS, "ns", "a")["data"] == {"key": "new"}  # type: ignore[index]
    cache.put(CONFIGMAPS, body("a", 12, key="edited"))
    assert cache.get(CONFIGMAPS, "ns", "a")["data"] == {"key": "edited"}  # type: ignore[index]


def test_our_own_delete_hides_the_child_until_the_stream_drops_it() -> None:
    cache = cache_with(body("a", 5))
    cache.deleted(CONFIGMAPS, body("a", 5))
    assert cache.get(CONFIGMAPS, "ns", "a") is None
    cache.remove(CONFIGMAPS, body("a", 5))
    assert cache.get(CONFIGMAPS, "ns", "a") is None
    cache.put(CONFIGMAPS, body("a", 20))  # created again by someone
    assert cache.get(CONFIGMAPS, "ns", "a") is not None


def test_a_relist_reports_what_changed_behind_a_broken_watch() -> None:
    cache = cache_with(body("same", 1), body("edited", 1, k="a"), body("gone", 1))
    changed = cache.replace(
        CONFIGMAPS, None, dict(entry(b) for b in [body("same", 1), body("edited", 2, k="b")])
    )
    names = sorted(b["metadata"]["name"] for b in changed)
    assert names == ["edited", "gone"]
    assert cache.get(CONFIGMAPS, "ns", "gone") is None


def test_each_served_namespace_is_its_own_list() -> None:
    cache = ChildCache([CONFIGMAPS], namespaces=["ns", "other"])
    cache.replace(CONFIGMAPS, "ns", dict([entry(body("a", 1))]))
    cache.replace(CONFIGMAPS, "other", {})  # listing one namespace keeps the other's
    assert cache.get(CONFIGMAPS, "ns", "a") is not None
    assert cache.get(CONFIGMAPS, "other", "a") is None
