"""One strictness for every door: files (`caigou ingest`) and GraphQL `publish` refuse the
same bad input with the same named field, and no publisher can write outside its scope.

Each door is used for real: the `caigou` command in a subprocess, GraphQL over HTTP against
a running hub, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from hub.app import create_app
from hub.config import Settings
from hub.flags import rebuild
from hub.publishing import ingest_file, ingest_records
from hub.publishing.publishers import add_publisher
from schema.columns import table_of
from schema.tables import PROJECTS, TRANSACTIONS, Notice, PenaltyRecord, Transaction
from schema.types import PublisherRole, RecordKind
from tests.conftest import fresh_database
from tests.factories import (
    SCHOOL,
    party,
    penalty,
    project_releases,
    transaction,
    write_csv,
    write_package,
)
from tests.hub_server import graphql, running

CAIGOU = [str(Path(sys.executable).with_name("caigou"))]
JILIN, BEIJING = "吉林省政府采购网", "北京市政府采购网"
MALL, FINANCE, BEIJING_FINANCE = "吉林省政府采购电子卖场", "吉林省财政厅", "北京市财政局"
PUBLISH = """mutation($kind: PublishKind!, $records: [JSON!]!) {
  publish(kind: $kind, records: $records) {
    status accepted rejected refusals { position recordId field reason } } }"""


@dataclass
class Doors:
    """A hub with its database, a running server and a token per publisher."""

    url: str
    engine: Engine
    base: str
    tokens: dict[str, str]
    folder: Path

    def publish(self, publisher: str, kind: str, records: list[Any]) -> dict[str, Any]:
        answer = graphql(self.base, PUBLISH, {"kind": kind, "records": records},
                         self.tokens[publisher])  # fmt: skip
        assert "errors" not in answer, answer
        return answer["data"]["publish"]

    def ingest(self, publisher: str, path: Path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CAIGOU_DATABASE_URL": self.url, "COLUMNS": "400"}
        return subprocess.run([*CAIGOU, "ingest", str(path), "--publisher", publisher],
                              capture_output=True, text=True, env=env, timeout=120)  # fmt: skip

    def count(self, model: type, **where: str) -> int:
        table = table_of(model)
        query = select(func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()


@pytest.fixture(scope="module")
def doors(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Doors]:
    folder = tmp_path_factory.mktemp(f"doors-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        app = create_app(Settings(url, str(folder / "exports"), None))
        engine: Engine = app.state.engine
        tokens = {}
        with engine.begin() as conn:
            for name, role, region, kind in [
                (JILIN, "regional_site", "220000", "notice"),
                (BEIJING, "regional_site", "110000", "notice"),
                (MALL, "trading_platform", "220000", "transaction"),
                (FINANCE, "finance_department", "220000", "penalty"),
                (BEIJING_FINANCE, "finance_department", "110000", "penalty"),
            ]:
                _, tokens[name] = add_publisher(conn, name, PublisherRole(role), [region],
                                                [RecordKind(kind)], f"http://{len(tokens)}.gov.cn")  # fmt: skip
        with running(app) as base:
            yield Doors(url, engine, base, tokens, folder)
        engine.dispose()


def stored_project(doors: Doors, ocid: str) -> tuple[str, str, int]:
    with doors.engine.connect() as conn:
        row = conn.execute(select(PROJECTS).where(PROJECTS.c.ocid == ocid)).one()
    return row.region_code, row.status, row.notice_count


def termination(ocid: str, region: str | None) -> dict[str, Any]:
    """A 终止公告 for `ocid`, stating the buyer's region when `region` is given."""
    release: dict[str, Any] = {
        "ocid": ocid, "id": f"{ocid}-05-termination-{region}", "date": "2024-05-01T09:00:00+08:00",
        "tag": ["tenderCancellation"], "title": "吉林省实验中学计算机采购项目终止公告",
        "fullText": "因采购需求变更，本项目终止。",
    }  # fmt: skip
    if region:
        release["parties"] = [party(SCHOOL, ["buyer"], region)]
        release["buyer"] = {"id": SCHOOL[1], "name": SCHOOL[0]}
    return release


@pytest.mark.parametrize("door", ["caigou ingest", "graphql"])
def test_a_termination_from_another_region_is_refused_and_the_project_unchanged(
    doors: Doors, door: str
) -> None:
    ocid = f"ocds-cghub1-JL-{door.split()[0]}"
    assert ingest_records(doors.engine, JILIN, RecordKind.notice, project_releases(ocid)).accepted
    before = stored_project(doors, ocid)
    assert before == ("220102", "contracted", 4)
    attacks = [
        (BEIJING, termination(ocid, "110101"), "ocid",
         f"project {ocid} is in 220102, outside {BEIJING}'s scope (110000)"),
        (BEIJING, termination(ocid, None), "ocid",
         f"project {ocid} is in 220102, outside {BEIJING}'s scope (110000)"),
        (JILIN, termination(ocid, "220201"), "parties[0].address.region",
         f"220201: project {ocid} is in 220102; a release may not move a project to another "
         "region"),
    ]  # fmt: skip
    for publisher, release, field, reason in attacks:
        if door == "graphql":
            answer = doors.publish(publisher, "NOTICE", [release])
            assert answer["status"] == "rejected"
            assert [(r["field"], r["reason"]) for r in answer["refusals"]] == [(field, reason)]
        else:
            path = write_package(doors.folder / f"{door}-{publisher}.json", [release])
            result = doors.ingest(publisher, path)
            assert result.returncode == 1, result.stderr
            assert f"record 1 ({release['id']}): {field}: {reason}" in result.stderr
            assert "Traceback" not in result.stderr
        assert stored_project(doors, ocid) == before
    assert doors.count(Notice, ocid=ocid) == 4


def test_a_penalty_may_not_name_a_project_of_another_region(doors: Doors) -> None:
    ocid = "ocds-cghub1-JL-penalty"
    ingest_records(doors.engine, JILIN, RecordKind.notice, project_releases(ocid)[:1])
    record = penalty("BJCZ-1", region_code="110000", ocid=ocid, authority_name="北京市财政局")
    answer = doors.publish(BEIJING_FINANCE, "PENALTY", [record])
    assert answer["refusals"][0]["field"] == "ocid"
    assert "outside 北京市财政局's scope (110000)" in answer["refusals"][0]["reason"]
    # the subject may be from anywhere: a debarment holds nationwide
    del record["ocid"]
    assert doors.publish(BEIJING_FINANCE, "PENALTY", [record])["accepted"] == 1
    assert doors.count(PenaltyRecord, record_id="BJCZ-1") == 1


# (case, a change to a valid transaction, refused field, words of the reason). String-valued
# cases go through a CSV file and GraphQL; the others through an NDJSON file and GraphQL.
BAD_TRANSACTIONS = [
    ("object as order_id", {"order_id": {"$gt": ""}}, "order_id", "not an object"),
    ("list as order_id", {"order_id": ["DD1", "DD2"]}, "order_id", "not a list"),
    ("boolean amount", {"amount": True}, "amount", "not true or false"),
    ("date with trailing garbage", {"order_date": "2024-03-01garbage"}, "order_date",
     "is not a date (YYYY-MM-DD)"),
    ("far-future date", {"order_date": "9999-12-31"}, "order_date",
     "outside the plausible range 1990-01-01"),
    ("date before 1990", {"order_date": "1900-01-01"}, "order_date", "plausible range"),
    ("far-future publish time", {"published_at": "9999-12-31T00:00:00+08:00"}, "published_at",
     "plausible range"),
    ("NUL byte", {"item_name": "台式\x00计算机"}, "item_name", "NUL"),
    ("cell over 32 kB", {"model": "M" * 40_000}, "model", "40,000 bytes; a cell holds at most"),
    ("1 MB cell", {"brand": "联" * 350_000}, "brand", "a cell holds at most 32,768"),
    ("amount beyond 64 bits", {"amount": "99999999999999999999999"}, "amount",
     "beyond the plausible maximum"),
    ("JSON amount beyond 64 bits", {"amount": 2**70}, "amount", "beyond 64 bits"),
    ("absurd unit price", {"unit_price": "1e15"}, "unit_price", "plausible maximum"),
    ("absurd quantity", {"quantity": 1e17}, "quantity", "plausible maximum"),
    ("JSON quantity beyond 64 bits", {"quantity": 1e300}, "quantity", "beyond 64 bits"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field", "words"), [c[1:] for c in BAD_TRANSACTIONS],
                         ids=[c[0] for c in BAD_TRANSACTIONS])  # fmt: skip
def test_a_bad_transaction_is_refused_alike_by_file_and_by_graphql(
    doors: Doors, change: dict[str, Any], field: str, words: str
) -> None:
    order_id = f"BAD-{abs(hash(json.dumps(change, default=str))) % 10**8}"
    record: dict[str, Any] = transaction(order_id) | change
    as_csv = all(isinstance(v, str) for v in record.values())
    path = doors.folder / f"{order_id}.{'csv' if as_csv else 'ndjson'}"
    if as_csv:
        write_csv(path, [record])
    else:
        path.write_text(json.dumps(record, ensure_ascii=False) + "\n", "utf-8")
    by_file = ingest_file(doors.engine, path, MALL)
    by_graphql = doors.publish(MALL, "TRANSACTION", [record])
    expected_id = order_id if isinstance(record["order_id"], str) else None
    [refusal] = by_file.refusals
    assert (refusal.position, refusal.record_id, refusal.field) == (1, expected_id, field)
    assert words in refusal.reason
    assert by_graphql["refusals"] == [
        {"position": 1, "recordId": expected_id, "field": field, "reason": refusal.reason}
    ]
    assert len(refusal.reason) < 300
    assert doors.count(Transaction, order_id=order_id) == 0


def test_a_transaction_with_four_faults_is_refused_with_all_four_by_both_doors(
    doors: Doors,
) -> None:
    """As a release's: every fault of the row at once, in field order, nothing written."""
    record = transaction("FOUR-1") | {
        "channel": "淘宝", "quantity": "-", "order_date": "2024-02-30", "supplier_name": "",
    }  # fmt: skip
    path = doors.folder / "four-faults.csv"
    write_csv(path, [record])
    by_file = ingest_file(doors.engine, path, MALL, partial=True)
    by_graphql = doors.publish(MALL, "TRANSACTION", [record])
    faults = [(r.position, r.record_id, r.field) for r in by_file.refusals]
    assert faults == [(1, "FOUR-1", f) for f in
                      ("channel", "quantity", "order_date", "supplier_name")]  # fmt: skip
    assert (by_file.rejected, by_graphql["rejected"]) == (1, 1)
    assert [(r["field"], r["reason"]) for r in by_graphql["refusals"]] == [
        (r.field, r.reason) for r in by_file.refusals
    ]
    assert doors.count(Transaction, order_id="FOUR-1") == 0


def test_a_non_object_record_is_refused_at_its_position(doors: Doors) -> None:
    answer = doors.publish(MALL, "TRANSACTION", [transaction("OK-1"), "DD2", 3])
    assert [(r["position"], r["field"]) for r in answer["refusals"]] == [
        (2, "record"), (3, "record")
    ]  # fmt: skip
    assert doors.count(Transaction, order_id="OK-1") == 0


def test_unprintable_names_and_ids_are_reported_escaped(doors: Doors) -> None:
    """A lone surrogate or NUL in a field name or id is named escaped (the HTTP door refuses
    such JSON outright; `ingest_records`, the library door, gets dicts from anywhere)."""
    records = [transaction("OK-2") | {"\ud800": "x"}, transaction("BAD\ud800\x00")]
    result = ingest_records(doors.engine, MALL, RecordKind.transaction, records)
    assert [(r.record_id, r.field) for r in result.refusals] == [
        ("OK-2", "'\\ud800'"), ("'BAD\\ud800\\x00'", "order_id")
    ]  # fmt: skip
    assert doors.count(Transaction, order_id="OK-2") == 0


# Releases whose shape or values the hub cannot take: each a named refusal, never a crash.
BAD_RELEASES = [
    ("tender as a string", lambda r: r.update(tender="招标"), "tender", "is not an object"),
    ("parties as an object", lambda r: r.update(parties={}), "parties", "is not an array"),
    ("ocid as an object", lambda r: r.update(ocid={"a": 1}), "ocid", "is not a string"),
    ("far-future publish date", lambda r: r.update(date="9999-12-31T09:00:00+08:00"), "date",
     "plausible range"),
    ("date with trailing garbage", lambda r: r.update(date="2024-03-01T09:00:00+08:00x"), "date",
     "ISO 8601"),
    ("far-future tender end", lambda r: r["tender"]["tenderPeriod"].update(endDate="9999-01-01"),
     "tender.tenderPeriod.endDate", "plausible range"),
    ("NUL in the title", lambda r: r.update(title="公告\x00"), "title", "NUL"),
    ("budget beyond 64 bits", lambda r: r["tender"]["value"].update(amount=10**30),
     "tender.value", "beyond 64 bits"),
    ("absurd budget", lambda r: r["tender"]["value"].update(amount=1e16), "tender.value.amount",
     "plausible maximum"),
    ("lot without an id", lambda r: r["tender"].update(lots=[{"title": "一包"}]),
     "tender.lots[0]", "'id' is a required field"),
    ("body over 512 kB", lambda r: r.update(fullText="文" * 200_000), "fullText",
     "at most 524,288"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field", "words"), [c[1:] for c in BAD_RELEASES],
                         ids=[c[0] for c in BAD_RELEASES])  # fmt: skip
def test_a_bad_release_is_refused_alike_by_file_and_by_graphql(
    doors: Doors, change: Any, field: str, words: str
) -> None:
    ocid = f"ocds-cghub1-BAD-{abs(hash(field + words)) % 10**8}"
    release = copy.deepcopy(project_releases(ocid)[0])
    change(release)
    path = write_package(doors.folder / f"{ocid}.json", [release])
    by_file = ingest_file(doors.engine, path, JILIN)
    by_graphql = doors.publish(JILIN, "NOTICE", [release])
    [refusal] = by_file.refusals
    assert refusal.field.startswith(field) and words in refusal.reason, refusal
    assert [(r["field"], r["reason"]) for r in by_graphql["refusals"]] == [
        (refusal.field, refusal.reason)
    ]
    with doors.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(PROJECTS).where(
            PROJECTS.c.ocid == ocid)).scalar_one() == 0  # fmt: skip


def test_flags_rebuild_survives_far_dates_an_old_database_holds(doors: Doors) -> None:
    """Dates the door now refuses, stored before it did: at both ends of the calendar."""
    rows = [transaction(f"FAR-{i}", order_date="2024-12-30") for i in range(6)]
    assert ingest_records(doors.engine, MALL, RecordKind.transaction, rows).accepted == 6
    ocid = "ocds-cghub1-FAR"
    assert ingest_records(doors.engine, JILIN, RecordKind.notice, project_releases(ocid)).accepted
    record = penalty("FAR-P", subject_name="长春市博远科技有限公司")
    assert ingest_records(doors.engine, FINANCE, RecordKind.penalty, [record]).accepted == 1
    project = "(SELECT id FROM projects WHERE ocid = :ocid)"
    with doors.engine.begin() as conn:
        for statement in [
            "UPDATE transactions SET order_date = :last WHERE order_id LIKE 'FAR-%'",
            "UPDATE penalty_records SET debarment_start = :first, debarment_end = :last "
            "WHERE record_id = 'FAR-P'",
            f"UPDATE awards SET decision_date = :first_moment WHERE project_id = {project}",
            f"UPDATE contracts SET date_signed = :last_moment WHERE project_id = {project}",
            f"UPDATE notices SET published_at = :last_moment WHERE project_id = {project}",
        ]:
            conn.execute(text(statement), {
                "first": "0001-01-01", "last": "9999-12-31", "ocid": ocid,
                "first_moment": "0001-01-01 00:00:00", "last_moment": "9999-12-31 23:59:59",
            })  # fmt: skip
    counts = rebuild(doors.engine)
    assert counts["projects"] >= 1


def test_a_header_that_names_no_kind_lists_the_expected_columns(doors: Doors) -> None:
    path = doors.folder / "orders.csv"
    path.write_text("订单号,金额\nDD1,100\n", "utf-8")
    result = doors.ingest(MALL, path)
    assert result.returncode == 1
    assert "orders.csv: refused, nothing written: header:" in result.stderr
    assert "transaction: order_id, channel, purchaser_name" in result.stderr
    assert "penalty: record_id, kind" in result.stderr
    assert "Traceback" not in result.stderr


def test_caigou_ingest_reads_a_gbk_csv_and_says_so(doors: Doors) -> None:
    path = write_csv(doors.folder / "gbk.csv", [transaction("GBK-1")], bom=False)
    path.write_bytes(path.read_text("utf-8").encode("gbk"))
    result = doors.ingest(MALL, path)
    assert result.returncode == 0, result.stderr
    assert "gbk.csv: read as GB18030 (GBK), not UTF-8" in result.stdout
    with doors.engine.connect() as conn:
        name = conn.execute(
            select(TRANSACTIONS.c.item_name).where(TRANSACTIONS.c.order_id == "GBK-1")
        ).scalar_one()
    assert name == "台式计算机"
