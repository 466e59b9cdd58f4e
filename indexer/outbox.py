"""Drain the search outbox into an index target: claim, build, send, then forget.

A change leaves the outbox only after the target acknowledged its document, so a crash or a
target that is down loses nothing: an unacknowledged claim simply expires and the change is
claimed again. PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so several indexers never
claim the same change; SQLite has one writer, which serialises the claiming UPDATE anyway.

Documents are built from the database at drain time, not from the change, so several pending
changes to one record collapse into one document, and the document's external version is a
database clock stamp taken after the claim. Outbox ids are not used as versions: on PostgreSQL
a long ingest transaction holds low ids while a short one with higher ids commits first, and a
document built in between would then outrank the later, complete one. A stamp taken after the
claim is later than the commit of every change claimed, so the highest version always holds
the newest state; replays only rewrite the same document and are idempotent.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Connection, Engine, Row, delete, func, or_, select, update

from schema.ocds import utc_now_beijing
from schema.search_outbox import OUTBOX, STATE

MAX_ATTEMPTS = 5
CLAIM = timedelta(minutes=5)  # an indexer that dies mid-batch gives its claim back by then
REBUILD_STALE = timedelta(minutes=10)  # a rebuild that stopped heart-beating is over


class IndexOp(NamedTuple):
    """One document to write (or delete, when `document` is None) with its external version."""

    kind: str
    pk: int
    document: dict[str, Any] | None
    version: int


class IndexTarget(Protocol):
    """Where documents go (indexer.elastic); `bulk` returns the ops it did not apply."""

    def bulk(self, ops: Sequence[IndexOp]) -> Sequence[Any]: ...


DocumentBuilder = Callable[[Connection, str, list[int]], Mapping[int, dict[str, Any]]]


class TargetUnavailable(Exception):
    """The target could not be reached; nothing was deleted, the claims were released."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = MAX_ATTEMPTS
    base: timedelta = timedelta(seconds=5)  # 5 s, 20 s, 80 s, 320 s, then parked

    def delay(self, attempts: int) -> timedelta:
        return self.base * 4 ** (attempts - 1)


@dataclass
class DrainResult:
    claimed: int = 0  # outbox rows
    indexed: int = 0  # documents acknowledged (writes and deletes)
    failed: int = 0  # documents that will be retried
    parked: int = 0  # documents given up on
    paused: bool = False  # a rebuild is running: changes wait for its new indices
    errors: dict[tuple[str, int], str] = field(default_factory=dict)


def failure_key(failure: Any) -> tuple[tuple[str, int], str]:
    """(kind, pk) and reason of a failure the target reported: an object, a mapping or a tuple."""
    if isinstance(failure, Mapping):
        return (failure["kind"], int(failure["pk"])), str(failure.get("error", ""))
    if hasattr(failure, "kind"):
        return (failure.kind, int(failure.pk)), str(getattr(failure, "error", failure))
    kind, pk, *rest = failure
    return (kind, int(pk)), str(rest[0] if rest else "")


def is_outdated(error: str) -> bool:
    """A version conflict means the index already holds a newer document: that is success."""
    return "version_conflict" in error


def version_stamp(conn: Connection) -> int:
    """Microseconds on the database's clock, one clock for every indexer host."""
    if conn.dialect.name == "postgresql":
        query = "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
        return int(conn.exec_driver_sql(query).scalar_one())
    return time.time_ns() // 1000


def rebuild_running(conn: Connection, now: datetime) -> bool:
    beat = conn.execute(select(STATE.c.updated_at).where(STATE.c.name == "rebuild")).scalar()
    return beat is not None and beat > now - REBUILD_STALE


def claim(conn: Connection, batch: int, now: datetime) -> Sequence[Row[Any]]:
    """Take up to `batch` due changes, oldest first, for CLAIM; call in its own transaction."""
    due = (
        select(OUTBOX.c.id)
        .where(
            OUTBOX.c.parked_at.is_(None),
            or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until <= now),
        )
        .order_by(OUTBOX.c.id)
        .limit(batch)
        .with_for_update(skip_locked=True)  # not rendered on SQLite: one writer there
    )
    return conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(claimed_until=now + CLAIM)
        .returning(OUTBOX.c.id, OUTBOX.c.kind, OUTBOX.c.record_pk, OUTBOX.c.attempts)
    ).all()


def build_documents(
    conn: Connection, keys: list[tuple[str, int]], build: DocumentBuilder
) -> tuple[dict[tuple[str, int], dict[str, Any] | None], dict[tuple[str, int], str]]:
    """Documents by (kind, pk), None for records gone; a record that fails alone is an error."""
    by_kind: dict[str, list[int]] = defaultdict(list)
    for kind, pk in keys:
        by_kind[kind].append(pk)
    docs: dict[tuple[str, int], dict[str, Any] | None] = {}
    errors: dict[tuple[str, int], str] = {}
    for kind, pks in by_kind.items():
        try:
            built = build(conn, kind, pks)
        except Exception:  # find the poison record: one at a time
            built = {}
            for pk in pks:
                try:
                    built.update(build(conn, kind, [pk]))
                except Exception as exc:
                    errors[(kind, pk)] = f"document: {type(exc).__name__}: {exc}"
        for pk in pks:
            if (kind, pk) not in errors:
                docs[(kind, pk)] = built.get(pk)
    return docs, errors


def drain(
    engine: Engine,
    target: IndexTarget,
    *,
    batch: int = 1000,
    build: DocumentBuilder | None = None,
    policy: RetryPolicy = RetryPolicy(),
    respect_rebuild: bool = True,
) -> DrainResult:
    """Index one batch of changes; raises TargetUnavailable when the target cannot be reached."""
    if build is None:
        from indexer.documents import documents

        build = documents
    now = utc_now_beijing()
    with engine.begin() as conn:
        if respect_rebuild and rebuild_running(conn, now):
            return DrainResult(paused=True)
        rows = claim(conn, batch, now)
    result = DrainResult(claimed=len(rows))
    if not rows:
        return result
    ids_by_key: dict[tuple[str, int], list[int]] = defaultdict(list)
    attempts: dict[tuple[str, int], int] = {}
    for row in rows:
        key = (row.kind, row.record_pk)
        ids_by_key[key].append(row.id)
        attempts[key] = max(attempts.get(key, 0), row.attempts)
    with engine.connect() as conn:
        version = version_stamp(conn)
        docs, errors = build_documents(conn, list(ids_by_key), build)
    ops = [IndexOp(kind, pk, doc, version) for (kind, pk), doc in docs.items()]
    try:
        failures = target.bulk(ops) if ops else []
    except Exception as exc:
        release(engine, [row.id for row in rows])
        raise TargetUnavailable(f"{type(exc).__name__}: {exc}") from exc
    for failure in failures:
        key, reason = failure_key(failure)
        if not is_outdated(reason):
            errors[key] = reason
    done = [i for key, ids in ids_by_key.items() if key not in errors for i in ids]
    result.indexed = len(ids_by_key) - len(errors)
    result.errors = errors
    with engine.begin() as conn:
        _forget(conn, done)
        for key, reason in errors.items():
            tries = attempts[key] + 1
            parked = tries >= policy.max_attempts
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_(ids_by_key[key]))
                .values(
                    attempts=tries,
                    last_error=reason[:4000],
                    claimed_until=None if parked else now + policy.delay(tries),
                    parked_at=now if parked else None,
                )
            )
            result.parked += parked
            result.failed += not parked
    return result


def _forget(conn: Connection, ids: list[int]) -> None:
    for start in range(0, len(ids), 900):
        conn.execute(delete(OUTBOX).where(OUTBOX.c.id.in_(ids[start : start + 900])))


def release(engine: Engine, ids: list[int]) -> None:
    """Give claims back at once (target down): the next attempt needs not wait for expiry."""
    with engine.begin() as conn:
        for start in range(0, len(ids), 900):
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_(ids[start : start + 900]))
                .values(claimed_until=None)
            )


@dataclass(frozen=True)
class Backlog:
    pending: int  # changes waiting (parked ones excluded)
    oldest_pending: datetime | None
    parked: int


def backlog(conn: Connection) -> Backlog:
    waiting = OUTBOX.c.parked_at.is_(None)
    pending, oldest = conn.execute(
        select(func.count(), func.min(OUTBOX.c.created_at)).where(waiting)
    ).one()
    parked = conn.execute(select(func.count()).where(OUTBOX.c.parked_at.is_not(None))).scalar()
    if isinstance(oldest, str):  # SQLite gives aggregates back as text
        oldest = datetime.fromisoformat(oldest)
    return Backlog(pending, oldest, parked or 0)


def parked_rows(conn: Connection, limit: int = 100) -> Sequence[Row[Any]]:
    return conn.execute(
        select(OUTBOX).where(OUTBOX.c.parked_at.is_not(None)).order_by(OUTBOX.c.id).limit(limit)
    ).all()


def retry_parked(conn: Connection) -> int:
    """Put parked changes back in line, with a fresh count of attempts."""
    return conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.parked_at.is_not(None))
        .values(parked_at=None, attempts=0, claimed_until=None)
    ).rowcount
