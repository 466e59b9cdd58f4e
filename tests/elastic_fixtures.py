"""The real Elasticsearch for tests: its URL from the environment, one index prefix a session.

Import the fixtures into a test module (`from tests.elastic_fixtures import elastic`).
Locally a missing server skips the tests; in CI (CI set) it fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from indexer.elastic import ElasticBackend

ELASTICSEARCH_URL = os.environ.get("CAIGOU_TEST_ELASTICSEARCH_URL")
# Small on purpose: deep-pagination tests prove search_after goes past it.
MAX_RESULT_WINDOW = 50


@pytest.fixture(scope="session")
def elastic_url() -> str:
    if not ELASTICSEARCH_URL:
        message = (
            "CAIGOU_TEST_ELASTICSEARCH_URL is not set: start Elasticsearch with "
            "`bash scripts/elasticsearch.sh start` and export the URL it prints"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return ELASTICSEARCH_URL


@pytest.fixture(scope="session")
def elastic_prefix() -> str:
    """Unique per test session, so parallel runs on one cluster never share an index."""
    return f"caigou-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def elastic(elastic_url: str, elastic_prefix: str) -> Iterator[ElasticBackend]:
    """A backend on the test cluster; every index it made is dropped at the end."""
    backend = ElasticBackend(
        elastic_url,
        prefix=elastic_prefix,
        index_settings={"max_result_window": MAX_RESULT_WINDOW},
    )
    yield backend
    backend.drop_all()
    backend.client.close()
