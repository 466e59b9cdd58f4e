"""A batch from one publisher goes in whole, or (with partial) its valid records do."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson
from sqlalchemy import Engine, update

from hub.publishing import readers
from hub.publishing.batch import BatchContext, BatchReport, RecordHandler
from hub.publishing.errors import BatchRejected, FieldError, PublisherError, Refusal
from hub.publishing.notices import NoticeHandler
from hub.publishing.parties import PartyResolver
from hub.publishing.penalties import PenaltyHandler
from hub.publishing.publishers import PublisherAccount, find_publisher
from hub.publishing.transactions import TransactionHandler
from schema.ocds import utc_now_beijing
from schema.tables import Ingestion
from schema.types import RecordKind

INGESTIONS = Ingestion.__table__  # type: ignore[attr-defined]
HANDLERS: dict[RecordKind, Callable[[BatchContext], RecordHandler]] = {
    RecordKind.notice: NoticeHandler,
    RecordKind.transaction: TransactionHandler,
    RecordKind.penalty: PenaltyHandler,
}
Progress = Callable[[int], None]


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


def ingest_records(
    engine: Engine,
    publisher: str | PublisherAccount,
    kind: RecordKind,
    records: Iterable[Mapping[str, Any]],
    *,
    partial: bool = False,
    source: str = "api",
    source_site: str | None = None,
    progress: Progress | None = None,
    on_reject: Callable[[Refusal, Mapping[str, Any]], None] | None = None,
    raise_on_reject: bool = False,
) -> IngestResult:
    """Validate and write one batch in one transaction.

    All-or-nothing (the default) rolls the whole batch back when any record is refused;
    `partial` keeps the valid ones. Either way the ingestion log records the outcome.
    """
    with engine.begin() as conn:
        account = (
            publisher
            if isinstance(publisher, PublisherAccount)
            else find_publisher(conn, publisher)
        )
        ingestion_id = _log_start(conn, account, kind, source, partial)
    if not account.may_publish_kind(kind):
        reason = f"{account.name} ({account.role}) may not publish {kind} records"
        _log_end(
            engine,
            ingestion_id,
            "rejected",
            BatchReport(partial, rejected=1),
            [Refusal(0, None, "kind", reason)],
        )
        raise PublisherError(reason)
    report = BatchReport(partial=partial, on_reject=on_reject)
    try:
        with engine.begin() as conn:
            ctx = BatchContext(
                conn, account, source_site or account.source_site, utc_now_beijing(), report,
                PartyResolver(conn),
            )  # fmt: skip
            handler = HANDLERS[kind](ctx)
            for position, raw in enumerate(records, start=1):
                report.total = position
                if isinstance(raw, readers.BadRecord):
                    report.refuse(position, None, raw.error, raw)
                else:
                    handler.add(position, raw)
                if progress is not None and position % 10_000 == 0:
                    progress(position)
            handler.finish()
            if report.rejected and not partial:
                conn.rollback()
    except FieldError as error:  # the batch itself is unreadable (header, not JSON, …)
        report.refuse(0, None, error, {})
    except BaseException:
        _log_end(engine, ingestion_id, "failed", report, report.refusals)
        raise
    status = "accepted" if not report.rejected else ("partial" if partial else "rejected")
    if status == "rejected":
        report.accepted = report.duplicates = 0
    _log_end(engine, ingestion_id, status, report, report.refusals)
    result = IngestResult(
        ingestion_id, kind, status, report.total, report.accepted, report.duplicates,
        report.rejected, report.refusals,
    )  # fmt: skip
    if raise_on_reject and status == "rejected":
        raise BatchRejected(report.refusals, report.total)
    return result


def ingest_file(
    engine: Engine,
    path: Path,
    publisher: str | PublisherAccount,
    *,
    kind: RecordKind | None = None,
    partial: bool = False,
    source_site: str | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest a file; with `partial`, refused records go to `<file>.rejects.ndjson` beside it."""
    kind = kind or readers.detect_kind(path)
    records = (
        readers.read_releases(path) if kind is RecordKind.notice else readers.read_table(path, kind)
    )
    rejects_path = path.with_name(path.name + ".rejects.ndjson")
    handle: TextIO | None = None

    def keep_reject(refusal: Refusal, raw: Mapping[str, Any]) -> None:
        nonlocal handle
        if handle is None:
            handle = rejects_path.open("w", encoding="utf-8")
        line = {**refusal.as_dict(), "record": dict(raw)}
        handle.write(orjson.dumps(line, default=str).decode() + "\n")

    try:
        result = ingest_records(
            engine, publisher, kind, records, partial=partial, source=path.name,
            source_site=source_site, progress=progress, on_reject=keep_reject if partial else None,
        )  # fmt: skip
    finally:
        if handle is not None:
            handle.close()
    if handle is not None:
        result.rejects_path = rejects_path
    return result


def _log_start(
    conn: Any, account: PublisherAccount, kind: RecordKind, source: str, partial: bool
) -> int:
    return conn.execute(
        INGESTIONS.insert()
        .values(
            publisher_id=account.id, source=source, record_kind=kind.value,
            mode="partial" if partial else "all_or_nothing", status="running",
            started_at=utc_now_beijing(),
        )
        .returning(INGESTIONS.c.id)
    ).scalar_one()  # fmt: skip


def _log_end(engine: Engine, ingestion_id: int, status: str, report: BatchReport,
             refusals: list[Refusal]) -> None:  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            update(INGESTIONS)
            .where(INGESTIONS.c.id == ingestion_id)
            .values(
                status=status, finished_at=utc_now_beijing(), accepted=report.accepted,
                duplicates=report.duplicates, rejected=report.rejected,
                report=orjson.dumps([r.as_dict() for r in refusals[:1000]]).decode() or None,
            )
        )  # fmt: skip
