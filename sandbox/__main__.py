"""``python -m sandbox``: the whole fleet with local Discord, Gemini and Redis."""

import sys

from sandbox.launcher import main

sys.exit(main())
