#!/usr/bin/env bash
# Italy's ura gateway of the development stack (deploy/dev/peer.yaml, on
# https://127.0.0.1:8444, data under var/peer/), Albania's peer.
#
#   peer.sh prepare   write var/peer/policy and make sure its Transit key exists
#   peer.sh up        prepare, then start it (PID in var/run/ura-peer.pid)
#   peer.sh down      stop it by its PID
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$URA_ROOT"

URA="$URA_VAR/bin/ura"
PEER="$URA_VAR/peer"
PIDFILE="$URA_RUN/ura-peer.pid"
LOGFILE="$URA_LOG/ura-peer.log"

# The embedded bundle (policies/: the Rego modules and data.json) with
# Italy's instance as the gateway's own: every nation's gateway names whose
# institutions it serves in its tables.
prepare() {
	ensure_dirs
	mkdir -p "$PEER/policy" "$PEER/data"
	chmod 0700 "$PEER"
	find "$PEER/policy" -maxdepth 1 -type f -delete
	for f in policies/*.rego; do
		[[ $f == *_test.rego ]] || cp "$f" "$PEER/policy/"
	done
	jq '.ura_data.own_instance = "IT" | .ura_data.own_nation = "ITA"' policies/data.json >"$PEER/policy/data.json"
	# Its signing key, in a Vault started before deploy/dev/vault.sh created it.
	local token
	token="$(cat "$URA_DEV/vault.token")"
	if ! curl -sf -H "X-Vault-Token: $token" http://127.0.0.1:8210/v1/transit/keys/ura-signing-it >/dev/null; then
		curl -sf -H "X-Vault-Token: $token" -X POST -d '{"type":"ed25519"}' \
			http://127.0.0.1:8210/v1/transit/keys/ura-signing-it >/dev/null ||
			die "peer: cannot create the Transit key ura-signing-it (is the stack up? make up)"
	fi
}

up() {
	[[ -x $URA ]] || die "build first: make build"
	[[ -f $URA_VAR/pki/it-server.crt ]] || die "var/pki has no it-server.crt: ura certs init --dir var/pki --force"
	prepare
	stop_pid "$PIDFILE" ura
	say "peer:     starting Italy's gateway on https://127.0.0.1:8444 (log: ${LOGFILE#$URA_ROOT/})"
	"$URA" serve --config deploy/dev/peer.yaml >>"$LOGFILE" 2>&1 &
	echo $! >"$PIDFILE"
	for _ in $(seq 1 100); do
		if curl -sf "http://127.0.0.1:9444/readyz" >/dev/null 2>&1; then return 0; fi
		pid_running "$PIDFILE" >/dev/null || { tail -n 20 "$LOGFILE" >&2; die "Italy's gateway exited during start-up"; }
		sleep 0.1
	done
	tail -n 20 "$LOGFILE" >&2
	die "Italy's gateway not ready after 10s"
}

down() { stop_pid "$PIDFILE" ura; }

case "${1:-}" in
prepare) prepare ;;
up) up ;;
down) down ;;
*) die "usage: $0 prepare|up|down" ;;
esac
