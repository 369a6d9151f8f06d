"""kopf wiring: settings, login, watches that feed the work queue, liveness probe.

kopf does what it is good at (login, watching with reconnects, liveness, logging); the
reconcile itself runs in our work queue, keyed by fleet, because events of a dozen children
and of the fleet must collapse into one pass per fleet. Handlers return nothing: kopf would
otherwise write return values into the fleet's status.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import kopf

from agentfleet_operator import metrics
from agentfleet_operator.api import constants as c
from agentfleet_operator.cache import ChildCache, index_child, index_id
from agentfleet_operator.children.desired import WATCHED
from agentfleet_operator.kube import KubeClient
from agentfleet_operator.meta import owner_of
from agentfleet_operator.options import Options
from agentfleet_operator.reconcile import Reconciler
from agentfleet_operator.workqueue import WorkQueue

logger = logging.getLogger(__name__)

FleetKey = tuple[str, str]

#: The label every child carries (see ``meta.labels``); children are watched through it.
CHILD_SELECTOR = f"{c.LABEL_MANAGED_BY}={c.MANAGED_BY}"
LIST_CHUNK_SIZE = 500


@dataclass
class Runtime:
    """The operator's per-process state, kept in kopf's memo."""

    options: Options
    client: KubeClient
    reconciler: Reconciler
    queue: WorkQueue[FleetKey]
    resync: asyncio.Task[None]


def credentials(settings: kopf.OperatorSettings) -> kopf.ConnectionInfo | None:
    """Return credentials: the Pod's service account, else a kubeconfig (for development)."""
    info: kopf.ConnectionInfo | None = kopf.login_with_service_account(settings=settings)
    return info or kopf.login_with_kubeconfig(settings=settings)


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """Log kopf in with the same credentials the reconciler's client uses."""
    info = credentials(settings)
    if info is None:
        raise kopf.LoginError("no service account token and no kubeconfig found")
    return info


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Configure kopf and start the client, the work queue and the resync loop."""
    options = Options.from_env()
    # Our own prefix from day one, should kopf ever store anything on our objects (it adds
    # no finalizer: no handler needs to run before a fleet is deleted).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=c.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=c.GROUP, key="last-handled-configuration"
    )
    # Events are posted by the reconciler on condition transitions, not per kopf log line.
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # The API server filters child events by our label, so the operator never receives
    # (nor holds in memory) the Deployments, Services, ConfigMaps... of everything else
    # in the cluster; the handlers' own `labels=` filter would only drop them afterwards.
    for resource in WATCHED:
        settings.watching.label_selectors[resource.api_version, resource.plural] = CHILD_SELECTOR
    # Initial lists come in pages, so a restart next to thousands of fleets does not load
    # every child of every kind in one response.
    settings.watching.chunk_size = LIST_CHUNK_SIZE
    settings.networking.request_timeout = options.request_timeout
    if not options.verbose:
        # kopf logs every successful event handler at INFO; with a dozen watched kinds that
        # drowns the operator's own log lines. Warnings and errors still come through.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)

    client = KubeClient(lambda: credentials(settings), timeout=options.request_timeout)
    reconciler = Reconciler(client, cache=ChildCache())

    async def work(key: FleetKey) -> str:
        return await reconciler.reconcile(*key)

    queue: WorkQueue[FleetKey] = WorkQueue(
        work, concurrency=options.concurrency, debounce=options.debounce_seconds
    )
    resync = asyncio.create_task(queue.resync(options.resync_seconds))
    memo.agentfleet = Runtime(options, client, reconciler, queue, resync)
    metrics.serve(options.metrics_port)
    logger.info("agentfleet operator started", extra={"options": str(options)})


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the queue and close the client."""
    runtime: Runtime = memo.agentfleet
    runtime.resync.cancel()
    await runtime.queue.close()
    await runtime.client.close()


@kopf.on.probe(id="fleets")
def fleets_probe(memo: kopf.Memo, **_: Any) -> int:
    """Report the number of fleets known to the operator in the liveness endpoint."""
    runtime: Runtime = memo.agentfleet
    return len(runtime.queue.known)


# The event handlers are coroutines: kopf runs plain functions in a thread pool, and the
# work queue belongs to the event loop's thread.
@kopf.on.event(c.GROUP, c.VERSION, c.PLURAL)
async def fleet_event(
    *,
    type: str,
    body: kopf.Body,
    name: str,
    namespace: str | None,
    memo: Any,
    **kwargs: Any,
) -> None:
    """Queue a pass when a fleet appears or its spec changes (not for our status writes)."""
    runtime: Runtime = memo.agentfleet
    _bind_cache(runtime, kwargs)
    key = (namespace or "", name)
    if type == "DELETED":
        runtime.queue.forget(key)
        runtime.reconciler.forget(*key)
        return
    generation = body.get("metadata", {}).get("generation")
    observed = body.get("status", {}).get("observedGeneration")
    if type in (None, "ADDED") or generation is None or generation != observed:
        runtime.queue.add(key)
    else:
        # Our own status patch: remember the fleet for resyncs, but do not loop on it.
        runtime.queue.known.add(key)


async def child_event(*, body: kopf.Body, namespace: str | None, memo: Any, **kwargs: Any) -> None:
    """Queue a pass of the owning fleet when one of its children changes or disappears."""
    owner = owner_of(body)
    if owner is not None and namespace:
        runtime: Runtime = memo.agentfleet
        _bind_cache(runtime, kwargs)
        runtime.queue.add((namespace, owner))


def _bind_cache(runtime: Runtime, handler_kwargs: dict[str, Any]) -> None:
    # kopf hands its indexes to handlers only; the reconciler reads them from here on.
    if runtime.reconciler.cache is not None:
        runtime.reconciler.cache.bind(handler_kwargs)


for _resource in WATCHED:
    kopf.index(
        group=_resource.group,
        version=_resource.version,
        plural=_resource.plural,
        id=index_id(_resource),
        labels={c.LABEL_MANAGED_BY: c.MANAGED_BY},
    )(index_child)
    kopf.on.event(
        group=_resource.group,
        version=_resource.version,
        plural=_resource.plural,
        id=f"child-{_resource.plural}",
        labels={c.LABEL_MANAGED_BY: c.MANAGED_BY},
    )(child_event)
