#!/usr/bin/env bash
# Stops the development stack. Data in var/ is kept; `make clean` removes it.
set -euo pipefail
dir="$(dirname "${BASH_SOURCE[0]}")"
bash "$dir/vault.sh" down
bash "$dir/postgres.sh" down
bash "$dir/redis.sh" down
