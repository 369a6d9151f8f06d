"""Benchmark: the operator against a real API server, beside ``kubectl apply`` of the same objects.

Run: ``.venv/bin/python -m tests.bench.bench_operator [--fleets 1,100,1000] [--quick]``

For each size, two fresh local control planes (``scripts/cluster.sh``, with the controller
manager's and scheduler's client rates raised so that the control plane, not their
throttling, is measured), each holding the same unrelated objects and namespaces, run one
of two things, so neither runs beside the other's Pods:

* **the floor**: the children the operator would render for N fleets (13 objects each,
  owner references dropped), written with one ``kubectl apply -f`` into namespaces of
  their own. Its times are what the control plane itself needs to create the objects and
  bring every Deployment and StatefulSet to ready.
* **the operator**: ``python -m agentfleet_operator`` (a subprocess, its own RSS), then
  ``kubectl apply -f`` of N AgentFleets. Measured: all children created, every fleet
  Ready, and for each fleet the lag between its last workload becoming ready and its
  Ready condition, while the resync (set short here, 30 s) runs through every fleet.

Both print the CPU seconds the control plane (and the operator) used until ready.

Then, with every fleet Ready: the writes and reads of a no-op resync pass, a restart
(writes, time, peak RSS), and API requests per minute at rest. ``--noise`` unrelated
ConfigMaps in other namespaces are created first (the operator's watches must not see
them). A watcher in this process records when each object becomes ready, from watch
events (not polling). Figures are printed as a table; docs/benchmarks.md holds a run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from agentfleet_operator.api import constants as c
from agentfleet_operator.api.types import parse_spec
from agentfleet_operator.children.basics import store_secret
from agentfleet_operator.children.desired import desired_children
from agentfleet_operator.meta import FleetRef
from tests.cluster.conftest import free_port_block
from tests.cluster.fleets import fleet, secrets
from tests.cluster.kube import ROOT, Cluster, start_cluster, stop_cluster
from tests.fixtures.redis import free_port

RESYNC_SECONDS = 30
FLEET_NAMESPACES = 20
FLOOR_MANAGER = "bench-floor"
# One kubectl writes a thousand fleets' children one object at a time: minutes, not seconds.
APPLY_TIMEOUT = 3600
WORKLOADS = ("deployments", "statefulsets")
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
NO_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_read=None)


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def control_plane_cpu(cluster: Cluster) -> float:
    """CPU seconds used so far by etcd, the API server, the controllers, scheduler and kwok."""
    return sum(
        cpu_seconds(int((cluster.state / "pids" / name).read_text())) for name in CONTROL_PLANE
    )


def percentile(values: list[float], share: float) -> float:
    """The ``share`` percentile (nearest rank) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


@dataclass
class Watcher:
    """Records, from watch events, when each workload and fleet first became ready."""

    cluster: Cluster
    ready_at: dict[tuple[str, str, str], float] = field(default_factory=dict)
    seen: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def _ssl(self) -> ssl.SSLContext:
        pki = self.cluster.state / "pki"
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return context

    def _server(self) -> str:
        config = yaml.safe_load(self.cluster.kubeconfig.read_text())
        return str(config["clusters"][0]["cluster"]["server"])

    async def start(self) -> None:
        """Watch Deployments, StatefulSets, CronJobs and AgentFleets in every namespace."""
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl()))
        self._session = session
        paths = {
            "deployments": "/apis/apps/v1/deployments",
            "statefulsets": "/apis/apps/v1/statefulsets",
            "cronjobs": "/apis/batch/v1/cronjobs",
            "agentfleets": f"/apis/{c.GROUP}/{c.VERSION}/{c.PLURAL}",
        }
        for kind, path in paths.items():
            self.tasks.append(asyncio.create_task(self._watch(kind, self._server() + path)))

    async def _watch(self, kind: str, url: str) -> None:
        version = ""
        while True:
            params = {"watch": "1", "allowWatchBookmarks": "true", "timeoutSeconds": "600"}
            if version:
                params["resourceVersion"] = version
            try:
                async with self._session.get(url, params=params, timeout=NO_TIMEOUT) as response:
                    if response.status != 200:  # e.g. a CRD not served yet
                        await asyncio.sleep(0.5)
                        continue
                    async for line in response.content:
                        event = json.loads(line)
                        body = event["object"]
                        if event["type"] == "ERROR":  # 410 Gone: start again from now
                            version = ""
                            break
                        version = body["metadata"].get("resourceVersion", version)
                        if event["type"] in ("ADDED", "MODIFIED"):
                            self._record(kind, body)
            except (TimeoutError, OSError, aiohttp.ClientError, json.JSONDecodeError):
                await asyncio.sleep(0.5)

    def _record(self, kind: str, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        key = (kind, meta["namespace"], meta["name"])
        self.seen[key] = body
        if key not in self.ready_at and _is_ready(kind, body):
            self.ready_at[key] = time.monotonic()

    def count(self, kind: str, namespaces: set[str], *, ready: bool) -> int:
        """How many objects of ``kind`` in ``namespaces`` exist (or are ready)."""
        source = self.ready_at if ready else self.seen
        return sum(1 for k in source if k[0] == kind and k[1] in namespaces)

    async def close(self) -> None:
        """Stop watching."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self._session.close()


def _is_ready(kind: str, body: dict[str, Any]) -> bool:
    status = body.get("status") or {}
    generation = body["metadata"].get("generation", 0)
    observed = status.get("observedGeneration", 0)
    if kind == "deployments":
        return observed >= generation and status.get("availableReplicas", 0) >= 1
    if kind == "statefulsets":
        return observed >= generation and status.get("readyReplicas", 0) >= 1
    if kind == "agentfleets":
        return any(
            cond.get("type") == "Ready"
            and cond.get("status") == "True"
            and cond.get("observedGeneration") == generation
            for cond in status.get("conditions") or []
        )
    return True  # a CronJob is ready once it exists


async def until(check: Any, timeout: float, what: str) -> float:
    """Wait for ``check()``; return the time it became true (monotonic)."""
    deadline = time.monotonic() + timeout
    said = time.monotonic()
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        if time.monotonic() - said > 30:
            print(f"   ... still waiting for {what}", flush=True)
            said = time.monotonic()
        await asyncio.sleep(0.05)
    return time.monotonic()


def floor_documents(fleets: int, namespaces: list[str]) -> list[dict[str, Any]]:
    """The operator's own rendering of N fleets' children, as plain manifests."""
    documents = []
    spec = parse_spec(fleet("x", "x")["spec"])
    for index in range(fleets):
        ref = FleetRef(f"fleet-{index}", namespaces[index % len(namespaces)], uid="floor")
        bodies = [child.body for child in desired_children(ref, spec)]
        bodies.append(store_secret(ref))
        for body in bodies:
            meta = body["metadata"]
            meta.pop("ownerReferences", None)
            # Not ours: the operator must not take these for children it lost.
            meta["labels"][c.LABEL_MANAGED_BY] = FLOOR_MANAGER
            documents.append(body)
    return documents


@dataclass
class OperatorProcess:
    """The operator as a subprocess, and its metrics."""

    cluster: Cluster
    log: Path
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **self.cluster.env(),
            "AGENTFLEET_METRICS_PORT": str(self.metrics_port),
            "AGENTFLEET_LIVENESS": "",
            "AGENTFLEET_LOG_FORMAT": "plain",
            "AGENTFLEET_RESYNC_SECONDS": str(RESYNC_SECONDS),
        }
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agentfleet_operator"], env=env, stdout=out, stderr=out
            )

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
            self.process.kill()
            self.process = None

    def metrics(self) -> dict[str, float]:
        import urllib.request

        try:
            url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return {}
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "_created" not in line:
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def total(self, prefix: str, **labels: str) -> float:
        return sum(
            v
            for k, v in self.metrics().items()
            if k.startswith(prefix) and all(f'{n}="{w}"' in k for n, w in labels.items())
        )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


@contextlib.contextmanager
def control_plane(folder: Path, nodes: int) -> Iterator[tuple[Cluster, int]]:
    """A fresh cluster with raised controller client rates; stopped afterwards."""
    port = free_port_block(6)
    os.environ.update(
        {
            "AGENTFLEET_CONTROLLER_QPS": "500",
            "AGENTFLEET_CONTROLLER_BURST": "1000",
            "AGENTFLEET_CLUSTER_NODES": str(nodes),
        }
    )
    cluster = start_cluster(folder, port)
    try:
        yield cluster, port
    finally:
        stop_cluster(folder, port)


@dataclass
class Result:
    """The figures of one size."""

    fleets: int
    figures: dict[str, float | str] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def prepared_cluster(
    folder: Path, fleets: int, noise: int, prefix: str
) -> AsyncIterator[tuple[Cluster, Watcher, list[str]]]:
    """A fresh cluster holding the CRD, ``noise`` unrelated objects and empty namespaces.

    The floor and the operator each get one of their own, so neither half runs beside the
    other's thousands of Pods: the control plane's cost grows with what it already holds.
    """
    # Each fleet runs 6 Pods; a kwok node holds 1000.
    nodes = fleets * 6 // 900 + 1
    with control_plane(folder, nodes) as (cluster, _):
        cluster.kubectl("apply", "-f", str(ROOT / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        namespaces = [f"{prefix}-{i}" for i in range(min(fleets, FLEET_NAMESPACES))]
        for namespace in namespaces:
            cluster.ensure_namespace(namespace)
            cluster.apply(*secrets(namespace))
        await create_noise(cluster, noise)
        watcher = Watcher(cluster)
        await watcher.start()
        try:
            yield cluster, watcher, namespaces
        finally:
            await watcher.close()


async def measure(fleets: int, noise: int, folder: Path) -> Result:
    """Run the floor and the operator for ``fleets`` fleets, each in a fresh cluster."""
    result = Result(fleets)
    async with prepared_cluster(folder / "floor", fleets, noise, "floor") as prepared:
        await measure_floor(*prepared, fleets, folder, result)
    async with prepared_cluster(folder / "operator", fleets, noise, "fleets") as prepared:
        await measure_operator(*prepared, fleets, folder, result)
    return result


async def create_noise(cluster: Cluster, count: int) -> None:
    """Unrelated ConfigMaps (1 KiB each) in namespaces of their own."""
    if not count:
        return
    documents = []
    for index in range(count):
        namespace = f"noise-{index % 10}"
        if index < 10:
            cluster.ensure_namespace(namespace)
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"noise-{index}", "namespace": namespace},
                "data": {"payload": "x" * 1024},
            }
        )
    text = yaml.safe_dump_all(documents)
    await asyncio.to_thread(
        cluster.kubectl, "apply", "--server-side", "-f", "-", stdin=text, timeout=APPLY_TIMEOUT
    )


async def measure_floor(
    cluster: Cluster,
    watcher: Watcher,
    namespaces: list[str],
    fleets: int,
    folder: Path,
    result: Result,
) -> None:
    """``kubectl apply`` of the rendered children: created, and every workload ready."""
    path = folder / "floor.yaml"
    path.write_text(yaml.safe_dump_all(floor_documents(fleets, namespaces)))
    spaces = set(namespaces)
    cpu = control_plane_cpu(cluster)
    started = time.monotonic()
    await asyncio.to_thread(cluster.kubectl, "apply", "-f", str(path), timeout=APPLY_TIMEOUT)
    created = time.monotonic()
    ready = await until(
        lambda: (
            watcher.count("deployments", spaces, ready=True) == 4 * fleets
            and watcher.count("statefulsets", spaces, ready=True) == 2 * fleets
        ),
        3600,
        "the floor's workloads",
    )
    result.figures["floor created (s)"] = round(created - started, 2)
    result.figures["floor ready (s)"] = round(ready - started, 2)
    result.figures["floor: control-plane CPU (s)"] = round(control_plane_cpu(cluster) - cpu, 1)


def fleet_lags(watcher: Watcher, namespaces: set[str]) -> list[float]:
    """Per fleet: its Ready time minus the ready time of its last workload."""
    lags = []
    for (kind, namespace, name), at in watcher.ready_at.items():
        if kind != "agentfleets" or namespace not in namespaces:
            continue
        workloads = [
            t
            for (k, ns, n), t in watcher.ready_at.items()
            if k in WORKLOADS and ns == namespace and n.startswith(f"{name}-")
        ]
        if len(workloads) == 6:
            lags.append(at - max(workloads))
    return lags


async def measure_operator(
    cluster: Cluster,
    watcher: Watcher,
    namespaces: list[str],
    fleets: int,
    folder: Path,
    result: Result,
) -> None:
    """The operator creating N fleets, then at rest and through a restart."""
    operator = OperatorProcess(cluster, folder / "operator.log")
    operator.start()
    peak = [0.0]
    sampling = True

    async def sample() -> None:
        while sampling:
            if operator.process is not None and operator.process.poll() is None:
                peak[0] = max(peak[0], rss_mb(operator.pid))
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    try:
        await until(lambda: operator.metrics(), 60, "the operator's metrics")
        manifests = [fleet(f"fleet-{i}", namespaces[i % len(namespaces)]) for i in range(fleets)]
        path = folder / "fleets.yaml"
        path.write_text(yaml.safe_dump_all(manifests))
        spaces = set(namespaces)
        cpu = (control_plane_cpu(cluster), cpu_seconds(operator.pid))
        started = time.monotonic()
        await asyncio.to_thread(cluster.kubectl, "apply", "-f", str(path), timeout=APPLY_TIMEOUT)
        created = await until(
            lambda: watcher.count("cronjobs", spaces, ready=False) == fleets,
            3600,
            "every fleet's children",
        )
        ready = await until(
            lambda: watcher.count("agentfleets", spaces, ready=True) == fleets,
            3600,
            "every fleet Ready",
        )
        figures = result.figures
        workloads = [
            t for (k, ns, _), t in watcher.ready_at.items() if k in WORKLOADS and ns in spaces
        ]
        figures["operator created (s)"] = round(created - started, 2)
        figures["operator's workloads ready (s)"] = round(max(workloads) - started, 2)
        figures["operator ready (s)"] = round(ready - started, 2)
        figures["ready ÷ floor"] = round((ready - started) / float(figures["floor ready (s)"]), 2)
        figures["control-plane CPU (s)"] = round(control_plane_cpu(cluster) - cpu[0], 1)
        figures["operator CPU (s)"] = round(cpu_seconds(operator.pid) - cpu[1], 1)
        lags = fleet_lags(watcher, spaces)
        figures["Ready lag p50 (s)"] = round(percentile(lags, 0.5), 2)
        figures["Ready lag p99 (s)"] = round(percentile(lags, 0.99), 2)
        figures["Ready lag max (s)"] = round(max(lags), 2)
        figures["RSS peak while creating (MB)"] = round(peak[0], 1)
        await measure_rest(operator, fleets, figures)
        peak[0] = 0.0
        await measure_restart(operator, fleets, figures)
        figures["RSS peak during restart (MB)"] = round(peak[0], 1)
        figures["RSS after restart (MB)"] = round(rss_mb(operator.pid), 1)
    finally:
        sampling = False
        await sampler
        operator.stop()


async def measure_rest(operator: OperatorProcess, fleets: int, figures: dict[str, Any]) -> None:
    """A whole resync of settled fleets: writes, reads per pass, requests per minute."""
    await asyncio.sleep(2)
    writes = operator.total("agentfleet_operator_child_writes_total")
    gets = operator.total("agentfleet_operator_api_requests_total", verb="GET")
    requests = operator.total("agentfleet_operator_api_requests_total")
    passes = operator.total("agentfleet_operator_reconciles_total")
    started = time.monotonic()
    await asyncio.sleep(RESYNC_SECONDS * 2 + 5)
    minutes = (time.monotonic() - started) / 60
    done = operator.total("agentfleet_operator_reconciles_total") - passes
    figures["writes in a no-op resync"] = (
        operator.total("agentfleet_operator_child_writes_total") - writes
    )
    figures["GETs per no-op pass"] = round(
        (operator.total("agentfleet_operator_api_requests_total", verb="GET") - gets)
        / max(done, 1),
        1,
    )
    rest = (operator.total("agentfleet_operator_api_requests_total") - requests) / minutes
    figures[f"API requests/min at rest (resync {RESYNC_SECONDS} s)"] = round(rest)


async def measure_restart(operator: OperatorProcess, fleets: int, figures: dict[str, Any]) -> None:
    """Restart: time to pass over every fleet again, and the writes that took."""
    operator.stop()
    started = time.monotonic()
    operator.start()
    await until(
        lambda: operator.total("agentfleet_operator_reconciles_total") >= fleets,
        3600,
        "a pass per fleet",
    )
    figures["restart → every fleet passed (s)"] = round(time.monotonic() - started, 2)
    await asyncio.sleep(2)
    figures["writes on restart"] = operator.total("agentfleet_operator_child_writes_total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleets", default="1,100,1000", help="comma-separated sizes")
    parser.add_argument("--noise", type=int, default=5000, help="unrelated ConfigMaps")
    parser.add_argument("--quick", action="store_true", help="1 and 5 fleets, 100 unrelated")
    args = parser.parse_args()
    sizes = [1, 5] if args.quick else [int(n) for n in args.fleets.split(",")]
    noise = 100 if args.quick else args.noise
    results = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-operator-") as folder:
            print(f"-- {size} fleets, {noise} unrelated ConfigMaps", flush=True)
            result = asyncio.run(measure(size, noise, Path(folder)))
            for name, value in result.figures.items():
                print(f"   {name}: {value}", flush=True)
            results.append(result)
    names = list(results[0].figures)
    print("\n| measure | " + " | ".join(f"{r.fleets} fleets" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for name in names:
        print(f"| {name} | " + " | ".join(str(r.figures.get(name, "")) for r in results) + " |")


if __name__ == "__main__":
    main()
