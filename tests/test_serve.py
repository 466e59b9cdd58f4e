"""`caigou serve` starts one worker process per core on PostgreSQL, one on SQLite, and says
why: the real command in a process of its own, asked over real sockets which worker answered
(`caigou_worker_pid` in /metrics)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from hub.cli.serve import cores
from tests.hub_server import free_port
from tests.web_client import web

PID = re.compile(r"^caigou_worker_pid (\S+)$", re.MULTILINE)


@contextmanager
def serving(url: str, folder: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`caigou serve` in a session of its own (stopping it stops its workers), until ready."""
    port = free_port()
    env = {**os.environ, "CAIGOU_DATABASE_URL": url, "CAIGOU_EXPORT_ROOT": str(folder),
           "CAIGOU_ELASTICSEARCH_URL": "", "CAIGOU_WORKERS": "0"}  # fmt: skip
    argv = [sys.executable, "-m", "hub.cli.main", "serve", "--port", str(port), *options]
    log = (folder / "serve.log").open("w+")
    server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (folder / "serve.log").read_text()
            try:
                if web.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "caigou serve did not answer within 90 s"
            time.sleep(0.3)
        yield base, server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def answering(base: str, wanted: int, seconds: float = 30) -> set[int]:
    """Worker pids seen answering /metrics on fresh connections, sent 16 at a time, until
    `wanted` distinct ones (or the time is up: then what was seen)."""

    def one(_: int) -> int:
        with httpx.Client() as client:  # a connection of its own: any worker may accept it
            match = PID.search(client.get(f"{base}/metrics", timeout=20).text)
            assert match, "no caigou_worker_pid in /metrics"
            return int(float(match.group(1)))

    seen: set[int] = set()
    deadline = time.monotonic() + seconds
    with ThreadPoolExecutor(16) as pool:
        while len(seen) < wanted and time.monotonic() < deadline:
            seen.update(pool.map(one, range(32)))
    return seen


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.only_on("postgresql")
def test_on_postgresql_serve_starts_a_worker_per_core(database_url: str, tmp_path: Path) -> None:
    expected = cores()
    options = () if expected > 1 else ("--workers", "2")  # a one-core machine: ask for two
    expected = max(expected, 2)
    with serving(database_url, tmp_path, *options) as (base, server):
        pids = answering(base, expected)
        assert len(pids) == expected, pids
        assert all(parent_of(pid) == server.pid for pid in pids), pids  # its own workers
    log = (tmp_path / "serve.log").read_text()
    assert f"workers: {expected} (" in log, log
    assert f"database connections: {expected} workers × 19 " in log, log  # 15 + 4 on the loop
    assert "of max_connections" in log, log


@pytest.mark.only_on("postgresql")
def test_on_postgresql_more_workers_than_max_connections_holds_are_refused(
    database_url: str, tmp_path: Path
) -> None:
    """8 cores × 19 pooled connections is 152 > an untuned server's 100: past the limit a
    busy hub's requests fail with "too many clients". The server's own limit is read."""
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        limit = int(conn.execute("SHOW max_connections").fetchone()[0])  # type: ignore[index]
    workers = limit // 19 + 1  # each worker: pool_size 5 + max_overflow 10, and 4 on the loop
    env = {**os.environ, "CAIGOU_DATABASE_URL": database_url, "CAIGOU_EXPORT_ROOT": str(tmp_path),
           "CAIGOU_ELASTICSEARCH_URL": "", "CAIGOU_WORKERS": "0"}  # fmt: skip
    argv = [sys.executable, "-m", "hub.cli.main", "serve", "--port", str(free_port()),
            "--workers", str(workers)]  # fmt: skip
    server = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True)  # fmt: skip
    try:
        said, _ = server.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # it started serving: stop it and its workers
        os.killpg(server.pid, signal.SIGKILL)
        said, _ = server.communicate()
        pytest.fail(f"--workers {workers} was not refused: {said[-2000:]}")
    assert server.returncode == 2, said
    said = " ".join(said.split())
    assert f"--workers {workers} (CAIGOU_WORKERS)" in said, said
    assert f"max_connections {limit}" in said and "--workers" in said, said


@pytest.mark.only_on("sqlite")
def test_on_sqlite_serve_keeps_one_worker_and_says_why(database_url: str, tmp_path: Path) -> None:
    with serving(database_url, tmp_path) as (base, server):
        pids = answering(base, 2, seconds=3)  # looks for a second one, finds none
        assert pids == {server.pid}, pids  # uvicorn runs the one worker in-process
    log = (tmp_path / "serve.log").read_text()
    assert "workers: 1 (SQLite: one writer at a time" in log, log


@pytest.mark.only_on("sqlite")
def test_on_sqlite_more_workers_are_refused_by_name(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "CAIGOU_DATABASE_URL": database_url, "CAIGOU_WORKERS": "3"}
    done = subprocess.run([sys.executable, "-m", "hub.cli.main", "serve"], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert "--workers 3 (CAIGOU_WORKERS) on SQLite" in said and "one writer" in said, said
