"""Compiled projects agree with ocdsmerge, OCDS's own reference implementation of merging."""

from __future__ import annotations

import copy
import json
import zipfile
from decimal import Decimal
from typing import Any

import ocdsmerge
import pytest
from sqlalchemy import select

from hub.publishing import ingest_records
from schema.ocds import STANDARD_ZIP, merge_releases, parse_ocds_datetime
from schema.tables import AWARD_SUPPLIERS, AWARDS, CONTRACTS, PARTIES, PROJECTS
from schema.types import RecordKind
from tests.factories import FURNITURE, PAPER_DEALER, party, project_releases

SCHEMA_ZIP = STANDARD_ZIP


@pytest.fixture(scope="module")
def merger() -> ocdsmerge.Merger:
    with zipfile.ZipFile(SCHEMA_ZIP) as archive:
        schema = json.loads(archive.read("standard-1__1__5/schema/release-schema.json"))
    return ocdsmerge.Merger(schema=schema)


def with_lots_and_an_award_update() -> list[dict[str, Any]]:
    """Two lots, two awards; an awardUpdate replaces one supplier and amount; a contract amendment."""
    releases = project_releases("ocds-cghub1-JLZC2024-0200")
    tender = releases[0]["tender"]
    tender["lots"] = [
        {"id": "L1", "title": "计算机", "value": {"amount": 300000.0, "currency": "CNY"}},
        {"id": "L2", "title": "复印纸", "value": {"amount": 200000.0, "currency": "CNY"}},
    ]
    result = releases[2]
    result["parties"] += [party(PAPER_DEALER, ["supplier"]), party(FURNITURE, ["supplier"])]
    result["awards"][0]["relatedLots"] = ["L1"]
    result["awards"].append(
        {
            "id": "A2",
            "status": "active",
            "date": "2024-03-29T16:30:00+08:00",
            "relatedLots": ["L2"],
            "value": {"amount": 190000.0, "currency": "CNY"},
            "suppliers": [{"id": PAPER_DEALER[1], "name": PAPER_DEALER[0]}],
        }
    )
    update = {
        "ocid": result["ocid"],
        "id": f"{result['ocid']}-03b-award-update",
        "date": "2024-04-03T09:00:00+08:00",
        "tag": ["awardUpdate"],
        "title": "中标结果更正公告",
        "fullText": "第二包中标供应商更正。",
        "awards": [
            {
                "id": "A2",
                "value": {"amount": 185500.5, "currency": "CNY"},
                "suppliers": [{"id": FURNITURE[1], "name": FURNITURE[0]}],
            }
        ],
    }
    contract = copy.deepcopy(releases[3])
    amendment = {
        "ocid": result["ocid"],
        "id": f"{result['ocid']}-05-contract-amendment",
        "date": "2024-04-20T09:00:00+08:00",
        "tag": ["contractAmendment"],
        "title": "合同变更公告",
        "fullText": "合同金额变更。",
        # awardID: OCDS 1.1 requires it in every contract object, amendments included
        "contracts": [
            {"id": "C1", "awardID": "A1", "value": {"amount": 450000.0, "currency": "CNY"}}
        ],
    }
    return [*releases[:3], update, contract, amendment]  # fmt: skip


@pytest.mark.parametrize("build", [project_releases, with_lots_and_an_award_update])
def test_compiled_project_agrees_with_ocdsmerge(engine, add, merger, build) -> None:
    add("吉林省政府采购网", "regional_site", ["220000"], ["notice"])
    releases = build()
    result = ingest_records(engine, "吉林省政府采购网", RecordKind.notice, releases)
    assert result.status == "accepted", result.refusals
    expected = merger.create_compiled_release(copy.deepcopy(releases))
    budget = (
        expected.get("planning", {}).get("budget", {}).get("amount") or expected["tender"]["value"]
    )
    with engine.connect() as conn:
        project = conn.execute(select(PROJECTS)).one()
        awards = {a.award_id: a for a in conn.execute(select(AWARDS))}
        suppliers: dict[str, set[str]] = {}
        for award_id, code in conn.execute(
            select(AWARDS.c.award_id, PARTIES.c.uscc)
            .join(AWARD_SUPPLIERS, AWARD_SUPPLIERS.c.award_pk == AWARDS.c.id)
            .join(PARTIES, PARTIES.c.id == AWARD_SUPPLIERS.c.party_id)
        ):
            suppliers.setdefault(award_id, set()).add(code)
        contracts = {c.contract_id: c for c in conn.execute(select(CONTRACTS))}
    assert project.ocid == expected["ocid"]
    assert project.budget == Decimal(str(budget["amount"]))
    assert project.procurement_method == expected["tender"]["procurementMethod"]
    assert set(awards) == {a["id"] for a in expected["awards"]}
    for award in expected["awards"]:
        assert awards[award["id"]].amount == Decimal(str(award["value"]["amount"]))
        assert suppliers[award["id"]] == {s["id"] for s in award["suppliers"]}
    assert set(contracts) == {c["id"] for c in expected["contracts"]}
    for contract in expected["contracts"]:
        assert contracts[contract["id"]].amount == Decimal(str(contract["value"]["amount"]))
        assert contracts[contract["id"]].date_signed == parse_ocds_datetime(contract["dateSigned"])


def test_merge_releases_matches_ocdsmerge_field_for_field(merger) -> None:
    releases = with_lots_and_an_award_update()
    ours = merge_releases(copy.deepcopy(releases))
    theirs = merger.create_compiled_release(copy.deepcopy(releases))
    for key in ("ocid", "parties", "buyer", "planning", "tender", "awards", "contracts"):
        assert ours[key] == theirs[key], key
