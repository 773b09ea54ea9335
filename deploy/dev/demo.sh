#!/usr/bin/env bash
# Walk-through of a running gateway against the development stack. For now it
# shows the stack that a demo would run against.
set -euo pipefail
bash "$(dirname "${BASH_SOURCE[0]}")/status.sh"
