#!/usr/bin/env bash
# Installs what AgentFleet needs, idempotently: the pinned Python packages in .venv, and
# with --for-tests also what the tests use: Debian packages (when running as root on
# Debian, as CI does) redis-server, bubblewrap, headless Chromium and prometheus (for
# promtool, which checks and unit-tests the chart's alert rules), and the local
# Kubernetes control plane built from the Go module proxy (scripts/cluster.sh build).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    if [ -z "${apt_updated:-}" ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "note: cannot install $* (needs root and apt-get); install them by hand" >&2
  fi
}

if [ "${1:-}" = "--for-tests" ]; then
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  # Starts a container's command as the image's user on a read-only root filesystem.
  command -v bwrap >/dev/null 2>&1 || apt_install bubblewrap
  # The fonts make the page's Japanese text and the personas' emoji visible in the
  # screenshot the browser test keeps.
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    apt_install chromium chromium-driver fonts-noto-cjk fonts-noto-color-emoji
  fi
  # promtool checks and unit-tests the alert rules (tests/monitoring); Debian ships it
  # in the prometheus package. Without it those tests cannot say anything, so stop here.
  command -v promtool >/dev/null 2>&1 || apt_install prometheus
  if ! command -v promtool >/dev/null 2>&1; then
    echo "bootstrap: promtool is missing; the alert rule tests need it. Install Debian's" \
      "'prometheus' package as root (apt-get install prometheus), or put the promtool" \
      "binary from https://prometheus.io/download/ on PATH, then run this again." >&2
    exit 1
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

if [ "${1:-}" = "--for-tests" ]; then
  # About 10 minutes the first time; cached outside the repository afterwards.
  bash scripts/cluster.sh build >/dev/null
fi
