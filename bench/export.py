"""Export benchmark: `export_day` against the floor of ADBC + pyarrow with no hub code.

The day of the 1M demo transactions in PostgreSQL (`caigou_bench_graphql`, read only) is
exported by the hub (`exports.write.export_day`: every entity of the day, the two full
snapshots, decimals, formula neutralisation, hashing, fsync, staging and renames, manifest,
catalog, datapackage) and by the floor: the same transaction rows and public columns read
by ADBC into Arrow and streamed into a zstd Parquet file and a CSV file with pyarrow.

With `--snapshot-rows N` the run is instead one full snapshot of the first N transactions
(by id) through the hub's table writer (`exports.tablefiles.write_table` over a
`snapshots/transactions` partition of the whole table — the hub has no transactions
snapshot of its own, so the partition is the bench's — staged, fsynced, published with a
manifest and catalog like a day), against the floor reading the same SELECT. For 10,000,000
rows, build `caigou_bench_10m` first with `bench/bigdata.py`.

Since the demo's transactions carry real publication times (issue 15), a day of the bench
database holds a few thousand of them: the day mode measures a day's fixed costs, and
`--snapshot-rows 1000000` the million-row rate.

Each side runs in its own fresh subprocess (so peak RSS, /proc VmHWM, is per side), the
sides alternate, and the files go to a fresh folder each run. Rates are transactions per
second of wall clock. Target: hub >= 0.8x floor (best against best), peak RSS < 1 GiB.

    python bench/export.py [--repeat 3] [--database-url postgresql://…] [--tmp-dir DIR]
    python bench/export.py --snapshot-rows 10000000 --repeat 2 \
        --database-url postgresql://postgres@127.0.0.1:54329/caigou_bench_10m

Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exports.partitions import Partition

DB_URL = "postgresql://postgres@127.0.0.1:54329/caigou_bench_graphql"
TARGET_RATIO = 0.8
GIB = 1 << 30
RESULT_MARK = "BENCH-RESULT "


def peak_rss() -> int:
    """VmHWM of this process: ru_maxrss would carry the parent's over exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def busiest_day(url: str) -> tuple[date, int]:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT published_at::date, count(*) FROM transactions "
                       "GROUP BY 1 ORDER BY 2 DESC LIMIT 1")  # fmt: skip
        day, rows = cursor.fetchone()
    return day, rows


def snapshot_bound(url: str, rows: int) -> tuple[int, int]:
    """The id of the `rows`-th transaction (by id) and how many there are up to it."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT max(id), count(*) FROM (SELECT id FROM transactions "
                       f"ORDER BY id LIMIT {int(rows)}) first")  # fmt: skip
        bound, count = cursor.fetchone()
    return int(bound), int(count)


def transactions_partition(day: date, bound: int | None) -> Partition:
    """The day's transactions, or (with `bound`) a snapshot of every transaction up to it."""
    from exports.partitions import Partition, record_partitions

    if bound is not None:
        return Partition("transactions", f"id <= {int(bound)}")
    [partition] = [p for p in record_partitions(day) if p.entity == "transactions"]
    return partition


def run_floor(url: str, partition: Partition, out: Path) -> dict[str, Any]:
    """ADBC → Arrow → pyarrow Parquet (zstd) and CSV, the same rows and columns, nothing else."""
    import adbc_driver_postgresql.dbapi as adbc
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    started = time.perf_counter()
    rows = 0
    with adbc.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(partition.select())
        reader = cursor.fetch_record_batch()
        with (
            pq.ParquetWriter(out / "transactions.parquet", reader.schema, compression="zstd") as pw,
            pa_csv.CSVWriter(out / "transactions.csv", reader.schema) as cw,
        ):
            for batch in reader:
                rows += batch.num_rows
                pw.write_batch(batch)
                cw.write_batch(batch)
    return {"seconds": time.perf_counter() - started, "rows": rows, "peak_rss": peak_rss()}


def run_hub(url: str, day: date, out: Path) -> dict[str, Any]:
    from exports.write import export_day
    from schema.db import make_engine

    engine = make_engine(url)
    started = time.perf_counter()
    manifest = export_day(engine, str(out), day)
    seconds = time.perf_counter() - started
    rows = sum(f.rows for f in manifest.files if f.entity == "transactions" and f.format == "csv")
    total = {f.path: f.rows for f in manifest.files if f.format == "csv"}
    return {"seconds": seconds, "rows": rows, "peak_rss": peak_rss(), "files": total}


def run_hub_snapshot(url: str, partition: Partition, day: date, out: Path) -> dict[str, Any]:
    """One partition through the hub's writer, published the way `export_day` publishes."""
    from exports.arrow import entity_schema, to_export
    from exports.catalog import write_catalog
    from exports.manifest import Manifest
    from exports.source import open_source
    from exports.storage import open_store
    from exports.tablefiles import naming, write_table
    from exports.write import generated_by, publish, read_watermark
    from schema.db import head_revision, make_engine

    engine = make_engine(url)
    started = time.perf_counter()
    store = open_store(str(out))
    store.clean_staging(day.isoformat())
    staging = store.new_staging(day.isoformat())
    with open_source(engine) as source, naming(source):
        watermark = read_watermark(source, day)
        raw = source.batches(partition.select(), partition.entity)
        batches = (to_export(b, partition.entity) for b in raw)
        files = write_table(store, staging, partition.entity, partition.entity,
                            entity_schema(partition.entity), batches, day)  # fmt: skip
    manifest = Manifest(day.isoformat(), head_revision(), watermark, generated_by(), files)
    publish(store, staging, manifest)
    write_catalog(store)
    seconds = time.perf_counter() - started
    rows = next(f.rows for f in files if f.format == "csv")
    total = {f.path: f.rows for f in files}
    return {"seconds": seconds, "rows": rows, "peak_rss": peak_rss(), "files": total}


def worker(args: argparse.Namespace) -> None:
    day = date.fromisoformat(args.day)
    partition = transactions_partition(day, args.bound)
    out = Path(args.out)
    if args.worker == "floor":
        result = run_floor(args.database_url, partition, out)
    elif args.bound is not None:
        result = run_hub_snapshot(args.database_url, partition, day, out)
    else:
        result = run_hub(args.database_url, day, out)
    print(RESULT_MARK + json.dumps(result), flush=True)


def spawn(side: str, url: str, day: date, bound: int | None, tmp: Path) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix=f"export-{side}-", dir=tmp))
    try:
        command = [sys.executable, __file__, "--worker", side, "--database-url", url,
                   "--day", day.isoformat(), "--out", str(out)]  # fmt: skip
        if bound is not None:
            command += ["--bound", str(bound)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        [line] = [x for x in done.stdout.splitlines() if x.startswith(RESULT_MARK)]
        return json.loads(line[len(RESULT_MARK) :])
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DB_URL)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tmp-dir", default=tempfile.gettempdir())
    parser.add_argument(
        "--snapshot-rows", type=int, help="one snapshot of this many transactions instead of a day"
    )
    parser.add_argument("--worker", choices=["hub", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--day", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--bound", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    day, count = busiest_day(args.database_url)
    bound = None
    if args.snapshot_rows:
        bound, count = snapshot_bound(args.database_url, args.snapshot_rows)
        print(f"snapshot: {count:,} transactions (ids <= {bound:,}) in {args.database_url}")
        if count < args.snapshot_rows:
            print(f"only {count:,} transactions: run bench/bigdata.py for 10M", file=sys.stderr)
            return 2
    else:
        print(f"day {day}: {count:,} transactions in {args.database_url}", flush=True)
    results: dict[str, list[dict[str, Any]]] = {"floor": [], "hub": []}
    for run in range(1, args.repeat + 1):
        for side in ("floor", "hub"):
            result = spawn(side, args.database_url, day, bound, Path(args.tmp_dir))
            results[side].append(result)
            rate = result["rows"] / result["seconds"]
            print(f"run {run} {side:5}: {result['seconds']:.2f} s, {rate:,.0f} rows/s, "
                  f"peak RSS {result['peak_rss'] / 2**20:.0f} MiB", flush=True)  # fmt: skip
    best = {side: min(r["seconds"] for r in runs) for side, runs in results.items()}
    ratio = best["floor"] / best["hub"]
    peak = max(r["peak_rss"] for r in results["hub"])
    floor_peak = max(r["peak_rss"] for r in results["floor"])
    if any(r["rows"] != count for runs in results.values() for r in runs):
        print(f"row counts differ from {count:,}: {results}", file=sys.stderr)
        return 1
    print(f"hub files (rows): {results['hub'][-1]['files']}")
    print(f"ratio hub/floor (rate, best against best): {ratio:.3f}; hub peak RSS "
          f"{peak / 2**20:.0f} MiB (floor {floor_peak / 2**20:.0f} MiB); "
          f"target >= {TARGET_RATIO} and < 1 GiB")  # fmt: skip
    return 0 if ratio >= TARGET_RATIO and peak < GIB else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.chdir(Path(__file__).resolve().parent.parent)
    sys.exit(main())
