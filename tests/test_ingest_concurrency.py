"""Concurrent ingests and the ingestion log. Concurrent ingests run in real threads, each
with its own engine and connections, on both databases, and end exactly as the same
ingests one after the other would."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from hub.publishing import IngestResult, ingest_file, ingest_records
from hub.publishing.batch import BatchContext, BatchReport
from hub.publishing.ingestlog import process_alive, process_started
from hub.publishing.parties import PartyResolver
from hub.publishing.publishers import add_publisher, find_publisher
from hub.publishing.transactions import TransactionHandler
from schema.db import make_engine
from schema.ocds import utc_now_beijing
from schema.types import PublisherRole, RecordKind
from tests.conftest import fresh_database
from tests.factories import SCHOOL, credit_code, transaction, write_csv

MALL = "吉林省政府采购电子卖场"
N = 400


def supplier(i: int, *, coded: bool) -> dict[str, str]:
    name = f"长春市并发{i:04d}号科技有限公司"
    return {"supplier_name": name,
            "supplier_uscc": credit_code(f"91220101MA{i:07d}") if coded else ""}  # fmt: skip


def orders(
    prefix: str, *, coded: Callable[[int], bool], purchaser_coded: bool = True
) -> list[dict[str, str]]:
    """N orders, each from a new supplier; the same N suppliers in every file."""
    school = SCHOOL[1] if purchaser_coded else ""
    return [transaction(f"{prefix}{i:05d}", purchaser_name=SCHOOL[0], purchaser_uscc=school,
                        **supplier(i, coded=coded(i))) for i in range(N)]  # fmt: skip


def add_mall(engine: Engine) -> None:
    with engine.begin() as conn:
        add_publisher(conn, MALL, PublisherRole.trading_platform, ["220000"],
                      [RecordKind.transaction])  # fmt: skip


def outcome(engine: Engine) -> tuple[list[tuple[str, ...]], ...]:
    """What the database holds, by names and codes rather than ids (ids follow timing)."""

    def rows(sql: str) -> list[tuple[str, ...]]:
        with engine.connect() as conn:
            return sorted(tuple(str(v) for v in row) for row in conn.execute(text(sql)))

    return (
        rows("SELECT name, uscc, region_code FROM parties"),
        rows("SELECT p.name, p.uscc, r.role FROM party_roles r JOIN parties p ON p.id = r.party_id"),
        rows("SELECT t.order_id, s.name, s.uscc, b.name, b.uscc FROM transactions t "
             "JOIN parties s ON s.id = t.supplier_id JOIN parties b ON b.id = t.purchaser_id"),
        rows("SELECT status, accepted, duplicates, rejected FROM ingestions"),
    )  # fmt: skip


def together(database_url: str, jobs: list[Callable[[Engine], Any]]) -> list[Any]:
    """Run the jobs at the same moment, each in its own thread with its own engine."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[Engine], Any]) -> Any:
        engine = make_engine(database_url)
        try:
            barrier.wait(timeout=30)
            return job(engine)
        finally:
            engine.dispose()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return [f.result(timeout=300) for f in [pool.submit(run, job) for job in jobs]]


def sequential(
    dialect: str, request: pytest.FixtureRequest, folder: Path, files: list[Path]
) -> tuple[list[tuple[str, ...]], ...]:
    """The outcome of ingesting `files` one after the other into a fresh database."""
    folder.mkdir()
    with fresh_database(dialect, request, folder) as url:
        engine = make_engine(url)
        add_mall(engine)
        for path in files:
            ingest_file(engine, path, MALL)
        found = outcome(engine)
        engine.dispose()
    return found


def test_the_same_file_ingested_twice_at_once_is_written_once(
    engine: Engine, database_url: str, dialect: str, request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:  # fmt: skip
    add_mall(engine)
    path = write_csv(tmp_path / "orders.csv", orders("DD", coded=lambda i: i % 2 == 0))
    results: list[IngestResult] = together(
        database_url, [lambda e: ingest_file(e, path, MALL), lambda e: ingest_file(e, path, MALL)]
    )
    assert [r.status for r in results] == ["accepted", "accepted"]
    assert sorted((r.accepted, r.duplicates) for r in results) == [(0, N), (N, 0)]
    assert outcome(engine) == sequential(dialect, request, tmp_path / "seq", [path, path])


def test_files_naming_the_same_new_parties_at_once_end_as_one_after_the_other(
    engine: Engine, database_url: str, dialect: str, request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:  # fmt: skip
    """The same purchaser and suppliers, coded in one file and named only by name in the
    other (for half the suppliers): looked up before the other batch commits, a party named
    without its code would become a second party beside the coded one."""
    add_mall(engine)
    a = write_csv(tmp_path / "a.csv", orders("A", coded=lambda i: True))
    b = write_csv(tmp_path / "b.csv",
                  orders("B", coded=lambda i: i % 2 == 1, purchaser_coded=False))  # fmt: skip
    results: list[IngestResult] = together(
        database_url, [lambda e: ingest_file(e, a, MALL), lambda e: ingest_file(e, b, MALL)]
    )
    assert [(r.status, r.accepted) for r in results] == [("accepted", N), ("accepted", N)]
    found = outcome(engine)
    assert len(found[0]) == N + 1  # the suppliers and the school, each once
    one_then_other = (sequential(dialect, request, tmp_path / "ab", [a, b]),
                      sequential(dialect, request, tmp_path / "ba", [b, a]))  # fmt: skip
    assert found in one_then_other


@pytest.mark.only_on("postgresql")
def test_a_conflict_with_another_writer_runs_the_batch_again(engine: Engine) -> None:
    """A writer outside the publishing lock (another tool, an older hub) holds the same
    order uncommitted; the batch waits on the unique key, fails when that writer commits,
    and its second run counts the order as the duplicate it now is."""
    add_mall(engine)
    row = transaction("DD-CONFLICT")
    with engine.connect() as other:
        other.begin()
        account = find_publisher(other, MALL)
        ctx = BatchContext(other, account, None, utc_now_beijing(), BatchReport(partial=False),
                           PartyResolver(other))  # fmt: skip
        handler = TransactionHandler(ctx)
        handler.add(1, row)
        handler.finish()
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(ingest_records, engine, MALL, RecordKind.transaction, [row])
            deadline = time.monotonic() + 30
            while not _someone_waits_for_a_lock(engine) and time.monotonic() < deadline:
                time.sleep(0.05)
            waited = not pending.done()
            other.commit()
            result = pending.result(timeout=60)
    assert waited, "the batch never waited for the other writer"
    assert (result.status, result.accepted, result.duplicates) == ("accepted", 0, 1)
    assert result.attempts == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM transactions")).scalar_one() == 1
        assert conn.execute(text("SELECT status FROM ingestions")).scalar_one() == "accepted"


def _someone_waits_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                     "WHERE NOT l.granted AND a.datname = current_database()")
            ).scalar_one()
        )  # fmt: skip


def test_a_batch_that_fails_midway_is_logged_failed_with_its_error(engine: Engine) -> None:
    """A stream of records that breaks off (here the feed's connection resets after two
    records) writes nothing, and the log says why rather than leaving an empty report."""
    add_mall(engine)

    def feed() -> Any:
        yield transaction("DD1")
        yield transaction("DD2")
        raise ConnectionResetError("the publisher's feed closed the connection")

    with pytest.raises(ConnectionResetError):
        ingest_records(engine, MALL, RecordKind.transaction, feed())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM transactions")).scalar_one() == 0
        status, report = conn.execute(text("SELECT status, report FROM ingestions")).one()
    assert status == "failed"
    assert "ConnectionResetError: the publisher's feed closed the connection" in report


def test_a_batch_stopped_by_ctrl_c_is_logged_interrupted(engine: Engine) -> None:
    add_mall(engine)

    def feed() -> Any:
        yield transaction("DD1")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_records(engine, MALL, RecordKind.transaction, feed())
    with engine.connect() as conn:
        status, report = conn.execute(text("SELECT status, report FROM ingestions")).one()
    assert status == "interrupted" and "KeyboardInterrupt" in report


def test_a_process_is_told_apart_from_one_that_reused_its_pid() -> None:
    """SQLite's liveness test on real processes: alive while it runs, gone once killed and
    reaped, and a live process with the same pid but another start time is not it."""
    process = subprocess.Popen(["sleep", "60"])
    started = process_started(process.pid)
    host = socket.gethostname()
    assert started is not None and process_alive(host, process.pid, started)
    assert not process_alive(host, process.pid, started + 1)  # the pid, reused later
    assert process_alive("another-host", process.pid, started)  # cannot tell: left alone
    process.kill()
    process.wait(timeout=10)
    assert not process_alive(host, process.pid, started)
