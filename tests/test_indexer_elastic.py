"""The indexer against the real Elasticsearch: catch-up, idempotency, parking, recovery, rebuild.

Every test writes through the publishing pipeline, so the outbox rows are the ones ingest
writes, and checks the index against the database. The recovery test stops and restarts a
node of its own (another port), so other tests sharing the session's cluster are unaffected.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from hub.publishing import ingest_file, ingest_records
from indexer import elastic_query
from indexer.documents import documents
from indexer.elastic import BulkOp, ElasticBackend
from indexer.outbox import OUTBOX, RetryPolicy, drain
from indexer.search import KINDS, SearchRequest
from indexer.text import parse_query
from indexer.worker import database_counts, rebuild, run, status
from schema.ocds import utc_now_beijing
from schema.search_outbox import enqueue
from schema.tables import TRANSACTIONS
from schema.types import RecordKind
from tests.elastic_fixtures import elastic_prefix, elastic_url  # noqa: F401
from tests.factories import PAPER_DEALER, penalty, project_releases, transaction, write_package

ROOT = Path(__file__).resolve().parents[1]
MALL = "吉林省政府采购电子卖场"
RECOVERY_PORT = os.environ.get("CAIGOU_TEST_ES_RECOVERY_PORT", "9251")


@pytest.fixture
def target(elastic_url: str, elastic_prefix: str) -> Iterator[ElasticBackend]:  # noqa: F811
    """Indices of this test's own behind their aliases; dropped afterwards."""
    backend = ElasticBackend(elastic_url, prefix=f"{elastic_prefix}-{uuid.uuid4().hex[:6]}")
    backend.ensure_indices()
    yield backend
    backend.drop_all()
    backend.client.close()


@pytest.fixture
def hub(engine: Engine, add, tmp_path: Path) -> Engine:  # type: ignore[no-untyped-def]
    """Notices, transactions and a penalty, ingested; their changes wait in the outbox."""
    add(MALL, "trading_platform", ["220000"], ["transaction"])
    add("吉林省政府采购网", "regional_site", ["220000"], ["notice"])
    add("吉林省财政厅", "finance_department", ["220000"], ["penalty"])
    orders = [transaction(f"DD{i}", item_name="复印纸", model=f"A4-{i}") for i in range(1, 40)]
    ingest_records(engine, MALL, RecordKind.transaction, orders)
    ingest_file(engine, write_package(tmp_path / "p.json", project_releases()), "吉林省政府采购网")
    ingest_records(engine, "吉林省财政厅", RecordKind.penalty, [penalty()])
    return engine


def index_counts(target: ElasticBackend) -> dict[str, int]:
    target.refresh()
    return {kind: target.count(kind) for kind in KINDS}


def outbox_size(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(OUTBOX.c.id)).all())


def test_the_indexer_catches_up_and_replays_change_nothing(hub: Engine, target) -> None:
    run(hub, target, once=True, batch=25)
    with hub.connect() as conn:
        counts = database_counts(conn)
        pks = list(conn.execute(select(TRANSACTIONS.c.id)).scalars())
        expected = documents(conn, "transaction", pks[:1])[pks[0]]
    assert index_counts(target) == counts
    assert outbox_size(hub) == 0
    stored = target.client.get(index=target.alias("transaction"), id=str(pks[0]))
    assert stored["_source"]["model"] == expected["model"]
    with hub.begin() as conn:  # the same changes again: the index ends up the same
        enqueue(conn, "transaction", pks, utc_now_beijing())
    run(hub, target, once=True)
    assert index_counts(target) == counts
    again = target.client.get(index=target.alias("transaction"), id=str(pks[0]))
    assert again["_source"] == stored["_source"] and again["_version"] > stored["_version"]
    # a late write of an older version is refused by the index, and that is not a failure
    late = BulkOp("transaction", pks[0], {**expected, "model": "stale"}, stored["_version"])
    assert target.bulk([late]) == []
    final = target.client.get(index=target.alias("transaction"), id=str(pks[0]))
    assert final["_source"]["model"] == expected["model"]


def test_a_deleted_record_leaves_the_index(hub: Engine, target) -> None:
    run(hub, target, once=True)
    with hub.begin() as conn:
        pk = conn.execute(select(TRANSACTIONS.c.id).limit(1)).scalar_one()
        conn.execute(TRANSACTIONS.delete().where(TRANSACTIONS.c.id == pk))
        enqueue(conn, "transaction", [pk], utc_now_beijing(), op="delete")
    run(hub, target, once=True)
    with hub.connect() as conn:
        assert index_counts(target)["transaction"] == database_counts(conn)["transaction"]


def test_a_document_elasticsearch_refuses_is_parked_and_shown(hub: Engine, target) -> None:
    """A real refusal: a document whose amount the mapping cannot parse."""
    with hub.connect() as conn:
        poison = conn.execute(select(TRANSACTIONS.c.id).limit(1)).scalar_one()

    def build(conn: Any, kind: str, pks: list[int]) -> dict[int, dict[str, Any]]:
        docs = documents(conn, kind, pks)
        if kind == "transaction" and poison in docs:
            docs[poison] = {**docs[poison], "amount": "not a number"}
        return docs

    policy = RetryPolicy(base=timedelta(0))
    for _ in range(5):
        drain(hub, target, build=build, policy=policy)
    target.refresh()
    report = status(hub, target)
    assert (report["pending"], report["parked"]) == (0, 1)
    kinds = report["kinds"]["transaction"]
    assert kinds["index"] == kinds["database"] - 1
    with hub.connect() as conn:
        row = conn.execute(select(OUTBOX).where(OUTBOX.c.parked_at.is_not(None))).one()
    assert row.record_pk == poison and "amount" in row.last_error


def _node(action: str) -> None:
    env = {**os.environ, "CAIGOU_ES_PORT": RECOVERY_PORT}
    subprocess.run(
        ["bash", str(ROOT / "scripts/elasticsearch.sh"), action], env=env, check=True,
        capture_output=True, timeout=240,
    )  # fmt: skip


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except Exception:  # the node is still coming up
            pass
        time.sleep(0.5)
    return False


# Two node restarts take a minute or more: once, on the deployment database, is enough.
@pytest.mark.only_on("postgresql")
def test_recovery_after_elasticsearch_was_down(
    engine: Engine,
    add,  # type: ignore[no-untyped-def]
    elastic_prefix,  # noqa: F811
    dialect,
) -> None:
    """Stop Elasticsearch, ingest, restart it: the running indexer catches up on its own."""
    _node("start")
    target = ElasticBackend(f"http://127.0.0.1:{RECOVERY_PORT}", prefix=f"{elastic_prefix}-rec")
    stop = threading.Event()
    worker = threading.Thread(target=run, args=(engine, target), kwargs={"poll": 0.2, "stop": stop})
    try:
        target.ensure_indices()
        worker.start()
        add(MALL, "trading_platform", ["220000"], ["transaction"])
        ingest_records(engine, MALL, RecordKind.transaction, [transaction("DD0")])
        assert wait_for(lambda: outbox_size(engine) == 0, 30)
        _node("stop")
        rows = [transaction(f"DD{i}", supplier_name=PAPER_DEALER[0], supplier_uscc=PAPER_DEALER[1])
                for i in range(1, 200)]  # fmt: skip
        ingest_records(engine, MALL, RecordKind.transaction, rows)
        time.sleep(1.0)  # the indexer meets the closed port and backs off
        assert outbox_size(engine) > 0
        _node("start")
        with engine.connect() as conn:
            expected = database_counts(conn)
        assert wait_for(lambda: index_counts(target) == expected, 120), index_counts(target)
        assert outbox_size(engine) == 0
    finally:
        stop.set()
        worker.join(60)
        target.drop_all()
        _node("stop")


def test_rebuild_swaps_aliases_while_searches_keep_answering(hub: Engine, target) -> None:
    run(hub, target, once=True)
    target.refresh()
    before = target.current_indices()
    answers: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def searcher() -> None:
        request = SearchRequest(parse_query("复印纸"), kinds=("transaction",))
        while not done.is_set():
            try:
                answers.append(target.search(request).total)
            except BaseException as exc:
                errors.append(exc)

    arrived: list[int] = []

    def build(conn: Any, kind: str, pks: list[int]) -> dict[int, dict[str, Any]]:
        if kind == "transaction" and not arrived:  # a change lands mid-rebuild
            arrived.append(1)
            ingest_records(hub, MALL, RecordKind.transaction, [transaction("LATE-1")])
        return documents(conn, kind, pks)

    thread = threading.Thread(target=searcher)
    thread.start()
    try:
        counts = rebuild(hub, target, batch=10, build=build)
    finally:
        done.set()
        thread.join(30)
    after = target.current_indices()
    assert set(after) == set(KINDS) and not set(after.values()) & set(before.values())
    assert not errors and answers and min(answers) >= 39
    assert counts["transaction"] >= 39
    with hub.connect() as conn:
        assert index_counts(target) == database_counts(conn)  # LATE-1 included
    assert outbox_size(hub) == 0
    assert not target.client.indices.exists(index=list(before.values()))


def test_indices_built_before_a_field_existed_get_it_without_a_rebuild(
    elastic_url: str,  # noqa: F811
    elastic_prefix: str,  # noqa: F811
) -> None:
    """An upgrade that adds a field (`flag_codes`) must not leave old indices refusing it."""
    backend = ElasticBackend(elastic_url, prefix=f"{elastic_prefix}-{uuid.uuid4().hex[:6]}")
    try:
        full = elastic_query.mappings("notice", smartcn=backend.smartcn)
        older = {**full, "properties": {k: v for k, v in full["properties"].items()
                                        if k != "flag_codes"}}  # fmt: skip
        backend.ensure_indices()
        name = f"{backend.alias('notice')}-vold"
        backend.client.indices.create(index=name, settings=backend.index_settings, mappings=older)
        backend.swap_aliases({"notice": name})
        backend.ensure_indices()
        found = backend.client.indices.get_mapping(index=name)[name]["mappings"]["properties"]
        assert found["flag_codes"] == full["properties"]["flag_codes"]
        assert backend.current_indices()["notice"] == name  # upgraded in place, not replaced
        backend.client.indices.delete_alias(index=backend.current_indices()["party"],
                                            name=backend.alias("party"))  # fmt: skip
        kept = backend.current_indices()
        backend.ensure_indices()  # a kind without its alias gets one; the others stay
        assert {k: v for k, v in backend.current_indices().items() if k != "party"} == kept
    finally:
        backend.drop_all()
        backend.client.close()
