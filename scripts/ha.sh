#!/usr/bin/env bash
# A local high-availability harness without containers, from the machine's PostgreSQL
# binaries: a private primary and a streaming replica of it (pg_basebackup -R), on ports of
# their own, with their files under data/ha. The machine's own servers are never touched.
#
#   scripts/ha.sh up     start both (initialising them the first time); prints the URLs as
#                        export lines (HA_PRIMARY_URL, HA_REPLICA_URL)
#   scripts/ha.sh down   stop both and remove data/ha
#   scripts/ha.sh replica-stop | replica-start
#                        stop the replica at once (as a crash would) / start it again
#
# Environment (optional): DELTRAN_DATA (default <repo>/data), DELTRAN_HA_PRIMARY_PORT (55442),
# DELTRAN_HA_REPLICA_PORT (55443).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${DELTRAN_DATA:-$ROOT/data}"
HA="$DATA/ha"
PRIMARY_PORT="${DELTRAN_HA_PRIMARY_PORT:-55442}"
REPLICA_PORT="${DELTRAN_HA_REPLICA_PORT:-55443}"
RUN="$HA/run"

say() { printf 'ha: %s\n' "$1" >&2; }
die() { printf 'ha: FAILED: %s\n' "$1" >&2; exit 1; }
is_root() { [[ "$(id -u)" == 0 ]]; }
# The PostgreSQL tools refuse root: run them as `postgres` when we are root.
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }

bindir() {
  # shellcheck disable=SC2012
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

url() { printf 'postgres://postgres@127.0.0.1:%s/postgres' "$1"; }

start() { # start DIR PORT NAME
  as_pg "$BIN/pg_ctl" -D "$1" -l "$RUN/$3.log" -w -t 60 \
    -o "-p $2 -c listen_addresses=127.0.0.1 -c unix_socket_directories='$RUN'" start >/dev/null \
    || { tail -n 20 "$RUN/$3.log" >&2 || true; die "the $3 did not start (see $RUN/$3.log)"; }
}

up() {
  BIN="$(bindir)"
  if [[ ! -x "$BIN/initdb" ]] && is_root && command -v apt-get >/dev/null; then
    say "installing postgresql (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get -y -q install postgresql >"/tmp/deltran-ha-apt.log" 2>&1 \
      || die "apt-get install postgresql failed (see /tmp/deltran-ha-apt.log)"
    BIN="$(bindir)"
  fi
  [[ -x "$BIN/initdb" ]] || die "PostgreSQL's server binaries are not installed (apt-get install postgresql)"
  mkdir -p "$HA" "$RUN"
  if is_root; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' user to run the servers as"
    chown postgres: "$HA" "$RUN"
    as_pg test -w "$HA" || die "user postgres cannot reach $HA: set DELTRAN_DATA to a folder it can reach"
  fi
  if [[ ! -f "$HA/primary/PG_VERSION" ]]; then
    say "initdb the primary ($HA/primary)"
    as_pg "$BIN/initdb" -D "$HA/primary" -U postgres --auth=trust -E UTF8 --no-locale >"$RUN/initdb.log" 2>&1 \
      || { tail -n 20 "$RUN/initdb.log" >&2; die "initdb failed"; }
  fi
  psql "$(url "$PRIMARY_PORT")" -XAtqc 'SELECT 1' >/dev/null 2>&1 || start "$HA/primary" "$PRIMARY_PORT" primary
  if [[ ! -f "$HA/replica/PG_VERSION" ]]; then
    say "pg_basebackup the replica ($HA/replica)"
    as_pg "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$HA/replica" \
      -R -X stream -c fast --no-sync >"$RUN/basebackup.log" 2>&1 \
      || { tail -n 20 "$RUN/basebackup.log" >&2; die "pg_basebackup failed"; }
  fi
  psql "$(url "$REPLICA_PORT")" -XAtqc 'SELECT 1' >/dev/null 2>&1 || start "$HA/replica" "$REPLICA_PORT" replica
  for _ in $(seq 1 100); do
    streaming="$(psql "$(url "$PRIMARY_PORT")" -XAtqc "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")"
    [[ "$streaming" == 1 ]] && break
    sleep 0.1
  done
  [[ "$streaming" == 1 ]] || die "the replica does not stream from the primary"
  say "primary on 127.0.0.1:$PRIMARY_PORT, streaming replica on 127.0.0.1:$REPLICA_PORT"
  printf 'export HA_PRIMARY_URL=%s\nexport HA_REPLICA_URL=%s\n' "$(url "$PRIMARY_PORT")" "$(url "$REPLICA_PORT")"
}

down() {
  BIN="$(bindir)"
  for node in replica primary; do
    if [[ -f "$HA/$node/postmaster.pid" ]]; then
      as_pg "$BIN/pg_ctl" -D "$HA/$node" -m fast -w -t 60 stop >/dev/null 2>&1 || say "the $node did not stop cleanly"
    fi
  done
  rm -rf "$HA"
  say "stopped and removed $HA"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  replica-stop)
    BIN="$(bindir)"
    as_pg "$BIN/pg_ctl" -D "$HA/replica" -m immediate -w -t 60 stop >/dev/null || die "the replica did not stop"
    say "replica stopped" ;;
  replica-start)
    BIN="$(bindir)"
    start "$HA/replica" "$REPLICA_PORT" replica
    say "replica started" ;;
  *) die "usage: scripts/ha.sh up|down|replica-stop|replica-start" ;;
esac
