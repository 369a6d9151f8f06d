"""Lets ``python -m agentfleet_runtime ROLE`` work like the ``agentfleet`` command."""

import sys

from agentfleet_runtime.cli import main

sys.exit(main())
