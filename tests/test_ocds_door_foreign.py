"""Data nobody here wrote: the OCDS 1.1.5 standard's fictional example project (London
Borough of Barnet's cycle lanes, one release per tag) and ocdskit's real-data fixtures
(Paraguay's DNCP, Mexico City's SEFIN), copied as data into tests/data (tests/data/SOURCES.md).

Foreign regions are no GB/T 2260 codes, so as sent every release is refused with each fault
named; with the region names mapped to a division code, as a publisher's importer would,
the standard's whole project is accepted and compiles. ocdskit's fixtures stay refused, and
rightly: a compiled release is a record, and releases naming no buyer region have no place.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from hub.app import create_app
from hub.config import Settings
from hub.publishing import BatchRejected, ingest_file
from schema.columns import table_of
from schema.tables import Award, Contract, Notice, Party, Project
from tests.factories import write_package
from tests.hub_server import graphql, running
from tests.web_client import web

DATA = Path(__file__).parent / "data"
STANDARD = DATA / "ocds-standard-1.1.5"
REALDATA = DATA / "ocdskit-realdata"
JILIN = "吉林省政府采购网"
# A publisher's own mapping of the places its data names onto division codes.
REGIONS = {"London": "220102"}
STANDARD_FILES = ("planning", "tender", "tenderUpdate", "tenderAmendment", "award", "contract",
                  "implementation", "contractAmendment")  # fmt: skip


@pytest.fixture
def jilin(add):  # type: ignore[no-untyped-def]
    return add(JILIN, "regional_site", ["220000"], ["notice"])


def releases(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text("utf-8"))["releases"]


def mapped(release: dict[str, Any]) -> dict[str, Any]:
    for party in release.get("parties") or []:
        address = party.get("address") or {}
        if address.get("region") in REGIONS:
            address["region"] = REGIONS[address["region"]]
    return release


def rows(engine: Engine, model: type) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(table_of(model))).all()


def test_the_standards_examples_as_sent_are_refused_naming_the_buyers_foreign_region(
    engine, jilin, tmp_path: Path
) -> None:
    """The buyer's region is the project's: it must read. Other parties' would be kept."""
    for name in STANDARD_FILES:
        copy = tmp_path / f"{name}.json"  # a partial ingest writes its rejects beside it
        copy.write_bytes((STANDARD / f"{name}.json").read_bytes())
        result = ingest_file(engine, copy, JILIN, partial=True)
        [release] = releases(STANDARD / f"{name}.json")
        buyer = (release.get("buyer") or {}).get("id")
        regions = [
            f"parties[{i}].address.region" for i, p in enumerate(release["parties"])
            if (p.get("address") or {}).get("region") == "London"
            and (p.get("id") == buyer or (buyer is None and "buyer" in p.get("roles", [])))
        ][:1]  # fmt: skip
        assert (result.accepted, result.rejected) == (0, 1), name
        assert [(r.record_id, r.field) for r in result.refusals] == [
            (release["id"], field) for field in regions
        ], name
        assert all(
            "'London' is neither a six-digit division code nor a division name" in r.reason
            for r in result.refusals
        )
    assert rows(engine, Notice) == []


def test_the_standards_example_project_with_regions_mapped_is_kept_whole(
    engine, jilin, tmp_path: Path
) -> None:
    package = [mapped(r) for name in STANDARD_FILES for r in releases(STANDARD / f"{name}.json")]
    result = ingest_file(engine, write_package(tmp_path / "barnet.json", package), JILIN)
    assert (result.status, result.accepted, result.refusals) == ("accepted", 8, [])
    notices = sorted(rows(engine, Notice), key=lambda n: n.published_at)
    assert [(n.ocds_tags, n.notice_type) for n in notices] == [
        ("planning", "intention"), ("tender", "tender"), ("tenderUpdate", "correction"),
        ("tenderAmendment", "correction"), ("award", "result"), ("contract", "contract"),
        ("implementation", "acceptance"), ("contractAmendment", "correction"),
    ]  # fmt: skip
    # No release has a title: those with tender.title show it, the others a derived one.
    title = "Planned cycle lane improvements"
    assert [(n.title, n.title_derived) for n in notices] == [
        (title, False), (title, False), (title, False), (title, False), (title, False),
        (f"{title} 合同公告", True), (f"{title} 验收结果公告", True), (f"{title} 更正公告", True),
    ]  # fmt: skip
    [project] = rows(engine, Project)
    assert (project.ocid, project.title, project.region_code) == (
        "ocds-213czf-000-00001",
        title,
        "220102",
    )
    assert (project.budget, project.currency) == (Decimal("6700000.00"), "GBP")
    [award] = rows(engine, Award)
    [contract] = rows(engine, Contract)
    suppliers = {p.id: p.name for p in rows(engine, Party)}
    assert award.amount == Decimal("11000000.00")
    assert contract.amount == Decimal("13500000.00")  # the amendment raised it
    assert suppliers[contract.supplier_id] == "Balfour Beatty"
    payloads = {n.release_id: json.loads(n.payload) for n in notices}
    assert payloads == {r["id"]: r for r in package}  # every release stored as sent


def test_ocdskits_real_data_is_refused_with_every_fault_named(
    engine, jilin, tmp_path: Path
) -> None:
    expected = {
        "release-package_1.1-1.json": [  # Paraguay: a compiled release; a city (not the buyer's)
            ("193399-adquisicion-scanner", "tag", "a compiled release is a record"),
            ("193399-adquisicion-scanner", "parties", "no buyer with address.region"),
        ],
        "release-package_1.1-2.json": [  # Paraguay: a contract release with no parties
            ("246807-11-setiembre-srl-4-contract", "parties", "no buyer with address.region"),
        ],
        "release-package-1.json": [  # Mexico City, OCDS 1.0 style: the buyer is no party
            ("01", "parties", "no buyer with address.region"),
            ("02", "parties", "no buyer with address.region"),
        ],
    }  # fmt: skip
    for name, faults in expected.items():
        copy = tmp_path / name  # a partial ingest writes its rejects beside it
        copy.write_bytes((REALDATA / name).read_bytes())
        result = ingest_file(engine, copy, JILIN, partial=True)
        assert result.accepted == 0
        assert result.rejected == len({ref for ref, _, _ in faults})
        got = [(r.record_id, r.field, r.reason) for r in result.refusals]
        assert [g[:2] for g in got] == [f[:2] for f in faults], name
        for (_, _, reason), (_, _, words) in zip(got, faults, strict=True):
            assert words in reason
        assert result.rejects_path is not None and result.rejects_path.exists()
    assert rows(engine, Notice) == []


def award_release() -> dict[str, Any]:
    return mapped(releases(STANDARD / "award.json")[0])


def test_integer_ids_and_references_that_ocds_allows_are_accepted_and_linked(
    engine, jilin, tmp_path: Path
) -> None:
    """OCDS 1.1 types tender.id, awardID, Classification.id and OrganizationReference.id as
    string or integer: they were refused (`is not a string`), or accepted with the buyer and
    suppliers silently unlinked (an integer reference against a string party id)."""
    release = award_release()
    buyer, supplier = release["parties"]
    buyer["id"], supplier["id"] = "1", "2"  # Organization.id: a string
    release["buyer"]["id"] = 1  # OrganizationReference.id: string or integer
    release["awards"][0]["suppliers"][0]["id"] = 2
    release["tender"]["id"] = 12345
    release["tender"]["items"][0]["classification"]["id"] = 45233130
    contract = mapped(releases(STANDARD / "contract.json")[0])
    contract["parties"] = release["parties"]
    contract["buyer"] = {"id": 1}
    contract["contracts"][0]["awardID"] = 1
    release["awards"][0]["id"] = 1
    contract.pop("awards", None)  # the award is the award release's
    result = ingest_file(engine, write_package(tmp_path / "ints.json", [release, contract]), JILIN)
    assert (result.status, result.refusals) == ("accepted", [])
    [project] = rows(engine, Project)
    names = {p.id: p.name for p in rows(engine, Party)}
    assert (
        project.project_code == "12345"
        and names[project.purchaser_id] == "London Borough of Barnet"
    )
    [award] = rows(engine, Award)
    [row] = rows(engine, Contract)
    assert (award.award_id, row.award_id) == ("1", "1")
    assert names[row.supplier_id] == "Balfour Beatty"
    assert [json.loads(n.payload) for n in rows(engine, Notice)] == [release, contract]


def test_a_buyer_given_by_its_role_alone_is_the_projects_purchaser(
    engine, jilin, tmp_path: Path
) -> None:
    """OCDS lets the buyer be the party with role `buyer`, no `buyer` field: the door read its
    region from it, but the project had no purchaser, in the API and in the dumps."""
    release = award_release()
    del release["buyer"]
    assert ingest_file(engine, write_package(tmp_path / "b.json", [release]), JILIN).accepted == 1
    [project] = rows(engine, Project)
    names = {p.id: p.name for p in rows(engine, Party)}
    assert names[project.purchaser_id] == "London Borough of Barnet"


def test_a_party_without_a_name_is_accepted_named_by_its_legal_name_or_left_unlinked(
    engine, jilin, tmp_path: Path
) -> None:
    """OCDS's Organization requires no `name`: such a release was refused (`parties[1].name:
    is required`). Its identifier's legalName names it; with neither, it stays in the
    payload and is not linked."""
    release = award_release()
    del release["parties"][1]["name"]  # legalName "Balfour Beatty plc" remains
    other = award_release()
    other["id"] = "ocds-213czf-000-00002-award-01"
    other["ocid"] = "ocds-213czf-000-00002"
    del other["parties"][1]["name"]
    del other["parties"][1]["identifier"]["legalName"]
    path = write_package(tmp_path / "n.json", [release, other])
    assert ingest_file(engine, path, JILIN).refusals == []
    names = sorted(p.name for p in rows(engine, Party))
    assert names == ["Balfour Beatty plc", "London Borough of Barnet"]
    awards = {a.project_id: a for a in rows(engine, Award)}
    assert len(awards) == 2


def test_a_package_with_a_bom_and_times_with_a_lowercase_z_is_read(
    engine, jilin, tmp_path: Path
) -> None:
    """Windows editors write a UTF-8 BOM (the CSV reader read past it; the JSON one refused
    the file), and RFC 3339 allows `z` as well as `Z`."""
    release = award_release()
    release["date"] = release["date"].replace("Z", "z")
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"releases": [release]}).encode())
    result = ingest_file(engine, path, JILIN)
    assert (result.status, result.refusals) == ("accepted", [])
    [notice] = rows(engine, Notice)
    assert notice.published_at.isoformat() == "2010-05-10T17:30:00"  # 09:30 UTC in Beijing


def test_a_refused_batch_counts_records_not_faults(engine, jilin, tmp_path: Path) -> None:
    release = award_release()
    release["date"] = "yesterday"
    release["awards"][0]["value"]["amount"] = "a lot"
    result = ingest_file(engine, write_package(tmp_path / "two.json", [release]), JILIN)
    assert result.status == "rejected" and len(result.refusals) >= 2
    message = str(BatchRejected(result.refusals, result.total))
    assert f"1 of 1 records refused ({len(result.refusals)} faults)" in message


def test_the_same_release_with_a_number_written_otherwise_is_a_duplicate_not_a_conflict(
    engine, jilin, tmp_path: Path
) -> None:
    """`11000000.0` is `11000000` in JSON: a relay or a mirror that re-serialises numbers
    delivered the standard's award release again and was refused as different content."""
    release = award_release()
    again = award_release()
    again["awards"][0]["value"]["amount"] = 11000000.0
    assert ingest_file(engine, write_package(tmp_path / "a.json", [release]), JILIN).accepted == 1
    second = ingest_file(engine, write_package(tmp_path / "b.json", [again]), JILIN)
    assert (second.status, second.duplicates, second.refusals) == ("accepted", 1, [])
    changed = award_release()
    changed["awards"][0]["value"]["amount"] = 11000000.5
    third = ingest_file(engine, write_package(tmp_path / "c.json", [changed]), JILIN)
    assert [r.field for r in third.refusals] == ["id"]  # another amount is another release
    [notice] = rows(engine, Notice)
    assert json.loads(notice.payload) == release  # the first delivery, verbatim


def test_pounds_are_shown_as_pounds_and_left_out_of_sums_in_yuan(
    engine, jilin, database_url: str, tmp_path: Path
) -> None:
    """Barnet's project is in GBP: its page showed `预算金额 ¥6,700,000.00`, and awardStats
    (in yuan) added its pounds to a Chinese project's yuan."""
    package = [mapped(r) for name in STANDARD_FILES for r in releases(STANDARD / f"{name}.json")]
    assert ingest_file(engine, write_package(tmp_path / "gbp.json", package), JILIN).accepted == 8
    yuan = award_release()
    yuan["ocid"], yuan["id"] = "ocds-213czf-000-00009", "ocds-213czf-000-00009-award"
    yuan["awards"][0]["value"] = {"amount": 1234.5, "currency": "人民币"}
    rmb = award_release()  # another Chinese name of the yuan (the export writes CNY)
    rmb["ocid"], rmb["id"] = "ocds-213czf-000-00010", "ocds-213czf-000-00010-award"
    rmb["awards"][0]["value"] = {"amount": 0.5, "currency": "RMB"}
    path = write_package(tmp_path / "cny.json", [yuan, rmb])
    assert ingest_file(engine, path, JILIN).accepted == 2
    app = create_app(Settings(database_url, str(tmp_path / "exports"), None))
    with running(app) as base:
        page = web.get(f"{base}/projects/ocds-213czf-000-00001").text
        assert "GBP 6,700,000.00" in page and "¥6,700,000.00" not in page
        assert "GBP 11,000,000.00" in page  # the award, in its currency
        for planner in ("", " "):  # the planned statement and (with a space) the resolvers
            stats = graphql(base, "{ awardStats(groupBy: [REGION]) { count amount { sum } } }"
                            + planner)  # fmt: skip
            assert stats["data"]["awardStats"] == [{"count": 2, "amount": {"sum": "1235.00"}}]
    app.state.engine.dispose()


@pytest.mark.parametrize("odd", ["\u200b", "\u00a0", "\u3000", "\u202e", "\x07"])
def test_an_ocid_with_an_invisible_or_blank_character_inside_is_refused(
    engine, jilin, tmp_path: Path, odd: str
) -> None:
    """`ocds-213czf-000-00001\\u200b` was accepted as a new project whose page looks just
    like the real one's: a look-alike 终止公告 anyone in scope could publish."""
    release = award_release()
    release["ocid"] = release["ocid"][:-2] + odd + release["ocid"][-2:]
    result = ingest_file(engine, write_package(tmp_path / "odd.json", [release]), JILIN)
    assert [r.field for r in result.refusals] == ["ocid"], result.refusals
    assert f"U+{ord(odd):04X}" in result.refusals[0].reason
    assert rows(engine, Project) == []
