"""Export one day: database → Arrow batches → Parquet and CSV trees, published atomically.

Every file is written into `<root>/.staging/<date>-<random>/`, then moved into place, and the
day's manifest goes last: a day without a manifest is not published, and the next run redoes
it (removing what a crashed run left in staging). The same data gives the same bytes: rows in
key order, fixed row groups, nothing in a file that depends on the clock. After the day is
published, `history/` and `current/` are rebuilt from the published days (exports.derived).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from datetime import date
from importlib.metadata import version
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from sqlalchemy import Engine

from exports.arrow import entity_schema
from exports.asof import COMPILED_ENTITIES, changed_projects
from exports.catalog import write_catalog
from exports.flagrows import AsOfFlags, flag_table, partition_batches
from exports.late import late_records
from exports.manifest import FileEntry, Manifest, manifest_path
from exports.partitions import (
    SCORES,
    Partition,
    data_path,
    month_end,
    record_partitions,
    state_partitions,
)
from exports.party_names import named_schema
from exports.scores import score_table
from exports.source import Source, as_datetime, open_source
from exports.storage import Store, open_store
from exports.tablefiles import TableFiles, naming, prepare, write_table
from exports.versions import (
    change_schema,
    dated,
    party_ids,
    projects_published_by,
    row_schema,
    states,
)
from exports.xlsx import month_end_workbooks
from schema.db import head_revision

TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
log = logging.getLogger(__name__)


# Price outliers have no as-of computation (exports.flagrows): by the day first found.
TRANSACTION_FLAGS = "transaction_id IS NOT NULL"


def write_records(
    source: Source, store: Store, staging: str, day: date, flags: AsOfFlags | None = None
) -> list[FileEntry]:
    """The immutable records published on `day`, and those that arrived on it after their own
    day was dumped (exports.late), streamed; the flags whose finding first stood on `day`
    (with `flags`; else the stored flags first found on it)."""
    files = []
    for part in record_partitions(day, late=late_records(source, store, day)):
        batches: Any = partition_batches(source, part)
        if flags is not None and part.entity == "flags":
            found = Partition("flags", f"{TRANSACTION_FLAGS} AND ({part.where})")
            batches = [flag_table(source, flags.first_standing(source, day)),
                       *partition_batches(source, found)]  # fmt: skip
        files += write_table(store, staging, part.entity, part.entity,
                             entity_schema(part.entity), batches, day)  # fmt: skip
    return files


def write_states(
    source: Source, store: Store, staging: str, folder: str, day: date, projects: list[int],
    schema_of: Callable[[str], pa.Schema],
    rows_of: Callable[[pa.Table, str], pa.Table] = lambda table, entity: table,
    named: set[int] | None = None, chunk_seen: Callable[[dict[str, pa.Table]], None] | None = None,
) -> list[FileEntry]:  # fmt: skip
    """Every compiled entity's rows of `projects` as of the end of `day` into `folder`, one
    chunk of projects at a time, all entities' files open at once (each chunk read once)."""
    files = {e: TableFiles(store, staging, f"{folder}/{e}", e, schema_of(e), day)
             for e in COMPILED_ENTITIES}  # fmt: skip
    try:
        for chunk in states(source, projects, day):
            if chunk_seen is not None:
                chunk_seen(chunk)
            for entity, table in chunk.items():
                if table.num_rows:
                    if named is not None:
                        named |= party_ids(table, entity)
                    rows = prepare(table, entity).cast(row_schema(entity))
                    files[entity].write(rows_of(rows, entity))
        return [entry for e in COMPILED_ENTITIES for entry in files[e].close()]
    except BaseException:
        for each in files.values():
            each.abort()
        raise


def _named_rows(source: Source, part: Partition) -> Iterator[pa.Table]:
    """The partition's rows as written into the dumps: exported types, party names beside ids."""
    for batch in partition_batches(source, part):
        yield prepare(pa.Table.from_batches([batch]), part.entity)


def _month_flags(store: Store, staging: str, day: date) -> Iterator[pa.Table]:
    """The month's daily flag files (as-of flags are not in the database): the published
    days' and this day's, still in staging."""
    for n in range(1, day.day + 1):
        path = data_path("parquet", "flags", "flags", day.replace(day=n))
        found = f"{staging}/{path}" if n == day.day else path
        if store.exists(found):
            with store.fs.open_input_file(store.path(found)) as stream:
                yield pq.read_table(stream)


def write_month_workbooks(
    source: Source, store: Store, staging: str, day: date, written: list[FileEntry],
    flags: AsOfFlags | None = None,
) -> list[FileEntry]:  # fmt: skip
    """On a month's last day, the month's records and its snapshots as Excel workbooks
    (exports.xlsx); the records read again from the database for the whole month (as-of
    flags: from the month's daily files)."""
    if not month_end(day):
        return []
    records: list[Any] = []
    for part in record_partitions(day.replace(day=1), day):
        schema = named_schema(entity_schema(part.entity), part.entity)
        if flags is not None and part.entity == "flags":
            records.append((part.entity, schema, _month_flags(store, staging, day)))
        else:
            records.append((part.entity, schema, _named_rows(source, part)))
    return month_end_workbooks(store, staging, day, written, records)


def write_changes(source: Source, store: Store, staging: str, day: date) -> list[FileEntry]:
    """`changes/<compiled>/date=D/`: every project changed on D, all its rows as of D's end;
    nothing on a day when no project changed."""
    projects = changed_projects(source, day)
    if not projects:
        return []
    return write_states(source, store, staging, "changes", day, projects, change_schema,
                        lambda table, entity: dated(table, day))  # fmt: skip


def write_snapshots(
    engine: Engine, source: Source, store: Store, staging: str, day: date,
    flags: AsOfFlags | None = None,
) -> list[FileEntry]:  # fmt: skip
    """`snapshots/<entity>/date=<month end>/`: the full state at the end of a month; with
    `flags`, the project flags standing then are the rules' findings on that state."""
    projects = projects_published_by(source, day)
    named: set[int] = set()
    standing: list[Any] = []

    def each(chunk: dict[str, pa.Table]) -> None:
        if flags is not None:
            standing.extend(flags.standing(source, chunk, day))

    files = write_states(source, store, staging, "snapshots", day, projects, row_schema,
                         named=named, chunk_seen=each)  # fmt: skip
    scores = score_table(engine, day, standing if flags is not None else None)
    named |= party_ids(scores, SCORES)  # every party a snapshot file names is in its parties
    project_flags = flag_table(source, standing) if flags is not None else None
    if project_flags is not None:
        named |= {p for p in project_flags["party_id"].to_pylist() if p is not None}
    for part in state_partitions(day, named, as_of_flags=flags is not None):
        batches: Any = partition_batches(source, part)
        if project_flags is not None and part.entity == "flags":
            batches = [project_flags, *batches]
        files += write_table(store, staging, f"snapshots/{part.entity}", part.entity,
                             entity_schema(part.entity), batches, day)  # fmt: skip
    files += write_table(store, staging, f"snapshots/{SCORES}", SCORES, scores.schema,
                         [scores], day)  # fmt: skip
    return files


def _time_text(value: Any) -> str | None:
    """PostgreSQL hands back datetimes, SQLite text: one spelling for the manifest."""
    if value is None:
        return None
    return as_datetime(value).strftime(TIME_FORMAT)


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
    # The newest receipt the cut saw: a record received later is late for this day (exports.late).
    received = [
        _time_text(source.scalar(f"SELECT max(received_at) FROM {table}"))
        for table in ("notices", "transactions", "penalty_records")
    ]
    arrived = [t for t in received if t is not None]
    return {"ingestion_id": ingestion, "published_at": max(known) if known else None,
            "received_at": max(arrived) if arrived else None}  # fmt: skip


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
    publication: Any = None, derive: bool = True, flags: AsOfFlags | None = None,
) -> Manifest:  # fmt: skip
    """Export every entity of `day` and publish it; returns the manifest written.

    `publication` (exports.ocds.Publication) says where the OCDS packages will be found and
    under what licence the packages, catalog.json and datapackage.json are published.
    `derive=False` leaves `history/` and `current/` to the caller (a range rebuilds once).
    `flags` (hub.flags.asof.FlagDays, one per run) computes the project flags as of the day;
    without it, flags are dated by when the stored flag was first found.
    """
    from exports.derived import refresh

    store = open_store(root, fs)
    store.clean_staging(day.isoformat())
    staging = store.new_staging(day.isoformat())
    files: list[FileEntry] = []
    with open_source(engine) as source, naming(source):
        watermark = read_watermark(source, day)
        files += write_records(source, store, staging, day, flags)
        files += write_changes(source, store, staging, day)
        if month_end(day):
            files += write_snapshots(engine, source, store, staging, day, flags)
        files += write_month_workbooks(source, store, staging, day, files, flags)
    files += write_ocds(engine, store, staging, day, publication)
    manifest = Manifest(day.isoformat(), head_revision(), watermark, generated_by(), files)
    licence = publication.licence if publication is not None else None
    publish(store, staging, manifest, licence)
    if derive:
        refresh(engine, store, licence)
    else:
        write_catalog(store, licence=licence)
    return manifest
