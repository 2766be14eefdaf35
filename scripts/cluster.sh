#!/usr/bin/env bash
# cluster.sh — a multi-replica SAV on one machine: 2 `sav serve` + 2 `sav worker all`
# on one MariaDB/MySQL and one RabbitMQ, each on a free port, with a short lease TTL.
#
#   scripts/cluster.sh start     # start the four processes; prints their addresses
#   scripts/cluster.sh status    # each worker's /status: the jobs it holds, its lag
#   scripts/cluster.sh stop      # stop them (SIGTERM, then SIGKILL after 10 s)
#
# Where and what (environment, with their defaults):
#   CLUSTER_DIR=./var/cluster      state: cluster.env (ports, pids), logs, shared data
#   DB_HOST=127.0.0.1 DB_PORT=3306 DB_USERNAME=root DB_PASSWORD= DB_DATABASE=sav_cluster
#                                  (or the HAProxy of a Galera cluster started by
#                                  scripts/cluster/galera.sh: its PROXY_PORT)
#   RABBITMQ_HOST=127.0.0.1 RABBITMQ_PORT=5672 (RABBITMQ_EXCHANGE, RABBITMQ_QUEUE, ...)
#   SAV_WORKER_LEASE_TTL=3         seconds; a dead worker's jobs move after at most
#                                  TTL + TTL/3 (every worker honours it)
#   AUTH_JWT_SECRET                shared by both APIs (generated into CLUSTER_DIR)
#   SAV_TRUSTED_PROXIES            passed through (the ingress in front of the APIs)
#   SAV_BIN                        the `sav` command (default: .venv/bin/sav, else PATH)
#
# cluster.env lists API_1_URL, API_2_URL, WORKER_1_HEALTH_URL, WORKER_2_HEALTH_URL and
# the pids (API_1_PID, ..., WORKER_2_PID): source it to script against the cluster.
# Worker 1 starts first and takes every job; worker 2 stands by. `kill -9` worker 1 and
# watch worker 2's /status take the jobs over.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER_DIR=${CLUSTER_DIR:-./var/cluster}
STATE="$CLUSTER_DIR/cluster.env"
log() { printf '[cluster] %s\n' "$*" >&2; }

sav_bin() {
  if [[ -n "${SAV_BIN:-}" ]]; then echo "$SAV_BIN"
  elif [[ -x .venv/bin/sav ]]; then echo "$PWD/.venv/bin/sav"
  else command -v sav || { log "no sav command: pip install -e . first"; exit 1; }
  fi
}

python_bin() { if [[ -x .venv/bin/python ]]; then echo .venv/bin/python; else echo python3; fi; }

free_port() {
  "$(python_bin)" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# GET a URL; prints the body; fails unless the answer is 200.
get() { "$(python_bin)" - "$1" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=3) as response:
    sys.stdout.write(response.read().decode())
EOF
}

# GET a URL; prints the body whatever the status (a 503 `degraded` is worth reading).
show() { "$(python_bin)" - "$1" <<'EOF' 2>/dev/null || echo unreachable
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as response:
        sys.stdout.write(response.read().decode())
except urllib.error.HTTPError as error:
    sys.stdout.write(f"HTTP {error.code} {error.read().decode()}")
EOF
}

wait_until() {  # seconds description command...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS >= deadline )); then log "timed out waiting for $what"; return 1; fi
    sleep 0.2
  done
}

holds_every_job() {
  get "$1/status" | "$(python_bin)" -c '
import json, sys
held = set(json.load(sys.stdin)["leases"])
sys.exit(0 if {"projections", "publisher", "scheduler", "event-log"} <= held else 1)'
}

start() {
  if [[ -f "$STATE" ]]; then
    log "$STATE exists: stop the running cluster first (scripts/cluster.sh stop)"; exit 1
  fi
  local sav; sav=$(sav_bin)
  mkdir -p "$CLUSTER_DIR/data" "$CLUSTER_DIR/logs"
  local dir; dir=$(cd "$CLUSTER_DIR" && pwd)
  if [[ -z "${AUTH_JWT_SECRET:-}" ]]; then
    [[ -f "$dir/jwt_secret" ]] || "$(python_bin)" -c 'import secrets; print(secrets.token_urlsafe(48))' > "$dir/jwt_secret"
    AUTH_JWT_SECRET=$(cat "$dir/jwt_secret")
  fi
  export AUTH_JWT_SECRET DB_CONNECTION=mysql
  export DB_HOST=${DB_HOST:-127.0.0.1} DB_PORT=${DB_PORT:-3306} DB_USERNAME=${DB_USERNAME:-root}
  export DB_PASSWORD=${DB_PASSWORD:-} DB_DATABASE=${DB_DATABASE:-sav_cluster}
  export RABBITMQ_HOST=${RABBITMQ_HOST:-127.0.0.1} RABBITMQ_PORT=${RABBITMQ_PORT:-5672}
  export SAV_WORKER_LEASE_TTL=${SAV_WORKER_LEASE_TTL:-3}
  export SAV_INPROCESS_WORKERS=false SAV_DATA_DIR="$dir/data"

  local api1 api2 w1 w2
  api1=$(free_port); api2=$(free_port); w1=$(free_port); w2=$(free_port)
  : > "$STATE.tmp"
  run() {  # name command...: in the background, its pid noted
    local name=$1; shift
    "$@" > "$dir/logs/$name.log" 2>&1 &
    echo "${name^^}_PID=$!" | tr - _ >> "$STATE.tmp"
  }
  failed() {  # what: stop what was started, show the logs' tails
    log "$1 did not come up; last lines of each log:"
    for f in "$dir"/logs/*.log; do printf '\n--- %s\n' "$f" >&2; tail -n 20 "$f" >&2; done
    mv "$STATE.tmp" "$STATE"; stop; exit 1
  }
  # Whoever comes first creates the schema (serialized by a database lock). Worker 1
  # takes every job before worker 2 exists: a known active/standby pair.
  run api-1 "$sav" serve --host 127.0.0.1 --port "$api1"
  run api-2 "$sav" serve --host 127.0.0.1 --port "$api2"
  SAV_WORKER_HEALTH_PORT=$w1 run worker-1 "$sav" worker all
  wait_until 90 "worker-1 to hold every job" holds_every_job "http://127.0.0.1:$w1" \
    || failed worker-1
  SAV_WORKER_HEALTH_PORT=$w2 run worker-2 "$sav" worker all
  wait_until 60 "api-1" get "http://127.0.0.1:$api1/health" || failed api-1
  wait_until 60 "api-2" get "http://127.0.0.1:$api2/health" || failed api-2
  wait_until 60 "worker-2" get "http://127.0.0.1:$w2/health" || failed worker-2
  {
    echo "API_1_URL=http://127.0.0.1:$api1"
    echo "API_2_URL=http://127.0.0.1:$api2"
    echo "WORKER_1_HEALTH_URL=http://127.0.0.1:$w1"
    echo "WORKER_2_HEALTH_URL=http://127.0.0.1:$w2"
    echo "LOGS=$dir/logs"
  } >> "$STATE.tmp"
  mv "$STATE.tmp" "$STATE"
  log "running (lease TTL ${SAV_WORKER_LEASE_TTL}s, database $DB_DATABASE on $DB_HOST:$DB_PORT):"
  cat "$STATE"
}

status() {
  [[ -f "$STATE" ]] || { log "not running ($STATE missing)"; exit 1; }
  # shellcheck disable=SC1090
  source "$STATE"
  for n in 1 2; do
    local url_var="WORKER_${n}_HEALTH_URL"
    printf 'worker-%s: %s\n' "$n" "$(show "${!url_var}/status")"
  done
  for n in 1 2; do
    local url_var="API_${n}_URL"
    printf 'api-%s: %s\n' "$n" "$(show "${!url_var}/status")"
  done
}

stop() {
  local file=$STATE
  [[ -f "$file" ]] || file="$STATE.tmp"
  [[ -f "$file" ]] || { log "not running"; return 0; }
  local pids; pids=$(grep '_PID=' "$file" | cut -d= -f2)
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  local deadline=$((SECONDS + 10))
  for pid in $pids; do
    while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -f "$STATE" "$STATE.tmp"
  log "stopped"
}

case "${1:-start}" in
  start) start ;;
  status) status ;;
  stop) stop ;;
  *) echo "usage: $0 start|status|stop" >&2; exit 2 ;;
esac
