"""Storage bench, part 2: a steady-state year of ~100,000 projects from the demo's templates.

Simulated project j is copy j // templates of template j % templates and starts on a day drawn
uniformly from [1 - LEAD_IN, days]; its notices keep the template's day offsets and times, so
notices flow at a steady rate from day 1. Its rows are the template's with ocids, codes,
award and contract ids suffixed `-B<k>`, dates shifted, amounts scaled by a per-project factor
in [0.6, 1.6], surrogate ids renumbered, and the template purchaser's name in titles and full
texts replaced by its copy's name. Parties: the demo's in PARTY_COPIES renamed copies (place
prefix, distinct 18-character credit codes); copy k of a project names party copy
k % PARTY_COPIES. A child row exists from its stage's notice on, with its final values; a
project's status, last publication time and notice count follow its notices (one event per
project and publishing day). Flags fall on the day of their latest cited notice. Scores:
one row per (purchaser | agency | region, month) with projects, the demo's values cycled.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench.storage_demo import Templates
from exports.arrow import entity_schema
from exports.party_names import PartyNames

BASE = date(2025, 1, 1)  # simulated day 1
LEAD_IN = 220  # days of starts before day 1: longer than any demo project's span (219)
PARTY_COPIES = 100
PARTY_IDS = ("purchaser_id", "agency_id", "supplier_id", "party_id")
SUFFIXED = ("ocid", "project_code", "release_id", "award_id", "contract_id")
RENAMED = ("title", "full_text")  # the purchaser's name inside becomes its copy's
US_PER_DAY = 86_400_000_000
BUILD_ORDER = ("projects", "notices", "contracts", "lots", "awards", "award_suppliers",
               "contract_suppliers", "project_items", "evaluation_experts", "flags")  # fmt: skip
EPOCH_DAY = (BASE - date(1970, 1, 1)).days - 1  # date32 of simulated day 0


def day_date(day: int) -> date:
    """The calendar day of simulated day `day` (day 1 is BASE)."""
    return BASE + timedelta(days=day - 1)


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
    party_names: PartyNames  # for the new layout's name and credit code columns
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
        PartyNames.from_table(parties),
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
