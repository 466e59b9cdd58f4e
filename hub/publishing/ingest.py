"""A batch from one publisher goes in whole, or (with partial) its valid records do.

Batches write one at a time (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a transaction advisory
lock), so concurrent ingests of the same file, or of files naming the same new parties,
end exactly as if they had run one after the other. A write conflict that still happens
(another writer, a deadlock, SQLite busy past its timeout) rolls the batch back and runs it
again from its first record, at most `MAX_ATTEMPTS` times.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import orjson
from sqlalchemy import Connection, Engine, func, select

from hub.publishing import readers
from hub.publishing.batch import BatchContext, BatchReport, RecordHandler
from hub.publishing.cells import record_ref
from hub.publishing.changes import record_changes
from hub.publishing.errors import BatchRejected, FieldError, PublisherError, Refusal
from hub.publishing.ingestlog import MAX_ATTEMPTS, IngestionLog, open_log, retrying
from hub.publishing.notices import NoticeHandler
from hub.publishing.parties import PartyResolver
from hub.publishing.penalties import PenaltyHandler
from hub.publishing.publishers import PublisherAccount, find_publisher
from hub.publishing.sources import Relay, read_relay, this_hub
from hub.publishing.transactions import TransactionHandler
from schema.data_version import bump_data_version
from schema.db import bulk_cache
from schema.ocds import utc_now_beijing
from schema.types import RecordKind

HANDLERS: dict[RecordKind, Callable[[BatchContext], RecordHandler]] = {
    RecordKind.notice: NoticeHandler,
    RecordKind.transaction: TransactionHandler,
    RecordKind.penalty: PenaltyHandler,
}
RECORD_REF = {RecordKind.notice: "id", RecordKind.transaction: "order_id",
              RecordKind.penalty: "record_id"}  # fmt: skip
BATCH_LOCK = 0x6367626174636800  # pg_advisory_xact_lock key: one batch writes at a time
Progress = Callable[[int], None]
Records = Iterable[Mapping[str, Any]]
Relays = Sequence[Mapping[str, Any] | None]  # the i-th record's relay metadata, or None


@dataclass
class IngestResult:
    """What happened to a batch; `refusals` names each refused record."""

    ingestion_id: int
    kind: RecordKind
    status: str  # accepted | partial | rejected
    total: int
    accepted: int
    duplicates: int
    rejected: int
    refusals: list[Refusal] = field(default_factory=list)
    rejects_path: Path | None = None
    digest: str | None = None
    attempts: int = 1
    warnings: list[str] = field(default_factory=list)


def ingest_records(
    engine: Engine,
    publisher: str | PublisherAccount,
    kind: RecordKind,
    records: Records | Callable[[], Records],
    *,
    partial: bool = False,
    source: str = "api",
    source_site: str | None = None,
    progress: Progress | None = None,
    on_reject: Callable[[list[Refusal], Mapping[str, Any]], None] | None = None,
    raise_on_reject: bool = False,
    digest: str | None = None,
    on_retry: Callable[[], None] | None = None,
    received_at: datetime | None = None,
    relays: Relays | None = None,
    hub: str | None = None,
) -> IngestResult:
    """Validate and write one batch in one transaction.

    All-or-nothing (the default) rolls the whole batch back when any record is refused;
    `partial` keeps the valid ones. Either way the ingestion log records the outcome, with
    `digest` (SHA-256 of what was sent; of the records as NDJSON when not given). `records`
    may be a function that reads them afresh: a batch is only retried after a write
    conflict when they can be read again (a function or a collection, not an iterator).
    `received_at` keeps another hub's acceptance time (a mirror); by default, now.
    `relays` holds each record's relay metadata (hub/publishing/sources.py), by position;
    `hub` names this hub on their paths (CAIGOU_PUBLIC_URL when not given).
    """
    with engine.connect() as conn:
        account = (
            publisher
            if isinstance(publisher, PublisherAccount)
            else find_publisher(conn, publisher)
        )
    values = {"publisher_id": account.id, "source": source, "record_kind": kind.value,
              "mode": "partial" if partial else "all_or_nothing"}  # fmt: skip
    with open_log(engine, values) as log:
        if not account.may_publish_kind(kind):
            reason = f"{account.name} ({account.role}) may not publish {kind} records"
            log.close("rejected", total=0, accepted=0, duplicates=0, rejected=1,
                      refusals=[Refusal(0, None, "kind", reason)], digest=digest)  # fmt: skip
            raise PublisherError(reason)
        reread = callable(records) or iter(records) is not records
        attempts = 0

        def attempt() -> tuple[BatchReport, str | None]:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and on_retry is not None:
                on_retry()
            hasher = None if digest else hashlib.sha256()
            report = _write_batch(engine, account, kind, records, partial, source_site,
                                  progress, on_reject, hasher, log, digest, relays,
                                  hub or this_hub(), received_at)  # fmt: skip
            return report, digest or (hasher.hexdigest() if hasher else None)

        report, batch_digest = retrying(attempt, MAX_ATTEMPTS if reread else 1)
        status = "accepted" if not report.rejected else ("partial" if partial else "rejected")
        if status == "rejected":
            report.accepted = report.duplicates = 0
        if not log.closed:  # rolled back: the final state goes in on its own
            log.close(
                status, total=report.total, accepted=report.accepted,
                duplicates=report.duplicates, rejected=report.rejected,
                refusals=report.refusals, digest=batch_digest,
            )  # fmt: skip
    result = IngestResult(
        log.id, kind, status, report.total, report.accepted, report.duplicates,
        report.rejected, report.refusals, digest=batch_digest, attempts=attempts,
        warnings=report.warnings,
    )  # fmt: skip
    if raise_on_reject and status == "rejected":
        raise BatchRejected(report.refusals, report.total)
    return result


def _digest_line(raw: Any) -> bytes:
    """A record as one NDJSON line for the batch digest, whatever strings it holds.

    orjson refuses lone surrogates; the library door takes dicts from anywhere, so such a
    record is hashed in escaped form (and refused by name by its handler).
    """
    try:
        return orjson.dumps(raw, default=str) + b"\n"
    except TypeError:
        return json.dumps(raw, default=str, ensure_ascii=True).encode() + b"\n"


def _write_batch(
    engine: Engine, account: PublisherAccount, kind: RecordKind,
    records: Records | Callable[[], Records], partial: bool,
    source_site: str | None, progress: Progress | None,
    on_reject: Callable[[list[Refusal], Mapping[str, Any]], None] | None, hasher: Any,
    log: IngestionLog, digest: str | None, relays: Relays | None, hub: str,
    received_at: datetime | None = None,
) -> BatchReport:  # fmt: skip
    """One attempt: the batch in one transaction, committed with its log row's final state
    unless all-or-nothing refused it."""
    report = BatchReport(partial=partial, on_reject=on_reject)
    with engine.connect() as conn, bulk_cache(conn):
        transaction = conn.begin()
        try:
            _one_writer_at_a_time(conn)
            ctx = BatchContext(
                conn, account, source_site or account.source_site,
                received_at or utc_now_beijing(), report, PartyResolver(conn), hub,
            )  # fmt: skip
            handler = HANDLERS[kind](ctx)
            rows = records() if callable(records) else records
            for position, raw in enumerate(rows, start=1):
                report.total = position
                if hasher is not None:
                    hasher.update(_digest_line(raw))
                if isinstance(raw, readers.BadRecord):
                    report.refuse(position, None, raw.error, raw)
                elif _relay_read(ctx, kind, relays, position, raw):
                    handler.add(position, raw)
                if progress is not None and position % 10_000 == 0:
                    progress(position)
            if relays is not None and len(relays) > report.total:
                raise FieldError("relays", f"{len(relays)} relay entries for "
                                 f"{report.total} records: one per record")  # fmt: skip
            handler.finish()
        except FieldError as error:  # the batch itself is unreadable (header, not JSON, …)
            transaction.rollback()
            report.accepted = report.duplicates = 0
            report.refuse(0, None, error, {})
            return report
        if report.rejected and not partial:
            transaction.rollback()
            return report
        # The change feed, in this transaction (changes.py): new records, then new sources.
        record_changes(conn, kind)
        log.record(
            conn, "partial" if report.rejected else "accepted", total=report.total,
            accepted=report.accepted, duplicates=report.duplicates, rejected=report.rejected,
            refusals=report.refusals, digest=digest or (hasher.hexdigest() if hasher else None),
        )  # fmt: skip
        bump_data_version(conn)
        transaction.commit()
    log.closed = True
    return report


def _relay_read(
    ctx: BatchContext, kind: RecordKind, relays: Relays | None, position: int,
    raw: Mapping[str, Any],
) -> bool:  # fmt: skip
    """Read the record's relay metadata into the context; False when it refused the record."""
    try:
        if relays is not None and position > len(relays):
            raise FieldError("relay", f"{len(relays)} relay entries: none for this record")
        relay = relays[position - 1] if relays is not None else None
        ctx.relay = _read_relay_once(ctx, relay, kind)
    except FieldError as error:
        ctx.report.refuse(position, record_ref(raw, RECORD_REF[kind]), error, raw)
        return False
    return True


def _read_relay_once(ctx: BatchContext, relay: Any, kind: RecordKind) -> Relay | None:
    """`read_relay`, once per distinct entry of the batch: a batch's records mostly came
    together along one path, so their entries repeat (half a relayed record's extra cost)."""
    if not isinstance(relay, dict):
        return read_relay(relay, ctx.publisher, kind, ctx.hub)
    try:
        key = orjson.dumps(relay, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not plain JSON (a caller's datetime): read it as it is
        return read_relay(relay, ctx.publisher, kind, ctx.hub)
    known = ctx.relays_read.get(key)
    if known is None:
        known = read_relay(relay, ctx.publisher, kind, ctx.hub)
        if known is not None:
            ctx.relays_read[key] = known
    return known


def read_relays(path: Path) -> list[Mapping[str, Any] | None]:
    """A relays file: one JSON object (or null) a line; a line that is neither refuses it."""
    found: list[Mapping[str, Any] | None] = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                value = orjson.loads(line)
                readable = value is None or isinstance(value, dict)
            except orjson.JSONDecodeError:
                readable = False
            if not readable:
                raise FieldError("relays", f"{path.name} line {number}: not a JSON object or null")
            found.append(value)
    return found


def _one_writer_at_a_time(conn: Connection) -> None:
    """Take the database's write lock now, before the batch reads what is held.

    Reads made before it would miss a concurrent batch's parties and records, and then either
    collide with them (IntegrityError) or, for a party named without a credit code, create a
    second party where running one after the other would have found the first.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(BATCH_LOCK)))


def ingest_file(
    engine: Engine,
    path: Path,
    publisher: str | PublisherAccount,
    *,
    kind: RecordKind | None = None,
    partial: bool = False,
    source_site: str | None = None,
    progress: Progress | None = None,
    hub: str | None = None,
    relays: Path | None = None,
) -> IngestResult:
    """Ingest a file; with `partial`, refused records go to `<file>.rejects.ndjson` beside it.

    `relays`: an NDJSON file with each record's relay metadata (an object, or null for a
    record the publisher publishes itself), line by line in the records' order.
    """
    kind = kind or readers.detect_kind(path)
    rejects_path = path.with_name(path.name + ".rejects.ndjson")
    handle: TextIO | None = None

    def read() -> Records:
        if kind is RecordKind.notice:
            return readers.read_releases(path)
        return readers.read_table(path, kind)

    def keep_reject(refusals: list[Refusal], raw: Mapping[str, Any]) -> None:
        """One line per refused record: its first fault, all its faults, the record."""
        nonlocal handle
        if handle is None:
            handle = rejects_path.open("w", encoding="utf-8")
        faults = [{"field": r.field, "reason": r.reason} for r in refusals]
        line = {**refusals[0].as_dict(), "faults": faults, "record": dict(raw)}
        handle.write(orjson.dumps(line, default=str).decode() + "\n")

    def start_again() -> None:  # a retried batch writes its rejects afresh
        nonlocal handle
        if handle is not None:
            handle.close()
            handle = None
        rejects_path.unlink(missing_ok=True)

    with path.open("rb") as data:
        digest = hashlib.file_digest(data, "sha256").hexdigest()
    try:
        result = ingest_records(
            engine, publisher, kind, read, partial=partial, source=path.name,
            source_site=source_site, progress=progress, on_reject=keep_reject if partial else None,
            digest=digest, on_retry=start_again, hub=hub,
            relays=None if relays is None else read_relays(relays),
        )  # fmt: skip
    finally:
        if handle is not None:
            handle.close()
    if handle is not None:
        result.rejects_path = rejects_path
    return result
