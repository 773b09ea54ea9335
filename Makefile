# Entry points for development and CI. The development stack (Redis, PostgreSQL,
# Vault) runs on 127.0.0.1 from deploy/dev; everything it writes goes to var/.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
# Pinned so lint results do not change under a developer's feet; bump deliberately.
GOLANGCI_LINT_VERSION ?= v2.15.0
# The copy in ~/.cache/ura/bin when there is one, else that version via go run.
GOLANGCI_LINT ?= $(or $(wildcard $(HOME)/.cache/ura/bin/golangci-lint),$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION))

.PHONY: build up down tools test fuzz lint demo clean bench bench-scale

# The gateway binary; var/ keeps build output out of the source tree.
build:
	$(GO) build -o var/bin/ura ./cmd/ura

# Start (or confirm) the development stack and write var/dev/stack.env.
up:
	bash deploy/dev/up.sh

# Stop the development stack, keeping its data.
down:
	bash deploy/dev/down.sh

# Tools the tests use beyond the stack: OPA's own server, built once per
# version into ~/.cache/ura/bin (deploy/dev/lib.sh pins OPA_VERSION).
tools:
	bash deploy/dev/tools.sh

# Integration tests need the real stack, so bring it up first. The npm
# packages are the independent checkers the tests run: the JOSE verifier,
# and the OpenAPI and JSON Schema tools partners use (deploy/openapi-check).
# The race detector is on because the gateway is a concurrent server.
# Under it the policy equivalence test checks one question in sixteen of its
# corpus (OPA evaluates several times slower there); the second run checks all.
# The partner client is a module of its own (deploy/partnerclient), so
# ./... stops at it: its tests run against real gateways on the same stack.
test: up tools
	npm ci --prefix deploy/jose-verify --no-audit --no-fund
	npm ci --prefix deploy/openapi-check --no-audit --no-fund
	source var/dev/stack.env && $(GO) test -race -count=1 -timeout 20m ./...
	source var/dev/stack.env && cd deploy/partnerclient && $(GO) test -race -count=1 -timeout 10m ./...
	$(GO) test -count=1 -run '^TestPolicyEquivalence$$' ./gateway/policy/

# Every Go fuzz target in the repository, FUZZTIME each (CI runs them for a
# few seconds each); a crash fails the run and its input is kept under the
# package's testdata/fuzz/. Logs in var/log/fuzz/.
FUZZTIME ?= 60s
fuzz:
	FUZZTIME=$(FUZZTIME) bash deploy/dev/fuzz.sh

# Formatting, vet and golangci-lint, of the gateway's module and of the
# partner client's (deploy/partnerclient). var/ is skipped: it holds
# databases and build output, not source.
lint:
	@unformatted="$$(find . -path ./var -prune -o -path ./.git -prune -o -name '*.go' -print | xargs -r gofmt -l)"; \
	if [[ -n "$$unformatted" ]]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...
	cd deploy/partnerclient && $(GO) vet ./... && $(GOLANGCI_LINT) run ./...

# A gateway running against the development stack.
demo: build up
	bash deploy/dev/demo.sh

# ura beside nginx (the floor) and an external-OPA gateway, on this machine,
# in one run; BENCH_QUICK=1 for a smoke run. Results in var/bench/.
bench:
	bash deploy/bench/run.sh

# The same, plus a 1,000,000-record signed pull through ura.
bench-scale:
	BENCH_SCALE=1 bash deploy/bench/run.sh

# Stop the stack and delete everything it and the build wrote, including a
# PostgreSQL cluster placed outside var/ (see deploy/dev/postgres.sh). The Vault
# binary in ~/.cache/ura survives: rebuilding it takes over ten minutes.
clean: down
	if [[ -f var/pg/LOCATION ]]; then rm -rf "$$(cat var/pg/LOCATION)"; fi
	rm -rf var
