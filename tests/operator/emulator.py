"""A kmock Kubernetes emulator with the few API-server behaviours the operator relies on.

kmock's emulator is a JSON store: a PATCH of a missing object is a 404 and nothing assigns
uids. The real API server creates an object on a server-side apply and gives every object a
uid and a generation, so this subclass does the same (and nothing more). It is shared by the
tests and the benchmark.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import aiohttp.web
import kmock
from kmock._internal import enums, rendering

from agentfleet_operator.api import constants as c

_counter = itertools.count(1)

#: Resources the operator touches, with what API discovery must report for kopf.
RESOURCES: dict[str, dict[str, Any]] = {
    f"{c.GROUP}/{c.VERSION}/{c.PLURAL}": {"kind": c.KIND, "subresources": {"status"}},
    "apps/v1/deployments": {"kind": "Deployment"},
    "apps/v1/statefulsets": {"kind": "StatefulSet"},
    "batch/v1/cronjobs": {"kind": "CronJob"},
    "networking.k8s.io/v1/networkpolicies": {"kind": "NetworkPolicy"},
    "v1/services": {"kind": "Service"},
    "v1/configmaps": {"kind": "ConfigMap"},
    "v1/serviceaccounts": {"kind": "ServiceAccount"},
    "v1/secrets": {"kind": "Secret"},
    "v1/events": {"kind": "Event"},
    "v1/namespaces": {"kind": "Namespace", "namespaced": False},
    "apiextensions.k8s.io/v1/customresourcedefinitions": {
        "kind": "CustomResourceDefinition",
        "namespaced": False,
    },
}
VERBS = {"get", "list", "watch", "create", "patch", "update", "delete"}


class ApplyingEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    """KubernetesEmulator plus: apply creates, objects get a uid and a generation."""

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        data = request.data if isinstance(request.data, dict) else None
        if request.resource is not None and data is not None:
            meta = data.setdefault("metadata", {})
            content_type = {k.lower(): v for k, v in request.headers.items()}.get(
                "content-type", ""
            )
            if request.action == enums.action.CREATE:
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("generation", 1)
                meta.setdefault("resourceVersion", str(next(_counter)))
            elif (
                request.action == enums.action.UPDATE
                and "apply-patch" in content_type
                and request.name is not None
                # An undeclared resource is an API that is not served: keep kmock's 404.
                and request.resource in self.resources
            ):
                key = (request.resource, request.namespace, request.name)
                async with self._lock:
                    if key not in self._objects or self._objects[key].deleted:
                        meta.setdefault("uid", str(uuid.uuid4()))
                        meta.setdefault("generation", 1)
                        if key in self._objects:
                            self._objects[key].create(data)
                        else:
                            self._objects[key] = data
                        raw = self._objects[key].raw
                        await self._buses[request.resource].put({"type": "ADDED", "object": raw})
        return await super()._handle(request)  # type: ignore[no-any-return]


def declare_resources(server: Any) -> None:
    """Declare the resources for API discovery (kopf resolves its watches through it).

    Namespaces must be discoverable even for a cluster-wide operator. (kmock 0.8 cannot
    parse ``GET /api/v1/namespaces``, so kopf tests here run cluster-wide: kopf lists
    namespaces only to resolve a namespace list.)
    """
    for key, info in RESOURCES.items():
        server.resources[key] = kmock.ResourceInfo(
            kind=info["kind"],
            namespaced=info.get("namespaced", True),
            verbs=VERBS,
            subresources=info.get("subresources", set()),
        )


MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def writes(server: Any, since: int = 0) -> list[rendering.Request]:
    """Return the mutating requests to Kubernetes resources, after the first ``since``."""
    return [
        r
        for r in list(server)[since:]
        if r.resource is not None and str(r.method.value) in MUTATING
    ]


def describe(requests: list[rendering.Request]) -> list[str]:
    """Return ``METHOD plural/name[/sub]`` for each request (readable assertion diffs)."""
    out = []
    for r in requests:
        name = r.name or (r.data or {}).get("metadata", {}).get("name")
        sub = f"/{r.subresource}" if r.subresource else ""
        out.append(f"{r.method.value} {r.resource.plural}/{name}{sub}")
    return out
