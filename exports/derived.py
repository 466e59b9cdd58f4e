"""`history/` and `current/`: rebuilt from the published days after each export.

`history/<compiled>` folds every published day's change files (exports.versions): each day
newer than the history is applied to it; when an older day was re-exported (its manifest
changed) the history is rebuilt from the first day, which gives the same bytes a straight run
would. `current/` holds the state at the end of the newest published day: the compiled
entities' open versions, and the parties, standing flags and scores as of that day.

`manifests/current.json` lists these files (rows, bytes, SHA-256, the day they are as of and
the manifests they were built from) and is written last, as a day's manifest is: a crash
leaves it naming the previous files or stale, and the next run rebuilds.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Engine

from exports.arrow import entity_schema
from exports.asof import COMPILED_ENTITIES
from exports.catalog import write_catalog
from exports.flagrows import partition_batches
from exports.manifest import (
    DERIVED,
    Derived,
    FileEntry,
    manifest_path,
    published_days,
    read_derived,
)
from exports.partitions import SCORES, data_path, state_partitions
from exports.scores import score_table
from exports.source import open_source
from exports.storage import Store
from exports.tablefiles import naming, write_table
from exports.versions import (
    apply_changes,
    change_schema,
    history_schema,
    party_ids,
)


def fingerprint(store: Store, days: list[date]) -> str:
    """What the published days hold: a changed manifest (a re-export) changes it."""
    digest = hashlib.sha256()
    for day in days:
        data = store.read_bytes(manifest_path(day)) or b""
        digest.update(f"{day}:{hashlib.sha256(data).hexdigest()}\n".encode())
    return digest.hexdigest()


def _intact(store: Store, entry: FileEntry) -> bool:
    """The file is the one listed (read whole: only before extending the history)."""
    data = store.read_bytes(entry.path)
    return data is not None and hashlib.sha256(data).hexdigest() == entry.sha256


def _in_place(store: Store, derived: Derived) -> bool:
    """A cheap look: every listed file there, of its size, and none moved in after the
    listing was written (a crash between the moves and the listing leaves newer files)."""
    listing = store.fs.get_file_info(store.path(DERIVED))
    for entry in derived.files:
        info = store.fs.get_file_info(store.path(entry.path))
        if info.size != entry.bytes:
            return False
        if info.mtime and listing.mtime and info.mtime > listing.mtime:
            return False
    return True


def _read_parquet(store: Store, relative: str) -> pa.Table | None:
    if not store.exists(relative):
        return None
    with store.fs.open_input_file(store.path(relative)) as stream:
        return pq.read_table(stream)


def _history_start(store: Store, old: Derived | None, days: list[date]) -> Derived | None:
    """The previous build when it can be extended (its days unchanged, its files intact)."""
    if old is None:
        return None
    before = [d for d in days if d.isoformat() <= old.as_of]
    if fingerprint(store, before) != old.built_from:
        return None
    history = [f for f in old.files if f.path.startswith("parquet/history/")]
    return old if history and all(_intact(store, f) for f in history) else None


def fold_history(store: Store, entity: str, days: list[date], start: pa.Table | None) -> pa.Table:
    """`start` (or nothing) with each day's changes applied, oldest first."""
    history = start
    for day in days:
        changed = _read_parquet(store, data_path("parquet", "changes/projects", "projects", day))
        if changed is None:
            continue  # a quiet day: no project changed
        path = data_path("parquet", f"changes/{entity}", entity, day)
        changes = _read_parquet(store, path)
        if changes is None:  # a day's files are published together: someone removed it
            raise FileNotFoundError(f"{path}: {day} has changed projects but no {entity} file")
        history = apply_changes(history, changes, changed["id"].combine_chunks(), day, entity)
    found = history if history is not None else history_schema(entity).empty_table()
    return found.cast(history_schema(entity))


def current_of(history: pa.Table, entity: str) -> pa.Table:
    """The open versions, without `valid_to` (empty on all of them)."""
    open_rows = history.filter(pc.is_null(history["valid_to"]))
    return open_rows.drop_columns(["valid_to"]).cast(change_schema(entity))


def refresh(engine: Engine, store: Store, licence: Any = None) -> Derived | None:
    """Bring history/ and current/ up to the newest published day (if not already), then
    rewrite catalog.json and datapackage.json."""
    days = published_days(store)
    store.clean_staging("derived")  # what a crashed rebuild left
    old = read_derived(store)
    built = fingerprint(store, days)
    if days and not (old and old.built_from == built and _in_place(store, old)):
        old = _rebuild(engine, store, days, old, built)
    write_catalog(store, licence=licence)
    return old if days else None


def _rebuild(
    engine: Engine, store: Store, days: list[date], old: Derived | None, built: str
) -> Derived:
    newest = days[-1]
    staging = store.new_staging("derived")
    base = _history_start(store, old, days)
    files: list[FileEntry] = []
    named: set[int] = set()
    for entity in COMPILED_ENTITIES:
        start = None
        todo = days
        if base is not None:
            start = _read_parquet(store, data_path("parquet", "history", entity))
            todo = [d for d in days if d.isoformat() > base.as_of]
        history = fold_history(store, entity, todo, start)
        files += write_table(store, staging, "history", entity, history.schema, [history])
        current = current_of(history, entity)
        named |= party_ids(current, entity)
        files += write_table(store, staging, "current", entity, current.schema, [current])
    with open_source(engine) as source, naming(source):
        scores = score_table(engine, newest)
        named |= party_ids(scores, SCORES)  # every party a current/ file names is in parties
        for part in state_partitions(newest, named):
            batches = partition_batches(source, part)
            files += write_table(store, staging, "current", part.entity,
                                 entity_schema(part.entity), batches)  # fmt: skip
        files += write_table(store, staging, "current", SCORES, scores.schema, [scores])
    derived = Derived(newest.isoformat(), built, files)
    for entry in files:
        store.move(f"{staging}/{entry.path}", entry.path)
    store.write_bytes(f"{staging}/{DERIVED}", derived.to_json())
    store.move(f"{staging}/{DERIVED}", DERIVED)
    store.delete(staging)
    return derived
