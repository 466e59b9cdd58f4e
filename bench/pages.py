"""Web pages benchmark: each page over HTTP against the data queries behind it, run alone.

On the 1M-transaction demo data in PostgreSQL (`caigou_bench_graphql`, built by
bench/graphql.py; upgraded here to the code's migration if behind). A `caigou serve`
process answers the pages; this process runs the same data functions the pages call
(hub.read.project.project_data, hub.read.party.party_data, hub.web.transparency.scores)
on its own connection. Page and queries alternate request by request over the same
variants, so both see the same machine. Target: page median <= 1.5x its queries' median.

The search pages (`/`, `/transactions`) need a search backend; on PostgreSQL that is
Elasticsearch with the same records indexed: give `--elasticsearch-url` and the prefix of
indices built from this database (`caigou --database-url … --elasticsearch-url …
--index-prefix bench-pages index rebuild`, ~7 minutes here); without it they are left out.

    flock /tmp/caigou-bench.lock .venv/bin/python bench/pages.py [--requests 200]
        [--elasticsearch-url http://127.0.0.1:9250 --index-prefix bench-pages]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

# Run as a script, this folder leads sys.path, and bench/graphql.py would stand in for
# graphql-core (`import graphql` in strawberry): the folder goes before the hub is imported.
sys.path.remove(str(Path(__file__).resolve().parent))

from sqlalchemy import Engine, text
from starlette.requests import Request

from hub.read.party import party_data
from hub.read.project import project_data
from hub.web.search_page import read_query, records, run
from hub.web.transactions import PAGE_SIZE, detail_rows, price_chart, transaction_query
from hub.web.transparency import Selection, scores
from schema.db import current_revision, head_revision, make_engine

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CAIGOU = str(ROOT / ".venv" / "bin" / "caigou")
DB_URL = "postgresql://postgres@127.0.0.1:54329/caigou_bench_graphql"
PORT = 18751
VARIANTS = 50
TARGET = 1.5


def prepare() -> Engine:
    subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "start"], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    engine = make_engine(DB_URL)
    if current_revision(engine) != head_revision():
        print(f"upgrading {DB_URL} to {head_revision()}…", flush=True)
        subprocess.run([CAIGOU, "--database-url", DB_URL, "db", "upgrade"], check=True)
    return engine


def variants(engine: Engine) -> dict[str, list[str]]:
    """Projects with the most notices, suppliers with the most transactions, brand + model
    searches and item-name searches."""
    with engine.connect() as conn:
        q = lambda sql: [str(r[0]) for r in conn.execute(text(sql))]  # noqa: E731
        return {
            "project": q("SELECT ocid FROM projects "
                         f"ORDER BY notice_count DESC, id LIMIT {VARIANTS}"),
            "party": q("SELECT supplier_id FROM transactions GROUP BY 1 "
                       f"ORDER BY count(*) DESC LIMIT {VARIANTS}"),
            "search": q("SELECT concat_ws(' ', brand, model) FROM transactions "
                        f"GROUP BY brand, model ORDER BY count(*) DESC LIMIT {VARIANTS}"),
            "items": q("SELECT item_name FROM transactions GROUP BY 1 "
                       f"ORDER BY count(*) DESC LIMIT {VARIANTS}"),
        }  # fmt: skip


def request(path: str) -> Request:
    """A request as the page sees it, for the data side to read the same parameters."""
    query = path.partition("?")[2]
    return Request({"type": "http", "query_string": query.encode(), "headers": []})


def search_data(backend: Any, engine: Engine, path: str) -> None:
    """What `/` asks of the backend and the database."""
    result = run(backend, read_query(request(path)))
    records(engine, result.hits[:20])


def transactions_data(backend: Any, engine: Engine, path: str) -> None:
    """What `/transactions` asks: a page of 50, its rows, the chart of the first model."""
    query = transaction_query(request(path))
    hits = run(backend, query, PAGE_SIZE).hits[:PAGE_SIZE]
    rows = detail_rows(engine, hits)
    if rows:
        price_chart(engine, backend, rows[0]["model"])


def pages(
    found: dict[str, list[str]], backend: Any
) -> dict[str, tuple[list[str], Callable[..., Any]]]:
    """Page → (URLs, the data call behind each URL)."""
    groups = ("region", "purchaser", "agency")
    searched = {}
    if backend is not None:
        home = [f"/?{urlencode({'q': q})}" for q in found["search"]]
        table = [f"/transactions?{urlencode({'q': q})}" for q in found["items"]]
        searched = {
            "search /": (home, lambda conn, e, i: search_data(backend, e, home[i])),
            "transactions": (table, lambda conn, e, i: transactions_data(backend, e, table[i])),
        }
    return {**searched,
        "project": ([f"/projects/{o}" for o in found["project"]],
                    lambda conn, e, i: project_data(conn, found["project"][i])),
        "party": ([f"/parties/{p}" for p in found["party"]],
                  lambda conn, e, i: party_data(conn, int(found["party"][i]), None)),
        "transparency": ([f"/transparency?group={g}" for g in groups],
                         lambda conn, e, i: scores(e, Selection(groups[i]))),
    }  # fmt: skip


def get(client: http.client.HTTPConnection, path: str) -> float:
    started = time.perf_counter()
    client.request("GET", path)
    response = client.getresponse()
    body = response.read()
    if response.status != 200 or not body:
        raise SystemExit(f"{path}: HTTP {response.status}")
    return time.perf_counter() - started


def p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # type: ignore[union-attr]
    parser.add_argument("--requests", type=int, default=200, help="per page (default 200)")
    parser.add_argument("--elasticsearch-url", help="search pages too, against this cluster")
    parser.add_argument("--index-prefix", default="bench-pages", help="indices of this DB")
    args = parser.parse_args()
    print(f"load before: {Path('/proc/loadavg').read_text().strip()}", flush=True)
    engine = prepare()
    found = variants(engine)
    OUT.mkdir(parents=True, exist_ok=True)
    log = (OUT / "pages-hub.log").open("w")
    backend, search_args = None, []
    if args.elasticsearch_url:
        from indexer.elastic import ElasticBackend

        backend = ElasticBackend(args.elasticsearch_url, prefix=args.index_prefix)
        search_args = ["--elasticsearch-url", args.elasticsearch_url,
                       "--index-prefix", args.index_prefix]  # fmt: skip
    server = subprocess.Popen([CAIGOU, "--database-url", DB_URL, *search_args, "serve",
                               "--port", str(PORT)], cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT)  # fmt: skip
    failed = False
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
                get(client, "/healthz")
                break
            except (OSError, SystemExit):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the hub did not start: see bench/out/pages-hub.log") from None
                time.sleep(0.2)
        print(f"{'page':<14}{'n':>5}{'page p50':>10}{'p99':>9}{'queries p50':>13}{'p99':>9}"
              f"{'ratio p50':>11}{'p99':>7}")  # fmt: skip
        for name, (urls, data) in pages(found, backend).items():
            for i in range(min(len(urls), 5)):  # warm both sides: plans, templates, caches
                get(client, urls[i])
                with engine.connect() as conn:
                    data(conn, engine, i)
            page_t, query_t = [], []
            for n in range(args.requests):
                i = n % len(urls)
                page_t.append(get(client, urls[i]))
                started = time.perf_counter()
                with engine.connect() as conn:
                    data(conn, engine, i)
                query_t.append(time.perf_counter() - started)
            ratio = statistics.median(page_t) / statistics.median(query_t)
            tail = p99(page_t) / p99(query_t)
            failed |= ratio > TARGET
            print(f"{name:<14}{args.requests:>5}{statistics.median(page_t) * 1000:>9.1f}ms"
                  f"{p99(page_t) * 1000:>7.1f}ms{statistics.median(query_t) * 1000:>11.1f}ms"
                  f"{p99(query_t) * 1000:>7.1f}ms{ratio:>10.2f}x{tail:>6.2f}x"
                  f" {'ok' if ratio <= TARGET else 'MISSED'}", flush=True)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"load after: {Path('/proc/loadavg').read_text().strip()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
