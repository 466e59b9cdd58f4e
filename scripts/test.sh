#!/usr/bin/env bash
# The README's test command: installs what the tests need, starts PostgreSQL and
# Elasticsearch, runs ruff, mypy and the suite on SQLite, PostgreSQL and Elasticsearch.
# Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh test
CAIGOU_TEST_POSTGRES_URL=$(bash scripts/postgres.sh start)
export CAIGOU_TEST_POSTGRES_URL
CAIGOU_TEST_ELASTICSEARCH_URL=$(bash scripts/elasticsearch.sh start)
export CAIGOU_TEST_ELASTICSEARCH_URL
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # [tool.mypy] in pyproject.toml: hub, schema, indexer, exports
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure, not a pass" >&2
  exit 1
fi
exit "$status"
