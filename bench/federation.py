"""Federation throughput and lag: N transactions pushed platform → province → central
against a direct publish of the same records at a central hub (issue 17, design §3).

`caigou serve` processes on loopback, SQLite each. Three figures:

- Direct: a central hub's own ingest. The N records are published to it over GraphQL in
  batches of 500, timed to the last answer.
- Push rate (the must-show, target ≥ 0.7× direct): records already accepted at the
  platform (published there untimed, as a platform holds its day's records) reaching the
  central hub through the province. The platform's upstream is paused while they are
  published, and the platform left to finish indexing them for its own search; timed from
  un-pausing it until the central hub holds all N, with both `caigou pusher run` processes
  (platform → province, province → central; poll 0.1 s) running. The province and the
  central hub index what they receive meanwhile, as the direct hub does while it ingests.
- Live: a fresh platform/province/central set, the N records published at the platform
  while both pushers run, timed from the first publish until the central hub holds all N.
  Three ingests (platform, province, central) share the machine here, so this ratio is
  bounded by about 1/3 of the direct rate times the cores: reported, not the target.
  End-to-end lag per record (its arrival at the central hub − its arrival at the platform:
  the first and last hops of its path at the central hub): p50 and p99.

Rounds (`--repeat`, default 3) alternate a direct run and a push run, each on fresh hubs;
the must-show compares their medians (one run of each moved ±20 % with the machine's load).

    flock /tmp/caigou-bench.lock .venv/bin/python bench/federation.py --records 20000
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
import orjson
from sqlalchemy import Engine, func, select
from stdnum.cn import uscc

from hub.federation.upstreams import add_upstream, set_paused
from hub.publishing.publishers import add_publisher
from schema.db import make_engine, upgrade
from schema.tables import RECORD_SOURCES, TRANSACTIONS
from schema.types import PublisherRole, RecordKind

PLATFORM = "吉林省公共资源交易平台"
PROVINCE = "吉林省政府采购网"
CAIGOU = [sys.executable, "-m", "hub.cli.main"]
BATCH = 500
SCHOOL = "12220000412758693" + uscc.calc_check_digit("12220000412758693")
DEALER = "91220101MA0Y12345" + uscc.calc_check_digit("91220101MA0Y12345")
PUBLISH = """mutation($r: [JSON!]!) { publish(kind: TRANSACTION, records: $r) {
  accepted rejected refusals { field reason } } }"""


def port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rows(n: int) -> list[dict[str, str]]:
    """N distinct e-mall orders in Jilin (valid credit and category codes)."""
    return [{
        "order_id": f"DD2025{i:08d}", "channel": "emall",
        "purchaser_name": "吉林省实验中学", "purchaser_uscc": SCHOOL,
        "supplier_name": "长春市博远科技有限公司", "supplier_uscc": DEALER,
        "item_name": "台式计算机", "brand": "联想", "model": "启天M4360",
        "category_code": "A02010105", "quantity": "1", "unit": "台",
        "unit_price": f"{4000 + i % 997}.00", "amount": f"{4000 + i % 997}.00",
        "order_date": "2025-03-01", "region_code": "220102", "agreement_id": "",
    } for i in range(n)]  # fmt: skip


class Hub:
    def __init__(self, root: Path, key: str, accounts: list[tuple[str, PublisherRole]]) -> None:
        self.folder = root / key
        self.folder.mkdir()
        self.name = f"http://hub.{key}.example.gov.cn"
        self.url = f"sqlite:///{self.folder / 'hub.db'}"
        self.engine: Engine = make_engine(self.url)
        upgrade(self.engine)
        self.tokens: dict[str, str] = {}
        with self.engine.begin() as conn:
            for who, role in accounts:
                _, self.tokens[who] = add_publisher(
                    conn, who, role, ["220000"], [RecordKind.notice, RecordKind.transaction]
                )
        self.base = f"http://127.0.0.1:{port()}"
        self.env = {**os.environ, "CAIGOU_DATABASE_URL": self.url, "CAIGOU_PUBLIC_URL": self.name,
                    "CAIGOU_EXPORT_ROOT": str(self.folder / "x"), "CAIGOU_ELASTICSEARCH_URL": "",
                    "CAIGOU_WORKERS": "0", "CAIGOU_RATE_LIMIT": "0"}  # fmt: skip
        with (self.folder / "serve.log").open("w") as log:
            self.server = subprocess.Popen(
                [*CAIGOU, "serve", "--port", self.base.rsplit(":", 1)[1]], env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.server.poll() is not None:
                raise SystemExit(f"{key} did not start: {(self.folder / 'serve.log').read_text()}")
            time.sleep(0.2)

    def upstream(self, to: Hub, who: str) -> subprocess.Popen[bytes]:
        """Add `to` as this hub's upstream and start `caigou pusher run` for it."""
        token = self.folder / "up.token"
        token.write_text(to.tokens[who])
        with self.engine.begin() as conn:
            add_upstream(conn, "up", to.base, str(token), [RecordKind.transaction])
        with (self.folder / "pusher.log").open("w") as log:
            return subprocess.Popen([*CAIGOU, "pusher", "run", "--interval", "0.1"],
                                    env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # fmt: skip

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(TRANSACTIONS)).scalar_one())

    def stop(self) -> None:
        os.killpg(self.server.pid, signal.SIGTERM)
        self.server.wait(30)
        self.engine.dispose()


def publish_all(hub: Hub, who: str, records: list[dict[str, str]]) -> None:
    with httpx.Client(timeout=300) as client:
        for start in range(0, len(records), BATCH):
            answer = client.post(f"{hub.base}/graphql", json={
                "query": PUBLISH, "variables": {"r": records[start : start + BATCH]}},
                headers={"authorization": f"Bearer {hub.tokens[who]}"}).json()  # fmt: skip
            result = answer["data"]["publish"]
            assert result["rejected"] == 0, result["refusals"][:2]


def lags(central: Hub) -> list[float]:
    """Seconds from each record's arrival at the platform to its arrival at the central hub."""
    with central.engine.connect() as conn:
        query = select(RECORD_SOURCES.c.hops).order_by(RECORD_SOURCES.c.id).offset(1)
        paths = conn.execute(query).scalars().all()  # the warm-up record left out
    out = []
    for text in paths:
        hops = orjson.loads(text)
        first, last = (datetime.fromisoformat(hops[i]["receivedAt"]) for i in (0, -1))
        out.append((last - first).total_seconds())
    return sorted(out)


def wait_for(hub: Hub, count: int, pushers: list[subprocess.Popen[bytes]], root: Path) -> None:
    while hub.count() < count:
        time.sleep(0.05)
        if any(pusher.poll() is not None for pusher in pushers):
            raise SystemExit(f"a pusher stopped: see {root}/*/pusher.log")


def federation(root: Path, key: str) -> tuple[list[Hub], list[subprocess.Popen[bytes]]]:
    """platform → province → central, both pushers running; a warm-up record pushed through
    (every process up, every connection open)."""
    platform = Hub(root, f"{key}-platform", [(PLATFORM, PublisherRole.trading_platform)])
    province = Hub(root, f"{key}-province", [(PLATFORM, PublisherRole.trading_platform)])
    central = Hub(root, f"{key}-central", [(PROVINCE, PublisherRole.regional_site)])
    pushers = [platform.upstream(province, PLATFORM), province.upstream(central, PROVINCE)]
    publish_all(platform, PLATFORM, rows(1))
    wait_for(central, 1, pushers, root)
    return [platform, province, central], pushers


def pushed(root: Path, records: list[dict[str, str]], hubs: list[Hub],
           pushers: list[subprocess.Popen[bytes]]) -> float:  # fmt: skip
    """Seconds to push records already held at the platform on to the central hub."""
    platform, _, central = hubs[-3:]
    with platform.engine.begin() as conn:
        set_paused(conn, "up", True)
    time.sleep(0.5)  # a push under way ends; the pusher reads the pause each turn
    publish_all(platform, PLATFORM, records)
    assert platform.count() == len(records) + 1 and central.count() == 1
    quiet(platform)
    started = time.perf_counter()
    with platform.engine.begin() as conn:
        set_paused(conn, "up", False)
    wait_for(central, len(records) + 1, pushers, root)
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quiet(hub: Hub, deadline: float = 300) -> None:
    """Wait until the hub is idle (under 5 % of a core over 0.5 s): the platform indexes the
    records just published for its own search in the background, which is its day's work,
    not the push's."""
    stop_at = time.monotonic() + deadline
    while time.monotonic() < stop_at:
        before = cpu_seconds(hub.server.pid)
        time.sleep(0.5)
        if cpu_seconds(hub.server.pid) - before < 0.025:
            return
    raise SystemExit(f"{hub.name} stayed busy for {deadline:.0f} s")


def live(root: Path, records: list[dict[str, str]], hubs: list[Hub],
         pushers: list[subprocess.Popen[bytes]]) -> float:  # fmt: skip
    """Seconds from the first publish at the platform until the central hub holds all."""
    platform, _, central = hubs[-3:]
    started = time.perf_counter()
    publish_all(platform, PLATFORM, records)
    wait_for(central, len(records) + 1, pushers, root)
    return time.perf_counter() - started


def stop(hubs: list[Hub], pushers: list[subprocess.Popen[bytes]]) -> None:
    for pusher in pushers:
        if pusher.poll() is None:
            os.killpg(pusher.pid, signal.SIGTERM)
            pusher.wait(30)
    for hub in hubs:
        hub.stop()
    pushers.clear()
    hubs.clear()


def direct_once(root: Path, key: str, warm: dict[str, str],
                records: list[dict[str, str]], hubs: list[Hub]) -> float:  # fmt: skip
    """Seconds for a fresh central hub to take the records published to it directly."""
    direct = Hub(root, key, [(PROVINCE, PublisherRole.regional_site)])
    hubs.append(direct)
    publish_all(direct, PROVINCE, [warm])
    started = time.perf_counter()
    publish_all(direct, PROVINCE, records)
    took = time.perf_counter() - started
    assert direct.count() == len(records) + 1
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds of direct then push, each on fresh hubs (medians compared)",
    )
    args = parser.parse_args()
    warm, *records = rows(args.records + 1)  # one record first: every process is up
    root = Path(tempfile.mkdtemp(prefix="caigou-fed-"))
    hubs: list[Hub] = []
    pushers: list[subprocess.Popen[bytes]] = []
    n = len(records)
    direct_s: list[float] = []
    push_s: list[float] = []
    try:
        print(f"records: {n:,}; rounds of direct then push on fresh hubs: {args.repeat}")
        for round_ in range(args.repeat):
            direct_s.append(direct_once(root, f"direct{round_}", warm, records, hubs))
            stop(hubs, pushers)
            three, started_pushers = federation(root, f"push{round_}")
            hubs += three
            pushers += started_pushers
            push_s.append(pushed(root, records, hubs, pushers))
            stop(hubs, pushers)
            print(f"round {round_ + 1}: direct {direct_s[-1]:.2f} s ({n / direct_s[-1]:,.0f} "
                  f"records/s), push {push_s[-1]:.2f} s ({n / push_s[-1]:,.0f} records/s), "
                  f"ratio {direct_s[-1] / push_s[-1]:.2f}", flush=True)  # fmt: skip

        three, started_pushers = federation(root, "live")
        hubs += three
        pushers += started_pushers
        live_s = live(root, records, hubs, pushers)
        lag = lags(hubs[-1])

        direct_rate = n / statistics.median(direct_s)
        push_rate = n / statistics.median(push_s)
        live_rate = n / live_s
        print(f"direct publish at the central hub (median): {statistics.median(direct_s):.2f} s, "
              f"{direct_rate:,.0f} records/s")  # fmt: skip
        print(f"push rate (held at the platform → province → central, median): "
              f"{statistics.median(push_s):.2f} s, {push_rate:,.0f} records/s")  # fmt: skip
        print(f"push ratio (the must-show, medians): {push_rate / direct_rate:.2f} "
              "(target ≥ 0.70)")  # fmt: skip
        print(f"live (published at the platform while both pushers run): {live_s:.1f} s, "
              f"{live_rate:,.0f} records/s, ratio {live_rate / direct_rate:.2f}")  # fmt: skip
        print(f"live end-to-end lag (platform arrival → central arrival): p50 "
              f"{statistics.median(lag):.2f} s, p99 {lag[int(0.99 * (len(lag) - 1))]:.2f} s, "
              f"max {lag[-1]:.2f} s")  # fmt: skip
    finally:
        stop(hubs, pushers)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
