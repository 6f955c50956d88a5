#!/usr/bin/env bash
# `make bench`: speed measured as ratios against a baseline run in the same script.
#
# seed: `deltran-console seed --demo --payments N` into an empty database, against the
# baseline of loading exactly the rows it wrote with a raw COPY (psql \copy, one transaction,
# the same constraints and indexes) into another empty database.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N="${BENCH_PAYMENTS:-1000000}"
BIN="${CARGO_TARGET_DIR:-target}/debug/deltran-console"
[[ -x "$BIN" ]] || { echo "bench: build first (make build)" >&2; exit 1; }
# shellcheck disable=SC1091
. data/services.env
export DEMO_PASSWORD="${DEMO_PASSWORD:-demo-password-2026}"

seed_url="$(scripts/services.sh recreate-db deltran_bench_seed)"
copy_url="$(scripts/services.sh recreate-db deltran_bench_copy)"
DATABASE_URL="$seed_url" "$BIN" migrate up >/dev/null
DATABASE_URL="$copy_url" "$BIN" migrate up >/dev/null

now() { date +%s.%N; }
tables=(banks bank_accounts users settlement_batches rate_limits control_requests payments
        compliance_checks transaction_log audit_log)

echo "bench: seeding $N payments"
t0=$(now)
DATABASE_URL="$seed_url" "$BIN" seed --demo --payments "$N" >/dev/null
t1=$(now)
seed_s=$(echo "$t1 - $t0" | bc)

dump="$(mktemp -d)"
trap 'rm -rf "$dump"' EXIT
rows=0
for t in "${tables[@]}"; do
  psql -q -X -v ON_ERROR_STOP=1 "$seed_url" -c "\\copy (SELECT * FROM deltran.$t) TO '$dump/$t.copy'"
  rows=$((rows + $(wc -l < "$dump/$t.copy")))
done
first_month=$(psql -qtAX "$seed_url" -c "SELECT date_trunc('month', min(\"timestamp\"))::date FROM deltran.audit_log")

{
  echo "BEGIN;"
  echo "SET CONSTRAINTS ALL DEFERRED;"
  echo "SELECT deltran.ensure_audit_partitions('$first_month', 8);"
  for t in "${tables[@]}"; do echo "\\copy deltran.$t FROM '$dump/$t.copy'"; done
  echo "COMMIT;"
} > "$dump/load.sql"
t0=$(now)
psql -q -X -v ON_ERROR_STOP=1 "$copy_url" -f "$dump/load.sql" >/dev/null
t1=$(now)
copy_s=$(echo "$t1 - $t0" | bc)

printf 'seed:  %s payments, %s rows in all\n' "$N" "$rows"
printf '  deltran-console seed   %8.1f s\n' "$seed_s"
printf '  raw COPY (baseline)    %8.1f s\n' "$copy_s"
printf '  ratio seed / COPY      %8.2f\n' "$(echo "$seed_s / $copy_s" | bc -l)"

for db in deltran_bench_seed deltran_bench_copy; do
  psql -q -X "$(echo "$seed_url" | sed 's#/[^/?]*\(?.*\)\{0,1\}$#/postgres#')" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
done
