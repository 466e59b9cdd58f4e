"""The embedded search (SQLite FTS5) on a database built by the publishing pipeline.

SQLite only: the embedded backend exists for databases without Elasticsearch, which means
SQLite. Expected answers come from SQL on the records, never from the backend itself.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from hub.demo import generate
from hub.demo.load import load_demo
from hub.publishing import ingest_records
from indexer.catch_up import CatchUpThread
from indexer.documents import documents
from indexer.embedded import EmbeddedBackend
from indexer.outbox import IndexOp
from indexer.search import KINDS, CursorMismatch, SearchFilter, SearchRequest, SearchResult
from indexer.text import parse_query
from indexer.worker import database_counts
from schema.db import make_engine
from schema.types import RecordKind
from tests.conftest import fresh_database
from tests.elastic_fixtures import elastic, elastic_prefix, elastic_url  # noqa: F401
from tests.factories import transaction
from tests.indexing import caught_up

MALL = "吉林省政府采购电子卖场"
TABLE = {
    "notice": "notices",
    "transaction": "transactions",
    "party": "parties",
    "penalty": "penalty_records",
}
Key = tuple[str, int]


@dataclass
class Hub:
    engine: Engine
    backend: EmbeddedBackend

    def search(self, query: str, **options: Any) -> SearchResult:
        return self.backend.search(SearchRequest(parse_query(query), **options))

    def keys(self, query: str, **options: Any) -> set[Key]:
        """Every hit of `query`, paged through 100 at a time."""
        return {(h.kind, h.pk) for h in self.every_hit(query, **options)}

    def every_hit(self, query: str, size: int = 100, **options: Any) -> list[Any]:
        hits: list[Any] = []
        after = None
        while True:
            page = self.search(query, size=size, after=after, **options).hits
            hits += page
            if len(page) < size:
                return hits
            after = page[-1].sort

    def sql(self, statement: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return conn.execute(text(statement), params).all()

    def ids(self, kind: str, statement: str, **params: Any) -> set[Key]:
        return {(kind, row[0]) for row in self.sql(statement, **params)}


@pytest.fixture(scope="module")
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    folder = tmp_path_factory.mktemp("embedded")
    with fresh_database("sqlite", request, folder) as url:
        engine = make_engine(url)
        files = generate(folder / "demo", projects=30, transactions=1_500, penalties=30)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        backend = EmbeddedBackend(engine)
        assert backend.catch_up() > 2_000
        yield Hub(engine, backend)
        engine.dispose()


@pytest.fixture
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite database for the tests that write (overrides conftest's two dialects)."""
    with fresh_database("sqlite", request, tmp_path) as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def transactions_where(hub: Hub, condition: str, **params: Any) -> set[Key]:
    return hub.ids(
        "transaction",
        "SELECT t.id FROM transactions t JOIN parties s ON s.id = t.supplier_id "
        f"JOIN parties p ON p.id = t.purchaser_id WHERE {condition}",
        **params,
    )


def test_a_two_character_word_finds_the_words_it_is_part_of(hub: Hub) -> None:
    found = hub.every_hit("复印", kinds=("transaction",))
    paper = transactions_where(hub, "t.item_name = '复印纸'")
    written = transactions_where(
        hub, "t.item_name || t.brand || t.model || s.name || p.name LIKE '%复印%'"
    )
    assert paper and paper <= written <= {(h.kind, h.pk) for h in found}
    assert all("<em>复印" in str(h.highlights) for h in found)


def test_model_numbers_match_in_any_case_and_width(hub: Hub) -> None:
    expected = transactions_where(hub, "t.model LIKE '%M4360%'")
    assert len(expected) > 50
    for typed in ("m4360", "M4360", "Ｍ４３６０", "启天M4360"):
        assert hub.keys(typed, kinds=("transaction",)) == expected, typed
    assert hub.keys("kfr-35gw", kinds=("transaction",)) == transactions_where(
        hub, "t.model LIKE 'KFR-35GW%'"
    )
    assert hub.keys("M436", kinds=("transaction",)) == set()  # a standard token is whole


def test_phrases_keep_their_words_together_and_in_order(hub: Hub) -> None:
    phrase = hub.keys('"联想 启天"', kinds=("transaction",))
    assert phrase == transactions_where(hub, "t.brand = '联想' AND t.model LIKE '启天%'")
    assert phrase <= hub.keys("联想 启天", kinds=("transaction",))
    assert hub.keys('"启天 联想"', kinds=("transaction",)) == set()
    assert hub.keys('"A4 70g"', kinds=("transaction",)) == transactions_where(
        hub, "t.model LIKE '%A4 70g%'"
    )
    assert hub.keys('"70g"', kinds=("transaction",)) == transactions_where(
        hub, "t.model LIKE '%70g%'"
    )


def test_a_supplier_is_found_by_its_name_and_by_part_of_it(hub: Hub) -> None:
    [(supplier_id, name, sold)] = hub.sql(
        "SELECT s.id, s.name, count(*) FROM transactions t JOIN parties s ON s.id = t.supplier_id "
        "GROUP BY s.id ORDER BY count(*) DESC, s.id LIMIT 1"
    )
    whole = hub.search(name, kinds=("party",), size=5)
    assert whole.hits[0].pk == supplier_id
    assert whole.hits[0].highlights["title"] == [f"<em>{name}</em>"]
    sales = hub.ids(
        "transaction", "SELECT id FROM transactions WHERE supplier_id = :s", s=supplier_id
    )
    assert len(sales) == sold and sales <= hub.keys(name)
    part = name[2:6]  # 长春博瑞科技有限公司 → 博瑞科技
    assert ("party", supplier_id) in hub.keys(part, kinds=("party",))
    assert hub.keys(part, kinds=("party",)) == hub.ids(
        "party", "SELECT id FROM parties WHERE name LIKE :p", p=f"%{part}%"
    )


def test_excluded_words_remove_their_hits(hub: Hub) -> None:
    printers, hp = hub.keys("打印机"), hub.keys("惠普")
    both = hub.keys("打印机 -惠普")
    assert both and both == printers - hp and printers & hp
    brands = {
        r.brand for r in hub.sql("SELECT brand FROM transactions WHERE item_name = '激光打印机'")
    }
    assert "惠普" in brands
    assert hub.keys('复印纸 -"A4 70g"', kinds=("transaction",)) == transactions_where(
        hub, "t.item_name = '复印纸' AND t.model NOT LIKE '%A4 70g%'"
    )


def test_filters_agree_with_sql(hub: Hub) -> None:
    paper = SearchFilter(
        region_code="220100",
        date_from=date(2024, 3, 1),
        date_to=date(2024, 8, 31),
        amount_min=Decimal("100"),
        amount_max=Decimal("5000"),
        channel="emall",
        category_code_prefix="a05",
    )
    expected = transactions_where(
        hub, "t.item_name = '复印纸' AND t.region_code LIKE '2201%' AND t.channel = 'emall' "
        "AND t.order_date BETWEEN '2024-03-01' AND '2024-08-31' AND t.amount BETWEEN 10000 AND 500000 "
        "AND t.category_code LIKE 'A05%'",
    )  # fmt: skip
    assert expected and hub.keys("复印纸", filter=paper) == expected
    [(supplier,)] = hub.sql("SELECT supplier_id FROM transactions ORDER BY id LIMIT 1")
    assert hub.keys("", filter=SearchFilter(supplier_id=supplier)) == hub.ids(
        "transaction", "SELECT id FROM transactions WHERE supplier_id = :s", s=supplier
    ) | hub.ids("penalty", "SELECT id FROM penalty_records WHERE subject_id = :s", s=supplier) | {
        ("notice", r.id) for r in hub.sql(
            "SELECT DISTINCT n.id FROM notices n JOIN awards a ON a.project_id = n.project_id "
            "JOIN award_suppliers l ON l.award_pk = a.id WHERE l.party_id = :s AND a.status != "
            "'cancelled' AND n.notice_type IN ('result', 'contract', 'acceptance', 'agency_fee')",
            s=supplier,
        )
    }  # fmt: skip
    results = hub.keys("", filter=SearchFilter(notice_type="result", procurement_method="open"))
    assert results == hub.ids(
        "notice", "SELECT n.id FROM notices n JOIN projects p ON p.id = n.project_id "
        "WHERE n.notice_type = 'result' AND p.procurement_method = 'open'",
    )  # fmt: skip


def test_facets_and_amount_stats_equal_sql_counts(hub: Hub) -> None:
    everything = hub.search("", size=1)
    assert {b.key: b.count for b in everything.facets["kind"]} == database_counts_of(hub)
    assert everything.total == sum(database_counts_of(hub).values())
    years = Counter(
        {r[0]: r[1] for r in hub.sql(
            "SELECT y, sum(n) FROM (SELECT substr(published_at, 1, 4) y, count(*) n FROM notices "
            "GROUP BY y UNION ALL SELECT substr(order_date, 1, 4), count(*) FROM transactions "
            "GROUP BY 1 UNION ALL SELECT substr(decision_date, 1, 4), count(*) FROM penalty_records "
            "GROUP BY 1) GROUP BY y"
        )}
    )  # fmt: skip
    assert {b.key: b.count for b in everything.facets["year"]} == years
    jilin = hub.search("", kinds=("transaction",), filter=SearchFilter(region_code="220200"))
    where = "FROM transactions WHERE region_code LIKE '2202%'"
    assert jilin.total == hub.sql(f"SELECT count(*) {where}")[0][0] > 0
    for facet, column in (("channel", "channel"), ("category", "substr(category_code, 1, 3)")):
        counts = hub.sql(f"SELECT {column}, count(*) {where} GROUP BY 1 ORDER BY 2 DESC, 1")
        assert [(b.key, b.count) for b in jilin.facets[facet]] == [tuple(r) for r in counts]
    assert [(b.key, b.count) for b in jilin.facets["region"]] == [("220000", jilin.total)]
    [fen] = hub.sql(f"SELECT count(amount), sum(amount), min(amount), max(amount) {where}")
    stats = jilin.amount  # the table keeps fen
    assert stats is not None and stats.count == fen[0]
    assert [stats.sum, stats.min, stats.max] == [Decimal(v) / 100 for v in fen[1:]]
    types = hub.search("", kinds=("notice",)).facets["notice_type"]
    assert {b.key: b.count for b in types} == dict(
        hub.sql("SELECT notice_type, count(*) FROM notices GROUP BY 1")
    )


def database_counts_of(hub: Hub) -> dict[str, int]:
    with hub.engine.connect() as conn:
        return database_counts(conn)


@pytest.mark.parametrize(
    ("order_by", "descending"),
    [("relevance", True), ("date", True), ("date", False), ("amount", True), ("amount", False)],
)
def test_keyset_pages_cover_every_hit_once_in_order(
    hub: Hub, order_by: str, descending: bool
) -> None:
    options = {"order_by": order_by, "descending": descending}
    everything = hub.every_hit("科技", size=100, **options)
    paged = hub.every_hit("科技", size=37, **options)
    keys = [(h.kind, h.pk) for h in paged]
    assert len(keys) == len(set(keys)) == hub.search("科技", **options).total > 300
    assert keys == [(h.kind, h.pk) for h in everything]
    head = [h.sort[0] for h in paged]
    present = [v for v in head if v is not None]
    assert present == sorted(present, reverse=descending or order_by == "relevance")
    assert all(v is None for v in head[len(present) :])  # missing dates and amounts last


def test_date_order_equals_sql_order(hub: Hub) -> None:
    hits = hub.every_hit("", kinds=("transaction",), order_by="date", size=100)
    expected = hub.sql("SELECT id FROM transactions ORDER BY order_date DESC, id DESC")
    assert [h.pk for h in hits] == [r.id for r in expected]


def test_a_keys_only_search_pages_the_same_hits_without_the_extras(hub: Hub) -> None:
    """The price chart's cheaper search: the same hits, order and cursors, nothing else."""
    for query, order in (("科技", "relevance"), ("复印纸", "date"), ("", "amount")):
        full = hub.search(query, kinds=("transaction",), order_by=order, size=7)
        light = hub.search(query, kinds=("transaction",), order_by=order, size=7, keys_only=True)
        assert [(h.kind, h.pk, h.sort) for h in light.hits] == [
            (h.kind, h.pk, h.sort) for h in full.hits
        ], query
        assert full.hits and full.facets and not light.facets and light.total == len(light.hits)
        assert all(h.highlights == {} for h in light.hits)


def test_highlights_show_whole_words(hub: Hub) -> None:
    [paper] = hub.search("复印纸", kinds=("transaction",), size=1).hits
    assert paper.highlights["title"] == ["<em>复印纸</em>"]
    [computer] = hub.search("m4360 联想", kinds=("transaction",), size=1).hits
    shown = computer.highlights["text"][0]
    assert "<em>联想</em>" in shown and "<em>M4360</em>" in shown
    assert "<em>联</em>" not in shown
    assert hub.search("", size=1).hits[0].highlights == {}


def test_bulk_replays_are_idempotent_and_late_changes_lose(engine: Engine, add) -> None:  # type: ignore[no-untyped-def]
    add(MALL, "trading_platform", ["220000"], ["transaction"])
    rows = [transaction("DD1"), transaction("DD2", item_name="复印纸", model="A4 70g")]
    ingest_records(engine, MALL, RecordKind.transaction, rows)
    backend = EmbeddedBackend(engine)
    with engine.connect() as conn:
        docs = documents(conn, "transaction", [1, 2])
    ops = [IndexOp("transaction", pk, doc, 100) for pk, doc in docs.items()]
    assert backend.bulk(ops) == []
    before = backend.search(SearchRequest(parse_query("复印纸")))
    assert backend.bulk(ops) == [] and backend.bulk(ops[::-1]) == []
    assert backend.count("transaction") == 2
    assert backend.search(SearchRequest(parse_query("复印纸"))) == before
    stale = {**docs[2], "title": "碎纸机", "text": "碎纸机", "tokens": ["碎纸机"]}
    assert backend.bulk([IndexOp("transaction", 2, stale, 99)]) == []
    assert backend.search(SearchRequest(parse_query("碎纸机"))).total == 0
    assert backend.bulk([IndexOp("transaction", 2, stale, 101)]) == []
    assert backend.search(SearchRequest(parse_query("碎纸机"))).total == 1
    assert backend.search(SearchRequest(parse_query("复印纸"))).total == 0
    backend.bulk([IndexOp("transaction", 2, None, 102), IndexOp("transaction", 2, stale, 101)])
    assert backend.count("transaction") == 1
    assert backend.bulk([IndexOp("transaction", 2, stale, 101)]) == []  # a late upsert
    assert backend.count("transaction") == 1
    assert backend.bulk([IndexOp("transaction", 2, None, 102)]) == []
    assert backend.bulk([IndexOp("transaction", 2, docs[2], 103)]) == []
    assert backend.search(SearchRequest(parse_query("复印纸"))).total == 1


def test_catch_up_makes_a_new_record_findable(engine: Engine, add) -> None:  # type: ignore[no-untyped-def]
    add(MALL, "trading_platform", ["220000"], ["transaction"])
    backend = EmbeddedBackend(engine)
    ingest_records(engine, MALL, RecordKind.transaction, [transaction("DD1")])
    assert backend.catch_up() == 3  # the transaction, its purchaser and its supplier
    assert backend.catch_up() == 0
    request = SearchRequest(parse_query("碎纸机 ZX-9000"))
    assert backend.search(request).total == 0
    row = transaction("DD2", item_name="碎纸机", brand="科密", model="ZX-9000")
    ingest_records(engine, MALL, RecordKind.transaction, [row])
    assert backend.search(request).total == 0  # not yet drained
    assert backend.catch_up() >= 1
    [hit] = backend.search(request).hits
    assert hit.kind == "transaction" and hit.highlights["title"] == ["<em>碎纸机</em>"]
    assert backend.health()["outbox_empty"] is True


def test_background_catch_up_lets_ingests_write_between_its_batches(engine: Engine, add) -> None:  # type: ignore[no-untyped-def]
    """The serving process's catch-up holds SQLite's write lock one batch at a time: a
    publisher's ingest during a long catch-up waits for a batch, not for the whole outbox."""
    add(MALL, "trading_platform", ["220000"], ["transaction"])
    rows = [transaction(f"DD{i:08d}", model=f"ZX-{i}") for i in range(6_000)]
    assert ingest_records(engine, MALL, RecordKind.transaction, rows).status == "accepted"
    backend = EmbeddedBackend(engine)
    backend.ensure_tables()
    catching_up = CatchUpThread(backend)
    catching_up.start()
    try:
        deadline = time.monotonic() + 30
        while not catching_up.indexed and time.monotonic() < deadline:
            time.sleep(0.01)  # the first batch is in
        late = transaction("DDLATE", item_name="碎纸机", brand="科密", model="C-9288X")
        started = time.perf_counter()
        assert ingest_records(engine, MALL, RecordKind.transaction, [late]).status == "accepted"
        waited = time.perf_counter() - started
        assert 0 < catching_up.indexed < len(rows)  # measured mid-way
        assert waited < 1.5, waited
        caught_up(engine)
        assert backend.search(SearchRequest(parse_query("c-9288x"))).total == 1
    finally:
        started = time.perf_counter()
        catching_up.stop()
        assert time.perf_counter() - started < 5


def test_rebuild_refills_every_kind_from_the_records(hub: Hub) -> None:
    before = hub.keys("复印纸 -晨光")
    counts = hub.backend.rebuild(batch=400)
    assert counts == database_counts_of(hub) == {k: hub.backend.count(k) for k in KINDS}
    assert hub.keys("复印纸 -晨光") == before
    health = hub.backend.health()
    assert health["status"] == "green" and health["documents"] == counts


def test_an_after_of_another_order_is_refused(hub: Hub) -> None:
    first = hub.search("科技", order_by="amount", size=1).hits[0]
    with pytest.raises(CursorMismatch, match="cursor"):
        hub.search("科技", order_by="date", after=(*first.sort, 1))


PARITY_QUERIES = [
    "复印纸", "复印", "m4360", "M4360", "联想 启天", '"联想 启天"', "打印机 -惠普", "KFR-35GW",
    "科技有限公司", '"A4 70g"', "硒鼓 CF228A", "公开招标", "单一来源", "中标 结果",
    "不良行为", "长春", "维修", "投影仪 爱普生",
]  # fmt: skip


def test_elasticsearch_finds_the_same_hits(hub: Hub, elastic) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The same query, the same hits and facets on both backends (Elasticsearch configured)."""
    elastic.ensure_indices()
    with hub.engine.connect() as conn:
        for kind in KINDS:
            pks = [r[0] for r in conn.execute(text(f"SELECT id FROM {TABLE[kind]}"))]
            docs = documents(conn, kind, pks)
            assert elastic.bulk([IndexOp(kind, pk, d, 1) for pk, d in docs.items()]) == []
    elastic.refresh()
    differ, overlaps = [], []
    for query in PARITY_QUERIES:
        request = SearchRequest(parse_query(query), size=50)
        ours, theirs = every_key(hub.backend, request), every_key(elastic, request)
        if ours != theirs:
            differ.append((query, len(ours), len(theirs), sorted(ours ^ theirs)[:5]))
        first = hub.backend.search(request), elastic.search(request)
        assert first[0].facets == first[1].facets and first[0].amount == first[1].amount, query
        top = [{(h.kind, h.pk) for h in r.hits[:10]} for r in first]
        overlaps.append(len(top[0] & top[1]))
        print(f"{query}: {len(ours)} hits, top-10 overlap {overlaps[-1]}")
    assert differ == []
    # BM25 differs in detail (FTS5 gives terms in over half a kind's documents no weight;
    # Lucene sums per-character IDFs): the top ten agree on most, not all, queries.
    assert sum(overlaps) >= 0.75 * 10 * len(PARITY_QUERIES)


def every_key(backend: Any, request: SearchRequest) -> set[Key]:
    keys: set[Key] = set()
    while True:
        hits = backend.search(request).hits
        keys |= {(h.kind, h.pk) for h in hits}
        if len(hits) < request.size:
            return keys
        request = replace(request, after=hits[-1].sort)
