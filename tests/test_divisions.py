"""GB/T 2260 divisions: the shipped list, names read back as codes at every door, a missing
buyer region inferred, and 品目 codes checked whatever the classification scheme says."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import Engine, select

from hub.publishing import ingest_records
from schema.codes import CodeError
from schema.divisions import code_for_name, divisions, lineage, region_name
from schema.tables import DATA_QUALITY_ISSUES as ISSUES
from schema.tables import PARTIES, PENALTY_RECORDS, PROJECTS, TRANSACTIONS
from schema.types import RecordKind
from tests.factories import SCHOOL, penalty, project_releases, transaction

JILIN = "吉林省政府采购网"
MALL = "吉林省电子卖场"
FINANCE = "吉林省财政厅"


def test_the_list_is_the_whole_current_gbt_2260() -> None:
    listed = divisions()
    assert len(listed) >= 3200
    assert sum(d.level == "province" for d in listed.values()) == 34  # 港澳台 included
    assert [d.name for d in lineage("220421")] == ["吉林省", "辽源市", "东丰县"]
    assert region_name("429004") == "湖北省仙桃市"  # 省直辖: no prefecture between
    assert region_name("110105") == "北京市朝阳区"
    assert region_name("659012") == "新疆维吾尔自治区白杨市"  # set up in 2023
    assert region_name("220101") == "吉林省长春市市辖区"  # credit codes still carry 市辖区
    assert region_name("229999") is None
    assert all(d.parent_code is None or d.parent_code in listed for d in listed.values())


@pytest.mark.parametrize(
    ("name", "code"),
    [("吉林省", "220000"), ("吉林省辽源市东丰县", "220421"), ("东丰县", "220421"),
     ("吉林省 东丰县", "220421"), ("辽源市东丰县", "220421"), ("北京市市辖区朝阳区", "110105"),
     ("吉林市", "220200")],
)  # fmt: skip
def test_a_division_name_reads_back_as_its_code(name: str, code: str) -> None:
    assert code_for_name(name) == code


def test_an_ambiguous_or_unknown_name_is_not_guessed() -> None:
    with pytest.raises(CodeError, match=r"names 2 divisions \(110105 北京市朝阳区, 220104"):
        code_for_name("朝阳区")
    with pytest.raises(CodeError, match="neither a six-digit division code nor a division name"):
        code_for_name("吉林")  # 吉林省 or 吉林市


@pytest.fixture
def jilin(add):  # type: ignore[no-untyped-def]
    add(JILIN, "regional_site", ["220000"], ["notice"])
    add(MALL, "trading_platform", ["220000"], ["transaction"])
    add(FINANCE, "finance_department", ["220000"], ["penalty"])


def issues(engine: Engine) -> list[tuple[str, str, str, str]]:
    """The regions' data-quality issues (harmless OCDS shapes are recorded there too)."""
    with engine.connect() as conn:
        rows = conn.execute(select(ISSUES).order_by(ISSUES.c.id)).all()
    return [(r.record_kind, r.field_name, r.code, r.message) for r in rows
            if r.code.startswith("region_")]  # fmt: skip


def stored(engine: Engine, table: Any, *columns: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(*(table.c[c] for c in columns))).all()]


def with_buyer_region(region: object) -> list[dict[str, Any]]:
    releases = project_releases()
    releases[0]["parties"][0]["address"] = {"region": region} if region is not None else {}
    return releases


def test_a_release_may_name_the_buyer_region(engine, jilin) -> None:
    releases = with_buyer_region("吉林省辽源市东丰县")
    releases[0]["parties"][0]["identifier"] = {"scheme": "CN-ORG", "id": "41275869-3"}
    result = ingest_records(engine, JILIN, RecordKind.notice, releases)
    assert (result.status, result.accepted) == ("accepted", 4)
    assert stored(engine, PROJECTS, "region_code") == [("220421",)]
    school = stored(engine, PARTIES, "name", "region_code")
    assert (SCHOOL[0], "220421") in school  # the party's too: a code, not the name
    assert issues(engine) == [(
        "notice", "parties[0].address.region", "region_name",
        "region given as the name '吉林省辽源市东丰县', read as 220421 (吉林省辽源市东丰县)",
    )]  # fmt: skip


@pytest.mark.parametrize(
    ("party", "name", "reason"),
    [(0, "朝阳区", "names 2 divisions (110105 北京市朝阳区, 220104 吉林省长春市朝阳区)"),
     (0, "火星省", "'火星省' is neither a six-digit division code nor a division name")],
)  # fmt: skip
def test_an_ambiguous_or_unknown_region_name_is_refused_by_field(
    engine, jilin, party: int, name: str, reason: str
) -> None:
    releases = project_releases()[:1]
    releases[0]["parties"][party]["address"]["region"] = name
    result = ingest_records(engine, JILIN, RecordKind.notice, releases)
    assert result.status == "rejected"
    assert [r.field for r in result.refusals] == [f"parties[{party}].address.region"]
    assert reason in result.refusals[0].reason
    assert stored(engine, PROJECTS, "id") == []


def test_a_missing_buyer_region_is_inferred_from_its_credit_code(engine, jilin) -> None:
    result = ingest_records(engine, JILIN, RecordKind.notice, with_buyer_region(None))
    assert result.accepted == 4
    assert stored(engine, PROJECTS, "region_code") == [("220000",)]  # 12220000…
    assert issues(engine) == [(
        "notice", "parties[0].identifier.id", "region_inferred",
        "buyer region inferred as 220000 (吉林省) from its credit code (characters 3–8)",
    )]  # fmt: skip


def test_else_from_the_agency_region(engine, jilin) -> None:
    releases = with_buyer_region(None)
    buyer = releases[0]["parties"][0]
    buyer["identifier"] = {"scheme": "CN-ORG", "id": "41275869-3"}  # no credit code
    releases[0]["parties"][1]["address"]["region"] = "220102"
    result = ingest_records(engine, JILIN, RecordKind.notice, releases[:1])
    assert result.accepted == 1
    assert stored(engine, PROJECTS, "region_code") == [("220102",)]
    assert [i[1:3] for i in issues(engine)] == [("parties[1].address.region", "region_inferred")]


def test_scope_applies_to_the_inferred_region(engine, add) -> None:
    add("北京市政府采购网", "regional_site", ["110000"], ["notice"])
    result = ingest_records(engine, "北京市政府采购网", RecordKind.notice, with_buyer_region(None))
    assert result.status == "rejected"
    assert result.refusals[0].field == "parties[0].identifier.id"
    assert "220000 is outside 北京市政府采购网's scope" in result.refusals[0].reason


def test_no_region_anywhere_is_still_refused(engine, jilin) -> None:
    releases = with_buyer_region(None)
    releases[0]["parties"] = releases[0]["parties"][:1]
    releases[0]["parties"][0]["identifier"] = {"scheme": "CN-ORG", "id": "41275869-3"}
    del releases[0]["tender"]["procuringEntity"]
    result = ingest_records(engine, JILIN, RecordKind.notice, releases[:1])
    assert [r.field for r in result.refusals] == ["parties"]
    assert "region is unknown" in result.refusals[0].reason


def test_a_later_release_may_name_the_stored_region_but_not_move_it(engine, jilin) -> None:
    releases = project_releases()
    assert ingest_records(engine, JILIN, RecordKind.notice, releases[:1]).accepted == 1
    award = releases[2]
    award["parties"] = [*award["parties"], copy.deepcopy(releases[0]["parties"][0])]
    award["parties"][1]["address"]["region"] = "吉林省长春市南关区"  # 220102, as stored
    assert ingest_records(engine, JILIN, RecordKind.notice, [award]).accepted == 1
    moved = copy.deepcopy(award)
    moved["id"] += "-moved"
    moved["parties"][1]["address"]["region"] = "吉林省"
    result = ingest_records(engine, JILIN, RecordKind.notice, [moved])
    assert [r.field for r in result.refusals] == ["parties[1].address.region"]
    assert "220000: project ocds-cghub1-JLZC2024-0153 is in 220102" in result.refusals[0].reason


def test_transaction_and_penalty_files_may_name_regions(engine, jilin) -> None:
    rows = [transaction("DD1", region_code="吉林省长春市南关区"), transaction("DD2")]
    assert ingest_records(engine, MALL, RecordKind.transaction, rows).accepted == 2
    assert stored(engine, TRANSACTIONS, "order_id", "region_code") == [
        ("DD1", "220102"), ("DD2", "220102")
    ]  # fmt: skip
    record = penalty(region_code="吉林省")
    assert ingest_records(engine, FINANCE, RecordKind.penalty, [record]).accepted == 1
    assert stored(engine, PENALTY_RECORDS, "region_code") == [("220000",)]
    assert [i[:3] for i in issues(engine)] == [
        ("transaction", "region_code", "region_name"), ("penalty", "region_code", "region_name")
    ]  # fmt: skip
    bad = ingest_records(
        engine, MALL, RecordKind.transaction, [transaction("DD3", region_code="鼓楼区")]
    )
    assert [(r.field, "names 4 divisions" in r.reason) for r in bad.refusals] == [
        ("region_code", True)
    ]  # fmt: skip


def classified(scheme: str | None, code: str) -> list[dict[str, Any]]:
    releases = copy.deepcopy(project_releases()[:1])
    classification = releases[0]["tender"]["items"][0]["classification"]
    classification["id"] = code
    if scheme is None:
        del classification["scheme"]
    else:
        classification["scheme"] = scheme
    return releases


@pytest.mark.parametrize("scheme", [None, "CPV", "UNSPSC"])
def test_a_catalogue_shaped_code_is_checked_whatever_the_scheme(engine, jilin, scheme) -> None:
    result = ingest_records(engine, JILIN, RecordKind.notice, classified(scheme, "A99999999"))
    assert [r.field for r in result.refusals] == ["tender.items[0].classification.id"]
    assert "not in the 2022 item catalogue" in result.refusals[0].reason


def test_a_foreign_scheme_is_kept_apart_from_the_catalogue(engine, jilin) -> None:
    result = ingest_records(engine, JILIN, RecordKind.notice, classified("CPV", "30213100-6"))
    assert result.accepted == 1
    assert stored(engine, PROJECTS, "category_code", "category_edition") == [
        (None, None)
    ]  # fmt: skip


def test_a_catalogue_code_without_scheme_is_the_project_category(engine, jilin) -> None:
    assert ingest_records(engine, JILIN, RecordKind.notice, classified(None, "A02010105")).accepted
    assert stored(engine, PROJECTS, "category_code", "category_edition") == [
        ("A02010105", "2022")
    ]  # fmt: skip
