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

from hub.publishing import ingest_file
from schema.columns import table_of
from schema.tables import Award, Contract, Notice, Party, Project
from tests.factories import write_package

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
    engine, jilin
) -> None:
    """The buyer's region is the project's: it must read. Other parties' would be kept."""
    for name in STANDARD_FILES:
        result = ingest_file(engine, STANDARD / f"{name}.json", JILIN, partial=True)
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


def test_ocdskits_real_data_is_refused_with_every_fault_named(engine, jilin) -> None:
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
        result = ingest_file(engine, REALDATA / name, JILIN, partial=True)
        assert result.accepted == 0
        assert result.rejected == len({ref for ref, _, _ in faults})
        got = [(r.record_id, r.field, r.reason) for r in result.refusals]
        assert [g[:2] for g in got] == [f[:2] for f in faults], name
        for (_, _, reason), (_, _, words) in zip(got, faults, strict=True):
            assert words in reason
        assert result.rejects_path is not None and result.rejects_path.exists()
    assert rows(engine, Notice) == []
