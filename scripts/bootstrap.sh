#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install the project with its pinned dependencies; install the
# pages' front-end assets (GOV.UK Frontend, MOJ Frontend, Swagger UI, ReDoc, axe-core) into
# node_modules/ with `npm ci` from package-lock.json. The app serves them itself: never a CDN.
# Idempotent and quick: each part does nothing when its stamp is newer than its lock files.
# Set CASEWORK_FORCE_BOOTSTRAP=1 to reinstall anyway.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
STAMP="$VENV/.casework-bootstrap-stamp"

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    if ! PY=$(find_python); then
        echo "bootstrap: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
        exit 1
    fi
    echo "bootstrap: creating $VENV with $($PY --version 2>&1)"
    "$PY" -m venv "$VENV"
fi

NPM_STAMP=node_modules/.casework-npm-stamp
install_assets() {
    if [ -z "${CASEWORK_FORCE_BOOTSTRAP:-}" ] && [ -f "$NPM_STAMP" ] \
        && [ "$NPM_STAMP" -nt package.json ] && [ "$NPM_STAMP" -nt package-lock.json ]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "bootstrap: installing nodejs and npm (apt-get)"
            apt-get install -y -q nodejs npm >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q nodejs npm >/dev/null; }
        else
            echo "bootstrap: npm is needed for the pages' assets (apt-get install nodejs npm)" >&2
            exit 1
        fi
    fi
    local log=node_modules.log
    echo "bootstrap: installing the front-end assets with npm ci (log: $log)"
    if ! npm ci --no-audit --no-fund --ignore-scripts >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        echo "bootstrap: npm ci failed (full log: $log)" >&2
        exit 1
    fi
    rm -f "$log"
    touch "$NPM_STAMP"
}
install_assets

if [ -z "${CASEWORK_FORCE_BOOTSTRAP:-}" ] && [ -f "$STAMP" ] \
    && [ "$STAMP" -nt pyproject.toml ] && [ "$STAMP" -nt requirements.lock ] \
    && [ -x "$VENV/bin/casework" ]; then
    exit 0
fi

LOG="$VENV/bootstrap.log"
echo "bootstrap: installing casework and its pinned dependencies into $VENV (log: $LOG)"
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check \
    -c requirements.lock -e '.[dev]' >"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2
    echo "bootstrap: pip install failed (full log: $LOG)" >&2
    exit 1
fi
touch "$STAMP"
echo "bootstrap: done"
