"""Storage bench, part 1: the demo's compiled projects as row templates (bench/storage.py).

The demo (`hub.demo.generate`, seed 20221) is generated and ingested into a temporary SQLite
database through the real pipeline and its flags rebuilt; each compiled project becomes a
template with its rows and the day offset (from its first notice) at which each row appears.
Rows are read in the export schemas (`exports.arrow.entity_schema`) plus the surrogate ids the
old scheme published (`OLD_IDS`: main before issue 15 exported them; the new layout does not).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exports.arrow import column_list, entity_schema, to_export

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
# The surrogate ids main's old scheme exported (label, description as declared then), first
# in each row; contract suppliers named their contract by its surrogate id alone.
OLD_IDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "lots": (("id", "标段内部编号", "Internal lot id."),),
    "awards": (("id", "结果内部编号", "Internal award id."),),
    "contracts": (("id", "合同内部编号", "Internal contract id."),),
    "contract_suppliers": (
        ("id", "编号", "Internal id."),
        ("contract_pk", "合同", "The contract (contracts.id)."),
    ),
    "project_items": (("id", "标的内部编号", "Internal item line id."),),
    "evaluation_experts": (("id", "专家内部编号", "Internal id."),),
}
OLD_DROPPED = {"contract_suppliers": ("project_id", "contract_id")}


@cache
def old_schema(entity: str) -> pa.Schema:
    """The columns main exported before issue 15 (as bench/storage.py measured them first)."""
    schema = entity_schema(entity)
    added = [
        pa.field(name, pa.int64(), metadata={"label_zh": label, "description_en": text})
        for name, label, text in OLD_IDS.get(entity, ())
    ]
    kept = [f for f in schema if f.name not in OLD_DROPPED.get(entity, ())]
    return pa.schema(added + kept, metadata=schema.metadata)


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
    """Templates from the demo database. A child row appears with its stage's notice: lots
    and tender items the first tender-stage notice; awards, award suppliers and award items
    the result notice; experts their notice; contracts and their suppliers the contract
    notice."""
    from exports.source import SqliteSource

    db = sqlite3.connect(path)
    source = SqliteSource(db)

    def export(entity: str, order: str = "id") -> pa.Table:
        """The entity's export rows, with the surrogate ids the old scheme published."""
        sql = f"SELECT {column_list(entity)} FROM {entity} ORDER BY {order}"
        got = [to_export(b, entity) for b in source.batches(sql, entity)]
        table = pa.Table.from_batches(got, schema=entity_schema(entity))
        for name, _, _ in OLD_IDS.get(entity, ()):
            values = db.execute(f"SELECT {name} FROM {entity} ORDER BY {order}").fetchall()
            table = table.append_column(name, pa.array([v for (v,) in values], pa.int64()))
        return table

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
    suppliers = export("contract_suppliers")
    rows = suppliers.to_pydict()
    tables["contract_suppliers"] = suppliers.append_column(
        "_ref", pa.array([contract_local[c] for c in rows["contract_pk"]], pa.int64())
    )
    t["contract_suppliers"] = [index[p] for p in rows["project_id"]]
    offset["contract_suppliers"] = [
        award_at[(index[p], c)]
        for p, c in zip(rows["project_id"], rows["contract_id"], strict=True)
    ]
    supplied = db.execute(
        "SELECT a.project_id, a.award_id, s.party_id FROM award_suppliers s "
        "JOIN awards a ON a.id = s.award_pk ORDER BY a.project_id, a.id, s.party_id"
    ).fetchall()
    schema = entity_schema("award_suppliers")
    tables["award_suppliers"] = pa.Table.from_pylist(
        [dict(zip(schema.names, row, strict=True)) for row in supplied], schema=schema
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
    ids = experts.column("notice_id").to_pylist()
    tables["evaluation_experts"] = experts.append_column(
        "_ref", pa.array([local[n] for n in ids], pa.int64())
    )
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
    events = _events(notices, len(projects))
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
        events=events,
        first_day=first,
        purchaser=[name for _, _, name in projects],
        parties=export("parties"),
        scores=scores,
    )


def _events(notices: dict[int, list[tuple[int, str, str, int]]], count: int) -> dict[str, Any]:
    """One event per (template, publishing day): notices so far, last time, status."""
    events: dict[str, list[int]] = defaultdict(list)
    for i in range(count):
        status, seen = 0, 0
        for n, (day, kind, at, _) in enumerate(notices[i]):
            status = 5 if kind == "termination" or status == 5 else max(status, STATUS[kind])
            seen += 1
            if n + 1 < len(notices[i]) and notices[i][n + 1][0] == day:
                continue
            moment = np.datetime64(str(at).replace(" ", "T"), "us").astype(np.int64)
            for key, value in zip(
                ("t", "day", "count", "last", "status"),
                (i, day, seen, int(moment), status),
                strict=True,
            ):
                events[key].append(value)
    return {k: np.array(v, dtype=np.int64) for k, v in events.items()}
