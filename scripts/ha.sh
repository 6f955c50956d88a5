#!/usr/bin/env bash
# A local high-availability harness without containers, from the machine's PostgreSQL and
# Redis binaries, on ports of its own, with its files under data/ha (the machine's own servers
# are never touched):
#   - a PostgreSQL primary and a streaming replica of it (pg_basebackup -R);
#   - PgBouncer (>= 1.21, transaction pooling, max_prepared_statements) in front of the primary,
#     built once from Debian trixie's source package into $DELTRAN_TOOLS/pgbouncer (Debian 12
#     ships 1.18, with which sqlx's prepared statements are not safe in transaction mode);
#   - a Redis master, one replica and three Sentinels (`redis-server FILE --sentinel`, fresh
#     config files each run: Sentinels rewrite their own).
#
#   scripts/ha.sh up     start everything (initialising it the first time); prints export lines
#                        for every URL (HA_PRIMARY_URL, HA_REPLICA_URL, HA_PGBOUNCER_URL,
#                        HA_REDIS_MASTER_URL, HA_REDIS_SENTINELS, HA_REDIS_MASTER_NAME)
#   scripts/ha.sh down   stop everything by PID and remove data/ha
#   scripts/ha.sh replica-stop | replica-start
#                        stop the PostgreSQL replica at once (as a crash would) / start it again
#   scripts/ha.sh redis-master-kill
#                        kill -9 the Redis the Sentinels name as master (they then promote the
#                        replica); prints the killed address
#   scripts/ha.sh redis-master   print the address the Sentinels name as master
#   scripts/ha.sh pgbouncer      build PgBouncer into $DELTRAN_TOOLS if it is not there yet
#
# Environment (optional): DELTRAN_DATA (default <repo>/data), DELTRAN_TOOLS
# (~/.cache/deltran-tools), PGBOUNCER (a pgbouncer >= 1.21 to use instead of building one), and
# the ports: DELTRAN_HA_PRIMARY_PORT (55442), DELTRAN_HA_REPLICA_PORT (55443),
# DELTRAN_HA_PGBOUNCER_PORT (55444), DELTRAN_HA_REDIS_PORT (55450: master; +1 the replica,
# +2..+4 the Sentinels).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${DELTRAN_DATA:-$ROOT/data}"
TOOLS="${DELTRAN_TOOLS:-$HOME/.cache/deltran-tools}"
HA="$DATA/ha"
PRIMARY_PORT="${DELTRAN_HA_PRIMARY_PORT:-55442}"
REPLICA_PORT="${DELTRAN_HA_REPLICA_PORT:-55443}"
PGBOUNCER_PORT="${DELTRAN_HA_PGBOUNCER_PORT:-55444}"
REDIS_PORT="${DELTRAN_HA_REDIS_PORT:-55450}"
REDIS_REPLICA_PORT=$((REDIS_PORT + 1))
SENTINEL_PORTS=($((REDIS_PORT + 2)) $((REDIS_PORT + 3)) $((REDIS_PORT + 4)))
MASTER_NAME=deltran
# Sentinels want IPs, not names (they announce and compare addresses).
IP=127.0.0.1
RUN="$HA/run"
# The PgBouncer this harness builds, and the oldest one it accepts (max_prepared_statements).
PGBOUNCER_DIR="$TOOLS/pgbouncer"
PGBOUNCER_MIN=1.21

say() { printf 'ha: %s\n' "$1" >&2; }
die() { printf 'ha: FAILED: %s\n' "$1" >&2; exit 1; }
is_root() { [[ "$(id -u)" == 0 ]]; }
# The PostgreSQL tools and PgBouncer refuse root: run them as `postgres` when we are root.
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }

bindir() {
  # shellcheck disable=SC2012
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

url() { printf 'postgres://postgres@%s:%s/postgres' "$IP" "$1"; }

start() { # start DIR PORT NAME
  as_pg "$BIN/pg_ctl" -D "$1" -l "$RUN/$3.log" -w -t 60 \
    -o "-p $2 -c listen_addresses=$IP -c unix_socket_directories='$RUN'" start >/dev/null \
    || { tail -n 20 "$RUN/$3.log" >&2 || true; die "the $3 did not start (see $RUN/$3.log)"; }
}

# --- PgBouncer -------------------------------------------------------------------------------

# Whether $1 is a pgbouncer of version >= PGBOUNCER_MIN.
pgbouncer_ok() {
  local v
  v="$("$1" --version 2>/dev/null | sed -n 's/^PgBouncer \([0-9.]*\).*/\1/p' | head -n 1)"
  [[ -n "$v" ]] && [[ "$(printf '%s\n%s\n' "$PGBOUNCER_MIN" "$v" | sort -V | head -n 1)" == "$PGBOUNCER_MIN" ]]
}

# Prints the path of a usable pgbouncer, building one into $DELTRAN_TOOLS the first time:
# the source package of Debian trixie (apt-get source, from a sources list of its own; the
# machine's apt configuration is not changed), Debian's patches applied, linked with libevent.
ensure_pgbouncer() {
  if [[ -n "${PGBOUNCER:-}" ]]; then
    pgbouncer_ok "$PGBOUNCER" || die "PGBOUNCER=$PGBOUNCER is not a pgbouncer >= $PGBOUNCER_MIN"
    echo "$PGBOUNCER"; return
  fi
  local bin="$PGBOUNCER_DIR/bin/pgbouncer"
  if pgbouncer_ok "$bin"; then echo "$bin"; return; fi
  mkdir -p "$TOOLS"
  exec 9>"$TOOLS/.pgbouncer-build.lock"
  flock 9
  if pgbouncer_ok "$bin"; then echo "$bin"; return; fi
  local work="$TOOLS/pgbouncer-build" log="$TOOLS/pgbouncer-build.log"
  rm -rf "$work"; mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
  : >"$log"
  say "building PgBouncer into $PGBOUNCER_DIR (Debian trixie's source package; log $log)"
  local missing=()
  command -v cc >/dev/null || missing+=(gcc)
  command -v make >/dev/null || missing+=(make)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  pkg-config --exists libevent 2>/dev/null || missing+=(libevent-dev)
  pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev)
  command -v patch >/dev/null || missing+=(patch)
  if [[ ${#missing[@]} -gt 0 ]]; then
    is_root && command -v apt-get >/dev/null \
      || die "PgBouncer's build needs ${missing[*]}: apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=600 install "${missing[@]}" >>"$log" 2>&1 \
      || die "apt-get install ${missing[*]} failed (see $log)"
  fi
  echo "deb-src http://deb.debian.org/debian trixie main" >"$work/apt/sources.list"
  local apt=(apt-get -q -o Dir::Etc::SourceList="$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
             -o Dir::State::Lists="$work/apt/lists" -o Dir::Cache="$work/apt/cache")
  "${apt[@]}" update >>"$log" 2>&1 || die "apt-get update of trixie's sources failed (see $log)"
  (cd "$work" && "${apt[@]}" source --download-only pgbouncer >>"$log" 2>&1) \
    || die "apt-get source pgbouncer (trixie) failed (see $log)"
  local orig debian
  orig="$(ls "$work"/pgbouncer_*.orig.tar.gz 2>/dev/null | head -n 1)"
  debian="$(ls "$work"/pgbouncer_*.debian.tar.* 2>/dev/null | head -n 1)"
  [[ -f "$orig" && -f "$debian" ]] || die "the pgbouncer source package was not downloaded (see $log)"
  mkdir -p "$work/src"
  tar -xzf "$orig" -C "$work/src" --strip-components=1 && tar -xf "$debian" -C "$work/src" \
    || die "unpacking $orig failed"
  # Debian's patches (security fixes) in their order; the packaging ones are not needed.
  if [[ -f "$work/src/debian/patches/series" ]]; then
    while read -r patchfile; do
      [[ -z "$patchfile" || "$patchfile" == \#* || "$patchfile" == debian-config ]] && continue
      patch -d "$work/src" -p1 -s <"$work/src/debian/patches/$patchfile" >>"$log" 2>&1 \
        || die "Debian's patch $patchfile does not apply (see $log)"
    done <"$work/src/debian/patches/series"
  fi
  (cd "$work/src" && ./configure --prefix="$PGBOUNCER_DIR" --without-cares --without-systemd --without-pam \
     && make -j"$(nproc)" && make install) >>"$log" 2>&1 || die "building PgBouncer failed (see $log)"
  pgbouncer_ok "$bin" || die "the PgBouncer built is not >= $PGBOUNCER_MIN (see $log)"
  rm -rf "$work"
  say "built $("$bin" --version | head -n 1)"
  echo "$bin"
}

# PgBouncer in transaction mode before the primary, as the console needs it: sqlx's named
# prepared statements (max_prepared_statements), its extra_float_digits startup parameter
# (ignored), and plan_cache_mode, which sqlx's pool sets as a startup option and PgBouncer
# cannot pass on: dropped here, set for the role on the primary instead (see up).
start_pgbouncer() {
  local src bin="$RUN/pgbouncer"
  src="$(ensure_pgbouncer)"
  # A copy the postgres user can run ($DELTRAN_TOOLS may be under root's home).
  cp "$src" "$bin"; chmod 755 "$bin"
  printf '"postgres" ""\n' >"$RUN/pgbouncer-users.txt"
  cat >"$RUN/pgbouncer.ini" <<EOF
[databases]
* = host=$IP port=$PRIMARY_PORT

[pgbouncer]
listen_addr = $IP
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
pool_mode = transaction
auth_type = trust
auth_file = $RUN/pgbouncer-users.txt
max_client_conn = 500
default_pool_size = 20
max_prepared_statements = 200
ignore_startup_parameters = extra_float_digits, plan_cache_mode
server_reset_query =
pidfile = $RUN/pgbouncer.pid
logfile = $RUN/pgbouncer.log
EOF
  is_root && chown postgres: "$RUN"/pgbouncer*
  as_pg "$bin" -d "$RUN/pgbouncer.ini" >"$RUN/pgbouncer-start.log" 2>&1 \
    || { tail -n 20 "$RUN/pgbouncer-start.log" >&2; die "PgBouncer did not start (see $RUN/pgbouncer-start.log)"; }
  for _ in $(seq 1 50); do
    psql "$(url "$PGBOUNCER_PORT")" -XAtqc 'SELECT 1' >/dev/null 2>&1 && return
    sleep 0.1
  done
  tail -n 20 "$RUN/pgbouncer.log" "$RUN/pgbouncer-start.log" >&2 || true
  die "PgBouncer does not answer on $IP:$PGBOUNCER_PORT"
}

# --- Redis and Sentinel ------------------------------------------------------------------------

rcli() { redis-cli -h "$IP" -p "$1" "${@:2}"; }

start_redis() { # start_redis PORT [MASTER_PORT]
  local port="$1" dir="$RUN/redis-$1"
  mkdir -p "$dir"
  local args=(--port "$port" --bind "$IP" --daemonize yes --dir "$dir" --pidfile "$RUN/redis-$port.pid"
              --logfile "$RUN/redis-$port.log" --save "" --appendonly no)
  [[ -n "${2:-}" ]] && args+=(--replicaof "$IP" "$2")
  redis-server "${args[@]}" || die "redis-server on $IP:$port did not start (see $RUN/redis-$port.log)"
}

start_sentinel() { # start_sentinel PORT
  local port="$1" conf="$RUN/sentinel-$1.conf"
  cat >"$conf" <<EOF
port $port
bind $IP
daemonize yes
pidfile $RUN/sentinel-$port.pid
logfile $RUN/sentinel-$port.log
dir $RUN
sentinel monitor $MASTER_NAME $IP $REDIS_PORT 2
sentinel down-after-milliseconds $MASTER_NAME 1000
sentinel failover-timeout $MASTER_NAME 10000
sentinel parallel-syncs $MASTER_NAME 1
EOF
  redis-server "$conf" --sentinel || die "the Sentinel on $IP:$port did not start (see $RUN/sentinel-$port.log)"
}

# The address (ip:port) the Sentinels name as master, asking each in turn.
sentinel_master() {
  local p addr
  for p in "${SENTINEL_PORTS[@]}"; do
    addr="$(rcli "$p" SENTINEL get-master-addr-by-name "$MASTER_NAME" 2>/dev/null | paste -sd: -)"
    [[ "$addr" == *:* ]] && { echo "$addr"; return; }
  done
  return 1
}

up_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null \
    || die "redis-server and redis-cli are not installed (apt-get install redis-server)"
  rcli "$REDIS_PORT" PING >/dev/null 2>&1 || start_redis "$REDIS_PORT"
  rcli "$REDIS_REPLICA_PORT" PING >/dev/null 2>&1 || start_redis "$REDIS_REPLICA_PORT" "$REDIS_PORT"
  local p ok=""
  for p in "${SENTINEL_PORTS[@]}"; do
    rcli "$p" PING >/dev/null 2>&1 || start_sentinel "$p"
  done
  for _ in $(seq 1 100); do
    rcli "$REDIS_REPLICA_PORT" INFO replication 2>/dev/null | grep -q '^master_link_status:up' && { ok=1; break; }
    sleep 0.1
  done
  [[ -n "$ok" ]] || die "the Redis replica does not replicate from the master (see $RUN/redis-$REDIS_REPLICA_PORT.log)"
  # A failover needs the quorum and every Sentinel to know the replica: wait for both.
  ok=""
  for _ in $(seq 1 150); do
    ok=1
    for p in "${SENTINEL_PORTS[@]}"; do
      rcli "$p" SENTINEL CKQUORUM "$MASTER_NAME" 2>/dev/null | grep -q '^OK 3 usable' || ok=""
      [[ "$(rcli "$p" SENTINEL replicas "$MASTER_NAME" 2>/dev/null | grep -c '^name$')" -ge 1 ]] || ok=""
    done
    [[ -n "$ok" ]] && break
    sleep 0.1
  done
  [[ -n "$ok" ]] || die "the Sentinels did not reach their quorum (see $RUN/sentinel-*.log)"
}

# --- up / down ---------------------------------------------------------------------------------

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
  # What the console's pool asks for at connection start, for connections through PgBouncer
  # too (which cannot pass it on): see docs/decisions.md, "PgBouncer".
  psql "$(url "$PRIMARY_PORT")" -XAtqc 'ALTER ROLE postgres SET plan_cache_mode = force_custom_plan' >/dev/null \
    || die "cannot set plan_cache_mode on the primary"
  if [[ ! -f "$HA/replica/PG_VERSION" ]]; then
    say "pg_basebackup the replica ($HA/replica)"
    as_pg "$BIN/pg_basebackup" -h "$IP" -p "$PRIMARY_PORT" -U postgres -D "$HA/replica" \
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
  psql "$(url "$PGBOUNCER_PORT")" -XAtqc 'SELECT 1' >/dev/null 2>&1 || start_pgbouncer
  up_redis
  say "primary $IP:$PRIMARY_PORT, streaming replica $IP:$REPLICA_PORT, PgBouncer $IP:$PGBOUNCER_PORT (transaction mode)"
  say "Redis master $IP:$REDIS_PORT, replica $IP:$REDIS_REPLICA_PORT, Sentinels on ${SENTINEL_PORTS[*]} (master name $MASTER_NAME)"
  local sentinels; sentinels="$(printf "$IP:%s," "${SENTINEL_PORTS[@]}")"
  printf 'export HA_PRIMARY_URL=%s\nexport HA_REPLICA_URL=%s\nexport HA_PGBOUNCER_URL=%s\n' \
    "$(url "$PRIMARY_PORT")" "$(url "$REPLICA_PORT")" "$(url "$PGBOUNCER_PORT")"
  printf 'export HA_REDIS_MASTER_URL=redis://%s:%s\nexport HA_REDIS_SENTINELS=%s\nexport HA_REDIS_MASTER_NAME=%s\n' \
    "$IP" "$REDIS_PORT" "${sentinels%,}" "$MASTER_NAME"
}

# Whether process $1 runs (a zombie does not: nobody may reap it here soon).
alive() { [[ -r "/proc/$1/stat" ]] && [[ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]]; }

# Sends `kill -9` (or TERM) to the process of a pid file, and waits for it to go.
kill_pidfile() { # kill_pidfile FILE SIGNAL
  [[ -f "$1" ]] || return 0
  local pid; pid="$(cat "$1")"
  if [[ -n "$pid" ]] && alive "$pid"; then
    kill "-$2" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.05; done
  fi
  rm -f "$1"
}

down() {
  BIN="$(bindir)"
  local p
  for p in "${SENTINEL_PORTS[@]}" "$REDIS_REPLICA_PORT" "$REDIS_PORT"; do
    kill_pidfile "$RUN/sentinel-$p.pid" TERM
    kill_pidfile "$RUN/redis-$p.pid" TERM
  done
  kill_pidfile "$RUN/pgbouncer.pid" TERM
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
  redis-master) sentinel_master || die "no Sentinel names a master" ;;
  redis-master-kill)
    addr="$(sentinel_master)" || die "no Sentinel names a master"
    port="${addr##*:}"
    [[ -f "$RUN/redis-$port.pid" ]] || die "the master $addr is not one of this harness's servers"
    kill_pidfile "$RUN/redis-$port.pid" 9
    say "Redis master $addr killed (-9)"
    echo "$addr" ;;
  pgbouncer) ensure_pgbouncer ;;
  *) die "usage: scripts/ha.sh up|down|replica-stop|replica-start|redis-master|redis-master-kill|pgbouncer" ;;
esac
