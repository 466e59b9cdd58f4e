"""Storage bench (issue 15, item 7): bytes of the dumps, old scheme against the new layout.

A steady-state year of a hub touching ~100,000 projects, dumped by the old scheme (main
before issue 15: a touched project's compiled rows written again every day it is touched,
plus full daily snapshots of projects, parties, flags and transparency scores) and by the
new layout as merged (immutable day partitions, `changes/` with `valid_from`, `history/`
folded with `exports.versions.apply_changes` and rewritten daily, `current/` rewritten daily,
month-end `snapshots/`). Both schemes' files are written side by side in one run with the
real writers (`exports.formats.WRITERS`: zstd Parquet, CSV with BOM) into a temporary folder,
counted and deleted. The model: bench/storage_demo.py (templates from the demo) and
bench/storage_model.py (the simulated year); the schemes: bench/storage_schemes.py.
Transactions, penalties and data-quality issues are immutable, the same in both schemes,
and left out of both; so are OCDS packages and manifests. The month-end Excel workbooks
(exports/xlsx.py) are slow to write (a Python call per cell): `--excel` writes those of the
last month end only (its snapshots and the month's notices and flags) and counts them apart.

Sampling: old full snapshots are written on every 7th day, day 1 and each of the last 30
days, linearly interpolated in between; `history/` is folded every day from the first
simulated notice (the lead-in before day 1 too, whose change files are not counted, so that
day 1 starts from a hub in steady state) but written (counted) on day 1, every month end and
the last day, as are `current/` and the month-end snapshots (history and current
interpolated in between). The interpolation error on sampled points is printed (max of
|measured - line through its neighbours| / measured). Three years: daily partitions at their
mean daily size, sampled series fitted by a straight line in the day.

    python bench/storage.py [--projects 100000] [--days 365] [--seed 7] [--excel]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.storage_demo import load_demo, old_schema, read_templates
from bench.storage_model import BASE, PARTY_IDS, Simulation, build_simulation, day_date, grouped
from bench.storage_schemes import (
    OLD_DAILY,
    Meter,
    NewLayout,
    changed,
    excel_bytes,
    named,
    old_snapshots,
    old_table,
)
from exports.asof import COMPILED_ENTITIES
from exports.formats import WRITERS
from exports.versions import row_schema

SNAPSHOT_EVERY = 7
LAST = 30  # the last month: every day measured
YEARS3 = 1095


def month_records(sim: Simulation, day: int) -> dict[str, pa.Table]:
    """The records of the month ending on `day` as its workbooks hold them (notices, flags)."""
    first = day - day_date(day).day + 1
    notices, flags = sim.rows["notices"], sim.rows["flags"]
    month = pa.array((notices.appear >= first) & (notices.appear <= day))
    found = pa.array((flags.appear >= first) & (flags.appear <= day))
    return {
        "notices": old_table("notices", notices.table.filter(month)),
        "flags": named(sim, "flags", flags.table.filter(found)),
    }


def run(sim: Simulation, meter: Meter, days: int, excel: bool = False) -> dict[str, Any]:
    """Both schemes, day by day; sampled series where a day's files are full copies; with
    `excel`, the workbooks of the last month end (snapshots and the month's records)."""
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
    layout = NewLayout(sim, meter)
    excel_at: dict[int, int] = {}
    began = time.perf_counter()
    for day in range(int(sim.ev["day"].min()), 1):  # the lead-in: history before day 1
        layout.day(day, sim.by_day.get(day, none), measure=False)
    print(f"lead-in folded: {time.perf_counter() - began:.0f} s", flush=True)
    for day in range(1, days + 1):
        events = sim.by_day.get(day, none)
        ids = []
        for entity in COMPILED_ENTITIES:
            table = changed(sim, entity, events)
            if entity in OLD_DAILY:
                daily["old compiled rows of touched projects"][day] += meter(
                    old_table(entity, table), old_schema(entity)
                )
            ids += [table.column(c).to_numpy() for c in PARTY_IDS if c in table.column_names]
        daily["new changes/"][day] += layout.day(day, events)
        on_day = flags.table.take(pa.array(flag_days.get(day, none)))
        ids.append(on_day.column("party_id").to_numpy(zero_copy_only=False))
        named_ids = np.unique(
            np.concatenate([n[~np.isnan(n)] if n.dtype.kind == "f" else n for n in ids]).astype(
                np.int64
            )
        )
        daily["old parties named"][day] += meter(
            sim.parties.take(pa.array(sim.party_pos[named_ids])), old_schema("parties")
        )
        published = meter(
            old_table("notices", notices.table.take(pa.array(notice_days.get(day, none)))),
            old_schema("notices"),
        )
        daily["old notices"][day] += published
        daily["new notices"][day] += published
        daily["old flags by day"][day] += meter(old_table("flags", on_day), old_schema("flags"))
        daily["new flags by day"][day] += meter(named(sim, "flags", on_day), row_schema("flags"))
        if day in old_days:
            series["old snapshots"][day] = old_snapshots(sim, meter, day)
        if day in new_days:
            series["new history/"][day] = layout.history_bytes()
            current, snapshot = layout.state_bytes(day)
            series["new current/"][day] = current
            series["new snapshot (size, written at month ends)"][day] = snapshot
            if excel and day == month_ends[-1]:
                began_excel = time.perf_counter()
                books = layout.snapshot(day) | {
                    f"{name} (month)": table for name, table in month_records(sim, day).items()
                }
                excel_at[day] = excel_bytes(meter.folder, books, day)
                print(f"Excel workbooks: {time.perf_counter() - began_excel:.0f} s", flush=True)
        if day % 30 == 0 or day == days:
            print(f"day {day}: {time.perf_counter() - began:.0f} s", flush=True)
    rows = {e: 0 if t is None else t.num_rows for e, t in layout.history.items()}
    return {
        "daily": daily,
        "series": series,
        "month_ends": month_ends,
        "history_rows": rows,
        "excel": excel_at,
    }


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
    lines: dict[str, dict[str, np.ndarray]] = {"old": {}, "new": {}}
    per_day = {s: sum(v[1:] for k, v in daily.items() if k.startswith(s)) for s in lines}
    per_day["old"] = per_day["old"] + snaps
    sizes = series["new snapshot (size, written at month ends)"]
    shots = {d: sizes[d] for d in result["month_ends"]}
    written_new = (
        per_day["new"]
        + history
        + current
        + np.array([shots.get(d, np.zeros(len(WRITERS))) for d in range(1, days + 1)])
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
        steady["new"] * YEARS3 + hist3[-1] + cur3[-1] + fitted(sizes, np.array(ends3)).sum(axis=0)
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


def received_late(sim: Simulation) -> int:
    """Notices received on a later Beijing day than published: each would add a change set
    on its receipt day (exports.asof.changed_projects), which this model leaves out."""
    table = sim.rows["notices"].table
    published = pc.cast(pc.cast(table.column("published_at"), pa.date32()), pa.int32())
    received = pc.cast(pc.cast(table.column("received_at"), pa.date32()), pa.int32())
    return int(pc.sum(pc.greater(received, published)).as_py() or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tmp-dir", type=Path, default=None)
    parser.add_argument(
        "--excel", action="store_true", help="also the last month end's Excel workbooks"
    )
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
        for entity in COMPILED_ENTITIES:
            print(f"  {entity}: {sim.rows[entity].table.num_rows:,} rows")
        late = received_late(sim)
        print(f"  notices received on a later day than published: {late:,}")
        result = run(sim, Meter(root), args.days, args.excel)
    report(result, args.days)
    print("history/ rows (versions):", result["history_rows"])
    for day, size in result["excel"].items():
        print(f"Excel, apart: the workbooks of month end day {day} (its snapshots and the "
              f"month's notices and flags), {mb(size)} MB")  # fmt: skip
    print(f"\n{time.perf_counter() - began:.0f} s; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
