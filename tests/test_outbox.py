"""The search outbox on SQLite and PostgreSQL: written with each change, drained safely.

Most tests here need no Elasticsearch: they check what the database holds. Where a test must
make the index refuse one document or be unreachable, it uses `FaultyTarget` below — a fault
injector, not a stand-in for Elasticsearch: a real cluster cannot be made to reject one chosen
document on demand. Indexing for real is tested in tests/test_indexer_elastic.py.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from hub.publishing import ingest_file, ingest_records
from indexer import outbox
from indexer.outbox import IndexOp, RetryPolicy, TargetUnavailable, claim, drain
from indexer.worker import run, status
from schema.columns import table_of
from schema.ocds import utc_now_beijing
from schema.search_outbox import OUTBOX, enqueue
from schema.tables import Party, Transaction
from schema.types import RecordKind
from tests.factories import (
    LENOVO_DEALER,
    penalty,
    project_releases,
    transaction,
    write_csv,
    write_package,
)

MALL = "吉林省政府采购电子卖场"
JILIN = "吉林省政府采购网"
FINANCE = "吉林省财政厅"
NOW = RetryPolicy(base=timedelta(0))  # retry at once: the tests do not wait for backoff


@pytest.fixture
def mall(add):  # type: ignore[no-untyped-def]
    return add(MALL, "trading_platform", ["220000"], ["transaction"])


class FaultyTarget:
    """Fault injection only: refuses the documents in `poison`, or is down when `down`."""

    def __init__(self, poison: set[tuple[str, int]] = frozenset(), down: bool = False) -> None:  # type: ignore[assignment]
        self.poison, self.down = set(poison), down
        self.applied: dict[tuple[str, int], IndexOp] = {}
        self.batches: list[list[IndexOp]] = []

    def bulk(self, ops: Sequence[IndexOp]) -> list[dict[str, Any]]:
        if self.down:
            raise ConnectionError("connection refused")
        self.batches.append(list(ops))
        failures = []
        for op in ops:
            if (op.kind, op.pk) in self.poison:
                failures.append({"kind": op.kind, "pk": op.pk, "error": "mapper_parsing_exception"})
            else:
                self.applied[(op.kind, op.pk)] = op
        return failures

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.applied if k == kind)


def pending(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(OUTBOX).order_by(OUTBOX.c.id)).all()


def kinds(engine: Engine) -> Counter[str]:
    return Counter(row.kind for row in pending(engine))


def ids_of(engine: Engine, model: type) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(select(table_of(model).c.id)).scalars())


def test_ingesting_writes_outbox_rows_with_the_records(engine, mall, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "o.csv", [transaction("DD1"), transaction("DD2"), transaction("DD3")]
    )
    ingest_file(engine, path, MALL)
    rows = pending(engine)
    assert {r.record_pk for r in rows if r.kind == "transaction"} == ids_of(engine, Transaction)
    assert {r.record_pk for r in rows if r.kind == "party"} == ids_of(engine, Party)
    assert kinds(engine) == {"transaction": 3, "party": 2}
    assert all(r.op == "upsert" and r.attempts == 0 and r.parked_at is None for r in rows)
    ingest_file(engine, path, MALL)  # duplicates change nothing, so nothing is queued
    assert kinds(engine) == {"transaction": 3, "party": 2}


def test_a_refused_all_or_nothing_batch_leaves_no_outbox_rows(engine, mall, monkeypatch) -> None:
    monkeypatch.setattr("hub.publishing.transactions.CHUNK", 2)  # the first rows are written
    rows = [transaction("DD1"), transaction("DD2"), transaction("DD3", amount="oops")]
    result = ingest_records(engine, MALL, RecordKind.transaction, rows)
    assert result.status == "rejected"
    assert pending(engine) == []
    assert ids_of(engine, Transaction) == set()


def test_notices_of_a_recompiled_project_and_its_parties_are_queued(engine, add, tmp_path) -> None:
    add(JILIN, "regional_site", ["220000"], ["notice"])
    releases = project_releases()
    ingest_file(engine, write_package(tmp_path / "a.json", releases[:2]), JILIN)
    first = kinds(engine)
    assert first["notice"] == 2 and first["party"] >= 2
    with engine.begin() as conn:
        conn.execute(OUTBOX.delete())
    ingest_file(engine, write_package(tmp_path / "b.json", releases[2:3]), JILIN)
    # the result names the supplier: every notice of the project is re-indexed with it
    assert kinds(engine)["notice"] == 3


def test_a_party_getting_its_code_requeues_what_names_it(engine, mall, add) -> None:
    add(FINANCE, "finance_department", ["220000"], ["penalty"])
    ingest_records(engine, MALL, RecordKind.transaction, [transaction("DD1", supplier_uscc="")])
    with engine.begin() as conn:
        conn.execute(OUTBOX.delete())
    ingest_records(engine, FINANCE, RecordKind.penalty, [penalty(subject_uscc=LENOVO_DEALER[1])])
    assert kinds(engine) == {"penalty": 2, "party": 1, "transaction": 1}


def test_drain_forgets_only_what_the_target_acknowledged(engine, mall) -> None:
    ingest_records(engine, MALL, RecordKind.transaction, [transaction("DD1"), transaction("DD2")])
    (poisoned,) = [pk for pk in ids_of(engine, Transaction)][:1]
    target = FaultyTarget(poison={("transaction", poisoned)})
    result = drain(engine, target, policy=NOW)
    assert (result.claimed, result.indexed, result.failed, result.parked) == (4, 3, 1, 0)
    (left,) = pending(engine)
    assert (left.kind, left.record_pk, left.attempts) == ("transaction", poisoned, 1)
    assert "mapper_parsing_exception" in left.last_error
    assert target.applied[("transaction", next(iter(ids_of(engine, Transaction) - {poisoned})))]


def test_a_poison_document_is_retried_then_parked_and_shown(engine, mall) -> None:
    ingest_records(engine, MALL, RecordKind.transaction, [transaction("DD1")])
    (pk,) = ids_of(engine, Transaction)
    target = FaultyTarget(poison={("transaction", pk)})
    results = [drain(engine, target, policy=NOW) for _ in range(6)]
    assert [r.failed for r in results] == [1, 1, 1, 1, 0, 0]
    assert [r.parked for r in results] == [0, 0, 0, 0, 1, 0]
    assert results[5].claimed == 0  # parked: not retried for ever
    report = status(engine, target)
    assert (report["pending"], report["parked"]) == (0, 1)
    assert report["kinds"]["transaction"] == {"database": 1, "index": 0}
    with engine.connect() as conn:
        (row,) = outbox.parked_rows(conn)
    assert (row.attempts, row.record_pk) == (5, pk) and row.parked_at is not None
    with engine.begin() as conn:
        assert outbox.retry_parked(conn) == 1
    target.poison.clear()
    assert drain(engine, target, policy=NOW).indexed == 1
    assert pending(engine) == []


def test_failures_wait_for_their_backoff(engine, mall) -> None:
    ingest_records(engine, MALL, RecordKind.transaction, [transaction("DD1")])
    (pk,) = ids_of(engine, Transaction)
    target = FaultyTarget(poison={("transaction", pk)})
    drain(engine, target)  # default policy: the next try is 5 s away
    assert drain(engine, target).claimed == 0


def test_target_down_keeps_every_change_and_releases_the_claims(engine, mall) -> None:
    ingest_records(engine, MALL, RecordKind.transaction, [transaction("DD1")])
    before = pending(engine)
    with pytest.raises(TargetUnavailable):
        drain(engine, FaultyTarget(down=True))
    after = pending(engine)
    assert [r.id for r in after] == [r.id for r in before]
    assert all(r.claimed_until is None and r.attempts == 0 for r in after)
    assert drain(engine, FaultyTarget()).claimed == len(before)


def test_several_changes_to_one_record_make_one_document(engine, mall) -> None:
    ingest_records(engine, MALL, RecordKind.transaction, [transaction("DD1")])
    (pk,) = ids_of(engine, Transaction)
    with engine.begin() as conn:
        for _ in range(3):
            enqueue(conn, "transaction", [pk], utc_now_beijing())
        enqueue(conn, "transaction", [987654], utc_now_beijing(), op="delete")
    target = FaultyTarget()
    drain(engine, target)
    ops = [op for batch in target.batches for op in batch if op.kind == "transaction"]
    assert sorted((op.pk, op.document is None) for op in ops) == [(pk, False), (987654, True)]
    assert pending(engine) == []


def test_an_expired_claim_is_claimed_again(engine, mall) -> None:
    """An indexer killed mid-batch: its claim runs out and another indexer takes the change."""
    ingest_records(engine, MALL, RecordKind.transaction, [transaction("DD1")])
    with engine.begin() as conn:
        taken = claim(conn, 100, utc_now_beijing())
    with engine.begin() as conn:
        assert claim(conn, 100, utc_now_beijing()) == []
        later = utc_now_beijing() + outbox.CLAIM + timedelta(seconds=1)
        assert {r.id for r in claim(conn, 100, later)} == {r.id for r in taken}


def test_concurrent_claimers_never_take_the_same_change(engine) -> None:
    with engine.begin() as conn:
        enqueue(conn, "transaction", range(1, 2001), utc_now_beijing())
    claimed: list[list[int]] = [[], [], []]
    errors: list[BaseException] = []

    def claimer(slot: int) -> None:
        try:
            while True:
                with engine.begin() as conn:
                    rows = claim(conn, 37, utc_now_beijing())
                if not rows:
                    return
                claimed[slot].extend(r.id for r in rows)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    every = [i for ids in claimed for i in ids]
    assert len(every) == len(set(every)) == 2000
    if engine.dialect.name == "postgresql":
        assert all(claimed), "SKIP LOCKED lets every claimer work at once"


@pytest.mark.only_on("postgresql")  # SQLite has one writer: a second claimer waits
def test_a_claim_in_progress_is_skipped_not_waited_for(engine, dialect) -> None:
    """PostgreSQL: while one indexer's claiming transaction is open, another takes other rows."""
    with engine.begin() as conn:
        enqueue(conn, "transaction", range(1, 11), utc_now_beijing())
    with engine.connect() as first, engine.connect() as second, first.begin():
        mine = {r.id for r in claim(first, 5, utc_now_beijing())}
        with second.begin():
            second.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            theirs = {r.id for r in claim(second, 10, utc_now_beijing())}
    assert len(mine) == 5 and len(theirs) == 5 and not mine & theirs


def test_drains_pause_while_a_rebuild_runs(engine, mall) -> None:
    from indexer.worker import _heartbeat

    ingest_records(engine, MALL, RecordKind.transaction, [transaction("DD1")])
    _heartbeat(engine, '{"transaction": "caigou-transaction-2"}')
    assert drain(engine, FaultyTarget()).paused
    assert status(engine, FaultyTarget())["rebuilding"] == {"transaction": "caigou-transaction-2"}
    with engine.begin() as conn:  # a rebuild that stopped heart-beating no longer holds drains
        stale = utc_now_beijing() - outbox.REBUILD_STALE - timedelta(seconds=1)
        conn.execute(update(outbox.STATE).values(updated_at=stale))
    assert drain(engine, FaultyTarget()).claimed == 3


def test_the_worker_stops_on_sigterm(engine) -> None:
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    stats = run(engine, FaultyTarget(), poll=0.05)
    timer.join()
    assert stats.batches >= 1
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is given back


def test_the_worker_backs_off_while_the_target_is_down(engine, mall) -> None:
    ingest_records(engine, MALL, RecordKind.transaction, [transaction("DD1")])
    target = FaultyTarget(down=True)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    stats = run(engine, target, poll=0.05, stop=stop)
    assert stats.outages >= 2 and stats.indexed == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(OUTBOX)).scalar_one() == 3
    with pytest.raises(TargetUnavailable):
        run(engine, target, once=True)
