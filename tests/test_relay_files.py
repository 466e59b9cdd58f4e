"""Relays through `caigou ingest --relays`: the file door takes the same relay metadata as
`publish`, line by line, with the same checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
from sqlalchemy import select

from schema.db import make_engine
from schema.tables import PENALTY_RECORDS, RECORD_SOURCES
from tests.factories import penalty, write_ndjson

CAIGOU = [str(Path(sys.executable).with_name("caigou"))]
FINANCE = "吉林省财政厅"
PROVINCE = "吉林省政府采购网"
HUB = "http://hub.ccgp.example.gov.cn"


def caigou(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAIGOU_DATABASE_URL": database_url, "CAIGOU_PUBLIC_URL": HUB,
           "COLUMNS": "200"}  # fmt: skip
    return subprocess.run([*CAIGOU, *args], capture_output=True, text=True, env=env, timeout=120)


def relay(record_id: str) -> dict[str, object]:
    return {"originalPublisher": FINANCE, "originalRole": "finance_department",
            "sourceSite": "http://czt.jl.gov.cn", "firstPublishedAt": "2024-05-21T09:00:00+08:00",
            "hops": [{"hub": "http://hub.jilin.example.gov.cn",
                      "receivedAt": "2024-05-21T09:00:05+08:00"}]}  # fmt: skip


def test_a_provincial_site_relays_a_penalty_file_with_its_relays(
    database_url: str, tmp_path: Path
) -> None:
    added = caigou(database_url, "publisher", "add", PROVINCE, "--role", "regional_site",
                   "--region", "220000", "--kind", "notice", "--kind", "penalty")  # fmt: skip
    assert added.returncode == 0, added.stderr
    records = write_ndjson(tmp_path / "penalties.ndjson", [penalty("A"), penalty("B")])
    short = write_ndjson(tmp_path / "short.ndjson", [relay("A")])
    refused = caigou(database_url, "ingest", str(records), "--publisher", PROVINCE,
                     "--kind", "penalty", "--relays", str(short))  # fmt: skip
    assert refused.returncode == 1
    assert "record 2 (B): relay:" in refused.stderr, refused.stderr
    own = caigou(database_url, "ingest", str(records), "--publisher", PROVINCE, "--kind", "penalty")
    assert own.returncode == 1 and "record 1 (A): relay:" in own.stderr, own.stderr
    relays = write_ndjson(tmp_path / "relays.ndjson", [relay("A"), relay("B")])
    ok = caigou(database_url, "ingest", str(records), "--publisher", PROVINCE,
                "--kind", "penalty", "--relays", str(relays))  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    engine = make_engine(database_url)
    with engine.connect() as conn:
        sites = conn.execute(select(PENALTY_RECORDS.c.source_site)).scalars().all()
        rows = conn.execute(select(RECORD_SOURCES)).all()
    engine.dispose()
    assert sites == ["http://czt.jl.gov.cn"] * 2
    assert {(r.original_publisher, r.original_role) for r in rows} == {
        (FINANCE, "finance_department")
    }
    paths = [[hop["hub"] for hop in orjson.loads(r.hops)] for r in rows]
    assert paths == [["http://hub.jilin.example.gov.cn", HUB]] * 2
