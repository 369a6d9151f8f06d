"""The local control plane as the cluster tests use it: kubectl, helm and the operator.

Everything goes through the real binaries that ``scripts/cluster.sh`` builds (kubectl,
helm) against a real kube-apiserver, so what passes here is what a person typing the same
commands would see. The operator runs as a local process authenticated with a token of the
chart's ServiceAccount, which proves the chart's RBAC is enough.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.fixtures.redis import free_port

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = ROOT / "scripts" / "cluster.sh"
T = TypeVar("T")


class CommandFailed(AssertionError):
    """A kubectl or helm command exited non-zero; carries what it printed."""

    def __init__(self, argv: list[str], result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
        self.stderr = result.stderr
        self.stdout = result.stdout


def wait_until(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


@dataclass
class Cluster:
    """A running local cluster: its kubeconfig and the folder of its binaries."""

    kubeconfig: Path
    bin: Path
    state: Path

    def env(self, kubeconfig: Path | None = None) -> dict[str, str]:
        """The environment of a kubectl/helm/operator process talking to this cluster."""
        return {
            **os.environ,
            "KUBECONFIG": str(kubeconfig or self.kubeconfig),
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "HELM_CACHE_HOME": str(self.state / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(self.state / "helm" / "config"),
            "HELM_DATA_HOME": str(self.state / "helm" / "data"),
        }

    def run(
        self,
        tool: str,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``kubectl`` or ``helm`` with ``args``; raise :class:`CommandFailed` if asked."""
        argv = [str(self.bin / tool), *args]
        result = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(kubeconfig),
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise CommandFailed(argv, result)
        return result

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 300
    ) -> str:
        """Run kubectl and return its standard output."""
        return self.run("kubectl", *args, stdin=stdin, check=check, timeout=timeout).stdout

    def helm(self, *args: str, check: bool = True) -> str:
        """Run helm and return its standard output."""
        return self.run("helm", *args, check=check).stdout

    def apply(
        self, *documents: Mapping[str, Any], check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``kubectl apply -f -`` of ``documents``, as a person would apply a file."""
        text = yaml.safe_dump_all([dict(d) for d in documents], sort_keys=False)
        return self.run("kubectl", "apply", "-f", "-", stdin=text, check=check)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """Return one object as JSON, or None if it does not exist."""
        args = ["get", kind, name, "-o", "json", "--ignore-not-found"]
        if namespace:
            args += ["-n", namespace]
        out = self.kubectl(*args)
        return json.loads(out) if out.strip() else None

    def list(self, kind: str, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        """Return the items of ``kind`` in ``namespace`` (optionally by label selector)."""
        args = ["get", kind, "-n", namespace, "-o", "json"]
        if selector:
            args += ["-l", selector]
        return list(json.loads(self.kubectl(*args))["items"])

    def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """Decoded data of a Secret (the tests' admin may read what the operator may not)."""
        import base64

        secret = self.get("secret", name, namespace)
        assert secret is not None, f"Secret {namespace}/{name} does not exist"
        return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}

    def ensure_namespace(self, name: str, labels: Mapping[str, str] | None = None) -> None:
        """Create a namespace (idempotently), with labels such as Pod Security's."""
        document: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": dict(labels or {})},
        }
        self.apply(document)

    def service_account_kubeconfig(self, namespace: str, account: str, path: Path) -> Path:
        """Write a kubeconfig that authenticates as a ServiceAccount (a fresh token)."""
        token = self.kubectl("create", "token", account, "-n", namespace, "--duration=6h").strip()
        admin = yaml.safe_load(self.kubeconfig.read_text())
        cluster = admin["clusters"][0]["cluster"]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": cluster}],
            "users": [{"name": account, "user": {"token": token}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": account}}],
            "current-context": "local",
        }
        path.write_text(yaml.safe_dump(config))
        return path


def start_cluster(state: Path, port: int) -> Cluster:
    """``scripts/cluster.sh up`` into ``state``; fails with the script's own message."""
    env = {**os.environ, "AGENTFLEET_CLUSTER_DIR": str(state), "AGENTFLEET_CLUSTER_PORT": str(port)}
    result = subprocess.run(
        ["bash", str(CLUSTER_SCRIPT), "up"],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"scripts/cluster.sh up failed:\n{result.stderr[-3000:]}")
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in result.stdout.splitlines()
        if line.startswith("export ")
    )
    bin_dir = exports["PATH"].split(":", 1)[0]
    return Cluster(Path(exports["KUBECONFIG"]), Path(bin_dir), state)


def stop_cluster(state: Path, port: int) -> None:
    """``scripts/cluster.sh down`` for the cluster in ``state``."""
    env = {**os.environ, "AGENTFLEET_CLUSTER_DIR": str(state), "AGENTFLEET_CLUSTER_PORT": str(port)}
    subprocess.run(["bash", str(CLUSTER_SCRIPT), "down"], env=env, check=False, timeout=120)


@dataclass
class Operator:
    """The operator as a local process; ``restart`` keeps its kubeconfig and ports."""

    cluster: Cluster
    kubeconfig: Path
    log: Path
    namespaces: tuple[str, ...] = ()
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start ``python -m agentfleet_operator`` and wait for its liveness endpoint."""
        liveness = free_port()
        env = {
            **self.cluster.env(self.kubeconfig),
            "AGENTFLEET_METRICS_PORT": str(self.metrics_port),
            "AGENTFLEET_LIVENESS": f"http://127.0.0.1:{liveness}/healthz",
            "AGENTFLEET_LOG_FORMAT": "plain",
            "AGENTFLEET_NAMESPACES": ",".join(self.namespaces),
        }
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agentfleet_operator"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

        def alive() -> bool:
            assert self.process is not None and self.process.poll() is None, self.tail()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{liveness}/healthz", timeout=1):
                    return True
            except OSError:
                return False

        wait_until(alive, 60, "the operator's liveness endpoint")

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Stop the process (SIGTERM: a graceful stop; SIGKILL: a crash)."""
        if self.process is None:
            return None
        self.process.send_signal(sig)
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        self.process = None
        return code

    def restart(self) -> None:
        """Stop and start again, as a rescheduled operator Pod would."""
        self.stop()
        self.start()

    def metrics(self) -> dict[str, float]:
        """The operator's /metrics, as ``name{labels}`` → value (comments dropped)."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as r:
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                values[key] = float(value)
        return values

    def writes(self) -> float:
        """Child writes so far (apply, create, delete of every kind)."""
        return sum(
            v
            for k, v in self.metrics().items()
            if k.startswith("agentfleet_operator_child_writes_total")
        )

    def tail(self, lines: int = 40) -> str:
        """The end of the operator's log, for failure messages."""
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def operator_process(
    cluster: Cluster, kubeconfig: Path, log: Path, namespaces: tuple[str, ...] = ()
) -> Iterator[Operator]:
    """A started operator, stopped afterwards."""
    operator = Operator(cluster, kubeconfig, log, namespaces)
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()
