"""The operations guide's entry point: ``python main.py`` runs the all-in-one fleet."""

import sys

from runtime.cli import main

if __name__ == "__main__":
    sys.exit(main(["all-in-one", *sys.argv[1:]]))
