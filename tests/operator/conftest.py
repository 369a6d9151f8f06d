"""Fixtures of the operator tests: a kmock API server and AgentFleet objects."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import kopf
import pytest

from agentfleet_operator.kube import KubeClient
from agentfleet_operator.reconcile import FLEETS, Reconciler
from tests.operator.emulator import ApplyingEmulator, declare_resources

NAMESPACE = "agents-test"
FLEET_KEY = "agentfleet.dev/v1alpha1/agentfleets"

BASE_SPEC: dict[str, Any] = {
    "environment": "test",
    "discord": {
        "guildId": "100000000000000001",
        "channels": {
            "commandCenter": "100000000000000011",
            "development": "100000000000000012",
            "creation": "100000000000000013",
            "lounge": "100000000000000014",
        },
        "tokensSecretRef": {"name": "discord-tokens"},
    },
    "gemini": {"apiKeySecretRef": {"name": "gemini", "key": "GEMINI_API_KEY"}},
}


def fleet_body(name: str = "demo", namespace: str = NAMESPACE, **spec: Any) -> dict[str, Any]:
    """Return an AgentFleet as a user would apply it (``spec`` entries override the base)."""
    merged = copy.deepcopy(BASE_SPEC)
    merged.update(spec)
    return {
        "apiVersion": "agentfleet.dev/v1alpha1",
        "kind": "AgentFleet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": merged,
    }


@pytest.fixture
async def k8s(kmock: Any) -> AsyncIterator[Any]:
    """A kmock API server that creates on apply and assigns uids (see emulator.py)."""
    declare_resources(kmock)
    yield kmock


@pytest.fixture
def kmock_options(kmock_options: dict[str, Any]) -> dict[str, Any]:
    """Use the applying emulator for every operator test."""
    return {**kmock_options, "cls": ApplyingEmulator}


@pytest.fixture
async def client(k8s: Any) -> AsyncIterator[KubeClient]:
    """The operator's client, logged in to the kmock server."""
    kube = KubeClient(lambda: kopf.ConnectionInfo(server=str(k8s.url)))
    yield kube
    await kube.close()


@pytest.fixture
def reconciler(client: KubeClient) -> Reconciler:
    """A reconciler with predictable passwords (so tests can see they never leak)."""
    return Reconciler(client, password=lambda n: "p" * n, instance="test")


async def create_fleet(k8s: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Create a fleet through the API (so it gets a uid); return it."""
    ns = body["metadata"]["namespace"]
    async with k8s.post(FLEETS.path(ns), json=body) as response:
        assert response.status < 300, await response.text()
        return dict(await response.json())


async def patch_spec(k8s: Any, name: str, spec: dict[str, Any], ns: str = NAMESPACE) -> None:
    """Merge-patch a fleet's spec and bump its generation, as the API server would."""
    current = k8s.objects[FLEET_KEY, ns, name]
    generation = int(current["metadata"].get("generation", 1)) + 1
    patch = {"metadata": {"generation": generation}, "spec": spec}
    async with k8s.patch(
        FLEETS.path(ns, name),
        json=patch,
        headers={"Content-Type": "application/merge-patch+json"},
    ) as response:
        assert response.status < 300, await response.text()
