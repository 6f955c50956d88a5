#!/usr/bin/env bash
# Schemathesis over the REST API's own OpenAPI document (GET /api/v1/openapi.json), signed in
# as each role: every operation is called with data generated from its declared parameters and
# bodies, and every answer is checked against the document (no 5xx, only documented statuses,
# content types and schemas, bad input refused, no route that ignores its authentication).
#
#   scripts/api-fuzz.sh        (make api-fuzz; make test runs it)
#
# Needs DATABASE_URL's server and REDIS_URL (data/services.env) and the debug binary. It seeds
# a database of its own (deltran_apifuzz), serves it on 127.0.0.1:3100 with a Redis prefix and
# data directory of its own, and stops it at the end. Schemathesis is installed from PyPI into
# $DELTRAN_TOOLS/venv the first time. The run's settings are in end2end/schemathesis.toml.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="${DELTRAN_TOOLS:-$HOME/.cache/deltran-tools}"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/deltran-console"
SCHEMATHESIS_VERSION=4.32.5
ADDR=127.0.0.1:3100
BASE="http://$ADDR"
TOTP_SECRET=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
say() { printf 'api-fuzz: %s\n' "$*"; }

if [[ ! -x "$TOOLS/venv/bin/st" ]] || [[ "$("$TOOLS/venv/bin/st" --version)" != *"$SCHEMATHESIS_VERSION"* ]]; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into $TOOLS/venv"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi
PY="$TOOLS/venv/bin/python"

[[ -x "$BIN" ]] || cargo build -q -p server --bin deltran-console
url="$(scripts/services.sh recreate-db deltran_apifuzz)"
data="$ROOT/data/apifuzz"
rm -rf "$data" && mkdir -p "$data"
export DATABASE_URL="$url" DATA_DIR="$data" LEDGER_PATH="$data/ledger" DEMO_MODE=true \
  DEMO_PASSWORD="${DEMO_PASSWORD:-demo-password-2026}" DEMO_TOTP_SECRET="$TOTP_SECRET" \
  BIND="$ADDR" REDIS_PREFIX="deltran-apifuzz-$$:" LOGIN_MAX_FAILURES_PER_IP=1000000 \
  RUST_LOG=warn
"$BIN" migrate up >/dev/null
"$BIN" seed --demo --payments 2000 >/dev/null
"$BIN" serve >"$data/serve.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379}" --scan --pattern "deltran-apifuzz-$$:*" \
    | xargs -r redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379}" del >/dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf "$BASE/healthz" >/dev/null && break
  sleep 0.2
done

# An access token for a role (the admin signs in with its one-time code).
token() {
  "$PY" - "$BASE" "$1" "$DEMO_PASSWORD" "$TOTP_SECRET" <<'PY'
import base64, hashlib, hmac, json, struct, sys, time, urllib.request
base, user, password, secret = sys.argv[1:]
body = {"username": user, "password": password}
if user == "admin":
    counter = struct.pack(">Q", int(time.time()) // 30)
    mac = hmac.new(base64.b32decode(secret), counter, hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    body["otp"] = "%06d" % ((struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1000000)
req = urllib.request.Request(base + "/api/v1/auth/token", json.dumps(body).encode(),
                             {"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(req))["access_token"])
PY
}

st=("$TOOLS/venv/bin/st" --config-file end2end/schemathesis.toml run "$BASE/api/v1/openapi.json"
    --max-examples "${API_FUZZ_EXAMPLES:-25}" --seed 1 --no-color)
# Every token first: the runs fuzz POST /auth/token too, and its wrong passwords may lock a
# demo username out.
declare -A bearer
for role in admin operator auditor viewer; do bearer[$role]="$(token "$role")"; done
revoker="$(token viewer)"
failed=0
for role in admin operator auditor viewer; do
  say "as $role"
  # Revoking ends sessions, the very one the run signs in with among them: those two routes
  # run at the end, the admin's token the last thing they use.
  "${st[@]}" -H "Authorization: Bearer ${bearer[$role]}" \
    --exclude-path /api/v1/auth/revoke --exclude-path '/api/v1/sessions/{id}' || failed=1
done
say "revoke, as the viewer"
"${st[@]}" -H "Authorization: Bearer $revoker" --include-path /api/v1/auth/revoke \
  --max-examples 5 || failed=1
say "revoke a session, as the admin"
"${st[@]}" -H "Authorization: Bearer ${bearer[admin]}" --include-path '/api/v1/sessions/{id}' \
  --max-examples 5 || failed=1
exit $failed
