"""Session fixtures of the cluster tests: one real control plane, the chart, the operator.

The control plane is the one ``scripts/cluster.sh`` builds and starts (etcd,
kube-apiserver, kube-controller-manager, kube-scheduler and kwok, whose nodes run no
containers). It is started once for the session on ports nobody else uses and stopped at
the end. If it cannot start, every cluster test fails with the script's message: a claim
about Kubernetes counts only once a real API server has seen it.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.kube import ROOT, Cluster, Operator, start_cluster, stop_cluster

OPERATOR_NAMESPACE = "agentfleet-system"
OPERATOR_ACCOUNT = "agentfleet-operator"
#: Namespaces the session's operator serves; one of them enforces Pod Security "restricted".
FLEET_NAMESPACES = ("agents-test", "agents-prod", "agents-restricted")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``cluster`` (``-m 'not cluster'`` skips them)."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.cluster)


def ephemeral_port_floor() -> int:
    """The lowest port the kernel hands out for outgoing connections and ``bind(0)``."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_block(size: int) -> int:
    """The first of ``size`` consecutive free loopback ports (the script uses port..port+5).

    The block lies below the kernel's ephemeral range: the controller manager, the
    scheduler and kwok bind their ports tens of seconds after this check, and in that
    time any connection made by a test running alongside may be given an ephemeral port.
    """
    top = min(ephemeral_port_floor(), 40000) - size
    for _ in range(200):
        base = random.randrange(15000, top)
        try:
            for port in range(base, base + size):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no block of free ports found")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A started local control plane with one kwok node and a default StorageClass."""
    state = tmp_path_factory.mktemp("cluster")
    port = free_port_block(6)
    started = start_cluster(state, port)
    try:
        yield started
    finally:
        stop_cluster(state, port)


@pytest.fixture(scope="session")
def chart(cluster: Cluster) -> Cluster:
    """The chart installed as shipped (its CRD included), serving the fleet namespaces."""
    for namespace in FLEET_NAMESPACES:
        labels = (
            {"pod-security.kubernetes.io/enforce": "restricted"}
            if namespace == "agents-restricted"
            else {}
        )
        cluster.ensure_namespace(namespace, labels)
    cluster.helm(
        "install",
        "agentfleet",
        str(ROOT / "charts" / "agentfleet"),
        "--namespace",
        OPERATOR_NAMESPACE,
        "--create-namespace",
        "--set",
        "watchNamespaces={" + ",".join(FLEET_NAMESPACES) + "}",
        "--wait",
        "--timeout",
        "120s",
    )
    return cluster


@pytest.fixture(scope="session")
def operator(chart: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    """The operator as a local process, logged in with the chart ServiceAccount's token."""
    folder = tmp_path_factory.mktemp("operator")
    kubeconfig = chart.service_account_kubeconfig(
        OPERATOR_NAMESPACE, OPERATOR_ACCOUNT, folder / "kubeconfig"
    )
    process = Operator(chart, kubeconfig, folder / "operator.log", FLEET_NAMESPACES)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        log = process.tail(400)
        if "Traceback" in log or "ERROR" in log:
            print(f"--- operator log (end) ---\n{log}")
