"""A planned `search` whose backend fails falls back to its resolver, which reports it.

The fault is real: an Elasticsearch URL where nothing listens (connection refused).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from tests.conftest import fresh_database
from tests.hub_server import free_port, running
from tests.web_client import web

QUERY = """{ transactions(first: 2) { totalCount nodes { orderId } }
  search(query: "采购") { totalCount nodes { ... on Transaction { orderId } } } }"""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """On PostgreSQL a request asked again is answered on the event loop, its search there
    too (`GuardedSearch.loop_search`): its failure must read the same."""
    folder: Path = tmp_path_factory.mktemp("plan-search-down")
    with fresh_database(request.param, request, folder) as url:
        nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        settings = Settings(url, str(folder / "exports"), nowhere, "caigou-down",
                            search_failures=3)  # fmt: skip
        app = create_app(settings)
        files = generate(folder / "demo", projects=3, transactions=40, penalties=2)
        assert all(result.status == "accepted" for _, result in load_demo(app.state.engine, files))
        off = create_app(dataclasses.replace(settings, planner=False))
        with running(app) as base, running(off) as off_base:
            yield base, off_base
        off.state.engine.dispose()
        app.state.engine.dispose()


def _post(base: str) -> httpx.Response:
    return web.post(f"{base}/graphql", json={"query": QUERY}, timeout=30)


def _without_request_id(response: httpx.Response) -> dict:
    answer = orjson.loads(response.content)
    assert answer["extensions"].pop("request_id")
    return answer


def test_a_failed_search_falls_back_to_its_resolver_s_error(bases: tuple[str, str]) -> None:
    base, off = bases
    for _ in range(5):  # refused by the backend, then by the open breaker: the same answer
        planned, plain = _post(base), _post(off)
        assert planned.headers["x-caigou-plan"] == "partial", planned.text
        answer = _without_request_id(planned)
        assert answer == _without_request_id(plain)
        assert answer["data"] is None  # `search` is non-null: its error nulls the data
        assert answer["errors"][0]["extensions"]["code"] == "SEARCH_UNAVAILABLE"
        assert list(orjson.loads(planned.content)) == ["data", "errors", "extensions"]
    alone = web.post(f"{base}/graphql", json={"query": '{ search(query: "采购") { totalCount } }'})
    assert alone.headers["x-caigou-plan"] == "fallback"
    assert alone.json()["errors"][0]["extensions"]["code"] == "SEARCH_UNAVAILABLE"
