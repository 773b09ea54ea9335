#!/usr/bin/env bash
# Builds the Vault server pinned in deploy/vaultbuild/go.mod into
# ~/.cache/ura/vault-<version>/vault. No prebuilt Vault is reachable from the
# machines this runs on, so it is compiled from the module proxy once and cached
# per version.
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Everything runs inside main so bash parses the whole file before a build that
# may take a quarter of an hour; editing the file meanwhile cannot derail it.
main() {
	version="$(vault_version)"
	out="$(vault_bin)"
	outdir="$(dirname "$out")"
	mkdir -p "$outdir"

	usable() {
		[[ -x $out ]] && "$out" version >/dev/null 2>&1
	}

	if usable; then
		say "vault: $("$out" version | head -n1) already built at $out"
		exit 0
	fi

	# A second caller (vault.sh while a background build runs) waits for the first
	# instead of starting another 5 GB compile.
	exec 9>"$outdir/.build.lock"
	if ! flock -n 9; then
		say "vault: another build of $version is running; waiting for it"
		flock 9
		if usable; then
			say "vault: $("$out" version | head -n1) built at $out"
			exit 0
		fi
	fi

	tmp="$out.tmp.$$"
	hb=""
	cleanup() {
		if [[ -n $hb ]]; then kill "$hb" 2>/dev/null || true; fi
		rm -f "$tmp"
	}
	trap cleanup EXIT

	say "building Vault $version from the module proxy (first time only, ~13 min on 2 cores)…"
	start=$SECONDS
	(
		while sleep 30; do
			e=$((SECONDS - start))
			printf '  … still building Vault %s (%dm%02ds elapsed)\n' "$version" $((e / 60)) $((e % 60))
		done
	) &
	hb=$!

	# -mod=mod lets the wrapper module resolve against its committed go.sum without a
	# vendor tree. No -trimpath: it defeats the build cache, turning every rebuild
	# into a full 13-minute compile. -buildvcs=false keeps the output independent of
	# the surrounding checkout, so a new commit does not force a relink.
	(
		cd "$URA_ROOT/deploy/vaultbuild"
		CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" go build -ldflags="-s -w" -o "$tmp" .
	)
	"$tmp" version >/dev/null
	mv -f "$tmp" "$out"

	kill "$hb" 2>/dev/null || true
	wait "$hb" 2>/dev/null || true
	hb=""
	e=$((SECONDS - start))
	size="$(du -m "$out" | cut -f1)"
	say "vault: built $("$out" version | head -n1) in $((e / 60))m$((e % 60))s, ${size} MiB at $out"
}

main "$@"
