"""Load and soak: a mixed workload against one `caigou serve` on loopback, for a set time.

Builds the demo database (`caigou demo --no-serve`) and a few days of dumps (`caigou
export`) in a temporary folder, or takes an existing database with `--database-url` (and
its dumps with `--export-root`); adds a transaction publisher for the run; starts `caigou
serve` on a free 127.0.0.1 port; then 16 clients (`--concurrency`) send, for `--minutes`,
a weighted mix of web pages (`/`, `/projects/…`, `/parties/…`, `/transactions`,
`/transparency`), GraphQL shapes (a transactions page, a project with its notices, a party
with its transactions, stats, search), `/downloads/` files and publishing batches of 20
transactions with the token. At the end it stops the hub and prints the requests, errors by
kind (429s, which the rate limits intend, counted apart), p50/p99 latency per kind and the
hub's RSS after warm-up and at the end. Exit status 1 when any error other than 429 came
back. Loopback only; it stops by itself.

    .venv/bin/python bench/load.py [--minutes 10] [--concurrency 16]
        [--database-url URL --export-root DIR] [--transactions N] [--json OUT]
        [--rate-limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script, this folder leads sys.path, and bench/graphql.py would stand in for
# graphql-core: the folder goes before anything else is imported.
HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if p != HERE]

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402
from stdnum.cn import uscc  # noqa: E402

from schema.db import make_engine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CAIGOU = str(Path(sys.executable).with_name("caigou"))
HOST = "127.0.0.1"  # loopback only, always
BATCH = 20


@dataclass
class Targets:
    """What the workload asks for, read from the database before the run."""

    ocids: list[str]
    party_ids: list[int]
    terms: list[str]
    downloads: list[str] = field(default_factory=list)


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    limited: Counter[str] = field(default_factory=Counter)  # 429: intended
    published: int = 0


def caigou(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([CAIGOU, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"caigou {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def prepare(args: argparse.Namespace, folder: Path) -> dict[str, str]:
    """The environment of the hub: the demo database and dumps built here unless given."""
    env = {**os.environ, "COLUMNS": "200"}
    env["CAIGOU_DATABASE_URL"] = args.database_url or f"sqlite:///{folder / 'caigou.db'}"
    env["CAIGOU_EXPORT_ROOT"] = args.export_root or str(folder / "exports")
    env["CAIGOU_ELASTICSEARCH_URL"] = args.elasticsearch_url or ""
    # Every client here comes from 127.0.0.1, where in the field each is its own address:
    # the per-client limit is off unless asked for (`--rate-limit 600` shows the 429s).
    env["CAIGOU_RATE_LIMIT"] = str(args.rate_limit)
    if not args.database_url:
        print(f"building the demo database in {folder} …", flush=True)
        caigou(env, "demo", "--out", str(folder / "demo"), "--no-serve",
               "--transactions", str(args.transactions))  # fmt: skip
    if not args.export_root:
        for day in busiest_days(env["CAIGOU_DATABASE_URL"], args.export_days):
            caigou(env, "export", "--date", day)
    return env


def busiest_days(url: str, count: int) -> list[str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT substr(CAST(published_at AS TEXT), 1, 10) AS day FROM notices "
            "GROUP BY day ORDER BY count(*) DESC, day LIMIT :n"), {"n": count}).all()  # fmt: skip
    engine.dispose()
    return [r[0] for r in rows]


def targets(url: str) -> Targets:
    engine = make_engine(url)
    with engine.connect() as conn:
        q = lambda sql: [r[0] for r in conn.execute(text(sql))]  # noqa: E731
        found = Targets(
            ocids=q("SELECT ocid FROM projects ORDER BY notice_count DESC, id LIMIT 100"),
            party_ids=q("SELECT supplier_id FROM transactions GROUP BY supplier_id "
                        "ORDER BY count(*) DESC LIMIT 50")
            + q("SELECT purchaser_id FROM projects WHERE purchaser_id IS NOT NULL "
                "GROUP BY purchaser_id ORDER BY count(*) DESC LIMIT 50"),
            terms=q("SELECT item_name FROM transactions GROUP BY item_name "
                    "ORDER BY count(*) DESC LIMIT 30")
            + q("SELECT model FROM transactions GROUP BY model ORDER BY count(*) DESC LIMIT 30"),
        )  # fmt: skip
    engine.dispose()
    return found


def add_publisher(env: dict[str, str]) -> str:
    name = f"bench-load-{os.getpid()}-{int(time.time())}"
    printed = caigou(env, "publisher", "add", name, "--role", "trading_platform",
                     "--region", "220000", "--kind", "transaction")  # fmt: skip
    return printed.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident memory of the hub and its worker processes, from /proc."""
    family, total = {pid}, 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                family.add(int(entry.name))
    for member in family:
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


# --- the workload ------------------------------------------------------------------------

GQL_TRANSACTIONS = """query ($after: String) { transactions(first: 50, after: $after,
  orderBy: {field: AMOUNT, direction: DESC}, filter: {regionCode: "220000"}) {
  totalCount pageInfo { endCursor hasNextPage }
  nodes { id orderId itemName brand model amount orderDate supplier { name uscc } } } }"""
GQL_PROJECT = """query ($ocid: String!) { project(ocid: $ocid) { ocid title status budget
  purchaser { name } notices { noticeType title publishedAt sources { sourceSite } }
  awards { amount suppliers { name } } contracts { amount dateSigned } flags { code } } }"""
GQL_PARTY = """query ($id: ID!) { node(id: $id) { ... on Party { name uscc penaltyCount
  transactions(as: SUPPLIER, first: 20) { totalCount nodes { orderId amount } }
  awards { amount } } } }"""
GQL_STATS = """query ($by: [StatsGroup!]!) { transactionStats(groupBy: $by, limit: 20) {
  keys { value } count amount { sum avg } } }"""
GQL_SEARCH = """query ($q: String!) { search(query: $q, first: 10) { totalCount
  edges { score node { ... on Transaction { orderId itemName amount }
                       ... on Notice { title } } }
  facets { kind { key count } } } }"""
GROUPS = ["MONTH", "REGION", "CATEGORY", "BRAND", "SUPPLIER", "PURCHASER"]


def party_gid(pk: int) -> str:
    return base64.urlsafe_b64encode(f"Party:{pk}".encode()).decode().rstrip("=")


def credit_code(rng: random.Random) -> str:
    body = "9122010" + "".join(rng.choice("0123456789") for _ in range(10))
    return body + uscc.calc_check_digit(body)


class Workload:
    def __init__(self, base: str, found: Targets, token: str, tally: Tally) -> None:
        self.base, self.found, self.token, self.tally = base, found, token, tally
        self.rng = random.Random(20221)
        self.sequence = 0
        self.kinds: dict[str, tuple[int, Callable[[httpx.AsyncClient], Awaitable[None]]]] = {
            "page /": (6, lambda c: self.page(c, "/", {"q": self.term()})),
            "page /projects": (8, lambda c: self.page(c, f"/projects/{self.pick(found.ocids)}")),
            "page /parties": (8, lambda c: self.page(c, f"/parties/{self.pick(found.party_ids)}")),
            "page /transactions": (6, lambda c: self.page(c, "/transactions", {"q": self.term()})),
            "page /transparency": (3, lambda c: self.page(c, "/transparency")),
            "graphql transactions": (10, lambda c: self.graphql(c, GQL_TRANSACTIONS, {})),
            "graphql project": (8, lambda c: self.graphql(
                c, GQL_PROJECT, {"ocid": self.pick(found.ocids)})),
            "graphql party": (6, lambda c: self.graphql(
                c, GQL_PARTY, {"id": party_gid(self.pick(found.party_ids))})),
            "graphql stats": (5, lambda c: self.graphql(c, GQL_STATS, {"by": [self.pick(GROUPS)]})),
            "graphql search": (8, lambda c: self.graphql(c, GQL_SEARCH, {"q": self.term()})),
            "download": (6, self.download),
            "publish": (2, self.publish),
        }  # fmt: skip
        if not found.downloads:
            del self.kinds["download"]

    def pick(self, values: list[Any]) -> Any:
        return self.rng.choice(values)

    def term(self) -> str:
        return str(self.pick(self.found.terms))

    def choose(self) -> tuple[str, Callable[[httpx.AsyncClient], Awaitable[None]]]:
        names = list(self.kinds)
        name = self.rng.choices(names, [self.kinds[n][0] for n in names])[0]
        return name, self.kinds[name][1]

    async def page(self, client: httpx.AsyncClient, path: str, params: Any = None) -> None:
        response = await client.get(path, params=params)
        self.check_status(response)

    async def download(self, client: httpx.AsyncClient) -> None:
        response = await client.get(self.pick(self.found.downloads))
        self.check_status(response)

    async def graphql(self, client: httpx.AsyncClient, query: str, variables: dict[str, Any],
                      token: str | None = None) -> dict[str, Any] | None:  # fmt: skip
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await client.post("/graphql", json={"query": query, "variables": variables},
                                     headers=headers)  # fmt: skip
        self.check_status(response)
        if response.status_code != 200:
            return None
        body = response.json()
        for error in body.get("errors") or []:
            code = (error.get("extensions") or {}).get("code") or error.get("message", "")[:60]
            raise Failure(f"graphql {code}")
        return body.get("data")

    async def publish(self, client: httpx.AsyncClient) -> None:
        self.sequence += 1
        rows = [self.order(f"LOAD{os.getpid()}-{self.sequence:06d}-{i:02d}") for i in range(BATCH)]
        data = await self.graphql(client, PUBLISH, {"records": rows}, self.token)
        if data is not None:
            result = data["publish"]
            if result["status"] != "accepted":
                raise Failure(f"publish {result['status']}: {result['refusals'][:1]}")
            self.tally.published += result["accepted"]

    def order(self, order_id: str) -> dict[str, str]:
        quantity, price = self.rng.randint(1, 20), self.rng.randint(100, 9_999)
        return {
            "order_id": order_id, "channel": "emall", "purchaser_name": "长春市第一中学",
            "purchaser_uscc": credit_code(self.rng), "supplier_name": "长春市压测科技有限公司",
            "supplier_uscc": credit_code(self.rng), "item_name": "复印纸", "brand": "得力",
            "model": "A4 70g", "category_code": "A05040101", "quantity": str(quantity),
            "unit": "箱", "unit_price": f"{price}.00", "amount": f"{quantity * price}.00",
            "order_date": "2024-06-01", "region_code": "220102", "agreement_id": "",
        }  # fmt: skip

    def check_status(self, response: httpx.Response) -> None:
        if response.status_code == 429:
            raise Limited()
        if response.status_code >= 400:
            raise Failure(f"HTTP {response.status_code}")


PUBLISH = """mutation ($records: [JSON!]!) { publish(kind: TRANSACTION, records: $records) {
  status accepted refusals { position field reason } } }"""


class Failure(Exception):
    """A response that is not what a working hub answers."""


class Limited(Exception):
    """429: a rate limit did its job."""


async def client_loop(work: Workload, client: httpx.AsyncClient, until: float) -> None:
    while time.monotonic() < until:
        name, call = work.choose()
        started = time.perf_counter()
        try:
            await call(client)
        except Limited:
            work.tally.limited[name] += 1
            continue
        except Failure as failure:
            work.tally.errors[(name, str(failure))] += 1
        except httpx.HTTPError as exc:
            work.tally.errors[(name, type(exc).__name__)] += 1
        work.tally.latencies[name].append(time.perf_counter() - started)


async def run_load(args: argparse.Namespace, base: str, work: Workload, pid: int) -> dict[str, Any]:
    seconds = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(60.0, seconds * 0.2)
    started = time.monotonic()
    until = started + seconds
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        loops = [
            asyncio.create_task(client_loop(work, client, until)) for _ in range(args.concurrency)
        ]
        await asyncio.sleep(warmup)
        rss_warm = rss_kib(pid)
        print(f"warm-up over ({warmup:.0f} s): hub RSS {rss_warm / 1024:.0f} MiB", flush=True)
        await asyncio.gather(*loops)
    elapsed = time.monotonic() - started
    return {"seconds": round(elapsed, 1), "rss_warm_kib": rss_warm, "rss_end_kib": rss_kib(pid)}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def report(tally: Tally, measured: dict[str, Any], concurrency: int) -> dict[str, Any]:
    kinds = sorted(set(tally.latencies) | {k for k, _ in tally.errors} | set(tally.limited))
    rows = []
    for kind in kinds:
        lat = tally.latencies.get(kind, [])
        errors = sum(n for (k, _), n in tally.errors.items() if k == kind)
        rows.append({"kind": kind, "requests": len(lat) + tally.limited[kind], "errors": errors,
                     "limited_429": tally.limited[kind],
                     "p50_ms": round(percentile(lat, 0.50) * 1000, 1),
                     "p99_ms": round(percentile(lat, 0.99) * 1000, 1)})  # fmt: skip
    total = sum(r["requests"] for r in rows)
    everything = [x for lat in tally.latencies.values() for x in lat]
    growth = (measured["rss_end_kib"] - measured["rss_warm_kib"]) / max(1, measured["rss_warm_kib"])
    print(
        f"\n{total:,} requests in {measured['seconds']:.0f} s at concurrency {concurrency} "
        f"({total / measured['seconds']:.1f}/s); {tally.published:,} transactions published"
    )
    print(f"{'kind':<22}{'requests':>9}{'errors':>8}{'429':>6}{'p50 ms':>9}{'p99 ms':>9}")
    for r in rows:
        print(f"{r['kind']:<22}{r['requests']:>9,}{r['errors']:>8}{r['limited_429']:>6}"
              f"{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}")  # fmt: skip
    print(f"{'all':<22}{total:>9,}{sum(r['errors'] for r in rows):>8}"
          f"{sum(r['limited_429'] for r in rows):>6}{percentile(everything, 0.5) * 1000:>9.1f}"
          f"{percentile(everything, 0.99) * 1000:>9.1f}")  # fmt: skip
    if tally.errors:
        print("\nerrors by kind:")
        for (kind, what), n in tally.errors.most_common():
            print(f"  {n:>6} {kind}: {what}")
    print(f"\nhub RSS: {measured['rss_warm_kib'] / 1024:.0f} MiB after warm-up, "
          f"{measured['rss_end_kib'] / 1024:.0f} MiB at the end ({growth:+.1%})")  # fmt: skip
    return {
        **measured,
        "requests": total,
        "rss_growth": round(growth, 4),
        "kinds": rows,
        "published": tally.published,
        "errors": [{"kind": k, "error": e, "count": n} for (k, e), n in tally.errors.items()],
    }


def tracebacks(logged: str) -> dict[str, int]:
    """The exceptions the hub logged (the last line of each traceback), most frequent first."""
    found: Counter[str] = Counter()
    for block in logged.split("Traceback (most recent call last):")[1:]:
        lines = [line for line in block.splitlines() if line and not line.startswith(" ")]
        if lines:
            found[lines[0][:160]] += 1
    for what, n in found.most_common(10):
        print(f"  the hub logged {n} × {what}")
    return dict(found)


def serve(env: dict[str, str], folder: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (folder / "serve.log").open("wb")
    hub = subprocess.Popen(
        [CAIGOU, "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            sys.exit(f"the hub stopped at start; see {folder / 'serve.log'}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code < 500:
                return hub, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    hub.kill()
    sys.exit("the hub did not answer /healthz within 60 s")


def stop(hub: subprocess.Popen[bytes]) -> None:
    hub.send_signal(signal.SIGTERM)
    try:
        hub.wait(timeout=15)
    except subprocess.TimeoutExpired:
        hub.kill()
        hub.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds before the first RSS reading (default: 20%% of the run, <= 60)",
    )
    parser.add_argument("--database-url", help="serve this database instead of a new demo one")
    parser.add_argument("--export-root", help="its dumps (default: export a few days here)")
    parser.add_argument("--elasticsearch-url", help="search on Elasticsearch (default: none)")
    parser.add_argument("--transactions", type=int, default=20_000, help="demo size")
    parser.add_argument("--export-days", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--rate-limit", type=int, default=0,
        help="CAIGOU_RATE_LIMIT for the hub (default 0: the clients share one address)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="caigou-load-") as tmp:
        folder = Path(tmp)
        env = prepare(args, folder)
        found = targets(env["CAIGOU_DATABASE_URL"])
        token = add_publisher(env)
        hub, base = serve(env, folder, args.workers)
        try:
            listing = httpx.get(f"{base}/downloads/", params={"format": "json"}, timeout=30).json()
            found.downloads = [f["url"] for day in listing["days"] for f in day["files"]]
            tally = Tally()
            work = Workload(base, found, token, tally)
            print(
                f"hub {base} (pid {hub.pid}); {args.concurrency} clients for "
                f"{args.minutes:g} min; {len(found.downloads)} download files",
                flush=True,
            )
            measured = asyncio.run(run_load(args, base, work, hub.pid))
        finally:
            stop(hub)
            logged = (folder / "serve.log").read_text(errors="replace")
        figures = report(tally, measured, args.concurrency)
        figures["server_tracebacks"] = tracebacks(logged)
        if args.json:
            args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n")
    sys.exit(1 if tally.errors else 0)


if __name__ == "__main__":
    main()
