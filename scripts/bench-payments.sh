#!/usr/bin/env bash
# `make bench` (payments part), on a release build, after `seed --demo --payments N`
# (BENCH_PAYMENTS, default 1 000 000) in a database of its own, served on 127.0.0.1:3200:
#   api:     GET /api/v1/payments p50 against the raw SQL of the same page (no filter, status,
#            bank + date range, q by reference), the rendered /payments page beside them;
#   paging:  page 10 000 of a filter against its page 1;
#   payment: GET /api/v1/payments/{id} (with its timeline) against its queries run raw;
#   load:    50 concurrent signed-in clients browsing the list, a payment and a bank for
#            BENCH_SECONDS (60) with wrk: errors, p50, p99, and the server's peak RSS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N="${BENCH_PAYMENTS:-1000000}"
SECONDS_OF_LOAD="${BENCH_SECONDS:-60}"
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="${DELTRAN_BIN:-$TARGET/release/deltran-console}"
BENCH_BIN="${DELTRAN_BENCH_BIN:-$TARGET/release/deltran-bench}"
ADDR=127.0.0.1:3200
BASE="http://$ADDR"
if [[ ! -x "$BIN" || ! -x "$BENCH_BIN" ]]; then
  echo "bench-payments: building the release binaries"
  cargo build -q --release -p server --bins
fi
if ! command -v wrk >/dev/null; then
  [[ "$(id -u)" == 0 ]] || { echo "bench-payments: needs wrk (apt-get install wrk)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null
fi
# shellcheck disable=SC1091
[[ -n "${DATABASE_URL:-}" || ! -f data/services.env ]] || . data/services.env

# BENCH_KEEP=1 keeps the seeded database for the next run (and reuses one left by the last).
url="$(echo "$DATABASE_URL" | sed 's#/[^/?]*\(?.*\)\{0,1\}$#/deltran_bench_payments#')"
if [[ "${BENCH_KEEP:-}" == 1 ]] \
   && [[ "$(psql -qtAX "$url" -c "SELECT count(*) >= $N FROM deltran.payments" 2>/dev/null)" == t ]]; then
  reuse=1
else
  reuse=0
  url="$(scripts/services.sh recreate-db deltran_bench_payments)"
fi
data="data/bench"
rm -rf "$data" && mkdir -p "$data"
export DATABASE_URL="$url" DATA_DIR="$data" LEDGER_PATH="$data/ledger" DEMO_MODE=true \
  DEMO_PASSWORD="${DEMO_PASSWORD:-demo-password-2026}" BIND="$ADDR" \
  REDIS_PREFIX="deltran-bench-$$:" LOGIN_MAX_FAILURES_PER_IP=1000000 RUST_LOG=warn
if [[ $reuse == 0 ]]; then
  "$BIN" migrate up >/dev/null
  echo "bench-payments: seeding $N payments"
  "$BIN" seed --demo --payments "$N" >/dev/null
  psql -q -X "$url" -c "VACUUM ANALYZE" >/dev/null
fi
"$BIN" serve >"$data/serve.log" 2>&1 &
server=$!
work="$(mktemp -d)"
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
  [[ "${BENCH_KEEP:-}" == 1 ]] || psql -q -X "$(echo "$url" | sed 's#/[^/?]*\(?.*\)\{0,1\}$#/postgres#')" \
    -c "DROP DATABASE IF EXISTS deltran_bench_payments WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done

"$BENCH_BIN" payments --url "$BASE" --samples "${BENCH_SAMPLES:-50}"

# The load: a signed-in browser session (its cookie), three pages in turn.
curl -sf -c "$work/cookies" -o /dev/null -H "Origin: $BASE" \
  -d "username=viewer&password=$DEMO_PASSWORD" "$BASE/api/auth/login"
cookie="$(awk '{ sub(/^#HttpOnly_/, "") } !/^#/ && NF >= 7 { printf "%s=%s; ", $6, $7 }' "$work/cookies")"
[[ -n "$cookie" ]] || { echo "bench-payments: the sign-in set no cookie" >&2; exit 1; }
payment="$(psql -qtAX "$url" -c "SELECT id FROM deltran.payments WHERE status = 'settled' ORDER BY created_at DESC OFFSET 100 LIMIT 1")"
bank="$(psql -qtAX "$url" -c "SELECT id FROM deltran.banks ORDER BY bic_code LIMIT 1")"
cat >"$work/browse.lua" <<LUA
local paths = { "/payments?status=settled", "/payments/$payment", "/banks/$bank" }
local i = 0
wrk.headers["Cookie"] = "$cookie"
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
LUA
echo "load: 50 clients, $SECONDS_OF_LOAD s, /payments?status=settled, /payments/{id}, /banks/{id} in turn"
# Every page must be the page itself: a redirect (to /login) would count as a success.
curl -sf -o /dev/null -w '%{http_code} %{size_download} bytes\n' -H "Cookie: $cookie" "$BASE/payments?status=settled" \
  | grep -q '^200 ' || { echo "bench-payments: /payments is not served to the signed-in browser" >&2; exit 1; }
wrk -t2 -c50 -d"${SECONDS_OF_LOAD}s" --latency -s "$work/browse.lua" "$BASE" | tee "$work/wrk.txt"
p50="$(awk '$1 == "50%" { print $2 }' "$work/wrk.txt")"
p99="$(awk '$1 == "99%" { print $2 }' "$work/wrk.txt")"
ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }
errors="$(awk '/Non-2xx/ { print $NF } /Socket errors/ { print }' "$work/wrk.txt")"
printf '  p50 %s ms, p99 %s ms, ratio p99 / p50 %.2f (must be <= 5)\n' "$(ms "$p50")" "$(ms "$p99")" \
  "$(echo "$(ms "$p99") / $(ms "$p50")" | bc -l)"
echo "  errors: ${errors:-none}"
echo "  server peak RSS: $(awk '/VmHWM/ { printf "%.0f MB", $2 / 1024 }' "/proc/$server/status")"
