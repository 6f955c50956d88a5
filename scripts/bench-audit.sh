#!/usr/bin/env bash
# `make bench` (audit part): BENCH_AUDIT_ROWS (default 5 000 000) synthetic audit rows forming
# a valid chain, generated in Rust (`deltran-bench generate`, COPY) in a scratch database,
# then in one run (`deltran-bench audit`):
#   verify:  `audit verify`'s throughput vs reading the same rows the same way + SHA-256 over
#            the same bytes (ratio must be >= 0.5);
#   list:    the audit list query's p50 vs the raw SQL of the same query (<= 1.5);
#   paging:  page 10 000 of a filter vs page 1 (keyset: about 1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N="${BENCH_AUDIT_ROWS:-5000000}"
# The target directory may be shared with other checkouts: DELTRAN_BIN picks a binary.
BIN="${DELTRAN_BIN:-${CARGO_TARGET_DIR:-target}/debug/deltran-console}"
[[ -x "$BIN" ]] || { echo "bench-audit: build first (make build)" >&2; exit 1; }
# The benchmark commands are a binary of their own (DELTRAN_BENCH_BIN, else built here with
# the profile of $BIN), so the console's binary carries none of them.
PROFILE="$(basename "$(dirname "$BIN")")"
if [[ -z "${DELTRAN_BENCH_BIN:-}" ]]; then
  cargo build -q -p server --bin deltran-bench $([[ "$PROFILE" == release ]] && echo --release)
fi
BENCH_BIN="${DELTRAN_BENCH_BIN:-${CARGO_TARGET_DIR:-target}/$PROFILE/deltran-bench}"
# shellcheck disable=SC1091
[[ -n "${DATABASE_URL:-}" || ! -f data/services.env ]] || . data/services.env

url="$(scripts/services.sh recreate-db deltran_bench_audit)"
trap 'psql -q -X "$(echo "$url" | sed "s#/[^/?]*\(?.*\)\{0,1\}\$#/postgres#")" -c "DROP DATABASE IF EXISTS deltran_bench_audit WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
DATABASE_URL="$url" "$BIN" migrate up >/dev/null

echo "bench-audit: $N rows ($(basename "$(dirname "$BIN")") build)"
DATABASE_URL="$url" "$BENCH_BIN" generate --rows "$N" --days 180
DATABASE_URL="$url" "$BENCH_BIN" audit --samples "${BENCH_SAMPLES:-50}"
