#!/usr/bin/env bash
# The whole test suite: lint, format, types, then every test (unit, service, e2e, discord,
# browser, operator, cluster). Installs what it needs first, so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --for-tests

echo "== ruff check"; .venv/bin/ruff check .
echo "== ruff format --check"; .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy
# A temporary folder of this checkout's own: pytest keeps only the newest three under
# /tmp/pytest-of-<user>, so another checkout's run would delete this one's (and with it
# the embedded PostgreSQL's data) mid-run.
basetemp="${TMPDIR:-/tmp}/agentfleet-pytest-$(pwd | sha1sum | cut -c1-8)"
echo "== pytest"; .venv/bin/pytest --basetemp="$basetemp" "$@"
