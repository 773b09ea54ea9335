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
ADDR_IT="127.0.0.1:8444"
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

# call_it MEMBER_FILE METHOD PATH [curl args…] — as call, at Italy's
# gateway (deploy/dev/peer.yaml), whose server certificate is from it-ca.
call_it() {
	local who="$1" method="$2" path="$3"
	shift 3
	local out
	out="$(curl -sS --cacert "$PKI/it-ca.crt" --cert "$PKI/clients/$who.crt" --key "$PKI/clients/$who.key" \
		-X "$method" -w '\n%{http_code}' "$@" "https://$ADDR_IT$path")"
	STATUS="${out##*$'\n'}"
	BODY="${out%$'\n'*}"
}

# await WHAT CALL… — repeats the call until it answers 200 (10s at most).
await() {
	local what="$1" i
	shift
	for i in $(seq 1 100); do
		"$@"
		[[ $STATUS == 200 ]] && return 0
		sleep 0.1
	done
	die "$what: still HTTP $STATUS after 10s: $BODY"
}

start_gateway() {
	if [[ -f $PKI/ca.crt && ! -f $PKI/it-server.crt ]]; then
		die "var/pki predates Italy's gateway (no it-server.crt): ura certs init --dir var/pki --force"
	fi
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
	section "Starting Italy's ura gateway on https://$ADDR_IT (deploy/dev/peer.yaml, log: var/log/ura-peer.log)"
	bash deploy/dev/peer.sh up
}

stop_gateway() {
	if [[ ${URA_DEMO_KEEP:-0} == 1 ]]; then
		say "ura keeps running (PID $(cat "$PIDFILE")); stop it with: kill \$(cat var/run/ura.pid)"
	else
		stop_pid "$PIDFILE" ura
		bash deploy/dev/peer.sh down
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

# b64url_json — decode the payload of the compact JWS on stdin.
JWS_PAYLOAD='split(".")[1] | gsub("-";"+") | gsub("_";"/") | . + ("=" * ((4 - length % 4) % 4)) | @base64d | fromjson'
# The delivery payload of a record line under either proof profile: its own
# JWS's payload (jws), or the delivery beside its chunk proof (chunk, the
# gateway's default; `ura verify` checks the proof).
DELIVERY='(if .jws then (.jws | split(".")[1]) else .delivery end) | gsub("-";"+") | gsub("_";"/") | . + ("=" * ((4 - length % 4) % 4)) | @base64d | fromjson'

push_file() { # push_file MEMBER FILE → prints per-status counts
	call "$1" POST /v1/records -H 'Content-Type: application/x-ndjson' --data-binary "@$2"
	[[ $STATUS == 200 ]] || die "$1 push: HTTP $STATUS $BODY"
	printf '%s' "$BODY" | jq -r '[.results[].status] | group_by(.) | map("\(.[0]) \(length)") | join(", ")'
}

demo_push() {
	section "Institutions push their records (one policy decision per record)"
	local pair
	for pair in aim:AL_GOV_AIM mod:AL_GOV_MOD customs:AL_GOV_DPD; do
		printf '  %-11s %-30s → %s\n' "${pair#*:}" "deploy/dev/seed/${pair%%:*}.ndjson" \
			"$(push_file "${pair#*:}" "deploy/dev/seed/${pair%%:*}.ndjson")"
	done
	say "  (a second run answers \"unchanged\": same id, version and content)"
}

# deny MEMBER WHAT JSON — push one record that policy must refuse.
deny() {
	local who="$1" what="$2" rec="$3" line
	call "$who" POST /v1/records -H 'Content-Type: application/json' --data-binary "[$rec]"
	line="$(printf '%s' "$BODY" | jq -r '.results[0] | "\(.status): \([.reasons[]? | "\(.code) — \(.message)"] | join("; "))"')"
	[[ $line == denied* ]] || die "$who: $what was not denied: $BODY"
	printf '  %-11s %s\n              → %s\n' "$who" "$what" "$line"
}

demo_denials() {
	section "What policy refuses, and why"
	local seed_aim=deploy/dev/seed/aim.ndjson seed_dpd=deploy/dev/seed/customs.ndjson base
	base="$(jq -c 'select(.id=="DPD-EVT-2026-0004511")' "$seed_dpd")"
	deny AL_GOV_DPD "declares an export under the suspended licence AIM-LIC-2026-000127" \
		"$(printf '%s' "$base" | jq -c '.id="DPD-EVT-2026-0009001" | .event.licence_id="AIM-LIC-2026-000127" | .event.item.ml_category="ML13"')"
	base="$(jq -c 'select(.id=="DPD-EVT-2026-0004501")' "$seed_dpd")"
	deny AL_GOV_DPD "declares an export to SRB under a licence for HRV" \
		"$(printf '%s' "$base" | jq -c '.id="DPD-EVT-2026-0009002" | .event.to="SRB" | .label.releasable_to=["ALB"]')"
	base="$(jq -c 'select(.id=="AIM-LIC-2026-000123")' "$seed_aim")"
	deny AL_GOV_DPD "pushes a licence in AIM's name" \
		"$(printf '%s' "$base" | jq -c '.id="AIM-LIC-2026-009001"')"
	deny AL_GOV_AIM "issues a licence to the excluded Valona Brokerage sh.p.k." \
		"$(printf '%s' "$base" | jq -c '.id="AIM-LIC-2026-009002" | .licence.holder={"entity_id":"K72019384C","name":"Valona Brokerage sh.p.k."}')"
}

demo_views() {
	section "The same pull of licences, four institutions, four views"
	local who
	for who in AL_GOV_AIM AL_GOV_DPD IT_GOV_MOD NATO_ORG_LIAISON; do
		call "$who" GET "/v1/records?kind=licence" -H 'Accept: application/x-ndjson'
		[[ $STATUS == 200 ]] || die "$who pull: HTTP $STATUS"
		printf '  %-17s' "$who"
		printf '%s\n' "$BODY" | jq -rs --arg p "$JWS_PAYLOAD" '
			[.[] | select(.jws or .delivery) | '"$DELIVERY"' | select(.record)] as $d
			| "\($d | length) licences: \([$d[].record.id | sub("AIM-LIC-2026-";"")] | join(" "))"
			  + (if ([$d[].redactions[]] | length) > 0
			     then "; redacted: \([$d[].redactions[] | "\(.pointer) (\(.rule))"] | unique | join(", "))" else "; nothing redacted" end)'
	done
	say "  (Customs sees validity, holder and items, never contract values or contacts;"
	say "   Italy, a NATO ally, sees what is releasable to ITA or to NATO; the NATO liaison what is releasable to NATO)"
}

demo_trace() {
	section "Tracing one rifle by its marking (ALB / KAYO / K26-GR-000101): its history across institutions"
	call AL_GOV_AIM GET /v1/items/ALB/KAYO/K26-GR-000101/trace
	[[ $STATUS == 200 ]] || die "trace: HTTP $STATUS $BODY"
	printf '%s' "$BODY" | jq -r --arg p "$JWS_PAYLOAD" \
		'(.records // .events // [])[] | '"$DELIVERY"' | .record | "  \(.event.at)  \(.event.type | .[0:16] | . + " " * (16 - length))  \(.event.location // "")  by \(.label.originator)"'
}

demo_signed() {
	section "Signed answers, verified offline against the gateway's JWKS: Italy's pull, AIM's push answer"
	local dir="$URA_VAR/demo" it=IT_GOV_MOD
	mkdir -p "$dir"
	call "$it" GET "/v1/records" -H 'Accept: application/x-ndjson'
	printf '%s\n' "$BODY" >"$dir/it-pull.ndjson"
	call "$it" GET /.well-known/jwks.json
	printf '%s\n' "$BODY" >"$dir/jwks.json"
	say "  saved $(grep -c '"version"' "$dir/it-pull.ndjson") records to var/demo/it-pull.ndjson: chunk proof profile, one Vault signature"
	say "  per chunk of 256 over the Merkle root of its deliveries, each line with its inclusion path"
	"$URA" verify --jwks "$dir/jwks.json" "$dir/it-pull.ndjson" | tail -n 3 | sed 's/^/  /'
	call AL_GOV_AIM POST /v1/records -H 'Content-Type: application/x-ndjson' --data-binary @deploy/dev/seed/aim.ndjson
	[[ $STATUS == 200 ]] || die "AIM push: HTTP $STATUS $BODY"
	printf '%s\n' "$BODY" >"$dir/aim-push.json"
	say "  AIM keeps its push answer as proof (var/demo/aim-push.json): one signature over the Merkle root"
	say "  of its results, each result with its path; ura verify checks every result alone:"
	"$URA" verify --jwks "$dir/jwks.json" "$dir/aim-push.json" | tail -n 2 | sed 's/^/  /'
	say "  one line alone (ura verify --record): its chunk's signed root, its leaf hash, its path:"
	sed -n 1p "$dir/it-pull.ndjson" >"$dir/it-line.json"
	"$URA" verify --record --jwks "$dir/jwks.json" "$dir/it-line.json" | sed -n 1p | sed 's/^/  /'
	# Tamper: raise a quantity in the first record, keep its signature (jws)
	# or its proof (chunk).
	jq -c --arg p x 'if .delivery then .delivery |= (gsub("-";"+") | gsub("_";"/") | . + ("=" * ((4 - length % 4) % 4)) | @base64d | fromjson
		   | (.record.licence.items[0].quantity? // empty) |= . * 10 | (.record.event.item.quantity? // empty) |= . + 1
		   | .recipient = "IT/GOV/MOD " | tojson | @base64 | gsub("\\+";"-") | gsub("/";"_") | gsub("=";""))
		elif .jws then .jws |= (split(".") as $s
		| ($s[1] | gsub("-";"+") | gsub("_";"/") | . + ("=" * ((4 - length % 4) % 4)) | @base64d | fromjson
		   | (.record.licence.items[0].quantity? // empty) |= . * 10 | (.record.event.item.quantity? // empty) |= . + 1
		   | .recipient = "IT/GOV/MOD " | tojson | @base64 | gsub("\\+";"-") | gsub("/";"_") | gsub("=";"")) as $t
		| [$s[0], $t, $s[2]] | join(".")) else . end' "$dir/it-pull.ndjson" | sed -n 1p >"$dir/it-pull-tampered.ndjson"
	say "  a tampered copy (first record's payload changed, signature and proof kept):"
	if "$URA" verify --jwks "$dir/jwks.json" "$dir/it-pull-tampered.ndjson" >"$dir/verify-tampered.txt" 2>&1; then
		die "the tampered copy verified"
	fi
	grep -E "INVALID|invalid" "$dir/verify-tampered.txt" | sed -n 1,2p | sed "s/^/  /"
	# Tamper: drop the second record line and lower the trailer's plain count
	# to match. Every line left verifies on its own; the signed trailer does not.
	if (($(grep -c '"version"' "$dir/it-pull.ndjson") > 2)); then
		awk 'NR == 2 { next }
			/"next_cursor"/ && match($0, /"records":[0-9]+/) {
				n = substr($0, RSTART + 10, RLENGTH - 10)
				$0 = substr($0, 1, RSTART - 1) "\"records\":" (n - 1) substr($0, RSTART + RLENGTH)
			}
			{ print }' "$dir/it-pull.ndjson" >"$dir/it-pull-cut.ndjson"
		say "  a copy with one record line removed and the trailer's count edited:"
		if "$URA" verify --jwks "$dir/jwks.json" "$dir/it-pull-cut.ndjson" >"$dir/verify-cut.txt" 2>&1; then
			die "the copy with a line removed verified"
		fi
		grep -E "^trailer" "$dir/verify-cut.txt" | sed "s/^/  /"
	fi
}

demo_ratelimit() {
	section "Italy floods the gateway; its limit holds while AIM is unaffected"
	local rec i
	rec="$(jq -cn '{kind:"tracking_event",id:"IT-GOV-MOD-TR-2026-000001",version:1,
		label:{classification:"UNCLASSIFIED",releasable_to:["ALB","ITA"],originator:"IT/GOV/MOD",created:"2026-11-01T09:00:00Z"},
		event:{type:"TRACE_REQUEST",at:"2026-11-01T09:00:00Z",
		  item:{marking:{manufacturer:"KAYO",country:"ALB",serial:"K26-GR-000101",year:2026},ml_category:"ML1",att_category:"small_arms"},
		  from:"ITA",to:"ALB",trace:{request_id:"IT-TR-1",reason:"rifle seized at the port of Bari",
		    requesting_authority:"Carabinieri, Reparto Operativo di Bari"}}}')"
	for i in $(seq 1 40); do
		call IT_GOV_MOD POST /v1/records -H 'Content-Type: application/json' --data-binary "[$rec]" -D "$URA_VAR/demo/headers.txt"
		if [[ $STATUS == 429 ]]; then
			printf '  IT_GOV_MOD push #%d → 429 %s\n' "$i" "$(printf '%s' "$BODY" | jq -r .detail)"
			grep -iE '^(retry-after|ratelimit|ratelimit-policy):' "$URA_VAR/demo/headers.txt" | tr -d '\r' | sed 's/^/      /'
			break
		fi
	done
	[[ $STATUS == 429 ]] || die "the partner was never limited"
	call AL_GOV_AIM POST /v1/records -H 'Content-Type: application/x-ndjson' --data-binary @deploy/dev/seed/aim.ndjson
	printf '  AL_GOV_AIM push of %s records right after → HTTP %s\n' "$(wc -l <deploy/dev/seed/aim.ndjson)" "$STATUS"
	[[ $STATUS == 200 ]] || die "AIM was limited by Italy's flood"
}

demo_audit() {
	section "Security officer: the audit log of every decision"
	call AL_GOV_AUDIT GET "/v1/audit/events?decision=deny&limit=3"
	printf '%s' "$BODY" | jq -r '(.events // [])[] | "  seq \(.seq)  \(.member)  \(.action)  \(.record_id // "-")  \([.reasons[]?.code] | join(","))"'
	stop_pid "$PIDFILE" ura   # a clean stop writes the final checkpoint
	"$URA" audit summary --config "$CONFIG" | sed 's/^/  /'
	section "ura audit verify: the hash chain and every signed checkpoint"
	"$URA" audit verify --config "$CONFIG" --jwks "$URA_VAR/demo/jwks.json" | tail -n 3 | sed 's/^/  /'
	"$URA" audit export --config "$CONFIG" --out "$URA_VAR/demo/audit-export.ndjson" >/dev/null
	# Tamper with one event in an exported copy: turn a denial into an allow.
	awk 'BEGIN{d=0} !d && /"decision":"deny"/ {sub(/"decision":"deny"/, "\"decision\":\"allow\""); d=1} {print}' \
		"$URA_VAR/demo/audit-export.ndjson" >"$URA_VAR/demo/audit-tampered.ndjson"
	say "  a copy with one denial rewritten as an allow:"
	if "$URA" audit verify --file "$URA_VAR/demo/audit-tampered.ndjson" --jwks "$URA_VAR/demo/jwks.json" >"$URA_VAR/demo/audit-verify-tampered.txt" 2>&1; then
		die "the tampered audit export verified"
	fi
	tail -n 2 "$URA_VAR/demo/audit-verify-tampered.txt" | sed 's/^/  /'
}

# Two gateways: what AIM releases to Italy arrives at Italy's gateway as
# Italy may see it, what it may not see never leaves, and Italy's gateway
# relays its ministry's own licence to AIM's.
demo_federation() {
	section "Federation: Albania's gateway and Italy's (https://$ADDR_IT)"
	local id=AIM-LIC-2026-000124 conf
	await "$id at Italy's gateway" call_it IT_GOV_MOD GET "/v1/records/$id"
	printf '  %s (REL ALB, ITA, NATO) at Italy'"'"'s gateway, as IT/GOV/MOD pulls it there:\n' "$id"
	printf '%s' "$BODY" | jq -r "($DELIVERY | .record.licence.end_user) | \"    end user: \(.name), \(.country); contact: \(.contact // \"(removed)\")\""
	call AL_GOV_AUDIT GET "/v1/audit/events?record_id=$id&member=IT/GOV/URA"
	printf '%s' "$BODY" | jq -r '(.events // [])[] | select(.action=="forward") | "    AIM'"'"'s gateway: forward \(.decision) to \(.member), decision \(.decision_id), policy \(.policy_revision[:12])…, removed \(.redactions | map(if type == "object" then "\(.pointer) (\(.rule))" else . end) | join(","))"' | head -n1

	conf="$(jq -c 'select(.id=="AIM-LIC-2026-000124") | .id="AIM-LIC-2026-009124" | .label.classification="CONFIDENTIAL" | .label.releasable_to=["ALB","ITA"]' deploy/dev/seed/aim.ndjson)"
	call AL_GOV_AIM POST /v1/records -H 'Content-Type: application/json' --data-binary "[$conf]"
	[[ $STATUS == 200 ]] || die "AIM push of a CONFIDENTIAL licence: HTTP $STATUS $BODY"
	for _ in $(seq 1 100); do
		call AL_GOV_AUDIT GET "/v1/audit/events?record_id=AIM-LIC-2026-009124&decision=withhold"
		[[ $(printf '%s' "$BODY" | jq '(.events // []) | length') -gt 0 ]] && break
		sleep 0.1
	done
	printf '  AIM-LIC-2026-009124 (CONFIDENTIAL, REL ALB, ITA): %s\n' \
		"$(printf '%s' "$BODY" | jq -r '(.events // [])[0] | "forward \(.decision) to \(.member): \([.reasons[]?.code] | join(","))"')"
	call_it IT_GOV_MOD GET /v1/records/AIM-LIC-2026-009124
	printf '    at Italy'"'"'s gateway: HTTP %s (never sent)\n' "$STATUS"
	[[ $STATUS == 404 ]] || die "the CONFIDENTIAL licence reached Italy's gateway"

	local it
	it="$(jq -c '.id="IT-GOV-MOD-LIC-2026-000001" | .label.originator="IT/GOV/MOD" | .label.releasable_to=["ITA","ALB"]
		| .licence.origin="ITA" | .licence.destination="ALB" | .licence.issue_place="Roma"
		| .licence.end_user={"name":"Ministria e Mbrojtjes","country":"ALB","address":{"city":"Tiranë","country":"ALB"}}
		| del(.licence.conditions)' <<<"$(jq -c 'select(.id=="AIM-LIC-2026-000124")' deploy/dev/seed/aim.ndjson)")"
	call_it IT_GOV_MOD POST /v1/records -H 'Content-Type: application/json' --data-binary "[$it]"
	printf '  IT/GOV/MOD pushes IT-GOV-MOD-LIC-2026-000001 to Italy'"'"'s gateway → %s\n' "$(printf '%s' "$BODY" | jq -r '.results[0].status')"
	[[ $(printf '%s' "$BODY" | jq -r '.results[0].status') =~ ^(accepted|unchanged)$ ]] || die "Italy's push: $BODY"
	await "Italy's licence at AIM's gateway" call AL_GOV_AIM GET /v1/records/IT-GOV-MOD-LIC-2026-000001
	printf '    relayed to AIM'"'"'s gateway, stored in its originator'"'"'s name: %s\n' \
		"$(printf '%s' "$BODY" | jq -r "$DELIVERY | .record.label.originator")"

	# A trace across the two gateways: Italy's MoD asks, at its own gateway,
	# about a rifle marked in Albania; the request reaches AIM's gateway,
	# waits in AIM's open list, and AIM's answer (naming the requester)
	# comes back to Italy's gateway, where the MoD reads it.
	# Each run asks anew: the ids and the request time are this run's.
	local req ans n
	n="$(date -u +%s)"
	req="$(jq -cn --arg n "$n" --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '{kind:"tracking_event",id:("IT-GOV-MOD-TR-" + $n),version:1,
		label:{classification:"UNCLASSIFIED",releasable_to:["ALB","ITA"],originator:"IT/GOV/MOD",created:$at},
		event:{type:"TRACE_REQUEST",at:$at,
		  item:{marking:{manufacturer:"KAYO",country:"ALB",serial:"K26-GR-000101",year:2026},ml_category:"ML1",att_category:"small_arms"},
		  trace:{request_id:("IT-TR-" + $n),reason:"rifle seized at the port of Bari",
		    requesting_authority:"Carabinieri, Reparto Operativo di Bari"}}}')"
	call_it IT_GOV_MOD POST /v1/records -H 'Content-Type: application/json' --data-binary "[$req]"
	[[ $(printf '%s' "$BODY" | jq -r '.results[0].status') =~ ^(accepted|unchanged)$ ]] || die "Italy's trace request: $BODY"
	printf '  IT/GOV/MOD asks at Italy'"'"'s gateway about KAYO K26-GR-000101 (marked ALB): trace request IT-TR-%s\n' "$n"
	await "Italy's trace request at AIM's gateway" call AL_GOV_AIM GET "/v1/records/IT-GOV-MOD-TR-$n"
	call AL_GOV_AIM GET /v1/traces/open
	printf '%s' "$BODY" | jq -r --arg r "IT-TR-$n" '.open[] | select(.request_id==$r) | "    at AIM'"'"'s gateway, open: \(.request_id) from \(.requester) (\(.requesting_authority)), waiting \(.waiting_seconds) s"'
	ans="$(jq -c --arg n "$n" '.id=("AIM-EVT-TR-" + $n) | .label.originator="AL/GOV/AIM" | .event.type="TRACE_RESPONSE"
		| .event.trace={request_id:("IT-TR-" + $n),requester:"IT/GOV/MOD",
		    answer:"manufactured by KAYO at Gramsh in 2026; exported to ITA through Durres"}' <<<"$req")"
	call AL_GOV_AIM POST /v1/records -H 'Content-Type: application/json' --data-binary "[$ans]"
	[[ $(printf '%s' "$BODY" | jq -r '.results[0].status') =~ ^(accepted|unchanged)$ ]] || die "AIM's trace response: $BODY"
	await "AIM's answer at Italy's gateway" call_it IT_GOV_MOD GET "/v1/records/AIM-EVT-TR-$n"
	printf '    AIM answers; at Italy'"'"'s gateway IT/GOV/MOD reads: %s\n' \
		"$(printf '%s' "$BODY" | jq -r "$DELIVERY | .record.event.trace.answer")"
}

# authorise LICENCE: pushes, as AIM, the importing state's import
# authorisation and the end user's certificate that a small-arms export
# licence is issued against (Licence conditions), made to fit it, and
# prints the licence naming them.
authorise() {
	local lic="$1" docs
	docs="$(jq -c --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '
		(.id | sub("^AIM-LIC-"; "")) as $n
		| {classification:"RESTRICTED", releasable_to:["ALB"], originator:"AL/GOV/AIM", created:$at} as $lbl
		| {name:"Ministry of Defence", country:.licence.destination} as $authority
		| {kind:"import_authorisation", id:("AIM-IA-" + $n), version:1, label:$lbl,
		   import_authorisation:{reference:("IA-" + $n), issuing_authority:$authority, issued_on:"2026-04-20",
		     valid_from:"2026-04-20", valid_until:.licence.valid_until, destination:.licence.destination,
		     importer:.licence.end_user, end_user:.licence.end_user, items:.licence.items}},
		  {kind:"end_user_certificate", id:("AIM-EUC-" + $n), version:1, label:$lbl,
		   end_user_certificate:{certificate_number:("EUC-" + $n), issuing_authority:$authority, issued_on:"2026-04-20",
		     end_user:.licence.end_user, country:.licence.destination, items:.licence.items, no_reexport:true,
		     reexport_clause:"not to be re-exported without the prior written consent of the Republic of Albania",
		     licence_id:.id, valid_until:.licence.valid_until}}' <<<"$lic" | paste -sd, -)"
	call AL_GOV_AIM POST /v1/records -H 'Content-Type: application/json' --data-binary "[$docs]"
	[[ $(printf '%s' "$BODY" | jq -r '[.results[].status] | map(select(. != "accepted" and . != "unchanged")) | length') == 0 ]] ||
		die "the licence's import authorisation and certificate: $BODY"
	jq -c '(.id | sub("^AIM-LIC-"; "")) as $n | .licence.import_authorisation=("IA-" + $n) | .licence.end_user_certificate_id=("AIM-EUC-" + $n)' <<<"$lic"
}

# Denial notifications and consultations (Common Position 2008/944/CFSP
# art. 4): AIM's denial reaches Italy's gateway, a member state's; Italy's
# MoD notifies a denial through its gateway; AIM's licence for an
# essentially identical transaction waits for a consultation of Italy and
# goes once AIM records that it proceeds; Italy revokes its denial. Each
# run notifies anew (this run's ids) and ends by revoking what it notified.
demo_notifications() {
	section "Denials: notified to partners, consulted before an essentially identical licence"
	await "AIM's denial at Italy's gateway" call_it IT_GOV_MOD GET /v1/records/AIM-DEN-2026-0001
	printf '  AIM-DEN-2026-0001 (REL ALB, EU) at Italy'"'"'s gateway: %s\n' \
		"$(printf '%s' "$BODY" | jq -r "$DELIVERY | .record.denial | \"\(.denying_state) denied \(.goods[0].ml_category) to \(.destination), end user \(.end_user.name), criteria \(.criteria | map(tostring) | join(\",\"))\"")"

	local n den lic cons line
	n="$(date -u +%s)"
	den="$(jq -cn --arg n "$n" --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg d "$(date -u +%Y-%m-%d)" '{kind:"denial",id:("IT-GOV-MOD-DEN-" + $n),version:1,
		label:{classification:"RESTRICTED",releasable_to:["EU","ALB"],originator:"IT/GOV/MOD",created:$at},
		denial:{denying_state:"ITA",reference:("IT-DEN/" + $n),date:$d,criteria:[2,7],destination:"SRB",
		  end_user:{name:"Đorđević Trading d.o.o.",country:"SRB",address:{city:"Beograd",country:"SRB"}},
		  goods:[{ml_category:"ML1",description:"semi-automatic rifles, 7.62 mm",quantity:400,unit:"pieces"}],
		  reasons:"risk of diversion to an unauthorised end user",status:"active"}}')"
	call_it IT_GOV_MOD POST /v1/records -H 'Content-Type: application/json' --data-binary "[$den]"
	[[ $(printf '%s' "$BODY" | jq -r '.results[0].status') =~ ^(accepted|unchanged)$ ]] || die "Italy's denial: $BODY"
	printf '  IT/GOV/MOD notifies IT-GOV-MOD-DEN-%s (ML1 rifles to SRB, end user Đorđević Trading d.o.o.) at Italy'"'"'s gateway\n' "$n"
	await "Italy's denial at AIM's gateway" call AL_GOV_AIM GET "/v1/records/IT-GOV-MOD-DEN-$n"
	say "    relayed to AIM's gateway, on its register of denials"

	lic="$(jq -c --arg n "$n" '.id=("AIM-LIC-DEN-" + $n) | .version=1 | .label.releasable_to=["ALB"] | .licence.destination="SRB"
		| .licence.items=[{ml_category:"ML1",description:"semi-automatic rifles",quantity:200,unit:"pieces"}]
		| .licence.end_user={name:"Djordjevic Trading",country:"SRB"} | del(.licence.contract_value) | del(.licence.transit)' \
		<<<"$(jq -c 'select(.id=="AIM-LIC-2026-000123")' deploy/dev/seed/aim.ndjson)")"
	lic="$(authorise "$lic")"
	deny AL_GOV_AIM "issues AIM-LIC-DEN-$n: ML1 rifles to SRB for Djordjevic Trading" "$lic"

	# One consultation for every denial the refusal names (a run cut short
	# before its revocation leaves its denial in force for the next).
	local ids
	ids="$(printf '%s' "$BODY" | jq -c '[.results[0].reasons[] | select(.code=="consultation_required") | .message | capture("denial (?<id>[^ ,]+),").id] | unique')"
	cons="$(jq -c --arg n "$n" --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg d "$(date -u +%Y-%m-%d)" 'to_entries | map({kind:"consultation",
		id:("AIM-CONS-" + $n + (if .key == 0 then "" else "-\(.key)" end)),version:1,
		label:{classification:"RESTRICTED",releasable_to:["ALB","ITA"],originator:"AL/GOV/AIM",created:$at},
		consultation:{denial_id:.value,consulting_state:"ALB",denying_state:"ITA",licence_id:("AIM-LIC-DEN-" + $n),
		  request:{date:$d,text:"AIM considers an export of ML1 rifles to the end user of your denial; please share its grounds."},
		  answer:{date:$d,text:"The denial concerned another contract; Italy raises no objection."},outcome:"proceed"}}) | .[]' <<<"$ids" | paste -sd, -)"
	call AL_GOV_AIM POST /v1/records -H 'Content-Type: application/json' --data-binary "[$cons,$lic]"
	line="$(printf '%s' "$BODY" | jq -r '.results[-1].status')"
	printf '  AL_GOV_AIM  records its consultation of Italy on %s (outcome proceed), then the licence again → %s\n' "$(jq -r 'join(", ")' <<<"$ids")" "$line"
	[[ $line =~ ^(accepted|unchanged)$ ]] || die "the consultation did not unlock the licence: $BODY"
	await "AIM's consultation at Italy's gateway" call_it IT_GOV_MOD GET "/v1/records/AIM-CONS-$n"
	say "    the consultation reaches Italy's gateway"

	den="$(jq -c --arg d "$(date -u +%Y-%m-%d)" '.version=2 | .denial.status="revoked" | .denial.revoked_on=$d' <<<"$den")"
	call_it IT_GOV_MOD POST /v1/records -H 'Content-Type: application/json' --data-binary "[$den]"
	[[ $(printf '%s' "$BODY" | jq -r '.results[0].status') =~ ^(accepted|unchanged)$ ]] || die "Italy's revocation: $BODY"
	printf '  IT/GOV/MOD revokes IT-GOV-MOD-DEN-%s (version 2, status revoked): it no longer holds any licence\n' "$n"

	lic="$(jq -c '.licence.consignee={name:"Northwind Munitions Trading",country:"CYP"}' <<<"$lic")"
	lic="$(jq -c --arg n "$n" '.id=("AIM-LIC-SAN-" + $n) | .licence.destination="MNE" | .licence.end_user.country="MNE"' <<<"$lic")"
	lic="$(authorise "$lic")"
	deny AL_GOV_AIM "issues AIM-LIC-SAN-$n, consignee Northwind Munitions Trading (CYP)" "$lic"
}

# ---- Two-person release authority ------------------------------------------
# A CONFIDENTIAL licence for Albania only: Italy's MoD (cleared CONFIDENTIAL)
# is refused it only because its nation is not on the label, which officers
# may release. AIM asks; two security officers, each with their own
# certificate, approve; Italy's MoD then receives that version, its signed
# delivery carrying both approvals, and nobody else does.
demo_release() {
	section "Release authority: a human decision beside the policy's (/v1/releases)"
	if [[ ! -f $PKI/clients/AL_GOV_AUDIT2.crt ]]; then
		"$URA" certs issue --member AL/GOV/AUDIT2 --dir "$PKI" --out "$PKI/clients/AL_GOV_AUDIT2" >/dev/null
		say "  issued the second officer's certificate: var/pki/clients/AL_GOV_AUDIT2.crt"
	fi
	local n id lic rel
	n="$(date -u +%s)"
	id="AIM-LIC-REL-$n"
	lic="$(jq -c --arg id "$id" 'select(.id=="AIM-LIC-2026-000124") | .id=$id | .version=1
		| .label.classification="CONFIDENTIAL" | .label.releasable_to=["ALB"]' deploy/dev/seed/aim.ndjson)"
	call AL_GOV_AIM POST /v1/records -H 'Content-Type: application/json' --data-binary "[$lic]"
	[[ $(printf '%s' "$BODY" | jq -r '.results[0].status') == accepted ]] || die "AIM's CONFIDENTIAL licence: $BODY"
	call IT_GOV_MOD GET "/v1/records/$id"
	printf '  %s (CONFIDENTIAL, REL ALB): IT/GOV/MOD gets HTTP %s\n' "$id" "$STATUS"
	[[ $STATUS == 404 ]] || die "released before any approval"

	call AL_GOV_AIM POST /v1/releases -H 'Content-Type: application/json' --data-binary \
		"$(jq -cn --arg id "$id" '{record_id:$id,version:1,recipient:"IT/GOV/MOD",justification:"Italy'"'"'s end-use check of the transfer"}')"
	[[ $STATUS == 201 ]] || die "release request: HTTP $STATUS $BODY"
	rel="$(printf '%s' "$BODY" | jq -r .id)"
	printf '  AIM requests its release to IT/GOV/MOD → %s, %s until %s\n' "$rel" "$(printf '%s' "$BODY" | jq -r .status)" "$(printf '%s' "$BODY" | jq -r .expires_at)"
	call AL_GOV_AUDIT POST "/v1/releases/$rel/approve"
	printf '  AL/GOV/AUDIT approves → HTTP %s, %s (%s approval)\n' "$STATUS" "$(printf '%s' "$BODY" | jq -r .status)" "$(printf '%s' "$BODY" | jq '.approvals | length')"
	call AL_GOV_AUDIT POST "/v1/releases/$rel/approve"
	printf '  AL/GOV/AUDIT approves again → HTTP %s: %s\n' "$STATUS" "$(printf '%s' "$BODY" | jq -r .detail)"
	[[ $STATUS == 409 ]] || die "the same officer approved twice"
	call AL_GOV_AUDIT2 POST "/v1/releases/$rel/approve"
	[[ $STATUS == 200 ]] || die "second approval: HTTP $STATUS $BODY"
	printf '  AL/GOV/AUDIT2 approves → %s\n' "$(printf '%s' "$BODY" | jq -r .status)"

	call IT_GOV_MOD GET "/v1/records/$id"
	[[ $STATUS == 200 ]] || die "the recipient did not receive the released licence: HTTP $STATUS $BODY"
	printf '  IT/GOV/MOD now gets HTTP %s; its signed delivery says:\n' "$STATUS"
	printf '%s' "$BODY" | jq -r "$DELIVERY"' | "    recipient \(.recipient), release \(.release.id) of \(.release.record_id) v\(.release.version), until \(.release.expires_at)",
		(.release.approvals[] | "    approved by \(.officer) at \(.at)"), "    end user contact: \(.record.licence.end_user.contact // "(removed)")"'
	call NATO_ORG_LIAISON GET "/v1/records/$id"
	printf '  NATO/ORG/LIAISON (not the named recipient) gets HTTP %s, as for a missing record\n' "$STATUS"
	[[ $STATUS == 404 ]] || die "a member other than the recipient received the release"
	call AL_GOV_AUDIT GET "/v1/audit/events?record_id=$id&limit=20"
	say "  the audit log of $id:"
	printf '%s' "$BODY" | jq -r '(.events // [])[] | select(.action|test("^release|^pull")) | "    seq \(.seq)  \(.member)  \(.action)  \(.decision)  \([.reasons[]?.code] | join(","))"'
}

# Labels and review dates: a licence marked in Albania's policy reaches
# Italy in Italy's, with every translation in the signed delivery and the
# label in its protected header; a licence past its review date is withheld
# from Italy exactly as a missing one, and its originator sees what is due.
demo_reviews() {
	section "Labels in a national policy, and review dates"
	call AL_GOV_AIM GET /v1/reviews
	[[ $STATUS == 200 ]] || die "reviews: HTTP $STATUS $BODY"
	say "  AIM's records due for review (GET /v1/reviews, due before $(printf '%s' "$BODY" | jq -r .due_before)):"
	printf '%s' "$BODY" | jq -r '.reviews[] | "    \(.review)  \(if .overdue then "OVERDUE \(0 - .days) day(s)" else "due in \(.days) day(s)" end)  \(.id) v\(.version)  \(.classification) (\(.policy_id))"'
	# Under the jws proof profile the record's own JWS carries its label in
	# the protected header; Accept's profile asks for it.
	call IT_GOV_MOD GET /v1/records/AIM-LIC-2026-000129 -H 'Accept: application/json; profile="urn:ura:proof:jws"'
	[[ $STATUS == 200 ]] || die "Italy's get of AIM-LIC-2026-000129: HTTP $STATUS $BODY"
	say "  AIM-LIC-2026-000129, marked I KUFIZUAR under Albania's policy, as IT/GOV/MOD receives it:"
	printf '%s' "$BODY" | jq -r "$DELIVERY"' | "    label: \(.record.label.classification) (\(.record.label.policy_id))", (.translations[] | "    translated \(.from.classification) (\(.from.policy_id)) → \(.to.classification) (\(.to.policy_id)) by \(.rule)")'
	printf '    protected header label: %s\n' "$(printf '%s' "$BODY" | jq -r '.jws | split(".")[0] | gsub("-";"+") | gsub("_";"/") | . + ("=" * ((4 - length % 4) % 4)) | @base64d | fromjson | .label | "\(.classification) (\(.policy_id))"')"
	call IT_GOV_MOD GET /v1/records/AIM-LIC-2026-000128
	local overdue="$STATUS" missing
	call IT_GOV_MOD GET /v1/records/AIM-LIC-2026-000999
	missing="$STATUS"
	printf '  AIM-LIC-2026-000128 (review date 2026-09-30, past) for IT/GOV/MOD: HTTP %s; a licence that does not exist: HTTP %s\n' "$overdue" "$missing"
	[[ $overdue == 404 && $missing == 404 ]] || die "the overdue licence reached Italy"
	call AL_GOV_AUDIT GET "/v1/audit/events?record_id=AIM-LIC-2026-000128&member=IT/GOV/MOD&decision=withhold&limit=1"
	printf '%s' "$BODY" | jq -r '(.events // [])[] | "    audit: seq \(.seq) \(.action) \(.decision) to \(.member): \([.reasons[]?.code] | join(","))"'
}

# ---- ATT annual report (gateway/report) ----------------------------------
# The national authority's Arms Trade Treaty report of 2026, built from the
# register the demo pushed: its table printed, its PDF and signed JSON saved
# to var/demo/, the signature checked offline; a partner is refused.
demo_report() {
	section "Arms Trade Treaty annual report 2026 (GET /v1/reports/att)"
	local dir="$URA_VAR/demo"
	mkdir -p "$dir"
	call AL_GOV_AIM GET '/v1/reports/att?year=2026&format=text'
	[[ $STATUS == 200 ]] || die "ATT report: HTTP $STATUS $BODY"
	printf '%s\n' "$BODY" | sed 's/^/  /'
	curl -sS --fail --cacert "$PKI/ca.crt" --cert "$PKI/clients/AL_GOV_AIM.crt" --key "$PKI/clients/AL_GOV_AIM.key" \
		-o "$dir/att-2026.pdf" "https://$ADDR/v1/reports/att?year=2026&format=pdf"
	say "  PDF (title page, export and import tables, regional table, a chart per category): var/demo/att-2026.pdf"
	call AL_GOV_AUDIT GET '/v1/reports/att?year=2026'
	[[ $STATUS == 200 ]] || die "ATT report as JSON: HTTP $STATUS"
	printf '%s\n' "$BODY" >"$dir/att-2026.json"
	call AL_GOV_AIM GET /.well-known/jwks.json
	printf '%s\n' "$BODY" >"$dir/jwks.json"
	"$URA" verify --jwks "$dir/jwks.json" "$dir/att-2026.json" | sed 's/^/  /'
	call IT_GOV_MOD GET '/v1/reports/att?year=2026'
	printf '  IT/GOV/MOD (partner) asks for the report → HTTP %s\n' "$STATUS"
	[[ $STATUS == 403 ]] || die "a partner was given the ATT report"
}

# Licence conditions: an export licence for small arms and light weapons is
# issued only against the importing state's import authorisation, the
# transit states' non-objections and the end user's certificate (Firearms
# Protocol art. 10(2), ATT art. 8 and 9); a brokered export needs a
# registered broker with a brokering licence covering it (art. 15).
demo_conditions() {
	section "Licence conditions: import and transit authorisations, end-user certificates, brokering"
	local seed_aim=deploy/dev/seed/aim.ndjson seed_dpd=deploy/dev/seed/customs.ndjson base ia lic status n
	# Each run issues a licence of its own, against an authorisation of its own.
	n="$(date -u +%s)"
	base="$(jq -c 'select(.id=="AIM-LIC-2026-000130")' "$seed_aim")"
	lic="$(printf '%s' "$base" | jq -c --arg n "$n" '.id=("AIM-LIC-D-" + $n) | .licence.import_authorisation=("MK-MO-UD-" + $n)')"
	deny AL_GOV_AIM "issues AIM-LIC-D-$n (300 pistols to MKD) before North Macedonia's import authorisation MK-MO-UD-$n is on the register" "$lic"
	ia="$(jq -c --arg n "$n" 'select(.id=="AIM-IA-2026-0130") | .id=("AIM-IA-D-" + $n) | .import_authorisation.reference=("MK-MO-UD-" + $n)' "$seed_aim")"
	call AL_GOV_AIM POST /v1/records -H 'Content-Type: application/x-ndjson' --data-binary "$(printf '%s\n%s\n' "$ia" "$lic")"
	[[ $STATUS == 200 ]] || die "AIM push of the import authorisation and the licence: HTTP $STATUS $BODY"
	status="$(printf '%s' "$BODY" | jq -r '[.results[] | "\(.id) \(.status)"] | join(", ")')"
	[[ $(printf '%s' "$BODY" | jq -r '.results[1].status') =~ ^(accepted|unchanged)$ ]] || die "the licence was not issued with its import authorisation: $BODY"
	printf '  AL_GOV_AIM  pushes the import authorisation, then the licence again\n              → %s\n' "$status"

	deny AL_GOV_AIM "issues a licence whose end user is not the one on its end-user certificate AIM-EUC-2026-0130" \
		"$(printf '%s' "$base" | jq -c '.id="AIM-LIC-2026-009131" | .licence.end_user={"name":"Ministry of Interior of North Macedonia","country":"MKD"}')"

	local decl
	decl="$(jq -c 'select(.id=="DPD-EVT-2026-0004701")' "$seed_dpd")"
	deny AL_GOV_DPD "declares the brokered pistols through BIH, a state licence AIM-LIC-2026-000132 does not list" \
		"$(printf '%s' "$decl" | jq -c '.id="DPD-EVT-2026-0009601" | .event.transit=["MNE","BIH"]')"
	deny AL_GOV_DPD "declares them brokered by the excluded Valona Brokerage sh.p.k." \
		"$(printf '%s' "$decl" | jq -c '.id="DPD-EVT-2026-0009602" | .event.broker={"entity_id":"K72019384C","name":"Valona Brokerage sh.p.k.","brokering_licence_id":"AIM-BRL-2026-0011"}')"

	say "  A brokered export: licence AIM-LIC-2026-000132, brokered by Shqiponja Defence Trading under AIM-BRL-2026-0011;"
	say "  the trace of one pistol (ALB / KAYO / K26-K9-000501) shows its declaration and the brokering licence:"
	call AL_GOV_AIM GET /v1/items/ALB/KAYO/K26-K9-000501/trace
	[[ $STATUS == 200 ]] || die "trace: HTTP $STATUS $BODY"
	printf '%s' "$BODY" | jq -r '.events[] | '"$DELIVERY"' | .record | "    \(.event.at)  \(.event.type)  \(if .event.broker then "broker \(.event.broker.name) (\(.event.broker.brokering_licence_id)), via \(.event.transit // [] | join(","))" else (.event.location // "") end)"'
	printf '%s' "$BODY" | jq -r '.brokering[] | '"$DELIVERY"' | .record | "    brokering licence \(.id): \(.brokering_licence.broker.name), \([.brokering_licence.items[] | "\(.quantity) \(.ml_category)"] | join(", ")) to \(.brokering_licence.destination), \(.brokering_licence.status) until \(.brokering_licence.valid_until)"'
	[[ $(printf '%s' "$BODY" | jq '.brokering | length') -ge 1 ]] || die "the trace shows no brokering licence: $BODY"
}

# ---- Item states, delivery verification and customs usage -----------------
# (gateway/ARCHITECTURE.md, "Item states", "Deliveries", "Customs usage"):
# customs declares the export of a Gramsh rifle that the seed reports
# stolen, and is refused; the exports whose delivery the importing state
# has not confirmed after deliveries.confirm_within_days are listed for the
# agency; customs returns usage against a licence as one idempotent batch.
demo_items() {
	section "Item states, unconfirmed deliveries and customs usage"
	local exp
	exp="$(jq -c 'select(.id=="DPD-EVT-2026-0004501") | .id="DPD-EVT-2026-0004599"
		| .event.item.marking.serial="K26-GR-000104" | .event.customs_declaration="EX-2026-004599"' deploy/dev/seed/customs.ndjson)"
	call AL_GOV_DPD POST /v1/records -H 'Content-Type: application/json' --data-binary "[$exp]"
	[[ $STATUS == 200 ]] || die "customs push: HTTP $STATUS $BODY"
	printf '  AL/GOV/DPD declares the export of KAYO K26-GR-000104 (reported STOLEN on 2026-10-02) → %s\n' \
		"$(printf '%s' "$BODY" | jq -r '.results[0] | "\(.status): \([.reasons[]? | "\(.code) (\(.message))"] | join("; "))"')"
	[[ $(printf '%s' "$BODY" | jq -r '.results[0].status') == denied ]] || die "the stolen rifle's export was not refused: $BODY"

	call AL_GOV_AIM GET /v1/deliveries/unconfirmed
	[[ $STATUS == 200 ]] || die "unconfirmed deliveries: HTTP $STATUS $BODY"
	printf '  exports with no DELIVERY_CONFIRMED after %s days, as AIM lists them:\n' "$(printf '%s' "$BODY" | jq -r '.confirm_within_days')"
	printf '%s' "$BODY" | jq -r '.unconfirmed[] | "    \(.customs_declaration) \(.id): \(.quantity) \(.ml_category) to \(.to) under \(.licence_id), declared \(.declared[:10]), waiting \(.waiting_seconds / 86400 | floor) days"'
	[[ $(printf '%s' "$BODY" | jq '.unconfirmed | length') -gt 0 ]] || say "    (none overdue yet: the seed's exports are younger than the configured days)"
	call IT_GOV_MOD GET /v1/deliveries/unconfirmed
	printf '    IT/GOV/MOD asks for the same list: HTTP %s\n' "$STATUS"

	local batch='{"lines":[{"licence_id":"AIM-LIC-2026-000125","ml_category":"ML1","quantity":3,"declaration":"EX-2026-004561","date":"2026-10-13"},
		{"licence_id":"AIM-LIC-2026-000127","ml_category":"ML1","quantity":1,"declaration":"EX-2026-004562","date":"2026-10-13"}]}'
	local i
	for i in 1 2; do
		call AL_GOV_DPD POST /v1/licences/usage -H 'Content-Type: application/json' -H 'Idempotency-Key: DPD-USE-2026-10-13-01' --data-binary "$batch"
		[[ $STATUS == 200 ]] || die "usage batch: HTTP $STATUS $BODY"
		printf '  customs usage batch DPD-USE-2026-10-13-01 (sent %s): applied %s, rejected %s, replayed %s\n' "$i" \
			"$(printf '%s' "$BODY" | jq -c '.applied')" "$(printf '%s' "$BODY" | jq -r '[.rejected[] | "line \(.line): \(.code)"] | join(", ")')" \
			"$(printf '%s' "$BODY" | jq -r '.replayed')"
	done
	call AL_GOV_AIM GET /v1/licences/AIM-LIC-2026-000125/usage
	printf '%s' "$BODY" | jq -r '.categories[] | "    AIM-LIC-2026-000125 \(.ml_category): licensed \(.licensed), used \(.used), remaining \(.remaining)"'
}

trap stop_gateway EXIT
start_gateway
demo_identity
demo_push
demo_federation
demo_denials
demo_views
demo_trace
demo_conditions
demo_signed
demo_notifications
demo_ratelimit
demo_release
demo_reviews
demo_report
demo_items
demo_audit
section "Done: every step above went through mTLS, Redis, OPA, Vault and the audit log"
