"""Export one day: database → Arrow batches → Parquet and CSV, published atomically.

Every file is written into `<root>/.staging/<date>-<random>/`, then moved into place, and the
day's manifest goes last: a day without a manifest is not published, and the next run redoes
it (removing what a crashed run left in staging). The same data gives the same bytes: rows in
primary-key order, fixed row groups, nothing in a file that depends on the clock.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime
from importlib.metadata import version
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
from sqlalchemy import Engine

from exports.arrow import entity_schema, to_export
from exports.catalog import write_catalog
from exports.formats import ROW_GROUP_ROWS, WRITERS, TableWriter
from exports.manifest import FileEntry, Manifest, manifest_path
from exports.partitions import Partition, day_partitions
from exports.scores import write_scores
from exports.source import Source, open_source
from exports.storage import Store, open_store
from schema.db import head_revision

TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
log = logging.getLogger(__name__)


def rechunk(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Tables of exactly `rows` rows (the last fewer), whatever sizes the driver hands over."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)


def partition_path(partition: Partition, day: date, suffix: str) -> str:
    return f"{partition.folder}/date={day.isoformat()}/{partition.entity}.{suffix}"


def write_partition(
    source: Source,
    store: Store,
    staging: str,
    partition: Partition,
    day: date,
    named_parties: set[int],
) -> list[FileEntry]:
    """Stream one partition into every format at once: the database is read one time.

    Each format writes in its own thread (pyarrow releases the GIL) while this one reads and
    converts the next row group, so at most two row groups are held. The ids of parties the
    rows name are added to `named_parties`.
    """
    schema = entity_schema(partition.entity)
    paths = [partition_path(partition, day, w.format) for w in WRITERS]
    writers: list[TableWriter] = [
        w(store.open_output(f"{staging}/{path}"), schema)
        for w, path in zip(WRITERS, paths, strict=True)
    ]
    try:
        return _write_all(source, store, staging, partition, named_parties, writers, paths)
    except BaseException:
        for writer in writers:
            writer.abort()
        raise


def _write_all(
    source: Source, store: Store, staging: str, partition: Partition,
    named_parties: set[int], writers: list[TableWriter], paths: list[str],
) -> list[FileEntry]:  # fmt: skip
    raw = source.batches(partition.select(named_parties), partition.entity)
    rows = 0
    with ThreadPoolExecutor(len(writers), thread_name_prefix="export") as pool:
        pending: list[Future[None]] = []
        for table in rechunk((to_export(b, partition.entity) for b in raw), ROW_GROUP_ROWS):
            rows += table.num_rows
            for column in partition.party_columns:
                named_parties.update(pc.unique(table.column(column)).drop_null().to_pylist())
            for done in pending:
                done.result()
            pending = [pool.submit(writer.write, table) for writer in writers]
        for done in pending:
            done.result()
    entries = []
    for writer, path in zip(writers, paths, strict=True):
        written = writer.close()
        store.sync(f"{staging}/{path}")
        entries.append(
            FileEntry(path, partition.entity, writer.format, rows, written.bytes, written.sha256)
        )
    return entries


def _time_text(value: Any) -> str | None:
    """PostgreSQL hands back datetimes, SQLite text: one spelling for the manifest."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.strftime(TIME_FORMAT)


def read_watermark(source: Source, day: date) -> dict[str, Any]:
    """The data version the day was cut at: latest accepted ingestion, latest publish time."""
    ingestion = source.scalar(
        "SELECT max(id) FROM ingestions WHERE status IN ('accepted', 'partial')"
    )
    end = date.fromordinal(day.toordinal() + 1).isoformat()
    latest = [
        _time_text(
            source.scalar(f"SELECT max(published_at) FROM {table} WHERE published_at < '{end}'")
        )
        for table in ("notices", "transactions", "penalty_records")
    ]
    known = [t for t in latest if t is not None]
    return {"ingestion_id": ingestion, "published_at": max(known) if known else None}


def write_ocds(
    engine: Engine, store: Store, staging: str, day: date, publication: Any = None
) -> list[FileEntry]:
    """The day's OCDS release package (its notices) and record package (the projects touched,
    compiled as of the end of that day), both from one connection. A quiet day gets neither:
    OCDS requires at least one release (record) in a package, and the day's manifest says
    `"ocds": {"releases": 0, "records": 0}`."""
    from exports.ocds import day_packages, package_bytes

    with engine.connect() as conn:
        packages = day_packages(conn, day, publication)
    entries = []
    for name, (package, items) in packages.items():
        data = package_bytes(package)
        path = f"ocds/date={day.isoformat()}/{name}.json"
        store.write_bytes(f"{staging}/{path}", data)
        digest = hashlib.sha256(data).hexdigest()
        entries.append(FileEntry(path, "ocds", "json", len(package[items]), len(data), digest))
    return entries


def generated_by() -> str:
    """Tool versions, since a newer pyarrow may lay out the same data in other bytes."""
    return f"caigou-hub {version('caigou-hub')} (pyarrow {pa.__version__})"


def publish(store: Store, staging: str, manifest: Manifest, licence: Any = None) -> None:
    """Move every file into place, then the manifest: the day appears whole or not at all.

    A day published before is first taken out of the catalog, then unpublished (its manifest
    deleted) while its files are replaced: a crash in between never leaves the catalog listing
    a day without a manifest, and the next plain `caigou export` republishes it.
    """
    if store.exists(manifest_path(manifest.date)):
        write_catalog(store, leaving_out=manifest.date, licence=licence)
        store.delete(manifest_path(manifest.date))
    for entry in manifest.files:
        store.move(f"{staging}/{entry.path}", entry.path)
    store.write_bytes(f"{staging}/{manifest_path(manifest.date)}", manifest.to_json())
    store.move(f"{staging}/{manifest_path(manifest.date)}", manifest_path(manifest.date))
    store.delete(staging)


def export_day(
    engine: Engine, root: str, day: date, *, fs: pafs.FileSystem | None = None,
    publication: Any = None,
) -> Manifest:  # fmt: skip
    """Export every entity of `day` and publish it; returns the manifest written.

    `publication` (exports.ocds.Publication) says where the OCDS packages will be found and
    under what licence the packages, catalog.json and datapackage.json are published.
    """
    store = open_store(root, fs)
    store.clean_staging(day.isoformat())
    staging = store.new_staging(day.isoformat())
    files: list[FileEntry] = []
    named_parties: set[int] = set()
    with open_source(engine) as source:
        watermark = read_watermark(source, day)
        for partition in day_partitions(day):
            files += write_partition(source, store, staging, partition, day, named_parties)
    files += write_scores(engine, store, staging, day)
    files += write_ocds(engine, store, staging, day, publication)
    manifest = Manifest(day.isoformat(), head_revision(), watermark, generated_by(), files)
    licence = publication.licence if publication is not None else None
    publish(store, staging, manifest, licence)
    write_catalog(store, licence=licence)
    return manifest
