# Shared helpers for the development stack scripts. Sourced, never executed.
# shellcheck shell=bash

# Resolved from this file rather than from $PWD or git so the scripts work from
# any directory and in an exported tree without .git.
URA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
URA_VAR="$URA_ROOT/var"
URA_RUN="$URA_VAR/run"
URA_LOG="$URA_VAR/log"
URA_DEV="$URA_VAR/dev"
# Everything expensive to rebuild (the Vault binary, Go caches in CI) lives
# outside the checkout so a fresh clone or `make clean` does not pay for it again.
URA_CACHE="${URA_CACHE:-$HOME/.cache/ura}"

say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

ensure_dirs() {
	mkdir -p "$URA_RUN" "$URA_LOG" "$URA_DEV"
	# Secrets live in var/dev; keep the directory private as well as the files.
	chmod 0700 "$URA_DEV"
}

# The Vault version is taken from the wrapper module so that bumping the pin in
# go.mod is the only change needed, and the cached binary follows it.
vault_version() {
	local v
	v="$(awk '($1 == "github.com/hashicorp/vault" && $2 ~ /^v/) {print $2; exit}
	          ($1 == "require" && $2 == "github.com/hashicorp/vault") {print $3; exit}' \
		"$URA_ROOT/deploy/vaultbuild/go.mod")"
	[[ -n "$v" ]] || die "cannot read the Vault version from deploy/vaultbuild/go.mod"
	printf '%s\n' "${v#v}"
}

vault_bin() {
	printf '%s/vault-%s/vault\n' "$URA_CACHE" "$(vault_version)"
}

# wait_for_port HOST PORT [SECONDS]
wait_for_port() {
	local host="$1" port="$2" secs="${3:-30}" i
	for ((i = 0; i < secs * 10; i++)); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

port_in_use() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

as_root() {
	if [[ $EUID -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		die "need root (or passwordless sudo) to run: $*"
	fi
}

pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# apt_install_missing PKG... — one apt-get call for whatever is missing.
apt_install_missing() {
	local missing=() p
	for p in "$@"; do
		pkg_installed "$p" || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and no apt-get to install them"
	say "installing Debian packages: ${missing[*]}"
	# Package maintainer scripts would otherwise start system-wide Redis and
	# PostgreSQL on their default ports; this stack runs its own instances.
	local policy=/usr/sbin/policy-rc.d added=0
	if [[ ! -e $policy ]]; then
		as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 0755 $policy"
		added=1
	fi
	local rc=0
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" </dev/null >"$URA_LOG/apt.log" 2>&1 || rc=$?
	if ((rc != 0)); then
		# Stale package lists are the usual cause on a fresh machine.
		say "apt-get install failed; refreshing package lists and retrying"
		rc=0
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >>"$URA_LOG/apt.log" 2>&1 || true
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" </dev/null >>"$URA_LOG/apt.log" 2>&1 || rc=$?
	fi
	((added)) && as_root rm -f "$policy"
	((rc == 0)) || { tail -n 20 "$URA_LOG/apt.log" >&2; die "apt-get install ${missing[*]} failed (log: var/log/apt.log)"; }
}

# ensure_secret FILE [BYTES] — a random hex secret of BYTES random bytes
# (default 24), created once. Hex keeps it safe to embed in URLs, config
# files and SQL literals without escaping.
ensure_secret() {
	local f="$1" bytes="${2:-24}" tmp
	if [[ ! -s $f ]]; then
		tmp="$(mktemp "$f.XXXXXX")"
		chmod 0600 "$tmp"
		od -An -N"$bytes" -tx1 /dev/urandom | tr -d ' \n' >"$tmp"
		mv -f "$tmp" "$f"
	fi
	chmod 0600 "$f"
	cat "$f"
}

# pid_running PIDFILE [COMM] — true if the process in PIDFILE is alive and,
# when COMM is given, is that program (guards against a recycled PID).
pid_running() {
	local pidfile="$1" comm="${2:-}" pid
	[[ -s $pidfile ]] || return 1
	pid="$(head -n1 "$pidfile" | tr -dc '0-9')"
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
	if [[ -n $comm ]]; then
		[[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm"* ]] || return 1
	fi
	printf '%s\n' "$pid"
}

# stop_pid PIDFILE [COMM] [SECONDS] — TERM, wait, then KILL.
stop_pid() {
	local pidfile="$1" comm="${2:-}" secs="${3:-15}" pid i
	pid="$(pid_running "$pidfile" "$comm")" || { rm -f "$pidfile"; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	sleep 0.2
	rm -f "$pidfile"
}

# Atomic write with restrictive permissions: write_private FILE < content
write_private() {
	local f="$1" tmp
	tmp="$(mktemp "$f.XXXXXX")"
	chmod 0600 "$tmp"
	cat >"$tmp"
	mv -f "$tmp" "$f"
}

# OPA's own server, for the test that compares it with the embedded engine
# (gateway/policy/http_opa_test.go) and the bench's external-OPA baseline.
# Built from its Go module once per version into ~/.cache/ura/bin, named for
# the version so that a bump of the pin builds the new one beside the old.
OPA_VERSION="${OPA_VERSION:-v1.22.2}"

opa_bin() {
	printf '%s/bin/opa-%s\n' "$URA_CACHE" "$OPA_VERSION"
}

# ensure_opa — build opa_bin if it is missing (a few minutes of CPU, once).
ensure_opa() {
	local bin tmp
	bin="$(opa_bin)"
	[[ -x $bin ]] && return 0
	say "building OPA $OPA_VERSION into $bin (once; a few minutes)"
	mkdir -p "$URA_CACHE/bin"
	tmp="$(mktemp -d "$URA_CACHE/bin/.opa-build.XXXXXX")"
	if ! GOBIN="$tmp" go install "github.com/open-policy-agent/opa@$OPA_VERSION"; then
		rm -rf "$tmp"
		die "go install github.com/open-policy-agent/opa@$OPA_VERSION failed"
	fi
	mv -f "$tmp/opa" "$bin"
	rm -rf "$tmp"
}

# Tools that check the deployment files (deploy/helm, deploy/systemd), built
# or written once per pinned version into ~/.cache/ura like OPA above.
HELM_VERSION="${HELM_VERSION:-v3.22.1}"
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.8.0}"
# kubeconform's schemas are made from a Kubernetes OpenAPI document; this Go
# module ships one (Kubernetes K8S_SCHEMA_VERSION) among its test data.
K8S_SCHEMA_MODULE="${K8S_SCHEMA_MODULE:-k8s.io/kube-openapi@v0.0.0-20260721132016-d427ff9ee9ad}"
K8S_SCHEMA_FILE="pkg/schemaconv/testdata/swagger.json"
K8S_SCHEMA_VERSION="${K8S_SCHEMA_VERSION:-v1.27.0}"

# ensure_go_tool NAME VERSION PACKAGE — build PACKAGE@VERSION once into
# $URA_CACHE/bin/NAME-VERSION.
ensure_go_tool() {
	local name="$1" version="$2" pkg="$3" bin tmp
	bin="$URA_CACHE/bin/$name-$version"
	[[ -x $bin ]] && return 0
	say "building $name $version into $bin (once)"
	mkdir -p "$URA_CACHE/bin"
	tmp="$(mktemp -d "$URA_CACHE/bin/.$name-build.XXXXXX")"
	if ! GOBIN="$tmp" go install "$pkg@$version"; then
		rm -rf "$tmp"
		die "go install $pkg@$version failed"
	fi
	mv -f "$tmp/$(basename "$pkg")" "$bin"
	rm -rf "$tmp"
}

k8s_schema_dir() {
	printf '%s/k8s-schemas/%s-standalone-strict\n' "$URA_CACHE" "$K8S_SCHEMA_VERSION"
}

# ensure_k8s_schemas — kubeconform's strict stand-alone schemas for
# K8S_SCHEMA_VERSION, converted by deploy/k8sschema from the OpenAPI document
# in K8S_SCHEMA_MODULE (fetched from the Go module proxy).
ensure_k8s_schemas() {
	local dir src tmp
	dir="$(k8s_schema_dir)"
	[[ -f $dir/deployment-apps-v1.json ]] && return 0
	say "writing Kubernetes $K8S_SCHEMA_VERSION JSON schemas into $dir (once)"
	src="$(cd "$URA_CACHE" && go mod download -json "$K8S_SCHEMA_MODULE" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[[ -n $src && -f $src/$K8S_SCHEMA_FILE ]] || die "go mod download $K8S_SCHEMA_MODULE gave no $K8S_SCHEMA_FILE"
	mkdir -p "$(dirname "$dir")"
	tmp="$(mktemp -d "$(dirname "$dir")/.build.XXXXXX")"
	if ! (cd "$URA_ROOT" && go run ./deploy/k8sschema -swagger "$src/$K8S_SCHEMA_FILE" -want-version "$K8S_SCHEMA_VERSION" -out "$tmp"); then
		rm -rf "$tmp"
		die "converting the Kubernetes OpenAPI document failed"
	fi
	rm -rf "$dir"
	mv "$tmp" "$dir"
}
