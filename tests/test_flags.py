"""Consistency flags: a test per rule on projects published through the real pipeline.

Dates sit around 2024's holidays on purpose: Spring Festival (Feb 10–17, make-up Sundays
Feb 4 and 18), Qingming (Apr 4–6, make-up Sunday Apr 7), Labour Day (May 1–5) and National
Day (Oct 1–7, make-up Sunday Sep 29 and Saturday Oct 12).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from hub.flags import flags_for_project, rebuild
from hub.publishing import ingest_records
from schema.calendar import (
    CalendarUnknown,
    WorkCalendar,
    add_working_days,
    is_workday,
    working_days_between,
)
from schema.flags import Flag
from schema.tables import FLAGS, PARTIES, PROJECTS
from schema.types import RecordKind
from tests.factories import (
    FURNITURE,
    LENOVO_DEALER,
    PAPER_DEALER,
    SCHOOL,
    credit_code,
    party,
    penalty,
    project_releases,
    transaction,
)  # fmt: skip

JILIN = "吉林省政府采购网"
CENTRAL = "中国政府采购网"
OCID = "ocds-cghub1-JLZC2024-0153"
TODAY = date(2024, 6, 1)


@pytest.fixture
def jilin(add):  # type: ignore[no-untyped-def]
    return add(JILIN, "regional_site", ["220000"], ["notice"])


def documents(ocid: str = OCID, when: str = "2024-04-01T15:10:00+08:00") -> dict[str, Any]:
    return {
        "ocid": ocid, "id": f"{ocid}-03a-documents", "date": when, "tag": ["tender"],
        "noticeType": "documents", "title": "采购文件", "fullText": "招标文件全文。",
        "tender": {"id": "JLZC2024-0153", "documents": [{
            "id": "WJ", "documentType": "biddingDocuments", "title": "招标文件"}]},
    }  # fmt: skip


def compliant() -> list[dict[str, Any]]:
    """tender → correction → result → documents → contract, every deadline kept."""
    releases = project_releases()
    return [*releases[:3], documents(), releases[3]]


def publish(engine: Engine, releases: list[dict[str, Any]], publisher: str = JILIN) -> None:
    result = ingest_records(engine, publisher, RecordKind.notice, releases)
    assert result.status == "accepted", result.refusals


def found(engine: Engine, today: date = TODAY, **kwargs: Any) -> list[Flag]:
    with engine.connect() as conn:
        project_ids = conn.execute(select(PROJECTS.c.id)).scalars().all()
        return [
            f for pid in project_ids for f in flags_for_project(conn, pid, today=today, **kwargs)
        ]


def codes(flags: list[Flag]) -> list[str]:
    return sorted(f.code for f in flags)


def party_id(engine: Engine, who: tuple[str, str]) -> int:
    with engine.connect() as conn:
        return conn.execute(select(PARTIES.c.id).where(PARTIES.c.uscc == who[1])).scalar_one()


# The calendar ---------------------------------------------------------------------------


def test_working_days_follow_holidays_and_make_up_days() -> None:
    assert not is_workday(date(2024, 10, 3)) and is_workday(date(2024, 10, 12))  # Saturday
    assert is_workday(date(2024, 2, 18)) and not is_workday(date(2024, 2, 12))
    assert working_days_between(date(2024, 2, 8), date(2024, 2, 19)) == 3
    assert working_days_between(date(2024, 2, 19), date(2024, 2, 8)) == -3
    assert add_working_days(date(2024, 9, 27), 1) == date(2024, 9, 29)  # a make-up Sunday
    assert add_working_days(date(2024, 9, 30), 1) == date(2024, 10, 8)
    assert add_working_days(date(2024, 10, 8), -1) == date(2024, 9, 30)


def test_a_date_outside_known_data_is_refused_not_guessed() -> None:
    with pytest.raises(CalendarUnknown, match="2027-01-04"):
        is_workday(date(2027, 1, 4))
    table = WorkCalendar({date(2027, 1, 1): False, date(2027, 2, 20): True})
    assert not table.is_workday(date(2027, 1, 1)) and table.is_workday(date(2027, 1, 4))
    assert table.is_workday(date(2027, 2, 20)) and not table.is_workday(date(2027, 2, 21))


# Both directions ------------------------------------------------------------------------


def test_a_compliant_project_raises_nothing(engine, jilin) -> None:
    publish(engine, compliant())
    assert found(engine) == []
    with engine.connect() as conn:  # the pipeline stored what it computed: nothing
        assert conn.execute(select(FLAGS)).all() == []


# Single source --------------------------------------------------------------------------


def single_source(
    publicity_day: str, award_day: str, end_day: str | None = None
) -> list[dict[str, Any]]:
    """A single-source purchase: publicity, result, documents, contract."""
    releases = compliant()
    tender = releases[0]["tender"]
    tender.update(procurementMethod="limited", procurementMethodDetails="单一来源")
    tender["tenderPeriod"] = {
        "startDate": f"{publicity_day}T09:00:00+08:00",
        "endDate": f"{end_day or publicity_day}T17:00:00+08:00",
    }
    releases[0]["date"] = f"{publicity_day}T09:00:00+08:00"
    del releases[1]  # no correction
    releases[1]["awards"][0]["date"] = f"{award_day}T10:00:00+08:00"
    releases[1]["date"] = f"{award_day}T15:00:00+08:00"
    releases[2]["date"] = f"{award_day}T15:10:00+08:00"
    releases[3]["date"] = f"{award_day}T16:00:00+08:00"
    releases[3]["contracts"][0]["dateSigned"] = f"{award_day}T15:30:00+08:00"
    return releases


def test_single_source_without_publicity(engine, jilin) -> None:
    releases = single_source("2024-05-06", "2024-05-20")[1:]
    releases[0]["parties"].append(party(SCHOOL, ["buyer"]))
    releases[0]["buyer"] = {"id": SCHOOL[1], "name": SCHOOL[0]}
    releases[0]["tender"] = {"id": "JLZC2024-0153", "procurementMethod": "limited",
                             "procurementMethodDetails": "单一来源"}  # fmt: skip
    publish(engine, releases)
    [flag] = found(engine)
    assert (flag.code, flag.severity) == ("SINGLE_SOURCE_NO_PUBLICITY", "high")
    assert {n["type"] for n in json.loads(flag.evidence)["notices"]} == {"result", "contract"}


def test_single_source_publicity_counts_working_days_across_national_day(engine, jilin) -> None:
    # Published Fri 27 Sep: Sun 29 Sep (make-up) and Mon 30 Sep, then Oct 8 and 9.
    publish(engine, single_source("2024-09-27", "2024-10-09", "2024-10-10"))
    [flag] = found(engine)
    assert flag.code == "SINGLE_SOURCE_SHORT_PUBLICITY"
    assert json.loads(flag.evidence)["publicity_working_days"] == 3
    assert flag.notice_ids and "5个工作日" in flag.legal_basis


def test_single_source_publicity_of_five_working_days_thanks_to_a_make_up_sunday(
    engine, jilin
) -> None:
    # Sep 29 (Sun), Sep 30, Oct 8, 9, 10: five working days, the award on Oct 11.
    publish(engine, single_source("2024-09-27", "2024-10-11", "2024-10-10"))
    assert found(engine) == []


# Result and contract deadlines ----------------------------------------------------------


def with_award_on(day: str, published: str) -> list[dict[str, Any]]:
    releases = compliant()
    releases[2]["awards"][0]["date"] = f"{day}T16:00:00+08:00"
    releases[2]["date"] = f"{published}T09:00:00+08:00"
    releases[3]["date"] = f"{published}T09:10:00+08:00"
    return releases


@pytest.mark.parametrize(("published", "late"), [("2024-02-18", False), ("2024-02-19", True)])
def test_result_within_two_working_days_across_spring_festival(
    engine, jilin, published, late
) -> None:
    releases = with_award_on("2024-02-08", published)
    releases[0]["date"] = "2024-01-02T09:00:00+08:00"
    releases[0]["tender"]["tenderPeriod"] = {
        "startDate": "2024-01-02T09:00:00+08:00",
        "endDate": "2024-02-08T09:30:00+08:00",
    }
    releases[1]["date"] = "2024-01-05T10:00:00+08:00"
    releases[1]["tender"]["tenderPeriod"] = {"endDate": "2024-02-08T09:30:00+08:00"}
    publish(engine, releases)
    flags = found(engine)
    assert codes(flags) == (["RESULT_LATE"] if late else [])
    if late:
        assert json.loads(flags[0].evidence)["working_days"] == 3


def test_a_correction_that_moves_the_award_date_is_followed(engine, jilin) -> None:
    publish(engine, with_award_on("2024-03-26", "2024-04-01"))  # 4 working days
    [flag] = found(engine)
    assert flag.code == "RESULT_LATE"
    with engine.connect() as conn:  # stored by the pipeline, in the same transaction
        assert [f.code for f in conn.execute(select(FLAGS))] == ["RESULT_LATE"]
    publish(engine, [{
        "ocid": OCID, "id": f"{OCID}-05-award-update", "date": "2024-04-15T09:00:00+08:00",
        "tag": ["awardUpdate"], "title": "中标结果更正公告", "fullText": "中标确定日期更正。",
        "awards": [{"id": "A1", "date": "2024-03-29T16:00:00+08:00"}],
    }])  # fmt: skip
    assert found(engine) == []
    with engine.connect() as conn:
        assert conn.execute(select(FLAGS)).all() == []


@pytest.mark.parametrize(("published", "late"), [("2024-04-08", False), ("2024-04-10", True)])
def test_contract_within_two_working_days_across_qingming(engine, jilin, published, late) -> None:
    releases = compliant()
    releases[4]["contracts"][0]["dateSigned"] = "2024-04-03T10:00:00+08:00"
    releases[4]["date"] = f"{published}T09:00:00+08:00"
    publish(engine, releases)
    flags = found(engine)
    assert codes(flags) == (["CONTRACT_LATE"] if late else [])
    if late:
        evidence = json.loads(flags[0].evidence)
        assert evidence["working_days"] == 4  # Sun 7 (make-up), 8, 9, 10 April
        assert {"field": "contracts[C1].dateSigned", "value": "2024-04-03T10:00:00",
                "notice_id": evidence["notices"][0]["id"]} in evidence["fields"]  # fmt: skip


def test_a_deadline_beyond_the_calendar_is_a_low_note_not_a_guess(engine, jilin) -> None:
    releases = with_award_on("2026-12-28", "2027-01-05")
    publish(engine, releases)
    [flag] = [f for f in found(engine, today=date(2027, 1, 10)) if f.code == "RESULT_LATE"]
    assert flag.severity == "low" and json.loads(flag.evidence)["note"] == "unknown_calendar"
    known = WorkCalendar({date(2027, 1, 1): False})
    [flag] = [f for f in found(engine, today=date(2027, 1, 10), calendar=known)
              if f.code == "RESULT_LATE"]  # fmt: skip
    assert flag.severity == "medium" and "note" not in json.loads(flag.evidence)


# Suppliers, amounts, budgets ------------------------------------------------------------


def two_lots() -> list[dict[str, Any]]:
    """Lot 1 to a consortium (Lenovo dealer + furniture maker), lot 2 to the paper dealer."""
    releases = compliant()
    releases[0]["tender"]["lots"] = [
        {"id": "L1", "title": "计算机", "value": {"amount": 300000.0, "currency": "CNY"}},
        {"id": "L2", "title": "复印纸", "value": {"amount": 180000.0, "currency": "CNY"}},
    ]
    result = releases[2]
    result["parties"] += [party(PAPER_DEALER, ["supplier"]), party(FURNITURE, ["supplier"])]
    award = result["awards"][0]
    award.update(relatedLots=["L1"], value={"amount": 280000.0, "currency": "CNY"})
    award["suppliers"].append({"id": FURNITURE[1], "name": FURNITURE[0]})
    result["awards"].append({
        "id": "A2", "status": "active", "date": "2024-03-29T16:30:00+08:00", "relatedLots": ["L2"],
        "value": {"amount": 170000.0, "currency": "CNY"},
        "suppliers": [{"id": PAPER_DEALER[1], "name": PAPER_DEALER[0]}],
    })  # fmt: skip
    contract = releases[4]["contracts"][0]
    contract.update(value={"amount": 280000.0, "currency": "CNY"},
                    suppliers=[{"id": FURNITURE[1], "name": FURNITURE[0]}])  # fmt: skip
    releases[4]["contracts"].append({
        **copy.deepcopy(contract), "id": "C2", "awardID": "A2",
        "value": {"amount": 170000.0, "currency": "CNY"},
        "suppliers": [{"id": PAPER_DEALER[1], "name": PAPER_DEALER[0]}],
    })  # fmt: skip
    return releases


def test_two_lots_with_a_consortium_are_compliant(engine, jilin) -> None:
    publish(engine, two_lots())
    assert found(engine) == []


def test_contract_supplier_must_have_won_that_lot(engine, jilin) -> None:
    releases = two_lots()  # the Lenovo dealer won lot 1, and signs the contract of lot 2
    releases[4]["contracts"][1]["suppliers"] = [{"id": LENOVO_DEALER[1], "name": LENOVO_DEALER[0]}]
    publish(engine, releases)
    [flag] = found(engine)
    assert (flag.code, flag.severity) == ("CONTRACT_SUPPLIER_NOT_AWARDED", "high")
    assert flag.party_id == party_id(engine, LENOVO_DEALER)
    assert json.loads(flag.evidence)["contract_id"] == "C2"


def test_an_award_above_its_lot_budget(engine, jilin) -> None:
    releases = two_lots()
    releases[2]["awards"][1]["value"] = {"amount": 185000.0, "currency": "CNY"}
    releases[4]["contracts"][1]["value"] = {"amount": 185000.0, "currency": "CNY"}
    publish(engine, releases)
    [flag] = found(engine)
    assert (flag.code, json.loads(flag.evidence)["lot_ids"]) == ("AWARD_ABOVE_BUDGET", ["L2"])


def test_an_award_above_the_budget_a_correction_lowered(engine, jilin) -> None:
    releases = compliant()  # budget 500,000 corrected to 480,000
    releases[2]["awards"][0]["value"] = {"amount": 490000.0, "currency": "CNY"}
    releases[4]["contracts"][0]["value"] = {"amount": 490000.0, "currency": "CNY"}
    publish(engine, releases)
    [flag] = found(engine)
    assert flag.code == "AWARD_ABOVE_BUDGET"
    assert {"field": "planning.budget", "value": "480000.00", "notice_id": None} in json.loads(
        flag.evidence
    )["fields"]


def test_amounts_in_another_currency_are_not_compared_with_yuan(engine, jilin) -> None:
    """A 490,000 USD award against a 480,000 yuan budget, a 4,900,000 JPY contract against
    it: no rule compares them (the flag called dollars yuan). A Chinese name of the yuan is
    the yuan: the same award in 人民币 is above the budget."""
    releases = compliant()  # budget 500,000 corrected to 480,000
    releases[2]["awards"][0]["value"] = {"amount": 490000.0, "currency": "USD"}
    releases[4]["contracts"][0]["value"] = {"amount": 4900000.0, "currency": "JPY"}
    publish(engine, releases)
    assert found(engine) == []
    yuan = compliant()
    for release in yuan:
        release["ocid"] = release["ocid"] + "-CNY"
        release["id"] = release["id"] + "-CNY"
    yuan[2]["awards"][0]["value"] = {"amount": 490000.0, "currency": "人民币"}
    yuan[4]["contracts"][0]["value"] = {"amount": 490000.0, "currency": "CNY"}
    publish(engine, yuan)
    assert codes(found(engine)) == ["AWARD_ABOVE_BUDGET"]


def test_a_contract_amendment_above_the_award(engine, jilin) -> None:
    publish(engine, [*compliant(), {
        "ocid": OCID, "id": f"{OCID}-05-contract-amendment", "date": "2024-04-20T09:00:00+08:00",
        "tag": ["contractAmendment"], "title": "合同变更公告", "fullText": "合同金额变更。",
        # awardID: OCDS 1.1 requires it in every contract object, amendments included
        "contracts": [{"id": "C1", "awardID": "A1",
                       "value": {"amount": 470000.0, "currency": "CNY"}}],
    }])  # fmt: skip
    [flag] = found(engine)
    assert (flag.code, flag.severity) == ("CONTRACT_ABOVE_AWARD", "medium")
    assert json.loads(flag.evidence)["notices"][-1]["type"] == "correction"


# Tender periods -------------------------------------------------------------------------


def test_an_open_tender_shorter_than_twenty_days(engine, jilin) -> None:
    releases = compliant()
    releases[1]["tender"]["tenderPeriod"] = {"endDate": "2024-03-18T09:30:00+08:00"}  # 17 days
    publish(engine, releases)
    [flag] = found(engine)
    assert (flag.code, json.loads(flag.evidence)["period"]) == ("TENDER_PERIOD_SHORT", 17)


def test_an_inquiry_over_labour_day_has_one_working_day(engine, jilin) -> None:
    releases = compliant()
    tender = releases[0]["tender"]
    tender.update(procurementMethod="limited", procurementMethodDetails="询价")
    tender["tenderPeriod"] = {
        "startDate": "2024-04-30T09:00:00+08:00",
        "endDate": "2024-05-06T09:30:00+08:00",
    }
    releases[0]["date"] = "2024-04-30T09:00:00+08:00"
    del releases[1]
    releases[1]["awards"][0]["date"] = "2024-05-06T16:00:00+08:00"
    for i, when in ((1, "2024-05-07T09:00"), (2, "2024-05-07T09:10"), (3, "2024-05-10T09:00")):
        releases[i]["date"] = f"{when}:00+08:00"
    releases[3]["contracts"][0]["dateSigned"] = "2024-05-09T10:00:00+08:00"
    publish(engine, releases)
    [flag] = found(engine)
    assert (flag.code, json.loads(flag.evidence)["period"]) == ("TENDER_PERIOD_SHORT", 1)


# Debarment ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("end", "flagged"), [("2024-03-28", 0), ("2024-03-29", 1), ("2025-02-28", 2)]
)
def test_a_supplier_awarded_or_contracted_while_debarred(engine, jilin, add, end, flagged) -> None:
    add("吉林省财政厅", "finance_department", ["220000"], ["penalty"])
    publish(engine, compliant())  # award decided 29 March, contract signed 8 April
    record = penalty(decision_date="2024-03-01", debarment_start="2024-03-01", debarment_end=end)
    assert ingest_records(engine, "吉林省财政厅", RecordKind.penalty, [record]).accepted == 1
    counts = rebuild(engine, today=TODAY)  # a penalty does not recompile projects: rebuild
    assert counts["project_flags"] == flagged
    with engine.connect() as conn:
        flags = conn.execute(select(FLAGS)).all()
    assert [f.code for f in flags] == ["SUPPLIER_DEBARRED"] * flagged
    assert {f.party_id for f in flags} <= {party_id(engine, LENOVO_DEALER)}
    assert all(json.loads(f.evidence)["penalty_record_id"] == "JLCZ-2024-001" for f in flags)


# Missing stages -------------------------------------------------------------------------


def test_an_award_without_a_contract_after_thirty_days(engine, jilin) -> None:
    releases = two_lots()
    del releases[4]["contracts"][1]  # lot 2's contract never published
    publish(engine, releases)
    assert found(engine, today=date(2024, 4, 25)) == []  # 27 days after the award
    [flag] = found(engine, today=date(2024, 5, 10))
    assert (flag.code, json.loads(flag.evidence)["award_id"]) == ("AWARD_WITHOUT_CONTRACT", "A2")


def test_a_result_without_procurement_documents(engine, jilin) -> None:
    publish(engine, project_releases())
    [flag] = found(engine)
    assert (flag.code, flag.severity) == ("RESULT_WITHOUT_DOCUMENTS", "low")


# Sources --------------------------------------------------------------------------------


def test_the_same_notice_from_two_sites(engine, jilin, add) -> None:
    add(CENTRAL, "regional_site", ["100000"], ["notice"])
    releases = compliant()
    publish(engine, releases)
    publish(engine, [releases[2]], CENTRAL)  # the same release again: a second source only
    assert found(engine) == []
    other = copy.deepcopy(releases[2])
    other["id"] = f"{OCID}-central-result"
    other["awards"][0]["value"] = {"amount": 495800.0, "currency": "CNY"}
    publish(engine, [other], CENTRAL)
    flags = [f for f in found(engine) if f.code == "NOTICE_SOURCES_CONFLICT"]
    [flag] = flags
    evidence = json.loads(flag.evidence)
    assert evidence["fields_differ"] == ["awards[A1].value.amount"]
    assert len({n["publisher_id"] for n in evidence["notices"]}) == 2


# Transactions ---------------------------------------------------------------------------


def test_a_unit_price_far_above_what_others_paid(engine, add) -> None:
    add("吉林省政府采购电子卖场", "trading_platform", ["220000"], ["transaction"])
    prices = ["4999.00", "4899.00", "5099.00", "4950.00", "5050.00", "4999.00"]
    rows = [
        transaction(f"DD{i}", purchaser_name=f"长春市第{i}中学", purchaser_uscc=credit_code(f"122201004127586{i:02d}"),
                    unit_price=price, quantity="1", amount=price, order_date=f"2024-03-{i + 1:02d}")
        for i, price in enumerate(prices)
    ]  # fmt: skip
    rows.append(
        transaction(
            "DD99",
            unit_price="9800.00",
            quantity="1",
            amount="9800.00",
            model="启天 m4360",
            order_date="2024-03-20",
        )
    )  # same model, spelt apart
    rows.append(
        transaction(
            "DD98", unit_price="9800.00", quantity="1", amount="9800.00", order_date="2024-07-20"
        )
    )  # another quarter: nothing to compare
    result = ingest_records(engine, "吉林省政府采购电子卖场", RecordKind.transaction, rows)
    assert result.accepted == len(rows), result.refusals
    assert rebuild(engine)["transaction_flags"] == 1
    with engine.connect() as conn:
        [flag] = conn.execute(select(FLAGS)).all()
    evidence = json.loads(flag.evidence)
    assert (flag.code, evidence["median"], evidence["period"]) == (
        "UNIT_PRICE_OUTLIER",
        "4999.00",
        "2024Q1",
    )
    assert sorted(p["unit_price"] for p in evidence["peers"]) == sorted(prices)
    assert flag.party_id == party_id(engine, LENOVO_DEALER) and flag.project_id is None


# Command line ---------------------------------------------------------------------------


@pytest.mark.only_on("sqlite")
def test_flags_commands(database_url, engine, jilin) -> None:
    publish(engine, project_releases())
    env = {**os.environ, "CAIGOU_DATABASE_URL": database_url, "COLUMNS": "200"}
    caigou = str(Path(sys.executable).with_name("caigou"))
    built = subprocess.run([caigou, "flags", "rebuild"], capture_output=True, text=True, env=env)
    assert built.returncode == 0 and "1 projects checked: 1 project flags" in built.stdout
    listed = subprocess.run([caigou, "flags", "list", "--severity", "low"], capture_output=True,
                            text=True, env=env)  # fmt: skip
    assert "RESULT_WITHOUT_DOCUMENTS" in listed.stdout and OCID in listed.stdout
    none = subprocess.run([caigou, "flags", "list", "--code", "result_late"], capture_output=True,
                          text=True, env=env)  # fmt: skip
    assert "0 flags" in none.stdout
