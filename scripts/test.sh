#!/usr/bin/env bash
# `make test`: install what tests need, lint, then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)

bash scripts/bootstrap.sh

echo "== ruff check"
lint_status=0
.venv/bin/ruff check --no-cache --output-format concise . || lint_status=$?

# The read model tests run against PostgreSQL too (127.0.0.1:5432, trust auth, database `test`).
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        echo "== starting PostgreSQL"
        for version in $(ls /etc/postgresql); do
            pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        done
        for _ in $(seq 1 30); do
            pg_isready -h 127.0.0.1 -p 5432 -q && break
            sleep 1
        done
    else
        echo "== PostgreSQL is not reachable at 127.0.0.1:5432 and pg_ctlcluster is not available"
    fi
fi

# The browser tests drive Debian's Chromium (Playwright's own browser download is never used).
# As root it is installed when missing; otherwise those tests skip locally and fail under CI=true.
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing chromium (apt-get)"
        apt-get install -y -q chromium >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
            || echo "== could not install chromium; the browser tests will skip (or fail under CI)"
    else
        echo "== /usr/bin/chromium is missing (apt-get install chromium); the browser tests will skip (or fail under CI)"
    fi
fi

echo "== pytest"
set +e
.venv/bin/python -m pytest -p no:cacheprovider --durations=10 "$@"
status=$?
set -e

elapsed=$(( $(date +%s) - start ))
if [ "$status" -eq 5 ]; then
    echo "make test: FAILED - pytest collected no tests (exit 5) after ${elapsed}s" >&2
    exit 5
fi
if [ "$status" -ne 0 ]; then
    echo "make test: FAILED (pytest exit $status) after ${elapsed}s" >&2
    exit "$status"
fi
if [ "$lint_status" -ne 0 ]; then
    echo "make test: FAILED - ruff found problems (see above); tests passed, in ${elapsed}s" >&2
    exit "$lint_status"
fi
echo "make test: passed in ${elapsed}s"
