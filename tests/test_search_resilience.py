"""Search never freezes the hub: a hung Elasticsearch, a long outbox, a breaker that opens.

Real servers throughout: the hub under uvicorn (tests/hub_server.py), a loopback socket that
accepts connections and never answers standing in for a hung Elasticsearch (no mock: that
is exactly what a hung node looks like on the wire), and the embedded index on SQLite.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import median
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.config import Settings
from hub.publishing import ingest_records
from hub.publishing.publishers import add_publisher
from indexer.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpen
from schema.types import PublisherRole, RecordKind
from tests.conftest import fresh_database
from tests.factories import transaction
from tests.hub_server import graphql, running
from tests.indexing import caught_up
from tests.silent_listener import silent_listener
from tests.web_client import web

SEARCH = """query($q: String!) { search(query: $q, kinds: [TRANSACTION], first: 5) {
  totalCount indexLag { pending oldestPendingAt } nodes { ... on Transaction { orderId } } } }"""
OTHER = "{ transactions(first: 1) { totalCount } }"
MALL = "吉林省政府采购电子卖场"


def timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = call()
    return time.perf_counter() - started, answer


def test_a_hung_elasticsearch_leaves_other_requests_at_their_usual_latency(
    database_url: str, tmp_path: Path
) -> None:
    timeout, failures = 3.0, 3
    with silent_listener() as hung:
        settings = Settings(database_url, str(tmp_path / "exports"), hung, "caigou-test",
                            search_timeout=timeout, search_failures=failures,
                            search_cool_down=300)  # fmt: skip
        app = create_app(settings)
        with running(app) as base:
            health = lambda: web.get(f"{base}/healthz", timeout=30)  # noqa: E731
            other = lambda: graphql(base, OTHER)  # noqa: E731
            usual = median(timed(other)[0] for _ in range(5))
            first_health, answer = timed(health)
            assert first_health < 1.0 and answer.json()["status"] == "degraded"  # no answer yet
            with ThreadPoolExecutor(16) as pool:  # more than the 12 a hub lets wait
                searches = [pool.submit(timed, lambda: graphql(base, SEARCH, {"q": "复印纸"}))
                            for _ in range(16)]  # fmt: skip
                time.sleep(1.0)  # every search has arrived: waiting on the silent socket, or not
                during = [timed(other) for _ in range(5)]
                health_during = [timed(health) for _ in range(3)]
                assert sum(not s.done() for s in searches) == 12  # measured while they hung
                results = [s.result() for s in searches]
            # Blocking would cost them the search timeout (3 s); a slow shared machine, ~0.1 s.
            assert all(a == {"data": {"transactions": {"totalCount": 0}}} for _, a in during)
            assert median(t for t, _ in during) < max(3 * usual, 0.3), (usual, during)
            assert max(t for t, _ in during) < 1.5, during
            assert max(t for t, _ in health_during) < 1.0, health_during
            for _, answer in results:
                assert answer["data"] is None
                assert answer["errors"][0]["extensions"]["code"] == "SEARCH_UNAVAILABLE"
            messages = [answer["errors"][0]["message"] for _, answer in results]
            busy = [t for t, a in results if "busy" in a["errors"][0]["message"]]
            # Refused as they came (a loaded machine opens 16 connections slowly), not after
            # waiting on the backend.
            assert len(busy) == 4 and max(busy) < timeout, messages
            waited = [t for t, a in results if "did not answer" in a["errors"][0]["message"]]
            # Their timeout, plus one more for the 4 that queued for a thread (those admitted
            # before 3 failures were counted): slow, never stuck.
            assert len(waited) == 12 and max(waited) < timeout * 3, waited
            # The breaker is open now: a search fails at once, naming the reason.
            elapsed, answer = timed(lambda: graphql(base, SEARCH, {"q": "复印纸"}))
            assert elapsed < 1.0
            error = answer["errors"][0]
            assert error["extensions"]["code"] == "SEARCH_UNAVAILABLE"
            assert "not tried again" in error["message"] and hung in error["message"]
            for path in ("/?q=复印纸", "/transactions?q=复印纸", "/transactions.csv?q=复印纸"):
                page = timed(lambda: web.get(f"{base}{path}", timeout=30))  # noqa: B023
                assert page[0] < 1.0 and page[1].status_code == 503, path
                assert "搜索暂不可用" in page[1].text, path  # a page that says so, not a file
            elapsed, answer = timed(health)
            assert elapsed < 1.0
            assert answer.json()["status"] == "degraded"
            assert answer.json()["search"]["status"] == "unavailable"
        app.state.engine.dispose()


def test_search_answers_from_the_index_while_the_outbox_drains_in_the_background(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    count = 8_000  # ~3 s of catch-up here: far longer than a search may take
    with fresh_database("sqlite", request, tmp_path) as url:
        app = create_app(Settings(url, str(tmp_path / "exports"), None))
        engine = app.state.engine
        with engine.begin() as conn:
            add_publisher(conn, MALL, PublisherRole.trading_platform, ["220000"],
                          [RecordKind.transaction], "http://mall.example.gov.cn")  # fmt: skip
        with running(app) as base:
            rows = [transaction(f"DD{i:08d}", item_name="碎纸机", model=f"ZX-{i}")
                    for i in range(count)]  # fmt: skip
            assert ingest_records(engine, MALL, RecordKind.transaction, rows).status == "accepted"
            elapsed, answer = timed(lambda: graphql(base, SEARCH, {"q": "碎纸机"}))
            found = answer["data"]["search"]
            assert elapsed < 1.5, elapsed
            assert found["totalCount"] < count  # answered from what is indexed so far
            assert found["indexLag"]["pending"] > 0 and found["indexLag"]["oldestPendingAt"]
            page = web.get(f"{base}/?q=碎纸机", timeout=30)
            assert page.status_code == 200 and "索引更新中" in page.text
            during = [timed(lambda: graphql(base, OTHER))[0] for _ in range(5)]
            assert max(during) < 1.0, during
            caught_up(engine)
            found = graphql(base, SEARCH, {"q": "碎纸机"})["data"]["search"]
            assert found["totalCount"] == count
            assert found["indexLag"] == {"pending": 0, "oldestPendingAt": None}
            assert "索引更新中" not in web.get(f"{base}/?q=碎纸机", timeout=30).text
        engine.dispose()


def test_an_embedded_search_past_the_query_timeout_is_cut_short_and_opens_no_breaker(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The embedded index searched through an engine without the statement limit: a query
    of 31 one-character exclusions ran 2 s and more, eight of them held the search threads
    for 15 s, and the CSV download of it ran for minutes. Now each search statement has the
    query timeout: cut short, it answers QUERY_TIMEOUT (a 503 page), and the client's slow
    query does not count against the index (the breaker would close search for everyone)."""
    count = 3_000
    with fresh_database("sqlite", request, tmp_path) as url:
        settings = Settings(url, str(tmp_path / "exports"), None, query_timeout=0.002,
                            search_failures=2)  # fmt: skip
        app = create_app(settings)
        engine = app.state.engine
        with engine.begin() as conn:
            add_publisher(conn, MALL, PublisherRole.trading_platform, ["220000"],
                          [RecordKind.transaction], "http://mall.example.gov.cn")  # fmt: skip
        rows = [transaction(f"DD{i:08d}", item_name=f"碎纸机 {i % 97} 型", model=f"ZX-{i}")
                for i in range(count)]  # fmt: skip
        assert ingest_records(engine, MALL, RecordKind.transaction, rows).status == "accepted"
        slow = " ".join(f"-{c}" for c in "abcdefghijklmnopqrstuvwxyz01234") + " 碎 纸"
        with running(app) as base:
            caught_up(engine)
            for _ in range(4):  # twice the breaker's failures
                answer = graphql(base, SEARCH, {"q": slow})
                assert answer["errors"][0]["extensions"]["code"] == "QUERY_TIMEOUT", answer
            page = web.get(f"{base}/", params={"q": slow}, timeout=30)
            assert page.status_code == 503 and "CAIGOU_QUERY_TIMEOUT" in page.text
            assert (
                web.get(f"{base}/healthz", timeout=30).json()["search"]["status"] != "unavailable"
            )
        engine.dispose()


def test_a_csv_download_past_the_request_timeout_is_cut_off_never_looking_whole(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """/transactions.csv searches up to a hundred pages; its pages share
    CAIGOU_REQUEST_TIMEOUT. Past it the transfer is aborted, never a file that looks whole."""
    count = 450  # five pages
    with fresh_database("sqlite", request, tmp_path) as url:
        for budget, whole in ((0.0, True), (1e-6, False)):
            settings = Settings(url, str(tmp_path / "exports"), None, request_timeout=budget)
            app = create_app(settings)
            engine = app.state.engine
            if whole:
                with engine.begin() as conn:
                    add_publisher(conn, MALL, PublisherRole.trading_platform, ["220000"],
                                  [RecordKind.transaction], "http://mall.example.gov.cn")  # fmt: skip
                rows = [transaction(f"DD{i:08d}", item_name="碎纸机") for i in range(count)]
                assert ingest_records(engine, MALL, RecordKind.transaction, rows).accepted == count
            with running(app) as base:
                caught_up(engine)
                if whole:
                    got = web.get(f"{base}/transactions.csv", params={"q": "碎纸机"}, timeout=60)
                    assert got.text.count("碎纸机") == count
                else:
                    with pytest.raises(httpx.RemoteProtocolError):  # the chunked body breaks off
                        web.get(f"{base}/transactions.csv", params={"q": "碎纸机"}, timeout=60)
            engine.dispose()


def test_breaker_opens_after_failures_in_a_row_and_tries_once_after_the_cool_down() -> None:
    now = [0.0]
    breaker = CircuitBreaker(3, 30.0, counts=(OSError,), clock=lambda: now[0])

    def fail() -> None:
        raise OSError("connection timed out")

    for _ in range(2):
        with pytest.raises(OSError):
            breaker.call(fail)
    assert breaker.call(lambda: "ok") == "ok" and breaker.state == CLOSED  # a success resets
    for _ in range(3):
        with pytest.raises(OSError):
            breaker.call(fail)
    assert breaker.state == OPEN
    with pytest.raises(CircuitOpen, match=r"3 failures in a row.*connection timed out"):
        breaker.call(lambda: "never called")
    now[0] = 31.0
    assert breaker.state == HALF_OPEN
    with pytest.raises(OSError):  # the one trial fails: open for another cool-down
        breaker.call(fail)
    assert breaker.state == OPEN
    now[0] = 62.0
    refused: list[str] = []

    def trial() -> str:  # while the trial is in flight, every other call is refused
        try:
            breaker.call(lambda: "second caller")
        except CircuitOpen as exc:
            refused.append(str(exc))
        return "back"

    assert breaker.call(trial) == "back" and len(refused) == 1
    assert breaker.state == CLOSED
    for _ in range(5):  # a bug is not an outage: it never opens the breaker
        with pytest.raises(ValueError):
            breaker.call(lambda: int("x"))
    assert breaker.state == CLOSED


def test_search_settings_are_read_and_a_bad_one_is_named() -> None:
    env = {"CAIGOU_SEARCH_TIMEOUT": "0.5", "CAIGOU_SEARCH_FAILURES": "2",
           "CAIGOU_SEARCH_COOL_DOWN": "10"}  # fmt: skip
    settings = Settings.from_env(env)
    assert (settings.search_timeout, settings.search_failures, settings.search_cool_down) == (
        0.5, 2, 10.0,
    )  # fmt: skip
    defaults = Settings.from_env({})
    assert (defaults.search_timeout, defaults.search_failures) == (2.0, 5)
    for variable, value in [("CAIGOU_SEARCH_TIMEOUT", "2s"), ("CAIGOU_SEARCH_FAILURES", "0"),
                            ("CAIGOU_SEARCH_COOL_DOWN", "-1")]:  # fmt: skip
        with pytest.raises(ValueError, match=variable):
            Settings.from_env({variable: value})
