#!/usr/bin/env bash
# `make bench` (ledger part): BENCH_LEDGER_EVENTS (default 1 000 000) events in a temporary
# ledger, measured in one process against raw RocksDB with the same options
# (`deltran-bench ledger`):
#   append:  the writer (append + seal) vs raw WriteBatches of the same keys and bytes (>= 0.5),
#            and vs single puts;
#   proof:   p50 of an inclusion proof (<= 1 ms);
#   verify:  the whole chain vs raw iteration + SHA-256 of the same bytes (>= 0.5);
#   page:    a page of 50 events vs a raw iteration of the same 50 keys (<= 1.5).
# Release build unless BENCH_PROFILE=debug.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N="${BENCH_LEDGER_EVENTS:-1000000}"
PROFILE="${BENCH_PROFILE:-release}"
if [[ -z "${DELTRAN_BENCH_BIN:-}" ]]; then
  cargo build -q -p server --bin deltran-bench $([[ "$PROFILE" == release ]] && echo --release)
fi
BENCH_BIN="${DELTRAN_BENCH_BIN:-${CARGO_TARGET_DIR:-target}/$PROFILE/deltran-bench}"
echo "bench-ledger: $N events ($PROFILE build)"
TMPDIR="${TMPDIR:-/tmp}" "$BENCH_BIN" ledger --events "$N"
