#!/usr/bin/env bash
# Per-record policy, shown on a running gateway: AIM and Customs push
# licensing and tracking records, then AIM, Customs, the Italian partner and
# the NATO liaison pull the same records and each receives a different view;
# an export over the licensed quantity is denied with its reason, and
# `ura policy eval` explains that denial. Sourced by demo.sh, which defines
# call, section, say, die, URA, CONFIG and ADDR.

POLICY_DEMO="$URA_ROOT/deploy/dev/policy-demo"

# jws_payload JWS — the payload of a compact JWS, as JSON.
jws_payload() {
	local p
	p="$(printf '%s' "$1" | cut -d. -f2 | tr '_-' '/+')"
	while (($(printf '%s' "$p" | wc -c) % 4)); do p="$p="; done
	printf '%s' "$p" | base64 -d
}

# policy_push MEMBER_FILE FILE — push a batch and print one line per record.
policy_push() {
	call "$1" POST /v1/records -H 'Content-Type: application/json' --data-binary "@$2"
	[[ $STATUS == 200 ]] || die "$1 push: HTTP $STATUS $BODY"
	printf '%s' "$BODY" | jq -r '.results[] |
		"  \(.id | . + " " * (24 - length)) \(.status)" +
		(if (.reasons // []) | length > 0 then ": " + ([.reasons[] | "\(.code) — \(.message)"] | join("; ")) else "" end)'
}

# policy_view MEMBER_FILE — pull everything and show what arrived.
policy_view() {
	local who="$1" jws payload
	call "$who" GET '/v1/records?limit=100'
	[[ $STATUS == 200 ]] || die "$who pull: HTTP $STATUS $BODY"
	printf '  %s receives %s record(s):\n' "$who" "$(printf '%s' "$BODY" | jq '.records | length')"
	while read -r jws; do
		[[ -n $jws ]] || continue
		payload="$(jws_payload "$jws")"
		printf '%s' "$payload" | jq -r '
			.record as $r |
			"    \($r.id | . + " " * (24 - length)) \($r.kind)" +
			(if $r.kind == "licence" then
				" · valid until \($r.licence.valid_until), \($r.licence.items | length) item lines, contract value " +
				(if $r.licence.contract_value then "\($r.licence.contract_value.amount) \($r.licence.contract_value.currency)" else "—" end) +
				", end-user contact " + (if $r.licence.end_user.contact then $r.licence.end_user.contact.email else "—" end)
			elif $r.kind == "tracking_event" then " · \($r.event.type)" + (if $r.event.to then " \($r.event.from) → \($r.event.to)" else "" end)
			else "" end) +
			(if (.redactions | length) > 0 then "  [redacted: \(.redactions | join(", "))]" else "" end)'
	done < <(printf '%s' "$BODY" | jq -r '.records[].jws')
}

demo_policy() {
	section "Per-record policy: AIM and Customs push"
	call AL_GOV_AIM GET /v1/policy
	say "  policy revision $(printf '%s' "$BODY" | jq -r '.active.revision') ($(printf '%s' "$BODY" | jq -r '.active.source'))"
	say "  AIM (agency): registers, a licence for 500 rifles to Czechia, two marking events"
	policy_push AL_GOV_AIM "$POLICY_DEMO/aim.json"
	say "  Customs: three export declarations against the licence"
	policy_push AL_GOV_DPD "$POLICY_DEMO/customs.json"

	section "The same pull, four views"
	for who in AL_GOV_AIM AL_GOV_DPD IT_GOV_MOD NATO_ORG_LIAISON; do
		policy_view "$who"
	done

	section "Why was DPD-EVT-2026-9000002 denied? (ura policy eval)"
	local regs
	regs="$(mktemp)"
	jq -s '[.[0][] | select(.kind == "licence")] + [.[1][0]]' "$POLICY_DEMO/aim.json" "$POLICY_DEMO/customs.json" >"$regs"
	jq '.[1]' "$POLICY_DEMO/customs.json" >"$regs.record"
	"$URA" policy eval --config "$CONFIG" --member AL/GOV/DPD --action push \
		--record "$regs.record" --registers "$regs" | jq '{allow, reasons, decision_id, revision}'
	rm -f "$regs" "$regs.record"
	say "  policy decisions so far:"
	curl -s http://${URA_OPS_ADDR:-127.0.0.1:9443}/metrics | grep '^ura_policy_decisions_total' | sed 's/^/    /'
}
