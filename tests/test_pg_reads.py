"""PostgreSQL reads on the event loop (hub/pg_reads.py): a request asked before is answered
from its kept plan with its statements awaited on the loop, and a GET's ETag from the data
version read there too. A real hub under uvicorn on a real PostgreSQL.

What a user would notice: the same bytes as the first answer and as the resolvers' (the
planner off); a 304 that waits for a locked version table without holding up anyone else;
a write seen by the very next revalidation.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from schema.data_version import bump_data_version
from tests.conftest import fresh_database
from tests.hub_server import running
from tests.web_client import web

QUERIES = [
    """{ transactions(first: 30) { edges { cursor node { orderId amount orderDate
       supplier { name uscc } purchaser { name } } } pageInfo { hasNextPage endCursor } } }""",
    """{ suppliers(filter: {uscc: "USCC"}) { nodes { name uscc contracts(first: 20) { nodes { contractId
       title amount dateSigned } } transactions(first: 20) { nodes { orderId amount } }
       penalties { recordId kind decisionDate penalty } } } }""",
    """{ transactionStats(groupBy: [MONTH, REGION]) { keys { value label } count
       amount { sum avg min max } } }""",
    """{ parties(first: 10, filter: {role: "purchaser"}) { totalCount nodes { name uscc } } }""",
]
SMALL = "{ transactionStats(groupBy: [MONTH]) { count } }"


@dataclasses.dataclass
class Hubs:
    planned: str
    off: str
    engine: Engine
    short: str  # CAIGOU_QUERY_TIMEOUT = 0.5 s


@pytest.fixture(scope="module")
def hubs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hubs]:
    folder: Path = tmp_path_factory.mktemp("pg-reads")
    with fresh_database("postgresql", request, folder) as url:
        settings = Settings(url, str(folder / "exports"), None)
        app = create_app(settings)
        engine: Engine = app.state.engine
        files = generate(folder / "demo", projects=6, transactions=400, penalties=8)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        off = create_app(dataclasses.replace(settings, planner=False))
        short = create_app(dataclasses.replace(settings, query_timeout=0.5))
        with running(app) as base, running(off) as off_base, running(short) as short_base:
            yield Hubs(base, off_base, engine, short_base)
        off.state.engine.dispose()
        short.state.engine.dispose()
        engine.dispose()


def _post(base: str, query: str) -> httpx.Response:
    response = web.post(f"{base}/graphql", json={"query": query}, timeout=60)
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("query", QUERIES)
def test_a_request_asked_again_gives_the_same_bytes(hubs: Hubs, query: str) -> None:
    with hubs.engine.connect() as conn:  # a supplier with contracts, for the second query
        uscc = conn.execute(text(
            "SELECT p.uscc FROM parties p JOIN contracts c ON c.supplier_id = p.id "
            "WHERE p.uscc IS NOT NULL ORDER BY p.id LIMIT 1"
        )).scalar_one()  # fmt: skip
    query = query.replace("USCC", uscc)
    first = _post(hubs.planned, query)
    assert first.headers["x-caigou-plan"] == "planned"
    assert "errors" not in first.json()
    again = [_post(hubs.planned, query).content for _ in range(3)]  # kept: run on the loop
    assert again == [first.content] * 3
    assert _post(hubs.off, query).content == first.content  # the resolvers' own bytes


def test_a_revalidation_sees_the_write_just_made(hubs: Hubs) -> None:
    params = {"query": SMALL}
    first = web.get(f"{hubs.planned}/graphql", params=params, timeout=30)
    etag = first.headers["etag"]
    again = web.get(f"{hubs.planned}/graphql", params=params, timeout=30,
                      headers={"if-none-match": etag})  # fmt: skip
    assert again.status_code == 304
    with hubs.engine.begin() as conn:
        bump_data_version(conn)
    after = web.get(f"{hubs.planned}/graphql", params=params, timeout=30,
                      headers={"if-none-match": etag})  # fmt: skip
    assert after.status_code == 200 and after.headers["etag"] != etag


def test_a_locked_version_table_holds_up_only_the_revalidation(hubs: Hubs) -> None:
    """A migration or VACUUM FULL holds an exclusive lock on data_version: a GET waiting for
    its version must not hold the loop, so a POST answers meanwhile; the GET answers when
    the lock goes (before: the read in a thread; earlier still, on the loop, froze the hub)."""
    params = {"query": SMALL}
    etag = web.get(f"{hubs.planned}/graphql", params=params, timeout=30).headers["etag"]
    _post(hubs.planned, SMALL)  # planned and kept before the lock
    outcome: dict[str, object] = {}

    def revalidate() -> None:
        started = time.monotonic()
        answer = web.get(f"{hubs.planned}/graphql", params=params, timeout=60,
                           headers={"if-none-match": etag})  # fmt: skip
        outcome["status"], outcome["waited"] = answer.status_code, time.monotonic() - started

    with hubs.engine.connect() as locker:
        locker.execute(text("LOCK TABLE data_version IN ACCESS EXCLUSIVE MODE"))
        waiting = threading.Thread(target=revalidate)
        waiting.start()
        time.sleep(0.5)
        assert "status" not in outcome  # still waiting for the lock
        started = time.monotonic()
        assert _post(hubs.planned, SMALL).status_code == 200
        assert time.monotonic() - started < 2.0  # ~ms measured: not behind the GET
        locker.rollback()
    waiting.join(timeout=30)
    assert outcome["status"] == 304 and float(outcome["waited"]) >= 0.5  # type: ignore[arg-type]


def _timeouts(base: str) -> float:
    text = web.get(f"{base}/metrics", timeout=30).text
    line = next(x for x in text.splitlines() if x.startswith("caigou_statement_timeouts_total"))
    return float(line.split()[-1])


def test_a_version_read_past_the_limit_is_a_503_at_once(
    hubs: Hubs, caplog: pytest.LogCaptureFixture
) -> None:
    """Locked past CAIGOU_QUERY_TIMEOUT, the version read is cut once: a 503, the statement
    counted once (it was read again in a thread after the loop's read, waiting twice)."""
    params = {"query": SMALL}
    etag = web.get(f"{hubs.short}/graphql", params=params, timeout=30).headers["etag"]
    before = _timeouts(hubs.short)
    with hubs.engine.connect() as locker:
        locker.execute(text("LOCK TABLE data_version IN ACCESS EXCLUSIVE MODE"))
        started = time.monotonic()
        answer = web.get(f"{hubs.short}/graphql", params=params, timeout=30,
                           headers={"if-none-match": etag})  # fmt: skip
        waited = time.monotonic() - started
        locker.rollback()
    assert answer.status_code == 503, answer.text
    assert "CAIGOU_QUERY_TIMEOUT" in answer.text
    assert waited < 10, waited
    assert _timeouts(hubs.short) == before + 1
    again = [r.getMessage() for r in caplog.records if "read in a thread" in r.getMessage()]
    assert again == []  # one wait: not read a second time in a thread after the loop's


def test_the_loop_reads_the_schema_the_url_names(hubs: Hubs, tmp_path: Path) -> None:
    """An operator's session settings in the URL (here `search_path`) hold on the loop too:
    libpq `options` of the loop's own replaced them, and a request asked again was answered
    from another schema's table (review: 200 rows, then 2,000)."""
    with hubs.engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA IF NOT EXISTS elsewhere"))
        conn.execute(text("CREATE TABLE IF NOT EXISTS elsewhere.transactions "
                          "(LIKE public.transactions INCLUDING ALL)"))  # fmt: skip
    url = hubs.engine.url.update_query_dict({"options": "-csearch_path=elsewhere,public"})
    app = create_app(Settings(url.render_as_string(hide_password=False), str(tmp_path), None))
    query = "{ transactions(first: 1) { totalCount } }"
    try:
        with running(app) as base:
            counts = [_post(base, query).json()["data"]["transactions"]["totalCount"]
                      for _ in range(4)]  # fmt: skip
    finally:
        app.state.engine.dispose()
    assert counts == [0, 0, 0, 0]
