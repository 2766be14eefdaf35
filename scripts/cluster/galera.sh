#!/usr/bin/env bash
# galera.sh — a 3-node MariaDB Galera cluster on this machine's loopback, behind HAProxy:
# the topology SAV supports (README "Galera cluster"; docs/decisions/0150-galera.md).
# Debian's packages: apt-get install -y mariadb-server galera-4 rsync haproxy
#
#   scripts/cluster/galera.sh start       # 3 nodes, their health responder, HAProxy
#   scripts/cluster/galera.sh status      # each node's wsrep state, HAProxy's writer
#   scripts/cluster/galera.sh kill N      # kill -9 node N (a crash, for drills)
#   scripts/cluster/galera.sh restart N   # bring node N back: --wsrep-recover, then IST
#   scripts/cluster/galera.sh stop        # stop everything (clean shutdowns)
#
# Each node is its own mariadbd with its own datadir under GALERA_DIR (default
# ./var/galera) and its own ports; the machine's MariaDB is not touched. Point SAV at
# HAProxy (DB_HOST=127.0.0.1 DB_PORT=$PROXY_PORT from galera.env): every process then
# writes through one node, the others are `backup`s HAProxy moves to when the writer is
# not Synced. galera.env lists NODE_n_PORT, PROXY_PORT and the pids.
set -euo pipefail
cd "$(dirname "$0")/../.."

GALERA_DIR=${GALERA_DIR:-./var/galera}
STATE="$GALERA_DIR/galera.env"
PROVIDER=/usr/lib/galera/libgalera_smm.so
NODES=3
export PATH="$PATH:/usr/sbin"
log() { printf '[galera] %s\n' "$*" >&2; }

python_bin() { if [[ -x .venv/bin/python ]]; then echo .venv/bin/python; else echo python3; fi; }
free_port() {
  "$(python_bin)" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
need() { command -v "$1" >/dev/null || { log "$1 missing: apt-get install -y $2"; exit 1; }; }
as_user() { if [[ $(id -u) == 0 ]]; then echo --user=mysql; fi; }
state() { grep "^$1=" "$STATE" | cut -d= -f2; }

status_of() {  # port: wsrep_local_state_comment, or "down"
  mariadb -h127.0.0.1 -P"$1" -uroot -N -B --connect-timeout=2 \
    -e "SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | cut -f2 || true
}

until_ok() {  # url: until it answers 200 (30 s at most)
  "$(python_bin)" - "$1" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + 30
while True:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2):
            break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"{sys.argv[1]} does not answer 200")
        time.sleep(0.2)
PY
}

wait_synced() {  # node
  local port; port=$(state "NODE_$1_PORT")
  local deadline=$((SECONDS + 120))
  until [[ $(status_of "$port") == Synced ]]; do
    if (( SECONDS >= deadline )); then
      log "node $1 did not reach Synced; its log:"; tail -n 40 "$GALERA_DIR/node$1/mariadb.log" >&2
      return 1
    fi
    sleep 0.3
  done
}

node_args() {  # node: mariadbd's options for it
  local n=$1 dir; dir=$(cd "$GALERA_DIR/node$n" && pwd)
  local gcomm="gcomm://" i
  for i in $(seq 1 $NODES); do gcomm+="127.0.0.1:$(state "NODE_${i}_GCOMM"),"; done
  local g; g=$(state "NODE_${n}_GCOMM")
  echo --no-defaults "--datadir=$dir/data" "--port=$(state "NODE_${n}_PORT")" \
    --bind-address=127.0.0.1 "--socket=$dir/mysqld.sock" "--pid-file=$dir/pid" \
    "--log-error=$dir/mariadb.log" --max-allowed-packet=64M --skip-name-resolve \
    --binlog-format=ROW --innodb-autoinc-lock-mode=2 --default-storage-engine=InnoDB \
    --wsrep-on=ON "--wsrep-provider=$PROVIDER" --wsrep-cluster-name=sav \
    "--wsrep-cluster-address=${gcomm%,}" "--wsrep-node-name=node$n" \
    "--wsrep-node-address=127.0.0.1:$g" \
    "--wsrep-provider-options=base_port=$g;gmcast.listen_addr=tcp://127.0.0.1:$g;ist.recv_addr=127.0.0.1:$(state "NODE_${n}_IST");gcache.size=256M" \
    --wsrep-sst-method=rsync "--wsrep-sst-receive-address=127.0.0.1:$(state "NODE_${n}_SST")" \
    $(as_user)
}

launch() {  # node extra-options...
  local n=$1; shift
  # shellcheck disable=SC2046
  nohup mariadbd $(node_args "$n") "$@" >/dev/null 2>&1 &
  sed -i "/^NODE_${n}_PID=/d" "$STATE"; echo "NODE_${n}_PID=$!" >> "$STATE"
}

start() {
  [[ -f "$STATE" ]] && { log "$STATE exists: stop the running cluster first"; exit 1; }
  need mariadbd mariadb-server; need rsync rsync; need haproxy haproxy
  [[ -e $PROVIDER ]] || { log "$PROVIDER missing: apt-get install -y galera-4"; exit 1; }
  mkdir -p "$GALERA_DIR"; chmod 755 "$GALERA_DIR"
  : > "$STATE"
  local n
  for n in $(seq 1 $NODES); do
    mkdir -p "$GALERA_DIR/node$n"
    { echo "NODE_${n}_PORT=$(free_port)"; echo "NODE_${n}_GCOMM=$(free_port)"
      echo "NODE_${n}_IST=$(free_port)"; echo "NODE_${n}_SST=$(free_port)"
      echo "NODE_${n}_CHECK=$(free_port)"; } >> "$STATE"
  done
  echo "PROXY_PORT=${PROXY_PORT:-$(free_port)}" >> "$STATE"
  if [[ $(id -u) == 0 ]]; then chown -R mysql:mysql "$GALERA_DIR"/node*; fi
  # Node 1 gets the system tables and bootstraps; the others start from a copy of its
  # datadir, stopped cleanly, so they join at its position (no full SST to start with).
  mariadb-install-db --no-defaults "--datadir=$GALERA_DIR/node1/data" --skip-test-db \
    --auth-root-authentication-method=normal $(as_user) > "$GALERA_DIR/node1/install.log" 2>&1
  launch 1 --wsrep-new-cluster; wait_synced 1
  mariadb -S "$GALERA_DIR/node1/mysqld.sock" -uroot -e \
    "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION"
  kill "$(state NODE_1_PID)"; while kill -0 "$(state NODE_1_PID)" 2>/dev/null; do sleep 0.2; done
  for n in $(seq 2 $NODES); do cp -a "$GALERA_DIR/node1/data" "$GALERA_DIR/node$n/data"; done
  launch 1 --wsrep-new-cluster; wait_synced 1
  for n in $(seq 2 $NODES); do launch "$n"; done
  for n in $(seq 2 $NODES); do wait_synced "$n"; done
  local pairs=()
  for n in $(seq 1 $NODES); do
    pairs+=("127.0.0.1:$(state "NODE_${n}_CHECK")=127.0.0.1:$(state "NODE_${n}_PORT")")
  done
  nohup "$(python_bin)" scripts/cluster/galera_check.py "${pairs[@]}" \
    > "$GALERA_DIR/check.log" 2>&1 &
  echo "CHECK_PID=$!" >> "$STATE"
  # HAProxy's first checks must find the responder up: a node it marks down at start
  # needs 3 good checks to come back, and node 1 would not be the first writer.
  for n in $(seq 1 $NODES); do until_ok "http://127.0.0.1:$(state "NODE_${n}_CHECK")/"; done
  haproxy_config > "$GALERA_DIR/haproxy.cfg"
  haproxy -f "$GALERA_DIR/haproxy.cfg" -D -p "$GALERA_DIR/haproxy.pid"
  local deadline=$((SECONDS + 30))
  until mariadb -h127.0.0.1 -P"$(state PROXY_PORT)" -uroot --connect-timeout=2 \
      -e 'SELECT 1' >/dev/null 2>&1; do
    (( SECONDS < deadline )) || { log "HAProxy does not reach a node"; exit 1; }
    sleep 0.3
  done
  log "running; SAV's DB_HOST=127.0.0.1 DB_PORT=$(state PROXY_PORT) (HAProxy):"
  cat "$STATE"
}

haproxy_config() {  # the supported proxy configuration, for this cluster's ports
  cat <<EOF
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout check 2s
listen galera-writer
    bind 127.0.0.1:$(state PROXY_PORT)
    # One writer: the first Synced server; the backups take over only when it fails
    # (its node's responder says it is not Synced), and the stick table keeps the
    # new writer when the old one comes back, rather than moving writes again.
    stick-table type ip size 1 nopurge
    stick on dst
    option httpchk
    http-check send meth GET uri /
    http-check expect status 200
    default-server inter 1s fall 2 rise 3 on-marked-down shutdown-sessions
$(for n in $(seq 1 $NODES); do
    printf '    server node%s 127.0.0.1:%s check port %s%s\n' "$n" "$(state "NODE_${n}_PORT")" \
      "$(state "NODE_${n}_CHECK")" "$([[ $n == 1 ]] || echo ' backup')"
  done)
EOF
}

status() {
  [[ -f "$STATE" ]] || { log "not running ($STATE missing)"; exit 1; }
  local n said
  for n in $(seq 1 $NODES); do
    said=$(status_of "$(state "NODE_${n}_PORT")")
    printf 'node%s (127.0.0.1:%s): %s\n' "$n" "$(state "NODE_${n}_PORT")" "${said:-down}"
  done
  printf 'HAProxy 127.0.0.1:%s writes through: %s\n' "$(state PROXY_PORT)" \
    "$(mariadb -h127.0.0.1 -P"$(state PROXY_PORT)" -uroot -N -B --connect-timeout=2 \
        -e 'SELECT @@wsrep_node_name' 2>/dev/null || echo nothing)"
}

kill_node() {
  local pid; pid=$(state "NODE_$1_PID")
  kill -9 "$pid"; log "node $1 killed (pid $pid); bring it back with: $0 restart $1"
}

restart() {  # the node-restart procedure: recover the position, then join by IST
  local n=$1 pid; pid=$(state "NODE_${n}_PID")
  if kill -0 "$pid" 2>/dev/null; then log "node $n is running (pid $pid)"; exit 1; fi
  local recover="$GALERA_DIR/node$n/recover.log"
  # shellcheck disable=SC2046
  mariadbd $(node_args "$n") --wsrep-recover "--log-error=$recover" >/dev/null 2>&1 || true
  local position
  position=$(grep -o 'Recovered position: *[0-9a-f-]*:-\?[0-9]*' "$recover" | tail -n1 \
             | awk '{print $NF}')
  [[ -n $position ]] || { log "no position recovered:"; tail -n 20 "$recover" >&2; exit 1; }
  log "node $n recovered position $position; starting it (IST from a donor's gcache)"
  launch "$n" "--wsrep-start-position=$position"
  wait_synced "$n"
  if awk '/Starting MariaDB/ { ist = 0 } /IST received/ { ist = 1 } END { exit !ist }' \
      "$GALERA_DIR/node$n/mariadb.log"; then
    log "node $n is back by IST"
  else
    log "node $n is back (by SST: its position was no longer in a donor's gcache)"
  fi
}

stop() {
  [[ -f "$STATE" ]] || { log "not running"; return 0; }
  [[ -f "$GALERA_DIR/haproxy.pid" ]] && kill "$(cat "$GALERA_DIR/haproxy.pid")" 2>/dev/null || true
  kill "$(state CHECK_PID)" 2>/dev/null || true
  local n pid
  for n in $(seq $NODES -1 1); do
    pid=$(state "NODE_${n}_PID")
    kill "$pid" 2>/dev/null || continue
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  done
  rm -f "$STATE" "$GALERA_DIR/haproxy.pid"
  log "stopped (data kept in $GALERA_DIR)"
}

case "${1:-}" in
  start) start ;;
  status) status ;;
  kill) kill_node "${2:?node number}" ;;
  restart) restart "${2:?node number}" ;;
  stop) stop ;;
  *) sed -n '2,16p' "$0"; exit 1 ;;
esac
