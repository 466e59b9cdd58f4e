"""Ingest benchmark: the publishing pipeline against a bare DB-API executemany.

The target (from the issue): a million transactions from CSV must go through the hub's real
publishing pipeline (`hub.publishing.ingest_file`: validation, party unification, chunked
executemany in one transaction) at least half as fast as a bare `executemany` of the same rows
into the same kind of database, with the pipeline's peak RSS under 1 GiB.

Each side runs in its own fresh subprocess (so peak RSS is per side) into a fresh database
whose schema `ensure_schema` created beforehand (same tables, same indexes, same PRAGMAs), and
the sides alternate (bare, pipeline, bare, pipeline, …) so the page cache and any background
load hit both alike. The clock runs from opening the CSV to the commit. The bare side stores
the same rows the pipeline does (one party per distinct name, the same JSON payload) but
validates nothing; `--bare-parties two` gives the stricter, two-fixed-parties baseline.

    python bench/ingest.py [--rows 1000000] [--repeat 2] [--database-url postgresql://…]

Exits 1 when the target is missed. `--profile out.prof` instead runs the pipeline once under
cProfile and prints its hotspots.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
GIB = 1 << 30
TARGET_RATIO = 0.5
CHUNK = 5_000
RESULT_MARK = "BENCH-RESULT "
# Read back from a connection the hub's engine made, and set the same on the bare side, so a
# PRAGMA the hub adopts (a bigger cache_size, say) is never an advantage of one side only.
SQLITE_PRAGMAS = (
    "journal_mode", "synchronous", "foreign_keys", "cache_size", "temp_store", "mmap_size",
    "locking_mode", "wal_autocheckpoint",
)  # fmt: skip


@dataclass
class Dataset:
    """A cached generated dataset: the transactions CSV and the publisher that pushes it."""

    csv_path: Path
    publisher: dict[str, Any]  # name, role, regions, kinds, source_site


@dataclass
class Run:
    """One side's measurement, as its worker reports it."""

    side: str
    rows: int
    seconds: float
    peak_rss: int  # bytes
    stored: int
    status: str = "accepted"
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


# --- dataset ------------------------------------------------------------------------------------


def ensure_dataset(rows: int, seed: int, projects: int, penalties: int) -> Dataset:
    """Generate the dataset once per parameter set under bench/out/ (git-ignored) and reuse it."""
    params = {"rows": rows, "seed": seed, "projects": projects, "penalties": penalties}
    folder = OUT / f"transactions-{rows}-seed{seed}-p{projects}-x{penalties}"
    meta_path = folder / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text("utf-8"))
        csv_path = folder / meta["csv"]
        if meta.get("params") == params and csv_path.exists():
            print(f"dataset: reusing {csv_path.relative_to(HERE.parent)}", flush=True)
            return Dataset(csv_path, meta["publisher"])
    from hub.demo.generate import generate

    print(f"dataset: generating {rows:,} transactions (seed {seed}) …", flush=True)
    OUT.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=OUT))
    started = time.perf_counter()
    try:
        files = generate(
            staging, seed=seed, projects=projects, transactions=rows, penalties=penalties
        )
        batch = next(b for b in files.batches if str(b.kind) == "transaction")
        spec = next(p for p in files.publishers if p.name == batch.publisher)
        publisher = {
            "name": spec.name,
            "role": str(spec.role),
            "regions": list(spec.regions),
            "kinds": [str(k) for k in spec.kinds],
            "source_site": spec.source_site,
        }
        relative = Path(batch.path).resolve().relative_to(staging.resolve())
        meta = {"params": params, "csv": str(relative), "publisher": publisher}
        (staging / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), "utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    print(f"dataset: written in {time.perf_counter() - started:.0f}s", flush=True)
    return Dataset(folder / relative, publisher)


def warm_page_cache(path: Path) -> None:
    """Read the file once so the first measured run does not pay for cold disk reads."""
    with path.open("rb") as handle:
        while handle.read(1 << 24):
            pass


# --- databases ----------------------------------------------------------------------------------


class Target:
    """A fresh database per run with the hub's schema, dropped afterwards."""

    def __init__(self, database_url: str | None, tmp_dir: str | None) -> None:
        self.base_url = database_url
        self.tmp_dir = tmp_dir
        self.count = 0

    @property
    def dialect(self) -> str:
        return "postgresql" if self.base_url else "sqlite"

    def create(self) -> tuple[str, Any]:
        """A new database URL with the schema in place, and a token to drop it with."""
        from schema.db import ensure_schema, make_engine

        self.count += 1
        if self.base_url is None:
            folder = tempfile.mkdtemp(prefix="caigou-bench-", dir=self.tmp_dir)
            url = f"sqlite:///{folder}/bench.db"
            token: Any = folder
        else:
            name = f"caigou_bench_{os.getpid()}_{self.count}"
            self._admin(f'CREATE DATABASE "{name}"')
            url = self._url_for(name)
            token = name
        engine = make_engine(url)
        ensure_schema(engine)
        engine.dispose()
        return url, token

    def hub_pragmas(self, url: str) -> list[str]:
        """The PRAGMAs a connection from the hub's `make_engine` runs with, as statements."""
        if self.base_url is not None:
            return []
        from schema.db import make_engine

        engine = make_engine(url)
        with engine.connect() as conn:
            values = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in SQLITE_PRAGMAS}
        engine.dispose()
        return [f"PRAGMA {name}={value}" for name, value in values.items() if value is not None]

    def drop(self, token: Any) -> None:
        if self.base_url is None:
            shutil.rmtree(token, ignore_errors=True)
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{token}"')

    def _url_for(self, name: str) -> str:
        from sqlalchemy.engine import make_url

        from schema.db import normalise_url

        assert self.base_url is not None
        return make_url(normalise_url(self.base_url)).set(database=name).render_as_string(False)

    def _admin(self, statement: str) -> None:
        import psycopg

        from schema.db import normalise_url

        assert self.base_url is not None
        dsn = normalise_url(self.base_url).replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]


# --- workers (each in its own process) -----------------------------------------------------------


def scaled(text: str, places: int) -> int:
    """'12.5' → 1250 at two places: exact, without Decimal, as a bare loader would do it."""
    whole, _, fraction = text.partition(".")
    return int(whole + fraction.ljust(places, "0"))


def bare_builder(
    header: list[str], columns: list[str], parties: str, constants: dict[str, Any]
) -> Callable[[list[str]], tuple[Any, ...]]:
    """A row → insert-tuple function for the pipeline's own column list.

    Generated (one lambda, cells by index) so it is as fast as a hand-written tuple and still
    follows INSERT_COLUMNS when the pipeline's table changes; an unknown column stops the run.
    Parties are either the two fixed rows (`two`) or one row per distinct name (`per-name`).
    """
    at = {name.strip(): i for i, name in enumerate(header)}

    def cell(name: str) -> str:
        return f"row[{at[name]}]"

    def optional(name: str, default: str = "None") -> str:
        return f"(row[{at[name]}] or {default})" if name in at else default

    purchaser, supplier = ("1", "2")
    if parties == "per-name":
        purchaser, supplier = f"ids[{cell('purchaser_name')}]", f"ids[{cell('supplier_name')}]"
    known = {
        "order_id": cell("order_id"),
        "channel": cell("channel"),
        "purchaser_id": purchaser,
        "supplier_id": supplier,
        "item_name": cell("item_name"),
        "brand": optional("brand"),
        "model": cell("model"),
        "category_code": optional("category_code"),
        "category_edition": f"('2022' if {optional('category_code')} else None)",
        "quantity": f"scaled({cell('quantity')}, 3)",
        "unit": optional("unit"),
        "unit_price": f"scaled({cell('unit_price')}, 4)",
        "amount": f"scaled({cell('amount')}, 2)",
        "order_date": cell("order_date"),
        "region_code": cell("region_code"),
        "agreement_id": optional("agreement_id"),
        "publisher_id": "1",
        "source_site": "site",
        "published_at": optional("published_at", "received"),
        "received_at": "received",
        "payload": "dumps(dict(zip(header, row))).decode()",  # the bytes the pipeline stores
        "content_hash": "digest",
        "return_of": "None",
    }
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise SystemExit(f"bench/ingest.py does not know how to fill transactions.{unknown}")
    source = f"lambda row: ({', '.join(known[c] for c in columns)},)"
    names = [name.strip() for name in header]
    namespace = {"scaled": scaled, "dumps": orjson.dumps, "header": names, **constants}
    return eval(source, namespace)  # type: ignore[no-any-return]


PUBLISHER_SQL = (
    "INSERT INTO publishers (id, name, role, source_site, scope_regions, scope_kinds, "
    "token_hash, created_at) VALUES (1, {0}, {0}, {0}, {0}, {0}, {0}, {0})"
)
PARTY_SQL = "INSERT INTO parties (id, name, name_normalised) VALUES ({0}, {0}, {0})"


def party_ids(csv_path: Path, parties: str) -> dict[str, int]:
    """The party rows the bare rows reference, made before the clock starts."""
    if parties == "two":
        return {"purchaser": 1, "supplier": 2}
    ids: dict[str, int] = {}
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        at = {name.strip(): i for i, name in enumerate(next(reader))}
        purchaser, supplier = at["purchaser_name"], at["supplier_name"]
        for row in reader:
            for name in (row[purchaser], row[supplier]):
                if name not in ids:
                    ids[name] = len(ids) + 1
    return ids


def bare_setup(
    conn: Any, mark: str, publisher: dict[str, Any], received: Any, ids: dict[str, int]
) -> None:
    """The publisher and the parties every bare row references (NOT NULL foreign keys)."""
    site = publisher["source_site"]
    values = (publisher["name"], "trading_platform", site, "220000", "transaction", "x" * 64)
    conn.execute(PUBLISHER_SQL.format(mark), (*values, received))
    for name, party in ids.items():
        conn.execute(PARTY_SQL.format(mark), (party, name, name))


def bare_chunks(
    csv_path: Path, columns: list[str], parties: str, ids: dict[str, int], **constants: Any
) -> Iterator[list[tuple[Any, ...]]]:
    """Chunks of insert tuples straight from csv.reader, unvalidated."""
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        build = bare_builder(
            next(reader), columns, parties, {**constants, "ids": ids, "digest": "0" * 32}
        )
        chunk: list[tuple[Any, ...]] = []
        for row in reader:
            chunk.append(build(row))
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def bare_worker(
    url: str,
    csv_path: Path,
    publisher: dict[str, Any],
    columns: list[str],
    parties: str,
    pragmas: list[str],
) -> dict[str, Any]:
    """DB-API executemany of every row in chunks of 5,000, one transaction, then commit."""
    from datetime import datetime

    now = datetime.now().replace(microsecond=0)
    sqlite = url.startswith("sqlite")
    received = now.isoformat(" ") if sqlite else now  # as the pipeline passes it per dialect
    mark = "?" if sqlite else "%s"
    marks = ", ".join([mark] * len(columns))
    sql = f"INSERT INTO transactions ({', '.join(columns)}) VALUES ({marks})"
    ids = party_ids(csv_path, parties)
    chunks = bare_chunks(
        csv_path, columns, parties, ids, received=received, site=publisher["source_site"]
    )
    rows = 0
    if sqlite:
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
        for pragma in pragmas:
            conn.execute(pragma)
        conn.execute("BEGIN")
        bare_setup(conn, mark, publisher, received, ids)
        conn.execute("COMMIT")
        started = time.perf_counter()
        conn.execute("BEGIN")
        for chunk in chunks:
            conn.executemany(sql, chunk)
            rows += len(chunk)
        conn.execute("COMMIT")
        seconds = time.perf_counter() - started
        stored = conn.execute("SELECT count(*) FROM transactions").fetchone()[0]
        conn.close()
    else:
        import psycopg

        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(dsn) as pg:
            bare_setup(pg, mark, publisher, received, ids)
            pg.commit()
            started = time.perf_counter()
            with pg.cursor() as cursor:
                for chunk in chunks:
                    cursor.executemany(sql, chunk)  # type: ignore[arg-type]
                    rows += len(chunk)
            pg.commit()
            seconds = time.perf_counter() - started
            stored = pg.execute("SELECT count(*) FROM transactions").fetchone()[0]  # type: ignore[index]
    return {"side": "bare", "rows": rows, "seconds": seconds, "stored": stored, "accepted": rows}


def pipeline_worker(
    url: str, csv_path: Path, publisher: dict[str, Any], profile: Path | None = None
) -> dict[str, Any]:
    """The hub's own `ingest_file`, exactly as `caigou ingest` runs it."""
    from sqlalchemy import text

    from hub.publishing import ingest_file
    from hub.publishing.publishers import add_publisher
    from schema.db import make_engine
    from schema.types import PublisherRole, RecordKind

    engine = make_engine(url)
    with engine.begin() as conn:
        add_publisher(
            conn, publisher["name"], PublisherRole(publisher["role"]), publisher["regions"],
            [RecordKind(k) for k in publisher["kinds"]], publisher["source_site"],
        )  # fmt: skip
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    result = ingest_file(engine, csv_path, publisher["name"])
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM transactions")).scalar_one()
    engine.dispose()
    return {
        "side": "pipeline", "rows": result.total, "seconds": seconds, "stored": stored,
        "status": result.status, "accepted": result.accepted, "duplicates": result.duplicates,
        "rejected": result.rejected,
    }  # fmt: skip


def peak_rss() -> int:
    """This process's peak resident set in bytes.

    VmHWM rather than ru_maxrss where there is one: Linux carries ru_maxrss across exec, so a
    worker spawned by the (heavier) parent would report the parent's peak, not its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    factor = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * factor


def worker_main(args: argparse.Namespace) -> None:
    publisher = json.loads(args.publisher)
    if args.worker == "bare":
        report = bare_worker(
            args.url, args.csv, publisher, args.columns.split(","), args.parties,
            json.loads(args.pragmas or "[]"),
        )  # fmt: skip
    else:
        report = pipeline_worker(args.url, args.csv, publisher, args.profile)
    report["peak_rss"] = peak_rss()
    print(RESULT_MARK + json.dumps(report), flush=True)


def run_worker(side: str, url: str, dataset: Dataset, *options: str) -> Run:
    """Start a fresh interpreter for one side and read its one-line report."""
    command = [
        sys.executable, str(Path(__file__).resolve()), "--worker", side, "--url", url,
        "--csv", str(dataset.csv_path), "--publisher", json.dumps(dataset.publisher), *options,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode or not lines:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"{side} worker failed with exit code {done.returncode}")
    return Run(**json.loads(lines[-1].removeprefix(RESULT_MARK)))


# --- the comparison -----------------------------------------------------------------------------


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def mib(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MiB"


def compare(args: argparse.Namespace) -> int:
    from hub.publishing.transactions import INSERT_COLUMNS

    bare_options = ["--columns", ",".join(INSERT_COLUMNS), "--parties", args.bare_parties]
    dataset = ensure_dataset(args.rows, args.seed, args.projects, args.penalties)
    target = Target(args.database_url, args.tmp_dir)
    warm_page_cache(dataset.csv_path)
    url, token = target.create()
    try:
        pragmas = target.hub_pragmas(url)
    finally:
        target.drop(token)
    bare_options += ["--pragmas", json.dumps(pragmas)]
    if args.profile is not None:
        url, token = target.create()
        try:
            run = run_worker("pipeline", url, dataset, "--profile", str(args.profile))
        finally:
            target.drop(token)
        print(f"pipeline {run.rate:,.0f} rows/s under cProfile; stats in {args.profile}")
        import pstats

        stats = pstats.Stats(str(args.profile))
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        return 0

    print(
        f"database: {target.dialect}; bare rows reference {args.bare_parties} parties; "
        f"{os.cpu_count()} cores; load before: {load()}"
    )
    if pragmas:
        print(f"both sides: {'; '.join(pragmas)}")
    print(f"{'run':>3}  {'side':<8} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'peak RSS':>10}")
    runs: list[Run] = []
    for number in range(1, args.repeat + 1):
        for side in ("bare", "pipeline"):
            url, token = target.create()
            try:
                run = run_worker(side, url, dataset, *(bare_options if side == "bare" else ()))
            finally:
                target.drop(token)
            runs.append(run)
            print(
                f"{number:>3}  {side:<8} {run.rows:>10,} {run.seconds:>8.2f} "
                f"{run.rate:>10,.0f} {mib(run.peak_rss):>10}",
                flush=True,
            )
    bare = [r for r in runs if r.side == "bare"]
    pipe = [r for r in runs if r.side == "pipeline"]
    best_bare = max(r.rate for r in bare)
    best_pipe = max(r.rate for r in pipe)
    ratio = best_pipe / best_bare
    median_ratio = statistics.median(r.rate for r in pipe) / statistics.median(r.rate for r in bare)
    peak = max(r.peak_rss for r in pipe)
    rows = bare[0].rows
    complete = all(
        r.status == "accepted" and r.accepted == rows == r.stored and r.rows == rows for r in pipe
    ) and all(r.stored == rows for r in bare)
    print(f"load after: {load()}")
    print()
    print(f"{'':<22} {'bare executemany':>18} {'pipeline':>18}")
    print(f"{'rows/s (best)':<22} {best_bare:>18,.0f} {best_pipe:>18,.0f}")
    print(
        f"{'rows/s (median)':<22} {statistics.median(r.rate for r in bare):>18,.0f} "
        f"{statistics.median(r.rate for r in pipe):>18,.0f}"
    )
    print(f"{'peak RSS (max)':<22} {mib(max(r.peak_rss for r in bare)):>18} {mib(peak):>18}")
    print(f"{'rows stored':<22} {bare[-1].stored:>18,} {pipe[-1].stored:>18,}")
    print()
    print(
        f"ratio pipeline/bare: {ratio:.3f} best-to-best ({median_ratio:.3f} median), "
        f"target ≥ {TARGET_RATIO}"
    )
    print(f"pipeline peak RSS: {mib(peak)}, target < {mib(GIB)}")
    print(
        f"pipeline accepted {pipe[-1].accepted:,} of {rows:,} rows "
        f"(duplicates {pipe[-1].duplicates}, rejected {pipe[-1].rejected}, "
        f"status {pipe[-1].status})"
    )
    failures = []
    if ratio < TARGET_RATIO:
        failures.append(f"ratio {ratio:.3f} < {TARGET_RATIO}")
    if peak >= GIB:
        failures.append(f"peak RSS {mib(peak)} ≥ 1 GiB")
    if not complete:
        failures.append("the pipeline did not accept and store every row")
    if args.json is not None:
        summary = {
            "runs": [asdict(r) | {"rate": r.rate} for r in runs],
            "best_bare": best_bare, "best_pipeline": best_pipe, "ratio": ratio,
            "median_ratio": median_ratio, "pipeline_peak_rss": peak, "passed": not failures,
        }  # fmt: skip
        args.json.write_text(json.dumps(summary, indent=2), "utf-8")
    print("TARGET MET" if not failures else "TARGET MISSED: " + "; ".join(failures))
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions to ingest")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side, alternating")
    parser.add_argument(
        "--database-url",
        help="postgresql://… server to compare on instead of SQLite; each run creates and "
        "drops its own database there",
    )
    parser.add_argument("--seed", type=int, default=20221)
    parser.add_argument("--projects", type=int, default=240, help="demo projects (not measured)")
    parser.add_argument("--penalties", type=int, default=80, help="demo penalties (not measured)")
    parser.add_argument(
        "--bare-parties",
        choices=("two", "per-name"),
        default="per-name",
        help="bare rows reference one party per distinct name (default: the same rows the "
        "pipeline stores) or two fixed parties, which flatters the purchaser/supplier indexes",
    )
    parser.add_argument("--tmp-dir", help="where the SQLite files go (default: system temp)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--profile", type=Path, help="run the pipeline once under cProfile, save stats here"
    )
    parser.add_argument("--worker", choices=("bare", "pipeline"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--publisher", help=argparse.SUPPRESS)
    parser.add_argument("--columns", help=argparse.SUPPRESS)
    parser.add_argument("--parties", help=argparse.SUPPRESS)
    parser.add_argument("--pragmas", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return
    if args.database_url and not args.database_url.startswith(("postgres", "postgresql")):
        parser.error("--database-url must be a postgresql:// URL (SQLite is the default)")
    sys.exit(compare(args))


if __name__ == "__main__":
    main()
