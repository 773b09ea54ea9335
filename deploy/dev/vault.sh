#!/usr/bin/env bash
# Development Vault on http://127.0.0.1:8210: vault.sh up|down|status
#
# A dev-mode server: in memory, unsealed, root token from var/dev/vault.token.
# It also binds the cluster port 8211. Its state is lost on every restart, so
# `up` always re-applies the setup (Transit and KV v2 mounts, the signing keys,
# policy `ura`); every step is idempotent.
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VAULT_HOST=127.0.0.1
VAULT_PORT=8210
export VAULT_ADDR="http://$VAULT_HOST:$VAULT_PORT"
pidfile="$URA_RUN/vault.pid"
logfile="$URA_LOG/vault.log"
bin="${URA_VAULT_BIN:-$(vault_bin)}"

status() {
	local pid
	if pid="$(pid_running "$pidfile" vault)"; then
		say "vault:    running (pid $pid, $VAULT_ADDR)"
	else
		say "vault:    stopped"
		return 1
	fi
}

healthy() {
	curl -fsS -m 2 "$VAULT_ADDR/v1/sys/health" >/dev/null 2>&1
}

start() {
	local p
	for p in "$VAULT_PORT" $((VAULT_PORT + 1)); do
		if port_in_use "$VAULT_HOST" "$p"; then
			die "vault: $VAULT_HOST:$p is taken by a process not started from $URA_RUN"
		fi
	done
	: >"$logfile"
	# The token goes through the environment, not argv, to stay out of `ps`.
	# setsid detaches it from the caller's process group so an interrupted
	# `make test` does not take the shared server down with it.
	# -dev-no-store-token keeps the dev server from writing ~/.vault-token.
	VAULT_DEV_ROOT_TOKEN_ID="$token" setsid "$bin" server -dev \
		-dev-listen-address="$VAULT_HOST:$VAULT_PORT" -dev-no-store-token \
		>>"$logfile" 2>&1 </dev/null &
	echo $! >"$pidfile"
}

wait_healthy() {
	local i
	for ((i = 0; i < 600; i++)); do
		healthy && return 0
		pid_running "$pidfile" vault >/dev/null || {
			tail -n 20 "$logfile" >&2
			die "vault: exited during startup (log: var/log/vault.log)"
		}
		sleep 0.1
	done
	die "vault: not healthy after 60 s (log: var/log/vault.log)"
}

# api METHOD PATH [JSON] — one call to Vault's HTTP API with the root token.
# The HTTP API rather than the vault CLI: each CLI run pages in a 345 MiB
# binary, which made a no-op `up` take ten seconds. The token reaches curl
# through a config on a file descriptor, so it never appears in `ps`.
api() {
	local method="$1" path="$2" data="${3:-}"
	local args=(-fsS -m 10 -o /dev/null -X "$method")
	[[ -n $data ]] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
	# A failed GET is how existence is probed, so only writes report errors.
	if [[ $method == GET ]]; then exec 3>/dev/null; else exec 3>&2; fi
	curl "${args[@]}" -K <(printf 'header = "X-Vault-Token: %s"\n' "$token") \
		"$VAULT_ADDR/v1/$path" 2>&3
}

# api_body METHOD PATH [JSON] — like api, but prints the response body.
api_body() {
	local method="$1" path="$2" data="${3:-}"
	local args=(-fsS -m 10 -X "$method")
	[[ -n $data ]] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
	curl "${args[@]}" -K <(printf 'header = "X-Vault-Token: %s"\n' "$token") "$VAULT_ADDR/v1/$path"
}

# signing_key NAME TYPE — a dev server keeps nothing across restarts, but
# signatures and audit checkpoints made before a restart must still verify:
# the key is backed up to var/dev once and restored into every new server.
# This is for the development stack only; a real Vault keeps its keys.
signing_key() {
	local name="$1" type="$2" backup="$URA_DEV/transit-$1.backup"
	if ! api GET "transit/keys/$name"; then
		if [[ -s $backup ]]; then
			api POST "transit/restore/$name" "$(jq -c '{backup: .data.backup}' "$backup")" ||
				die "vault: cannot restore $name from ${backup#$URA_ROOT/}"
			say "vault:    restored signing key $name from ${backup#$URA_ROOT/}"
		else
			api POST "transit/keys/$name" "{\"type\":\"$type\",\"exportable\":true,\"allow_plaintext_backup\":true}"
		fi
	fi
	# Refresh the backup so that rotated versions survive a restart too.
	if out="$(api_body GET "transit/backup/$name" 2>/dev/null)"; then
		printf '%s' "$out" | write_private "$backup"
	fi
}

setup() {
	api GET sys/mounts/transit || api POST sys/mounts/transit '{"type":"transit"}'
	api GET sys/mounts/kv || api POST sys/mounts/kv '{"type":"kv","options":{"version":"2"}}'
	signing_key ura-signing ed25519
	signing_key ura-signing-p256 ecdsa-p256
	# Italy's dev gateway (deploy/dev/peer.yaml) signs with its own key.
	signing_key ura-signing-it ed25519
	api PUT sys/policies/acl/ura "$(jq -Rs '{policy: .}' "$URA_ROOT/deploy/vault/ura.hcl")"
}

up() {
	ensure_dirs
	apt_install_missing curl jq
	if ! [[ -x $bin ]]; then
		[[ -z ${URA_VAULT_BIN:-} ]] || die "vault: URA_VAULT_BIN=$URA_VAULT_BIN is not a working vault binary"
		bash "$URA_ROOT/deploy/dev/build-vault.sh"
	fi
	token="$(ensure_secret "$URA_DEV/vault.token")"
	if pid_running "$pidfile" vault >/dev/null; then
		# A server started with an older token file cannot be configured with
		# the current one; a dev server holds nothing worth keeping, so restart.
		if ! api GET auth/token/lookup-self; then
			say "vault: running server does not accept var/dev/vault.token; restarting it"
			stop_pid "$pidfile" vault 15
			start
		fi
	else
		"$bin" version >/dev/null 2>&1 || die "vault: $bin does not run; remove it and run deploy/dev/build-vault.sh"
		start
	fi
	wait_healthy
	setup
	status
}

down() {
	stop_pid "$pidfile" vault 15
	say "vault:    stopped"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*) die "usage: $0 up|down|status" ;;
esac
