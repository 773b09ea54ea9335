#!/usr/bin/env bash
# The main job, end to end: the demo institutions talk to a real gateway over
# mutual TLS, backed by the development stack (make up). Run by `make demo`
# after `make build up`. The gateway is stopped (by PID) when the demo ends;
# URA_DEMO_KEEP=1 leaves it running.
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$URA_ROOT"

URA="$URA_VAR/bin/ura"
PKI="$URA_VAR/pki"
CONFIG="${URA_DEMO_CONFIG:-deploy/dev/ura.yaml}"
ADDR="127.0.0.1:8443"
PIDFILE="$URA_RUN/ura.pid"
LOGFILE="$URA_LOG/ura.log"

[[ -x $URA ]] || die "build first: make build"

section() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# call MEMBER_FILE METHOD PATH [curl args…] — prints the body; the HTTP status
# goes to $STATUS. MEMBER_FILE is a name under var/pki/clients without suffix.
call() {
	local who="$1" method="$2" path="$3"
	shift 3
	local out
	out="$(curl -sS --cacert "$PKI/ca.crt" --cert "$PKI/clients/$who.crt" --key "$PKI/clients/$who.key" \
		-X "$method" -w '\n%{http_code}' "$@" "https://$ADDR$path")"
	STATUS="${out##*$'\n'}"
	BODY="${out%$'\n'*}"
}

# refused MEMBER_FILE — a handshake that must fail; prints the gateway's
# reason from its log (a TLS 1.3 client only sees "bad certificate").
refused() {
	local who="$1" why
	if curl -sS --cacert "$PKI/ca.crt" --cert "$PKI/clients/$who.crt" --key "$PKI/clients/$who.key" \
		"https://$ADDR/v1/whoami" >/dev/null 2>&1; then
		die "$who was accepted; it must be refused"
	fi
	sleep 0.2
	why="$(grep 'client certificate refused' "$LOGFILE" | tail -n1 | sed -n 's/.*error="ura identity refused: \([^"]*\)".*/\1/p')"
	printf '  %-20s refused at the handshake: %s\n' "$who" "${why:-see $LOGFILE}"
}

start_gateway() {
	if [[ ! -f $PKI/ca.crt ]]; then
		section "Development PKI"
		"$URA" certs init --dir "$PKI"
	fi
	stop_pid "$PIDFILE" ura
	section "Starting ura on https://$ADDR (log: ${LOGFILE#$URA_ROOT/})"
	"$URA" serve --config "$CONFIG" >>"$LOGFILE" 2>&1 &
	echo $! >"$PIDFILE"
	for _ in $(seq 1 100); do
		if curl -s "http://127.0.0.1:9443/readyz" >/dev/null 2>&1; then break; fi
		pid_running "$PIDFILE" >/dev/null || { tail -n 20 "$LOGFILE" >&2; die "ura exited during start-up"; }
		sleep 0.1
	done
	curl -s "http://127.0.0.1:9443/readyz"; echo
}

stop_gateway() {
	if [[ ${URA_DEMO_KEEP:-0} == 1 ]]; then
		say "ura keeps running (PID $(cat "$PIDFILE")); stop it with: kill \$(cat var/run/ura.pid)"
	else
		stop_pid "$PIDFILE" ura
	fi
}

demo_identity() {
	section "Who is calling? Each institution's certificate, as the gateway sees it"
	for who in AL_GOV_AIM AL_GOV_MOD AL_GOV_DPD IT_GOV_MOD NATO_ORG_LIAISON AL_GOV_AUDIT; do
		call "$who" GET /v1/whoami
		[[ $STATUS == 200 ]] || die "$who whoami: HTTP $STATUS $BODY"
		printf '  %-18s → %s\n' "$who" "$(printf '%s' "$BODY" | tr -d '\n' | cut -c1-150)"
	done
	section "Certificates that must never get in"
	refused revoked
	refused expired
	refused rogue-it-claims-al
	say "  handshake refusals by reason:"
	curl -s http://127.0.0.1:9443/metrics | grep '^ura_tls_handshake_failures_total' | sed 's/^/    /'
}

trap stop_gateway EXIT
start_gateway
demo_identity
section "Done"
