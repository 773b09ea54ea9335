#!/usr/bin/env bash
# Development PostgreSQL on 127.0.0.1:5440: postgres.sh up|down|status
#
# Databases `ura` and `ura_test`, both owned by role `ura` (scram password in
# var/dev/postgres.password). The cluster lives in var/pg/data and its socket in
# var/run/pg. PostgreSQL refuses to run as root, so as root the server runs as
# the `postgres` system user, which must be able to traverse the checkout. When
# it cannot (a checkout under a private home directory), the cluster and socket
# move to /tmp/ura-pg-<hash of the checkout path>; var/pg/LOCATION then names
# the directory in use and var/log/postgres.log links to its log.
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_HOST=127.0.0.1
PG_PORT=5440

# Debian's own binaries: /usr/local/bin may hold other builds or wrappers.
pg_bindir() {
	local d
	d="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
	[[ -n $d && -x $d/pg_ctl ]] || return 1
	printf '%s\n' "$d"
}

if [[ $EUID -eq 0 ]]; then
	PG_OS_USER=postgres
	PG_SUPERUSER=postgres
else
	PG_OS_USER="$(id -un)"
	PG_SUPERUSER="$PG_OS_USER"
fi

# pgrun CMD... — run as the cluster's OS user, from a directory it can read.
pgrun() {
	if [[ $EUID -eq 0 ]]; then
		(cd / && runuser -u "$PG_OS_USER" -- "$@")
	else
		(cd / && "$@")
	fi
}

can_traverse() {
	pgrun test -x "$1" -a -r "$1"
}

resolve_paths() {
	[[ -z ${PG_DATA:-} ]] || return 0
	ensure_dirs
	local hash
	hash="$(printf '%s' "$URA_ROOT" | sha256sum | cut -c1-12)"
	PG_BASE="$URA_VAR/pg"
	PG_SOCK="$URA_RUN/pg"
	PG_LOG="$URA_LOG/postgres.log"
	if [[ $EUID -eq 0 ]] && ! id "$PG_OS_USER" >/dev/null 2>&1; then
		return 0 # user appears with the package; checked again after install
	fi
	# Unix socket paths are limited to 107 bytes.
	if ! can_traverse "$URA_VAR" || ((${#PG_SOCK} > 90)); then
		PG_BASE="/tmp/ura-pg-$hash"
		PG_SOCK="$PG_BASE/run"
		PG_LOG="$PG_BASE/postgres.log"
		mkdir -p "$URA_VAR/pg"
		printf '%s\n' "$PG_BASE" >"$URA_VAR/pg/LOCATION"
		ln -sfn "$PG_LOG" "$URA_LOG/postgres.log"
	fi
	PG_DATA="$PG_BASE/data"
}

status() {
	local bindir pid
	resolve_paths
	if bindir="$(pg_bindir)" && [[ -d ${PG_DATA:-/nonexistent} ]] &&
		pgrun "$bindir/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1; then
		pid="$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
		say "postgres: running (pid $pid, $PG_HOST:$PG_PORT, data $PG_DATA)"
	else
		say "postgres: stopped"
		return 1
	fi
}

up() {
	ensure_dirs
	apt_install_missing postgresql
	local bindir
	bindir="$(pg_bindir)" || die "postgres: no server binaries under /usr/lib/postgresql"
	resolve_paths

	mkdir -p "$PG_BASE" "$PG_SOCK"
	if [[ $EUID -eq 0 ]]; then
		chown "$PG_OS_USER": "$PG_BASE" "$PG_SOCK"
	fi
	chmod 0700 "$PG_BASE"
	chmod 0755 "$PG_SOCK"

	if [[ ! -s $PG_DATA/PG_VERSION ]]; then
		say "postgres: creating cluster in $PG_DATA"
		local initlog="$URA_LOG/postgres-initdb.log"
		: >"$initlog"
		if [[ $EUID -eq 0 ]]; then chown "$PG_OS_USER": "$initlog"; fi
		# Local socket connections use peer auth so only the cluster's OS user
		# administers it; TCP requires a scram password.
		pgrun "$bindir/initdb" -D "$PG_DATA" -U "$PG_SUPERUSER" \
			--auth-local=peer --auth-host=scram-sha-256 \
			-E UTF8 --locale=C --no-instructions >>"$initlog" 2>&1 ||
			die "postgres: initdb failed (log: $initlog)"
	fi

	# Rewritten on every start so a moved checkout or changed socket path takes
	# effect; included once from postgresql.conf.
	pgrun sh -c "cat > '$PG_DATA/ura.conf'" <<EOF
listen_addresses = '$PG_HOST'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
password_encryption = 'scram-sha-256'
max_connections = 200
# A throwaway development cluster: speed over crash safety.
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
	if ! grep -q "^include 'ura.conf'" "$PG_DATA/postgresql.conf"; then
		pgrun sh -c "printf '%s\n' \"include 'ura.conf'\" >> '$PG_DATA/postgresql.conf'"
	fi

	if ! pgrun "$bindir/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1; then
		if port_in_use "$PG_HOST" "$PG_PORT"; then
			die "postgres: $PG_HOST:$PG_PORT is taken by a server not started from $PG_DATA"
		fi
		[[ -f $PG_LOG ]] || : >"$PG_LOG"
		if [[ $EUID -eq 0 ]]; then chown "$PG_OS_USER": "$PG_LOG"; fi
		pgrun "$bindir/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t 60 >/dev/null ||
			die "postgres: failed to start (log: var/log/postgres.log)"
	fi

	local pw
	pw="$(ensure_secret "$URA_DEV/postgres.password")"
	# The password goes through stdin, not argv, so it never shows in `ps`.
	# ALTER ROLE runs every time so a regenerated password file takes effect.
	pgrun "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" \
		-U "$PG_SUPERUSER" -d postgres >/dev/null <<SQL
SELECT 'CREATE ROLE ura LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ura')\gexec
-- CREATEDB lets tests create and drop their own scratch databases.
ALTER ROLE ura WITH LOGIN CREATEDB PASSWORD '$pw';
SELECT 'CREATE DATABASE ura OWNER ura' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'ura')\gexec
SELECT 'CREATE DATABASE ura_test OWNER ura' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'ura_test')\gexec
SQL
	status
}

down() {
	local bindir
	resolve_paths
	if bindir="$(pg_bindir)" && [[ -d ${PG_DATA:-/nonexistent} ]] &&
		pgrun "$bindir/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1; then
		# pg_ctl signals the PID recorded in postmaster.pid and waits for exit.
		pgrun "$bindir/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 >/dev/null
	fi
	say "postgres: stopped"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*) die "usage: $0 up|down|status" ;;
esac
