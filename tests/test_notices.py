"""OCDS release packages: notice types, refusals, sources, corrections and compiling."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from hub.publishing import ingest_file, ingest_records
from schema.tables import (
    AWARD_SUPPLIERS,
    AWARDS,
    CONTRACTS,
    NOTICE_SOURCES,
    NOTICES,
    PARTIES,
    PROJECTS,
)
from schema.types import RecordKind
from tests.factories import LENOVO_DEALER, project_releases, write_package

JILIN = "吉林省政府采购网"
CENTRAL = "中国政府采购网"


@pytest.fixture
def jilin(add):  # type: ignore[no-untyped-def]
    return add(JILIN, "regional_site", ["220000"], ["notice"], "http://www.ccgp-jilin.gov.cn")


def notices(engine: Engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(NOTICES).order_by(NOTICES.c.published_at)).all()


def project(engine: Engine):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(PROJECTS)).one()


def test_a_project_is_compiled_from_its_notices(engine, jilin, tmp_path: Path) -> None:
    result = ingest_file(engine, write_package(tmp_path / "p.json", project_releases()), JILIN)
    assert (result.status, result.accepted) == ("accepted", 4)
    assert [n.notice_type for n in notices(engine)] == [
        "tender",
        "correction",
        "result",
        "contract",
    ]
    compiled = project(engine)
    assert compiled.ocid == "ocds-cghub1-JLZC2024-0153"
    assert compiled.project_code == "JLZC2024-0153"
    assert compiled.title == "吉林省实验中学计算机采购项目"  # the correction did not state it
    assert compiled.budget == Decimal("480000.00")  # the correction did
    assert (compiled.procurement_method, compiled.procurement_method_details) == (
        "open",
        "公开招标",
    )
    assert (compiled.category_code, compiled.category_edition) == ("A02010105", "2022")
    assert (compiled.region_code, compiled.status, compiled.notice_count) == (
        "220102",
        "contracted",
        4,
    )
    with engine.connect() as conn:
        award = conn.execute(select(AWARDS)).one()
        contract = conn.execute(select(CONTRACTS)).one()
        award_supplier = conn.execute(select(AWARD_SUPPLIERS.c.party_id)).scalar_one()
    assert award.amount == Decimal("459800.00")
    assert str(award.decision_date) == "2024-03-29 16:00:00"
    assert contract.supplier_id == award_supplier
    assert str(contract.date_signed) == "2024-04-08 10:00:00"


def test_a_correction_supersedes_the_notice_it_amends(engine, jilin, tmp_path: Path) -> None:
    ingest_file(engine, write_package(tmp_path / "p.json", project_releases()), JILIN)
    tender, correction, *_ = notices(engine)
    assert correction.supersedes_id == tender.id
    assert tender.supersedes_id is None


def test_notices_arriving_out_of_order_compile_in_publish_order(
    engine, jilin, tmp_path: Path
) -> None:
    releases = project_releases()
    first = ingest_file(
        engine, write_package(tmp_path / "a.json", [releases[0], releases[3]]), JILIN
    )
    late = ingest_file(
        engine, write_package(tmp_path / "b.json", [releases[2], releases[1]]), JILIN
    )
    assert (first.accepted, late.accepted) == (2, 2)
    assert project(engine).budget == Decimal("480000.00")
    assert project(engine).status == "contracted"
    assert [n.notice_type for n in notices(engine)] == [
        "tender",
        "correction",
        "result",
        "contract",
    ]


def test_a_correction_for_an_unknown_project_says_what_is_missing(engine, jilin) -> None:
    [refusal] = ingest_records(engine, JILIN, RecordKind.notice, [project_releases()[1]]).refusals
    assert refusal.field == "parties" and "region" in refusal.reason


def test_single_source_publicity_and_the_notice_type_extension(engine, jilin) -> None:
    tender, *_ = project_releases("ocds-cghub1-JLDY2024-0007")
    tender["tender"]["procurementMethod"] = "limited"
    tender["tender"]["procurementMethodDetails"] = "单一来源"
    fee = copy.deepcopy(tender) | {"id": "fee-1", "noticeType": "agency_fee", "tag": ["award"],
                                   "date": "2024-04-02T09:00:00+08:00"}  # fmt: skip
    ingest_records(engine, JILIN, RecordKind.notice, [tender, fee])
    assert [n.notice_type for n in notices(engine)] == ["single_source", "agency_fee"]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"classified": True}, "classified", "涉密"),
        ({"tag": ["planningUpdate2"]}, "tag", "not a procurement notice type"),
        ({"noticeType": "advertisement"}, "noticeType", "not a procurement notice type"),
        (
            {"title": "", "tender": {}, "planning": {}, "fullText": "", "parties": []},
            "release",
            "empty notice",
        ),
        ({"date": "next monday"}, "date", "ISO 8601"),
    ],
)
def test_what_is_not_publishable_is_refused_with_a_reason(
    engine, jilin, change, field, reason
) -> None:
    release = project_releases()[0] | change
    result = ingest_records(engine, JILIN, RecordKind.notice, [release])
    assert result.status == "rejected" and result.rejected == 1
    assert any(r.field == field and reason in r.reason for r in result.refusals)
    assert {r.record_id for r in result.refusals} == {release["id"]}
    assert notices(engine) == []


def test_an_invalid_party_code_names_the_party(engine, jilin) -> None:
    release = project_releases()[0]
    release["parties"][1]["identifier"]["id"] = "12220000MB1234567X"
    [refusal] = ingest_records(engine, JILIN, RecordKind.notice, [release]).refusals
    assert refusal.field == "parties[1].identifier.id"


def test_a_project_outside_the_publishers_regions_is_refused(engine, add) -> None:
    add("北京市政府采购网", "regional_site", ["110000"], ["notice"])
    [refusal] = ingest_records(
        engine, "北京市政府采购网", RecordKind.notice, project_releases()[:1]
    ).refusals
    assert refusal.field == "parties[0].address.region"
    assert refusal.reason == "220102 is outside 北京市政府采购网's scope (110000)"


def test_a_later_notice_naming_a_supplier_elsewhere_does_not_move_the_project(
    engine, jilin
) -> None:
    tender, _, result, _ = project_releases()
    del result["parties"][0]["id"]  # a party without an id is not the buyer
    result["parties"][0]["address"]["region"] = "220201"
    assert ingest_records(engine, JILIN, RecordKind.notice, [tender, result]).accepted == 2
    assert project(engine).region_code == "220102"


def test_the_same_notice_from_two_sites_is_stored_once_with_both_sources(
    engine, jilin, add, tmp_path: Path
) -> None:
    central = add(CENTRAL, "regional_site", ["100000"], ["notice"], "http://www.ccgp.gov.cn")
    releases = project_releases()
    ingest_file(engine, write_package(tmp_path / "jl.json", releases), JILIN)
    again = ingest_file(
        engine, write_package(tmp_path / "central.json", releases[:2], CENTRAL), CENTRAL
    )
    assert (again.accepted, again.duplicates) == (0, 2)
    assert len(notices(engine)) == 4
    with engine.connect() as conn:
        sources = conn.execute(
            select(NOTICE_SOURCES.c.notice_id, func.count()).group_by(NOTICE_SOURCES.c.notice_id)
        ).all()
        central_sites = (
            conn.execute(
                select(NOTICE_SOURCES.c.source_site).where(
                    NOTICE_SOURCES.c.publisher_id == central.id
                )
            )
            .scalars()
            .all()
        )
    assert sorted(n for _, n in sources) == [1, 1, 2, 2]
    assert central_sites == ["http://www.ccgp.gov.cn"] * 2


def test_a_release_id_with_changed_content_is_refused(engine, jilin) -> None:
    release = project_releases()[0]
    ingest_records(engine, JILIN, RecordKind.notice, [release])
    changed = copy.deepcopy(release)
    changed["tender"]["value"]["amount"] = 1.0
    result = ingest_records(engine, JILIN, RecordKind.notice, [changed])
    assert result.refusals[0].field == "id" and "correction" in result.refusals[0].reason
    assert project(engine).budget == Decimal("500000.00")


def test_award_suppliers_are_parties_with_codes(engine, jilin) -> None:
    ingest_records(engine, JILIN, RecordKind.notice, project_releases())

    with engine.connect() as conn:
        supplier = conn.execute(
            select(PARTIES).join(AWARD_SUPPLIERS, AWARD_SUPPLIERS.c.party_id == PARTIES.c.id)
        ).one()
    assert (supplier.name, supplier.uscc, supplier.region_code) == (*LENOVO_DEALER, "220101")
