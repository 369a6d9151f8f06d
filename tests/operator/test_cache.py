"""The child cache: what the watch streams delivered, with the operator's own writes on top."""

from __future__ import annotations

from typing import Any

import pytest

from agentfleet_operator.cache import ChildCache, NotCached, compact, index_id
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


def cache_with(*seen: dict[str, Any]) -> tuple[ChildCache, dict[Any, list[bytes]]]:
    index: dict[Any, list[bytes]] = {("ns", b["metadata"]["name"]): [compact(b)] for b in seen}
    cache = ChildCache()
    cache.bind({index_id(CONFIGMAPS): index, "unrelated": object()})
    return cache, index


def test_a_child_is_read_from_the_stream_without_its_managed_fields() -> None:
    cache, _ = cache_with(body("a", 5, key="v"))
    found = cache.get(CONFIGMAPS, "ns", "a")
    assert found is not None and found["data"] == {"key": "v"}
    assert "managedFields" not in found["metadata"]
    assert cache.get(CONFIGMAPS, "ns", "missing") is None


def test_a_kind_without_an_index_is_read_from_the_api_server() -> None:
    cache, _ = cache_with()
    with pytest.raises(NotCached):
        cache.get(DEPLOYMENTS, "ns", "a")


def test_our_own_write_wins_until_the_stream_catches_up() -> None:
    cache, index = cache_with(body("a", 5, key="old"))
    cache.wrote(CONFIGMAPS, body("a", 9, key="new"))
    assert cache.get(CONFIGMAPS, "ns", "a")["data"] == {"key": "new"}  # type: ignore[index]
    index[("ns", "a")] = [compact(body("a", 12, key="edited"))]
    assert cache.get(CONFIGMAPS, "ns", "a")["data"] == {"key": "edited"}  # type: ignore[index]


def test_our_own_delete_hides_the_child_until_the_stream_drops_it() -> None:
    cache, index = cache_with(body("a", 5))
    cache.deleted(CONFIGMAPS, body("a", 5))
    assert cache.get(CONFIGMAPS, "ns", "a") is None
    del index[("ns", "a")]
    assert cache.get(CONFIGMAPS, "ns", "a") is None
    index[("ns", "a")] = [compact(body("a", 20))]  # created again by someone
    assert cache.get(CONFIGMAPS, "ns", "a") is not None
