"""Search on the real Elasticsearch, over documents built from a database the pipeline filled.

Expected results are computed in Python over the same documents, so each test states what
the search means rather than a number that happened to come out.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import uvloop
from elasticsearch import BadRequestError
from sqlalchemy import Engine, text

from hub.demo import generate
from hub.demo.load import load_demo
from hub.publishing import ingest_file
from hub.publishing.publishers import add_publisher
from indexer.documents import documents
from indexer.elastic import BulkOp, ElasticBackend
from indexer.search import (
    KINDS,
    CursorMismatch,
    SearchFilter,
    SearchRequest,
    SearchResult,
    SearchUnavailable,
)
from indexer.text import highlight, parse_query, tokens
from schema.db import make_engine
from schema.types import PublisherRole, RecordKind
from tests.conftest import fresh_database
from tests.elastic_fixtures import elastic, elastic_prefix, elastic_url  # noqa: F401
from tests.factories import LENOVO_DEALER, transaction, write_csv
from tests.silent_listener import silent_listener

TABLES = {
    "notice": "notices",
    "transaction": "transactions",
    "party": "parties",
    "penalty": "penalty_records",
}
Doc = dict[str, Any]


@dataclass
class Indexed:
    backend: ElasticBackend
    engine: Engine
    docs: dict[str, dict[int, Doc]]  # kind → pk → document, exactly what was indexed

    def search(self, query: str = "", **kwargs: Any) -> SearchResult:
        return self.backend.search(SearchRequest(parse_query(query), **kwargs))

    def matching(self, kinds: tuple[str, ...], keep: Callable[[Doc], bool]) -> set[tuple[str, int]]:
        return {(k, pk) for k in kinds for pk, d in self.docs[k].items() if keep(d)}

    def all_docs(self) -> Iterator[Doc]:
        for kind in KINDS:
            yield from self.docs[kind].values()

    def build(self, backend: ElasticBackend) -> dict[str, str]:
        """Fresh indices holding every document, refreshed, not yet behind the aliases."""
        new = backend.create_indices()
        ops = [BulkOp(k, pk, d, 1) for k in KINDS for pk, d in self.docs[k].items()]
        assert backend.bulk(ops, indices=new) == []
        backend.refresh(new.values())
        return new


def _camera_file(folder: Path) -> Path:
    """Records the demo lacks: a camera with a compound model number, a known supplier."""
    return write_csv(folder / "extra.csv", [
        transaction("DD-TEST-CAM-1", item_name="网络摄像机", brand="海康威视", model="DS-2CD3T47DWD-L",
                    category_code="A02091102", unit_price="899.00", quantity="10", amount="8990.00",
                    unit="台", order_date="2024-06-03"),
        transaction("DD-TEST-PC-1", order_date="2024-06-04"),
    ])  # fmt: skip


@pytest.fixture(scope="module")
def indexed(
    elastic: ElasticBackend,  # noqa: F811
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Indexed]:
    folder = tmp_path_factory.mktemp("search-elastic")
    with fresh_database("sqlite", request, folder) as url:
        engine = make_engine(url)
        files = generate(folder / "demo", projects=30, transactions=600, penalties=30)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        with engine.begin() as conn:
            add_publisher(conn, "测试电子卖场", PublisherRole.trading_platform, ["220000"],
                          [RecordKind.transaction])  # fmt: skip
        assert ingest_file(engine, _camera_file(folder), "测试电子卖场").status == "accepted"
        docs: dict[str, dict[int, Doc]] = {}
        with engine.connect() as conn:
            for kind, table in TABLES.items():
                pks = list(conn.execute(text(f"SELECT id FROM {table}")).scalars())
                docs[kind] = documents(conn, kind, pks)
                assert len(docs[kind]) == len(pks) > 0
        state = Indexed(elastic, engine, docs)
        elastic.swap_aliases(state.build(elastic))
        yield state
        engine.dispose()


def keys(result: SearchResult) -> set[tuple[str, int]]:
    return {(h.kind, h.pk) for h in result.hits}


def all_keys(state: Indexed, query: str = "", **kwargs: Any) -> list[tuple[str, int]]:
    """Every hit of a search, page by page with search_after."""
    found, after = [], None
    while True:
        page = state.search(query, size=50, after=after, **kwargs)
        found += [(h.kind, h.pk) for h in page.hits]
        if len(page.hits) < 50:
            return found
        after = page.hits[-1].sort


def squeezed(doc: Doc) -> str:
    """The text as the standard analyzer sees a phrase: case, spaces, punctuation gone."""
    return re.sub(r"[\W_]+", "", doc["text"].lower())


# Chinese words, phrases, model numbers, names


def test_two_character_word_finds_the_longer_words_containing_it(indexed: Indexed) -> None:
    copy = indexed.search("复印", kinds=("transaction",), size=50)
    paper = indexed.matching(("transaction",), lambda d: "复印纸" in d["text"])
    assert paper and paper <= set(all_keys(indexed, "复印", kinds=("transaction",)))
    assert copy.total == len(indexed.matching(("transaction",), lambda d: "复印" in d["text"]))


def test_a_word_does_not_match_another_word_sharing_a_character(indexed: Indexed) -> None:
    printing = indexed.search("打印", size=50)
    assert printing.total > 0
    for kind, pk in keys(printing):
        assert "打印" in indexed.docs[kind][pk]["text"]
    top = indexed.docs[printing.hits[0].kind][printing.hits[0].pk]
    assert "打印" in top["title"] or "打印" in top["text"]
    assert "复印" not in top["title"]


def test_whole_word_ranks_above_its_characters_scattered(indexed: Indexed) -> None:
    paper = indexed.search("复印纸", size=10)
    assert all("复印纸" in indexed.docs[h.kind][h.pk]["text"] for h in paper.hits)
    assert paper.total == len(indexed.matching(KINDS, lambda d: "复印纸" in d["text"]))


def test_quoted_phrase_matches_adjacent_words_only(indexed: Indexed) -> None:
    found = set(all_keys(indexed, '"联想 启天"'))
    assert found == indexed.matching(KINDS, lambda d: "联想启天" in squeezed(d)) != set()
    separate = set(all_keys(indexed, "联想 启天"))
    assert found <= separate


@pytest.mark.parametrize("typed", ["M4360", "m4360", "启天m4360", "启天M4360", "Ｍ４３６０"])
def test_model_numbers_match_as_typed_in_any_case(indexed: Indexed, typed: str) -> None:
    found = set(all_keys(indexed, typed, kinds=("transaction",)))
    assert found == indexed.matching(("transaction",), lambda d: d["model"] == "启天M4360")


def test_compound_model_number_whole_or_in_part(indexed: Indexed) -> None:
    [camera] = [d for d in indexed.docs["transaction"].values() if d["order_id"] == "DD-TEST-CAM-1"]
    for typed in ("DS-2CD3T47DWD-L", "ds-2cd3t47dwd-l", "DS-2CD3T47", "2cd3t47dwd"):
        assert indexed.search(typed).hits[0].pk == camera["pk"], typed
    assert indexed.search("dd-test-cam-1").hits[0].pk == camera["pk"]  # an order number


def test_supplier_by_full_name_and_by_part(indexed: Indexed) -> None:
    [party] = [d for d in indexed.docs["party"].values() if d["name"] == LENOVO_DEALER[0]]
    full = indexed.search(LENOVO_DEALER[0])
    assert (full.hits[0].kind, full.hits[0].pk) == ("party", party["pk"])
    theirs = indexed.matching(("transaction",), lambda d: party["pk"] in d["supplier_ids"])
    part = set(all_keys(indexed, "博远科技"))
    assert ("party", party["pk"]) in part and theirs <= part
    by_code = indexed.search(LENOVO_DEALER[1].lower())  # its credit code, typed in lower case
    assert ("party", party["pk"]) in keys(by_code)
    assert by_code.total == 1 + len(theirs)


def test_exclusions_drop_words_and_phrases(indexed: Indexed) -> None:
    found = set(all_keys(indexed, "复印纸 -晨光"))
    assert found == indexed.matching(
        KINDS, lambda d: "复印纸" in d["text"] and "晨光" not in d["text"]
    )
    for kind, pk in all_keys(indexed, '复印纸 -"A4 70g"'):
        assert "a470g" not in squeezed(indexed.docs[kind][pk])


# filters and facets


def _in(day: date, low: date, high: date) -> bool:
    return low <= day <= high


@pytest.mark.parametrize(
    ("search_filter", "keep"),
    [
        (SearchFilter(region_code="220000"), lambda d: (d["region_code"] or "").startswith("22")),
        (SearchFilter(region_code="220100"), lambda d: (d["region_code"] or "").startswith("2201")),
        (SearchFilter(region_code="100000"), lambda d: True),
        (SearchFilter(date_from=date(2024, 6, 1), date_to=date(2024, 6, 30)),
         lambda d: d["date"] is not None and _in(d["date"], date(2024, 6, 1), date(2024, 6, 30))),
        (SearchFilter(amount_min=Decimal("1000"), amount_max=Decimal("5000.50")),
         lambda d: d["amount"] is not None and Decimal(1000) <= d["amount"] <= Decimal("5000.50")),
        (SearchFilter(channel="framework"), lambda d: d["channel"] == "framework"),
        (SearchFilter(notice_type="result"), lambda d: d["notice_type"] == "result"),
        (SearchFilter(category_code_prefix="a0504"),
         lambda d: (d["category_code"] or "").startswith("A0504")),
    ],
)  # fmt: skip
def test_filters_agree_with_python(
    indexed: Indexed, search_filter: SearchFilter, keep: Callable[[Doc], bool]
) -> None:
    found = set(all_keys(indexed, filter=search_filter))
    assert found == indexed.matching(KINDS, keep) != set()


def test_kind_and_party_filters(indexed: Indexed) -> None:
    [party] = [d for d in indexed.docs["party"].values() if d["name"] == LENOVO_DEALER[0]]
    kinds = ("transaction", "notice")
    found = set(all_keys(indexed, kinds=kinds, filter=SearchFilter(supplier_id=party["pk"])))
    assert found == indexed.matching(kinds, lambda d: party["pk"] in d["supplier_ids"]) != set()
    penalties = indexed.search(kinds=("penalty",), size=5)
    assert {h.kind for h in penalties.hits} == {"penalty"}
    assert penalties.total == len(indexed.docs["penalty"])


def test_facets_count_what_python_counts(indexed: Indexed) -> None:
    result = indexed.search("采购")
    docs = [indexed.docs[k][pk] for k, pk in all_keys(indexed, "采购")]
    assert result.total == len(docs)
    for facet, field in [("kind", "kind"), ("notice_type", "notice_type"),
                         ("region", "region_province"), ("category", "category_root"),
                         ("channel", "channel"), ("year", "year")]:  # fmt: skip
        expected = Counter(str(d[field]) for d in docs if d[field] is not None)
        assert {b.key: b.count for b in result.facets[facet]} == expected, facet
    amounts = [d["amount"] for d in docs if d["amount"] is not None]
    assert result.amount is not None
    assert result.amount.count == len(amounts)
    assert result.amount.sum == sum(amounts)
    assert result.amount.min == min(amounts) and result.amount.max == max(amounts)


# highlights


def test_highlights_wrap_whole_words(indexed: Indexed) -> None:
    result = indexed.search("复印纸 A4", kinds=("transaction",), size=5)
    fragments = [f for h in result.hits for fs in h.highlights.values() for f in fs]
    assert any("<em>复印纸</em>" in f for f in fragments)
    assert any("<em>A4</em>" in f for f in fragments)
    assert not any("<em>复</em>" in f or "</em><em>" in f for f in fragments)
    # An order's brand and model are separate fields: each word is marked. (A notice whose
    # awarded item reads 联想 启天M428 marks the phrase whole: <em>联想 启天</em>.)
    phrase = indexed.search('"联想 启天"', kinds=("transaction",), size=1).hits[0].highlights
    assert "<em>联想</em>" in phrase["text"][0] and "<em>启天</em>" in phrase["text"][0]
    notice = indexed.search('"联想 启天"', kinds=("notice",), size=1).hits[0].highlights
    assert "<em>联想 启天</em>" in notice["text"][0]


def test_highlight_is_escaped_and_prefers_longer_words() -> None:
    assert highlight("<b>复印纸</b>与复印机", ["复印", "复印纸"]) == [
        "&lt;b&gt;<em>复印纸</em>&lt;/b&gt;与<em>复印</em>机"
    ]
    assert highlight("联想启天M4360台式机", ["m4360"]) == ["联想启天<em>M4360</em>台式机"]
    long = "甲" * 200 + "复印纸" + "乙" * 200
    [fragment] = highlight(long, ["复印纸"], fragment_chars=20)
    assert fragment.startswith("…") and fragment.endswith("…") and "<em>复印纸</em>" in fragment


# query syntax and tokens (shared with the embedded backend)


@pytest.mark.parametrize(
    ("typed", "words", "phrases", "excluded"),
    [
        ('复印纸 "联想 启天" -A3 -"单一来源"', ("复印纸",), ("联想 启天",), ("A3", "单一来源")),
        ("“联想　启天”　－晨光", (), ("联想 启天",), ("晨光",)),
        ('"unclosed phrase', (), ("unclosed phrase",), ()),
        ('- "" -"" ，、 ***', (), (), ()),
        ("复印纸，打印机  复印纸", ("复印纸", "打印机"), (), ()),
    ],
)
def test_parse_query(typed: str, words: tuple, phrases: tuple, excluded: tuple) -> None:
    parsed = parse_query(typed)
    assert (parsed.words, parsed.phrases, parsed.excluded) == (words, phrases, excluded)


def test_tokens_keep_ascii_words_whole() -> None:
    found = tokens("联想启天M4360，复印纸Ａ４ 70g DS-2CD3T47")
    assert {"联想", "启天", "m4360", "复印", "复印纸", "a4", "70g", "ds-2cd3t47"} <= set(found)
    assert "，" not in found and " " not in found


# deep pagination, rebuilds, failures


def test_search_after_pages_past_the_result_window(indexed: Indexed) -> None:
    expected = len(indexed.docs["transaction"])
    assert expected > 4 * 50  # the window the fixture sets
    with pytest.raises(BadRequestError):
        indexed.backend.client.search(index=indexed.backend.alias("transaction"), from_=60)
    for order_by in ("date", "amount", "relevance"):
        found = all_keys(indexed, kinds=("transaction",), order_by=order_by)
        assert len(found) == len(set(found)) == expected, order_by
    dated = [indexed.docs[k][pk]["date"] for k, pk in all_keys(indexed, order_by="date")]
    assert dated[: len([d for d in dated if d])] == sorted([d for d in dated if d], reverse=True)


def test_a_keys_only_search_gives_the_same_page_without_facets(indexed: Indexed) -> None:
    for order_by in ("date", "relevance"):
        full = indexed.search("复印纸", kinds=("transaction",), order_by=order_by, size=7)
        light = indexed.search(
            "复印纸", kinds=("transaction",), order_by=order_by, size=7, keys_only=True
        )
        assert [(h.pk, h.sort) for h in light.hits] == [(h.pk, h.sort) for h in full.hits]
        assert full.hits and full.facets and not light.facets
        assert light.total == len(light.hits) and all(not h.highlights for h in light.hits)


def test_the_loop_s_searches_answer_as_the_blocking_client(indexed: Indexed) -> None:
    """The hub awaits its searches on its event loop (indexer.es_loop, under uvloop as served):
    hits, scores, highlights, facets and totals equal the blocking client's, second pages
    through a point in time too, and a cursor of another order is refused alike."""
    backend = indexed.backend
    asked = [
        SearchRequest(parse_query("复印纸"), size=5),
        SearchRequest(parse_query('"联想 启天" -A3'), kinds=("notice", "transaction"), size=3),
        SearchRequest(parse_query(""), order_by="amount", size=7, filter=SearchFilter(
            channel="framework")),
    ]  # fmt: skip

    def plain(result: SearchResult) -> tuple[Any, ...]:  # the PIT's id differs per search
        hits = [(h.kind, h.pk, h.score, h.sort[:4], h.highlights) for h in result.hits]
        return result.total, hits, result.facets, result.amount

    async def on_the_loop() -> list[Any]:
        out: list[Any] = []
        for request in asked:
            first = await backend.asearch(request)
            second = await backend.asearch(replace(request, after=first.hits[-1].sort))
            out.append((first, second))
        foreign = replace(asked[0], order_by="date", after=out[2][0].hits[-1].sort)
        with pytest.raises(CursorMismatch):
            await backend.asearch(foreign)
        await backend.aclose()
        return out

    for request, (first, second) in zip(asked, uvloop.run(on_the_loop()), strict=True):
        blocking = backend.search(request)
        assert first.hits and plain(first) == plain(blocking)
        assert second.hits and plain(second) == plain(
            backend.search(replace(request, after=blocking.hits[-1].sort))
        )
    with pytest.raises(CursorMismatch):
        backend.search(replace(asked[0], order_by="date", after=blocking.hits[-1].sort))


def test_pages_without_point_in_time_are_the_same(indexed: Indexed, elastic_url: str) -> None:  # noqa: F811
    plain = ElasticBackend(elastic_url, prefix=indexed.backend.prefix, point_in_time=False)
    with_pit = all_keys(indexed, "吉林", order_by="amount")
    indexed.backend, saved = plain, indexed.backend
    try:
        assert all_keys(indexed, "吉林", order_by="amount") == with_pit
    finally:
        indexed.backend = saved


def test_searches_keep_answering_while_aliases_swap(indexed: Indexed) -> None:
    backend = indexed.backend
    expected = indexed.search("复印纸").total
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def keep_searching() -> None:
        while not stop.is_set():
            try:
                seen.append(indexed.search("复印纸").total)
            except BaseException as exc:
                errors.append(exc)

    searcher = threading.Thread(target=keep_searching)
    searcher.start()
    try:
        for _ in range(2):
            old = backend.swap_aliases(indexed.build(backend))
            backend.drop_indices(old.values())
    finally:
        stop.set()
        searcher.join()
    assert not errors and len(seen) > 2 and set(seen) == {expected}
    assert backend.current_indices().keys() == set(KINDS)


def test_paging_goes_on_across_a_rebuild(indexed: Indexed) -> None:
    """Page 2 opens a point in time; a rebuild drops its index; page 3 goes on without it."""
    kwargs: dict[str, Any] = {"kinds": ("transaction",), "order_by": "date", "size": 40}
    first = indexed.search(**kwargs)
    second = indexed.search(after=first.hits[-1].sort, **kwargs)
    assert str(second.hits[-1].sort[-1]).startswith("pit:")
    backend = indexed.backend
    backend.drop_indices(backend.swap_aliases(indexed.build(backend)).values())
    pages = [first, second]
    while len(pages[-1].hits) == 40:
        pages.append(indexed.search(after=pages[-1].hits[-1].sort, **kwargs))
    found = [(h.kind, h.pk) for page in pages for h in page.hits]
    assert found == all_keys(indexed, kinds=("transaction",), order_by="date")
    assert len(set(found)) == len(indexed.docs["transaction"])


def test_external_versions_keep_the_newest_change(indexed: Indexed) -> None:
    backend = indexed.backend
    doc = {**next(iter(indexed.docs["penalty"].values())), "pk": 10**9, "title": "版本五"}
    assert backend.bulk([("penalty", 10**9, doc, 5)], refresh=True) == []
    older = {**doc, "title": "版本三"}
    assert backend.bulk([("penalty", 10**9, older, 3)], refresh=True) == []  # 409: not a failure
    assert indexed.search("版本五", kinds=("penalty",)).total == 1
    assert indexed.search("版本三", kinds=("penalty",)).total == 0
    assert backend.bulk([("penalty", 10**9, None, 6)], refresh=True) == []
    assert indexed.search("版本五", kinds=("penalty",)).total == 0
    assert backend.bulk([("penalty", 10**9, None, 7)], refresh=True) == []  # already gone


def test_bad_document_is_reported_not_raised(indexed: Indexed) -> None:
    bad = {**next(iter(indexed.docs["penalty"].values())), "date": "not a date"}
    [failure] = indexed.backend.bulk([("penalty", 10**9 + 1, bad, 1)])
    assert (failure.kind, failure.pk, failure.status) == ("penalty", 10**9 + 1, 400)
    assert "date" in failure.error


def test_unreachable_elasticsearch_raises_search_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = ElasticBackend(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(SearchUnavailable):
        backend.search(SearchRequest(parse_query("复印纸")))
    with pytest.raises(SearchUnavailable):
        backend.bulk([("party", 1, {"title": "x"}, 1)])
    assert backend.health()["status"] == "unavailable"


def test_a_hung_node_costs_a_search_its_timeout_and_no_more() -> None:
    """A node that accepts and never answers: every search call gives up after the search
    timeout, concurrent ones side by side (not queued behind the first), health likewise."""
    with silent_listener() as hung:
        backend = ElasticBackend(hung, search_timeout=1.0)
        took: list[float] = []

        def one() -> None:
            started = time.perf_counter()
            with pytest.raises(SearchUnavailable, match="did not answer"):
                backend.search(SearchRequest(parse_query("复印纸")))
            took.append(time.perf_counter() - started)

        threads = [threading.Thread(target=one) for _ in range(4)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(took) == 4 and all(0.9 < t < 3 for t in took), took
        assert time.perf_counter() - started < 4  # side by side: four in series take 4 s
        started = time.perf_counter()
        assert backend.health()["status"] == "unavailable"
        assert time.perf_counter() - started < 3


def test_missing_index_raises_search_unavailable(elastic_url: str) -> None:  # noqa: F811
    backend = ElasticBackend(elastic_url, prefix="caigou-test-nothing-here")
    with pytest.raises(SearchUnavailable, match="index rebuild") as blocking:
        backend.search(SearchRequest(parse_query("复印纸")))

    async def on_the_loop() -> None:
        with pytest.raises(SearchUnavailable) as awaited:
            await backend.asearch(SearchRequest(parse_query("复印纸")))
        await backend.aclose()
        assert str(awaited.value) == str(blocking.value)  # worded alike on both paths

    uvloop.run(on_the_loop())


def test_health_reports_counts(indexed: Indexed) -> None:
    health = indexed.backend.health()
    assert health["status"] in ("green", "yellow")
    assert health["documents"] == {k: len(indexed.docs[k]) for k in KINDS}
    assert health["smartcn"] is False  # the minimal distribution has no analysis plugins
