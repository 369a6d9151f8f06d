"""The operator's watches of its children: list, then watch, into the child cache.

kopf watches the fleets; the children (a dozen kinds, thirteen objects per fleet) are
watched here instead, one list-and-watch loop per kind, filtered by the API server with the
children's label. kopf would give every child object a worker of its own and, with
indexes, wake every waiting worker for each object it lists: at a thousand fleets a restart
spent minutes of CPU on that alone. Here an event costs a dictionary write and, when the
child belongs to a fleet, a key added to the work queue.

A watch ends by itself every few minutes (the API server's timeout) and is resumed from the
last version seen, bookmarks included; when that version is too old (410 Gone) or the
stream fails, the kind is listed again and the owners of whatever changed meanwhile are
queued, so no change is lost across a break.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import aiohttp

from agentfleet_operator.cache import ChildCache, ChildKey, entry
from agentfleet_operator.children.desired import ResourceType
from agentfleet_operator.kube import ApiError, KubeClient
from agentfleet_operator.meta import owner_of
from agentfleet_runtime.retry import CHILD_WATCH

logger = logging.getLogger(__name__)

#: Seconds the API server keeps one watch open before ending it (it is then resumed).
WATCH_TIMEOUT: Final = 300
#: Seconds between looks at a kind the API server does not serve (a CRD installed later).
UNSERVED_RECHECK: Final = 60.0

OnChange = Callable[[str, str], None]
"""Called with (namespace, fleet name) when a child of that fleet changed."""


class _Expired(Exception):
    """The watch's version is gone from the API server's history (410): list again."""


class ChildInformer:
    """One child kind in one namespace (or all): keeps it in the cache, reports changes."""

    def __init__(
        self,
        client: KubeClient,
        cache: ChildCache,
        resource: ResourceType,
        *,
        namespace: str | None,
        selector: str,
        chunk: int,
        on_change: OnChange,
    ) -> None:
        self.client = client
        self.cache = cache
        self.resource = resource
        self.namespace = namespace
        self.selector = selector
        self.chunk = chunk
        self.on_change = on_change

    async def run(self) -> None:
        """List and watch until cancelled; failures are logged and retried with backoff."""
        failures = 0
        while True:
            try:
                version = await self._list()
                if version is None:
                    await asyncio.sleep(UNSERVED_RECHECK)
                    continue
                failures = 0
                while True:
                    opened = time.monotonic()
                    version = await self._watch(version)
                    if time.monotonic() - opened < 1.0:
                        # A stream that ends at once (a proxy cutting it) must not spin.
                        await asyncio.sleep(1.0)
            except _Expired:
                continue
            except (ApiError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                failures += 1
                # The kind stays as last seen; passes go on using it while we reconnect.
                self.cache.settle(self.resource, self.namespace)
                wait = CHILD_WATCH.delay(failures)
                logger.warning("watch of %s failed (%s); again in %.1f s", self.kind, exc, wait)
                await asyncio.sleep(wait)

    @property
    def kind(self) -> str:
        """The kind and scope watched, for log lines."""
        return f"{self.resource.plural} in {self.namespace or 'all namespaces'}"

    async def _list(self) -> str | None:
        fresh: dict[ChildKey, bytes] = {}

        def take(body: dict[str, Any]) -> None:
            key, value = entry(body)
            fresh[key] = value

        version = await self.client.list(
            self.resource, self.namespace, self.selector, self.chunk, take
        )
        if version is None:
            logger.info("%s are not served; looking again in %.0f s", self.kind, UNSERVED_RECHECK)
        # A kind that is not served has no objects: the cache answers "absent" for it.
        for body in self.cache.replace(self.resource, self.namespace, fresh):
            self._changed(body)
        return version

    async def _watch(self, version: str) -> str:
        """Follow one watch stream; return the version to resume from."""
        async for event in self.client.watch(
            self.resource, self.namespace, self.selector, version, WATCH_TIMEOUT
        ):
            kind, body = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if body.get("code") == 410:
                    raise _Expired()
                raise ApiError(int(body.get("code", 500)), "WatchError", str(body.get("message")))
            version = str(body.get("metadata", {}).get("resourceVersion", version))
            if kind == "BOOKMARK":
                continue
            if kind == "DELETED":
                self.cache.remove(self.resource, body)
            else:
                self.cache.put(self.resource, body)
            self._changed(body)
        return version

    def _changed(self, body: Mapping[str, Any]) -> None:
        owner = owner_of(body)
        namespace = body.get("metadata", {}).get("namespace")
        if owner is not None and namespace:
            self.on_change(str(namespace), owner)
