#!/usr/bin/env bash
# `make bench`: ura beside two baselines on this machine, in one run.
#
#   floor         nginx terminating the same mutual TLS, forwarding to the
#                 upstream without any check
#   external-opa  ura with every part of its chain, but asking a separate
#                 `opa run --server` over HTTP for each record's decision
#   ura           ura's full chain: identity, Redis limit, embedded policy,
#                 Vault-keyed signatures, durable audit
#
# All of them listen on 127.0.0.1, use the PKI in var/bench/pki and forward
# to the same plain upstream (deploy/bench/cmd/upstream). Results go to
# var/bench/results.{json,md,png}; the table is printed at the end. Every
# process started here is stopped by its PID when the script exits.
#
# Knobs (environment):
#   BENCH_QUICK=1            a smoke run of a couple of minutes
#   BENCH_SCALE=1            also the 1,000,000-record pull (make bench-scale)
#   BENCH_SCALE_RECORDS=N    records in the scale run (default 1000000)
#   BENCH_SCALE_STORE=postgres  the scale run on the development PostgreSQL
#                            (schema ura_bench_scale, dropped before and after)
#                            instead of the embedded store, as replicas run
#   BENCH_PARTS=0|1          run the parts' go test benchmarks (default 1)
#   BENCH_PARTS_PKGS=./...   packages whose benchmarks run (quick: ./gateway/audit)
#   BENCH_PARTS_BENCH=.      go test -bench pattern (quick: ^BenchmarkAppend$,
#                            which the audit goal reads)
#   BENCH_RATE=500           offered req/s of the open-loop push1 cell (0: none)
#   BENCH_PROFILE=0|1        CPU profile of each ura system per scenario (default 1)
#   BENCH_FSYNC=0|1          count fsyncs per request with strace (default 1)
#   BENCH_DURATION=5s        seconds each cell sends requests
#   BENCH_CONCURRENCY=1,8,32 push concurrency levels
#   BENCH_PULL_CONCURRENCY=1,4
#   BENCH_SCENARIOS=pull10k,push1,push100
#   BENCH_MODES=keepalive,fresh
#   BENCH_README=1           also refresh the Performance block in README.md
#   BENCH_STACK_ENV=<file>   use the running stack of another checkout (its
#                            var/dev/stack.env) instead of deploy/dev/up.sh
#   BENCH_BEFORE=<git rev>   also run ura as of that revision, side by side
#                            (system "ura-<rev>"), for before/after ratios
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../dev/lib.sh"
cd "$URA_ROOT"

BENCH="$URA_VAR/bench"
BRUN="$BENCH/run"
BLOG="$BENCH/log"
BBIN="$BENCH/bin"
PKI="$BENCH/pki"

UPSTREAM_ADDR=127.0.0.1:9600
UPSTREAM_TLS_ADDR=127.0.0.1:9601 # ura's outbox delivers over https only
FLOOR_ADDR=127.0.0.1:9611
EXTOPA_ADDR=127.0.0.1:9612
URA_ADDR=127.0.0.1:9613
BEFORE_ADDR=127.0.0.1:9614
BEFORE_OPS=127.0.0.1:9624
BEFORE_PPROF=127.0.0.1:9634 # profiles of a revision older than ops_profiling
OPA_ADDR=127.0.0.1:9681

quick="${BENCH_QUICK:-0}"
if [[ $quick == 1 ]]; then
	duration="${BENCH_DURATION:-2s}"
	conc="${BENCH_CONCURRENCY:-8}"
	pull_conc="${BENCH_PULL_CONCURRENCY:-2}"
	parts="${BENCH_PARTS:-1}"
	parts_pkgs="${BENCH_PARTS_PKGS:-./gateway/audit}"
	parts_bench="${BENCH_PARTS_BENCH:-^BenchmarkAppend\$}"
	warmup=0s
else
	duration="${BENCH_DURATION:-5s}"
	conc="${BENCH_CONCURRENCY:-1,8,32}"
	# A 10,000-record signed stream keeps both cores busy on its own; more
	# streams in flight only queue behind each other.
	pull_conc="${BENCH_PULL_CONCURRENCY:-1,4}"
	parts="${BENCH_PARTS:-1}"
	parts_pkgs="${BENCH_PARTS_PKGS:-./...}"
	parts_bench="${BENCH_PARTS_BENCH:-.}"
	warmup=1s
fi
scenarios="${BENCH_SCENARIOS:-pull10k,push1,push100}"
modes="${BENCH_MODES:-keepalive,fresh}"
rate="${BENCH_RATE:-500}"

started_pids=()
# cleanup stops what was started, last first, so the gateways are gone
# before the servers they talk to (OPA, the upstream).
cleanup() {
	local pid i j
	for ((j = ${#started_pids[@]} - 1; j >= 0; j--)); do
		pid="${started_pids[j]}"
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	started_pids=()
	rm -f "$BRUN"/*.pid
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME LOG CMD… — runs CMD in the background, records its PID in
# var/bench/run/NAME.pid and for the exit trap.
start() {
	local name="$1" log="$2"
	shift 2
	"$@" >>"$log" 2>&1 &
	local pid=$!
	started_pids+=("$pid")
	echo "$pid" >"$BRUN/$name.pid"
}

# stop NAME — stops one process started by start, by its PID.
stop() {
	local name="$1" pid i
	pid="$(cat "$BRUN/$name.pid" 2>/dev/null)" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$BRUN/$name.pid"
	# Forget it, so the exit trap never signals a PID the system reused.
	local keep=() p
	for p in "${started_pids[@]}"; do
		[[ $p == "$pid" ]] || keep+=("$p")
	done
	started_pids=("${keep[@]}")
}

# wait_ready NAME URL SECONDS — polls a plain-HTTP readiness URL while the
# process is alive.
wait_ready() {
	local name="$1" url="$2" secs="$3" i pid
	pid="$(cat "$BRUN/$name.pid")"
	for ((i = 0; i < secs * 10; i++)); do
		if curl -fsS -o /dev/null "$url" 2>/dev/null; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

section() { printf '\n== %s\n' "$*"; }

mkdir -p "$BRUN" "$BLOG" "$BBIN"
for f in "$BRUN"/*.pid; do
	# A previous run that was killed hard may have left these behind; only
	# processes whose PID file is ours and that still run our binaries go.
	[[ -e $f ]] || continue
	pid="$(cat "$f")"
	comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
	case "$comm" in ura | ura-before | nginx | opa | opa-v* | upstream) kill -TERM "$pid" 2>/dev/null || true ;; esac
	rm -f "$f"
done

section "Development stack (Redis, Vault)"
stack_run="$URA_RUN"
if [[ -n ${BENCH_STACK_ENV:-} ]]; then
	# A stack another checkout of this repository runs (a git worktree has
	# no var/ of its own): its stack.env, and its var/run for the pid files.
	[[ -f $BENCH_STACK_ENV ]] || die "BENCH_STACK_ENV=$BENCH_STACK_ENV: no such file"
	# shellcheck source=/dev/null
	source "$BENCH_STACK_ENV"
	stack_run="$(cd "$(dirname "$BENCH_STACK_ENV")/../run" && pwd -P)"
	say "using the stack of $BENCH_STACK_ENV"
else
	bash deploy/dev/up.sh
	# shellcheck source=/dev/null
	source "$URA_DEV/stack.env"
fi

section "Tools and binaries"
ensure_opa # deploy/dev/lib.sh: the pinned version, cached in ~/.cache/ura/bin
OPA="$(opa_bin)"
go build -o "$URA_VAR/bin/ura" ./cmd/ura
go build -o "$BBIN/bench" ./deploy/bench/cmd/bench
go build -o "$BBIN/upstream" ./deploy/bench/cmd/upstream
(cd deploy/bench/chart && go build -o "$BBIN/chart" .)
URA="$URA_VAR/bin/ura"
before_rev=""
if [[ -n ${BENCH_BEFORE:-} ]]; then
	before_rev="$(git rev-parse --short "$BENCH_BEFORE^{commit}")" || die "BENCH_BEFORE=$BENCH_BEFORE is not a revision of this repository"
	say "building ura as of $before_rev (BENCH_BEFORE)"
	rm -rf "$BENCH/before-src"
	mkdir -p "$BENCH/before-src"
	git archive "$before_rev" | tar -x -C "$BENCH/before-src"
	before_profile_ops="$BEFORE_OPS"
	if ! grep -q 'ops_profiling' "$BENCH/before-src/gateway/config/config.go"; then
		# A revision older than ops_profiling gets Go's CPU profile handler
		# on a loopback port of its own, and nothing else, so that its
		# profile can be split by stage beside today's. It changes no path
		# a request takes.
		before_profile_ops="$BEFORE_PPROF"
		cat >"$BENCH/before-src/cmd/ura/zz_bench_pprof.go" <<'GO'
package main

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

func init() {
	addr := os.Getenv("URA_BENCH_PPROF")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
}
GO
	fi
	(cd "$BENCH/before-src" && go build -o "$BBIN/ura-before" ./cmd/ura)
	# That revision's own bench configuration, moved to its own ports, data
	# and limiter database; paths made absolute, since it lives elsewhere.
	sed -e "s#\.\./\.\./var/#$URA_ROOT/var/#g" \
		-e "s#var/bench/data/ura/#var/bench/data/before/#" \
		-e "s#127\.0\.0\.1:9613#$BEFORE_ADDR#" -e "s#127\.0\.0\.1:9623#$BEFORE_OPS#" \
		-e "s#^  db: 1 .*#  db: 3#" \
		"$BENCH/before-src/deploy/bench/ura.yaml" >"$BENCH/before.yaml"
fi
strace_bin=""
if [[ ${BENCH_FSYNC:-1} == 1 ]]; then
	if ! command -v strace >/dev/null 2>&1; then
		say "installing strace (fsyncs per request)"
		{ apt-get install -y -qq strace >/dev/null 2>&1 || sudo -n apt-get install -y -qq strace >/dev/null 2>&1; } || true
	fi
	strace_bin="$(command -v strace || true)"
	[[ -n $strace_bin ]] || say "no strace: fsyncs per request are not counted"
fi
say "built: ura, bench, upstream, chart; opa $("$OPA" version | awk '/^Version:/ {print $2}')"

section "Bench PKI ($PKI)"
if [[ ! -f $PKI/ca.crt ]]; then
	"$URA" certs init --dir "$PKI" >/dev/null
fi
# A CRL past its nextUpdate fails closed at the gateway: re-sign it each run.
"$URA" certs crl --dir "$PKI" >/dev/null
say "ready"

section "Systems"
: >"$BLOG/ura.log" && : >"$BLOG/external-opa.log" && : >"$BLOG/opa.log" && : >"$BLOG/upstream.log" && : >"$BLOG/nginx-error.log"
# Each run starts from empty stores and audit logs, so every run does the
# same work.
rm -rf "$BENCH/data" "$BENCH/profiles" "$BENCH/strace"
mkdir -p "$BENCH/data/ura" "$BENCH/data/external-opa" "$BENCH/data/before" "$BENCH/nginx"

start upstream "$BLOG/upstream.log" "$BBIN/upstream" -listen "$UPSTREAM_ADDR" \
	-tls-listen "$UPSTREAM_TLS_ADDR" -tls-cert "$PKI/server.crt" -tls-key "$PKI/server.key"
wait_ready upstream "http://$UPSTREAM_ADDR/healthz" 10 || die "upstream did not start (log: $BLOG/upstream.log)"
say "upstream      http://$UPSTREAM_ADDR, https://$UPSTREAM_TLS_ADDR"

systems=()
absent=()
sed -e "s|@RUN@|$BRUN|g" -e "s|@LOG@|$BLOG|g" -e "s|@PREFIX@|$BENCH/nginx|g" -e "s|@PKI@|$PKI|g" \
	-e "s|@UPSTREAM@|$UPSTREAM_ADDR|g" -e "s|@LISTEN@|$FLOOR_ADDR|g" deploy/bench/nginx.conf.in >"$BENCH/nginx/nginx.conf"
if nginx -t -q -p "$BENCH/nginx" -e "$BLOG/nginx-error.log" -c "$BENCH/nginx/nginx.conf" 2>>"$BLOG/nginx-error.log"; then
	start nginx "$BLOG/nginx-error.log" nginx -p "$BENCH/nginx" -e "$BLOG/nginx-error.log" -c "$BENCH/nginx/nginx.conf"
	wait_for_port 127.0.0.1 "${FLOOR_ADDR##*:}" 10 || die "nginx did not start (log: $BLOG/nginx-error.log)"
	systems+=(-system "name=floor,kind=nginx,url=https://$FLOOR_ADDR,pids=$BRUN/nginx.pid,notes=nginx $(nginx -v 2>&1 | sed 's|.*/||') as an mTLS reverse proxy (verify client against the dev CA; no other check)")
	say "floor         https://$FLOOR_ADDR (nginx)"
else
	absent+=(-absent "floor=nginx -t failed: $(tail -n1 "$BLOG/nginx-error.log")")
fi

# start_ura NAME CONFIG OPS_ADDR — a gateway from a bench config; on failure
# the system is reported as not measured, with the reason.
start_ura() {
	local name="$1" config="$2" ops="$3" bin="${4:-$URA}" why
	if ! why="$("$bin" serve --config "$config" --check 2>&1)"; then
		absent+=(-absent "$name=configuration refused: $(printf '%s' "$why" | tr '\n' ' ' | cut -c1-400)")
		say "$name: not started: configuration refused (see results)"
		return 1
	fi
	start "$name" "$BLOG/$name.log" "$bin" serve --config "$config"
	if ! wait_ready "$name" "http://$ops/readyz" 60; then
		absent+=(-absent "$name=did not become ready: $(tail -n3 "$BLOG/$name.log" | tr '\n' ' ' | cut -c1-400)")
		say "$name: did not become ready (log: $BLOG/$name.log)"
		stop "$name"
		return 1
	fi
}

opa_ok=0
start opa "$BLOG/opa.log" "$OPA" run --server --addr "$OPA_ADDR" --log-level error \
	--ignore '*_test.rego' --ignore '*.go' policies/
if wait_ready opa "http://$OPA_ADDR/health" 30; then
	opa_ok=1
else
	absent+=(-absent "external-opa=opa run --server did not start: $(tail -n3 "$BLOG/opa.log" | tr '\n' ' ')")
fi
if ((opa_ok)) && start_ura external-opa deploy/bench/ura-external-opa.yaml 127.0.0.1:9622; then
	systems+=(-system "name=external-opa,kind=ura,url=https://$EXTOPA_ADDR,pids=$BRUN/external-opa.pid+$BRUN/opa.pid,ops=127.0.0.1:9622,notes=ura's chain with policy asked of a separate OPA $OPA_VERSION server over HTTP (CPU and memory include the OPA process)")
	say "external-opa  https://$EXTOPA_ADDR (ura, policy from opa at http://$OPA_ADDR)"
fi
if start_ura ura deploy/bench/ura.yaml 127.0.0.1:9623; then
	systems+=(-system "name=ura,kind=ura,url=https://$URA_ADDR,pids=$BRUN/ura.pid,ops=127.0.0.1:9623,notes=ura's full chain: identity, Redis limit, embedded per-record policy, Vault-keyed signature, durable audit")
	say "ura           https://$URA_ADDR"
fi
if [[ -n $before_rev ]] && URA_BENCH_PPROF="$BEFORE_PPROF" start_ura "ura-before" "$BENCH/before.yaml" "$BEFORE_OPS" "$BBIN/ura-before"; then
	systems+=(-system "name=ura-$before_rev,kind=ura,url=https://$BEFORE_ADDR,pids=$BRUN/ura-before.pid,ops=$before_profile_ops,notes=ura as of revision $before_rev, the same chain and configuration, for before/after ratios")
	say "ura-$before_rev   https://$BEFORE_ADDR"
fi

meta=(
	-meta "nginx=$(nginx -v 2>&1 | sed 's|.*/||')"
	-meta "opa=$("$OPA" version | awk '/^Version:/ {print $2}')"
	-meta "redis=$(redis-server --version | awk '{print $3}' | sed 's/v=//')"
	-meta "vault=$("$URA_VAULT_BIN" version 2>/dev/null | awk '{print $2}' | tr -d ,)"
	-meta "ura=$("$URA" version | sed 's/^ura //' | tr , ';')"
)
deps="$stack_run/redis.pid,$stack_run/vault.pid"

section "Cells ($scenarios × $modes; push concurrency $conc, pull $pull_conc; push1 open loop at $rate/s; $duration each)"
quick_flag=()
[[ $quick == 1 ]] && quick_flag=(-quick)
profiles="$BENCH/profiles"
[[ ${BENCH_PROFILE:-1} == 1 ]] || profiles=""
"$BBIN/bench" run -pki "$PKI" -out "$BENCH/cells.json" -deps "$deps" \
	-scenarios "$scenarios" -modes "$modes" -concurrency "$conc" -pull-concurrency "$pull_conc" \
	-duration "$duration" -warmup "$warmup" -rate "$rate" -profiles "$profiles" -strace "$strace_bin" \
	"${systems[@]}" "${absent[@]}" "${meta[@]}" "${quick_flag[@]}"

# scale_pg drop: removes the PostgreSQL scale run's schema (a million records).
scale_pg() {
	PGOPTIONS=--client-min-messages=warning psql -q "$URA_POSTGRES_DSN" -c 'DROP SCHEMA IF EXISTS ura_bench_scale CASCADE' >/dev/null
}

if [[ ${BENCH_SCALE:-0} == 1 ]]; then
	n="${BENCH_SCALE_RECORDS:-1000000}"
	section "Scale: $n records through ura"
	if [[ -f $BRUN/ura.pid ]]; then
		# A fresh store, so the pull is exactly the records seeded for it.
		stop ura
		rm -rf "$BENCH/data/ura"
		mkdir -p "$BENCH/data/ura"
		scale_config=deploy/bench/ura.yaml
		if [[ ${BENCH_SCALE_STORE:-embedded} == postgres ]]; then
			# The same file with the store in PostgreSQL: its pages are the
			# database's memory, not the gateway's. var/bench is as deep as
			# deploy/bench, so the file's relative paths still hold.
			scale_config="$BENCH/ura-scale-pg.yaml"
			scale_pg drop
			awk '/^store:/{print "store:\n  driver: postgres\n  schema: ura_bench_scale"; skip=1; next}
			     skip && /^[^ #]/{skip=0} !skip' deploy/bench/ura.yaml >"$scale_config"
		fi
		if start_ura ura "$scale_config" 127.0.0.1:9623; then
			"$BBIN/bench" scale -pki "$PKI" -out "$BENCH/scale.json" -deps "$deps" -records "$n" "${meta[@]}" \
				-system "name=ura,kind=ura,url=https://$URA_ADDR,pids=$BRUN/ura.pid"
		fi
		[[ ${BENCH_SCALE_STORE:-embedded} == postgres ]] && { stop ura; scale_pg drop; }
	else
		say "ura is not running; no scale run"
	fi
else
	rm -f "$BENCH/scale.json"
fi

# The systems are done; the parts' benchmarks get the machine to themselves.
cleanup

if [[ $parts == 1 ]]; then
	section "The parts alone (go test -bench)"
	"$BBIN/bench" parts -out "$BENCH/parts.json" -pkgs "$parts_pkgs" -bench "$parts_bench" || say "parts benchmarks failed (see above)"
else
	rm -f "$BENCH/parts.json"
fi

section "Report"
readme=()
[[ ${BENCH_README:-0} == 1 ]] && readme=(-readme README.md)
before_flag=()
[[ -n $before_rev ]] && before_flag=(-before "ura-$before_rev")
"$BBIN/bench" report -dir "$BENCH" "${readme[@]}" "${before_flag[@]}" >/dev/null
"$BBIN/chart" -in "$BENCH/results.json" -out "$BENCH/results.png" || say "chart: nothing to draw"
cat "$BENCH/results.md"
say ""
say "results: var/bench/results.md, var/bench/results.json, var/bench/results.png"
