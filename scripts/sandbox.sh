#!/usr/bin/env bash
# The sandbox: installs the pinned packages, then runs the whole fleet against a local
# Discord-compatible server (open the printed URL to chat) and a local Gemini-compatible
# server. Ctrl+C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m agentfleet_sandbox "$@"
