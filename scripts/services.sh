#!/usr/bin/env bash
# Finds or starts the PostgreSQL and Redis that DelTran Console needs, and writes
# data/services.env (export lines for DATABASE_URL and REDIS_URL) for the Makefile to source.
#
#   scripts/services.sh [up]            find or start both, write data/services.env (default)
#   scripts/services.sh stop            stop the private servers started under data/ (if any)
#   scripts/services.sh status          say what answers where
#   scripts/services.sh recreate-db N   drop and create database N on DATABASE_URL's server
#                                       (or data/services.env's); prints N's URL on stdout
#
# For each service, in this order:
#   1. DATABASE_URL / REDIS_URL from the environment, else from ./.env: used as they are, and
#      they must answer (a missing database on a server that answers is created);
#   2. the machine's own servers: postgres://postgres@127.0.0.1:5432/deltran (database `deltran`
#      created if missing) and redis://127.0.0.1:6379;
#   3. private servers under data/: PostgreSQL in data/pg on 127.0.0.1:55432 (trust auth,
#      run as the `postgres` user when we are root), Redis on 127.0.0.1:56379 with its files in
#      data/redis; Debian's postgresql / redis-server are installed first if missing and we are
#      root. A private server that is already running is reused.
#
# Environment (all optional):
#   DELTRAN_DATA                  the data folder (default: <repo>/data)
#   DELTRAN_DB_NAME               database name on the machine's or the private server (deltran)
#   DELTRAN_PG_HOST / DELTRAN_REDIS_HOST            host of the machine's servers (127.0.0.1)
#   DELTRAN_PG_DEFAULT_PORT / DELTRAN_REDIS_DEFAULT_PORT   their ports (5432 / 6379)
#   DELTRAN_PG_PRIVATE_PORT / DELTRAN_REDIS_PRIVATE_PORT   ports of the private ones (55432 / 56379)
#   DELTRAN_PRIVATE_ONLY=1        skip steps 1 and 2 (always use the private servers)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${DELTRAN_DATA:-$ROOT/data}"
DB_NAME="${DELTRAN_DB_NAME:-deltran}"
PG_HOST="${DELTRAN_PG_HOST:-127.0.0.1}"
REDIS_HOST="${DELTRAN_REDIS_HOST:-127.0.0.1}"
PG_DEFAULT_PORT="${DELTRAN_PG_DEFAULT_PORT:-5432}"
REDIS_DEFAULT_PORT="${DELTRAN_REDIS_DEFAULT_PORT:-6379}"
PG_PRIVATE_PORT="${DELTRAN_PG_PRIVATE_PORT:-55432}"
REDIS_PRIVATE_PORT="${DELTRAN_REDIS_PRIVATE_PORT:-56379}"
PRIVATE_ONLY="${DELTRAN_PRIVATE_ONLY:-0}"

PGDIR="$DATA/pg"            # private cluster
PGRUN="$DATA/pg-run"        # its socket and log (owned by the user that runs postgres)
REDISDIR="$DATA/redis"      # private Redis: pid file, log
ENV_FILE="$DATA/services.env"

export PGCONNECT_TIMEOUT=5

say() { printf 'services: %-9s %s\n' "$1" "$2" >&2; }
die() { printf 'services: %-9s FAILED: %s\n' "$1" "$2" >&2; exit 1; }
is_root() { [[ "$(id -u)" == 0 ]]; }

apt_install() {
  local step="$1"; shift
  is_root || die "$step" "not root; run: sudo apt-get update && sudo apt-get install -y $*"
  command -v apt-get >/dev/null || die "$step" "apt-get not found; install $* with your OS's package manager"
  local log; log="$(mktemp /tmp/deltran-apt.XXXXXX.log)"
  say "$step" "installing $* (apt; log $log)"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=600)
  if ! "${apt[@]}" install "$@" >"$log" 2>&1; then
    "${apt[@]}" update >>"$log" 2>&1 || die "$step" "apt-get update failed (see $log)"
    "${apt[@]}" install "$@" >>"$log" 2>&1 || die "$step" "apt-get install $* failed (see $log)"
  fi
}

# A value from ./.env (KEY=value, optional `export`, optional quotes), or empty.
dotenv_value() {
  [[ -f "$ROOT/.env" ]] || return 0
  local line
  line="$(grep -E "^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=" "$ROOT/.env" | tail -n 1 || true)"
  [[ -n "$line" ]] || return 0
  line="${line#*=}"
  line="${line#"${line%%[![:space:]]*}"}"; line="${line%"${line##*[![:space:]]}"}"
  if [[ "$line" == \"*\" || "$line" == \'*\' ]]; then line="${line:1:${#line}-2}"; fi
  printf '%s' "$line"
}

# --- URL helpers (postgres://[user[:pw]@]host[:port]/db[?params]) --------------------------------
url_db() {
  local base="${1%%\?*}"; local rest="${base#*://}"
  [[ "$rest" == */* ]] && printf '%s' "${rest#*/}"
}
url_with_db() {
  local base="${1%%\?*}"; local query="${1#"$base"}"
  local scheme="${base%%://*}"; local rest="${base#*://}"
  printf '%s://%s/%s%s' "$scheme" "${rest%%/*}" "$2" "$query"
}
redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

# --- client tools ---------------------------------------------------------------------------------
ensure_pg_client() {
  command -v psql >/dev/null && command -v pg_isready >/dev/null && return
  apt_install postgres postgresql-client
}
ensure_redis_cli() {
  command -v redis-cli >/dev/null && return
  apt_install redis redis-tools
}

# --- PostgreSQL ---------------------------------------------------------------------------------
pg_server_up() { pg_isready -q -t 3 -d "$1" >/dev/null 2>&1; }
pg_db_ok() { psql "$1" -X -q -tA -c 'select 1' >/dev/null 2>&1; }

# maintenance_url URL: a URL on the same server to run CREATE/DROP DATABASE from.
maintenance_url() {
  local m
  for m in postgres template1; do
    if pg_db_ok "$(url_with_db "$1" "$m")"; then url_with_db "$1" "$m"; return; fi
  done
  return 1
}

# pg_use URL: true when URL's server answers; creates URL's database if it is missing.
pg_use() {
  local url="$1" db; db="$(url_db "$url")"
  pg_server_up "$url" || return 1
  pg_db_ok "$url" && return 0
  [[ -n "$db" ]] || { say postgres "$(redact "$url") answers but no database is named in it"; return 1; }
  local maint; maint="$(maintenance_url "$url")" \
    || { say postgres "$(redact "$url") answers, but neither it nor its postgres/template1 database lets us in"; return 1; }
  say postgres "creating database $db on $(redact "$maint")"
  psql "$maint" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" >/dev/null \
    || { say postgres "could not create database $db"; return 1; }
  pg_db_ok "$url"
}

pg_bindir() {
  local d
  # shellcheck disable=SC2012
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$d" && -x "$d/initdb" ]]; then printf '%s' "$d"; return; fi
  if command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/initdb" ]]; then pg_config --bindir; return; fi
  command -v initdb >/dev/null && dirname "$(command -v initdb)"
}

# as_pg CMD...: run CMD as the user that owns the private cluster (postgres when we are root).
as_pg() {
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_private_pg() {
  local bindir; bindir="$(pg_bindir || true)"
  if [[ -z "$bindir" ]]; then
    apt_install postgres postgresql
    bindir="$(pg_bindir || true)"
    [[ -n "$bindir" ]] || die postgres "initdb not found after installing postgresql"
  fi
  local url="postgres://postgres@127.0.0.1:$PG_PRIVATE_PORT/$DB_NAME"
  local admin="postgres://postgres@127.0.0.1:$PG_PRIVATE_PORT/postgres"

  mkdir -p "$PGDIR" "$PGRUN"
  if is_root; then
    id postgres >/dev/null 2>&1 || die postgres "no 'postgres' system user to run a private server as (initdb refuses root): apt-get install postgresql"
    chown postgres: "$PGDIR" "$PGRUN"
    chmod 700 "$PGDIR"
    as_pg test -w "$PGDIR" \
      || die postgres "user postgres cannot reach $PGDIR (a parent folder is not searchable by others): set DELTRAN_DATA to a folder it can reach"
  fi

  if [[ ! -f "$PGDIR/PG_VERSION" ]]; then
    say postgres "initdb $PGDIR (trust auth, superuser postgres)"
    as_pg "$bindir/initdb" -D "$PGDIR" -U postgres --auth=trust -E UTF8 --no-locale >"$PGRUN/initdb.log" 2>&1 \
      || { tail -n 20 "$PGRUN/initdb.log" >&2; die postgres "initdb failed (see $PGRUN/initdb.log)"; }
  fi

  if pg_server_up "$admin"; then
    say postgres "private server already running on 127.0.0.1:$PG_PRIVATE_PORT ($PGDIR)"
  else
    # Unix sockets paths are limited to 107 bytes: fall back to TCP only for a deep checkout.
    local sockdir="$PGRUN"
    (( ${#PGRUN} + 20 > 107 )) && sockdir=""
    say postgres "starting private server on 127.0.0.1:$PG_PRIVATE_PORT ($PGDIR, log $PGRUN/postgres.log)"
    as_pg "$bindir/pg_ctl" -D "$PGDIR" -l "$PGRUN/postgres.log" -w -t 60 \
      -o "-p $PG_PRIVATE_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='$sockdir'" start >/dev/null \
      || { tail -n 20 "$PGRUN/postgres.log" >&2 || true; die postgres "pg_ctl start failed (see $PGRUN/postgres.log)"; }
  fi
  pg_use "$url" || die postgres "private server on 127.0.0.1:$PG_PRIVATE_PORT does not answer"
  PG_URL="$url"; PG_FROM="private server in $PGDIR"
}

find_pg() {
  ensure_pg_client
  local env_url="${DATABASE_URL:-}" src="environment"
  if [[ -z "$env_url" && "$PRIVATE_ONLY" != 1 ]]; then env_url="$(dotenv_value DATABASE_URL)"; src=".env"; fi
  if [[ -n "$env_url" && "$PRIVATE_ONLY" != 1 ]]; then
    pg_use "$env_url" || die postgres "DATABASE_URL from the $src ($(redact "$env_url")) does not answer"
    PG_URL="$env_url"; PG_FROM="DATABASE_URL from the $src"
    return
  fi
  local def="postgres://postgres@$PG_HOST:$PG_DEFAULT_PORT/$DB_NAME"
  if [[ "$PRIVATE_ONLY" != 1 ]] && pg_use "$def"; then
    PG_URL="$def"; PG_FROM="the machine's server"
    return
  fi
  [[ "$PRIVATE_ONLY" == 1 ]] || say postgres "nothing answers at $def; using a private server"
  start_private_pg
}

# --- Redis --------------------------------------------------------------------------------------
redis_ok() { [[ "$(timeout 5 redis-cli -u "$1" ping 2>/dev/null)" == PONG ]]; }

start_private_redis() {
  if ! command -v redis-server >/dev/null; then
    apt_install redis redis-server
    command -v redis-server >/dev/null || die redis "redis-server not found after installing it"
  fi
  local url="redis://127.0.0.1:$REDIS_PRIVATE_PORT"
  mkdir -p "$REDISDIR"
  if redis_ok "$url"; then
    say redis "private server already running on 127.0.0.1:$REDIS_PRIVATE_PORT"
  else
    say redis "starting private server on 127.0.0.1:$REDIS_PRIVATE_PORT (log $REDISDIR/redis.log)"
    redis-server --port "$REDIS_PRIVATE_PORT" --bind 127.0.0.1 --daemonize yes \
      --dir "$REDISDIR" --save "" --appendonly no \
      --pidfile "$REDISDIR/redis.pid" --logfile "$REDISDIR/redis.log" >/dev/null \
      || die redis "redis-server failed to start (see $REDISDIR/redis.log)"
    for _ in $(seq 50); do redis_ok "$url" && break; sleep 0.2; done
  fi
  redis_ok "$url" || die redis "private server on 127.0.0.1:$REDIS_PRIVATE_PORT does not answer (see $REDISDIR/redis.log)"
  REDIS_URL_FOUND="$url"; REDIS_FROM="private server in $REDISDIR"
}

find_redis() {
  ensure_redis_cli
  local env_url="${REDIS_URL:-}" src="environment"
  if [[ -z "$env_url" && "$PRIVATE_ONLY" != 1 ]]; then env_url="$(dotenv_value REDIS_URL)"; src=".env"; fi
  if [[ -n "$env_url" && "$PRIVATE_ONLY" != 1 ]]; then
    redis_ok "$env_url" || die redis "REDIS_URL from the $src ($(redact "$env_url")) does not answer PING"
    REDIS_URL_FOUND="$env_url"; REDIS_FROM="REDIS_URL from the $src"
    return
  fi
  local def="redis://$REDIS_HOST:$REDIS_DEFAULT_PORT"
  if [[ "$PRIVATE_ONLY" != 1 ]] && redis_ok "$def"; then
    REDIS_URL_FOUND="$def"; REDIS_FROM="the machine's server"
    return
  fi
  [[ "$PRIVATE_ONLY" == 1 ]] || say redis "nothing answers at $def; using a private server"
  start_private_redis
}

# --- commands -----------------------------------------------------------------------------------
cmd_up() {
  find_pg
  say postgres "$(redact "$PG_URL") ($PG_FROM)"
  find_redis
  say redis "$(redact "$REDIS_URL_FOUND") ($REDIS_FROM)"
  mkdir -p "$DATA"
  local tmp="$ENV_FILE.tmp.$$"
  {
    echo "# Written by scripts/services.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); rewritten on every run."
    echo "# postgres: $PG_FROM; redis: $REDIS_FROM"
    printf 'export DATABASE_URL=%q\n' "$PG_URL"
    printf 'export REDIS_URL=%q\n' "$REDIS_URL_FOUND"
  } >"$tmp"
  mv "$tmp" "$ENV_FILE"
  say wrote "$ENV_FILE"
}

cmd_stop() {
  local stopped=0
  if [[ -f "$PGDIR/postmaster.pid" ]]; then
    local bindir; bindir="$(pg_bindir || true)"
    [[ -n "$bindir" ]] || die postgres "pg_ctl not found; cannot stop the server in $PGDIR"
    say postgres "stopping private server ($PGDIR)"
    as_pg "$bindir/pg_ctl" -D "$PGDIR" -m fast -w -t 60 stop >/dev/null 2>&1 \
      || say postgres "pg_ctl stop failed (not running?)"
    stopped=1
  fi
  if [[ -f "$REDISDIR/redis.pid" ]]; then
    local pid; pid="$(cat "$REDISDIR/redis.pid")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
      say redis "stopping private server (pid $pid)"
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$REDISDIR/redis.pid"
    stopped=1
  fi
  [[ $stopped == 1 ]] || say stop "no private servers under $DATA"
}

cmd_status() {
  ensure_pg_client; ensure_redis_cli
  local u
  for u in "postgres://postgres@$PG_HOST:$PG_DEFAULT_PORT/postgres" "postgres://postgres@127.0.0.1:$PG_PRIVATE_PORT/postgres"; do
    if pg_server_up "$u"; then say postgres "$(redact "$u") answers"; else say postgres "$(redact "$u") does not answer"; fi
  done
  for u in "redis://$REDIS_HOST:$REDIS_DEFAULT_PORT" "redis://127.0.0.1:$REDIS_PRIVATE_PORT"; do
    if redis_ok "$u"; then say redis "$u answers"; else say redis "$u does not answer"; fi
  done
  if [[ -f "$ENV_FILE" ]]; then say env "$ENV_FILE: $(grep -c '^export' "$ENV_FILE") exports"; else say env "no $ENV_FILE"; fi
}

cmd_recreate_db() {
  local name="${1:?usage: services.sh recreate-db NAME}"
  [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die postgres "not a plain database name: $name"
  ensure_pg_client
  local base="${DATABASE_URL:-}"
  if [[ -z "$base" && -f "$ENV_FILE" ]]; then
    # shellcheck disable=SC1090
    base="$(. "$ENV_FILE" && printf '%s' "$DATABASE_URL")"
  fi
  [[ -n "$base" ]] || die postgres "no DATABASE_URL (run scripts/services.sh first)"
  [[ "$(url_db "$base")" != "$name" ]] || die postgres "refusing to drop the main database $name"
  local maint; maint="$(maintenance_url "$base")" || die postgres "cannot reach a maintenance database on $(redact "$base")"
  say postgres "recreating database $name on $(redact "$maint")"
  psql "$maint" -X -q -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" \
    -c "CREATE DATABASE \"$name\"" >/dev/null 2>&1 \
    || die postgres "could not recreate database $name"
  url_with_db "$base" "$name"
  echo
}

case "${1:-up}" in
  up) cmd_up ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  recreate-db) shift; cmd_recreate_db "$@" ;;
  -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}" ;;
  *) echo "services.sh: unknown command: $1 (up, stop, status, recreate-db NAME)" >&2; exit 2 ;;
esac
