"""The CRD as a user meets it: ``kubectl apply -f crds/``, then bad fleets refused.

A real API server accepts the generated CRD (an emulator once accepted a CRD a real one
rejects) and rejects each invalid AgentFleet at ``kubectl apply`` with a message that
names the field. Creates are server-side dry runs, so nothing is stored; the transition
rules (immutability) are checked against a stored fleet.

This module applies the CRD with kubectl and deletes it afterwards; the chart, installed
by the tests that follow, brings it back the way ``helm install`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.fleets import fleet
from tests.cluster.kube import ROOT, Cluster, wait_until

NAMESPACE = "api-checks"
DISCORD_TOKEN = ".".join(["MTIzNDU2Nzg5MDEyMzQ1Njc4OQ", "GhAbCd", "abcdefghijklmnopqrstuvwxyz0123"])
GOOGLE_KEY = "AIza" + "SyA1234567890abcdefghijklmnopqrstuvw"


@pytest.fixture(scope="module")
def crd(cluster: Cluster) -> Iterator[Cluster]:
    """The CRD applied as the README says, removed again after this module."""
    cluster.kubectl("apply", "-f", str(ROOT / "crds"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/agentfleets.agentfleet.dev", "--timeout=60s"
    )
    cluster.ensure_namespace(NAMESPACE)
    try:
        yield cluster
    finally:
        cluster.kubectl("delete", "-f", str(ROOT / "crds"), "--wait=true", "--timeout=120s")


def test_kubectl_explain_documents_the_fields(crd: Cluster) -> None:
    # The API server publishes a new CRD's OpenAPI a moment after it is Established.
    def explain() -> str | None:
        result = crd.run("kubectl", "explain", "agentfleet.spec.phases.meetingStart", check=False)
        return result.stdout if result.returncode == 0 else None

    text = wait_until(explain, 60, "kubectl explain to know AgentFleet")
    assert "ACTIVE (work mode) starts." in text
    recursive = crd.kubectl("explain", "agentfleet.spec", "--recursive")
    for field in ("tokensSecretRef", "embeddingDimensions", "podMonitorLabels", "schedule"):
        assert field in recursive


def test_both_examples_are_accepted_with_defaults_filled_in(crd: Cluster) -> None:
    for name in ("accepted-test", "accepted-prod"):
        out = crd.run(
            "kubectl",
            "apply",
            "--dry-run=server",
            "-o",
            "yaml",
            "-f",
            "-",
            stdin=_yaml(fleet(name, NAMESPACE)),
        ).stdout
        assert 'processingStart: "06:00"' in out and "maxRepliesPerMessage: 1" in out


def _yaml(document: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(document, sort_keys=False)


#: (case, the change to the test example's spec or name, what the error must say)
INVALID: list[tuple[str, dict[str, Any], list[str]]] = [
    ("enum", {"environment": "staging"}, ["spec.environment", "Unsupported value"]),
    ("pull policy enum", {"imagePullPolicy": "Sometimes"}, ["spec.imagePullPolicy"]),
    ("time zone shape", {"timeZone": "tokyo"}, ["spec.timeZone", "IANA time zone"]),
    ("time format", {"phases": {"meetingStart": "7:00"}}, ["spec.phases.meetingStart", "HH:MM"]),
    (
        "phase order",
        {"phases": {"meetingStart": "21:00"}},
        ["spec.phases", "processingStart < meetingStart < freeStart"],
    ),
    ("cron minute", {"pipeline": {"schedule": "61 6 * * *"}}, ["spec.pipeline.schedule", "0-59"]),
    ("cron weekday", {"pipeline": {"schedule": "0 6 * * 8"}}, ["spec.pipeline.schedule", "0-7"]),
    ("cron TZ", {"pipeline": {"schedule": "TZ=UTC 0 6 * * *"}}, ["spec.timeZone, not TZ="]),
    (
        "negative quantity",
        {"resources": {"requests": {"memory": "-1Mi"}}},
        ["spec.resources.requests[memory]", "non-negative quantity"],
    ),
    (
        "negative integer quantity",
        {"personas": {"lynq": {"resources": {"requests": {"cpu": -1}}}}},
        ["spec.personas.lynq.resources.requests[cpu]", "non-negative quantity"],
    ),
    (
        "limit below request",
        {"resources": {"requests": {"memory": "512Mi"}, "limits": {"memory": "256Mi"}}},
        ["spec.resources", "at least the request"],
    ),
    ("probability", {"speech": {"probability": 1.5}}, ["spec.speech.probability"]),
    (
        "dimensions",
        {"gemini": {"embeddingDimensions": 3000}},
        ["spec.gemini.embeddingDimensions", "2000"],
    ),
    ("guild id", {"discord": {"guildId": "abc"}}, ["spec.discord.guildId"]),
    (
        "same channel twice",
        {"discord": {"channels": {"lounge": "100000000000000011"}}},
        ["spec.discord.channels", "different channels"],
    ),
    (
        "token in a key name",
        {"discord": {"tokensSecretRef": {"receptionKey": DISCORD_TOKEN}}},
        ["spec.discord.tokensSecretRef.receptionKey", "looks like a credential"],
    ),
    (
        "API key as the model",
        {"gemini": {"model": GOOGLE_KEY}},
        ["spec.gemini.model", "looks like a credential"],
    ),
    (
        "token in the image",
        {"image": f"ghcr.io/agentfleet/agentfleet:{DISCORD_TOKEN}"},
        ["spec.image", "looks like a credential"],
    ),
    (
        "API key in a label",
        {"monitoring": {"podMonitorLabels": {"release": GOOGLE_KEY}}},
        ["spec.monitoring.podMonitorLabels", "looks like a credential"],
    ),
    (
        "password in a URL",
        {"gemini": {"baseUrl": "https://user:secret@gemini.example.com"}},
        ["spec.gemini.baseUrl", "user:password@"],
    ),
    (
        "key in a URL query",
        {"discord": {"apiBaseUrl": "https://discord.example.com/api?token=abc"}},
        ["spec.discord.apiBaseUrl", "in the query"],
    ),
    (
        "both stores",
        {"redis": {"external": {"urlSecretRef": {"name": "r", "key": "url"}}}},
        ["spec.redis", "exactly one of managed or external"],
    ),
    (
        "no store",
        {"postgresql": {"managed": None}},
        ["spec.postgresql", "exactly one of managed or external"],
    ),
    (
        "no persona",
        {"personas": {p: {"enabled": False} for p in ("spectra", "lynq", "paz")}},
        ["spec.personas", "at least one persona"],
    ),
    ("unknown field", {"replicas": 3}, ['unknown field "spec.replicas"']),
]

#: (case, metadata.name, what the error must say)
INVALID_NAMES = [
    ("name too long", "a" * 41, ["metadata.name", "at most 40 characters"]),
    ("leading digit", "1fleet", ["metadata.name", "must start with a letter"]),
    ("dots", "my.fleet", ["metadata.name", "must start with a letter"]),
]


def _rejected(cluster: Cluster, manifest: dict[str, Any]) -> str:
    result = cluster.run(
        "kubectl", "apply", "--dry-run=server", "-f", "-", stdin=_yaml(manifest), check=False
    )
    assert result.returncode != 0, f"accepted: {result.stdout}"
    return result.stderr


@pytest.mark.parametrize(("case", "patch", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_an_invalid_fleet_is_rejected_naming_the_field(
    crd: Cluster, case: str, patch: dict[str, Any], expected: list[str]
) -> None:
    error = _rejected(crd, fleet("invalid", NAMESPACE, patch))
    for fragment in expected:
        assert fragment in error, error


@pytest.mark.parametrize(
    ("case", "name", "expected"), INVALID_NAMES, ids=[c[0] for c in INVALID_NAMES]
)
def test_an_invalid_fleet_name_is_rejected(
    crd: Cluster, case: str, name: str, expected: list[str]
) -> None:
    error = _rejected(crd, fleet(name, NAMESPACE))
    for fragment in expected:
        assert fragment in error, error


@pytest.fixture(scope="module")
def stored(crd: Cluster) -> dict[str, Any]:
    """A fleet stored for the transition rules (no operator runs in this module)."""
    manifest = fleet("stored", NAMESPACE)
    crd.apply(manifest)
    return manifest


@pytest.mark.parametrize(
    ("case", "patch", "expected"),
    [
        (
            "storage size",
            {"redis": {"managed": {"storage": {"size": "3Gi"}}}},
            ["spec.redis.managed.storage", "storage is immutable"],
        ),
        (
            "storage class",
            {"postgresql": {"managed": {"storage": {"storageClassName": "fast"}}}},
            ["spec.postgresql.managed.storage", "storage is immutable"],
        ),
        (
            "managed to external",
            {
                "postgresql": {
                    "managed": None,
                    "external": {"urlSecretRef": {"name": "db", "key": "uri"}},
                }
            },
            ["spec.postgresql", "cannot switch between managed and external"],
        ),
        (
            "embedding dimensions",
            {"gemini": {"embeddingDimensions": 1536}},
            ["spec.gemini.embeddingDimensions", "immutable"],
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_change_that_would_strand_data_is_rejected(
    crd: Cluster, stored: dict[str, Any], case: str, patch: dict[str, Any], expected: list[str]
) -> None:
    from tests.cluster.fleets import merged

    changed = {**stored, "spec": merged(stored["spec"], patch)}
    error = _rejected(crd, changed)
    for fragment in expected:
        assert fragment in error, error
    # A change that strands nothing is still accepted.
    crd.run(
        "kubectl",
        "apply",
        "--dry-run=server",
        "-f",
        "-",
        stdin=_yaml(
            {**stored, "spec": merged(stored["spec"], {"speech": {"intervalSeconds": 30}})}
        ),
    )
