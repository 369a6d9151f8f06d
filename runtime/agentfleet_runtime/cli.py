"""The command line: ``agentfleet ROLE`` (and ``python main.py`` for the all-in-one role).

Configuration is validated before anything starts; a problem ends the process with exit
code 2 and one message listing every problem. SIGTERM and Ctrl+C stop taking new work,
let in-flight replies finish, and exit 0.

``agentfleet doctor`` checks the configuration instead of running a role
(:mod:`agentfleet_runtime.doctor`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import datetime

import uvloop

from agentfleet_runtime.brain.catchup import parse_run_date
from agentfleet_runtime.config import ConfigurationError, load_settings
from agentfleet_runtime.contract import PERSONAS, Role
from agentfleet_runtime.observability.logs import configure_logging

log = logging.getLogger("agentfleet_runtime")

#: The subcommand that checks the configuration rather than running a role.
DOCTOR = "doctor"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Read the role (all-in-one by default) and, for a persona worker, which persona."""
    parser = argparse.ArgumentParser(prog="agentfleet", description=__doc__.splitlines()[0])
    parser.add_argument(
        "role", nargs="?", default=Role.ALL_IN_ONE.value, choices=[r.value for r in Role]
    )
    parser.add_argument("--persona", choices=PERSONAS, help="the persona of a persona worker")
    parser.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="pipeline: run this fleet-local date only (default: yesterday and missed days)",
    )
    parser.add_argument(
        "--force", action="store_true", help="pipeline: run --date again although it is done"
    )
    args = parser.parse_args(argv)
    if args.role == Role.PERSONA.value and args.persona is None:
        parser.error("the persona role needs --persona spectra|lynq|paz")
    if (args.date is not None or args.force) and args.role != Role.PIPELINE.value:
        parser.error("--date and --force belong to the pipeline role: agentfleet pipeline --date")
    if args.force and args.date is None:
        parser.error("--force needs --date YYYY-MM-DD: the date to run again")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run one role until it is stopped; returns the process exit code."""
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == [DOCTOR]:
        from agentfleet_runtime.doctor import run_doctor  # only the doctor needs its imports

        return run_doctor(given[1:])
    args = parse_args(argv)
    role = Role(args.role)
    try:
        settings = load_settings(role, args.persona)
    except ConfigurationError as error:
        print(f"agentfleet: {error}", file=sys.stderr)
        return 2
    day = None
    if args.date is not None:
        try:
            day = parse_run_date(args.date, datetime.now(settings.zone).date())
        except ValueError as error:
            print(f"agentfleet: {error}", file=sys.stderr)
            return 2
    configure_logging(settings.LOG_LEVEL, settings.LOG_FILE or None, settings.secret_values())
    from agentfleet_runtime.app.roles import run_role  # after logging, so imports log through it
    from agentfleet_runtime.pipeline import PipelineError

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_role(settings, role, args.persona, stop, day=day, force=args.force)

    try:
        uvloop.run(run())
    except PipelineError as error:
        print(f"agentfleet: {error}", file=sys.stderr)  # one line: the reason, no traceback
        return 1
    except Exception:
        log.exception("ERROR %s stopped by an unexpected error", role.value)
        return 1
    finally:
        with contextlib.suppress(Exception):
            logging.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
