#!/usr/bin/env bash
# The partner quick-start of README.md ("Partner quick-start"), command for
# command: every command line of that section appears here, in the same
# order (TestQuickstart checks it, then runs this script against a real
# gateway), with checks of what each answered in between. Run from the
# repository root against make demo's gateway (URA_DEMO_KEEP=1 make demo):
#
#   bash deploy/partnerclient/quickstart.sh
#
# URA_URL and PKI name another gateway and its PKI, OUT where the files go.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
check() { "$@" || { echo "quickstart: check failed: $*" >&2; exit 1; }; }

export PATH=$PATH:$PWD/var/bin
: "${URA_URL:=https://127.0.0.1:8443}" "${PKI:=var/pki}" "${OUT:=var/partner}"
tls=(--cacert "$PKI/ca.crt" --cert "$PKI/clients/IT_GOV_MOD.crt" --key "$PKI/clients/IT_GOV_MOD.key")
mkdir -p "$OUT"

curl -sS "${tls[@]}" "$URA_URL/v1/whoami" | tee "$OUT/whoami.json"; echo
check grep -q '"member":"IT/GOV/MOD"' "$OUT/whoami.json"
if curl -sS --cacert "$PKI/ca.crt" "$URA_URL/v1/whoami"; then echo "no certificate, yet served" >&2; exit 1; fi

curl -sS "${tls[@]}" -o "$OUT/jwks.json" "$URA_URL/.well-known/jwks.json"
curl -sS "${tls[@]}" -o "$OUT/openapi.json" "$URA_URL/v1/openapi.json"
check jq -e '.keys | length > 0' "$OUT/jwks.json" >/dev/null
check jq -e '.openapi == "3.1.0"' "$OUT/openapi.json" >/dev/null

curl -sS "${tls[@]}" -H 'Content-Type: application/json' \
  --data-binary @deploy/partnerclient/trace-request.json -o "$OUT/push.json" "$URA_URL/v1/records"
jq -c '.results[] | {id, status, digest, audit_seq}' "$OUT/push.json"
ura verify --jwks "$OUT/jwks.json" "$OUT/push.json"
check jq -e '.results[0].status | test("^(accepted|unchanged)$")' "$OUT/push.json" >/dev/null

curl -sS "${tls[@]}" -H 'Accept: application/x-ndjson' -o "$OUT/pull.ndjson" "$URA_URL/v1/records?kind=licence"
tail -n 1 "$OUT/pull.ndjson" | jq -c '{records, complete, digest}'
head -n -1 "$OUT/pull.ndjson" | sha256sum
check test "$(tail -n 1 "$OUT/pull.ndjson" | jq -r .records)" -gt 0
check test "sha256:$(head -n -1 "$OUT/pull.ndjson" | sha256sum | cut -d' ' -f1)" = "$(tail -n 1 "$OUT/pull.ndjson" | jq -r .digest)"

ura verify --jwks "$OUT/jwks.json" "$OUT/pull.ndjson"
node deploy/jose-verify/verify.mjs --pull "$OUT/jwks.json" < "$OUT/pull.ndjson" | jq -c '{line, valid, typ, kid}'

sed 1d "$OUT/pull.ndjson" > "$OUT/cut.ndjson"
if ura verify --jwks "$OUT/jwks.json" "$OUT/cut.ndjson"; then echo "a cut pull verified" >&2; exit 1; fi
if node deploy/jose-verify/verify.mjs --pull "$OUT/jwks.json" < "$OUT/cut.ndjson" >/dev/null; then echo "a cut pull verified" >&2; exit 1; fi

curl -sS "${tls[@]}" -w '\n%{http_code} %{content_type}\n' "$URA_URL/v1/audit/events" | tee "$OUT/refusal.txt"
check grep -q '"type":"urn:ura:problem:forbidden"' "$OUT/refusal.txt"
check grep -q '^403 application/problem+json$' "$OUT/refusal.txt"
