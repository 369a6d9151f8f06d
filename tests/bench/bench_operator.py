"""Benchmark: 100 fleets reconciled from a cold start against kmock.

Run: ``.venv/bin/python -m tests.bench.bench_operator [--fleets 100]``

The operator runs as a real subprocess (``python -m agentfleet_operator``, the same entry
point as in the cluster) so its RSS is its own; kmock runs in this process. Prints total
time, requests per fleet (writes on create, writes and reads on the second pass) and RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import kmock

from tests.operator.conftest import fleet_body
from tests.operator.emulator import MUTATING, ApplyingEmulator, declare_resources

FLEET_KEY = "agentfleet.dev/v1alpha1/agentfleets"
RESYNC_SECONDS = 6.0


class Journal:
    """Every request the server saw, kept out of kmock's own list.

    kmock matches each new request against every request it has recorded (an O(n) scan per
    request), so at benchmark scale the mock, not the operator, would dominate the timing.
    Old requests are moved here; the most recent ones stay for kmock's matching.
    """

    def __init__(self, server: Any) -> None:
        self.server = server
        self.archived: list[Any] = []

    def all(self) -> list[Any]:
        return [*self.archived, *self.server._requests]

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.005)
            live = self.server._requests
            if len(live) > 40:
                self.archived += live[:-20]
                del live[:-20]


def _rss_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ours(requests: list[Any]) -> list[Any]:
    # The reconciler's own requests (kopf's discovery/list/watch requests are not counted).
    return [r for r in requests if r.headers.get("User-Agent") == "agentfleet-operator"]


async def run(fleets: int) -> None:
    async with ApplyingEmulator() as server, kmock.Server(server):
        declare_resources(server)
        names = [f"fleet-{i:03d}" for i in range(fleets)]
        for name in names:
            body = fleet_body(name=name, namespace=f"ns-{name}")
            body["metadata"].update(uid=str(uuid.uuid4()), generation=1)
            server.objects[FLEET_KEY, f"ns-{name}", name] = body

        with tempfile.TemporaryDirectory() as tmp:
            kubeconfig = Path(tmp) / "kubeconfig"
            kubeconfig.write_text(
                "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
                "contexts: [{name: b, context: {cluster: b, user: b}}]\n"
                f'clusters: [{{name: b, cluster: {{server: "{server.url}"}}}}]\n'
                "users: [{name: b, user: {token: bench}}]\n"
            )
            env = {
                **os.environ,
                "KUBECONFIG": str(kubeconfig),
                "AGENTFLEET_METRICS_PORT": "0",
                "AGENTFLEET_LIVENESS": "",
                "AGENTFLEET_RESYNC_SECONDS": str(RESYNC_SECONDS),
                "PYTHONPATH": os.pathsep.join(["operator", "."]),
            }
            started = time.monotonic()
            proc = subprocess.Popen(  # noqa: ASYNC220 - a one-off spawn, not in a hot path
                [sys.executable, "-m", "agentfleet_operator"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            journal = Journal(server)
            archiver = asyncio.create_task(journal.run())
            try:
                await _measure(journal, names, proc, started)
            finally:
                archiver.cancel()
                proc.send_signal(signal.SIGTERM)
                await asyncio.to_thread(proc.wait, 30)


def _done(server: Any, names: list[str]) -> bool:
    for name in names:
        status = server.objects[FLEET_KEY, f"ns-{name}", name].raw.get("status") or {}
        if status.get("observedGeneration") != 1:
            return False
    return True


async def _measure(journal: Journal, names: list[str], proc: Any, started: float) -> None:
    server = journal.server
    fleets = len(names)
    first_request = None
    while not _done(server, names):
        if first_request is None and _ours(journal.all()):
            first_request = time.monotonic()
        await asyncio.sleep(0.2)
        if time.monotonic() - started > 300:
            raise SystemExit("not all fleets were reconciled within 300 s")
    cold = time.monotonic() - started
    since_first = time.monotonic() - (first_request or started)

    # Let the children's own events (and the passes they trigger) die down.
    await asyncio.sleep(2.0)
    create_requests = _ours(journal.all())
    create_writes = [r for r in create_requests if str(r.method.value) in MUTATING]
    child_writes = [r for r in create_writes if r.resource.plural not in {"events", "agentfleets"}]

    mark = len(journal.all())
    await asyncio.sleep(RESYNC_SECONDS + 3.0)  # at least one full resync of every fleet
    second = _ours(journal.all()[mark:])
    second_writes = [r for r in second if str(r.method.value) in MUTATING]
    second_reads = [r for r in second if r.method.value == "GET"]
    rss, peak = _rss_mb(proc.pid)
    cpu = _cpu_seconds(proc.pid)

    print(f"fleets reconciled from a cold start:   {fleets}")
    print(f"total time (process start -> all ready): {cold:.2f} s")
    print(f"  of which after the first request:     {since_first:.2f} s")
    print(f"requests per fleet on create:           {len(create_requests) / fleets:.1f}")
    print(f"  writes per fleet on create:           {len(create_writes) / fleets:.1f}")
    print(f"    of which children (apply/create):   {len(child_writes) / fleets:.1f}")
    print(f"writes per fleet on the second pass:    {len(second_writes) / fleets:.1f}")
    print(f"reads per fleet on the second pass:     {len(second_reads) / fleets:.1f}")
    print(f"operator RSS now / peak:                {rss:.0f} MB / {peak:.0f} MB")
    print(f"operator CPU time (whole run):          {cpu:.1f} s")


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fleets", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(run(args.fleets))


if __name__ == "__main__":
    main()
