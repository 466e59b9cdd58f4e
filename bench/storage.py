"""Storage bench (issue 15, item 7): bytes of the dumps, old scheme against the new layout.

A steady-state year of a hub touching ~100,000 projects, dumped by the old scheme (main today,
exports/partitions.py: a touched project's compiled rows written again every day it is
touched, plus full daily snapshots of projects, parties, flags and transparency scores) and
by the new one (immutable day partitions, SCD-2 change rows with `valid_from`, a single
`history/` file per compiled entity rewritten daily, `current/` rewritten daily, month-end
snapshots). Both schemes' files are written side by side in one run with the real writers
(`exports.formats.WRITERS`: zstd Parquet, CSV with BOM) into a temporary folder, counted,
and deleted.

The model (what every simulated row is): the demo (`hub.demo.generate`, seed 20221, 240
projects + the planted ones) is generated and ingested into a temporary SQLite database
through the real pipeline and its flags rebuilt; its 292 compiled projects are the
templates. Simulated project j is copy j // 292 of template j % 292 and starts on a day
drawn uniformly from [1 - LEAD_IN, days]; its notices keep the template's day offsets and
times (spans up to 219 days, ~4.5 publishing days per project), so notices flow at a
steady rate from day 1. Its rows are the template's rows in the real export schemas
(`exports.arrow.entity_schema`) with ocids, codes, award and contract ids suffixed `-B<k>`,
dates shifted, amounts scaled by a per-project factor in [0.6, 1.6], surrogate ids
renumbered, and the template purchaser's name in titles and full texts replaced by its copy's
name. Parties: the demo's (628) in PARTY_COPIES renamed copies (place prefix, distinct
18-character credit codes); copy k of a project names party copy k % PARTY_COPIES.
A child row appears from its stage's notice on (lots and tender items: the first tender-stage
notice; awards, award suppliers, award items: the result notice; experts: their notice;
contracts and their suppliers: the contract notice), with its final values; a project's
status, last publication time and notice count follow its notices. Flags (the demo's 226
project flags for 292 projects) fall on the day of their latest cited notice. Transparency
scores: one row per (purchaser | agency | region, month) with projects, the demo's values.
Transactions, penalties and data-quality issues are immutable, the same in both schemes,
and left out of both.

New-scheme rows leave surrogate ids out (children keyed by project_id and natural ids,
suppliers by (project_id, award_id | contract_id, party_id), experts by release id) and get
`<role>_name` and `<role>_credit_code` beside every party id column.

Sampling: old full snapshots are written on every 7th day, day 1 and each of the last 30
days, linearly interpolated in between; `history/`, `current/` and the month-end snapshots
on every month end and the last day (history and current interpolated in between). The
interpolation error on sampled points is printed (max of |measured - line through its
neighbours| / measured). Three years: daily partitions at their mean daily size, sampled
series fitted by a straight line in the day and summed to day 1095.

    python bench/storage.py [--projects 100000] [--days 365] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exports.arrow import column_list, entity_schema, to_export
from exports.formats import ROW_GROUP_ROWS, WRITERS

BASE = date(2025, 1, 1)  # simulated day 1
LEAD_IN = 220  # days of starts before day 1: longer than any demo project's span (219)
PARTY_COPIES = 100
SNAPSHOT_EVERY = 7
LAST = 30  # the last month: every day measured
YEARS3 = 1095
COMPILED = (
    "projects",
    "lots",
    "awards",
    "award_suppliers",
    "contracts",
    "contract_suppliers",
    "project_items",
    "evaluation_experts",
)
OLD_DAILY = tuple(e for e in COMPILED if e != "award_suppliers")  # not exported by main
PARTY_IDS = ("purchaser_id", "agency_id", "supplier_id", "party_id")
STATUS = {
    "intention": 0,
    "tender": 1,
    "single_source": 1,
    "correction": 1,
    "documents": 1,
    "result": 2,
    "agency_fee": 2,
    "contract": 3,
    "acceptance": 4,
    "termination": 5,
}
STATUSES = pa.array(["planning", "tendering", "awarded", "contracted", "completed", "terminated"])
SUFFIXED = ("ocid", "project_code", "release_id", "award_id", "contract_id")
RENAMED = ("title", "full_text")  # the purchaser's name inside becomes its copy's
US_PER_DAY = 86_400_000_000
BUILD_ORDER = ("projects", "notices", "contracts", "lots", "awards", "award_suppliers",
               "contract_suppliers", "project_items", "evaluation_experts", "flags")  # fmt: skip
EPOCH_DAY = (BASE - date(1970, 1, 1)).days - 1  # date32 of simulated day 0
AWARD_SUPPLIERS = pa.schema(
    [("project_id", pa.int64()), ("award_id", pa.string()), ("party_id", pa.int64())]
)


def load_demo(folder: Path) -> Path:
    """The demo through the real pipeline into SQLite, flags rebuilt: the templates."""
    from hub.demo import generate
    from hub.demo.load import load_demo as ingest
    from hub.flags import rebuild
    from schema.db import make_engine, upgrade

    path = folder / "demo.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    for _ in ingest(engine, generate(folder / "files", transactions=1000)):
        pass
    rebuild(engine)
    engine.dispose()
    return path


def day_of(text: str | None) -> int | None:
    return None if text is None else date.fromisoformat(str(text)[:10]).toordinal()


@dataclass
class Rows:
    """One entity's rows for every simulated project, grouped by project (`off`: CSR)."""

    table: pa.Table
    j: np.ndarray  # simulated project of each row
    appear: np.ndarray  # day the row first exists
    off: np.ndarray

    def of(self, js: np.ndarray, day: int | None = None) -> np.ndarray:
        """Row positions of projects `js` (sorted), only those existing by `day`."""
        counts = self.off[js + 1] - self.off[js]
        idx = np.repeat(self.off[js] - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        return idx if day is None else idx[self.appear[idx] <= day]


@dataclass
class Templates:
    """The demo's compiled projects as row templates, with each row's day offset."""

    count: int
    tables: dict[str, pa.Table]  # export rows (+ helper columns), grouped by template
    t: dict[str, np.ndarray]  # template index of each row
    offset: dict[str, np.ndarray]  # days after the template's first notice the row appears
    events: dict[str, np.ndarray]  # t, day offset, notices so far, last time (us), status
    first_day: np.ndarray  # ordinal of each template's first notice
    purchaser: list[str]  # each template's purchaser name
    parties: pa.Table
    scores: list[dict[str, Any]]


def read_templates(path: Path) -> Templates:
    """Templates from the demo database (see the module docstring for the stage rules)."""
    from exports.source import SqliteSource

    db = sqlite3.connect(path)
    source = SqliteSource(db)

    def export(entity: str, order: str = "id") -> pa.Table:
        sql = f"SELECT {column_list(entity)} FROM {entity} ORDER BY {order}"
        got = [to_export(b, entity) for b in source.batches(sql, entity)]
        return pa.Table.from_batches(got, schema=entity_schema(entity))

    projects = db.execute(
        "SELECT p.id, p.first_published_at, y.name FROM projects p "
        "JOIN parties y ON y.id = p.purchaser_id ORDER BY p.id"
    ).fetchall()
    index = {pid: i for i, (pid, _, _) in enumerate(projects)}
    first = np.array([day_of(f) for _, f, _ in projects])
    notices: dict[int, list[tuple[int, str, str, int]]] = defaultdict(list)
    notice_day: dict[int, int] = {}
    for nid, pid, kind, at in db.execute(
        "SELECT id, project_id, notice_type, published_at FROM notices "
        "ORDER BY project_id, published_at, id"
    ):
        offset = day_of(at) - first[index[pid]]  # type: ignore[operator]
        notice_day[nid] = offset
        notices[index[pid]].append((offset, kind, at, nid))
    local = {n[3]: i for group in notices.values() for i, n in enumerate(group)}

    def stage(t: int, kinds: tuple[str, ...], after: int | None) -> int:
        """The first notice of `kinds` on or after day `after`; else `after`, else the last."""
        for offset, kind, _, _ in notices[t]:
            if kind in kinds and offset >= (after or 0):
                return offset
        return after if after is not None else notices[t][-1][0]

    tables: dict[str, pa.Table] = {}
    t: dict[str, list[int]] = {}
    offset: dict[str, list[int]] = {}
    tender = {
        i: stage(i, ("tender", "single_source", "correction", "documents"), None) for i in notices
    }
    tables["projects"] = export("projects")
    t["projects"], offset["projects"] = list(range(len(projects))), [0] * len(projects)
    tables["lots"] = export("lots", "project_id, id")
    t["lots"] = [index[p] for p in tables["lots"].column("project_id").to_pylist()]
    offset["lots"] = [tender[i] for i in t["lots"]]
    award_at: dict[tuple[int, str], int] = {}
    for table, stamp, kind in (
        ("awards", "decision_date", "result"),
        ("contracts", "date_signed", "contract"),
    ):
        tables[table] = export(table, "project_id, id")
        rows = tables[table].to_pydict()
        t[table] = [index[p] for p in rows["project_id"]]
        offset[table] = []
        for i, when, key in zip(t[table], rows[stamp], rows[table[:-1] + "_id"], strict=True):
            signed = None if when is None else when.date().toordinal() - first[i]
            offset[table].append(stage(i, (kind,), signed))
            award_at[(i, key)] = offset[table][-1]
    contract_local: dict[int, int] = {}
    numbered: dict[int, int] = defaultdict(int)
    for cid, pid in db.execute("SELECT id, project_id FROM contracts ORDER BY project_id, id"):
        contract_local[cid], numbered[pid] = numbered[pid], numbered[pid] + 1
    helper = db.execute(
        "SELECT s.contract_pk, c.project_id, c.contract_id FROM contract_suppliers s "
        "JOIN contracts c ON c.id = s.contract_pk ORDER BY s.id"
    ).fetchall()
    tables["contract_suppliers"] = (
        export("contract_suppliers")
        .append_column("project_id", pa.array([h[1] for h in helper], pa.int64()))
        .append_column("contract_id", pa.array([h[2] for h in helper]))
        .append_column("_ref", pa.array([contract_local[h[0]] for h in helper], pa.int64()))
    )
    t["contract_suppliers"] = [index[h[1]] for h in helper]
    offset["contract_suppliers"] = [award_at[(index[h[1]], h[2])] for h in helper]
    supplied = db.execute(
        "SELECT a.project_id, a.award_id, s.party_id FROM award_suppliers s "
        "JOIN awards a ON a.id = s.award_pk ORDER BY a.project_id, a.id, s.party_id"
    ).fetchall()
    tables["award_suppliers"] = pa.Table.from_pylist(
        [dict(zip(AWARD_SUPPLIERS.names, row, strict=True)) for row in supplied],
        schema=AWARD_SUPPLIERS,
    )
    t["award_suppliers"] = [index[p] for p, _, _ in supplied]
    offset["award_suppliers"] = [award_at[(index[p], a)] for p, a, _ in supplied]
    tables["project_items"] = export("project_items", "project_id, id")
    rows = tables["project_items"].to_pydict()
    t["project_items"] = [index[p] for p in rows["project_id"]]
    offset["project_items"] = [
        tender[i] if section == "tender" else award_at.get((i, a), stage(i, ("result",), None))
        for i, section, a in zip(t["project_items"], rows["section"], rows["award_id"], strict=True)
    ]
    experts = export("evaluation_experts", "project_id, id")
    notes = dict(db.execute("SELECT id, release_id FROM notices").fetchall())
    ids = experts.column("notice_id").to_pylist()
    tables["evaluation_experts"] = experts.append_column(
        "release_id", pa.array([notes[n] for n in ids])
    ).append_column("_ref", pa.array([local[n] for n in ids], pa.int64()))
    t["evaluation_experts"] = [index[p] for p in experts.column("project_id").to_pylist()]
    offset["evaluation_experts"] = [notice_day[n] for n in ids]
    notice_rows = export("notices", "project_id, published_at, id")
    superseded = notice_rows.column("supersedes_id").to_pylist()
    tables["notices"] = notice_rows.append_column(
        "_ref", pa.array([None if s is None else local[s] for s in superseded], pa.int64())
    )
    t["notices"] = [index[p] for p in notice_rows.column("project_id").to_pylist()]
    offset["notices"] = [notice_day[n] for n in notice_rows.column("id").to_pylist()]
    flags = export("flags", "project_id, id").filter(pc.field("project_id").is_valid())
    rows = flags.to_pydict()
    tables["flags"] = flags
    t["flags"] = [index[p] for p in rows["project_id"]]
    offset["flags"] = [
        max((notice_day[int(n)] for n in (cited or "").split(",") if n), default=notices[i][-1][0])
        for i, cited in zip(t["flags"], rows["notice_ids"], strict=True)
    ]
    events: dict[str, list[int]] = defaultdict(list)
    for i in range(len(projects)):
        status, count = 0, 0
        for n, (day, kind, at, _) in enumerate(notices[i]):
            status = 5 if kind == "termination" or status == 5 else max(status, STATUS[kind])
            count += 1
            if n + 1 < len(notices[i]) and notices[i][n + 1][0] == day:
                continue
            moment = np.datetime64(str(at).replace(" ", "T"), "us").astype(np.int64)
            for key, value in zip(
                ("t", "day", "count", "last", "status"),
                (i, day, count, int(moment), status),
                strict=True,
            ):
                events[key].append(value)
    from exports.scores import score_rows
    from schema.db import make_engine

    engine = make_engine(f"sqlite:///{path}")
    scores = score_rows(engine, date(2025, 3, 25))
    engine.dispose()
    order = {e: np.argsort(np.array(t[e]), kind="stable") for e in tables}
    return Templates(
        count=len(projects),
        tables={e: tables[e].take(order[e]) for e in tables},
        t={e: np.array(t[e], dtype=np.int64)[order[e]] for e in tables},
        offset={e: np.array(offset[e], dtype=np.int64)[order[e]] for e in tables},
        events={k: np.array(v, dtype=np.int64) for k, v in events.items()},
        first_day=first,
        purchaser=[name for _, _, name in projects],
        parties=export("parties"),
        scores=scores,
    )


PLACES = [a + b + "区" for b in "山河城湖林江阳源台州" for a in "东西南北安宁永平新兴长丰和泰"]


@dataclass
class Simulation:
    """Every simulated project's rows, the days its notices fall on, parties and scores."""

    start: np.ndarray  # day of each project's first notice, ascending
    rows: dict[str, Rows]
    ev: dict[str, np.ndarray]  # j, day, count, last, status, next: one per (project, day)
    ev_off: np.ndarray
    by_day: dict[int, np.ndarray]  # event positions of each day
    parties: pa.Table  # in id order
    party_first: np.ndarray  # day each party row is first known
    party_pos: np.ndarray  # row of each party id
    names: pa.Array  # by party id
    credit: pa.Array
    scores: pa.Table
    score_first: np.ndarray


def grouped(days: np.ndarray) -> dict[int, np.ndarray]:
    """Positions of each day's entries, in their original (project) order."""
    order = np.argsort(days, kind="stable")
    found, cuts = np.unique(days[order], return_index=True)
    return dict(zip(found.tolist(), np.split(order, cuts[1:]), strict=True))


def build_simulation(tpl: Templates, projects: int, days: int, seed: int) -> Simulation:
    """`projects` touched over `days` (starts uniform from day 1 - LEAD_IN): see the docstring."""
    rng = np.random.default_rng(seed)
    span = float(np.mean([tpl.events["day"][tpl.events["t"] == i].max() for i in range(tpl.count)]))
    n = round(projects * (days + LEAD_IN) / (days + span))
    start = np.sort(rng.integers(1 - LEAD_IN, days + 1, n))
    j = np.arange(n)
    t_of, copy = j % tpl.count, j // tpl.count
    pcopy = copy % PARTY_COPIES
    shift = BASE.toordinal() + start - 1 - tpl.first_day[t_of]
    factor = rng.uniform(0.6, 1.6, n)
    suffix = pa.array([f"-B{k}" for k in copy])
    width = int(pc.max(tpl.parties.column("id")).as_py())
    olds = [tpl.purchaser[t] for t in t_of]
    news = [PLACES[c] + name for c, name in zip(pcopy, olds, strict=True)]
    rows: dict[str, Rows] = {}

    def expand(t_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(project, template row) of every simulated row, and the rows' CSR by project."""
        bounds = np.searchsorted(t_rows, np.arange(tpl.count + 1))
        counts = bounds[t_of + 1] - bounds[t_of]
        src = np.repeat(bounds[t_of] - np.cumsum(counts) + counts, counts)
        src = src + np.arange(counts.sum())
        return np.repeat(j, counts), src, np.concatenate([[0], np.cumsum(counts)])

    def column(entity: str, name: str, col: pa.ChunkedArray, js: np.ndarray) -> pa.Array:
        col = col.combine_chunks()
        if name == "id":
            return pa.array(js + 1 if entity == "projects" else np.arange(1, len(js) + 1))
        if name == "project_id":
            return pa.array(js + 1)
        if name in PARTY_IDS:
            return pc.add(col, pa.array(pcopy[js] * width))
        refer = {"contract_pk": "contracts", "notice_id": "notices", "supersedes_id": "notices"}
        if name in refer and name in tables_with_ref:
            return pc.add(tables_with_ref[name], pa.array(offsets[refer[name]][js] + 1))
        if name in SUFFIXED:
            return pc.binary_join_element_wise(col, suffix.take(pa.array(js)), "")
        if name in RENAMED:
            return pa.array(
                [
                    None if s is None else s.replace(olds[x], news[x])
                    for s, x in zip(col.to_pylist(), js.tolist(), strict=True)
                ]
            )
        if pa.types.is_timestamp(col.type):
            return pc.add(col, pa.array(shift[js] * US_PER_DAY, pa.duration("us")))
        if pa.types.is_date32(col.type):
            return pc.add(col.cast(pa.int32()), pa.array(shift[js], pa.int32())).cast(pa.date32())
        if pa.types.is_decimal(col.type) and name != "quantity":  # money only
            scaled = pc.round(
                pc.multiply(col.cast(pa.float64()), pa.array(factor[js])), col.type.scale
            )
            return scaled.cast(col.type)
        return col

    tables_with_ref: dict[str, pa.Array] = {}
    offsets: dict[str, np.ndarray] = {}
    for entity in BUILD_ORDER:  # what a row refers to is numbered before it
        js, src, off = expand(tpl.t[entity])
        table = tpl.tables[entity].take(pa.array(src))
        offsets[entity] = off
        tables_with_ref.clear()
        if "_ref" in table.column_names:
            ref = table.column("_ref").combine_chunks()
            for name in ("contract_pk", "notice_id", "supersedes_id"):
                tables_with_ref[name] = ref
            table = table.drop_columns(["_ref"])
        table = pa.table(
            {name: column(entity, name, table.column(name), js) for name in table.column_names}
        )
        rows[entity] = Rows(table, js, start[js] + tpl.offset[entity][src], off)
    clocked(rows, rng)
    ejs, esrc, ev_off = expand(tpl.events["t"])
    ev = {k: tpl.events[k][esrc] for k in ("count", "status")}
    ev["j"], ev["day"] = ejs, start[ejs] + tpl.events["day"][esrc]
    ev["last"] = tpl.events["last"][esrc] + shift[ejs] * US_PER_DAY
    ev["next"] = np.append(ev["day"][1:], 0)
    ev["next"][ev_off[1:] - 1] = np.iinfo(np.int64).max  # a project's last event: none after
    used = min(PARTY_COPIES, int(copy.max()) + 1)
    copy_first = np.full(used, np.iinfo(np.int64).max)
    np.minimum.at(copy_first, pcopy, start)
    base = tpl.parties.to_pydict()
    table: dict[str, list[Any]] = defaultdict(list)
    for c in range(used):
        for i, pid in enumerate(base["id"]):
            for key in base:
                table[key].append(base[key][i])
            table["id"][-1] = pid + c * width
            table["name"][-1] = PLACES[c] + base["name"][i]
            table["name_normalised"][-1] = PLACES[c] + base["name_normalised"][i]
            code = base["uscc"][i]
            if code:
                digits = f"{(c * 7919 + pid * 104729) % 10**9:09d}"
                table["uscc"][-1] = code[:8] + digits + code[17:]
    parties = pa.Table.from_pydict(table, schema=entity_schema("parties"))
    ids = np.array(table["id"])
    pos = np.zeros(width * used + 1, dtype=np.int64)
    pos[ids] = np.arange(len(ids))
    names = pa.array([None] * (width * used + 1), pa.string()).to_pylist()
    credit = list(names)
    for i, pid in enumerate(ids.tolist()):
        names[pid], credit[pid] = table["name"][i], table["uscc"][i]
    scores, score_first = simulated_scores(tpl, rows["projects"].table, start)
    return Simulation(
        start,
        rows,
        ev,
        ev_off,
        grouped(ev["day"]),
        parties,
        copy_first[(ids - 1) // width],
        pos,
        pa.array(names),
        pa.array(credit),
        scores,
        score_first,
    )


def clocked(rows: dict[str, Rows], rng: np.random.Generator) -> None:
    """Times the demo stamps at load (receipt, flag detection) as a running hub would: a
    notice received 1-60 minutes after publication, a flag found during its day."""
    notices, flags = rows["notices"], rows["flags"]
    lag = pa.array(rng.integers(60, 3600, notices.table.num_rows) * 1_000_000, pa.duration("us"))
    received = pc.add(notices.table.column("published_at"), lag)
    notices.table = notices.table.set_column(
        notices.table.schema.get_field_index("received_at"), "received_at", received
    )
    seconds = rng.integers(0, 86_400, flags.table.num_rows)
    found = (flags.appear + EPOCH_DAY) * US_PER_DAY + seconds * 1_000_000
    flags.table = flags.table.set_column(
        flags.table.schema.get_field_index("detected_at"),
        "detected_at",
        pa.array(found, pa.timestamp("us")),
    )


def month_of(day: int) -> str:
    return (BASE + timedelta(days=day - 1)).strftime("%Y-%m")


def simulated_scores(
    tpl: Templates, projects: pa.Table, start: np.ndarray
) -> tuple[pa.Table, np.ndarray]:
    """A score row per (purchaser | agency | region, month of a project's start), the demo's
    score values cycled; with the day each row first exists."""
    first: dict[tuple[str, Any, str], int] = {}
    months = [month_of(int(d)) for d in start]
    starts = start.tolist()
    for group, column in (
        ("agency", "agency_id"),
        ("purchaser", "purchaser_id"),
        ("region", "region_code"),
    ):
        for key, month, day in zip(
            projects.column(column).to_pylist(), months, starts, strict=True
        ):
            first.setdefault((group, key, month), day)
    keys = sorted(first, key=lambda k: (k[0], str(k[1]), k[2]))
    out = []
    for i, (group, key, month) in enumerate(keys):
        row = dict(tpl.scores[i % len(tpl.scores)])
        row.update(group_by=group, month=month, party_id=None, region_code=None)
        row["region_code" if group == "region" else "party_id"] = key
        out.append(row)
    schema = entity_schema("transparency_scores")
    return pa.Table.from_pylist(out, schema=schema), np.array([first[k] for k in keys])


def new_schema(entity: str, valid: tuple[str, ...] = ()) -> pa.Schema:
    """The new layout's columns: no surrogate ids, names and credit codes beside party ids."""
    if entity == "parties":
        return entity_schema(entity)
    base = AWARD_SUPPLIERS if entity == "award_suppliers" else entity_schema(entity)
    fields = [pa.field(v, pa.date32()) for v in valid]
    if entity == "contract_suppliers":
        fields += [pa.field("project_id", pa.int64()), pa.field("contract_id", pa.string())]
    for f in base:
        if f.name == "notice_id":
            fields.append(pa.field("release_id", pa.string()))
        elif f.name not in ("id", "contract_pk") or entity == "flags":
            fields.append(f)
        if f.name in PARTY_IDS:
            role = f.name.removesuffix("_id")
            fields += [
                pa.field(f"{role}_name", pa.string()),
                pa.field(f"{role}_credit_code", pa.string()),
            ]
    return pa.schema(fields)


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
    schema = entity_schema(entity)
    return pa.Table.from_arrays([table.column(n) for n in schema.names], schema=schema)


def new_table(sim: Simulation, entity: str, table: pa.Table, **valid: pa.Array) -> pa.Table:
    schema = new_schema(entity, tuple(valid))
    columns = []
    for name in schema.names:
        role = name.removesuffix("_name").removesuffix("_credit_code") + "_id"
        if name in valid:
            columns.append(valid[name])
        elif name != role and role in PARTY_IDS and role in table.column_names:
            lookup = sim.names if name.endswith("_name") else sim.credit
            columns.append(lookup.take(table.column(role).combine_chunks()))
        else:
            columns.append(table.column(name))
    return pa.Table.from_arrays(columns, schema=schema)


def dates(days: np.ndarray) -> pa.Array:
    return pa.array(days + EPOCH_DAY, pa.int32()).cast(pa.date32())


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


def changed(sim: Simulation, entity: str, events: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """Every row of `entity` as of each event's day for its project; the event of each row."""
    if entity == "projects":
        return project_versions(sim, events), events
    rows = sim.rows[entity]
    js = sim.ev["j"][events]
    counts = rows.off[js + 1] - rows.off[js]
    idx = np.repeat(rows.off[js] - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    owner = np.repeat(events, counts)
    keep = rows.appear[idx] <= sim.ev["day"][owner]
    return rows.table.take(pa.array(idx[keep])), owner[keep]


def state_events(sim: Simulation, day: int) -> np.ndarray:
    """Each started project's latest event by `day`."""
    seen = np.add.reduceat((sim.ev["day"] <= day).astype(np.int64), sim.ev_off[:-1])
    return (sim.ev_off[:-1] + seen - 1)[seen > 0]


def old_snapshots(sim: Simulation, meter: Meter, day: int) -> np.ndarray:
    """Main's daily full snapshots: projects, parties, flags, transparency scores."""
    flags = sim.rows["flags"]
    return (
        meter(
            old_table("projects", project_versions(sim, state_events(sim, day))),
            entity_schema("projects"),
        )
        + meter(sim.parties.filter(pa.array(sim.party_first <= day)), entity_schema("parties"))
        + meter(
            old_table("flags", flags.table.filter(pa.array(flags.appear <= day))),
            entity_schema("flags"),
        )
        + meter(
            sim.scores.filter(pa.array(sim.score_first <= day)),
            entity_schema("transparency_scores"),
        )
    )


def new_state(sim: Simulation, meter: Meter, day: int) -> np.ndarray:
    """`current/` (and a month-end snapshot): every entity's state at the end of `day`."""
    events = state_events(sim, day)
    total = np.zeros(len(WRITERS), dtype=np.int64)
    for entity in COMPILED:
        table, _ = changed(sim, entity, events)
        total += meter(new_table(sim, entity, table), new_schema(entity))
    parties = sim.parties.filter(pa.array(sim.party_first <= day))
    scores = sim.scores.filter(pa.array(sim.score_first <= day))
    total += meter(parties, new_schema("parties"))
    return total + meter(
        new_table(sim, "transparency_scores", scores), new_schema("transparency_scores")
    )


def new_history(sim: Simulation, meter: Meter, day: int) -> np.ndarray:
    """`history/`: every version up to `day`, `valid_to` the project's next change (or null)."""
    events = np.nonzero(sim.ev["day"] <= day)[0]
    total = np.zeros(len(WRITERS), dtype=np.int64)
    for entity in COMPILED:
        table, owner = changed(sim, entity, events)
        ends = sim.ev["next"][owner]
        shut = np.where(ends > day, 0, ends) + EPOCH_DAY
        valid_to = pa.array(shut, pa.int32(), mask=ends > day).cast(pa.date32())
        table = new_table(
            sim, entity, table, valid_from=dates(sim.ev["day"][owner]), valid_to=valid_to
        )
        total += meter(table, table.schema)
    return total


def run(sim: Simulation, meter: Meter, days: int) -> dict[str, Any]:
    """Both schemes, day by day; sampled series where a day's files are full copies."""
    daily: dict[str, np.ndarray] = defaultdict(lambda: np.zeros((days + 1, len(WRITERS)), int))
    month_ends = [d for d in range(1, days + 1) if (BASE + timedelta(days=d)).day == 1]
    old_days = sorted(
        {1, days}
        | set(range(SNAPSHOT_EVERY, days + 1, SNAPSHOT_EVERY))
        | set(range(max(1, days - LAST + 1), days + 1))
    )
    new_days = sorted({1, days} | set(month_ends))
    series: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
    notices, flags = sim.rows["notices"], sim.rows["flags"]
    notice_days, flag_days = grouped(notices.appear), grouped(flags.appear)
    none = np.zeros(0, dtype=np.int64)
    began = time.perf_counter()
    for day in range(1, days + 1):
        events = sim.by_day.get(day, none)
        named = []
        for entity in COMPILED:
            table, _ = changed(sim, entity, events)
            if entity in OLD_DAILY:
                daily["old compiled rows of touched projects"][day] += meter(
                    old_table(entity, table), entity_schema(entity)
                )
            valid = dates(np.full(table.num_rows, day))
            daily["new changes/"][day] += meter(
                new_table(sim, entity, table, valid_from=valid), new_schema(entity, ("valid_from",))
            )
            named += [table.column(c).to_numpy() for c in PARTY_IDS if c in table.column_names]
        on_day = flags.table.take(pa.array(flag_days.get(day, none)))
        named.append(on_day.column("party_id").to_numpy(zero_copy_only=False))
        ids = np.unique(
            np.concatenate([n[~np.isnan(n)] if n.dtype.kind == "f" else n for n in named]).astype(
                np.int64
            )
        )
        daily["old parties named"][day] += meter(
            sim.parties.take(pa.array(sim.party_pos[ids])), entity_schema("parties")
        )
        published = meter(
            old_table("notices", notices.table.take(pa.array(notice_days.get(day, none)))),
            entity_schema("notices"),
        )
        daily["old notices"][day] += published
        daily["new notices"][day] += published
        daily["old flags by day"][day] += meter(old_table("flags", on_day), entity_schema("flags"))
        daily["new flags by day"][day] += meter(
            new_table(sim, "flags", on_day), new_schema("flags")
        )
        if day in old_days:
            series["old snapshots"][day] = old_snapshots(sim, meter, day)
        if day in new_days:
            series["new current/"][day] = new_state(sim, meter, day)
            series["new history/"][day] = new_history(sim, meter, day)
        if day % 30 == 0 or day == days:
            print(f"day {day}: {time.perf_counter() - began:.0f} s", flush=True)
    return {"daily": daily, "series": series, "month_ends": month_ends}


def every_day(points: dict[int, np.ndarray], days: int) -> np.ndarray:
    """Sampled sizes, linearly interpolated to every day 1…days (per format)."""
    x = np.array(sorted(points))
    y = np.array([points[d] for d in x])
    grid = np.arange(1, days + 1)
    return np.stack([np.interp(grid, x, y[:, f]) for f in range(y.shape[1])], axis=1)


def worst_interpolation(points: dict[int, np.ndarray]) -> float:
    """Largest error of a sampled size against the line through its two neighbours."""
    x = sorted(points)
    worst = 0.0
    for a, b, c in zip(x, x[1:], x[2:], strict=False):
        line = points[a] + (points[c] - points[a]) * (b - a) / (c - a)
        worst = max(worst, float(np.max(np.abs(points[b] - line) / points[b])))
    return worst


def fitted(points: dict[int, np.ndarray], days: np.ndarray) -> np.ndarray:
    """A straight line in the day through the samples (per format), at `days`."""
    x = np.array(sorted(points), dtype=float)
    y = np.array([points[d] for d in sorted(points)], dtype=float)
    slopes, bases = np.polyfit(x, y, 1)
    return bases + np.outer(days, slopes)


def mb(value: np.ndarray | float) -> str:
    return f"{float(value) / 1e6:,.1f}"


def report(result: dict[str, Any], days: int) -> None:
    """The side-by-side table (MB = 10^6 bytes), the ratio, and the breakdown."""
    daily, series = result["daily"], result["series"]
    snaps = every_day(series["old snapshots"], days)
    history, current = (
        every_day(series["new history/"], days),
        every_day(series["new current/"], days),
    )
    month_ends = result["month_ends"]
    lines: dict[str, dict[str, np.ndarray]] = {"old": {}, "new": {}}
    per_day = {s: sum(v[1:] for k, v in daily.items() if k.startswith(s)) for s in lines}
    per_day["old"] = per_day["old"] + snaps
    shots = {d: series["new current/"][d] for d in month_ends}
    month = {d: 1 for d in month_ends}
    written_new = (
        per_day["new"]
        + history
        + current
        + np.array(
            [
                series["new current/"][d] if d in month else np.zeros(len(WRITERS))
                for d in range(1, days + 1)
            ]
        )
    )

    def kept_new(until: int) -> np.ndarray:
        done = per_day["new"][:until].sum(axis=0) + history[until - 1] + current[until - 1]
        return done + sum((v for d, v in shots.items() if d <= until), np.zeros(len(WRITERS)))

    back = max(1, days - LAST)
    lines["old"]["kept after the run"] = per_day["old"].sum(axis=0)
    lines["new"]["kept after the run"] = kept_new(days)
    lines["old"]["kept growth per day, last 30 days"] = per_day["old"][back:].mean(axis=0)
    lines["new"]["kept growth per day, last 30 days"] = (kept_new(days) - kept_new(back)) / (
        days - back
    )
    lines["old"]["written per day, last 30 days"] = per_day["old"][back:].mean(axis=0)
    lines["new"]["written per day, last 30 days"] = written_new[back:].mean(axis=0)
    grid = np.arange(1, YEARS3 + 1)
    ends3 = [d for d in grid if (BASE + timedelta(days=int(d))).day == 1]
    steady = {s: (per_day[s] - (snaps if s == "old" else 0)).mean(axis=0) for s in lines}
    old_snap3 = fitted(series["old snapshots"], grid)
    hist3 = fitted(series["new history/"], grid)
    cur3 = fitted(series["new current/"], grid)
    lines["old"]["kept after 3 years (extrapolated)"] = steady["old"] * YEARS3 + old_snap3.sum(
        axis=0
    )
    lines["new"]["kept after 3 years (extrapolated)"] = (
        steady["new"] * YEARS3
        + hist3[-1]
        + cur3[-1]
        + fitted(series["new current/"], np.array(ends3)).sum(axis=0)
    )
    lines["old"]["written per day at day 1095 (extrapolated)"] = steady["old"] + old_snap3[-1]
    lines["new"]["written per day at day 1095 (extrapolated)"] = (
        steady["new"] + hist3[-1] + cur3[-1]
    )
    print("\n| MB (10^6 bytes) | old Parquet | old CSV | new Parquet | new CSV | old / new |")
    print("|---|---:|---:|---:|---:|---:|")
    for label in lines["old"]:
        old, new = lines["old"][label], lines["new"][label]
        ratio = float(old.sum()) / float(new.sum())
        cells = " | ".join(mb(v) for v in (*old, *new))
        print(f"| {label} | {cells} | {ratio:.1f}x |")
    print("\nKept after the run, by part (Parquet / CSV MB):")
    parts = {k: v[1:].sum(axis=0) for k, v in daily.items()}
    parts["old snapshots (daily, interpolated between samples)"] = snaps.sum(axis=0)
    parts["new history/ (final file)"] = history[-1]
    parts["new current/ (final)"] = current[-1]
    parts[f"new snapshots/ ({len(shots)} month ends)"] = sum(shots.values(), np.zeros(len(WRITERS)))
    for key, value in sorted(parts.items()):
        print(f"- {key}: {mb(value[0])} / {mb(value[1])}")
    print("\nWritten per day over the last 30 days, by part (Parquet / CSV MB):")
    spread = {k: v[back + 1 :].mean(axis=0) for k, v in daily.items()}
    spread["old snapshots"] = snaps[back:].mean(axis=0)
    spread["new history/ rewrite"] = history[back:].mean(axis=0)
    spread["new current/ rewrite"] = current[back:].mean(axis=0)
    spread["new snapshots/ (month ends, averaged)"] = (
        (written_new - per_day["new"])[back:].mean(axis=0)
        - spread["new history/ rewrite"]
        - spread["new current/ rewrite"]
    )
    for key, value in sorted(spread.items()):
        print(f"- {key}: {mb(value[0])} / {mb(value[1])}")
    for name, points in series.items():
        print(
            f"- {name}: sampled on {len(points)} days; worst interpolation error "
            f"{worst_interpolation(points):.1%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tmp-dir", type=Path, default=None)
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="caigou-storage-", dir=args.tmp_dir) as folder:
        root = Path(folder)
        (root / "files").mkdir()
        templates = read_templates(load_demo(root))
        sim = build_simulation(templates, args.projects, args.days, args.seed)
        touched = np.unique(sim.ev["j"][(sim.ev["day"] >= 1) & (sim.ev["day"] <= args.days)])
        print(
            f"{len(sim.start):,} projects simulated, {len(touched):,} touched in days "
            f"1-{args.days}, "
            f"{sim.parties.num_rows:,} parties, {sim.rows['notices'].table.num_rows:,} notices, "
            f"{sim.rows['flags'].table.num_rows:,} flags, {sim.scores.num_rows:,} score rows "
            f"({time.perf_counter() - began:.0f} s)"
        )
        for entity in COMPILED:
            print(f"  {entity}: {sim.rows[entity].table.num_rows:,} rows")
        result = run(sim, Meter(root), args.days)
    report(result, args.days)
    print(f"\n{time.perf_counter() - began:.0f} s; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
