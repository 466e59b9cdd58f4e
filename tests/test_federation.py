"""Federation across three real hub processes on loopback (issue 17, design §3): a trading
platform's hub pushes to the provincial hub, which pushes to the central hub; each is
`caigou serve` on its own SQLite database, and the pusher is the product's own."""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import Engine, func, select

from hub.federation.pusher import PushFailed, push_once
from hub.federation.status import statuses
from hub.federation.upstreams import add_upstream
from hub.publishing.publishers import add_publisher
from schema.db import make_engine
from schema.ocds import BEIJING
from schema.tables import PROJECTS, PUSH_PARKED, RECORD_SOURCES, TRANSACTIONS
from schema.types import PublisherRole, RecordKind
from tests.factories import project_releases, transaction
from tests.hub_server import free_port, graphql
from tests.test_push_timeliness import LAG_FIELDS, workdays
from tests.web_client import web

PLATFORM = "吉林省公共资源交易平台"
PROVINCE = "吉林省政府采购网"
PLATFORM_SITE = "http://www.jl.gov.cn/ggzy"
PROVINCE_SITE = "http://www.ccgp-jilin.gov.cn"
KINDS = [RecordKind.notice, RecordKind.transaction]
OCID = "ocds-cghub1-JLZC2024-0153"
SOURCES = """{ notices(first: 10) { nodes { releaseId sources {
  publisher { name } originalPublisher sourceSite hops { hub } } } } }"""


@dataclass
class Hub:
    """One `caigou serve` process and its database."""

    name: str  # its public URL: its name on relay paths
    folder: Path
    url: str = ""
    port: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    engine: Engine | None = None

    @property
    def db(self) -> Engine:
        assert self.engine is not None
        return self.engine

    def start(self) -> None:
        """Serve (again: the same port and database after a kill) and wait until it answers."""
        self.port = self.port or free_port()
        env = {**os.environ, "CAIGOU_DATABASE_URL": self.url,
               "CAIGOU_EXPORT_ROOT": str(self.folder / "exports"), "CAIGOU_ELASTICSEARCH_URL": "",
               "CAIGOU_WORKERS": "0", "CAIGOU_PUBLIC_URL": self.name,
               "CAIGOU_RATE_LIMIT": "0"}  # fmt: skip
        argv = [sys.executable, "-m", "hub.cli.main", "serve", "--port", str(self.port)]
        with (self.folder / "serve.log").open("a") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            text=True, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 90
        while True:
            assert self.process.poll() is None, (self.folder / "serve.log").read_text()
            try:
                if web.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "caigou serve did not answer within 90 s"
            time.sleep(0.2)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def publish(self, who: str, kind: str, records: list) -> dict:
        query = f"""mutation($r: [JSON!]!) {{ publish(kind: {kind}, records: $r) {{
          status accepted duplicates rejected refusals {{ field reason }} }} }}"""
        answer = graphql(self.base, query, {"r": records}, self.tokens[who])
        assert "errors" not in answer, answer
        return answer["data"]["publish"]


@contextmanager
def federation(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[Hub, Hub, Hub]]:
    """platform → province → central, and the platform straight to central too (the issue:
    a record arriving from the platform and from the provincial site is one notice)."""
    import shutil

    accounts = {
        "platform": [(PLATFORM, PublisherRole.trading_platform, PLATFORM_SITE)],
        "province": [(PLATFORM, PublisherRole.trading_platform, PLATFORM_SITE),
                     (PROVINCE, PublisherRole.regional_site, PROVINCE_SITE)],
        "central": [(PLATFORM, PublisherRole.trading_platform, PLATFORM_SITE),
                    (PROVINCE, PublisherRole.regional_site, PROVINCE_SITE)],
    }  # fmt: skip
    hubs = {}
    for key in accounts:
        folder = tmp_path / key
        folder.mkdir()
        shutil.copy(sqlite_template, folder / "hub.db")
        hub = Hub(f"http://hub.{key}.example.gov.cn", folder, f"sqlite:///{folder / 'hub.db'}")
        hub.engine = make_engine(hub.url)
        with hub.db.begin() as conn:
            for who, role, site in accounts[key]:
                _, hub.tokens[who] = add_publisher(conn, who, role, ["220000"], KINDS, site)
        hubs[key] = hub
    platform, province, central = hubs["platform"], hubs["province"], hubs["central"]

    def upstream(at: Hub, name: str, to: Hub, who: str) -> None:
        token_file = at.folder / f"{name}.token"
        token_file.write_text(to.tokens[who] + "\n")
        with at.db.begin() as conn:
            add_upstream(conn, name, to.base, str(token_file), KINDS)

    try:
        for hub in hubs.values():
            hub.start()
        upstream(platform, "province", province, PLATFORM)
        upstream(platform, "central", central, PLATFORM)
        upstream(province, "central", central, PROVINCE)
        yield platform, province, central
    finally:
        for hub in hubs.values():
            if hub.process and hub.process.poll() is None:
                hub.kill(signal.SIGTERM)
            hub.db.dispose()


@pytest.fixture
def hubs(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[Hub, Hub, Hub]]:
    with federation(tmp_path, sqlite_template) as three:
        yield three


def parked(hub: Hub) -> int:
    with hub.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(PUSH_PARKED)).scalar_one())


def test_a_notice_reaches_the_central_hub_with_its_hops_and_one_notice_two_sources(hubs):
    platform, province, central = hubs
    tender = project_releases(OCID)[0]
    assert platform.publish(PLATFORM, "NOTICE", [tender])["accepted"] == 1

    to_province = push_once(platform.db, "province")
    assert (to_province.sent, to_province.accepted, to_province.parked) == (1, 1, 0)
    onward = push_once(province.db, "central")
    assert (onward.sent, onward.accepted) == (1, 1)
    direct = push_once(platform.db, "central")  # the platform pushes the same notice directly
    assert (direct.sent, direct.accepted, direct.duplicates) == (1, 0, 1)

    answer = graphql(central.base, SOURCES)
    [notice] = answer["data"]["notices"]["nodes"]
    assert notice["releaseId"] == tender["id"]
    by = {s["publisher"]["name"]: s for s in notice["sources"]}
    assert set(by) == {PROVINCE, PLATFORM}
    assert {s["originalPublisher"] for s in by.values()} == {PLATFORM}
    assert {s["sourceSite"] for s in by.values()} == {PLATFORM_SITE}
    assert [h["hub"] for h in by[PROVINCE]["hops"]] == [platform.name, province.name, central.name]
    assert [h["hub"] for h in by[PLATFORM]["hops"]] == [platform.name, central.name]

    # Pushing again sends nothing; nothing was parked anywhere.
    assert push_once(province.db, "central").sent == 0
    assert parked(platform) == parked(province) == 0
    with province.db.connect() as conn:
        [status] = statuses(conn)
    assert (status.backlog, status.parked, status.last_error) == (0, 0, None)


def held(hub: Hub) -> list[tuple[str, str]]:
    with hub.db.connect() as conn:
        return sorted(conn.execute(select(TRANSACTIONS.c.order_id, TRANSACTIONS.c.content_hash)))


def test_the_central_hub_killed_mid_push_gets_every_record_exactly_once(hubs):
    _platform, province, central = hubs
    orders = [transaction(f"DD2024{i:08d}", amount=f"{1000 + i}.00", quantity="1",
                          unit_price=f"{1000 + i}.00") for i in range(1_500)]  # fmt: skip
    for start in range(0, len(orders), 500):
        assert province.publish(PLATFORM, "TRANSACTION", orders[start : start + 500])[
            "accepted"] == 500  # fmt: skip

    failures: list[str] = []
    done = threading.Event()

    def pusher() -> None:
        """The pusher as it runs: a failed batch is retried until the upstream answers."""
        while True:
            try:
                push_once(province.db, "central")
                done.set()
                return
            except PushFailed as exc:
                failures.append(str(exc))
                time.sleep(0.2)

    thread = threading.Thread(target=pusher, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while True:  # kill the central hub once the first batch is in and more are on the way
        with central.db.connect() as conn:
            arrived = conn.execute(select(func.count()).select_from(TRANSACTIONS)).scalar_one()
        if 0 < arrived < len(orders):
            break
        assert time.monotonic() < deadline and not done.is_set(), "no batch was stored"
        time.sleep(0.005)
    central.kill()
    time.sleep(1.0)
    central.start()
    assert done.wait(180), failures
    thread.join(10)

    assert failures, "the kill cut no push short"
    assert held(central) == held(province)  # counts and content hashes
    with central.db.connect() as conn:
        deliveries = conn.execute(select(func.count()).select_from(RECORD_SOURCES)).scalar_one()
    assert deliveries == len(orders)  # one source each: nothing arrived twice
    assert parked(province) == 0
    with province.db.connect() as conn:
        [status] = statuses(conn)
    assert status.backlog == 0


def test_a_correction_at_the_province_replaces_the_compiled_values_at_the_central_hub(hubs):
    platform, province, central = hubs
    tender, correction, *_ = project_releases(OCID)
    assert platform.publish(PLATFORM, "NOTICE", [tender])["accepted"] == 1
    push_once(platform.db, "province")
    push_once(province.db, "central")

    def budget(hub: Hub) -> Decimal | None:
        with hub.db.connect() as conn:
            return conn.execute(select(PROJECTS.c.budget).where(PROJECTS.c.ocid == OCID)).scalar()

    assert budget(central) == Decimal("500000.00")
    assert province.publish(PROVINCE, "NOTICE", [correction])["accepted"] == 1
    report = push_once(province.db, "central")
    assert (report.sent, report.accepted, report.parked) == (1, 1, 0)
    assert budget(central) == Decimal("480000.00")
    answer = graphql(central.base, SOURCES)
    by_release = {n["releaseId"]: n for n in answer["data"]["notices"]["nodes"]}
    [source] = by_release[correction["id"]]["sources"]
    assert source["originalPublisher"] == PROVINCE
    assert [h["hub"] for h in source["hops"]] == [province.name, central.name]
    assert orjson.dumps(sorted(by_release)) == orjson.dumps(
        sorted([tender["id"], correction["id"]])
    )


def beijing(text: str) -> datetime:
    """A GraphQL time as Beijing time: naive ones are the hub's clock (Beijing), not this
    machine's (read as local time, one after 16:00 fell on the next day here)."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=BEIJING) if moment.tzinfo is None else moment.astimezone(BEIJING)


def test_the_central_hub_shows_the_provinces_push_lag_its_records_paths_measure(hubs):
    """Issue 17's timeliness: notices first published a few working days ago go platform →
    province → central; the central hub's /transparency and `pushLag` show for Jilin the lag
    each record's own path gives (first publication → arrival here, in working days)."""
    platform, province, central = hubs
    now = datetime.now(BEIJING).replace(microsecond=0)
    tender, correction, *_ = project_releases(OCID)
    for release, days_back in ((tender, 8), (correction, 4)):
        release["date"] = (now - timedelta(days=days_back)).isoformat()
    assert platform.publish(PLATFORM, "NOTICE", [tender, correction])["accepted"] == 2
    assert push_once(platform.db, "province").accepted == 2
    assert push_once(province.db, "central").accepted == 2

    sources = graphql(
        central.base,
        """{ notices(first: 10) { nodes { sources {
      publisher { name } originalPublisher firstPublishedAt hops { receivedAt } } } } }""",
    )
    lags = []  # (hours, working days) of each relayed delivery, from its path alone
    for notice in sources["data"]["notices"]["nodes"]:
        for s in notice["sources"]:
            if s["publisher"]["name"] != s["originalPublisher"]:
                first, arrived = (
                    beijing(s["firstPublishedAt"]),
                    beijing(s["hops"][-1]["receivedAt"]),
                )
                lags.append(((arrived - first).total_seconds() / 3600, workdays(first, arrived)))
    assert len(lags) == 2
    hours, days = sorted(h for h, _ in lags), sorted(d for _, d in lags)
    assert days[0] > 0, "first published days ago: the lag must not be zero"

    answer = graphql(central.base, f"{{ pushLag {{ {LAG_FIELDS} }} }}")
    assert "errors" not in answer, answer
    [jilin] = [row for row in answer["data"]["pushLag"] if row["regionCode"] == "220000"]
    assert (jilin["arrivals"], jilin["onTime"], jilin["late"]) == (
        2, sum(d <= 1 for d in days), sum(d > 1 for d in days)
    )  # fmt: skip
    assert jilin["medianWorkdays"] == statistics.median(days) > 0
    assert jilin["p95Workdays"] == days[-1]
    assert jilin["medianHours"] == pytest.approx(statistics.median(hours), abs=1e-3)
    assert jilin["p95Hours"] == pytest.approx(hours[-1], abs=1e-3)

    page = web.get(f"{central.base}/transparency", timeout=60)
    assert page.status_code == 200
    row = re.search(r'<tr data-region="220000">(.*?)</tr>', page.text, re.S)
    assert row, "no push lag row for Jilin on the central hub's /transparency"
    cells = dict(re.findall(r'data-field="(\w+)">([^<]*)<', row.group(1)))
    assert cells["arrivals"] == "2"
    assert cells["median_hours"] == f"{statistics.median(hours):.2f}"
    assert cells["p95_workdays"] == str(days[-1]) != "0"
    assert cells["late"] == str(sum(d > 1 for d in days))
