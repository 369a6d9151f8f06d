"""The operations guide's entry point: ``python main.py`` runs the all-in-one fleet."""

import sys
from pathlib import Path

# Importable without an install too (the runtime's package lives in the runtime/ folder);
# the dependencies still come from `bash scripts/bootstrap.sh`.
sys.path.insert(0, str(Path(__file__).resolve().parent / "runtime"))

from agentfleet_runtime.cli import main

if __name__ == "__main__":
    sys.exit(main(["all-in-one", *sys.argv[1:]]))
