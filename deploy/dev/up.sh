#!/usr/bin/env bash
# Starts the development stack (Redis, PostgreSQL, Vault) on 127.0.0.1 and
# writes var/dev/stack.env for tests and tools to source. Safe to re-run: what
# is already running is left alone.
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_dirs
# The console's form key (console.csrf_key_file in deploy/dev/ura.yaml): 32
# random bytes, kept across restarts like the other secrets here.
ensure_secret "$URA_DEV/console-csrf.key" 32 >/dev/null
# The key pull cursors are sealed with (cursors.key_file), so that a cursor
# survives a gateway restart.
ensure_secret "$URA_DEV/cursor.key" 32 >/dev/null
# One apt-get call for everything the stack and the tests need (nginx for the
# reverse-proxy tests, chromium and its driver for the console tests, testssl.sh
# for the scan of the gateway's TLS listener), rather than one per service
# script.
apt_install_missing redis-server postgresql nginx chromium chromium-driver curl jq testssl.sh

bash "$URA_ROOT/deploy/dev/redis.sh" up
bash "$URA_ROOT/deploy/dev/postgres.sh" up
bash "$URA_ROOT/deploy/dev/vault.sh" up

redis_pw="$(cat "$URA_DEV/redis.password")"
pg_pw="$(cat "$URA_DEV/postgres.password")"
vault_token="$(cat "$URA_DEV/vault.token")"
write_private "$URA_DEV/stack.env" <<EOF2
# Development stack endpoints and secrets, written by deploy/dev/up.sh.
export URA_REDIS_ADDR='127.0.0.1:6390'
export URA_REDIS_PASSWORD='$redis_pw'
export URA_VAULT_ADDR='http://127.0.0.1:8210'
export URA_VAULT_TOKEN='$vault_token'
export URA_VAULT_BIN='${URA_VAULT_BIN:-$(vault_bin)}'
export URA_POSTGRES_DSN='postgres://ura:$pg_pw@127.0.0.1:5440/ura?sslmode=disable'
export URA_TEST_POSTGRES_DSN='postgres://ura:$pg_pw@127.0.0.1:5440/ura_test?sslmode=disable'
export REDIS_SERVER_BIN='$(command -v redis-server)'
export URA_OPA_BIN='$(opa_bin)'
export URA_TESTSSL_BIN='$(command -v testssl || true)'
EOF2
say "stack:    ready; run: source var/dev/stack.env"
