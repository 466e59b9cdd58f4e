"""Contract suppliers as published: parties with role `supplier`, consortia kept whole.

OCDS 1.1 core has no `contracts[].suppliers`: a contract release names the company signed
with as a party. The hub must take that party (and flag it when it did not win), and keep
every member of a consortium (联合体) in the database, GraphQL, pages and dumps.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select, text

from exports.write import export_day
from hub.app import create_app
from hub.config import Settings
from hub.publishing import ingest_records
from hub.read.cursors import global_id
from schema.contract_suppliers import contract_suppliers
from schema.db import make_engine, upgrade
from schema.tables import CONTRACT_SUPPLIERS, CONTRACTS, FLAGS, PARTIES
from schema.types import RecordKind
from tests.conftest import fresh_database
from tests.factories import (
    FURNITURE,
    LENOVO_DEALER,
    PAPER_DEALER,
    SCHOOL,
    credit_code,
    party,
    project_releases,
)
from tests.hub_server import graphql, running
from tests.web_client import web

JILIN = "吉林省政府采购网"
OCID = "ocds-cghub1-JLZC2024-0153"
NOT_AWARDED = "CONTRACT_SUPPLIER_NOT_AWARDED"
# A third consortium member, for a contract naming one more company than the award did.
PRINTER = ("吉林省华印科技有限公司", credit_code("91220105MA0Y55555"))


@pytest.fixture
def jilin(add):  # type: ignore[no-untyped-def]
    return add(JILIN, "regional_site", ["220000"], ["notice"])


def ref(who: tuple[str, str]) -> dict[str, str]:
    return {"id": who[1], "name": who[0]}


def named_by_parties(*suppliers: tuple[str, str]) -> list[dict[str, Any]]:
    """The open tender whose contract release names its suppliers only as parties."""
    releases = project_releases()
    contract = releases[3]
    del contract["contracts"][0]["suppliers"]
    contract["parties"] = [party(s, ["supplier"]) for s in suppliers]
    return releases


def consortium(releases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The award goes to a consortium: the Lenovo dealer (lead) with the furniture maker."""
    result = releases[2]
    result["parties"] = [party(LENOVO_DEALER, ["supplier"]), party(FURNITURE, ["supplier"])]
    result["awards"][0]["suppliers"] = [ref(LENOVO_DEALER), ref(FURNITURE)]
    return releases


def publish(engine: Engine, releases: list[dict[str, Any]]) -> None:
    result = ingest_records(engine, JILIN, RecordKind.notice, releases)
    assert result.status == "accepted", result.refusals


def members(engine: Engine) -> list[str]:
    """The contract's suppliers by credit code, lead first."""
    links, parties = CONTRACT_SUPPLIERS, PARTIES
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(parties.c.uscc)
                .join(links, links.c.party_id == parties.c.id)
                .order_by(links.c.contract_pk, links.c.position)
            ).scalars()
        )


def lead(engine: Engine) -> str | None:
    contracts, parties = CONTRACTS, PARTIES
    with engine.connect() as conn:
        return conn.execute(
            select(parties.c.uscc).join(contracts, contracts.c.supplier_id == parties.c.id)
        ).scalar()


def supplier_flags(engine: Engine) -> list[tuple[str, str]]:
    """(code, flagged party's credit code) of the stored supplier flags."""
    flags, parties = FLAGS, PARTIES
    with engine.connect() as conn:
        rows = conn.execute(
            select(flags.c.code, parties.c.uscc)
            .join(parties, parties.c.id == flags.c.party_id)
            .where(flags.c.code == NOT_AWARDED)
        )
        return sorted((code, uscc) for code, uscc in rows)


def test_a_contract_naming_another_company_as_its_party_raises_the_supplier_flag(
    engine, jilin
) -> None:
    publish(engine, named_by_parties(PAPER_DEALER))  # the Lenovo dealer won; paper signs
    assert members(engine) == [PAPER_DEALER[1]]
    assert lead(engine) == PAPER_DEALER[1]
    assert supplier_flags(engine) == [(NOT_AWARDED, PAPER_DEALER[1])]
    with engine.connect() as conn:
        flags = FLAGS
        stored = select(flags.c.evidence).where(flags.c.code == NOT_AWARDED)
        evidence = json.loads(conn.execute(stored).scalar_one())
    assert evidence["contract_id"] == "C1"
    # The contract release, which named the supplier, is cited next to the result.
    cited = [n["release_id"] for n in evidence["notices"]]
    assert cited == [f"{OCID}-03-result", f"{OCID}-04-contract"]


def test_the_winner_named_as_a_party_raises_nothing(engine, jilin) -> None:
    publish(engine, named_by_parties(LENOVO_DEALER))
    assert members(engine) == [LENOVO_DEALER[1]]
    assert supplier_flags(engine) == []


def test_without_suppliers_or_supplier_parties_the_award_decides(engine, jilin) -> None:
    releases = named_by_parties()
    del releases[3]["parties"]
    publish(engine, consortium(releases))
    assert members(engine) == [LENOVO_DEALER[1], FURNITURE[1]]
    assert lead(engine) == LENOVO_DEALER[1]
    assert supplier_flags(engine) == []


def test_a_consortium_member_the_award_did_not_name_is_flagged_alone(engine, jilin) -> None:
    releases = consortium(project_releases())
    releases[3]["contracts"][0]["suppliers"] = [ref(LENOVO_DEALER), ref(FURNITURE), ref(PRINTER)]
    releases[3]["parties"] = [party(PRINTER, ["supplier"])]
    publish(engine, releases)
    assert members(engine) == [LENOVO_DEALER[1], FURNITURE[1], PRINTER[1]]
    assert supplier_flags(engine) == [(NOT_AWARDED, PRINTER[1])]


def test_a_correction_replacing_the_supplier_party_is_followed(engine, jilin) -> None:
    releases = named_by_parties(LENOVO_DEALER)
    publish(engine, releases)
    assert supplier_flags(engine) == []
    amendment = {
        "ocid": OCID, "id": f"{OCID}-05-contract-amendment", "date": "2024-04-12T09:00:00+08:00",
        "tag": ["contractAmendment"], "title": "合同更正公告", "fullText": "供应商更正。",
        "parties": [party(PAPER_DEALER, ["supplier"])],
        "contracts": [{"id": "C1", "awardID": "A1"}],
    }  # fmt: skip
    publish(engine, [amendment])
    assert members(engine) == [PAPER_DEALER[1]]
    assert supplier_flags(engine) == [(NOT_AWARDED, PAPER_DEALER[1])]


def two_lots_each_contract_repeating_both_parties() -> list[dict[str, Any]]:
    """Lot 1 won by the Lenovo dealer, lot 2 by the paper dealer; each lot's contract release
    repeats the whole party list, as publishers often do."""
    tender, correction, result, contract = project_releases()
    tender["tender"]["lots"] = [
        {"id": "L1", "title": "台式计算机"},
        {"id": "L2", "title": "复印纸"},
    ]
    winners = [party(LENOVO_DEALER, ["supplier"]), party(PAPER_DEALER, ["supplier"])]
    result["parties"] = winners
    result["awards"][0]["relatedLots"] = ["L1"]
    result["awards"].append({
        "id": "A2", "title": "复印纸采购", "status": "active", "relatedLots": ["L2"],
        "date": "2024-03-29T16:00:00+08:00", "value": {"amount": 180000.0, "currency": "CNY"},
        "suppliers": [ref(PAPER_DEALER)],
    })  # fmt: skip
    contract["parties"] = winners
    del contract["contracts"][0]["suppliers"]
    second = json.loads(json.dumps(contract))
    second.update(id=f"{OCID}-04b-contract", date="2024-04-10T10:00:00+08:00")
    second["contracts"] = [
        {
            "id": "C2",
            "awardID": "A2",
            "title": "复印纸采购合同",
            "status": "active",
            "value": {"amount": 180000.0, "currency": "CNY"},
        }
    ]
    return [tender, correction, result, contract, second]


def test_contracts_of_two_lots_repeating_both_winners_take_their_own_and_raise_nothing(
    engine, jilin
) -> None:
    publish(engine, two_lots_each_contract_repeating_both_parties())
    assert members(engine) == [LENOVO_DEALER[1], PAPER_DEALER[1]]  # C1's, then C2's
    assert supplier_flags(engine) == []


def test_a_repeated_party_that_won_no_lot_still_goes_to_each_contract_and_is_flagged(
    engine, jilin
) -> None:
    releases = two_lots_each_contract_repeating_both_parties()
    for contract in releases[3:]:
        contract["parties"] = [*contract["parties"], party(FURNITURE, ["supplier"])]
    publish(engine, releases)
    assert members(engine) == [LENOVO_DEALER[1], FURNITURE[1], PAPER_DEALER[1], FURNITURE[1]]
    assert supplier_flags(engine) == [(NOT_AWARDED, FURNITURE[1])] * 2


def test_one_release_with_two_contracts_shares_its_supplier_parties_by_award() -> None:
    awards = [
        {"id": "A1", "suppliers": [ref(LENOVO_DEALER), ref(FURNITURE)]},
        {"id": "A2", "suppliers": [ref(PAPER_DEALER)]},
    ]
    release = {
        "parties": [party(LENOVO_DEALER, ["supplier"]), party(FURNITURE, ["supplier"]),
                    party(PAPER_DEALER, ["supplier"]), party(PRINTER, ["supplier"]),
                    party(SCHOOL, ["buyer"])],
        "contracts": [{"id": "C1", "awardID": "A1"}, {"id": "C2", "awardID": "A2"}],
    }  # fmt: skip
    compiled = {"awards": awards, "contracts": release["contracts"]}
    found = contract_suppliers([{"awards": awards}, release], compiled)
    # Each contract takes its own award's winners; the printer, who won neither, cannot be
    # placed and goes to both, where the supplier flag will name it.
    assert found == {
        "C1": [ref(LENOVO_DEALER), ref(FURNITURE), ref(PRINTER)],
        "C2": [ref(PAPER_DEALER), ref(PRINTER)],
    }


def test_migration_keeps_each_stored_contract_supplier_as_its_lead(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with fresh_database(dialect, request, tmp_path, migrated=False) as url:
        engine = make_engine(url)
        try:
            upgrade(engine, "0006")
            with engine.begin() as conn:
                conn.execute(text(
                    "INSERT INTO parties (id, name, uscc, name_normalised) "
                    "VALUES (7, :name, :code, :name)"
                ), {"name": LENOVO_DEALER[0], "code": LENOVO_DEALER[1]})  # fmt: skip
                conn.execute(text(
                    "INSERT INTO projects (id, ocid, status, notice_count) "
                    "VALUES (3, 'ocds-x-1', 'contracted', 1)"
                ))  # fmt: skip
                conn.execute(text(
                    "INSERT INTO contracts (id, project_id, contract_id, supplier_id) "
                    "VALUES (11, 3, 'C1', 7), (12, 3, 'C2', NULL)"
                ))  # fmt: skip
            upgrade(engine)
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT contract_pk, party_id, position FROM contract_suppliers")
                ).all()
            assert [tuple(r) for r in rows] == [(11, 7, 0)]
        finally:
            engine.dispose()


def test_a_consortium_is_whole_in_graphql_pages_and_dumps(
    database_url: str, engine, jilin, tmp_path: Path
) -> None:
    publish(engine, consortium(named_by_parties(LENOVO_DEALER, FURNITURE)))
    assert members(engine) == [LENOVO_DEALER[1], FURNITURE[1]]
    assert supplier_flags(engine) == []
    with engine.connect() as conn:
        ids = {uscc: pk for uscc, pk in conn.execute(text("SELECT uscc, id FROM parties"))}
    lenovo, furniture = ids[LENOVO_DEALER[1]], ids[FURNITURE[1]]

    app = create_app(Settings(database_url, str(tmp_path / "exports"), None))
    try:
        with running(app) as base:
            answer = graphql(base, """query($ocid: String!, $member: ID!) {
                project(ocid: $ocid) { contracts { contractId supplier { name }
                                                   suppliers { id name } } }
                contracts(filter: {supplierId: $member}) { nodes { contractId } } }""",
                {"ocid": OCID, "member": global_id("Party", furniture)})  # fmt: skip
            assert "errors" not in answer, answer
            [contract] = answer["data"]["project"]["contracts"]
            assert contract["supplier"] == {"name": LENOVO_DEALER[0]}  # the lead, as before
            assert contract["suppliers"] == [
                {"id": global_id("Party", lenovo), "name": LENOVO_DEALER[0]},
                {"id": global_id("Party", furniture), "name": FURNITURE[0]},
            ]
            assert answer["data"]["contracts"]["nodes"] == [{"contractId": "C1"}]

            project_page = web.get(f"{base}/projects/{OCID}", timeout=30).text
            table = project_page.split('id="contracts"', 1)[1]
            assert f'<a href="/parties/{lenovo}">{LENOVO_DEALER[0]}</a>（牵头人 lead）' in table
            assert f'<a href="/parties/{furniture}">{FURNITURE[0]}</a>' in table
            member_page = web.get(f"{base}/parties/{furniture}", timeout=30).text
            assert "计算机采购合同" in member_page  # the member sees the contract it signed
    finally:
        app.state.engine.dispose()

    day = date(2024, 4, 10)  # the contract notice's day
    root = tmp_path / "out"
    export_day(engine, str(root), day)
    folder = f"changes/contract_suppliers/date={day}/contract_suppliers"
    parquet = pq.read_table(root / f"parquet/{folder}.parquet").to_pylist()
    assert [(r["party_id"], r["position"]) for r in parquet] == [(lenovo, 0), (furniture, 1)]
    with (root / f"csv/{folder}.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [(int(r["party_id"]), int(r["position"])) for r in rows] == [(lenovo, 0), (furniture, 1)]
    contracts = pq.read_table(root / f"parquet/changes/contracts/date={day}/contracts.parquet")
    contracts = contracts.to_pylist()
    # Keyed by project and contract id, as every compiled dump (a past version has no pk).
    assert {(int(r["project_id"]), r["contract_id"]) for r in rows} == {
        (c["project_id"], c["contract_id"]) for c in contracts
    }
    dumped_parties = pq.read_table(root / "parquet/current/parties.parquet").to_pylist()
    assert {lenovo, furniture} <= {p["id"] for p in dumped_parties}
    package = json.loads((root / "datapackage.json").read_text("utf-8"))
    [resource] = [r for r in package["resources"] if r["name"] == "contract_suppliers_current"]
    assert [f["name"] for f in resource["schema"]["fields"]][:3] == [
        "project_id", "contract_id", "party_id",
    ]  # fmt: skip
    releases = json.loads((root / f"ocds/date={day}/release-package.json").read_text("utf-8"))
    [published] = releases["releases"]
    assert [p["id"] for p in published["parties"] if "supplier" in p["roles"]] == [
        LENOVO_DEALER[1], FURNITURE[1],
    ]  # fmt: skip
