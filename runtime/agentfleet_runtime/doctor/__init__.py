"""``agentfleet doctor``: checks a fleet's real configuration against the services it uses.

It reads the same variables the fleet reads (the environment, then ``.env``), asks each
service what it thinks of them and prints one line per check, with what to do under every
failure; the exit code is non-zero when anything failed. Tokens and keys are never
printed: a token is shown as the bot it belongs to.

The checks are pure functions over fetched facts (``*_checks`` and ``permissions``), the
fetching sits at the edge (``discord_facts``, ``gemini_check.ask_models``,
``stores.probe_*``), and :mod:`.run` puts them together.
"""

from agentfleet_runtime.doctor.run import run_doctor

__all__ = ["run_doctor"]
