#!/usr/bin/env bash
# Development Redis on 127.0.0.1:6390 with a password: redis.sh up|down|status
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REDIS_HOST=127.0.0.1
REDIS_PORT=6390
pidfile="$URA_RUN/redis.pid"
datadir="$URA_VAR/redis"
conf="$datadir/redis.conf"

status() {
	local pid
	if pid="$(pid_running "$pidfile" redis-server)"; then
		say "redis:    running (pid $pid, $REDIS_HOST:$REDIS_PORT)"
	else
		say "redis:    stopped"
		return 1
	fi
}

up() {
	ensure_dirs
	apt_install_missing redis-server
	if pid_running "$pidfile" redis-server >/dev/null; then
		status
		return 0
	fi
	if port_in_use "$REDIS_HOST" "$REDIS_PORT"; then
		die "redis: $REDIS_HOST:$REDIS_PORT is taken by a process not started from $URA_RUN"
	fi
	local pw
	pw="$(ensure_secret "$URA_DEV/redis.password")"
	mkdir -p "$datadir"
	# A config file rather than flags keeps the password out of `ps`.
	# Persistence is off: the dev stack holds only rate-limit counters.
	write_private "$conf" <<EOF
bind $REDIS_HOST
port $REDIS_PORT
protected-mode yes
requirepass $pw
daemonize yes
pidfile $pidfile
dir $datadir
logfile $URA_LOG/redis.log
save ""
appendonly no
EOF
	redis-server "$conf"
	wait_for_port "$REDIS_HOST" "$REDIS_PORT" 30 || die "redis: did not start listening (log: var/log/redis.log)"
	# The pid file appears just after the listener; don't report before it exists.
	local i
	for ((i = 0; i < 50; i++)); do
		pid_running "$pidfile" redis-server >/dev/null && break
		sleep 0.1
	done
	status
}

down() {
	stop_pid "$pidfile" redis-server 15
	say "redis:    stopped"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*) die "usage: $0 up|down|status" ;;
esac
