#!/usr/bin/env bash
# Several replicas of the development gateway on one PostgreSQL store and
# audit log (deploy/dev/ura-pg.yaml), behind a local TCP load balancer.
#
#   replicas.sh start N   start N replicas, then HAProxy in front of them
#   replicas.sh stop [N]  stop HAProxy, then the replicas (all when N is left out)
#   replicas.sh bench     pushes/s through HAProxy with 1, 2 and 3 replicas
#                         (deploy/bench/cmd/lbload, 24 clients, 15s each),
#                         AIM's push limit lifted in a copy of the file
#   REPLICA_CONFIG=FILE   what the replicas run (default deploy/dev/ura-pg.yaml)
#
# Replica i (1…N) listens on https://127.0.0.1:$((8450 + i)) with its ops
# listener on http://127.0.0.1:$((9450 + i)); its outbox and CRL state are in
# var/replicas/r<i> (URA_DATA_DIR). HAProxy (Debian's, TCP mode: mutual TLS
# passes through to the replica) listens on 127.0.0.1:8450 and checks each
# replica's /readyz every 200ms, so a stopping replica leaves the rotation
# within its shutdown.drain_delay. PIDs in var/run/ura-r<i>.pid and
# var/run/haproxy-replicas.pid; logs in var/log/.
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$URA_ROOT"

URA="$URA_VAR/bin/ura"
LB_PIDFILE="$URA_RUN/haproxy-replicas.pid"
LB_CONFIG="$URA_VAR/replicas/haproxy.cfg"
LB_PORT=8450
# The configuration every replica runs; bench swaps in a copy without AIM's
# push limit.
REPLICA_CONFIG="${REPLICA_CONFIG:-deploy/dev/ura-pg.yaml}"

api_port() { echo $((8450 + $1)); }
ops_port() { echo $((9450 + $1)); }

start_replica() {
	local i="$1" pidfile="$URA_RUN/ura-r$1.pid" logfile="$URA_LOG/ura-r$1.log"
	mkdir -p "$URA_VAR/replicas/r$i"
	stop_pid "$pidfile" ura
	say "replica $i: https://127.0.0.1:$(api_port "$i"), ops http://127.0.0.1:$(ops_port "$i") (log: ${logfile#$URA_ROOT/})"
	URA_LISTEN="127.0.0.1:$(api_port "$i")" URA_OPS_LISTEN="127.0.0.1:$(ops_port "$i")" \
		URA_DATA_DIR="$URA_VAR/replicas/r$i" \
		"$URA" serve --config "$REPLICA_CONFIG" >>"$logfile" 2>&1 &
	echo $! >"$pidfile"
}

wait_ready() {
	local i="$1"
	for _ in $(seq 1 300); do
		if curl -sf "http://127.0.0.1:$(ops_port "$i")/readyz" >/dev/null 2>&1; then return 0; fi
		pid_running "$URA_RUN/ura-r$i.pid" >/dev/null || { tail -n 20 "$URA_LOG/ura-r$i.log" >&2; die "replica $i exited during start-up"; }
		sleep 0.1
	done
	tail -n 20 "$URA_LOG/ura-r$i.log" >&2
	die "replica $i not ready after 30s"
}

write_lb_config() {
	local n="$1" i
	{
		sed -e "s/@BIND@/127.0.0.1:$LB_PORT/" -e "s/@CLIENT_TIMEOUT@/5m/" "$URA_ROOT/deploy/dev/haproxy-replicas.cfg"
		for ((i = 1; i <= n; i++)); do
			printf '  server r%d 127.0.0.1:%d check port %d\n' "$i" "$(api_port "$i")" "$(ops_port "$i")"
		done
	} | write_private "$LB_CONFIG"
}

start() {
	local n="${1:-}" i
	[[ $n =~ ^[1-9][0-9]?$ ]] || die "usage: $0 start N (1-49)"
	[[ -x $URA ]] || die "build first: make build"
	[[ -s $URA_DEV/stack.env ]] || die "the development stack is not up: make up"
	ensure_dirs
	apt_install_missing haproxy
	mkdir -p "$URA_VAR/replicas"
	chmod 0700 "$URA_VAR/replicas"
	# shellcheck source=/dev/null
	source "$URA_DEV/stack.env"
	export URA_AUDIT_DSN="$URA_POSTGRES_DSN"
	for ((i = 1; i <= n; i++)); do
		start_replica "$i"
		# The first creates the schemas; the others find them.
		((i > 1)) || wait_ready 1
	done
	for ((i = 2; i <= n; i++)); do wait_ready "$i"; done
	write_lb_config "$n"
	stop_pid "$LB_PIDFILE" haproxy
	say "haproxy:  127.0.0.1:$LB_PORT in front of $n replicas (log: var/log/haproxy-replicas.log)"
	haproxy -db -f "$LB_CONFIG" >>"$URA_LOG/haproxy-replicas.log" 2>&1 &
	echo $! >"$LB_PIDFILE"
	wait_for_port 127.0.0.1 "$LB_PORT" 10 || { tail -n 20 "$URA_LOG/haproxy-replicas.log" >&2; die "haproxy did not start"; }
}

stop() {
	local n="${1:-}" f i
	stop_pid "$LB_PIDFILE" haproxy
	if [[ -z $n ]]; then
		for f in "$URA_RUN"/ura-r*.pid; do
			[[ -e $f ]] && stop_pid "$f" ura
		done
		return 0
	fi
	[[ $n =~ ^[1-9][0-9]?$ ]] || die "usage: $0 stop [N]"
	for ((i = 1; i <= n; i++)); do stop_pid "$URA_RUN/ura-r$i.pid" ura; done
}

bench() {
	local n
	go build -o "$URA_VAR/bin/lbload" ./deploy/bench/cmd/lbload
	# AIM's push limit (6000 a minute, shared by every replica through
	# Redis) would cap every run at the same figure: the bench measures the
	# replicas, so its copy of the file lifts it. var/replicas is as deep as
	# deploy/dev, so the file's relative paths still hold.
	mkdir -p "$URA_VAR/replicas"
	REPLICA_CONFIG="$URA_VAR/replicas/ura-bench.yaml"
	awk '{print} /^  members:/{print "    AL/GOV/AIM:\n      push: {rate: 6000000, burst: 1000000, period: 1m}"}' \
		deploy/dev/ura-pg.yaml >"$REPLICA_CONFIG"
	for n in 1 2 3; do
		stop
		start "$n" >/dev/null
		printf 'replicas=%d ' "$n"
		"$URA_VAR/bin/lbload" -url "https://127.0.0.1:$LB_PORT" -pki "$URA_VAR/pki" -c 24 -d 15s
	done
	stop
}

case "${1:-}" in
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
bench) bench ;;
*) die "usage: $0 start N | stop [N] | bench" ;;
esac
