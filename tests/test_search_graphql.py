"""GraphQL `search` over HTTP, on both backends: SQLite FTS5 and the real Elasticsearch.

The same demo data and the same assertions for each: what a searcher sees must not depend on
which backend a hub runs. Expected sets come from SQL over the same database.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from hub.publishing.publishers import add_publisher
from hub.read.cursors import global_id
from indexer.worker import run as drain_outbox
from schema.types import PublisherRole, RecordKind
from tests.conftest import fresh_database
from tests.elastic_fixtures import elastic_url  # noqa: F401  (a fixture)
from tests.factories import transaction
from tests.hub_server import free_port, graphql, running
from tests.indexing import caught_up
from tests.web_client import web

SEARCH = """
query Search($q: String!, $kinds: [SearchKind!], $filter: SearchFilterInput,
             $first: Int, $after: String, $order: SearchOrder! = RELEVANCE) {
  search(query: $q, kinds: $kinds, filter: $filter, first: $first, after: $after,
         orderBy: $order) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor kind score highlights { field fragments }
      node { __typename
        ... on Transaction { orderId itemName brand model amount regionCode channel
                             supplier { name } }
        ... on Party { name uscc }
        ... on Notice { title noticeType } } }
    facets { kind { key count } channel { key label count } year { key count } }
    amount { count sum }
  }
}"""


@dataclass
class SearchHub:
    backend: str
    base: str
    engine: Engine
    token: str
    index: Any  # what makes a change searchable: nothing (embedded) or one drain (Elasticsearch)

    def search(self, q: str, **variables: Any) -> dict[str, Any]:
        answer = graphql(self.base, SEARCH, {"q": q, **variables})
        assert "errors" not in answer, answer["errors"]
        return answer["data"]["search"]  # type: ignore[no-any-return]

    def all_hits(self, q: str, **variables: Any) -> list[dict[str, Any]]:
        """Every hit, page by page through the cursors."""
        hits: list[dict[str, Any]] = []
        after = None
        while True:
            page = self.search(q, first=100, after=after, **variables)
            hits += page["edges"]
            if not page["pageInfo"]["hasNextPage"]:
                return hits
            after = page["pageInfo"]["endCursor"]

    def sql(self, statement: str, **params: object) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(statement), params).all())


@pytest.fixture(scope="module", params=["embedded", "elasticsearch"])
def hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SearchHub]:
    backend = request.param
    folder = tmp_path_factory.mktemp(f"search-{backend}")
    # Elasticsearch serves deployments, which run on PostgreSQL; the embedded index is SQLite's.
    dialect = "sqlite" if backend == "embedded" else "postgresql"
    with fresh_database(dialect, request, folder) as url:
        es_url = request.getfixturevalue("elastic_url") if backend == "elasticsearch" else None
        prefix = f"caigou-test-{uuid.uuid4().hex[:8]}"
        settings = Settings(url, str(folder / "exports"), es_url, prefix)
        app = create_app(settings)
        engine: Engine = app.state.engine
        files = generate(folder / "demo", projects=30, transactions=1_500, penalties=30)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        with engine.begin() as conn:
            _, token = add_publisher(conn, "测试电子卖场", PublisherRole.trading_platform, ["220000"],
                                     [RecordKind.transaction])  # fmt: skip
        target = app.state.search.backend

        def index() -> None:
            if es_url:  # the worker's job
                drain_outbox(engine, target, once=True)
                target.refresh()
            else:  # the hub's own background catch-up
                caught_up(engine)

        if es_url:
            index()
        with running(app) as base:
            index()
            yield SearchHub(backend, base, engine, token, index)
        if es_url:
            target.drop_all()
        engine.dispose()


def _ids(hits: list[dict[str, Any]]) -> list[str]:
    return [h["node"]["orderId"] for h in hits]


def test_a_word_finds_every_record_that_has_it_once_across_pages(hub: SearchHub) -> None:
    hits = hub.all_hits("复印纸", kinds=["TRANSACTION"])
    expected = {r.order_id for r in hub.sql(
        "SELECT order_id FROM transactions WHERE item_name LIKE '%复印纸%'")}  # fmt: skip
    assert len(expected) > 100  # more than a page
    assert len(_ids(hits)) == len(set(_ids(hits)))  # no hit twice
    assert expected <= set(_ids(hits))
    first = hits[0]
    assert any("<em>复印纸</em>" in f for h in first["highlights"] for f in h["fragments"])
    assert not any(
        "<em>复</em>" in f for h in hits for x in h["highlights"] for f in x["fragments"]
    )


def test_two_character_words_and_model_numbers_as_typed(hub: SearchHub) -> None:
    short = hub.all_hits("复印", kinds=["TRANSACTION"])
    assert len(short) > 10 and all("复印" in h["node"]["itemName"] for h in short[:10])
    [(copying,)] = hub.sql("SELECT count(*) FROM transactions WHERE item_name LIKE '%复印%'")
    assert len(short) >= copying
    models = [
        r.model
        for r in hub.sql("SELECT DISTINCT model FROM transactions WHERE model LIKE '%M4360%'")
    ]
    assert models
    for typed in ("m4360", "M4360", "启天M4360"):
        found = hub.all_hits(typed, kinds=["TRANSACTION"])
        assert found and all("M4360" in h["node"]["model"] for h in found), typed
        [(count,)] = hub.sql("SELECT count(*) FROM transactions WHERE model LIKE '%M4360%'")
        assert len(found) == count, typed


def test_exclusions_and_phrases(hub: SearchHub) -> None:
    paper = set(_ids(hub.all_hits("复印纸", kinds=["TRANSACTION"])))
    brands = Counter(r.brand for r in hub.sql(
        "SELECT brand FROM transactions WHERE item_name = '复印纸'"))  # fmt: skip
    brand = brands.most_common(1)[0][0]
    without = hub.all_hits(f"复印纸 -{brand}", kinds=["TRANSACTION"])
    assert without and all(h["node"]["brand"] != brand for h in without)
    with_brand = set(_ids(hub.all_hits(f"复印纸 {brand}", kinds=["TRANSACTION"])))
    assert set(_ids(without)) == paper - with_brand
    phrase = hub.all_hits('"联想 启天"', kinds=["TRANSACTION"])
    assert phrase and all(
        h["node"]["brand"] == "联想" and h["node"]["model"].startswith("启天") for h in phrase
    )


def test_facets_count_the_hits_and_filters_narrow_them(hub: SearchHub) -> None:
    page = hub.search("台式计算机", kinds=["TRANSACTION"], first=5)
    hits = hub.all_hits("台式计算机", kinds=["TRANSACTION"])
    assert page["totalCount"] == len(hits)
    by_channel = Counter(h["node"]["channel"] for h in hits)
    assert {b["key"]: b["count"] for b in page["facets"]["channel"]} == dict(by_channel)
    assert {b["label"] for b in page["facets"]["channel"]} <= {"协议供货", "定点采购", "电子卖场"}
    narrowed = hub.all_hits("台式计算机", kinds=["TRANSACTION"], filter={
        "regionCode": "220100", "channel": "emall", "amount": {"min": "5000"}})  # fmt: skip
    assert narrowed and len(narrowed) < len(hits)
    for h in narrowed:
        node = h["node"]
        assert node["regionCode"].startswith("2201") and node["channel"] == "emall"
        assert float(node["amount"]) >= 5000


def test_ordering_by_amount_pages_in_order(hub: SearchHub) -> None:
    hits = hub.all_hits("复印纸", kinds=["TRANSACTION"], order="AMOUNT")
    amounts = [float(h["node"]["amount"]) for h in hits]
    assert amounts == sorted(amounts, reverse=True)


def test_a_supplier_by_its_name_or_part_of_it(hub: SearchHub) -> None:
    [(name, uscc)] = hub.sql(
        "SELECT p.name, p.uscc FROM parties p JOIN transactions t ON t.supplier_id = p.id "
        "GROUP BY p.id, p.name, p.uscc ORDER BY count(*) DESC, p.id LIMIT 1"
    )
    whole = hub.search(name, kinds=["PARTY"], first=3)["edges"]
    assert whole[0]["node"]["name"] == name
    part = name[:4]  # e.g. 长春东方 of 长春东方科技有限公司
    assert name in {h["node"]["name"] for h in hub.all_hits(part, kinds=["PARTY"])}
    assert hub.search(uscc.lower(), kinds=["PARTY"], first=1)["edges"][0]["node"]["uscc"] == uscc


def test_a_published_order_becomes_findable(hub: SearchHub) -> None:
    order = transaction("DD2024SEARCH0001", item_name="碎纸机", brand="科密", model="C-9288X")
    answer = graphql(hub.base, """mutation P($r: [JSON!]!) { publish(kind: TRANSACTION, records: $r)
        { accepted } }""", {"r": [order]}, token=hub.token)  # fmt: skip
    assert answer["data"]["publish"]["accepted"] == 1, answer
    hub.index()
    found = hub.search("c-9288x", kinds=["TRANSACTION"])
    assert [e["node"]["orderId"] for e in found["edges"]] == ["DD2024SEARCH0001"]


def test_the_page_says_the_index_is_behind_until_it_catches_up(hub: SearchHub) -> None:
    """A change not yet searchable is announced on `/`, and the notice goes once it is; on
    the loop (PostgreSQL, Elasticsearch) the lag read is reused a second (hub.search.LAG_TTL),
    so both within a few seconds. The embedded index drains in the hub within moments, too
    soon to see the notice (tests/test_search_resilience.py holds a longer catch-up)."""
    order = transaction(f"DD2024BEHIND{hub.backend[:4].upper()}", item_name="碎纸机",
                        brand="科密", model="C-9288B")  # fmt: skip
    answer = graphql(hub.base, """mutation P($r: [JSON!]!) { publish(kind: TRANSACTION, records: $r)
        { accepted } }""", {"r": [order]}, token=hub.token)  # fmt: skip
    assert answer["data"]["publish"]["accepted"] == 1, answer

    def notice_within(shown: bool, seconds: float = 5.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            page = web.get(f"{hub.base}/", params={"q": "碎纸机"}, timeout=30)
            assert page.status_code == 200
            if ("索引更新中" in page.text) == shown:
                return True
            time.sleep(0.1)
        return False

    if hub.backend == "elasticsearch":  # nothing drains it here but the worker
        assert notice_within(True), "the page never said the index is catching up"
    hub.index()
    assert notice_within(False), "the page still says the index is catching up"


def test_bad_search_input_names_the_argument(hub: SearchHub) -> None:
    answer = graphql(hub.base, SEARCH, {"q": "复印纸", "first": 500})
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "first" in answer["errors"][0]["message"]


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity", "1e30", "1e999999"])
def test_an_amount_no_column_holds_is_bad_input_on_graphql_and_the_page(
    hub: SearchHub, amount: str
) -> None:
    """Valid Decimals that bound nothing stored (NaN, Infinity, 1e30) were passed to the
    index as they came and crashed it: "Unexpected error." and a 500 page."""
    for side in ("min", "max"):
        answer = graphql(hub.base, SEARCH, {"q": "复印纸", "filter": {"amount": {side: amount}}})
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
        assert f"filter.amount.{side}" in answer["errors"][0]["message"]
        page = web.get(f"{hub.base}/", params={"q": "复印纸", side: amount})
        assert page.status_code == 400 and "金额" in page.text, page.text[:300]
    assert hub.search("复印纸", filter={"amount": {"min": "0", "max": "9999999999999"}})["edges"]


@pytest.mark.parametrize("values", [[{"a": 1}, 1], [{"a": 1}, 1, 2], [[1], "x", 3], [True, {}]])
def test_a_forged_cursor_of_objects_is_bad_input(hub: SearchHub, values: list[Any]) -> None:
    """Sort values that are no scalar reached the database driver: "Unexpected error."."""
    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode()
    for order in ("RELEVANCE", "DATE", "AMOUNT"):
        answer = graphql(hub.base, SEARCH, {"q": "复印纸", "after": cursor, "order": order})
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
        assert "after" in answer["errors"][0]["message"]


def test_a_cursor_of_another_order_or_list_names_after_on_graphql_and_the_page(
    hub: SearchHub,
) -> None:
    """A cursor kept from a page in another order (or from another list) and sent back is the
    client's mistake: BAD_USER_INPUT naming `after`, a 400 page; never "Unexpected error"."""
    by_amount = hub.search("复印纸", first=1, order="AMOUNT")["pageInfo"]["endCursor"]
    listed = graphql(hub.base, "{ transactions(first: 1) { pageInfo { endCursor } } }")
    of_a_list = listed["data"]["transactions"]["pageInfo"]["endCursor"]
    for cursor, order, sort in ((by_amount, "DATE", "date"), (of_a_list, "RELEVANCE", "")):
        answer = graphql(hub.base, SEARCH, {"q": "复印纸", "after": cursor, "order": order})
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
        assert "after" in answer["errors"][0]["message"]
        page = web.get(f"{hub.base}/", params={"q": "复印纸", "sort": sort, "after": cursor})
        assert page.status_code == 400, page.text[:300]
        assert "after" in page.text


def test_search_down_is_an_error_of_its_own_and_the_rest_keeps_answering(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with fresh_database("sqlite", request, tmp_path) as url:
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        app = create_app(Settings(url, str(tmp_path / "exports"), dead, "caigou-test"))
        with running(app) as base:
            answer = graphql(base, SEARCH, {"q": "复印纸"})
            assert answer["data"] is None
            assert answer["errors"][0]["extensions"]["code"] == "SEARCH_UNAVAILABLE"
            assert dead in answer["errors"][0]["message"]
            rest = graphql(base, "{ transactions(first: 1) { totalCount } }")
            assert rest == {"data": {"transactions": {"totalCount": 0}}}
            health = web.get(f"{base}/healthz").json()
            assert health["status"] == "degraded" and health["database"] == "ok"
            assert health["search"]["status"] == "unavailable"


def test_a_page_reads_rows_only_of_the_kinds_whose_fields_it_shows(hub: SearchHub) -> None:
    name = hub.sql("""SELECT p.name FROM parties p JOIN transactions t ON t.supplier_id = p.id
                      GROUP BY p.name ORDER BY count(*) DESC LIMIT 1""")[0][0]  # fmt: skip
    only_orders = """query($q: String!) { search(query: $q, first: 50) {
        edges { kind node { __typename ... on Transaction { orderId } } } } }"""
    answer, statements = _with_statements(hub, only_orders, name)
    edges = answer["data"]["search"]["edges"]
    kinds = Counter(e["kind"] for e in edges)
    assert kinds["TRANSACTION"] and kinds["PARTY"], kinds  # the supplier and its orders
    assert all(
        e["node"]["__typename"] == "Transaction" for e in edges if e["kind"] == "TRANSACTION"
    )
    assert all(e["node"]["orderId"] for e in edges if e["kind"] == "TRANSACTION")
    assert not [s for s in statements if "from parties" in s or "from notices" in s]
    # A fragment on an interface asks every kind for its fields: all rows are read.
    with_ids = only_orders.replace("__typename", "__typename ... on Node { id }")
    answer, statements = _with_statements(hub, with_ids, name)
    nodes = [e["node"] for e in answer["data"]["search"]["edges"]]
    ids = hub.sql("SELECT id FROM parties WHERE name = :n", n=name)
    assert len(nodes) == len(edges) and all(n["id"] for n in nodes)
    assert ids and any(n["__typename"] == "Party" for n in nodes)
    party_ids = {n["id"] for n in nodes if n["__typename"] == "Party"}
    assert party_ids and party_ids <= {global_id("Party", pk) for (pk,) in ids}
    assert [s for s in statements if "from parties" in s]


def _with_statements(hub: SearchHub, query: str, q: str) -> tuple[dict[str, Any], list[str]]:
    """The answer to a search, and the SQL statements the hub ran for it."""
    statements: list[str] = []
    listen = lambda *args: statements.append(args[2].lower())  # noqa: E731
    event.listen(hub.engine, "before_cursor_execute", listen)
    try:
        return graphql(hub.base, query, {"q": q}), statements
    finally:
        event.remove(hub.engine, "before_cursor_execute", listen)
