"""The notice door takes what the OCDS standard allows: every release tag, releases without a
title, every fault of a refused record at once, harmless shapes kept and recorded.

Both doors are used for real (GraphQL over HTTP against a running hub, files through
`ingest_file`), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import csv
import io
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from hub.app import create_app
from hub.config import Settings
from hub.publishing import ingest_file, ingest_records
from hub.publishing.notices import CODES, WHAT_COUNTS
from hub.publishing.publishers import add_publisher
from schema.ocds import STANDARD_ZIP, TAG_TO_NOTICE, notice_type_of
from schema.ocds_validation import HARMLESS, schema_faults
from schema.tables import AWARD_SUPPLIERS, AWARDS, CONTRACTS, DATA_QUALITY_ISSUES, NOTICES, PROJECTS
from schema.types import PublisherRole, RecordKind
from tests.conftest import fresh_database
from tests.factories import project_releases, write_package
from tests.hub_server import graphql, running
from tests.web_client import web

JILIN = "吉林省政府采购网"
PUBLISH = """mutation($records: [JSON!]!) { publish(kind: NOTICE, records: $records) {
  status accepted rejected refusals { position recordId field reason } } }"""
TITLES = """query($ocid: String!) { project(ocid: $ocid) {
  title budget notices { noticeType title titleDerived } } }"""


def untitled(ocid: str) -> list[dict[str, Any]]:
    """The hub's own four-release project, with no title on any release but the tender's
    `tender.title`, and the award, contract and amendment sent as OCDS usually sends them."""
    releases = copy.deepcopy(project_releases(ocid))
    for release in releases:
        release.pop("title")
        release.pop("fullText")
    releases[1]["tag"] = ["tenderUpdate"]
    releases[2]["tag"] = ["award"]
    return releases


def stored(engine: Engine, ocid: str) -> dict[str, Any]:
    notices, projects = NOTICES, PROJECTS
    with engine.connect() as conn:
        project = conn.execute(select(projects).where(projects.c.ocid == ocid)).one()
        award = conn.execute(select(AWARDS).where(AWARDS.c.project_id == project.id)).one()
        winner = conn.execute(
            select(AWARD_SUPPLIERS.c.party_id).where(AWARD_SUPPLIERS.c.award_pk == award.id)
        ).scalar_one()
        contract = conn.execute(select(CONTRACTS).where(CONTRACTS.c.project_id == project.id)).one()
        titles = conn.execute(
            select(notices.c.title, notices.c.title_derived)
            .where(notices.c.project_id == project.id)
            .order_by(notices.c.published_at)
        ).all()
    return {
        "budget": project.budget, "title": project.title, "status": project.status,
        "award": (award.amount, winner), "contract": (contract.amount, contract.supplier_id),
        "titles": [tuple(t) for t in titles],
    }  # fmt: skip


@pytest.fixture
def jilin(add):  # type: ignore[no-untyped-def]
    return add(JILIN, "regional_site", ["220000"], ["notice"], "http://www.ccgp-jilin.gov.cn")


def test_every_release_tag_of_the_standard_is_a_notice_type() -> None:
    with zipfile.ZipFile(STANDARD_ZIP) as archive:
        codelist = archive.read("standard-1__1__5/schema/codelists/releaseTag.csv").decode()
    tags = {row["Code"] for row in csv.DictReader(io.StringIO(codelist))}
    assert tags - {"compiled"} == set(TAG_TO_NOTICE)
    for tag in tags - {"compiled"}:
        assert notice_type_of({"tag": [tag]}) is not None, tag
    assert notice_type_of({"tag": ["compiled"]}) is None


@pytest.mark.parametrize(
    ("tag", "notice_type"),
    [("planningUpdate", "intention"), ("tenderUpdate", "correction"),
     ("awardCancellation", "correction"), ("contractUpdate", "correction"),
     ("contractTermination", "correction"), ("implementationUpdate", "acceptance")],
)  # fmt: skip
def test_update_and_cancellation_tags_are_accepted(engine, jilin, tag, notice_type) -> None:
    tender, *later = project_releases()
    update = later[0] | {"tag": [tag], "id": f"update-{tag}"}
    result = ingest_records(engine, JILIN, RecordKind.notice, [tender, update])
    assert (result.status, result.accepted, result.refusals) == ("accepted", 2, [])
    with engine.connect() as conn:
        types = conn.execute(
            select(NOTICES.c.notice_type).order_by(NOTICES.c.published_at)
        ).scalars()
        assert list(types) == ["tender", notice_type]


def test_a_title_less_package_compiles_as_the_titled_one(engine, jilin, tmp_path: Path) -> None:
    titled = ingest_file(engine, write_package(tmp_path / "a.json", project_releases("ocds-a")),
                         JILIN)  # fmt: skip
    bare = ingest_file(engine, write_package(tmp_path / "b.json", untitled("ocds-b")), JILIN)
    assert (titled.status, titled.accepted) == ("accepted", 4)
    assert (bare.status, bare.accepted, bare.refusals) == ("accepted", 4, [])
    a, b = stored(engine, "ocds-a"), stored(engine, "ocds-b")
    assert b["budget"] == a["budget"] == Decimal("480000.00")
    assert b["award"] == a["award"] and b["award"][0] == Decimal("459800.00")
    assert b["contract"] == a["contract"] and b["contract"][1] == a["award"][1]
    assert b["status"] == a["status"] == "contracted"
    name = "吉林省实验中学计算机采购项目"
    assert b["titles"] == [
        (name, False),  # the tender release's own tender.title
        (f"{name} 更正公告", True),
        (f"{name} 中标/成交结果公告", True),
        (f"{name} 合同公告", True),
    ]
    assert all(not derived for _, derived in a["titles"])


def test_derived_titles_show_in_graphql_and_on_the_project_page(doors: Doors) -> None:
    ocid = "ocds-cghub1-UNTITLED-1"
    answer = doors.publish(untitled(ocid))
    assert (answer["status"], answer["accepted"], answer["refusals"]) == ("accepted", 4, [])
    project = graphql(doors.base, TITLES, {"ocid": ocid})["data"]["project"]
    name = "吉林省实验中学计算机采购项目"
    assert project["title"] == name and Decimal(str(project["budget"])) == Decimal(480000)
    assert [(n["noticeType"], n["title"], n["titleDerived"]) for n in project["notices"]] == [
        ("tender", name, False),
        ("correction", f"{name} 更正公告", True),
        ("result", f"{name} 中标/成交结果公告", True),
        ("contract", f"{name} 合同公告", True),
    ]
    page = web.get(f"{doors.base}/projects/{ocid}", timeout=30)
    assert page.status_code == 200
    assert f"{name} 中标/成交结果公告" in page.text and f"{name} 合同公告" in page.text


def test_a_refusal_names_every_fault_of_the_record_by_both_doors(doors: Doors) -> None:
    release = copy.deepcopy(project_releases("ocds-cghub1-FOUR-FAULTS")[0])
    release["tag"] = ["advertisement"]  # 1: not a notice type (and not an OCDS tag)
    release["parties"][0]["address"]["region"] = "吉林"  # 2: neither a code nor a division name
    release["tender"]["value"]["amount"] = -5  # 3: negative money
    release["tender"]["items"][0]["classification"]["id"] = "Z99999999"  # 4: no such 品目
    del release["tender"]["id"]  # 5: OCDS requires tender.id
    expected = {
        "tag": "not a procurement notice type (docs/disclosure.md: Notice types)",
        "tag[0]": "OCDS 1.1 release schema",
        "parties[0].address.region": "neither a six-digit division code nor a division name",
        "tender.value.amount": "",
        "tender.items[0].classification.id": "Z99999999",
        "tender.id": "is required (OCDS 1.1 release schema)",
    }
    by_graphql = doors.publish([release])
    path = write_package(doors.folder / "four-faults.json", [release])
    by_file = ingest_file(doors.engine, path, JILIN, partial=True)
    assert (by_graphql["rejected"], by_file.rejected) == (1, 1)
    faults = {r.field: r.reason for r in by_file.refusals}
    assert set(faults) == set(expected), faults
    for field, words in expected.items():
        assert words in faults[field], (field, faults[field])
    assert {r.record_id for r in by_file.refusals} == {release["id"]}
    assert [(r["field"], r["reason"]) for r in by_graphql["refusals"]] == [
        (r.field, r.reason) for r in by_file.refusals
    ]
    rejects = by_file.rejects_path.read_text("utf-8").splitlines()  # type: ignore[union-attr]
    assert len(rejects) == 1 and all(field in rejects[0] for field in expected)


def test_a_tender_without_an_id_is_refused_by_its_path(engine, jilin) -> None:
    release = project_releases()[0]
    release["tender"] = {"title": "吉林省实验中学计算机采购项目"}
    result = ingest_records(engine, JILIN, RecordKind.notice, [release])
    assert result.status == "rejected"
    assert [(r.field, r.reason) for r in result.refusals] == [
        ("tender.id", "is required (OCDS 1.1 release schema)")
    ]


def test_an_empty_notice_is_refused_and_a_bare_award_is_not(engine, jilin) -> None:
    tender, _, award, _ = project_releases()
    shell = {key: tender[key] for key in ("ocid", "date", "tag", "initiationType", "parties",
                                          "buyer")} | {"id": "shell"}  # fmt: skip
    bare_award = {k: v for k, v in award.items() if k not in ("title", "fullText")}
    result = ingest_records(engine, JILIN, RecordKind.notice, [tender, shell, bare_award],
                            partial=True)  # fmt: skip
    assert (result.accepted, result.rejected) == (2, 1)
    [refusal] = result.refusals
    assert (refusal.position, refusal.record_id) == (2, "shell")
    assert refusal.field == "release" and "not procurement information" in refusal.reason
    assert "docs/disclosure.md: What counts as procurement information" in refusal.reason


def test_harmless_shapes_are_kept_verbatim_and_recorded(engine, jilin) -> None:
    release = project_releases()[0]
    del release["initiationType"]
    release["tender"]["value"]["amount"] = "500000.00"
    release["tender"]["value"]["currency"] = "人民币"
    release["tender"]["procurementMethod"] = "公开招标"
    release["tender"]["status"] = "招标中"
    result = ingest_records(engine, JILIN, RecordKind.notice, [release])
    assert (result.status, result.refusals) == ("accepted", [])
    issues = DATA_QUALITY_ISSUES
    with engine.connect() as conn:
        rows = conn.execute(select(issues.c.field_name, issues.c.code, issues.c.record_ref)).all()
        payload = conn.execute(select(NOTICES.c.payload)).scalar_one()
    assert sorted((r.field_name, r.code) for r in rows) == [
        ("initiationType", "initiation_type_missing"),
        ("tender.procurementMethod", "method_as_name"),
        ("tender.status", "status_outside_codelist"),
        ("tender.value.amount", "amount_as_string"),
        ("tender.value.currency", "currency_as_name"),
    ]
    assert {r.record_ref for r in rows} == {release["id"]}
    assert {r.code for r in rows} <= set(HARMLESS)  # each one documented
    assert '"500000.00"' in payload and '"招标中"' in payload  # stored as received


def test_the_hubs_own_test_releases_pass_the_standard_schema() -> None:
    for release in project_releases():
        assert [f for f in schema_faults(release) if not f.issue] == []


# --- the doors, served for real -------------------------------------------------------


class Doors:
    def __init__(self, base: str, engine: Engine, token: str, folder: Path) -> None:
        self.base, self.engine, self.token, self.folder = base, engine, token, folder

    def publish(self, records: list[Any]) -> dict[str, Any]:
        answer = graphql(self.base, PUBLISH, {"records": records}, self.token)
        assert "errors" not in answer, answer
        return answer["data"]["publish"]


@pytest.fixture(scope="module")
def doors(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Doors]:
    folder = tmp_path_factory.mktemp(f"door-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        app = create_app(Settings(url, str(folder / "exports"), None))
        engine: Engine = app.state.engine
        with engine.begin() as conn:
            _, token = add_publisher(conn, JILIN, PublisherRole.regional_site, ["220000"],
                                     [RecordKind.notice], "http://www.ccgp-jilin.gov.cn")  # fmt: skip
        with running(app) as base:
            yield Doors(base, engine, token, folder)
        engine.dispose()


def test_the_notes_refusals_cite_are_in_the_repository() -> None:
    notes = (Path(__file__).parents[1] / "docs" / "disclosure.md").read_text("utf-8")
    headings = {line.lstrip("# ").strip() for line in notes.splitlines() if line.startswith("#")}
    for cited in (CODES, WHAT_COUNTS):
        path, section = cited.split(": ")
        assert path == "docs/disclosure.md" and section in headings, cited
    for tag, notice_type in TAG_TO_NOTICE.items():  # the table says what the code does
        assert f"`{tag}`" in notes and f"`{notice_type.value}`" in notes, tag


def test_a_derived_title_follows_the_project_named_later(engine, jilin) -> None:
    tender, _, award, _ = untitled("ocds-late-tender")
    award["parties"] = [*tender["parties"], *award["parties"]]
    award["buyer"] = tender["buyer"]
    ingest_records(engine, JILIN, RecordKind.notice, [award])
    assert stored_titles(engine) == [("ocds-late-tender 中标/成交结果公告", True)]
    ingest_records(engine, JILIN, RecordKind.notice, [tender])
    assert stored_titles(engine) == [
        ("吉林省实验中学计算机采购项目", False),
        ("吉林省实验中学计算机采购项目 中标/成交结果公告", True),
    ]


def stored_titles(engine: Engine) -> list[tuple[str, bool]]:
    notices = NOTICES
    with engine.connect() as conn:
        rows = conn.execute(
            select(notices.c.title, notices.c.title_derived).order_by(notices.c.published_at)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]
