#!/usr/bin/env bash
# One line per service of the development stack; exits non-zero if any is down.
set -uo pipefail
dir="$(dirname "${BASH_SOURCE[0]}")"
rc=0
bash "$dir/redis.sh" status || rc=1
bash "$dir/postgres.sh" status || rc=1
bash "$dir/vault.sh" status || rc=1
exit "$rc"
