#!/usr/bin/env bash
# Stops the development stack. Data in var/ is kept; `make clean` removes it.
set -euo pipefail
dir="$(dirname "${BASH_SOURCE[0]}")"
# Italy's gateway, if the demo left it running (URA_DEMO_KEEP=1): by its PID.
bash "$dir/peer.sh" down
# Replicas and their load balancer (deploy/dev/replicas.sh), by their PIDs.
bash "$dir/replicas.sh" stop
bash "$dir/vault.sh" down
bash "$dir/postgres.sh" down
bash "$dir/redis.sh" down
