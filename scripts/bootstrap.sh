#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install the project with its pinned dependencies.
# Idempotent and quick: does nothing when the install stamp is newer than pyproject.toml and
# requirements.lock. Set CASEWORK_FORCE_BOOTSTRAP=1 to reinstall anyway.
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
