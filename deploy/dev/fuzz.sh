#!/usr/bin/env bash
# Runs every Go fuzz target in the repository (each `func FuzzXxx` in a
# *_test.go file) for FUZZTIME each, one after another. Any failure (a
# crash, a panic, a failed check) fails the run once every target has had
# its turn; the failing input is kept where Go puts it,
# <package>/testdata/fuzz/<FuzzXxx>/, and listed at the end, so that it can
# be committed as a regression seed once the bug is fixed. Each package's
# instrumented test binary is built once (var/fuzz/bin/) and shared by its
# targets; the generated corpus is Go's own, under $GOCACHE/fuzz/. Logs:
# var/log/fuzz/<package>.<target>.log.
#
#   FUZZTIME=60s bash deploy/dev/fuzz.sh      (make fuzz; FUZZTIME=100000x counts runs)
#   FUZZ_MATCH=Config bash deploy/dev/fuzz.sh (targets whose name matches)
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$URA_ROOT"

FUZZTIME="${FUZZTIME:-60s}"
FUZZ_MATCH="${FUZZ_MATCH:-}"
# A failing input is minimised before it is written; bound that so that a
# crash in CI is reported in seconds, not after Go's default minute.
FUZZMINIMIZETIME="${FUZZMINIMIZETIME:-10s}"
logs="$URA_LOG/fuzz"
# Some test packages reach the development stack in TestMain or setup.
if [[ -f $URA_DEV/stack.env ]]; then
	# shellcheck source=/dev/null
	source "$URA_DEV/stack.env"
fi
mkdir -p "$logs"

# "dir target" for every fuzz target, in a stable order. var/ and .git hold
# no sources of ours.
mapfile -t targets < <(
	grep -rHoE --include='*_test.go' --exclude-dir=var --exclude-dir=.git \
		'^func Fuzz[A-Za-z0-9_]+\(' . |
		sed -E 's|^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\($|\1 \2|' |
		sort -u
)
((${#targets[@]} > 0)) || die "no fuzz targets found"

module="$(go list -m)"
fuzzcache="$(go env GOCACHE)/fuzz"
bins="$URA_VAR/fuzz/bin"
mkdir -p "$bins"

# run_target DIR NAME LOG — one target with its package's fuzz binary, from
# the package directory, so that testdata/fuzz/ is the package's own.
run_target() {
	(cd "$URA_ROOT/$1" && "$bins/${1//\//_}.test" -test.run='^$' -test.fuzz="^$2\$" \
		-test.fuzztime="$FUZZTIME" -test.fuzzminimizetime="$FUZZMINIMIZETIME" \
		-test.fuzzcachedir="$fuzzcache/$module/$1") >"$3" 2>&1
}

# deadline_only LOG — the failure is nothing but "context deadline
# exceeded" at the end of -fuzztime, with no failing input: a race in Go's
# fuzz coordinator under CPU contention (go.dev/issue/75804, fixed in Go
# 1.27), not a finding.
deadline_only() {
	grep -q 'context deadline exceeded' "$1" && ! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$1"
}

failed=()
ran=0
built=""
start=$SECONDS
for t in "${targets[@]}"; do
	dir="${t% *}"
	name="${t#* }"
	[[ -z $FUZZ_MATCH || $name == *"$FUZZ_MATCH"* ]] || continue
	log="$logs/${dir//\//_}.$name.log"
	t0=$SECONDS
	# One instrumented test binary per package, shared by its targets.
	if [[ $built != "$dir" ]]; then
		if ! go test -c -fuzz=. -o "$bins/${dir//\//_}.test" "./$dir" >"$logs/${dir//\//_}.build.log" 2>&1; then
			printf '    FAIL  %-40s %-26s build (log: %s)\n' "$dir" "$name" "${logs#"$URA_ROOT"/}/${dir//\//_}.build.log"
			failed+=("$dir $name (build)")
			continue
		fi
		built="$dir"
	fi
	ok=0
	if run_target "$dir" "$name" "$log"; then
		ok=1
	elif deadline_only "$log"; then
		say "    note  $dir $name: Go's fuzz coordinator ended with its own deadline (go.dev/issue/75804); running it again"
		if run_target "$dir" "$name" "$log" || deadline_only "$log"; then
			ok=1
		fi
	fi
	if ((ok)); then
		printf '    ok    %-40s %-26s %3ds\n' "$dir" "$name" $((SECONDS - t0))
	else
		printf '    FAIL  %-40s %-26s %3ds (log: %s)\n' "$dir" "$name" $((SECONDS - t0)) "${log#"$URA_ROOT"/}"
		grep -E 'Failing input written to|--- FAIL|panic:|_test\.go:[0-9]+:' "$log" | head -n 6 | sed 's/^/          /' || true
		failed+=("$dir $name")
	fi
	ran=$((ran + 1))
done
((ran > 0)) || die "no fuzz target matches FUZZ_MATCH=$FUZZ_MATCH"
say "fuzz:     $ran targets, ${FUZZTIME} each, in $((SECONDS - start))s"
if ((${#failed[@]} > 0)); then
	say "fuzz:     ${#failed[@]} failed:"
	printf '          %s\n' "${failed[@]}"
	say "          a failing input is in <dir>/testdata/fuzz/<FuzzName>/; rerun it: go test -run '^FuzzName/<file>\$' ./<dir>"
	exit 1
fi
