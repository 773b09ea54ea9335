#!/usr/bin/env bash
# Measures `ura serve` for the chart's resource requests: resident memory and
# CPU at rest, then under a few hundred pushes and pulls over mutual TLS
# (deploy/bench/cmd/footprint). Uses the development stack's Redis and Vault
# (make up; source var/dev/stack.env) and its own PKI, store and audit log
# under var/footprint. The gateway listens on 127.0.0.1:9631 (ops 9641) and is
# stopped by its PID when the script ends.
#
#   bash deploy/helm/measure.sh [footprint flags, e.g. -pushes 400 -pulls 400]
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../dev/lib.sh"
cd "$URA_ROOT"

ADDR=127.0.0.1:9631
OPS=127.0.0.1:9641
dir="$URA_VAR/footprint"
: "${URA_REDIS_ADDR:?source var/dev/stack.env first}" "${URA_VAULT_ADDR:?}" "${URA_VAULT_TOKEN:?}"
for a in "$ADDR" "$OPS"; do
	port_in_use "${a%:*}" "${a#*:}" && die "$a is taken"
done

rm -rf "$dir" && mkdir -p "$dir/bin"
go build -o "$dir/bin/ura" ./cmd/ura
go build -o "$dir/bin/footprint" ./deploy/bench/cmd/footprint
"$dir/bin/ura" certs init --dir "$dir/pki" >/dev/null

# Redis and Vault come from URA_REDIS_* and URA_VAULT_* (stack.env).
cat >"$dir/ura.yaml" <<YAML
development: true
listen: $ADDR
ops_listen: $OPS
tls:
  cert_file: pki/server.crt
  key_file: pki/server.key
  client_cas:
    - name: al-dev-root
      cert_file: pki/ca.crt
      prefixes: ["AL/"]
  crl_state_file: data/crl-numbers.json
members:
  - {id: AL/GOV/AIM, name: Defence Industry Agency, nation: ALB, kind: agency, clearance: SECRET, roles: [licensing, registers, marking]}
  - {id: AL/GOV/DPD, name: Customs, nation: ALB, kind: customs, clearance: RESTRICTED, roles: [declarations]}
redis:
  addrs: ["127.0.0.1:1"]
ratelimit:
  members:
    AL/GOV/AIM: {push: {rate: 1000000, burst: 100000, period: 1m}}
    AL/GOV/DPD: {pull: {rate: 1000000, burst: 100000, period: 1m}}
vault:
  addr: http://127.0.0.1:1
sign:
  mode: transit
  key: ura-signing
  algorithm: ed25519
  issuer: ura.footprint.test
store:
  driver: embedded
  path: data/ura.db
audit:
  driver: file
  dir: audit
log:
  level: warn
YAML

"$dir/bin/ura" serve --config "$dir/ura.yaml" >"$dir/ura.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
	curl -fsS "http://$OPS/readyz" >/dev/null 2>&1 && break
	kill -0 $pid 2>/dev/null || { cat "$dir/ura.log" >&2; die "ura exited"; }
	sleep 0.2
done
curl -fsS "http://$OPS/readyz" >/dev/null || die "ura not ready: $dir/ura.log"
say "$("$dir/bin/ura" version 2>/dev/null | head -n1), pid $pid on $ADDR; $(nproc) cores"
"$dir/bin/footprint" -pid "$pid" -addr "$ADDR" -pki "$dir/pki" "$@"
