"""Lets ``python -m runtime ROLE`` work like the ``agentfleet`` command."""

import sys

from runtime.cli import main

sys.exit(main())
