"""The ingestion log: a row per batch that always ends in a final state.

A batch's row is written `running` before its records are, in a transaction of its own, and
closed when the batch ends. A process killed in between (kill -9, power cut) cannot close
it, so every command looks for such rows when it starts (`mark_interrupted`) and closes
them as `interrupted`. Whether a `running` row's process is gone is told:

- on PostgreSQL by a session advisory lock on the ingestion's id, taken in the very
  transaction that inserts the row and held until the row is closed: the server releases
  it when the session ends however the process died, on whichever host it ran;
- on SQLite (a local file) by the host, pid and start time of the process recorded in it.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from hub.publishing.errors import Refusal
from schema.ocds import utc_now_beijing
from schema.tables import INGESTIONS

LIVENESS_LOCKS = 0x63676C67  # advisory lock space (two int4 keys): this one, the ingestion id
MAX_REPORTED = 1000
MAX_ATTEMPTS = 5  # runs of a batch (or of a log write) that meets write conflicts
RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock
T = TypeVar("T")


def process_started(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), or None when unknown.

    A zombie (killed, not yet reaped by its parent) counts as gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the name in parentheses may hold spaces
    if fields[0] in ("Z", "X"):
        return -1
    return int(fields[19])


def process_alive(host: str | None, pid: int | None, started: int | None) -> bool:
    """Whether the process that wrote a row still runs; a row from another host is assumed
    alive (this host cannot tell)."""
    if host is None or pid is None:
        return False  # written before the log recorded processes: long gone
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    now = process_started(pid)
    if now == -1:
        return False
    return started is None or now is None or now == started


class IngestionLog:
    """One batch's row, open from `open_log` until closed."""

    def __init__(self, conn: Connection, ingestion_id: int) -> None:
        self.conn = conn  # the row's own connection; on PostgreSQL it holds the lock
        self.id = ingestion_id
        self.closed = False

    def record(
        self, conn: Connection, status: str, *, total: int, accepted: int, duplicates: int,
        rejected: int, refusals: list[Refusal], digest: str | None = None,
    ) -> None:  # fmt: skip
        """Write the final state in `conn`'s transaction: a batch writes it in its own, so the
        row commits with the records and never says `running` for a committed batch. The
        report keeps the first 1,000 refusals."""
        report = orjson.dumps([r.as_dict() for r in refusals[:MAX_REPORTED]]).decode()
        conn.execute(
            update(INGESTIONS)
            .where(INGESTIONS.c.id == self.id)
            .values(
                status=status, finished_at=utc_now_beijing(), total=total, accepted=accepted,
                duplicates=duplicates, rejected=rejected, report=report, digest=digest,
            )
        )  # fmt: skip

    def close(self, status: str, **counts: Any) -> None:
        """Write the final state in a transaction of its own (a batch rolled back)."""

        def write() -> None:
            with self.conn.begin():
                self.record(self.conn, status, **counts)

        retrying(write, MAX_ATTEMPTS)
        self.closed = True


def retrying(attempt: Callable[[], T], attempts: int = MAX_ATTEMPTS) -> T:
    """Run `attempt`, again after a write conflict, at most `attempts` times in all."""
    for number in range(1, attempts + 1):
        try:
            return attempt()
        except DBAPIError as exc:
            if number == attempts or not is_write_conflict(exc):
                raise
        time.sleep(random.uniform(0.05, 0.2) * number)  # let the other writer finish
    raise AssertionError("unreachable")


def is_write_conflict(exc: DBAPIError) -> bool:
    """A conflict with a concurrent writer, which the same work run again may not meet."""
    if isinstance(exc, IntegrityError):  # a unique key written meanwhile by another writer
        return True
    if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


@contextmanager
def open_log(engine: Engine, values: dict[str, Any]) -> Iterator[IngestionLog]:
    """Insert the `running` row (with this process's identity) and hold it until closed.

    Leaving the block without `close` (an exception escaping) closes the row as `failed`,
    or `interrupted` for Ctrl-C and SIGTERM, with the error as its report.
    """
    pid = os.getpid()
    identity = {"host": socket.gethostname(), "pid": pid, "process_started": process_started(pid)}
    conn = engine.connect()
    locked = False
    try:

        def start() -> int:
            nonlocal locked
            with conn.begin():
                inserted = conn.execute(
                    INGESTIONS.insert()
                    .values(**values, **identity, status="running", started_at=utc_now_beijing())
                    .returning(INGESTIONS.c.id)
                ).scalar_one()
                if conn.dialect.name == "postgresql":
                    conn.execute(select(func.pg_advisory_lock(LIVENESS_LOCKS, inserted)))
                    locked = True
            return int(inserted)

        ingestion_id = retrying(start)  # SQLite: another batch may hold the write lock
        log = IngestionLog(conn, ingestion_id)
        try:
            yield log
        except BaseException as exc:
            if not log.closed:
                status = "failed" if isinstance(exc, Exception) else "interrupted"
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log.close(status, total=0, accepted=0, duplicates=0, rejected=0,
                          refusals=[Refusal(0, None, "batch", reason)])  # fmt: skip
            raise
    finally:
        try:
            if locked:
                conn.execute(select(func.pg_advisory_unlock(LIVENESS_LOCKS, ingestion_id)))
                conn.commit()
        finally:
            conn.close()


def mark_interrupted(engine: Engine) -> list[int]:
    """Close as `interrupted` every `running` row whose process is gone; their ids."""
    with engine.connect() as conn:
        running = conn.execute(
            select(INGESTIONS.c.id, INGESTIONS.c.host, INGESTIONS.c.pid,
                   INGESTIONS.c.process_started).where(INGESTIONS.c.status == "running")
        ).all()  # fmt: skip
        conn.rollback()
        if not running:
            return []
        gone = [row for row in running if not _alive(conn, row)]
        if not gone:
            return []
        try:
            with conn.begin():
                for row in gone:
                    reason = (f"the ingesting process ({row.host} pid {row.pid}) ended before "
                              "the batch finished; nothing of it was written")  # fmt: skip
                    conn.execute(
                        update(INGESTIONS)
                        .where(INGESTIONS.c.id == row.id, INGESTIONS.c.status == "running")
                        .values(
                            status="interrupted", finished_at=utc_now_beijing(),
                            report=orjson.dumps([Refusal(0, None, "batch", reason).as_dict()])
                            .decode(),
                        )
                    )  # fmt: skip
        except OperationalError:  # SQLite busy with a long batch: the next start will do it
            return []
    return [row.id for row in gone]


def _alive(conn: Connection, row: Any) -> bool:
    if conn.dialect.name != "postgresql":
        return process_alive(row.host, row.pid, row.process_started)
    with conn.begin():
        free = conn.execute(select(func.pg_try_advisory_lock(LIVENESS_LOCKS, row.id))).scalar()
        if free:
            conn.execute(select(func.pg_advisory_unlock(LIVENESS_LOCKS, row.id)))
    return not free
