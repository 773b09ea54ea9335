#!/usr/bin/env bash
# The security officer's end of the demo, against a running gateway (started
# by demo.sh): search the denials over the API, fetch the published signed
# checkpoints and the JWKS, print the audit summary, verify the log — then
# verify a tampered copy, which must fail. Run from demo.sh after the
# exchanges, or on its own while `URA_DEMO_KEEP=1 make demo` left ura running.
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$URA_ROOT"

URA="$URA_VAR/bin/ura"
PKI="$URA_VAR/pki"
ADDR="${URA_DEMO_ADDR:-127.0.0.1:8443}"
AUDIT_DIR="$URA_VAR/audit"
OUT="$URA_VAR/demo"
mkdir -p "$OUT"

[[ -x $URA ]] || die "build first: make build"
[[ -d $AUDIT_DIR ]] || die "no audit log in ${AUDIT_DIR#$URA_ROOT/}: is the gateway running with deploy/dev/ura.yaml?"

section() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# officer PATH OUTFILE — GET as the security officer (AL/GOV/AUDIT).
officer() {
	curl -sS --fail-with-body --cacert "$PKI/ca.crt" --cert "$PKI/clients/AL_GOV_AUDIT.crt" \
		--key "$PKI/clients/AL_GOV_AUDIT.key" -o "$2" "https://$ADDR$1"
}

section "Security officer: the latest denials, as the audit API answers them"
officer "/v1/audit/events?decision=deny&limit=5" "$OUT/denials.json"
jq -r '.events[] | "  seq \(.seq)  \(.time)  \(.member)  \(.action)  \(.record_id // "-")  \([.reasons[]?.code] | join(","))"' "$OUT/denials.json"

# Checkpoints are signed every few seconds in the dev configuration; wait for
# one so that the verification below has a signed head to hold the log to.
for _ in $(seq 1 40); do
	officer "/v1/audit/checkpoints" "$OUT/audit-checkpoints.json"
	[[ $(jq '.checkpoints | length' "$OUT/audit-checkpoints.json") -gt 0 ]] && break
	sleep 0.5
done
officer "/.well-known/jwks.json" "$OUT/jwks.json"
say "  published checkpoints: $(jq '.checkpoints | length' "$OUT/audit-checkpoints.json"), head at seq $(jq .head.count "$OUT/audit-checkpoints.json")"

section "Audit summary"
"$URA" audit summary --dir "$AUDIT_DIR"

section "ura audit verify: the live log, against the published checkpoints and keys"
"$URA" audit verify --dir "$AUDIT_DIR" --jwks "$OUT/jwks.json" --checkpoints "$OUT/audit-checkpoints.json"

section "ura audit verify: a copy in which one denial was turned into an allow"
rm -rf "$OUT/audit-tampered"
cp -r "$AUDIT_DIR" "$OUT/audit-tampered"
rm -f "$OUT/audit-tampered/LOCK"
seg="$(grep -l '"decision":"deny"' "$OUT/audit-tampered"/*.log | head -n1)"
[[ -n $seg ]] || die "no denial in the audit log to tamper with"
sed -i '0,/"decision":"deny"/s//"decision":"allow"/' "$seg"
if "$URA" audit verify --dir "$OUT/audit-tampered" --jwks "$OUT/jwks.json" --checkpoints "$OUT/audit-checkpoints.json"; then
	die "the tampered copy verified: the audit log is not tamper-evident"
fi
say "  the tampered copy was refused, as it must be (exit status 1)"
