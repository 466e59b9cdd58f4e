"""The details real notices carry are stored: ceiling price, fee, items, experts, contacts."""

from __future__ import annotations

import copy
import json
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from jsonschema import Draft4Validator
from sqlalchemy import Engine, select

from exports.ocds import release_package
from exports.ocds_schema import merge_patch
from exports.write import export_day
from hub.app import create_app
from hub.config import Settings
from hub.publishing import ingest_records
from hub.publishing.details import detail_faults
from schema.columns import table_of
from schema.ocds import STANDARD_ZIP
from schema.tables import EvaluationExpert, Lot, Notice, Party, Project, ProjectItem
from schema.types import RecordKind
from tests.details_data import EXPERTS, OCID, detailed_releases
from tests.factories import AGENCY, PAPER_DEALER, SCHOOL, credit_code, party, project_releases
from tests.hub_server import running
from tests.web_client import web

JILIN = "吉林省政府采购网"
EXTENSION = Path(__file__).resolve().parents[1] / "schema/data/extension-caigou"
BEIJING_SCHOOL = ("北京市第八十中学", credit_code("12110105400012345"))


@pytest.fixture
def jilin(add):  # type: ignore[no-untyped-def]
    return add(JILIN, "regional_site", ["220000"], ["notice"])


def rows(engine: Engine, model: object, *order: str) -> list:
    table = table_of(model)
    with engine.connect() as conn:
        return conn.execute(select(table).order_by(*(table.c[o] for o in order))).all()


def test_the_details_of_every_notice_are_stored(engine, jilin) -> None:
    releases = detailed_releases()
    early = ingest_records(engine, JILIN, RecordKind.notice, releases[:2])
    assert early.status == "accepted", early.refusals
    assert rows(engine, EvaluationExpert, "id") == []  # none before the result
    result = ingest_records(engine, JILIN, RecordKind.notice, releases[2:])
    assert result.status == "accepted", result.refusals
    [project] = rows(engine, Project, "id")
    assert (project.budget, project.ceiling_price) == (Decimal("480000.00"), Decimal("480000.00"))
    assert project.agency_fee == Decimal("6897.00")
    assert (project.sme_set_aside, project.consortium_allowed) == (True, False)
    lots = {lot.lot_id: lot for lot in rows(engine, Lot, "lot_id")}
    assert lots["L1"].ceiling_price == Decimal("290000.00") and lots["L1"].sme_set_aside is True
    assert lots["L2"].consortium_allowed is True and lots["L2"].ceiling_price is None
    items = [
        (i.section, i.award_id, i.lot_id, i.name, i.specification, i.quantity, i.unit, i.unit_price)
        for i in rows(engine, ProjectItem, "section", "position")
    ]
    assert items == [
        ("award", "A1", None, "台式计算机", "联想 启天M4360", Decimal("100.000"), "台",
         Decimal("2898.0000")),
        ("tender", None, "L1", "台式计算机", "i5-13500/16G/512G SSD", Decimal("100.000"), "台",
         Decimal("2900.0000")),
        ("tender", None, "L2", "复印纸", "A4 70g 500张/包", Decimal("40000.000"), "张",
         Decimal("0.0050")),
    ]  # fmt: skip
    notices = {n.release_id.rsplit("-", 1)[-1]: n for n in rows(engine, Notice, "id")}
    experts = rows(engine, EvaluationExpert, "position")
    assert [(e.name, e.role) for e in experts] == [(x["name"], x["role"]) for x in EXPERTS]
    assert {e.notice_id for e in experts} == {notices["result"].id}
    tender = notices["tender"]
    assert (tender.publicity_start, tender.publicity_end, tender.publicity_days) == (
        datetime(2024, 3, 1, 9),
        datetime(2024, 3, 7, 17),
        5,
    )
    assert (notices["result"].publicity_start, notices["result"].publicity_days) == (
        datetime(2024, 4, 1, 15),
        1,
    )
    assert notices["contract"].publicity_days is None
    [agency] = [p for p in rows(engine, Party, "id") if p.uscc == AGENCY[1]]
    assert (agency.address, agency.contact_name, agency.contact_telephone) == (
        "长春市朝阳区人民大街1号",
        "刘工",
        "0431-88886666",
    )


def test_a_later_notice_replaces_the_lines_and_committee_it_restates(engine, jilin) -> None:
    releases = detailed_releases()
    assert ingest_records(engine, JILIN, RecordKind.notice, releases).status == "accepted"
    update = {
        "ocid": OCID, "id": f"{OCID}-03b-award-update", "date": "2024-04-03T09:00:00+08:00",
        "tag": ["awardUpdate"], "noticeType": "result", "title": "中标结果更正公告",
        "fullText": "评审专家更正。",
        "awards": [{"id": "A1", "evaluationExperts": [{"name": "王建国", "role": "chair"}],
                    "items": [{"id": "1", "quantity": 90}]}],
    }  # fmt: skip
    assert ingest_records(engine, JILIN, RecordKind.notice, [update]).status == "accepted"
    assert [e.name for e in rows(engine, EvaluationExpert, "position")] == ["王建国"]
    [award_line] = [i for i in rows(engine, ProjectItem, "id") if i.section == "award"]
    assert (award_line.quantity, award_line.specification) == (Decimal("90.000"), "联想 启天M4360")


def test_bad_details_are_refused_naming_each_field_and_nothing_is_stored(engine, jilin) -> None:
    release = copy.deepcopy(detailed_releases()[0])
    tender = release["tender"]
    tender["ceilingPrice"] = {"amount": "四十八万", "currency": "CNY"}
    tender["smeSetAside"] = "是"
    tender["items"][1]["unit"]["value"]["amount"] = 0.00001
    release["awards"] = [{"id": "A1", "evaluationExperts": [{"name": "张三"}]}]  # in a tender
    release["publicityPeriod"]["endDate"] = "2024-02-01T00:00:00+08:00"
    faults = sorted(f.field for f in detail_faults(release))
    assert faults == [
        "awards[0].evaluationExperts",
        "publicityPeriod.endDate",
        "tender.ceilingPrice.amount",
        "tender.items[1].unit.value.amount",
        "tender.smeSetAside",
    ]
    result = ingest_records(engine, JILIN, RecordKind.notice, [release])
    assert result.status == "rejected"
    assert {r.field for r in result.refusals} <= set(faults)
    assert all(r.record_id == release["id"] for r in result.refusals)
    assert rows(engine, Notice, "id") == [] and rows(engine, ProjectItem, "id") == []


@pytest.mark.parametrize("where", ["ceilingPrice", "agencyFee"])
def test_an_empty_amount_is_refused_by_its_path_not_a_crash(engine, jilin, where: str) -> None:
    release = copy.deepcopy(detailed_releases()[0])
    release["tender"][where] = {"amount": " ", "currency": "CNY"}
    result = ingest_records(engine, JILIN, RecordKind.notice, [release], partial=True)
    assert [(r.field, r.reason) for r in result.refusals] == [
        (f"tender.{where}.amount", "is empty: give a number, or leave it out")
    ]


def test_experts_named_outside_a_result_notice_are_refused_and_never_republished(
    engine, jilin
) -> None:
    releases = detailed_releases()
    leaking = copy.deepcopy(releases[0])  # the tender notice
    leaking["awards"] = [{"id": "A1", "evaluationExperts": [{"name": "张三", "role": "chair"}]}]
    refused = ingest_records(engine, JILIN, RecordKind.notice, [leaking])
    assert refused.status == "rejected"
    [refusal] = refused.refusals
    assert (refusal.record_id, refusal.field) == (leaking["id"], "awards[0].evaluationExperts")
    assert "result notice" in refusal.reason and "tender" in refusal.reason
    assert rows(engine, Notice, "id") == []
    accepted = ingest_records(engine, JILIN, RecordKind.notice, releases[:3])
    assert accepted.status == "accepted", accepted.refusals
    update = {  # an awardUpdate is a correction, not a result: its names are not public either
        "ocid": OCID, "id": f"{OCID}-03b-award-update", "date": "2024-04-03T09:00:00+08:00",
        "tag": ["awardUpdate"], "title": "中标结果更正公告", "fullText": "评审专家更正。",
        "awards": [{"id": "A1", "evaluationExperts": [{"name": "张三"}]}],
    }  # fmt: skip
    refused = ingest_records(engine, JILIN, RecordKind.notice, [update])
    assert [r.field for r in refused.refusals] == ["awards[0].evaluationExperts"]
    unnamed = {
        **update,
        "noticeType": "result",
        "awards": [{"id": "A1", "evaluationExperts": [{}]}],
    }
    refused = ingest_records(engine, JILIN, RecordKind.notice, [unnamed])
    assert [r.field for r in refused.refusals] == ["awards[0].evaluationExperts[0].name"]
    # The result notice's committee is public: stored, and in the day's OCDS download.
    assert [e.name for e in rows(engine, EvaluationExpert, "position")] == [
        x["name"] for x in EXPERTS
    ]
    with engine.connect() as conn:
        tender_day = json.dumps(release_package(conn, date(2024, 3, 1)), ensure_ascii=False)
        result_day = json.dumps(release_package(conn, date(2024, 4, 1)), ensure_ascii=False)
    assert "张三" not in tender_day + result_day
    assert all(x["name"] in result_day for x in EXPERTS)


def test_a_publisher_cannot_rewrite_another_regions_contact_through_its_own_project(
    database_url: str, engine, jilin, add, tmp_path: Path
) -> None:
    jilin_project = project_releases(OCID)
    school = jilin_project[0]["parties"][0]  # the buyer, 吉林省实验中学 (220000)
    school["address"]["streetAddress"] = "长春市南关区自由大路1号"
    school["contactPoint"] = {"name": "王老师", "telephone": "0431-1234567"}
    publish(engine, JILIN, jilin_project)
    beijing = "北京市政府采购网"
    add(beijing, "regional_site", ["110000"], ["notice"])
    [tender] = project_releases("ocds-cghub1-BJZC2024-0001")[:1]
    del tender["tender"]["procuringEntity"]
    named = party(SCHOOL, ["supplier"])  # the Jilin school, by its credit code
    named["address"]["streetAddress"] = "北京市朝阳区某某路2号"
    named["contactPoint"] = {"name": "冒名者", "telephone": "010-66668888"}
    buyer = party(BEIJING_SCHOOL, ["buyer"], "110105")
    buyer["contactPoint"] = {"name": "李老师", "telephone": "010-65001234"}
    tender.update(parties=[buyer, named], buyer={"id": BEIJING_SCHOOL[1]})
    publish(engine, beijing, [tender])  # still compiles: its own buyer's contact is written
    contacts = {p.uscc: (p.address, p.contact_name, p.contact_telephone)
                for p in rows(engine, Party, "id")}  # fmt: skip
    assert contacts[SCHOOL[1]] == ("长春市南关区自由大路1号", "王老师", "0431-1234567")
    assert contacts[BEIJING_SCHOOL[1]] == (None, "李老师", "010-65001234")
    app = create_app(Settings(database_url, str(tmp_path / "exports"), None))
    try:
        with running(app) as base:
            page = web.get(f"{base}/projects/{OCID}", timeout=30).text
    finally:
        app.state.engine.dispose()
    assert "王老师" in page and "0431-1234567" in page
    assert "冒名者" not in page and "010-66668888" not in page


def test_a_project_in_the_partys_region_updates_its_contact(engine, jilin) -> None:
    releases = project_releases(OCID)  # in 220102, as the paper dealer is
    dealer = party(PAPER_DEALER, ["supplier"])
    dealer["contactPoint"] = {"name": "赵经理", "telephone": "0431-5550001"}
    releases[2]["parties"] = [*releases[2]["parties"], dealer]
    publish(engine, JILIN, releases[:3])
    moved = {**dealer, "contactPoint": {"name": "钱经理", "telephone": "0431-5550002"}}
    releases[3]["parties"] = [moved]
    publish(engine, JILIN, releases[3:])
    [stored] = [p for p in rows(engine, Party, "id") if p.uscc == PAPER_DEALER[1]]
    assert (stored.contact_name, stored.contact_telephone) == ("钱经理", "0431-5550002")


def publish(engine: Engine, publisher: str, releases: list[dict[str, Any]]) -> None:
    result = ingest_records(engine, publisher, RecordKind.notice, releases)
    assert result.status == "accepted", result.refusals


def test_the_caigou_extension_schema_takes_the_fields_and_refuses_wrong_types() -> None:
    with zipfile.ZipFile(STANDARD_ZIP) as archive:
        core = json.loads(archive.read("standard-1__1__5/schema/release-schema.json"))
    extension = EXTENSION / "release-schema.json"
    schema = merge_patch(core, json.loads(extension.read_text("utf-8")))
    metadata = json.loads((EXTENSION / "extension.json").read_text("utf-8"))
    assert metadata["schemas"] == ["release-schema.json"]
    for codelist in metadata["codelists"]:
        assert (EXTENSION / "codelists" / codelist).is_file()
    validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    releases = detailed_releases()
    for release in releases:
        release.setdefault("initiationType", "tender")  # required by OCDS, not by the hub
        assert list(validator.iter_errors(release)) == [], release["id"]
    bad = copy.deepcopy(releases[2])
    bad["awards"][0]["evaluationExperts"] = [{"role": "chair"}]
    bad["tender"]["agencyFee"] = "6897元"
    paths = sorted(".".join(map(str, e.absolute_path)) for e in validator.iter_errors(bad))
    assert paths == ["awards.0.evaluationExperts.0", "tender.agencyFee"]


def test_the_days_dump_has_the_item_lines_the_committee_and_the_flags(
    engine, jilin, tmp_path: Path
) -> None:
    assert (
        ingest_records(engine, JILIN, RecordKind.notice, detailed_releases()).status == "accepted"
    )
    export_day(engine, str(tmp_path), date(2024, 4, 1))  # the result notice's day
    day = "date=2024-04-01"
    changes = tmp_path / "parquet" / "changes"
    items = pq.read_table(changes / f"project_items/{day}/project_items.parquet").to_pylist()
    assert sorted((i["section"], i["specification"], i["unit_price"]) for i in items) == [
        ("award", "联想 启天M4360", Decimal("2898.0000")),
        ("tender", "A4 70g 500张/包", Decimal("0.0050")),
        ("tender", "i5-13500/16G/512G SSD", Decimal("2900.0000")),
    ]
    experts = pq.read_table(changes / f"evaluation_experts/{day}/evaluation_experts.parquet")
    assert experts.column("name").to_pylist() == [x["name"] for x in EXPERTS]
    [project] = pq.read_table(changes / f"projects/{day}/projects.parquet").to_pylist()
    assert (project["sme_set_aside"], project["consortium_allowed"]) == (True, False)
    assert project["ceiling_price"] == Decimal("480000.00")
