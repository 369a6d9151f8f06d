"""Start a container of a Pod the operator rendered, as a local process, the way it would run.

kwok's nodes run no containers, so what a bot container does is proven here instead: the
live Pod template is read back from the API server; its command, its ``env``/``envFrom``
(Secret and ConfigMap values resolved from the cluster, as the kubelet would) and the
image's own ``ENV``, ``WORKDIR`` and ``USER`` from the Dockerfile make the process. It runs
under bubblewrap as the image's uid on a read-only root filesystem, with the Pod's
``emptyDir`` volumes as the only writable places.

Two deliberate differences from a node, both about where things are, not what the
program does: the image's ``/usr/local`` is this repository's ``.venv`` (its ``bin`` leads
``PATH``), and the addresses of the fleet's Services are pointed at local servers (see
:class:`ServiceMap`, and ``tests.fixtures.postgres.SocketGate`` for the embedded
PostgreSQL).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil

from tests.cluster.kube import ROOT, Cluster

DOCKERFILE = ROOT / "Dockerfile"
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
#: The base image's PATH (python:3.11-slim), behind the repository's environment.
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ImageConfig:
    """What the Dockerfile's final stage gives every container: ENV, WORKDIR, USER."""

    env: dict[str, str]
    workdir: str
    uid: int
    gid: int


def image_config(dockerfile: Path = DOCKERFILE) -> ImageConfig:
    """Read the final stage of the Dockerfile (continuation lines joined)."""
    text = dockerfile.read_text().replace("\\\n", " ")
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    final = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    env: dict[str, str] = {}
    workdir, user = "/", "0:0"
    for line in lines[final + 1 :]:
        instruction, _, rest = line.partition(" ")
        match instruction.upper():
            case "ENV":
                for item in shlex.split(rest):
                    key, _, value = item.partition("=")
                    env[key] = value
            case "WORKDIR":
                workdir = rest.strip()
            case "USER":
                user = rest.strip()
    uid, _, gid = user.partition(":")
    return ImageConfig(env, workdir, int(uid), int(gid or uid))


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    """The Pod spec of a Deployment, StatefulSet, Job or CronJob as the API server has it."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["spec"])


@dataclass(frozen=True)
class ServiceMap:
    """Where the fleet's Services are reached from this machine: ``service:port`` → local."""

    hosts: Mapping[str, str]

    def point(self, value: str) -> str:
        """Rewrite a URL whose host is one of the Services; leave other values alone."""
        if "://" not in value:
            return value
        parts = urlsplit(value)
        address = f"{parts.hostname}:{parts.port}"
        if address not in self.hosts:
            return value
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@{self.hosts[address]}" if credentials else self.hosts[address]
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def container_env(
    cluster: Cluster,
    namespace: str,
    container: Mapping[str, Any],
    image: ImageConfig,
    services: ServiceMap,
) -> dict[str, str]:
    """The container's environment as the kubelet builds it: image ENV < envFrom < env."""
    env = {"PATH": f"{VENV_BIN}:{IMAGE_PATH}", **image.env}
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]
        config = cluster.get("configmap", ref["name"], namespace)
        assert config is not None, f"ConfigMap {ref['name']} is missing"
        env.update(config.get("data") or {})
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        env[entry["name"]] = cluster.secret_data(namespace, ref["name"])[ref["key"]]
    assert not any("$(" in v for v in env.values()), "dependent variables are not expanded here"
    return {name: services.point(value) for name, value in env.items()}


def _writable_mounts(pod: Mapping[str, Any], container: Mapping[str, Any]) -> list[str]:
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        assert "emptyDir" in volume, f"only emptyDir volumes are modelled, got {volume}"
        mounts.append(mount["mountPath"])
    return mounts


def sandboxed_argv(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    image: ImageConfig,
    services: ServiceMap,
) -> list[str]:
    """bubblewrap around the container's command: its user, read-only root, its volumes."""
    bwrap = shutil.which("bwrap")
    assert bwrap, "bubblewrap is not installed (scripts/bootstrap.sh --for-tests installs it)"
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    assert security.get("readOnlyRootFilesystem") is True, "the product's Pods are read-only"
    uid, gid = security.get("runAsUser", image.uid), security.get("runAsGroup", image.gid)
    assert (uid, gid) == (image.uid, image.gid), "the Pod runs as the image's user"
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in _writable_mounts(pod, container):
        argv += ["--tmpfs", path]
    # The image's program files: visible even when this checkout lives under a path the Pod
    # mounts a volume on (a clone in /tmp would vanish under the Pod's /tmp emptyDir).
    for program in sorted({ROOT, VENV_BIN.parent}):
        argv += ["--ro-bind", str(program), str(program)]
    argv += ["--unshare-user", "--uid", str(uid), "--gid", str(gid)]
    argv += ["--chdir", image.workdir, "--die-with-parent", "--"]
    return argv + list(container["command"]) + list(container.get("args", []))


@dataclass
class Started:
    """A started container process and the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def terminate(self) -> None:
        """SIGTERM to the container's own process, as the kubelet sends it to PID 1.

        bubblewrap does not pass signals on; it exits with its child's status, so the
        exit code still is the program's.
        """
        try:
            sandbox = psutil.Process(self.process.pid)
            leaves = [p for p in sandbox.children(recursive=True) if not p.children()]
        except psutil.NoSuchProcess:
            return
        for process in leaves or [sandbox]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGTERM)


def start_container(
    cluster: Cluster,
    namespace: str,
    workload: Mapping[str, Any],
    container: Mapping[str, Any],
    services: ServiceMap,
    logs: Path,
    *,
    edit_env: Callable[[dict[str, str]], None] | None = None,
) -> Started:
    """Start one container of ``workload`` as its Pod would run it."""
    image = image_config()
    pod = pod_spec(workload)
    env = container_env(cluster, namespace, container, image, services)
    if edit_env is not None:
        edit_env(env)
    argv = sandboxed_argv(pod, container, image, services)
    log = logs / f"{workload['metadata']['name']}-{container['name']}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Started(f"{workload['metadata']['name']}/{container['name']}", process, log)
