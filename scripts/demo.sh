#!/usr/bin/env bash
# The README's main command: installs the hub and builds the demo dataset on SQLite.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
exec "$root/.venv/bin/caigou" demo "$@"
