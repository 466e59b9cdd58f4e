"""Storage bench, part 3: the two schemes' files of a simulated day, written and counted.

Old scheme (main before issue 15, as first measured): a touched project's compiled rows in
their old columns (surrogate ids, no names) written again every day it is touched, plus full
daily snapshots of projects, parties, flags and transparency scores.

New layout, through the merged code: rows cast into `exports.versions.row_schema` (names and
credit codes beside party ids by `exports.party_names.add_party_names`), change rows dated by
`exports.versions.dated`, `history/` folded day by day with `exports.versions.apply_changes`
(restated rows keep their version open) and `current/` taken from it by
`exports.derived.current_of`, exactly as `exports.derived.fold_history` does from the change
files; month-end snapshots are the same state without `valid_from`.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, time
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench.storage_demo import old_schema
from bench.storage_model import Simulation, day_date
from exports.arrow import entity_schema
from exports.asof import COMPILED_ENTITIES
from exports.derived import current_of
from exports.formats import ROW_GROUP_ROWS, WRITERS
from exports.party_names import add_party_names
from exports.storage import open_store
from exports.versions import apply_changes, change_schema, dated, row_schema
from exports.xlsx import write_workbooks

STATUSES = pa.array(["planning", "tendering", "awarded", "contracted", "completed", "terminated"])
OLD_DAILY = tuple(e for e in COMPILED_ENTITIES if e != "award_suppliers")  # not exported then


class Meter:
    """Writes tables with the hub's writers into a folder, counts their bytes, deletes them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, table: pa.Table, schema: pa.Schema) -> np.ndarray:
        sizes = np.zeros(len(WRITERS), dtype=np.int64)
        for i, writer_type in enumerate(WRITERS):
            path = self.folder / f"part.{writer_type.format}"
            writer = writer_type(pa.OSFile(str(path), "wb"), schema)
            for at in range(0, table.num_rows, ROW_GROUP_ROWS):
                writer.write(table.slice(at, ROW_GROUP_ROWS))
            sizes[i] = writer.close().bytes
            assert sizes[i] == os.path.getsize(path)
            path.unlink()
        return sizes


def old_table(entity: str, table: pa.Table) -> pa.Table:
    """The rows in the old scheme's columns."""
    schema = old_schema(entity)
    return pa.Table.from_arrays([table.column(n) for n in schema.names], schema=schema)


def named(sim: Simulation, entity: str, table: pa.Table) -> pa.Table:
    """The rows as the new layout publishes them: the export columns (no surrogate ids of
    compiled rows), each party id's name and credit code beside it."""
    plain = table.select(entity_schema(entity).names)
    return add_party_names(plain, entity, sim.party_names).cast(row_schema(entity))


def project_versions(sim: Simulation, events: np.ndarray) -> pa.Table:
    """Projects as of the given events: status, last publication and count follow notices."""
    table = sim.rows["projects"].table.take(pa.array(sim.ev["j"][events]))
    for name, value in (
        ("status", STATUSES.take(pa.array(sim.ev["status"][events]))),
        ("last_published_at", pa.array(sim.ev["last"][events], pa.timestamp("us"))),
        ("notice_count", pa.array(sim.ev["count"][events])),
    ):
        table = table.set_column(table.schema.get_field_index(name), name, value)
    return table


def changed(sim: Simulation, entity: str, events: np.ndarray) -> pa.Table:
    """Every row of `entity` as of each event's day for its project (events by project)."""
    if entity == "projects":
        return project_versions(sim, events)
    rows = sim.rows[entity]
    js = sim.ev["j"][events]
    counts = rows.off[js + 1] - rows.off[js]
    idx = np.repeat(rows.off[js] - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    owner = np.repeat(events, counts)
    keep = rows.appear[idx] <= sim.ev["day"][owner]
    return rows.table.take(pa.array(idx[keep]))


def state_events(sim: Simulation, day: int) -> np.ndarray:
    """Each started project's latest event by `day`."""
    seen = np.add.reduceat((sim.ev["day"] <= day).astype(np.int64), sim.ev_off[:-1])
    return (sim.ev_off[:-1] + seen - 1)[seen > 0]


def standing(sim: Simulation, day: int) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Parties named by `day`, flags found by then, score rows existing by then."""
    flags = sim.rows["flags"]
    return (
        sim.parties.filter(pa.array(sim.party_first <= day)),
        flags.table.filter(pa.array(flags.appear <= day)),
        sim.scores.filter(pa.array(sim.score_first <= day)),
    )


def old_snapshots(sim: Simulation, meter: Meter, day: int) -> np.ndarray:
    """Main's daily full snapshots: projects, parties, flags, transparency scores."""
    parties, flags, scores = standing(sim, day)
    projects = project_versions(sim, state_events(sim, day))
    return (
        meter(old_table("projects", projects), old_schema("projects"))
        + meter(parties, old_schema("parties"))
        + meter(old_table("flags", flags), old_schema("flags"))
        + meter(scores, old_schema("transparency_scores"))
    )


class NewLayout:
    """The new layout's history folded day by day, and its state files measured on demand."""

    def __init__(self, sim: Simulation, meter: Meter) -> None:
        self.sim, self.meter = sim, meter
        self.history: dict[str, pa.Table | None] = dict.fromkeys(COMPILED_ENTITIES)

    def day(self, day: int, events: np.ndarray, measure: bool = True) -> np.ndarray:
        """`changes/` of the day (measured unless a lead-in day), folded into the history;
        quiet days write none."""
        total = np.zeros(len(WRITERS), dtype=np.int64)
        if not len(events):
            return total
        when = day_date(day)
        projects = pa.array(self.sim.ev["j"][events] + 1, pa.int64())
        for entity in COMPILED_ENTITIES:
            rows = dated(named(self.sim, entity, changed(self.sim, entity, events)), when)
            if measure:
                total += self.meter(rows, change_schema(entity))
            self.history[entity] = apply_changes(self.history[entity], rows, projects, when, entity)
        return total

    def history_bytes(self) -> np.ndarray:
        """`history/`: one file per compiled entity, every version."""
        total = np.zeros(len(WRITERS), dtype=np.int64)
        for table in self.history.values():
            if table is not None:
                total += self.meter(table, table.schema)
        return total

    def others(self, day: int) -> dict[str, pa.Table]:
        """The state files besides the compiled entities: parties, standing flags, scores."""
        parties, flags, scores = standing(self.sim, day)
        return {
            "parties": parties,
            "flags": named(self.sim, "flags", flags),
            "transparency_scores": named(self.sim, "transparency_scores", scores),
        }

    def snapshot(self, day: int) -> dict[str, pa.Table]:
        """A month-end snapshot's tables: the open versions without `valid_from`, others."""
        tables = {
            entity: current_of(table, entity).drop_columns(["valid_from"]).cast(row_schema(entity))
            for entity, table in self.history.items()
            if table is not None
        }
        return tables | self.others(day)

    def state_bytes(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """(`current/`, a month-end snapshot) at the end of `day`: the compiled entities' open
        versions (with, resp. without, `valid_from`), parties, standing flags and scores."""
        current = np.zeros(len(WRITERS), dtype=np.int64)
        for entity, table in self.history.items():
            if table is not None:
                rows = current_of(table, entity)
                current += self.meter(rows, rows.schema)
        others = sum(
            (self.meter(t, t.schema) for t in self.others(day).values()),
            np.zeros(len(WRITERS), dtype=np.int64),
        )
        snapshot = sum(
            (self.meter(t, t.schema) for t in self.snapshot(day).values()),
            np.zeros(len(WRITERS), dtype=np.int64),
        )
        return current + others, snapshot


def excel_bytes(folder: Path, tables: dict[str, pa.Table], day: int) -> int:
    """Bytes of the month-end workbooks (exports.xlsx.write_workbooks) of `tables`."""
    store = open_store(str(folder))
    created = datetime.combine(day_date(day), time())
    total = 0
    for name, table in tables.items():
        batches = table.to_batches(max_chunksize=65_536)
        for entry in write_workbooks(store, "xlsx", name, name, table.schema, batches, created):
            total += entry.bytes
    shutil.rmtree(folder / "xlsx")
    return total
