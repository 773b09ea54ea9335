#!/usr/bin/env bash
# Builds the tools the tests use beyond the development stack: OPA's own
# server, once per pinned version, into ~/.cache/ura/bin (OPA_VERSION in
# deploy/dev/lib.sh). Safe to re-run: a built version is reused.
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v go >/dev/null || die "go is not on PATH"
ensure_opa
say "tools:    opa $OPA_VERSION at $(opa_bin)"
