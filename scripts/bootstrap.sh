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
if [ "${1:-}" = "test" ]; then
  # libcoveocds (OCDS validation in the tests) lives in its own venv: through flattentool it
  # installs PyPI's `schema` package, whose name would shadow this project's `schema/`.
  if [ ! -x "$root/.venv-tools/bin/python" ]; then
    "$python" -m venv "$root/.venv-tools"
    "$root/.venv-tools/bin/pip" install --quiet --upgrade pip
  fi
  "$root/.venv-tools/bin/pip" install --quiet --disable-pip-version-check "libcoveocds==0.17.0"
  # Browser tests of the web pages: Debian's Chromium (never a downloaded browser), CJK fonts
  # for the screenshots, and axe-core from npm for the accessibility checks.
  if ! command -v chromium >/dev/null || [ ! -d /usr/share/fonts/opentype/noto ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  fi
fi
# GraphiQL for /graphql and axe-core for the page tests, from npm (package-lock.json).
if command -v npm >/dev/null; then
  bash "$root/scripts/build-web.sh"
elif [ "${1:-}" = "test" ]; then
  echo "bootstrap.sh: npm is needed for the web assets (apt-get install npm)" >&2
  exit 1
else
  echo "bootstrap.sh: npm not found; /graphql will offer example queries without GraphiQL" >&2
fi
