"""The operator's one entry point: ``agentfleet-operator`` (or ``python -m agentfleet_operator``).

One replica (the chart uses the Recreate strategy), so kopf runs standalone: no peering
objects, no leader election to configure.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import kopf

from agentfleet_operator.options import Options


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; every flag defaults to its AGENTFLEET_* variable."""
    env = Options.from_env()
    parser = argparse.ArgumentParser(
        prog="agentfleet-operator", description="Reconciles AgentFleet resources."
    )
    parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        default=None,
        help="namespace to serve (repeatable); default: AGENTFLEET_NAMESPACES, else all",
    )
    parser.add_argument("--liveness", default=env.liveness, help="kopf liveness endpoint URL")
    parser.add_argument(
        "--log-format", choices=["json", "plain"], default=env.log_format, help="log format"
    )
    parser.add_argument("-v", "--verbose", action="store_true", default=env.verbose)
    args = parser.parse_args(argv)
    if args.namespaces is None:
        args.namespaces = list(env.namespaces)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run the operator until SIGTERM/SIGINT."""
    args = parse_args(argv)
    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL,
    )
    # Importing registers the handlers with kopf's default registry.
    import agentfleet_operator.handlers  # noqa: F401

    kopf.run(
        standalone=True,
        clusterwide=not args.namespaces,
        namespaces=args.namespaces,
        liveness_endpoint=args.liveness or None,
    )


if __name__ == "__main__":
    main()
