"""Search benchmark: the indexer against a bare bulk, GraphQL search against Elasticsearch.

Two targets from the issue, measured in one run on the 1M-transaction demo data in PostgreSQL
(`caigou_bench_search`, a copy of `caigou_bench_graphql`) and the local Elasticsearch:

  indexing  every transaction enqueued in the search outbox at once (a mass change, INSERT …
            SELECT as `enqueue_naming` does), then drained by the real worker
            (`indexer.worker.run(once=True)`, batch 1000, one process, into fresh indices under
            a bench prefix), against the floor: `elasticsearch.helpers.bulk` (chunk 1000,
            sequential, as the worker) of the same documents into fresh indices of the same
            mappings. Document building (`indexer.documents.documents`, per 1000 ids, on a
            pooled connection per batch) is INSIDE the clock on both sides: the worker builds
            at drain time by design, and the floor's generator builds the same batches lazily,
            so the ratio is the cost of the outbox itself (claim, version stamp, forget). Each
            side's split into build / bulk / rest is printed. Target: indexer >= 0.8x floor.
  search    ~200 realistic queries (item words, brand + model, supplier names, a facet
            filter) as GraphQL `search(query:, first: 20)` to `caigou serve`, and the request
            body `ElasticBackend.search` builds (from `indexer.elastic_query`, checked equal to
            the one the backend sends) posted straight to Elasticsearch; the same keep-alive
            HTTP/1.1 client in this process for both, each query once to each side, the order
            alternating. Target: GraphQL median and p99 <= 1.5x Elasticsearch's.

    python bench/search.py [--rows 1000000] [--repeat 1] [--passes 2] [--py-spy DIR]
                           [--search-only] [--index-prefix PREFIX]

Exits 1 when a target is missed. `--py-spy DIR` records raw py-spy profiles of the first
indexer side (this process: sampling shares the 2 cores, so that run's indexing ratio is for
reading, not for recording) and of the hub over one more pass of the searches after the
measured ones. `--search-only` indexes once with the worker and measures search. Indices
`bench-search-<pid>-*` are dropped at the end. `--index-prefix PREFIX` measures search only,
on indices built before under that prefix (`CAIGOU_INDEX_PREFIX=PREFIX caigou index rebuild`
on this database), and leaves them: for trying a change to the search path in minutes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import graphql_peer as peer

# Run as a script, this folder leads sys.path and bench/graphql.py would stand in for
# graphql-core: the helper above is imported, so the folder can go (bench/graphql.py, which
# loads this file for shape d, has taken it out already).
if os.path.dirname(os.path.abspath(__file__)) in sys.path:
    sys.path.remove(os.path.dirname(os.path.abspath(__file__)))

import psycopg
from elasticsearch import Elasticsearch, helpers
from sqlalchemy import Connection, Engine

from indexer import elastic_query, worker
from indexer.documents import documents
from indexer.elastic import SEARCH_FILTER, ElasticBackend, search_path, source
from indexer.search import SearchFilter, SearchRequest
from indexer.text import parse_query
from schema.db import make_engine

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CAIGOU = str(ROOT / ".venv" / "bin" / "caigou")
PG = "postgresql://postgres@127.0.0.1:54329"
DB_NAME = "caigou_bench_search"  # ours to write: the outbox fills and drains here
TEMPLATE = "caigou_bench_graphql"  # read by bench/graphql.py: copied, never written
DB_URL = f"{PG}/{DB_NAME}"
ES_URL = "http://127.0.0.1:9250"
PREFIX = f"bench-search-{os.getpid()}"
WANT_TRANSACTIONS = 1_000_000
BATCH = 1000  # `caigou indexer run --batch` default: changes per claim, documents per bulk
INDEX_MIN, LATENCY_MAX = 0.8, 1.5
PAGE = 20
SEARCH = """query Search($q: String!, $f: SearchFilterInput) {
  search(query: $q, first: 20, filter: $f) { totalCount
    edges { cursor score highlights { field fragments }
      node { ... on Transaction { orderId itemName amount } } }
    facets { channel { key count } } } }"""


@dataclass
class Clock:
    """Seconds of one indexing side, split where each side spends them."""

    build: float = 0.0  # indexer.documents.documents
    bulk: float = 0.0  # serialising, sending, Elasticsearch indexing, reading the answer
    total: float = 0.0

    def timed_build(self, conn: Connection, kind: str, pks: list[int]) -> Mapping[int, Any]:
        started = time.perf_counter()
        try:
            return documents(conn, kind, pks)
        finally:
            self.build += time.perf_counter() - started


@dataclass
class IndexRun:
    round: int
    side: str
    rows: int
    clock: Clock
    load: tuple[str, str]

    @property
    def rate(self) -> float:
        return self.rows / self.clock.total


class TimedBackend(ElasticBackend):
    """The worker's real target, with the time spent in `bulk` added up."""

    def __init__(self, url: str, clock: Clock, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.clock = clock

    def bulk(self, ops: Any, *, indices: Any = None, refresh: bool = False) -> Any:
        started = time.perf_counter()
        try:
            return super().bulk(ops, indices=indices, refresh=refresh)
        finally:
            self.clock.bulk += time.perf_counter() - started


class CapturingBackend(ElasticBackend):
    """Keeps the last index and body `search` sent: the reference for the direct requests."""

    sent: tuple[str, dict[str, Any]] | None = None

    def _search(self, index: str, body: dict[str, Any], pit: str | None) -> dict[str, Any]:
        self.sent = (index, json.loads(json.dumps(body)))
        return super()._search(index, body, pit)


def loadavg() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


# data and servers


def ensure_data(rows: int) -> None:
    """Start PostgreSQL and Elasticsearch; copy the 1M demo database unless ours exists."""
    for server in ("postgres", "elasticsearch"):
        subprocess.run(["bash", str(ROOT / "scripts" / f"{server}.sh"), "start"], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME])
        if not exists.fetchone():
            _copy_template(admin)
    upgrade()
    with psycopg.connect(DB_URL) as conn:
        held = conn.execute("SELECT count(*) FROM transactions").fetchone()[0]  # type: ignore[index]
    if held < rows:
        raise SystemExit(f"{DB_NAME} holds {held:,} transactions, want {rows:,}")


def upgrade() -> None:
    subprocess.run([CAIGOU, "--database-url", DB_URL, "db", "upgrade"], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def _copy_template(admin: psycopg.Connection[Any]) -> None:
    """CREATE DATABASE … TEMPLATE needs the template without other sessions: retry a while."""
    for _ in range(30):
        try:
            admin.execute(f"CREATE DATABASE {DB_NAME} TEMPLATE {TEMPLATE}")
            return
        except psycopg.errors.ObjectInUse:
            time.sleep(2)
        except psycopg.errors.InvalidCatalogName:
            break
    raise SystemExit(
        f"cannot copy {TEMPLATE} (missing, or in use for a minute): run bench/graphql.py to "
        f"build it, or build {DB_NAME} with `PGOPTIONS='-c plan_cache_mode=force_custom_plan' "
        f"caigou --database-url {DB_URL} demo --no-serve --transactions {WANT_TRANSACTIONS}`"
    )


def es_pid() -> int | None:
    status = subprocess.run(["bash", str(ROOT / "scripts" / "elasticsearch.sh"), "status"],
                            capture_output=True, text=True).stdout  # fmt: skip
    found = re.search(r"pid (\d+)", status)
    return int(found.group(1)) if found else None


def drop_bench_indices(client: Elasticsearch, pattern: str) -> None:
    found = client.indices.get(index=pattern, expand_wildcards="all")
    if found.body:
        client.indices.delete(index=list(found.body), ignore_unavailable=True)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# indexing


def transaction_ids(engine: Engine, rows: int) -> list[int]:
    with engine.connect() as conn:
        query = f"SELECT id FROM transactions ORDER BY id LIMIT {int(rows)}"
        return [int(r[0]) for r in conn.exec_driver_sql(query)]


def enqueue_all(engine: Engine, kind: str, table: str, last_id: int | None = None) -> None:
    """A mass change: every record of `kind` (up to `last_id`) into the outbox, one statement."""
    upto = f"WHERE id <= {int(last_id)}" if last_id is not None else ""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO search_outbox (kind, record_pk, op, created_at, attempts) "
            f"SELECT '{kind}', id, 'upsert', now(), 0 FROM {table} {upto} ORDER BY id"
        )
    with engine.connect() as conn:  # autovacuum would, within a minute of a mass change
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "ANALYZE search_outbox"
        )


def indexer_side(engine: Engine, prefix: str, pks: list[int], spy: str | None) -> Clock:
    """Enqueue every transaction, then time the worker draining them into fresh indices."""
    with engine.begin() as conn:  # leftovers of an interrupted run
        conn.exec_driver_sql("DELETE FROM search_outbox")
        conn.exec_driver_sql("DELETE FROM search_state")
    enqueue_all(engine, "transaction", "transactions", pks[-1])
    clock = Clock()
    target = TimedBackend(ES_URL, clock, prefix=prefix, timeout=120)
    target.ensure_indices()  # outside the clock, as for the floor's create_indices
    profiler = _py_spy(os.getpid(), spy)
    started = time.perf_counter()
    try:
        stats = worker.run(engine, target, once=True, batch=BATCH, build=clock.timed_build)
    finally:
        clock.total = time.perf_counter() - started
        if profiler:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
    target.refresh()
    held = target.count("transaction")
    with engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT count(*) FROM search_outbox").scalar_one()
    if held != len(pks) or left or stats.parked:
        raise SystemExit(f"indexer: {held:,} indexed, {left:,} left, {stats.parked:,} parked")
    return clock


def _py_spy(pid: int, path: str | None) -> subprocess.Popen[bytes] | None:
    """py-spy recording `pid` until SIGINT (collapsed stacks: `sort | uniq` them to read)."""
    if not path:
        return None
    spy = [str(ROOT / ".venv" / "bin" / "py-spy"), "record", "--pid", str(pid),
           "--rate", "50", "--format", "raw", "--output", path]  # fmt: skip
    proc = subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the clock starts
    return proc


def floor_side(engine: Engine, prefix: str, pks: list[int]) -> Clock:
    """`helpers.bulk` of the same documents, built by the same function in the same batches."""
    clock = Clock()
    backend = ElasticBackend(ES_URL, prefix=prefix)
    index = backend.create_indices(["transaction"])["transaction"]  # same mappings, settings
    client = Elasticsearch(ES_URL, request_timeout=120)
    with engine.connect() as conn:
        version = worker.version_stamp(conn)

    def actions() -> Iterator[dict[str, Any]]:
        for start in range(0, len(pks), BATCH):
            with engine.connect() as conn:
                docs = clock.timed_build(conn, "transaction", pks[start : start + BATCH])
            for pk, doc in docs.items():
                yield {"_index": index, "_id": str(pk), "version": version,
                       "version_type": "external", "_source": source(doc)}  # fmt: skip

    started = time.perf_counter()
    _, errors = helpers.bulk(client, actions(), chunk_size=BATCH, max_chunk_bytes=1 << 30,
                                stats_only=True)  # fmt: skip
    clock.total = time.perf_counter() - started
    clock.bulk = clock.total - clock.build
    client.indices.refresh(index=index)
    held = int(client.count(index=index)["count"])
    if held != len(pks) or errors:
        raise SystemExit(f"floor: {held:,} indexed, {errors} errors")
    return clock


def top_up(engine: Engine, prefix: str) -> None:
    """The other kinds into the kept indexer indices, untimed: searches cover every kind."""
    for kind, table in (
        ("notice", "notices"),
        ("party", "parties"),
        ("penalty", "penalty_records"),
    ):
        enqueue_all(engine, kind, table)
    target = ElasticBackend(ES_URL, prefix=prefix, timeout=120)
    worker.run(engine, target, once=True, batch=BATCH)
    target.refresh()


# search


@dataclass(frozen=True)
class Query:
    group: str
    text: str
    filter: tuple[tuple[str, str], ...] = ()  # GraphQL SearchFilterInput's (name, value)

    def request(self) -> SearchRequest:
        names = {"channel": "channel", "regionCode": "region_code"}
        values = {names[k]: v for k, v in self.filter}
        return SearchRequest(query=parse_query(self.text), filter=SearchFilter(**values),
                             size=PAGE + 1)  # fmt: skip


def pick_queries(engine: Engine) -> list[Query]:
    """About 200 distinct searches a buyer or an auditor would type, from the data itself."""
    with engine.connect() as conn:
        q = lambda sql: [tuple(r) for r in conn.exec_driver_sql(sql)]  # noqa: E731
        items = [r[0] for r in q("SELECT DISTINCT item_name FROM transactions ORDER BY 1")]
        models = q("""SELECT brand, model FROM transactions
            WHERE brand IS NOT NULL AND model IS NOT NULL
            GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 50""")
        suppliers = [
            r[0]
            for r in q("""SELECT p.name FROM parties p
            WHERE EXISTS (SELECT 1 FROM party_roles r WHERE r.party_id = p.id
                          AND r.role = 'supplier')
            AND EXISTS (SELECT 1 FROM transactions t WHERE t.supplier_id = p.id)
            ORDER BY p.id LIMIT 50""")
        ]
        regions = [r[0] for r in q("SELECT left(region_code, 4) || '00' FROM transactions"
                                   " GROUP BY 1 ORDER BY count(*) DESC LIMIT 10")]  # fmt: skip
    short = [re.sub(r"(股份)?有限(责任)?公司$|公司$", "", s)[-4:] for s in suppliers]
    queries = [Query("item word", w) for w in items]
    queries += [Query("brand + model", f"{b} {m}") for b, m in models]
    queries += [Query("supplier name", s) for s in suppliers]
    queries += [Query("supplier word", s) for s in dict.fromkeys(short)][:30]
    channels = ("framework", "emall", "designated")
    queries += [Query("word + channel", w, (("channel", channels[i % 3]),))
                for i, w in enumerate(items + items[:14])]  # fmt: skip
    queries += [Query("brand + region", b, (("regionCode", regions[i % len(regions)]),))
                for i, b in enumerate(dict.fromkeys(b for b, _ in models))][:10]  # fmt: skip
    return list(dict.fromkeys(queries))


def direct_body(
    backend: CapturingBackend, query: Query, kinds: tuple[str, ...] = ()
) -> tuple[str, bytes]:
    """The path and body `ElasticBackend.search` sends, from the builders; checked equal."""
    request = query.request()
    if kinds:
        request = replace(request, kinds=kinds)
    body = {
        "query": elastic_query.query(request.query, request.filter, smartcn=backend.smartcn),
        "sort": elastic_query.sort(request),
        "size": request.size,
        "track_total_hits": True,
        "_source": ["kind", "pk", "title", "text"],
        "aggs": elastic_query.aggregations(),
    }
    index = ",".join(backend.alias(k) for k in request.kinds)
    backend.search(request)
    if backend.sent != (index, json.loads(json.dumps(body))):
        raise SystemExit(f"{query}: the bench's body differs from ElasticBackend's {backend.sent}")
    # the path and filter_path the backend posts to (indexer.elastic._post)
    path = f"{search_path(index)}?{urllib.parse.urlencode({'filter_path': SEARCH_FILTER})}"
    return path, json.dumps(body, ensure_ascii=False).encode()


class Client:
    """One keep-alive HTTP/1.1 connection; `post` returns (milliseconds, decoded JSON)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def post(self, path: str, body: bytes) -> tuple[float, Any]:
        started = time.perf_counter()
        self.conn.request("POST", path, body, {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        raw = response.read()
        spent = 1000 * (time.perf_counter() - started)
        if response.status != 200:
            raise SystemExit(f"POST {path}: {response.status} {raw[:500]!r}")
        return spent, json.loads(raw)

    def get(self, path: str) -> float:
        """A page: milliseconds until its whole body is read."""
        started = time.perf_counter()
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        raw = response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status} {raw[:500]!r}")
        return 1000 * (time.perf_counter() - started)


@dataclass
class Latencies:
    hub: dict[str, list[float]] = field(default_factory=dict)  # group → ms
    es: dict[str, list[float]] = field(default_factory=dict)
    hub_cpu: float = 0.0  # seconds, the hub process over the measured passes
    es_cpu: float = 0.0  # seconds, Elasticsearch over the same (both sides' requests)
    mismatched: list[str] = field(default_factory=list)
    load: tuple[str, str] = ("", "")


def search_latency(
    prefix: str, queries: list[Query], passes: int, server: peer.Server, spy: str | None
) -> Latencies:
    """A warm-up pass, then `passes` measured ones; per query both sides, order alternating."""
    backend = CapturingBackend(ES_URL, prefix=prefix)
    direct = [direct_body(backend, q) for q in queries]  # also a first warm-up of each query
    hub, es = Client(server.port), Client(int(ES_URL.rsplit(":", 1)[1]))
    gql = [json.dumps({"query": SEARCH, "variables": {"q": q.text, "f": dict(q.filter) or None}},
                      ensure_ascii=False).encode() for q in queries]  # fmt: skip
    out = Latencies()
    pid = es_pid()
    es_cpu = lambda: peer.proc_cpu(pid) if pid else 0.0  # noqa: E731
    cpu, profiler = (0.0, 0.0), None
    for phase in ["warm-up"] + ["measured"] * passes + (["profiled"] if spy else []):
        measured = phase == "measured"
        if measured and not out.load[0]:
            cpu, out.load = (server.cpu(), es_cpu()), (loadavg(), "")
        if phase == "profiled":  # after the measured passes, so sampling cannot skew them
            out.hub_cpu, out.es_cpu = server.cpu() - cpu[0], es_cpu() - cpu[1]
            out.load = (out.load[0], loadavg())
            profiler = _py_spy(server.proc.pid, spy) if server.proc else None
        for i, q in enumerate(queries):
            sides = [("hub", hub, "/graphql", gql[i]), ("es", es, *direct[i])]
            totals = {}
            for side, client, path, body in sides if i % 2 else sides[::-1]:
                ms, answer = client.post(path, body)
                if side == "hub":
                    if answer.get("errors"):
                        raise SystemExit(f"{q}: {answer['errors']}")
                    totals[side] = answer["data"]["search"]["totalCount"]
                else:
                    totals[side] = answer["hits"]["total"]["value"]
                if measured:
                    getattr(out, side).setdefault(q.group, []).append(ms)
            if measured and totals["hub"] != totals["es"]:
                out.mismatched.append(f"{q.text}: hub {totals['hub']}, es {totals['es']}")
    if not spy:
        out.hub_cpu, out.es_cpu = server.cpu() - cpu[0], es_cpu() - cpu[1]
        out.load = (out.load[0], loadavg())
    if profiler:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(60)
    return out


# report


def report_indexing(runs: list[IndexRun]) -> list[str]:
    print("\n| round | side | documents | seconds | docs/s | build s | bulk s | outbox & rest s"
          " | load before → after |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for r in runs:
        c = r.clock
        rest = c.total - c.build - c.bulk
        cells = [str(r.round), r.side, f"{r.rows:,}", f"{c.total:.1f}", f"{r.rate:,.0f}",
                 f"{c.build:.1f}", f"{c.bulk:.1f}", f"{rest:.1f}", " → ".join(r.load)]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    rates = {s: [r.rate for r in runs if r.side == s] for s in ("floor", "indexer")}
    if not rates["floor"]:
        print("\nno floor (--search-only): no indexing verdict")
        return []
    best = max(rates["indexer"]) / max(rates["floor"])
    med = statistics.median(rates["indexer"]) / statistics.median(rates["floor"])
    print(f"\nindexer / floor: **{best:.3f}×** best-to-best ({med:.3f}× median), target ≥ "
          f"{INDEX_MIN}×: {_mark(best >= INDEX_MIN)}")  # fmt: skip
    return [] if best >= INDEX_MIN else [f"indexing {best:.3f}× the floor"]


def report_search(lat: Latencies, n_queries: int) -> list[str]:
    every = {s: [ms for v in getattr(lat, s).values() for ms in v] for s in ("hub", "es")}
    print(f"\n{n_queries} queries × {len(every['hub']) // n_queries} passes; load "
          f"{lat.load[0]} → {lat.load[1]}")  # fmt: skip
    print(
        "\n| queries | n | GraphQL median ms | GraphQL p99 ms | Elasticsearch median ms"
        " | Elasticsearch p99 ms | median ratio | p99 ratio |\n|---|---|---|---|---|---|---|---|"
    )
    rows = [(g, lat.hub[g], lat.es[g]) for g in lat.hub] + [("all", every["hub"], every["es"])]
    for group, hub, es in rows:
        h = (peer.median(hub), peer.percentile(hub, 0.99))
        e = (peer.median(es), peer.percentile(es, 0.99))
        name = f"**{group}**" if group == "all" else group
        print(f"| {name} | {len(hub)} | {h[0]:.2f} | {h[1]:.2f} | {e[0]:.2f} | {e[1]:.2f} | "
              f"{h[0] / e[0]:.2f}× | {h[1] / e[1]:.2f}× |")  # fmt: skip
    n = len(every["hub"])
    print(
        f"\nCPU per search: hub process {1000 * lat.hub_cpu / n:.2f} ms; Elasticsearch "
        f"{1000 * lat.es_cpu / (2 * n):.2f} ms (its CPU over both sides' requests / 2n)"
    )
    missed = []
    for label, q in (("median", 0.5), ("p99", 0.99)):
        ratio = peer.percentile(every["hub"], q) / peer.percentile(every["es"], q)
        print(f"GraphQL / Elasticsearch {label}: **{ratio:.2f}×**, target ≤ {LATENCY_MAX}×: "
              f"{_mark(ratio <= LATENCY_MAX)}")  # fmt: skip
        if ratio > LATENCY_MAX:
            missed.append(f"search {label} {ratio:.2f}× Elasticsearch's")
    if lat.mismatched:
        print(f"totalCount differs on {len(lat.mismatched)}: {lat.mismatched[:3]}")
        missed.append("GraphQL and Elasticsearch totals differ")
    return missed


def spy_to(folder: str | None, name: str, round_: int) -> str | None:
    """Where py-spy writes `name`'s profile: the first round only, or nowhere."""
    if not folder or round_:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    return str(Path(folder) / f"{name}.txt")


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


# shape d of bench/graphql.py: a search page through GraphQL and through `/`

SHAPE_D = """query D($q: String!, $f: SearchFilterInput) {
  search(query: $q, first: 20, filter: $f) { totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor score highlights { field fragments }
      node { __typename
        ... on Transaction { orderId itemName brand model amount orderDate channel
                             supplier { name uscc } purchaser { name } }
        ... on Notice { title noticeType ocid }
        ... on Party { name uscc }
        ... on PenaltyRecord { recordId decisionDate } } } } }"""
SHAPE_D_MAX = 1.2
PAGE_KINDS = ("notice", "transaction")  # what `/` searches (kind=all)
SHAPE_D_SIDES = {"graphql": "graphql", "es-graphql": "", "page": "page", "es-page": "",
                 "floor": "floor: the page's search and rows, nothing else",
                 "floor-search": "floor: the page's search alone"}  # fmt: skip
TARGETS = ("graphql", "page")


def ensure_index(db_url: str, prefix: str) -> None:
    """The search indices of `db_url` under `prefix`, by the hub's own indexer: the outbox
    drained (`caigou indexer run --once`: a demo's load enqueues every record, and a hub whose
    outbox is a million behind counts it once a second), then `caigou index rebuild` unless
    every transaction is in."""
    client = Elasticsearch(ES_URL, request_timeout=120)
    caigou = [CAIGOU, "--database-url", db_url, "--elasticsearch-url", ES_URL, "--index-prefix",
              prefix]  # fmt: skip
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT count(*) FROM transactions").fetchone()[0]  # type: ignore[index]
        pending = conn.execute("SELECT count(*) FROM search_outbox").fetchone()[0]  # type: ignore[index]
    if pending:
        print(f"shape d: draining {pending:,} changes into {prefix}…", flush=True)
        subprocess.run([*caigou, "indexer", "run", "--once", "--no-export"], check=True, cwd=ROOT)
    alias = f"{prefix}-transaction"
    held = int(client.count(index=alias)["count"]) if client.indices.exists_alias(name=alias) else 0
    if held != rows:
        print(f"shape d: indexing {rows:,} transactions and the rest under {prefix}…", flush=True)
        subprocess.run([*caigou, "index", "rebuild"], check=True, cwd=ROOT)


def shape_d(db_url: str, prefix: str, passes: int = 2, n_queries: int = 100) -> list[str]:
    """Shape d: ~100 searches of 20 hits with parties and highlights, as GraphQL `search` and
    as the `/` page of one `caigou serve`, each against the same `_search` body posted straight
    to Elasticsearch (the page's body searches notices and transactions, GraphQL's every
    kind). Beside them, the design's two floors (bench/search_floor.py: the page's search
    and its rows' statement under the same uvicorn, nothing else; and the search alone), not
    targets: what of the budget the legs take before the hub works. A warm-up pass, then
    `passes` measured; per query the six requests in an order that alternates. Target: each
    side's median and p99 <= 1.2x Elasticsearch's."""
    ensure_index(db_url, prefix)
    engine = make_engine(db_url)
    every = pick_queries(engine)
    engine.dispose()
    queries = every[:: max(1, len(every) // n_queries)][:n_queries]
    backend = CapturingBackend(ES_URL, prefix=prefix)
    gql_es = [direct_body(backend, q) for q in queries]
    page_es = [direct_body(backend, q, PAGE_KINDS) for q in queries]
    gql = [json.dumps({"query": SHAPE_D, "variables": {"q": q.text, "f": dict(q.filter) or None}},
                      ensure_ascii=False).encode() for q in queries]  # fmt: skip
    names = {"channel": "channel", "regionCode": "region"}
    pages = ["/?" + urllib.parse.urlencode({"q": q.text, **{names[k]: v for k, v in q.filter}})
             for q in queries]  # fmt: skip
    port = free_port()
    # one client, one request at a time: one worker (py-spy can follow it), no rate limit
    env = {"CAIGOU_ELASTICSEARCH_URL": ES_URL, "CAIGOU_INDEX_PREFIX": prefix,
           "CAIGOU_RATE_LIMIT": "0"}  # fmt: skip
    hub = peer.Server("hub-search", port, [CAIGOU, "--database-url", db_url, "serve", "--port",
                      str(port), "--workers", "1"], ROOT, env, OUT / "search-d-hub.log",
                      "/healthz")  # fmt: skip
    ms: dict[str, list[float]] = {side: [] for side in SHAPE_D_SIDES}
    hub.start()
    floors: dict[str, peer.Server] = {}  # the design's floors (bench/search_floor.py)
    try:
        for side, legs in (("floor", "rows"), ("floor-search", "search")):
            floor_port = free_port()  # taken by the time the next is chosen
            argv = [sys.executable, str(ROOT / "bench" / "search_floor.py"), db_url, ES_URL,
                    str(floor_port), legs]  # fmt: skip
            floors[side] = peer.Server(side, floor_port, argv, ROOT,
                                       {**env, "PYTHONPATH": str(ROOT)},
                                       OUT / f"search-d-{side}.log", "/")  # fmt: skip
            floors[side].start()
        client, es = Client(port), Client(int(ES_URL.rsplit(":", 1)[1]))
        bare = {side: Client(server.port) for side, server in floors.items()}
        cpu = 0.0
        for n in range(passes + 1):
            if n == 1:
                cpu = hub.cpu()
            for i in range(len(queries)):
                calls = [("graphql", client, "/graphql", gql[i]),
                         ("es-graphql", es, *gql_es[i]), ("page", client, pages[i], None),
                         ("es-page", es, *page_es[i]), ("floor", bare["floor"], *page_es[i]),
                         ("floor-search", bare["floor-search"], *page_es[i])]  # fmt: skip
                for side, c, path, body in calls if i % 2 else calls[::-1]:
                    spent = c.get(path) if body is None else c.post(path, body)[0]
                    if n:
                        ms[side].append(spent)
        cpu = hub.cpu() - cpu
    finally:
        hub.stop()
        for server in floors.values():
            server.stop()
    per_request = 1000 * cpu / (2 * len(ms["page"]))
    print(f"\nshape d: {len(queries)} queries × {passes} passes; hub CPU {per_request:.2f} ms a "
          "request (GraphQL and page alike)")  # fmt: skip
    print("\n| side | n | median ms | p99 ms | Elasticsearch median ms | Elasticsearch p99 ms"
          " | median ratio | p99 ratio | over Elasticsearch, median per query |"
          "\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    missed = []
    for side, versus in (
        ("graphql", "es-graphql"),
        ("page", "es-page"),
        ("floor", "es-page"),
        ("floor-search", "es-page"),
    ):
        hub_ms, es_ms = ms[side], ms[versus]
        ratios = [peer.percentile(hub_ms, q) / peer.percentile(es_ms, q) for q in (0.5, 0.99)]
        marks = [f"{r:.2f}× {_mark(r <= SHAPE_D_MAX) if side in TARGETS else ''}".rstrip()
                 for r in ratios]  # fmt: skip
        over = peer.median([h - e for h, e in zip(hub_ms, es_ms, strict=True)])
        print(f"| {SHAPE_D_SIDES[side]} | {len(hub_ms)} | {peer.median(hub_ms):.2f} | "
              f"{peer.percentile(hub_ms, 0.99):.2f} | {peer.median(es_ms):.2f} | "
              f"{peer.percentile(es_ms, 0.99):.2f} | {marks[0]} | {marks[1]} | "
              f"{over:.2f} ms |")  # fmt: skip
        if side in TARGETS:
            missed += [f"d {side} {label} {r:.2f}× Elasticsearch's"
                       for label, r in zip(("median", "p99"), ratios, strict=True)
                       if r > SHAPE_D_MAX]  # fmt: skip
    budget = (SHAPE_D_MAX - 1) * peer.median(ms["es-page"])
    print(f"\nthe page's budget at {SHAPE_D_MAX}×: {budget:.2f} ms over Elasticsearch's median")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # type: ignore[union-attr]
    parser.add_argument("--rows", type=int, default=WANT_TRANSACTIONS, help="transactions")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of floor + indexer")
    parser.add_argument("--passes", type=int, default=2, help="measured passes of the queries")
    parser.add_argument("--py-spy", metavar="DIR", help="py-spy raw profiles into DIR")
    parser.add_argument("--search-only", action="store_true", help="no floor: index, search")
    parser.add_argument("--index-prefix", help="search the indices under this prefix, built before")
    parser.add_argument("--shape-d", metavar="DATABASE_URL",
                        help="only bench/graphql.py's shape d on this database (indexed under "
                             "--index-prefix, default bench-graphql, if not yet)")  # fmt: skip
    args = parser.parse_args()
    if args.shape_d:
        missed = shape_d(args.shape_d, args.index_prefix or "bench-graphql", args.passes)
        print("\nmissed: " + ("; ".join(missed) if missed else "none"))
        return 1 if missed else 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` cleans up
    libs = ", ".join(f"{n} {version(n)}" for n in ("elasticsearch", "strawberry-graphql",
                                                   "uvicorn", "SQLAlchemy", "psycopg"))  # fmt: skip
    started, load = datetime.now(UTC), loadavg()
    ensure_data(args.rows)
    engine = make_engine(DB_URL)
    client = Elasticsearch(ES_URL, request_timeout=120)
    with engine.connect() as conn:
        pg = conn.exec_driver_sql("SHOW server_version").scalar_one().split()[0]
    es = client.cat.nodes(h="version", format="json")[0]["version"]
    print(f"{started:%Y-%m-%d %H:%M} UTC; load {load}; python {sys.version.split()[0]}, "
          f"Elasticsearch {es}, PostgreSQL {pg}, {libs}",
          flush=True)  # fmt: skip
    drop_bench_indices(client, "bench-search-*")  # ours, left by an interrupted run
    try:
        pks = transaction_ids(engine, args.rows)
        with engine.connect() as conn:  # jieba's dictionary and a first batch, for neither side
            documents(conn, "transaction", pks[:BATCH])
        runs: list[IndexRun] = []
        kept = args.index_prefix or ""
        for r in range(0 if kept else 1 if args.search_only else args.repeat):
            sides = ("floor", "indexer") if r % 2 == 0 else ("indexer", "floor")
            for side in ("indexer",) if args.search_only else sides:
                prefix = f"{PREFIX}-{side}{r}"
                before = loadavg()
                print(f"round {r + 1}: {side}, {len(pks):,} documents…", flush=True)
                if side == "floor":
                    clock = floor_side(engine, prefix, pks)
                else:
                    clock = indexer_side(engine, prefix, pks, spy_to(args.py_spy, "indexer", r))
                runs.append(IndexRun(r + 1, side, len(pks), clock, (before, loadavg())))
                print(f"  {len(pks) / clock.total:,.0f} docs/s", flush=True)
                if side == "floor" or (r < args.repeat - 1 and not args.search_only):
                    drop_bench_indices(client, f"{prefix}-*")
                else:
                    kept = prefix
        missed = report_indexing(runs) if runs else []
        if not args.index_prefix:
            top_up(engine, kept)
        queries = pick_queries(engine)
        upgrade()  # other sessions add migrations, and the hub refuses an older database
        port = free_port()
        env = {"CAIGOU_ELASTICSEARCH_URL": ES_URL, "CAIGOU_INDEX_PREFIX": kept}
        hub = peer.Server("hub", port, [CAIGOU, "--database-url", DB_URL, "serve",
                                               "--port", str(port)],
                                 ROOT, env, OUT / "search-hub.log", "/healthz")  # fmt: skip
        hub.start()
        try:
            print(f"search: {len(queries)} queries, hub on :{port}, prefix {kept}", flush=True)
            latencies = search_latency(
                kept, queries, args.passes, hub, spy_to(args.py_spy, "hub", 0)
            )
        finally:
            hub.stop()
        missed += report_search(latencies, len(queries))
    finally:
        drop_bench_indices(client, f"{PREFIX}-*")
    print(f"\ndone in {(datetime.now(UTC) - started).total_seconds() / 60:.1f} min; load "
          f"{loadavg()}; missed: " + ("; ".join(missed) if missed else "none"))  # fmt: skip
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
