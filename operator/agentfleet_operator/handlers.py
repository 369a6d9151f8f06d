"""kopf wiring: settings, login, the fleets' watch that feeds the work queue, liveness.

kopf does what it is good at (login, watching the fleets with reconnects, liveness,
logging); the children are watched by :mod:`agentfleet_operator.informer`, and the
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
from agentfleet_operator.cache import ChildCache
from agentfleet_operator.children.desired import WATCHED
from agentfleet_operator.informer import ChildInformer
from agentfleet_operator.kube import KubeClient
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
    background: list[asyncio.Task[None]]
    """The resync loop and the children's watches."""


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
    # Initial lists come in pages, so a restart next to thousands of fleets does not load
    # every fleet in one response.
    settings.watching.chunk_size = LIST_CHUNK_SIZE
    settings.networking.request_timeout = options.request_timeout
    if not options.verbose:
        # kopf logs every successful event handler at INFO; with a dozen watched kinds that
        # drowns the operator's own log lines. Warnings and errors still come through.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)

    client = KubeClient(lambda: credentials(settings), timeout=options.request_timeout)
    cache = ChildCache(WATCHED, options.namespaces)
    reconciler = Reconciler(client, cache=cache)

    async def work(key: FleetKey) -> str:
        await cache.settled()
        return await reconciler.reconcile(*key)

    queue: WorkQueue[FleetKey] = WorkQueue(
        work, concurrency=options.concurrency, debounce=options.debounce_seconds
    )
    background = [asyncio.create_task(queue.resync(options.resync_seconds))]
    for resource in WATCHED:
        for namespace in options.namespaces or (None,):
            informer = ChildInformer(
                client,
                cache,
                resource,
                namespace=namespace,
                # The API server filters by our label, so the operator never receives (nor
                # holds in memory) the Deployments, ConfigMaps... of everything else.
                selector=CHILD_SELECTOR,
                chunk=LIST_CHUNK_SIZE,
                on_change=lambda ns, fleet: queue.add((ns, fleet)),
            )
            background.append(asyncio.create_task(informer.run()))
    memo.agentfleet = Runtime(options, client, reconciler, queue, background)
    metrics.serve(options.metrics_port)
    logger.info("agentfleet operator started", extra={"options": str(options)})


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the queue and close the client."""
    runtime: Runtime = memo.agentfleet
    for task in runtime.background:
        task.cancel()
    await asyncio.gather(*runtime.background, return_exceptions=True)
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
    **_: Any,
) -> None:
    """Queue a pass when a fleet appears or its spec changes (not for our status writes)."""
    runtime: Runtime = memo.agentfleet
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
