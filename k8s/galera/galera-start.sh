#!/bin/sh
# Start one MariaDB Galera node the way docs/decisions/0150-galera.md says, in a
# container (docker/galera-compose.yml) or a StatefulSet pod (k8s/galera/):
#   - an empty datadir on the bootstrap node (GALERA_BOOTSTRAP=1, or a pod whose name
#     ends in -0): a new cluster;
#   - an empty datadir elsewhere: join, the cluster sends a full copy (SST);
#   - after a crash (grastate.dat says seqno -1): `--wsrep-recover` first reads the last
#     committed position from InnoDB, and the node starts there, so a donor sends only
#     the missing write-sets from its gcache (IST) instead of a full SST;
#   - after a clean stop: the saved position, IST as well.
# Then the image's own entrypoint with "$@" (the node's options).
set -eu
DATADIR=${DATADIR:-/var/lib/mysql}
STATE="$DATADIR/grastate.dat"
extra=""
if [ ! -f "$STATE" ]; then
  case "${HOSTNAME:-}" in *-0) GALERA_BOOTSTRAP=${GALERA_BOOTSTRAP:-1} ;; esac
  if [ "${GALERA_BOOTSTRAP:-0}" = 1 ] && [ ! -d "$DATADIR/mysql" ]; then
    extra="--wsrep-new-cluster"
  fi
elif grep -q '^seqno: *-1' "$STATE"; then
  log=$(mktemp)
  mariadbd --user=mysql --datadir="$DATADIR" "$@" --wsrep-recover --log-error="$log" || true
  position=$(sed -n 's/.*Recovered position: *\([0-9a-f-]*:-\{0,1\}[0-9]*\).*/\1/p' "$log" | tail -n 1)
  rm -f "$log"
  if [ -n "$position" ]; then
    echo "galera-start: recovered position $position (IST from a donor's gcache)" >&2
    extra="--wsrep-start-position=$position"
  fi
fi
# shellcheck disable=SC2086
exec docker-entrypoint.sh mariadbd "$@" $extra
