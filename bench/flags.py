"""Flags benchmark: a full `caigou flags rebuild` against one SQL pass over the same tables.

On `caigou_bench_10m` (100,000 projects, ~500,000 notices, 10,000,000 transactions; built by
`bench/bigdata.py`), each side in a fresh child process, one after the other:

  floor  one pass of plain SQL over every row and column the rules read: projects, notices
         (payloads included), lots, awards, award suppliers, contracts and debarment records
         as stored, and the transactions' price columns in the order the outlier rule needs
         (category, date, id); streamed through psycopg's server-side cursors, 10,000 rows a
         fetch, and thrown away. No rule, no JSON parsing, no writes: what any rebuild must
         at least pay to read its input.
  hub    `hub.flags.rebuild`: every project's facts loaded (500 projects a round), the
         thirteen rules run, flags written (kept ids matched), then the unit-price pass over
         the transactions and the search outbox rows for what changed, in one transaction.

Prints each side's seconds and peak RSS and the ratio hub / floor (lower is better; the issue
names no target ratio, so it is recorded, not judged).

    python bench/flags.py [--database-url postgresql://…/caigou_bench_10m] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DB_URL = "postgresql://postgres@127.0.0.1:54329/caigou_bench_10m"
RESULT_MARK = "BENCH-RESULT "
FETCH = 10_000
FLOOR_QUERIES = {
    "projects": "SELECT * FROM projects",
    "notices": "SELECT * FROM notices",
    "lots": "SELECT * FROM lots",
    "awards": "SELECT * FROM awards",
    "award_suppliers": "SELECT award_pk, party_id FROM award_suppliers",
    "contracts": "SELECT * FROM contracts",
    "penalty_records": "SELECT * FROM penalty_records WHERE debarment_start IS NOT NULL",
    "transactions": "SELECT id, order_id, purchaser_id, supplier_id, model, unit_price, "
    "order_date, category_code FROM transactions WHERE category_code IS NOT NULL "
    "ORDER BY category_code, order_date, id",
}


def peak_rss() -> int:
    """VmHWM of this process: ru_maxrss would carry the parent's over exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def run_floor(url: str) -> dict[str, Any]:
    import psycopg

    rows: dict[str, int] = {}
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        for table, query in FLOOR_QUERIES.items():
            with conn.cursor(name=f"floor_{table}") as cursor:
                cursor.itersize = FETCH
                cursor.execute(query)
                count = 0
                while batch := cursor.fetchmany(FETCH):
                    count += len(batch)
                rows[table] = count
    return {"seconds": time.perf_counter() - started, "rows": rows, "peak_rss": peak_rss()}


def run_hub(url: str) -> dict[str, Any]:
    from hub.flags import rebuild
    from schema.db import make_engine

    engine = make_engine(url)
    started = time.perf_counter()
    counts = rebuild(engine)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"seconds": seconds, "counts": counts, "peak_rss": peak_rss()}


def child(side: str, url: str) -> dict[str, Any]:
    """Run one side in a fresh interpreter: its memory peak is its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--side", side, "--database-url", url],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT_MARK))
    return json.loads(line[len(RESULT_MARK) :])


def prepare(url: str) -> dict[str, int]:
    """The database at the schema head, the flags table vacuumed (each run replaces its rows);
    the sizes the run is about."""
    from sqlalchemy import text

    from schema.db import make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE flags"))  # the last run's replaced rows, gone
        sizes = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("projects", "notices", "awards", "contracts", "transactions", "flags")
        }
    engine.dispose()
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # type: ignore[union-attr]
    parser.add_argument("--database-url", default=DB_URL)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of floor + hub")
    parser.add_argument("--side", choices=("floor", "hub"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        result = (run_floor if args.side == "floor" else run_hub)(args.database_url)
        print(RESULT_MARK + json.dumps(result))
        return 0
    print("database:", prepare(args.database_url))
    for round_ in range(1, args.repeat + 1):
        floor = child("floor", args.database_url)
        hub = child("hub", args.database_url)
        print(f"round {round_}")
        print(f"  floor  {floor['seconds']:8.1f} s  peak {floor['peak_rss'] / 2**20:6.0f} MiB  "
              f"rows {floor['rows']}")  # fmt: skip
        print(f"  hub    {hub['seconds']:8.1f} s  peak {hub['peak_rss'] / 2**20:6.0f} MiB  "
              f"{hub['counts']}")  # fmt: skip
        print(f"  ratio hub / floor: {hub['seconds'] / floor['seconds']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
