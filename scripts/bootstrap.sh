#!/usr/bin/env bash
# Creates .venv and installs the project into it (with test tools when given "test").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x "$root/.venv/bin/python" ]; then
  "$python" -m venv "$root/.venv"
  "$root/.venv/bin/pip" install --quiet --upgrade pip
fi
extra=""
[ "${1:-}" = "test" ] && extra="[test]"
"$root/.venv/bin/pip" install --quiet --disable-pip-version-check -e "$root$extra"
