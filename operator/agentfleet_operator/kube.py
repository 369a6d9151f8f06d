"""A small asynchronous Kubernetes client for the operator's own reads and writes.

kopf watches the fleets and logs in; this client reuses kopf's public login result
(:class:`kopf.ConnectionInfo`) to make the few calls the operator needs: list and watch
(for the child cache), get, server-side apply, create, delete, a status merge-patch and an
Event. Every call is counted in the operator's metrics by verb (LIST and WATCH apart from
GET), which is how "a no-op reconcile makes zero writes and zero reads" is measured.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
import orjson

from agentfleet_operator import metrics
from agentfleet_operator.api import constants as c
from agentfleet_operator.children.desired import EVENTS, ResourceType

logger = logging.getLogger(__name__)

#: Produces fresh credentials; called again after a 401 (service account tokens rotate).
Login = Callable[[], Any]


class ApiError(Exception):
    """A non-2xx answer of the API server, with its status code, reason and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class KubeClient:
    """The operator's HTTP client to the API server."""

    def __init__(self, login: Login, *, timeout: float = 30.0) -> None:
        self._login = login
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._server = ""
        self._lock = asyncio.Lock()

    async def _connect(self, *, fresh: bool = False) -> aiohttp.ClientSession:
        async with self._lock:
            if self._session is not None and not fresh:
                return self._session
            if self._session is not None:
                await self._session.close()
            info = self._login()
            if info is None:
                raise RuntimeError("no Kubernetes credentials (no service account, no kubeconfig)")
            self._server = str(info.server).rstrip("/")
            ssl: Any = info.as_ssl_context() if self._server.startswith("https") else None
            self._session = aiohttp.ClientSession(
                headers={**info.as_http_headers(), "User-Agent": c.FIELD_MANAGER},
                connector=aiohttp.TCPConnector(ssl=ssl, limit=100),
                timeout=self._timeout,
            )
            return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any] | None:
        """Make one call; return the decoded body, None on 404, raise ApiError otherwise."""
        data = json.dumps(body, separators=(",", ":")) if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else {}
        for attempt in (1, 2):
            session = await self._connect(fresh=attempt == 2)
            metrics.API_REQUESTS.labels(verb=method.upper()).inc()
            async with session.request(
                "GET" if method == "LIST" else method,
                self._server + path,
                params=params,
                data=data,
                headers=headers,
            ) as response:
                if response.status == 401 and attempt == 1:
                    continue  # re-read the (possibly rotated) token once
                raw = await response.read()
                if response.status == 404:
                    return None
                if response.status >= 400:
                    raise _error(response.status, raw.decode(errors="replace"))
                return orjson.loads(raw) if raw else {}
        raise AssertionError("unreachable")  # pragma: no cover

    async def list(
        self,
        resource: ResourceType,
        namespace: str | None,
        selector: str,
        chunk: int,
        take: Callable[[dict[str, Any]], None],
    ) -> str | None:
        """Hand every object matching ``selector`` to ``take``, a page of ``chunk`` at a time.

        Returns the list's resource version, or None when the API server does not serve the
        kind (its CRD is not installed). Objects are handed over page by page so the caller
        can keep what it needs of each and a thousand fleets' children never sit in memory
        in full at once.
        """
        params = {"labelSelector": selector, "limit": str(chunk)}
        while True:
            page = await self.request("LIST", resource.collection(namespace), params=params)
            if page is None:
                return None
            for item in page.get("items") or []:
                take(item)
            meta = page.get("metadata") or {}
            if not meta.get("continue"):
                return str(meta.get("resourceVersion", ""))
            params = {**params, "continue": str(meta["continue"])}

    async def watch(
        self,
        resource: ResourceType,
        namespace: str | None,
        selector: str,
        version: str,
        server_timeout: int,
    ) -> AsyncIterator[dict[str, Any]]:
        """The watch events after ``version``, until the API server ends the stream.

        Lines are split here rather than by aiohttp's ``readline``, which refuses lines over
        64 KiB (a large ConfigMap's event is one line).
        """
        session = await self._connect()
        params = {
            "watch": "true",
            "labelSelector": selector,
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(server_timeout),
        }
        metrics.API_REQUESTS.labels(verb="WATCH").inc()
        async with session.get(
            self._server + resource.collection(namespace),
            params=params,
            timeout=aiohttp.ClientTimeout(total=None, sock_read=server_timeout + 30),
        ) as response:
            if response.status >= 400:
                raise _error(response.status, await response.text())
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield orjson.loads(line)

    async def get(self, resource: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        """Return one object, or None if it does not exist."""
        return await self.request("GET", resource.path(namespace, name))

    async def apply(self, resource: ResourceType, body: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply ``body`` with our one field manager, taking over conflicts."""
        meta = body["metadata"]
        result = await self.request(
            "PATCH",
            resource.path(meta["namespace"], meta["name"]),
            params={"fieldManager": c.FIELD_MANAGER, "force": "true"},
            body=body,
            # JSON is YAML: the apply content type accepts a JSON document.
            content_type="application/apply-patch+yaml",
        )
        if result is None:  # pragma: no cover - apply creates; 404 means the resource is absent
            raise ApiError(404, "NotFound", f"the {resource.plural} API is not served")
        return result

    async def create(self, resource: ResourceType, body: Mapping[str, Any]) -> bool:
        """Create ``body``; return False if it already exists (409), True if created."""
        try:
            result = await self.request(
                "POST",
                resource.path(body["metadata"]["namespace"]),
                params={"fieldManager": c.FIELD_MANAGER},
                body=body,
            )
        except ApiError as exc:
            if exc.status == 409:
                return False
            raise
        if result is None:
            raise ApiError(404, "NotFound", f"the {resource.plural} API is not served")
        return True

    async def delete(self, resource: ResourceType, namespace: str, name: str) -> None:
        """Delete one object (its Pods follow by garbage collection); absent is fine."""
        await self.request("DELETE", resource.path(namespace, name))

    async def patch_status(
        self, resource: ResourceType, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Merge-patch the status subresource (None if the object is gone)."""
        return await self.request(
            "PATCH",
            resource.path(namespace, name) + "/status",
            body={"status": status},
            content_type="application/merge-patch+json",
        )

    async def post_event(self, body: Mapping[str, Any]) -> None:
        """Post a core/v1 Event; failures are logged, never fatal (events are best effort)."""
        try:
            await self.create(EVENTS, body)
        except (ApiError, aiohttp.ClientError) as exc:
            logger.warning("could not post event %s: %s", body.get("reason"), exc)


def _error(status: int, text: str) -> ApiError:
    try:
        payload = json.loads(text)
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    return ApiError(
        status,
        str(payload.get("reason") or "Error"),
        str(payload.get("message") or text[:300]),
    )
