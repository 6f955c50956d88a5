#!/usr/bin/env bash
# Checks scripts/tools.sh --background / --wait without compiling anything: a fake `cargo`
# whose `install` sleeps and then writes a fake binary, in a DELTRAN_TOOLS of its own.
# `make test` runs it (`make test-scripts`; or: bash scripts/test-tools-background.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d /tmp/deltran-tools-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin"
REAL_CARGO="$(command -v cargo)"
cat >"$WORK/bin/cargo" <<FAKE
#!/usr/bin/env bash
[[ "\$1" == +* ]] && shift
case "\$1" in
  leptos)
    [[ -x "\$DELTRAN_TOOLS/bin/cargo-leptos" ]] && exec "\$DELTRAN_TOOLS/bin/cargo-leptos" "\${@:2}"
    exit 101 ;;
  install)
    sleep "\${FAKE_SLEEP:-2}"
    [[ "\${FAKE_FAIL:-}" == "\$2" ]] && { echo "fake: could not compile \$2"; exit 101; }
    mkdir -p "\$DELTRAN_TOOLS/bin"
    case "\$2" in
      cargo-leptos) printf '#!/bin/sh\necho cargo-leptos 0.3.11\n' >"\$DELTRAN_TOOLS/bin/cargo-leptos" ;;
      wasm-bindgen-cli) printf '#!/bin/sh\necho wasm-bindgen 0.2.130\n' >"\$DELTRAN_TOOLS/bin/wasm-bindgen" ;;
    esac
    chmod +x "\$DELTRAN_TOOLS/bin/"* ;;
  *) exec "$REAL_CARGO" "\$@" ;;
esac
FAKE
chmod +x "$WORK/bin/cargo"
# The real tools must not be found (make puts them on PATH): only the fake installs count.
clean_path="$(IFS=:; for d in $PATH; do [[ -x "$d/wasm-bindgen" || -x "$d/cargo-leptos" ]] || printf '%s:' "$d"; done)"
export PATH="$WORK/bin:${clean_path%:}"
tools() { "$ROOT/scripts/tools.sh" --skip npm --skip npm-e2e "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
fresh() { export DELTRAN_TOOLS="$WORK/tools-$1"; }

fresh ok
t0=$SECONDS
out="$(FAKE_SLEEP=3 tools --background)"
(( SECONDS - t0 < 3 )) || fail "--background waited for the install"
grep -q "in the background" <<<"$out" || fail "--background did not start the install: $out"
grep -q "already running" <<<"$(tools --background)" || fail "a second --background started another install"
out="$(tools --wait)"
grep -q "background install finished" <<<"$out" || fail "--wait did not wait: $out"
grep -q "cargo-leptos   ok (0.3.11" <<<"$out" || fail "no cargo-leptos after --wait: $out"
(( SECONDS - t0 >= 6 )) || fail "the two fake installs (3 s each) were not waited for"
grep -q "cargo-leptos   ok" <<<"$(tools --background)" || fail "--background reinstalled what is there"
[[ ! -e "$DELTRAN_TOOLS/.slow-install.pid" ]] || fail "a job was started for tools that are there"
echo "ok: --background returns at once, --wait waits, a second start joins, present tools are skipped"

fresh fail
FAKE_SLEEP=1 FAKE_FAIL=cargo-leptos tools --background >/dev/null
if err="$(tools --wait 2>&1)"; then fail "--wait succeeded after a failed install"; fi
grep -q "could not compile cargo-leptos" <<<"$err" || fail "the failure's log was not shown: $err"
grep -q "background install of cargo-leptos / wasm-bindgen failed" <<<"$err" || fail "no loud failure: $err"
grep -q "cargo-leptos   installed" <<<"$(FAKE_SLEEP=0 tools)" || fail "the next run did not retry in the foreground"
echo "ok: a failed background install fails the run that waits, with its log; the next run retries"

fresh plain
out="$(FAKE_SLEEP=0 tools)"
grep -q "cargo-leptos   installed" <<<"$out" || fail "plain tools.sh did not install: $out"
echo "ok: without --background everything installs in the foreground, as before"
echo "all passed"
