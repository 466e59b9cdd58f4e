"""The embedded search backend: SQLite FTS5 in the hub's own database file.

Used when no Elasticsearch URL is configured (the demo, small installs). Its tables are a
derived index, created on first use rather than by Alembic (FTS5 is SQLite-only) and
rebuildable at any time from the records. It is fed by the same outbox as Elasticsearch:
`catch_up` drains it into these tables. The serving process calls it from a background
thread (`indexer.catch_up`), a batch at a time, never inside a request, so every record
published becomes findable without running an indexer.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, or_, select, text
from sqlalchemy.exc import OperationalError

from indexer import embedded_sql as sql
from indexer.elastic_query import FACETS, highlight_terms
from indexer.outbox import DocumentBuilder, IndexOp, TargetUnavailable, drain, version_stamp
from indexer.search import (
    KINDS,
    MAX_SIZE,
    AmountStats,
    Bucket,
    Hit,
    SearchRequest,
    SearchResult,
    SearchUnavailable,
)
from indexer.text import highlight
from indexer.worker import TABLES
from schema.db import is_timeout
from schema.ocds import utc_now_beijing
from schema.search_outbox import OUTBOX

log = logging.getLogger("caigou.search")
TRIGRAM_SINCE = (3, 34, 0)  # the FTS5 trigram tokenizer
CHUNK = 500


class EmbeddedBackend:
    """`SearchBackend` and index target on SQLite FTS5; `engine` is the hub's database."""

    def __init__(self, engine: Engine, reads: Engine | None = None) -> None:
        self.engine = engine
        # Searches read through `reads`: the hub's `reader(engine, CAIGOU_QUERY_TIMEOUT)`, so
        # 31 one-character exclusions (2 s a search here) are cut short like any slow read.
        self.reads = reads if reads is not None else engine
        self._ready = False

    # tables

    def _check(self) -> None:
        if self.engine.dialect.name != "sqlite":
            raise SearchUnavailable(
                "the embedded search runs on SQLite only: on PostgreSQL set "
                "CAIGOU_ELASTICSEARCH_URL (a local one: `bash scripts/elasticsearch.sh start`)"
            )
        if sqlite3.sqlite_version_info < TRIGRAM_SINCE:
            raise SearchUnavailable(
                f"SQLite {sqlite3.sqlite_version} has no FTS5 trigram tokenizer (3.34+ has): "
                "upgrade SQLite or configure Elasticsearch"
            )

    def ensure_tables(self) -> None:
        """Create the search tables once per process; a no-op when they exist."""
        if self._ready:
            return
        self._check()
        with self.engine.begin() as conn:
            existing = set(
                conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE name LIKE 'search\\_%' ESCAPE '\\'"
                ).scalars()
            )
            if not set(sql.ALL_TABLES) <= existing:
                for statement in sql.TABLES:
                    conn.exec_driver_sql(statement)
            columns = {r[1] for r in conn.exec_driver_sql("PRAGMA table_info(search_docs)")}
            if "flag_codes" not in columns:  # tables made before flags were searchable
                conn.exec_driver_sql("ALTER TABLE search_docs ADD COLUMN flag_codes TEXT")
        self._ready = True

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction holding SQLite's write lock from its first statement, so the
        versions it reads cannot change before it writes (concurrent catch-ups)."""
        self.ensure_tables()
        with self.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM search_tombstones WHERE 0")
            yield conn

    # writes

    def bulk(self, ops: Sequence[IndexOp]) -> list[dict[str, Any]]:
        """Apply each op whose version is newer than the stored one; the ops that failed.

        Replays and late arrivals are skipped, as Elasticsearch's external versions do; a
        delete leaves a tombstone with its version so a late upsert cannot bring it back.
        """
        failures: list[dict[str, Any]] = []
        ids = [sql.doc_id(op.kind, op.pk) for op in ops]
        # Rows built before the write lock is taken: ingests wait for the writes alone.
        built: dict[int, Rows] = {}
        broken: dict[int, Exception] = {}
        for doc, op in zip(ids, ops, strict=True):
            if op.document is None:
                continue
            try:
                built[id(op)] = _rows(doc, op)
            except Exception as exc:  # a bad document fails alone; its old one stays
                broken[id(op)] = exc
        with self._writing() as conn:
            stored = self._versions(conn, ids)
            newest: dict[int, IndexOp] = {}
            for doc, op in zip(ids, ops, strict=True):
                if op.version > max(stored.get(doc, -1), getattr(newest.get(doc), "version", -1)):
                    newest[doc] = op
            for doc, op in list(newest.items()):
                if id(op) in broken:  # reported only when it was to replace the stored one
                    error = f"document: {broken[id(op)]!r}"
                    failures.append({"kind": op.kind, "pk": op.pk, "error": error})
                    del newest[doc]
            rows = [built[id(op)] for op in newest.values() if op.document is not None]
            self._write(conn, list(newest), rows, newest)
        return failures

    def _versions(self, conn: Connection, ids: list[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        for start in range(0, len(ids), CHUNK):
            marks = ", ".join("?" * len(ids[start : start + CHUNK]))
            for table in ("search_docs", "search_tombstones"):
                query = f"SELECT id, version FROM {table} WHERE id IN ({marks})"
                for doc, version in conn.exec_driver_sql(query, tuple(ids[start : start + CHUNK])):
                    found[doc] = max(version, found.get(doc, version))
        return found

    def _write(
        self,
        conn: Connection,
        replaced: list[int],
        rows: list[Rows],
        ops: Mapping[int, IndexOp],
    ) -> None:
        """Delete the rows of `replaced`, then insert `rows` and the tombstones of deletes."""
        by_kind: dict[str, list[int]] = defaultdict(list)
        for doc in replaced:
            by_kind[sql.kind_of(doc)].append(doc)
        for kind, docs in by_kind.items():
            for start in range(0, len(docs), CHUNK):
                chunk = tuple(docs[start : start + CHUNK])
                marks = ", ".join("?" * len(chunk))
                for table in (*sql.PLAIN_TABLES, sql.TERMS[kind], sql.TEXTS[kind]):
                    conn.exec_driver_sql(f"DELETE FROM {table} WHERE rowid IN ({marks})", chunk)
        tombstones = [(doc, op.version) for doc, op in ops.items() if op.document is None]
        if tombstones:
            conn.exec_driver_sql("INSERT INTO search_tombstones VALUES (?, ?)", tombstones)
        if not rows:
            return
        columns = ", ".join(sql.DOC_COLUMNS)
        marks = ", ".join("?" * len(sql.DOC_COLUMNS))
        conn.exec_driver_sql(
            f"INSERT INTO search_docs ({columns}) VALUES ({marks})", [r[0] for r in rows]
        )
        kind_at = sql.DOC_COLUMNS.index("kind")
        for kind in sql.KIND_SLOTS:
            mine = [r for r in rows if r[0][kind_at] == kind]
            if mine:
                terms, texts = sql.TERMS[kind], sql.TEXTS[kind]
                conn.exec_driver_sql(
                    f"INSERT INTO {terms} (rowid, tokens, codes) VALUES (?, ?, ?)",
                    [r[1] for r in mine],
                )
                conn.exec_driver_sql(
                    f"INSERT INTO {texts} (rowid, title, text) VALUES (?, ?, ?)",
                    [r[2] for r in mine],
                )

    def rebuild(self, *, batch: int = 1000, build: DocumentBuilder | None = None) -> dict[str, int]:
        """Clear and refill every table from the records in one transaction, then catch up.

        Searches meanwhile read the old tables (WAL); changes made during the rebuild wait
        in the outbox and, with later version stamps, win over the rebuild's documents.
        """
        if build is None:
            from indexer.documents import documents

            build = documents
        counts = dict.fromkeys(KINDS, 0)
        with self._writing() as conn:
            for table in sql.ALL_TABLES:
                conn.exec_driver_sql(f"DELETE FROM {table}")
            version = version_stamp(conn)
            for kind in KINDS:
                ids = list(conn.execute(select(TABLES[kind].c.id).order_by("id")).scalars())
                for start in range(0, len(ids), batch):
                    docs = build(conn, kind, ids[start : start + batch])
                    ops = {
                        sql.doc_id(kind, pk): IndexOp(kind, pk, doc, version)
                        for pk, doc in docs.items()
                    }
                    self._write(conn, [], [_rows(d, op) for d, op in ops.items()], {})
                    counts[kind] += len(ops)
        self.catch_up()
        return counts

    def catch_up(self, *, batch: int = 1000, max_batches: int | None = None) -> int:
        """Drain the outbox into these tables; the documents indexed.

        One read of the outbox's head when nothing is due, so polling it costs next to
        nothing; it takes the write lock only when there is work, a batch at a time.
        """
        self.ensure_tables()
        due = or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until <= utc_now_beijing())
        with self.engine.connect() as conn:
            waiting = conn.execute(
                select(OUTBOX.c.id).where(OUTBOX.c.parked_at.is_(None), due).limit(1)
            ).first()
        indexed = batches = 0
        while waiting is not None and (max_batches is None or batches < max_batches):
            try:
                result = drain(self.engine, self, batch=batch)
            except TargetUnavailable as exc:  # e.g. the database busy: search what is indexed
                log.warning("embedded search could not catch up: %s", exc)
                break
            indexed += result.indexed
            batches += 1
            if result.claimed < batch or result.paused:
                break
        return indexed

    def count(self, kind: str) -> int:
        self.ensure_tables()
        with self.engine.connect() as conn:
            query = "SELECT count(*) FROM search_docs WHERE kind = ?"
            return int(conn.exec_driver_sql(query, (kind,)).scalar_one())

    # reads

    def search(self, request: SearchRequest) -> SearchResult:
        kinds = [k for k in request.kinds if k in KINDS]
        if not kinds:
            return SearchResult(0, [], {})
        self.ensure_tables()
        params: dict[str, Any] = {}
        hits = sql.hits_query(request, kinds, params)
        keys = sql.sort_keys(request)
        where = sql.after(keys, tuple(request.after), params) if request.after else "1"
        params["size"] = max(1, min(request.size, MAX_SIZE))
        statement = f"{hits} {sql.page_and_aggregates(keys, where, keys_only=request.keys_only)}"
        try:
            with self.reads.connect() as conn:
                found = conn.execute(text(statement), params).all()
        except OperationalError as exc:  # a locked or damaged file; a bug raises as it is
            if is_timeout(exc):  # the client's slow query (QUERY_TIMEOUT, a 503 page), not a
                raise  # fault of the index: it must not open the circuit breaker for everyone
            raise SearchUnavailable(f"the embedded search index cannot answer: {exc}") from exc
        page = sorted((r for r in found if r[0] == "_hit"), key=lambda r: r[2])
        terms = [] if request.keys_only else highlight_terms(request.query)
        relevance = request.order_by not in ("date", "amount")
        out = []
        for _, columns, _, score, _, _ in page:
            row = {**json.loads(columns), "score": score}
            out.append(
                Hit(
                    kind=row["kind"],
                    pk=row["pk"],
                    score=score if relevance else None,
                    sort=tuple(row[k.column] for k in keys),
                    highlights=_highlights(row["title"], row["text"], terms) if terms else {},
                )
            )
        if request.keys_only:
            return SearchResult(len(out), out, {})
        return _result(out, [r for r in found if r[0] != "_hit"])

    def health(self) -> dict[str, Any]:
        """Document counts per kind and the outbox depth; `unavailable` when it cannot answer."""
        try:
            counts = {kind: self.count(kind) for kind in KINDS}
            with self.engine.connect() as conn:
                pending = conn.execute(
                    select(OUTBOX.c.id).where(OUTBOX.c.parked_at.is_(None)).limit(1)
                ).first()
        except Exception as exc:
            return {"status": "unavailable", "backend": "sqlite-fts5", "error": str(exc)}
        return {
            "status": "green",
            "backend": "sqlite-fts5",
            "sqlite_version": sqlite3.sqlite_version,
            "documents": counts,
            "outbox_empty": pending is None,
        }


def _day(value: Any) -> str | None:
    return value.isoformat()[:10] if isinstance(value, date) else value


Rows = tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]  # search_docs, terms, texts


def _rows(doc: int, op: IndexOp) -> Rows:
    """A document as its rows of search_docs (DOC_COLUMNS' order) and of its kind's terms
    and text tables: tuples for the driver's executemany (SQLAlchemy's per-row parameter
    handling was a sixth of a catch-up)."""
    d = op.document or {}
    suppliers = [str(s) for s in d.get("supplier_ids") or [] if s is not None]
    docs = {
        **{c: d.get(c) for c in sql.DOC_COLUMNS},
        "id": doc, "kind": op.kind, "pk": op.pk, "version": op.version,
        "date": _day(d.get("date")), "amount": sql.fen(d.get("amount")),
        "region_path": "/".join(d.get("region_path") or []) or None,
        "supplier_ids": f" {' '.join(suppliers)} " if suppliers else None,
        "flag_codes": f" {' '.join(d['flag_codes'])} " if d.get("flag_codes") else None,
    }  # fmt: skip
    terms = (
        doc,
        " ".join(sql.term_token(t) for t in d.get("tokens") or []),
        " ".join(sql.term_token(c) for c in d.get("codes") or []),
    )
    texts = (doc, sql.standard(d.get("title")), sql.standard(d.get("text")))
    return tuple(docs[c] for c in sql.DOC_COLUMNS), terms, texts


def _highlights(title: str | None, body: str | None, terms: list[str]) -> dict[str, list[str]]:
    """As indexer.elastic: whole-word fragments of the title and of the text after it."""
    title, body = title or "", body or ""
    if title and body.startswith(title):
        body = body[len(title) :].lstrip("\n")
    found = {"title": highlight(title, terms), "text": highlight(body, terms)}
    return {field: fragments for field, fragments in found.items() if fragments}


def _money(fen: int | None) -> Decimal | None:
    return None if fen is None else Decimal(fen) / 100


def _result(hits: list[Hit], aggregates: Sequence[Any]) -> SearchResult:
    """Facets ordered as Elasticsearch's terms aggregations: count down, then key up."""
    groups: dict[str, list[tuple[Any, int]]] = {name: [] for name in FACETS}
    total, amount = 0, None
    for facet, key, n, total_fen, low, high in aggregates:
        if facet == "_total":
            total = n
        elif facet == "_amount":
            avg = (Decimal(total_fen) / n / 100).quantize(sql.CENT) if n else None
            amount = AmountStats(n, _money(total_fen), _money(low), _money(high), avg)
        else:
            groups[facet].append((key, n))
    facets = {
        name: [Bucket(str(key), n) for key, n in sorted(groups[name], key=lambda g: (-g[1], g[0]))][
            : FACETS[name][1]
        ]
        for name in FACETS
    }
    return SearchResult(total, hits, facets, amount)
