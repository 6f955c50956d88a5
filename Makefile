# DelTran Console — build, run and test. `make` (or `make help`) lists the targets.
#
# Everything a target needs is installed or started by the scripts it calls:
#   scripts/tools.sh     Rust target, cargo-leptos, wasm-bindgen, npm packages (+ Chromium);
#                        `tools-bg` starts the slow ones (cargo-leptos, wasm-bindgen: compiled from
#                        source) in the background, `tools` waits for them (and fails if they failed)
#   scripts/services.sh  PostgreSQL and Redis: DATABASE_URL/REDIS_URL, else the machine's own,
#                        else private servers under data/; writes data/services.env
#
# Overridable (environment or `make VAR=value`):
#   CARGO_TARGET_DIR  cargo's target folder (default ./target; .ci/run keeps one outside the clone)
#   DELTRAN_TOOLS     where cargo-leptos and wasm-bindgen are installed ($HOME/.cache/deltran-tools)
#   DEMO_PASSWORD     password of the demo logins that `seed --demo` creates (demo-password-2026)
#   E2E_DB            database the browser tests run against, recreated each run (deltran_e2e)
#   E2E_PAYMENTS      payments seeded for the browser tests (2000)
#   E2E_GREP          run only the browser tests whose title matches this regex

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
# The steps of `make test` and `make run` must run in order, even under -j.
.NOTPARALLEL:
.DELETE_ON_ERROR:

ROOT := $(CURDIR)

CARGO_TARGET_DIR ?= $(ROOT)/target
DELTRAN_TOOLS ?= $(HOME)/.cache/deltran-tools
DEMO_PASSWORD ?= demo-password-2026
DELTRAN_DATA ?= $(ROOT)/data
E2E_DB ?= deltran_e2e
E2E_PAYMENTS ?= 2000
E2E_ADDR := 127.0.0.1:3000

export CARGO_TARGET_DIR DELTRAN_TOOLS DEMO_PASSWORD DELTRAN_DATA
export PATH := $(DELTRAN_TOOLS)/bin:$(ROOT)/node_modules/.bin:$(PATH)
# Playwright must never download a browser; the tests use Debian's /usr/bin/chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

BIN := $(CARGO_TARGET_DIR)/debug/deltran-console
SERVICES_ENV := $(DELTRAN_DATA)/services.env
# Prefix for recipe lines that need DATABASE_URL and REDIS_URL.
WITH_SERVICES := . "$(SERVICES_ENV)";
# Demo mode (accepts the default secrets) for the app we run and seed; not for `cargo test`.
DEMO := export DEMO_MODE=true;
# scripts/tools.sh flags; the targets that run browser tests add --browser (Chromium).
TOOLS_FLAGS ?=
test e2e: TOOLS_FLAGS += --browser

.PHONY: help tools tools-bg services services-stop build migrate seed run test-scripts test-ha \
        sqlx-prepare sqlx-check \
        fmt fmt-check clippy lint test test-rust api-fuzz e2e bench clean-data

help: ## Show this help
	@echo "DelTran Console — make targets:"
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'
	@echo "Variables: CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) DELTRAN_TOOLS=$(DELTRAN_TOOLS) DEMO_PASSWORD=…"

# --- setup -----------------------------------------------------------------------------------

tools: ## Install the build tools that are missing (scripts/tools.sh; TOOLS_FLAGS=--browser adds Chromium)
	scripts/tools.sh $(TOOLS_FLAGS)

# The Rust checks need only the toolchain: they compile while cargo-leptos and wasm-bindgen
# (needed by the wasm build only) install in the background; `tools` waits for those.
tools-bg: ## The quick tools now; cargo-leptos and wasm-bindgen installing in the background
	scripts/tools.sh --background $(TOOLS_FLAGS)

services: ## Find or start PostgreSQL and Redis, write data/services.env
	scripts/services.sh

services-stop: ## Stop the private PostgreSQL/Redis started under data/
	scripts/services.sh stop

# --- build and run -----------------------------------------------------------------------------

build: tools ## Build the server and the wasm site (cargo leptos build)
	cargo leptos build

migrate: build services ## Apply the database migrations (deltran-console migrate up)
	$(WITH_SERVICES) $(DEMO) "$(BIN)" migrate up

seed: build services ## Load the demo data (deltran-console seed --demo; prints the demo logins)
	$(WITH_SERVICES) $(DEMO) "$(BIN)" seed --demo

run: tools services build migrate seed ## Build, migrate, seed demo data and serve at http://127.0.0.1:3000
	@echo "Serving DelTran Console at http://127.0.0.1:3000 (demo logins above, password DEMO_PASSWORD)"
	$(WITH_SERVICES) $(DEMO) cargo leptos serve

# --- checks ------------------------------------------------------------------------------------

fmt: ## Format the Rust code
	cargo fmt --all

fmt-check: ## Check the Rust formatting
	cargo fmt --all --check

clippy: tools-bg ## Lint with clippy (warnings are errors)
	cargo clippy --workspace --all-targets -- -D warnings

sqlx-prepare: services ## Rewrite .sqlx/ (the data of the compile-time checked queries) from the migrations
	$(WITH_SERVICES) scripts/sqlx-prepare.sh

sqlx-check: services ## Fail when .sqlx/ is not what the queries and migrations give
	$(WITH_SERVICES) scripts/sqlx-prepare.sh --check

lint: fmt-check clippy sqlx-check ## fmt-check, clippy and the checked queries' data

test-rust: tools-bg services ## Unit and integration tests (cargo test --workspace)
	$(WITH_SERVICES) cargo test --workspace

api-fuzz: services ## Schemathesis over the REST API's OpenAPI document, as each role (scripts/api-fuzz.sh)
	$(WITH_SERVICES) scripts/api-fuzz.sh

# The tests that need the HA topology: scripts/ha.sh starts a private primary and streaming
# replica, PgBouncer before the primary, a Redis master, replica and three Sentinels (never the
# machine's servers; PgBouncer is built into $(DELTRAN_TOOLS) the first time, ~1 min), the
# ignored `ha::` tests run with DATABASE_URL on the primary (the others from the HA_* exports),
# one at a time (they stop and restart what the others use), and the harness is stopped and
# removed whatever they do.
test-ha: tools-bg services ## Tests on the local HA harness (PG primary + replica, PgBouncer, Redis + Sentinels; scripts/ha.sh)
	$(WITH_SERVICES) eval "$$(scripts/ha.sh up)"; trap 'scripts/ha.sh down' EXIT; \
	  DATABASE_URL="$$HA_PRIMARY_URL" cargo test -p server --test it ha:: -- --ignored --test-threads=1 --nocapture

test-scripts: ## The install script's background mode, against a fake cargo (scripts/test-tools-background.sh)
	bash scripts/test-tools-background.sh

# In this order (.NOTPARALLEL): the slow installs start first and run while fmt, clippy and
# cargo test compile and run; e2e's `tools` waits for them before the wasm build.
test: tools-bg services fmt-check clippy sqlx-check test-rust test-ha test-scripts api-fuzz e2e ## Everything CI runs: fmt, clippy, .sqlx, cargo test, the HA harness tests, the scripts' test, schemathesis, browser tests

# Browser tests: a fresh database $(E2E_DB) on the same server, migrated and seeded (plus
# `newadmin`, an admin without 2FA yet), a data directory (audit anchors, ledger) and Redis
# key prefix of their own, so nothing the console of `make run` reads is touched, then
# `cargo leptos end-to-end` (starts the server on $(E2E_ADDR), runs Playwright).
e2e: tools services build ## Browser tests (Playwright + Chromium) against a fresh seeded database
	@if (exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null; then \
	  echo "e2e: something already listens on $(E2E_ADDR) (a \`make run\`?); stop it first" >&2; exit 1; fi
	$(WITH_SERVICES) $(DEMO) \
	  e2e_url="$$(scripts/services.sh recreate-db $(E2E_DB))"; \
	  export DATABASE_URL="$$e2e_url" DATA_DIR="$(DELTRAN_DATA)/e2e" LEDGER_PATH="$(DELTRAN_DATA)/e2e/ledger" \
	    LEPTOS_SITE_ADDR=$(E2E_ADDR) REDIS_PREFIX=deltran-e2e: \
	    LOGIN_MAX_FAILURES_PER_IP=100000 DEMO_TOTP_SECRET="$${DEMO_TOTP_SECRET:-JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP}"; \
	  rm -rf "$(DELTRAN_DATA)/e2e"; mkdir -p "$(DELTRAN_DATA)/e2e"; \
	  "$(BIN)" migrate up; \
	  "$(BIN)" seed --demo --payments $(E2E_PAYMENTS); \
	  echo "$$DEMO_PASSWORD" | "$(BIN)" user create --username newadmin \
	    --email newadmin@example.com --role admin --password-stdin; \
	  rm -f end2end/test-results/.last-run.json; \
	  cargo leptos end-to-end; \
	  grep -q '"status": "passed"' end2end/test-results/.last-run.json || \
	    { echo "e2e: Playwright did not run to a pass (a build that failed inside cargo leptos exits 0)" >&2; exit 1; }

bench: services ## Benchmarks: demo seed vs raw COPY, audit verification and list vs raw SQL, payments API and pages vs raw SQL and under load, the ledger vs raw RocksDB
	bash scripts/bench.sh
	bash scripts/bench-audit.sh
	bash scripts/bench-payments.sh
	bash scripts/bench-ledger.sh

# --- cleanup -----------------------------------------------------------------------------------

clean-data: ## Stop the private servers and remove ./data
	scripts/services.sh stop
	@case "$(DELTRAN_DATA)" in ""|/|"$(HOME)"|"$(ROOT)") echo "clean-data: refusing to remove '$(DELTRAN_DATA)'" >&2; exit 1;; esac
	rm -rf -- "$(DELTRAN_DATA)"
