#!/usr/bin/env bash
# The query data of sqlx's compile-time checked macros (`query!`, `query_as!`), kept in .sqlx/
# so that every build checks its SQL without a database (.cargo/config.toml sets
# SQLX_OFFLINE=true).
#
#   scripts/sqlx-prepare.sh          rewrite .sqlx/ from a scratch database with every migration
#   scripts/sqlx-prepare.sh --check  fail when .sqlx/ is not what the code and migrations give
#
# Needs DATABASE_URL's server (scripts/services.sh writes data/services.env); creates and drops
# a database of its own there (deltran_sqlx_<pid>, so that two runs never share one). The migrations are applied with psql, in order, so
# that no binary (whose queries are what is being prepared) is needed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
check=0
[[ "${1:-}" == "--check" ]] && check=1

db="deltran_sqlx_$$"
url="$(scripts/services.sh recreate-db "$db")"
trap 'psql "${url%/*}/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
for migration in migrations/*.sql; do
  psql "$url" -q -v ON_ERROR_STOP=1 --single-transaction -f "$migration" >/dev/null
done

out="$(mktemp -d /tmp/deltran-sqlx.XXXXXX)"
# Every macro is expanded again, online, writing its data to $out.
touch app/src/lib.rs server/src/lib.rs
SQLX_OFFLINE=false DATABASE_URL="$url" SQLX_OFFLINE_DIR="$out" \
  cargo check -q -p server --all-targets

if [[ $check == 1 ]]; then
  if ! diff -r -q "$out" .sqlx >/dev/null 2>&1; then
    diff -r -q "$out" .sqlx || true
    echo "sqlx-prepare: .sqlx/ is stale; run scripts/sqlx-prepare.sh (make sqlx-prepare) and commit it" >&2
    rm -rf "$out"
    exit 1
  fi
  rm -rf "$out"
  echo "sqlx-prepare: .sqlx/ is current"
else
  rm -rf .sqlx
  mv "$out" .sqlx
  echo "sqlx-prepare: wrote $(ls .sqlx | wc -l) queries to .sqlx/"
fi
