"""One table written into every format at once, under staging: the single write path.

Every table of the dumps (records, change rows, snapshots, history, current) passes through
`prepare` before it is written: the one place where columns are added beside the database's
(party names and credit codes beside party ids) for every file alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from functools import cache

import pyarrow as pa

from exports.formats import ROW_GROUP_ROWS, WRITERS, TableWriter
from exports.manifest import FileEntry
from exports.partitions import data_path
from exports.party_names import PartyNames, add_party_names
from exports.source import Source
from exports.storage import Store
from schema.relations import party_id_columns

# The parties of the export under way, read once from its snapshot (`naming`): every table of
# the export passes `prepare`, from whatever module writes it, so a context variable carries
# them rather than a parameter threaded through every writer.
_NAMES: ContextVar[PartyNames | None] = ContextVar("party_names", default=None)


@cache
def _no_parties() -> PartyNames:
    """Built on first use: `pa.array` loads pandas (~0.25 s), which no command should pay
    for merely importing the exports."""
    return PartyNames(pa.array([], pa.int64()), pa.array([], pa.string()),
                      pa.array([], pa.string()))  # fmt: skip


@contextmanager
def naming(source: Source) -> Iterator[None]:
    """Tables written inside get the names and credit codes of `source`'s parties."""
    token = _NAMES.set(PartyNames.load(source))
    try:
        yield
    finally:
        _NAMES.reset(token)


def prepare(table: pa.Table, entity: str) -> pa.Table:
    """Every table on its way into a file: each party id gets its party's name and credit code
    beside it (exports.party_names). A table that has them already (history/ and current/ are
    folded from published change files) passes as it is."""
    ids = [c for c in party_id_columns(entity) if c in table.column_names]
    if not ids or all(f"{c.removesuffix('_id')}_uscc" in table.column_names for c in ids):
        return table
    return add_party_names(table, entity, _NAMES.get() or _no_parties())


def rechunk(tables: Iterable[pa.Table | pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Tables of exactly `rows` rows (the last fewer), whatever sizes the driver hands over."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for part in tables:
        batches = part.to_batches() if isinstance(part, pa.Table) else [part]
        pending.extend(b for b in batches if b.num_rows)
        held += part.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)


class TableFiles:
    """A table's Parquet and CSV files in staging, fed in row groups, hashed on the way out.

    Each format writes in its own thread (pyarrow releases the GIL) while the caller reads and
    converts the next row group, so at most two row groups are held.
    """

    def __init__(
        self, store: Store, staging: str, folder: str, entity: str, schema: pa.Schema,
        day: date | None = None,
    ) -> None:  # fmt: skip
        self.store, self.staging, self.entity = store, staging, entity
        self.paths = [data_path(w.format, folder, entity, day) for w in WRITERS]
        schema = prepare(schema.empty_table(), entity).schema
        self.schema = schema
        self.writers: list[TableWriter] = [
            w(store.open_output(f"{staging}/{path}"), schema)
            for w, path in zip(WRITERS, self.paths, strict=True)
        ]
        self.rows = 0
        self.pool = ThreadPoolExecutor(len(self.writers), thread_name_prefix="export")
        self.pending: list[Future[None]] = []

    def write(self, table: pa.Table) -> None:
        table = prepare(table, self.entity)
        self.rows += table.num_rows
        for done in self.pending:
            done.result()
        self.pending = [self.pool.submit(w.write, table) for w in self.writers]

    def close(self) -> list[FileEntry]:
        for done in self.pending:
            done.result()
        self.pool.shutdown()
        entries = []
        for writer, path in zip(self.writers, self.paths, strict=True):
            written = writer.close()
            self.store.sync(f"{self.staging}/{path}")
            entries.append(
                FileEntry(
                    path, self.entity, writer.format, self.rows, written.bytes, written.sha256
                )
            )
        return entries

    def abort(self) -> None:
        self.pool.shutdown(cancel_futures=True)
        for writer in self.writers:
            writer.abort()


def write_table(
    store: Store, staging: str, folder: str, entity: str, schema: pa.Schema,
    tables: Iterable[pa.Table | pa.RecordBatch], day: date | None = None,
) -> list[FileEntry]:  # fmt: skip
    """Stream `tables` into `<fmt>/<folder>/[date=D/]<entity>.<fmt>` for every format."""
    files = TableFiles(store, staging, folder, entity, schema, day)
    try:
        for table in rechunk(tables, ROW_GROUP_ROWS):
            files.write(table)
        return files.close()
    except BaseException:
        files.abort()
        raise
