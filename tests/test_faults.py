"""Faults, for real: kill -9, a database or search server stopped mid-load, a full disk.

Each test checks that nothing accepted is lost, nothing is doubled, nothing is half
published, and that simply running the command again finishes the job. The PostgreSQL and
Elasticsearch stopped here are private instances on their own ports (scripts/postgres.sh,
scripts/elasticsearch.sh), never the shared ones. The kill -9 of a plain ingest on both
databases is in tests/test_cli.py; here it lands on top of data already accepted.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from exports.manifest import manifest_path, published_days, read_manifest
from exports.schedule import BEIJING, export_days
from exports.storage import open_store
from hub.config import Settings
from hub.publishing import ingest_file
from hub.publishing.publishers import add_publisher
from indexer import worker
from indexer.outbox import OUTBOX
from schema.db import make_engine
from schema.tables import TRANSACTIONS
from schema.types import PublisherRole, RecordKind
from tests.conftest import fresh_database
from tests.factories import transaction, write_csv
from tests.hub_server import free_port

ROOT = Path(__file__).resolve().parents[1]
CAIGOU = str(Path(sys.executable).with_name("caigou"))
MALL = "故障测试电子卖场"
TODAY = datetime.now(BEIJING).date()
DAYS = [TODAY - timedelta(days=n) for n in (3, 2, 1)]  # ended days with records
BEFORE = DAYS[0] - timedelta(days=1)  # published first, so a plain export has three to do


def orders(prefix: str, count: int) -> Iterator[dict[str, str]]:
    """`count` transactions spread over DAYS, published on them (Beijing time)."""
    for n in range(count):
        day = DAYS[n % len(DAYS)]
        yield transaction(f"{prefix}{n:08d}", published_at=f"{day}T10:00:00+08:00",
                          order_date=day.isoformat())  # fmt: skip


def add_mall(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        add_publisher(conn, MALL, PublisherRole.trading_platform, ["220000"],
                      [RecordKind.transaction])  # fmt: skip
    engine.dispose()


def order_ids(url: str) -> list[str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = conn.execute(select(TRANSACTIONS.c.order_id)).scalars().all()
    engine.dispose()
    return sorted(found)


def env_for(url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "CAIGOU_DATABASE_URL": url, "COLUMNS": "200", **extra}


def caigou(url: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CAIGOU, *args], capture_output=True, text=True,
                          env=env_for(url, **extra), timeout=300)  # fmt: skip


def start(url: str, *args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([CAIGOU, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env_for(url, **extra))  # fmt: skip


def needs(variable: str, what: str) -> None:
    """Skip (fail on CI) unless the suite was given `variable`: the server is installed."""
    if not os.environ.get(variable):
        if os.environ.get("CI"):
            pytest.fail(f"{variable} is not set: {what}")
        pytest.skip(f"{variable} is not set: {what}")


def kill_9(process: subprocess.Popen[str]) -> bool:
    """SIGKILL; says whether it was still running (so killed mid-work, not after)."""
    running = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    if process.stderr is not None:
        process.stderr.close()
    return running


def writing(process: subprocess.Popen[str], root: Path, files: int) -> subprocess.Popen[str]:
    """The export once it has `files` files in staging (or has ended): a kill lands mid-write
    however fast or slow the machine is, where a fixed delay would miss on one or the other."""
    staging = root / ".staging"
    deadline = time.monotonic() + 120
    try:
        while process.poll() is None and time.monotonic() < deadline:
            # os.walk, not rglob: the export renames and removes staging folders while
            # we count, and os.walk passes over a folder that vanished under it.
            if sum(len(names) for _, _, names in os.walk(staging)) >= files:
                break
            time.sleep(0.005)
    except BaseException:
        kill_9(process)  # never leave the child running behind a failed test
        raise
    return process


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


# ---------------------------------------------------------------- ingest


@pytest.mark.only_on("sqlite")  # PostgreSQL: test_cli's kill -9, and the server stop below
def test_kill_9_of_ingest_keeps_earlier_batches_and_a_rerun_completes(
    database_url: str, tmp_path: Path
) -> None:
    add_mall(database_url)
    engine = make_engine(database_url)
    first = write_csv(tmp_path / "first.csv", orders("DDA", 300))
    assert ingest_file(engine, first, MALL, kind=RecordKind.transaction).accepted == 300
    engine.dispose()
    big = write_csv(tmp_path / "big.csv", orders("DDB", 12_000))
    process = start(database_url, "ingest", str(big), "--publisher", MALL)
    assert process.stderr is not None
    assert "records read" in process.stderr.readline()  # 10,000 read: rows are being written
    assert kill_9(process)
    assert order_ids(database_url) == sorted(r["order_id"] for r in orders("DDA", 300))
    done = caigou(database_url, "ingest", str(big), "--publisher", MALL)
    assert done.returncode == 0 and "12,000 accepted" in done.stdout, done.stdout + done.stderr
    found = order_ids(database_url)
    assert len(found) == len(set(found)) == 12_300


@contextmanager
def private_postgres(folder: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A PostgreSQL of our own (scripts/postgres.sh on a free port), removed afterwards."""
    env = {**os.environ, "CAIGOU_PG_PORT": str(free_port()), "CAIGOU_PG_DIR": str(folder)}
    script = [str(ROOT / "scripts" / "postgres.sh")]
    url = subprocess.run([*script, "start"], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout.strip()  # fmt: skip
    try:
        yield url, env
    finally:
        subprocess.run([*script, "stop"], env=env, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def test_postgresql_stopped_mid_ingest_loses_nothing_and_a_rerun_completes(
    tmp_path: Path,
) -> None:
    needs("CAIGOU_TEST_POSTGRES_URL", "PostgreSQL is installed (scripts/postgres.sh)")
    script = str(ROOT / "scripts" / "postgres.sh")
    with private_postgres(Path(f"/tmp/caigou-faults-pg-{uuid.uuid4().hex[:8]}")) as (url, env):
        assert caigou(url, "db", "upgrade").returncode == 0
        add_mall(url)
        engine = make_engine(url)
        first = write_csv(tmp_path / "first.csv", orders("DDA", 300))
        assert ingest_file(engine, first, MALL, kind=RecordKind.transaction).accepted == 300
        engine.dispose()
        big = write_csv(tmp_path / "big.csv", orders("DDB", 12_000))
        process = start(url, "ingest", str(big), "--publisher", MALL)
        assert process.stderr is not None
        assert "records read" in process.stderr.readline()
        subprocess.run([script, "stop"], env=env, check=True, timeout=120)  # mid-write
        assert process.wait(timeout=60) != 0  # the ingest fails; it does not hang
        process.stderr.close()
        subprocess.run([script, "start"], env=env, check=True, capture_output=True, timeout=120)
        assert order_ids(url) == sorted(r["order_id"] for r in orders("DDA", 300))
        done = caigou(url, "ingest", str(big), "--publisher", MALL)
        assert done.returncode == 0 and "12,000 accepted" in done.stdout, done.stderr
        found = order_ids(url)
        assert len(found) == len(set(found)) == 12_300


# ---------------------------------------------------------------- export


@dataclass
class Loaded:
    url: str
    reference: dict[date, bytes]  # each day's manifest from an export nobody disturbed

    def manifests_bytes(self, root: Path) -> int:
        return sum(read_manifest(open_store(str(root)), d).bytes for d in DAYS)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    """SQLite with 24,000 transactions over DAYS, and the reference export of every day."""
    folder = tmp_path_factory.mktemp("faults")
    with fresh_database("sqlite", request, folder) as url:
        add_mall(url)
        engine = make_engine(url)
        path = write_csv(folder / "orders.csv", orders("DDX", 24_000))
        assert ingest_file(engine, path, MALL, kind=RecordKind.transaction).accepted == 24_000
        root = folder / "reference"
        publication = Settings.from_env().publication()  # as `caigou export` says it
        written = export_days(engine, str(root), [BEFORE, *DAYS], publication=publication)
        engine.dispose()
        reference = {date.fromisoformat(m.date): (root / manifest_path(m.date)).read_bytes()
                     for m in written}  # fmt: skip
        yield Loaded(url, reference)


def assert_whole(root: Path) -> list[date]:
    """Every published day is whole (files match its manifest) and the catalog lists only
    published days; returns the published days."""
    store = open_store(str(root))
    days = published_days(store)
    catalog = root / "catalog.json"
    listed = (
        {e["date"] for e in json.loads(catalog.read_text())["days"]} if catalog.exists() else set()
    )
    assert listed <= {d.isoformat() for d in days}, "the catalog lists an unpublished day"
    for day in days:
        manifest = read_manifest(store, day)
        assert manifest is not None
        for entry in manifest.files:
            data = (root / entry.path).read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (entry.bytes, entry.sha256)
    return days


def ended_since_import() -> list[date]:
    """The days that ended in Beijing since DAYS were chosen: a plain export that runs past
    midnight publishes them too (empty), as it should, so the tests expect them."""
    now = datetime.now(BEIJING).date()
    return [TODAY + timedelta(days=n) for n in range((now - TODAY).days)]


def assert_published(published: list[date], expected: list[date]) -> None:
    """`published` is `expected`, then at most the days that ended since import, in order."""
    extra = published[len(expected) :]
    assert published[: len(expected)] == expected and extra == ended_since_import()[: len(extra)], (
        published
    )


def assert_repaired(loaded: Loaded, root: Path) -> None:
    """All days published, each manifest byte-identical to the undisturbed export's."""
    published = assert_whole(root)
    assert_published(published, [BEFORE, *DAYS])
    for day, expected in loaded.reference.items():
        assert (root / manifest_path(day)).read_bytes() == expected, day
    catalog = json.loads((root / "catalog.json").read_text())
    assert [e["date"] for e in catalog["days"]] == [d.isoformat() for d in reversed(published)]
    assert list((root / ".staging").iterdir()) == []


def test_kill_9_of_export_plain_and_forced_never_half_publishes(
    loaded: Loaded, tmp_path: Path
) -> None:
    root = tmp_path / "out"
    extra = {"CAIGOU_EXPORT_ROOT": str(root)}
    assert caigou(loaded.url, "export", "--date", str(BEFORE), **extra).returncode == 0
    mid_run = 0
    for files in (1, 8):  # plain runs: a later one resumes what a kill cut off
        process = start(loaded.url, "export", **extra)
        mid_run += kill_9(writing(process, root, files))
        assert_whole(root)
    forced = ("export", "--from", str(DAYS[0]), "--to", str(DAYS[-1]), "--force")
    for files in (1, 8):
        process = start(loaded.url, *forced, **extra)
        mid_run += kill_9(writing(process, root, files))
        assert_whole(root)
    assert mid_run >= 3, "most kills should land while the export is writing"
    done = caigou(loaded.url, "export", **extra)  # plain: repairs every unpublished day
    assert done.returncode == 0, done.stderr
    assert_repaired(loaded, root)


@contextmanager
def small_disk(folder: Path, size: int) -> Iterator[dict[str, Any]]:
    """A real full disk: a tmpfs of `size` bytes mounted at `folder`. Where mounting is
    refused, a file-size rlimit (RLIMIT_FSIZE) for the child stands in: writes past it fail
    with EFBIG, as a full disk fails with ENOSPC."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(folder)], capture_output=True).returncode == 0  # fmt: skip
    limit: dict[str, Any] = {"mounted": mounted}
    if not mounted:
        limit["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    try:
        yield limit
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


def test_export_on_a_full_disk_publishes_nothing_and_a_rerun_with_room_completes(
    loaded: Loaded, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    day_bytes = json.loads(loaded.reference[DAYS[-1]])["files"]
    size = sum(f["bytes"] for f in day_bytes) // 2  # the day does not fit: fails mid-way
    with small_disk(disk, size) as limit:
        root = disk / "out"
        environ = env_for(loaded.url, CAIGOU_EXPORT_ROOT=str(root))
        command = [CAIGOU, "export", "--date", str(DAYS[-1])]
        full = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=300,
                              preexec_fn=limit.get("preexec_fn"))  # fmt: skip
        assert full.returncode == 1, full.stdout + full.stderr
        reason = "No space left on device" if limit["mounted"] else "File too large"
        assert reason in full.stderr and "not published" in full.stderr
        assert "Traceback" not in full.stderr
        assert assert_whole(root) == []
        if limit["mounted"]:
            subprocess.run(["mount", "-o", "remount,size=256m", str(disk)], check=True)
        else:
            limit.pop("preexec_fn")
        plain = subprocess.run([CAIGOU, "export"], env=environ, capture_output=True, text=True,
                               timeout=300)  # fmt: skip
        assert plain.returncode == 0, plain.stderr
        assert_published(assert_whole(root), [DAYS[-1]])  # the failed day, by its leftovers
        assert (root / manifest_path(DAYS[-1])).read_bytes() == loaded.reference[DAYS[-1]]
        assert list((root / ".staging").iterdir()) == []


# ---------------------------------------------------------------- indexer


def copy_database(loaded: Loaded, folder: Path) -> str:
    """A private copy of the loaded SQLite database (its outbox still full)."""
    source = sqlite3.connect(loaded.url.removeprefix("sqlite:///"))
    target_path = folder / "copy.db"
    target = sqlite3.connect(target_path)
    source.backup(target)
    target.close()
    source.close()
    return f"sqlite:///{target_path}"


def index_state(url: str, backend: Any) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        return worker.status(engine, backend)
    finally:
        engine.dispose()


def assert_index_complete(report: dict[str, Any]) -> None:
    assert (report["pending"], report["parked"]) == (0, 0)
    for kind, counts in report["kinds"].items():
        assert counts["index"] == counts["database"], kind  # nothing lost, nothing doubled


def test_kill_9_of_the_indexer_and_a_rerun_indexes_each_record_once(
    loaded: Loaded, tmp_path: Path
) -> None:
    from indexer.embedded import EmbeddedBackend

    url = copy_database(loaded, tmp_path)
    engine = make_engine(url)
    backend = EmbeddedBackend(engine)
    total = index_state(url, backend)["pending"]
    assert total > 20_000
    process = start(url, "indexer", "run", "--no-export", "--batch", "200")
    wait_for(lambda: index_state(url, backend)["pending"] < total - 2_000, 60, "some indexing")
    assert kill_9(process)
    assert index_state(url, backend)["pending"] > 0, "killed before the outbox was drained"
    done = caigou(url, "indexer", "run", "--once")
    assert done.returncode == 0, done.stderr
    # The killed run's last batch stays claimed until its claim expires (outbox.CLAIM, 5 min);
    # rather than wait, the test lets that time pass by expiring the claims now.
    assert index_state(url, backend)["pending"] <= 200
    with engine.begin() as conn:
        conn.execute(update(OUTBOX).where(OUTBOX.c.parked_at.is_(None)).values(claimed_until=None))
    done = caigou(url, "indexer", "run", "--once")
    assert done.returncode == 0, done.stderr
    assert_index_complete(index_state(url, backend))
    engine.dispose()


@contextmanager
def private_elasticsearch() -> Iterator[tuple[str, list[str], dict[str, str]]]:
    """An Elasticsearch of our own (scripts/elasticsearch.sh on a free port), removed after."""
    port = free_port()
    env = {**os.environ, "CAIGOU_ES_PORT": str(port), "CAIGOU_ES_HEAP": "512m"}
    script = ["bash", str(ROOT / "scripts" / "elasticsearch.sh")]
    url = subprocess.run([*script, "start"], env=env, capture_output=True, text=True,
                         check=True, timeout=180).stdout.strip()  # fmt: skip
    try:
        yield url, script, env
    finally:
        subprocess.run([*script, "stop"], env=env, timeout=120)
        version = os.environ.get("CAIGOU_ES_VERSION", "9.5.4")
        shutil.rmtree(f"/tmp/caigou-elasticsearch-{version}/node-{port}", ignore_errors=True)


def test_elasticsearch_stopped_mid_indexing_then_back_loses_and_doubles_nothing(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A real stop and start (about a minute on this machine): 3,000 orders are enough."""
    from indexer.elastic import ElasticBackend

    needs("CAIGOU_TEST_ELASTICSEARCH_URL", "Elasticsearch is installed (scripts/elasticsearch.sh)")
    with (
        fresh_database("sqlite", request, tmp_path) as url,
        private_elasticsearch() as (es_url, script, env),
    ):
        add_mall(url)
        engine = make_engine(url)
        path = write_csv(tmp_path / "orders.csv", orders("DDE", 3_000))
        assert ingest_file(engine, path, MALL, kind=RecordKind.transaction).accepted == 3_000
        engine.dispose()
        prefix = f"faults-{uuid.uuid4().hex[:8]}"
        backend = ElasticBackend(es_url, prefix=prefix)
        total = index_state(url, backend)["pending"]
        process = start(url, "indexer", "run", "--no-export", "--batch", "200", "--poll", "0.2",
                        CAIGOU_ELASTICSEARCH_URL=es_url, CAIGOU_INDEX_PREFIX=prefix)  # fmt: skip
        try:
            wait_for(lambda: index_state(url, backend)["pending"] < total - 300, 90,
                     "some indexing")  # fmt: skip
            subprocess.run([*script, "stop"], env=env, check=True, timeout=120)
            left = index_state(url, backend)["pending"]
            assert left > 0, "stopped before the outbox was drained"
            time.sleep(2)
            assert process.poll() is None, "the indexer waits out the outage"
            subprocess.run([*script, "start"], env=env, check=True, capture_output=True,
                           timeout=180)  # fmt: skip
            wait_for(lambda: index_state(url, backend)["pending"] == 0, 120, "the catch-up")
        finally:
            process.terminate()
            process.communicate(timeout=60)

        def counted() -> bool:
            backend.refresh()
            kinds = index_state(url, backend)["kinds"].values()
            return all(c["index"] == c["database"] for c in kinds)

        wait_for(counted, 30, "the counts to settle")
        assert_index_complete(index_state(url, backend))
