#!/usr/bin/env bash
# Installs the tools that building and testing DelTran Console needs, and nothing that is
# already there. Idempotent: every step checks first and prints one line.
#
#   scripts/tools.sh               tools for building and running (make run)
#   scripts/tools.sh --browser     also Debian's Chromium for the browser tests (make test / e2e)
#   scripts/tools.sh --background  the quick steps now; cargo-leptos and wasm-bindgen (the slow
#                                  ones: compiled from source, 15-25 min on 2 cores) are started
#                                  in the background, so that fmt, clippy and cargo test can
#                                  compile meanwhile (make test does this). Only cargo-leptos
#                                  and wasm-bindgen need them, i.e. the wasm build.
#   scripts/tools.sh --wait        same as plain scripts/tools.sh: every run first waits for a
#                                  background install, fails loudly if it failed, then checks
#   scripts/tools.sh --skip NAME   skip one step (repeatable): rust, libclang, cargo-leptos,
#                                  wasm-bindgen, npm, npm-e2e, chromium
#   scripts/tools.sh --print-path  print the PATH the tools need, and do nothing else
#
# The slow installs hold a lock ($DELTRAN_TOOLS/.slow-install.lock, flock): one install at a
# time, however many make targets or checkouts ask, and whoever needs the tools waits for it.
# A background install logs to $DELTRAN_TOOLS/slow-install.log and leaves its exit status in
# $DELTRAN_TOOLS/.slow-install.status for the run that waits. scripts/test-tools-background.sh
# checks all this with a fake cargo, in seconds.
#
# Environment:
#   DELTRAN_TOOLS   where cargo-leptos and wasm-bindgen are installed
#                   (default: $HOME/.cache/deltran-tools; binaries in $DELTRAN_TOOLS/bin)
#   CHROMIUM_PATH   the browser the tests use (default: /usr/bin/chromium)
#
# The caller still has to put "$DELTRAN_TOOLS/bin" and "<repo>/node_modules/.bin" on its PATH
# (the Makefile does; or: export PATH="$(scripts/tools.sh --print-path)").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${DELTRAN_TOOLS:-$HOME/.cache/deltran-tools}"
CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"

CARGO_LEPTOS_VERSION=0.3.11          # needs a nightly toolchain to build (its deps need rustc >= 1.96)
CARGO_LEPTOS_STABLE_VERSION=0.3.10   # builds on stable 1.95
WASM_BINDGEN_VERSION=0.2.130         # must equal the wasm-bindgen crate pinned in Cargo.toml

export PATH="$TOOLS/bin:$ROOT/node_modules/.bin:$PATH"

if [[ "${1:-}" == "--print-path" ]]; then
  echo "$PATH"
  exit 0
fi

browser=0
mode=all              # all | background | slow-only (internal: the background job itself)
declare -A skip=()
skip_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --browser) browser=1 ;;
    --background) mode=background ;;
    --wait) mode=all ;;
    --slow-only) mode=slow-only ;;
    --skip) shift; skip[${1:?--skip needs a step name}]=1; skip_args+=(--skip "$1") ;;
    -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "tools.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

say()  { printf 'tools: %-14s %s\n' "$1" "$2"; }
die()  { printf 'tools: %-14s FAILED: %s\n' "$1" "$2" >&2; exit 1; }
skipped() { [[ -n "${skip[$1]:-}" ]] && say "$1" "skipped (--skip)"; }
is_root() { [[ "$(id -u)" == 0 ]]; }

# apt_install STEP PKG...: install Debian packages, as root only; apt-get update only if needed.
apt_install() {
  local step="$1"; shift
  if ! is_root; then
    die "$step" "not root; run: sudo apt-get update && sudo apt-get install -y $*"
  fi
  command -v apt-get >/dev/null || die "$step" "apt-get not found; install $* with your OS's package manager"
  local log; log="$(mktemp /tmp/deltran-apt.XXXXXX.log)"
  say "$step" "installing $* (apt; log $log)"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=600)
  if ! "${apt[@]}" install "$@" >"$log" 2>&1; then
    say "$step" "apt-get install failed; running apt-get update and trying again"
    "${apt[@]}" update >>"$log" 2>&1 || die "$step" "apt-get update failed (see $log)"
    "${apt[@]}" install "$@" >>"$log" 2>&1 || die "$step" "apt-get install $* failed (see $log)"
  fi
}

# The version number in a program's `--version` output (first x.y.z), or empty.
version_of() { "$@" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1 || true; }

have_nightly() { rustup toolchain list 2>/dev/null | grep -q '^nightly'; }

# --- Rust: the toolchain named by rust-toolchain.toml, its wasm32 target, rustfmt, clippy -----
step_rust() {
  skipped rust && return
  command -v rustup >/dev/null || die rust "rustup not found (the project needs rustup with a stable toolchain)"
  cd "$ROOT"   # so that rustup applies rust-toolchain.toml
  local toolchain; toolchain="$(rustup show active-toolchain 2>/dev/null | awk '{print $1; exit}')"
  [[ -n "$toolchain" ]] || die rust "no active toolchain for $ROOT (rust-toolchain.toml names one that is not installed?)"
  local missing=()
  rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || missing+=(target)
  local comps; comps="$(rustup component list --installed 2>/dev/null)"
  grep -q '^rustfmt' <<<"$comps" || missing+=(rustfmt)
  grep -q '^clippy' <<<"$comps" || missing+=(clippy)
  if [[ ${#missing[@]} -eq 0 ]]; then
    say rust "ok ($toolchain, wasm32-unknown-unknown, rustfmt, clippy)"
    return
  fi
  for m in "${missing[@]}"; do
    if [[ "$m" == target ]]; then
      say rust "adding target wasm32-unknown-unknown to $toolchain"
      rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || die rust "rustup target add wasm32-unknown-unknown failed"
    else
      say rust "adding component $m to $toolchain"
      rustup component add "$m" >/dev/null 2>&1 || die rust "rustup component add $m failed"
    fi
  done
}

# --- cargo-leptos ------------------------------------------------------------------------------
step_cargo_leptos() {
  skipped cargo-leptos && return
  local have; have="$(version_of cargo leptos)"
  if [[ "$have" == "$CARGO_LEPTOS_VERSION" || "$have" == "$CARGO_LEPTOS_STABLE_VERSION" ]]; then
    say cargo-leptos "ok ($have: $(command -v cargo-leptos || echo 'cargo leptos'))"
    return
  fi
  mkdir -p "$TOOLS"
  local log="$TOOLS/cargo-leptos-install.log" cmd
  if have_nightly; then
    cmd=(cargo +nightly install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads --root "$TOOLS")
  else
    cmd=(cargo install cargo-leptos --version "$CARGO_LEPTOS_STABLE_VERSION" --locked --features no_downloads --root "$TOOLS")
  fi
  [[ -n "$have" ]] && cmd+=(--force)
  say cargo-leptos "${have:+found $have; }installing: ${cmd[*]} (15-20 min on 2 cores; log $log)"
  # Outside the project (its rust-toolchain.toml and .cargo/config.toml must not apply), and in
  # cargo's own temporary build folder rather than the project's CARGO_TARGET_DIR.
  (cd "$TOOLS" && env -u CARGO_TARGET_DIR -u RUSTFLAGS "${cmd[@]}") >"$log" 2>&1 9>&- || { tail -n 20 "$log" >&2; die cargo-leptos "install failed (see $log)"; }
  have="$(version_of cargo leptos)"
  [[ "$have" == "$CARGO_LEPTOS_VERSION" || "$have" == "$CARGO_LEPTOS_STABLE_VERSION" ]] \
    || die cargo-leptos "installed into $TOOLS/bin, but \`cargo leptos --version\` reports '${have:-nothing}' ($(command -v cargo-leptos || echo 'not on PATH'))"
  say cargo-leptos "installed $have"
}

# --- wasm-bindgen-cli (cargo-leptos runs the one on PATH) --------------------------------------
step_wasm_bindgen() {
  skipped wasm-bindgen && return
  local have; have="$(version_of wasm-bindgen)"
  if [[ "$have" == "$WASM_BINDGEN_VERSION" ]]; then
    say wasm-bindgen "ok ($have: $(command -v wasm-bindgen))"
    return
  fi
  mkdir -p "$TOOLS"
  local log="$TOOLS/wasm-bindgen-install.log"
  # No --locked: wasm-bindgen-cli's own lock file does not build.
  local cmd=(cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --root "$TOOLS")
  [[ -n "$have" ]] && cmd+=(--force)
  say wasm-bindgen "${have:+found $have; }installing: ${cmd[*]} (~3 min; log $log)"
  (cd "$TOOLS" && env -u CARGO_TARGET_DIR -u RUSTFLAGS "${cmd[@]}") >"$log" 2>&1 9>&- || { tail -n 20 "$log" >&2; die wasm-bindgen "install failed (see $log)"; }
  have="$(version_of "$TOOLS/bin/wasm-bindgen")"
  [[ "$have" == "$WASM_BINDGEN_VERSION" ]] || die wasm-bindgen "installed, but $TOOLS/bin/wasm-bindgen reports '${have:-nothing}'"
  [[ "$(command -v wasm-bindgen)" == "$TOOLS/bin/wasm-bindgen" ]] \
    || die wasm-bindgen "another wasm-bindgen comes first on PATH: $(command -v wasm-bindgen)"
  say wasm-bindgen "installed $have"
}

# --- npm packages ------------------------------------------------------------------------------
# npm_ci STEP DIR: `npm ci` when DIR/node_modules is missing or older than DIR/package-lock.json.
npm_ci() {
  local step="$1" dir="$2"
  skipped "$step" && return
  command -v npm >/dev/null || die "$step" "npm not found (Debian: apt-get install nodejs npm)"
  [[ -f "$dir/package-lock.json" ]] || die "$step" "$dir/package-lock.json is missing"
  local stamp="$dir/node_modules/.package-lock.json"   # written by npm at the end of an install
  local rel=".${dir#"$ROOT"}"
  if [[ -f "$stamp" && ! "$dir/package-lock.json" -nt "$stamp" && ! "$dir/package.json" -nt "$stamp" ]]; then
    say "$step" "ok ($rel/node_modules is up to date)"
    return
  fi
  say "$step" "npm ci in $rel/"
  local log; log="$(mktemp /tmp/deltran-npm.XXXXXX.log)"
  # Playwright must never try to download a browser: Debian's Chromium is used instead.
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >"$log" 2>&1) \
    || { tail -n 20 "$log" >&2; die "$step" "npm ci failed in $dir (see $log)"; }
  touch "$stamp"
}

step_npm() {
  npm_ci npm "$ROOT"
  if [[ -z "${skip[npm]:-}" ]]; then
    command -v tailwindcss >/dev/null || die npm "tailwindcss is not on PATH after npm ci"
    command -v wasm-opt >/dev/null || die npm "wasm-opt is not on PATH after npm ci"
  fi
}

step_npm_e2e() {
  npm_ci npm-e2e "$ROOT/end2end"
}

# --- libclang: bindgen generates RocksDB's bindings when the ledger's crate compiles -------------
have_libclang() {
  [[ -n "${LIBCLANG_PATH:-}" ]] && return 0
  compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null || compgen -G '/usr/lib/*/libclang*.so*' >/dev/null
}

step_libclang() {
  skipped libclang && return
  if have_libclang; then
    say libclang "ok"
    return
  fi
  apt_install libclang libclang-dev
  have_libclang || die libclang "no libclang after apt-get install libclang-dev (set LIBCLANG_PATH to its folder)"
  say libclang "installed"
}

# --- Chromium (browser tests only) ---------------------------------------------------------------
step_chromium() {
  skipped chromium && return
  if [[ -x "$CHROMIUM_PATH" ]]; then
    say chromium "ok ($CHROMIUM_PATH)"
    return
  fi
  if [[ "$CHROMIUM_PATH" != /usr/bin/chromium ]]; then
    die chromium "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable"
  fi
  apt_install chromium chromium
  [[ -x /usr/bin/chromium ]] || die chromium "/usr/bin/chromium still missing after apt-get install chromium"
  say chromium "installed ($("$CHROMIUM_PATH" --version 2>/dev/null || echo /usr/bin/chromium))"
}

# --- the slow installs: in the background, or waited for -----------------------------------------
LOCK="$TOOLS/.slow-install.lock"
STATUS="$TOOLS/.slow-install.status"
PIDFILE="$TOOLS/.slow-install.pid"
BGLOG="$TOOLS/slow-install.log"

# Whether cargo-leptos or wasm-bindgen is missing (or another version), unless skipped.
slow_needed() {
  local have
  if [[ -z "${skip[cargo-leptos]:-}" ]]; then
    have="$(version_of cargo leptos)"
    [[ "$have" == "$CARGO_LEPTOS_VERSION" || "$have" == "$CARGO_LEPTOS_STABLE_VERSION" ]] || return 0
  fi
  if [[ -z "${skip[wasm-bindgen]:-}" ]]; then
    [[ "$(version_of wasm-bindgen)" == "$WASM_BINDGEN_VERSION" ]] || return 0
  fi
  return 1
}

# Takes the lock on fd 9, waiting (and saying so) while an install holds it.
take_lock() {
  mkdir -p "$TOOLS"
  exec 9>>"$LOCK"
  if ! flock -n 9; then
    say background "waiting for the install that holds $LOCK (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'); log $BGLOG)"
    flock 9
  fi
}

# After taking the lock: what became of the last background install, if any. For the run
# that waits (`fatal`), a failure is fatal and loud; it is reported once (the next run
# installs in the foreground, showing why it fails). A new background start only mentions it.
background_result() {
  local fatal="$1"
  [[ -f "$PIDFILE" || -f "$STATUS" ]] || return 0
  local rc; rc="$(cat "$STATUS" 2>/dev/null || true)"
  rm -f "$STATUS" "$PIDFILE"
  case "$rc" in
    0) say background "the background install finished (log $BGLOG)" ;;
    "") say background "the last background install did not finish (interrupted?)" ;;
    *) tail -n 20 "$BGLOG" >&2 || true
       if [[ "$fatal" == fatal ]]; then
         die background "the background install of cargo-leptos / wasm-bindgen failed (exit $rc; log $BGLOG above); run scripts/tools.sh to retry in the foreground"
       fi
       say background "the last background install failed (exit $rc; log $BGLOG above); trying again" ;;
  esac
}

# Starts the slow steps in the background, holding the lock until they end. Returns at once.
start_background() {
  mkdir -p "$TOOLS"
  exec 9>>"$LOCK"
  if ! flock -n 9; then
    say background "an install is already running (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'); log $BGLOG)"
    exec 9>&-
    return
  fi
  background_result retry
  if ! slow_needed; then
    exec 9>&-
    step_cargo_leptos
    step_wasm_bindgen
    return
  fi
  rm -f "$STATUS"
  # The job and the script it runs keep fd 9 (the lock) until the status is written; the
  # cargo installs get no copy of it (the steps close it), so nothing they leave running can
  # hold the lock. No output reaches the caller's terminal or pipe (make, CI's tee would
  # wait for it otherwise). Nor make's jobserver: the job may outlive the make that started it.
  (
    rc=0
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CARGO_MAKEFLAGS \
      "$ROOT/scripts/tools.sh" --slow-only "${skip_args[@]}" </dev/null >"$BGLOG" 2>&1 || rc=$?
    echo "$rc" >"$STATUS"
  ) </dev/null >/dev/null 2>&1 &
  echo $! >"$PIDFILE"
  exec 9>&-
  say background "installing cargo-leptos / wasm-bindgen in the background (pid $(cat "$PIDFILE"), log $BGLOG); scripts/tools.sh waits for it"
}

case "$mode" in
  slow-only)
    step_cargo_leptos
    step_wasm_bindgen
    exit 0
    ;;
  background)
    step_rust
    step_libclang
    start_background
    step_npm
    step_npm_e2e
    if [[ $browser == 1 ]]; then step_chromium; fi
    say ready "quick tools present; cargo-leptos / wasm-bindgen: see above (DELTRAN_TOOLS=$TOOLS)"
    ;;
  all)
    step_rust
    step_libclang
    take_lock
    background_result fatal
    step_cargo_leptos
    step_wasm_bindgen
    exec 9>&-
    step_npm
    step_npm_e2e
    if [[ $browser == 1 ]]; then step_chromium; fi
    say ready "all tools present (DELTRAN_TOOLS=$TOOLS)"
    ;;
esac
