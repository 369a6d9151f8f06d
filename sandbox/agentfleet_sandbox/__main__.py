"""``python -m agentfleet_sandbox``: the whole fleet with local Discord, Gemini and Redis."""

import sys

from agentfleet_sandbox.launcher import main

sys.exit(main())
