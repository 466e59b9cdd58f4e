"""OCDS exports: daily release and record packages, checked offline with libcoveocds."""

from __future__ import annotations

import csv
import json
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import ocdsmerge
import orjson
import pytest
from sqlalchemy import Engine, select, text

from exports.ocds import (
    DEFAULT_BASE_URI,
    Publication,
    compiled_releases_ndjson,
    package_bytes,
    procurement_method,
    record_package,
    release_package,
)
from exports.ocds_schema import CAIGOU, EXTENSIONS
from hub.demo import generate
from hub.demo.load import load_demo
from hub.publishing import ingest_records
from schema.db import make_engine
from schema.ocds import OCDS_NOTICE_TYPES, STANDARD_ZIP, merge_releases
from schema.tables import NOTICES
from schema.types import RecordKind
from tests.conftest import fresh_database
from tests.factories import project_releases


def _standard_file(name: str) -> Any:
    with zipfile.ZipFile(STANDARD_ZIP) as archive:
        return json.loads(archive.read(f"standard-1__1__5/schema/{name}"))


TOOLS_PYTHON = Path(__file__).resolve().parents[1] / ".venv-tools" / "bin" / "python"
VALIDATOR = Path(__file__).resolve().parent / "ocds_validate.py"


def shipped_extensions(base_uri: str = DEFAULT_BASE_URI) -> str:
    """Each declared extension's URL → its folder in the repository, for the validator."""
    return json.dumps({e.metadata_url(base_uri): str(e.folder) for e in EXTENSIONS})


def cove_files(
    paths: list[Path], folder: Path, base_uri: str = DEFAULT_BASE_URI
) -> list[dict[str, Any]]:
    """libcoveocds' reports on the package files, validated offline against the OCDS 1.1.5
    zip and the extensions shipped in schema/data/.

    libcoveocds runs in `.venv-tools` (scripts/bootstrap.sh test): see tests/ocds_validate.py.
    """
    assert TOOLS_PYTHON.exists(), "libcoveocds is missing: run `bash scripts/bootstrap.sh test`"
    done = subprocess.run(
        [str(TOOLS_PYTHON), str(VALIDATOR), str(STANDARD_ZIP), str(folder / "cove"),
         shipped_extensions(base_uri), *map(str, paths)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def cove(packages: list[dict[str, Any]], folder: Path) -> list[dict[str, Any]]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, package in enumerate(packages):
        path = folder / f"package-{number}.json"
        path.write_bytes(package_bytes(package))
        paths.append(path)
    return cove_files(paths, folder)


def assert_clean(report: dict[str, Any], name: object = "") -> None:
    """Valid OCDS 1.1, every field declared, every declared extension (and codelist) read."""
    assert report["version_used"] == "1.1", name
    assert report["validation_errors"] == [], name
    assert report["additional_fields"] == [], name  # nothing beyond core and the extensions
    assert report["additional_closed_codelist_values"] == {}, name
    # 品目 schemes CN-GPC-2022/2013 are added to the open codelist by the caigou extension.
    assert report["additional_open_codelist_values"] == {}, name
    assert report["json_deref_error"] is None, name
    extensions = report["extensions"]
    assert extensions["invalid_extensions"] == [], name
    assert [e["failed_codelists"] for e in extensions["extensions"]] == [{}] * len(EXTENSIONS)


def assert_valid(packages: list[dict[str, Any]], folder: Path) -> None:
    for number, report in enumerate(cove(packages, folder)):
        assert_clean(report, number)


class Demo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def sql(self, statement: str, **params: object) -> list[Any]:
        with self.engine.connect() as conn:
            return conn.execute(text(statement), params).all()

    def releases(self, day: date) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return release_package(conn, day)

    def records(self, day: date) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return record_package(conn, day)

    def day_of(self, release_id: str) -> date:
        [(published_at,)] = self.sql(
            "SELECT published_at FROM notices WHERE release_id = :r", r=release_id
        )
        return date.fromisoformat(str(published_at)[:10])


@pytest.fixture(scope="module")
def demo(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp(f"ocds-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        engine = make_engine(url)
        files = generate(folder / "demo", projects=30, transactions=1_500, penalties=30)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        yield Demo(engine)
        engine.dispose()


def busiest_days(demo: Demo, count: int = 3) -> list[date]:
    rows = demo.sql(
        "SELECT substr(CAST(published_at AS TEXT), 1, 10) AS day, count(*) FROM notices "
        "GROUP BY substr(CAST(published_at AS TEXT), 1, 10) ORDER BY count(*) DESC, day LIMIT :n",
        n=count,
    )
    return [date.fromisoformat(day) for day, _ in rows]


def single_source_day(demo: Demo) -> date:
    [(release_id,)] = demo.sql(
        "SELECT release_id FROM notices WHERE notice_type = 'single_source' "
        "ORDER BY published_at, release_id LIMIT 1"
    )
    return demo.day_of(release_id)


def test_day_packages_validate_offline(demo: Demo, tmp_path: Path) -> None:
    days = [*busiest_days(demo), single_source_day(demo)]
    packages = []
    for day in days:
        releases, records = demo.releases(day), demo.records(day)
        assert releases["releases"] and records["records"]
        packages += [releases, records]
    assert_valid(packages, tmp_path)


def test_release_package_holds_the_days_notices_in_a_stable_order(demo: Demo) -> None:
    day = busiest_days(demo, 1)[0]
    package = demo.releases(day)
    start = datetime.combine(day, time())
    published = NOTICES.c.published_at
    with demo.engine.connect() as conn:
        expected = conn.execute(
            select(NOTICES.c.release_id).where(
                published >= start, published < start + timedelta(days=1)
            )
        ).all()
    found = [r["id"] for r in package["releases"]]
    assert sorted(found) == sorted(row.release_id for row in expected)
    assert found == [
        r["id"] for r in sorted(package["releases"], key=lambda r: (r["date"], r["ocid"], r["id"]))
    ]
    assert package["publishedDate"] == f"{day.isoformat()}T23:59:59+08:00"
    assert package["uri"] == Publication().release_package_uri(day)
    assert package["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert package["publicationPolicy"] == "http://localhost:8000/downloads/policy"
    assert all(r["date"].endswith("+08:00") for r in package["releases"])


def test_single_source_is_direct_without_a_tender_period(demo: Demo) -> None:
    day = single_source_day(demo)
    [publicity] = [r for r in demo.releases(day)["releases"] if "单一来源" in r["title"]]
    tender = publicity["tender"]
    assert tender["procurementMethod"] == "direct"
    assert tender["procurementMethodDetails"] == "单一来源"
    assert "tenderPeriod" not in tender
    [milestone] = tender["milestones"]
    assert (milestone["type"], milestone["title"]) == ("engagement", "单一来源采购公示期")
    [record] = [r for r in demo.records(day)["records"] if r["ocid"] == publicity["ocid"]]
    assert record["compiledRelease"]["tender"]["procurementMethod"] == "direct"
    assert "tenderPeriod" not in record["compiledRelease"]["tender"]


def test_the_same_day_exported_twice_is_byte_identical(demo: Demo) -> None:
    for day in busiest_days(demo, 2):
        assert package_bytes(demo.releases(day)) == package_bytes(demo.releases(day))
        assert package_bytes(demo.records(day)) == package_bytes(demo.records(day))
        # exports/write.py serialises with json.dumps: the keys come already sorted.
        as_written = json.dumps(demo.releases(day), ensure_ascii=False, indent=2)
        assert as_written == json.dumps(demo.releases(day), ensure_ascii=False, indent=2)
        assert as_written == json.dumps(
            demo.releases(day), ensure_ascii=False, indent=2, sort_keys=True
        )


def test_a_later_correction_lands_in_its_own_day(demo: Demo) -> None:
    rows = demo.sql(
        "SELECT c.release_id AS correction, o.release_id AS original, c.payload FROM notices c "
        "JOIN notices o ON o.id = c.supersedes_id WHERE c.notice_type = 'correction' "
        "ORDER BY c.published_at, c.release_id"
    )
    row = next(
        r for r in rows
        if demo.day_of(r.correction) != demo.day_of(r.original) and "value" in orjson.loads(r.payload)["tender"]
    )  # fmt: skip
    before, after = demo.day_of(row.original), demo.day_of(row.correction)
    corrected = orjson.loads(row.payload)["tender"]["value"]

    earlier = demo.releases(before)
    assert row.original in {r["id"] for r in earlier["releases"]}
    assert row.correction not in {r["id"] for r in earlier["releases"]}
    [record] = [r for r in demo.records(before)["records"] if row.original.startswith(r["ocid"])]
    assert row.correction not in json.dumps(record["releases"])
    assert record["compiledRelease"]["tender"]["value"] != corrected

    assert row.correction in {r["id"] for r in demo.releases(after)["releases"]}
    [record] = [r for r in demo.records(after)["records"] if row.correction.startswith(r["ocid"])]
    assert record["compiledRelease"]["tender"]["value"] == corrected
    links = [link["url"] for link in record["releases"]]
    assert f"date={before.isoformat()}/release-package.json#{row.original}" in "\n".join(links)


def test_compiled_releases_ndjson(demo: Demo, tmp_path: Path) -> None:
    with demo.engine.connect() as conn:
        lines = list(compiled_releases_ndjson(conn))
    [(projects,)] = demo.sql("SELECT count(*) FROM projects")
    assert len(lines) == projects
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    compiled = [json.loads(line) for line in lines]
    assert [c["ocid"] for c in compiled] == sorted(c["ocid"] for c in compiled)
    assert all(c["tag"] == ["compiled"] for c in compiled)
    package = {**Publication().package("http://localhost:8000/downloads/compiled.json", date(2024, 12, 31)),
               "releases": compiled}  # fmt: skip
    assert_valid([package], tmp_path / "compiled")


MESSY_OCID = "ocds-cghub1-JLZC2024-0999"


def messy_releases() -> list[dict[str, Any]]:
    """What a publisher might push: Chinese codes, naive dates, amounts as text."""
    tender, correction, result, contract = project_releases(MESSY_OCID)
    tender["date"] = "2024-03-01 09:00:00"
    tender["tag"] = ["招标公告", "tender"]
    tender["tender"].update(
        procurementMethod="竞争性磋商", mainProcurementCategory="货物", status="进行中",
        value={"amount": "500000.00", "currency": "人民币"},
        tenderPeriod={"startDate": "2024-03-01", "endDate": "2024-03-22T09:30:00Z"},
    )  # fmt: skip
    tender["tender"].pop("procurementMethodDetails")
    result["awards"][0].update(status="中标", date="2024-03-29 16:00")
    contract["contracts"][0]["dateSigned"] = "2024-04-08T10:00:00+08:00"
    contract["contracts"][0]["status"] = "履行中"
    single = project_releases("ocds-cghub1-JLZC2024-0998")[0]
    single["tender"].update(procurementMethod="limited", procurementMethodDetails="单一来源")
    single["tender"].pop("value")  # no value: only the publicity
    return [tender, correction, result, contract, single]


def test_non_conforming_releases_are_normalised(engine: Engine, add, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    add("吉林省政府采购网", "regional_site", ["220000"], ["notice"])
    result = ingest_records(engine, "吉林省政府采购网", RecordKind.notice, messy_releases())
    assert (result.status, result.accepted) == ("accepted", 5), result
    with engine.connect() as conn:
        march_first = release_package(conn, date(2024, 3, 1))
        records = record_package(conn, date(2024, 4, 10))
    assert_valid([march_first, records], tmp_path)

    by_ocid = {r["ocid"]: r for r in march_first["releases"]}
    messy = by_ocid[MESSY_OCID]
    assert messy["date"] == "2024-03-01T09:00:00+08:00"
    assert messy["tag"] == ["tender"]
    tender = messy["tender"]
    assert (tender["procurementMethod"], tender["procurementMethodDetails"]) == (
        "limited",
        "竞争性磋商",
    )
    assert tender["mainProcurementCategory"] == "goods"
    assert "status" not in tender
    assert tender["value"] == {"amount": 500000, "currency": "CNY"}
    assert tender["tenderPeriod"] == {
        "startDate": "2024-03-01T00:00:00+08:00",
        "endDate": "2024-03-22T17:30:00+08:00",
    }
    single = by_ocid["ocds-cghub1-JLZC2024-0998"]["tender"]
    assert (single["procurementMethod"], "tenderPeriod" in single) == ("direct", False)

    [record] = [r for r in records["records"] if r["ocid"] == MESSY_OCID]
    compiled = record["compiledRelease"]
    assert compiled["awards"][0]["date"] == "2024-03-29T16:00:00+08:00"
    assert "status" not in compiled["awards"][0] and "status" not in compiled["contracts"][0]
    assert compiled["tender"]["value"] == {"amount": 480000.0, "currency": "CNY"}
    assert [link["date"] for link in record["releases"]] == sorted(
        link["date"] for link in record["releases"]
    )
    # The compiled release is the OCDS merge of the releases as published: ocdsmerge agrees.
    with engine.connect() as conn:
        published = [
            r for day in ("2024-03-01", "2024-03-08", "2024-04-01", "2024-04-10")
            for r in release_package(conn, date.fromisoformat(day))["releases"] if r["ocid"] == MESSY_OCID
        ]  # fmt: skip
    theirs = ocdsmerge.Merger(schema=_standard_file("release-schema.json")).create_compiled_release(
        published
    )
    for key in (
        "ocid",
        "date",
        "tag",
        "parties",
        "buyer",
        "planning",
        "tender",
        "awards",
        "contracts",
    ):
        assert compiled[key] == theirs[key], key
    assert compiled == merge_releases(published) | {"id": compiled["id"]}


@pytest.mark.parametrize(
    ("method", "details", "expected"),
    [
        ("open", "公开招标", ("open", "公开招标")),
        ("limited", "单一来源", ("direct", "单一来源")),
        ("单一来源", None, ("direct", "单一来源")),
        ("公开招标", None, ("open", "公开招标")),
        (None, "邀请招标", ("selective", "邀请招标")),
        ("询价采购", None, ("limited", "询价采购")),
        ("direct", None, ("direct", None)),
        ("网上竞价", None, (None, "网上竞价")),
    ],
)
def test_procurement_method(method: str | None, details: str | None, expected: tuple) -> None:
    assert procurement_method(method, details) == expected


def test_packages_declare_extensions_and_leave_out_undeclared_fields(
    engine: Engine, add: Any, tmp_path: Path
) -> None:
    add("吉林省政府采购网", "regional_site", ["220000"], ["notice"])
    tender, *later = project_releases("ocds-cghub1-JLZC2024-0997")
    tender["bids"] = {"statistics": [{"id": "1", "measure": "validBids", "value": 3}]}
    tender["tender"]["bidOpening"] = {"date": "2024-03-22T09:30:00+08:00"}  # not declared
    result = ingest_records(engine, "吉林省政府采购网", RecordKind.notice, [tender, *later])
    assert result.status == "accepted", result
    day = date.fromisoformat(tender["date"][:10])
    with engine.connect() as conn:
        releases, records = release_package(conn, day), record_package(conn, day)
        [payload] = conn.execute(
            select(NOTICES.c.payload).where(NOTICES.c.release_id == tender["id"])
        ).one()
    declared = [
        "https://raw.githubusercontent.com/open-contracting-extensions/ocds_lots_extension/"
        "v1.1.5/extension.json",
        "https://raw.githubusercontent.com/open-contracting-extensions/"
        "ocds_contract_suppliers_extension/213ff47826ef6d9de62b1b7efb9bf490abd8388d/"
        "extension.json",
        "http://localhost:8000/downloads/extensions/caigou/extension.json",
    ]
    assert releases["extensions"] == records["extensions"] == declared
    [exported] = [r for r in releases["releases"] if r["id"] == tender["id"]]
    assert "bids" not in exported and "bidOpening" not in exported["tender"]
    assert exported["title"] == tender["title"] and exported["tender"]["id"]  # declared: kept
    stored = orjson.loads(payload)
    assert "bids" in stored and "bidOpening" in stored["tender"]  # the payload stays as sent
    assert_valid([releases, records], tmp_path)


def test_the_notice_type_codelist_is_the_hubs_notice_types() -> None:
    """The caigou extension's closed `noticeType` codelist lists exactly the OCDS notice
    types the hub reads (schema.ocds.OCDS_NOTICE_TYPES), and its schema's enum agrees."""
    folder = CAIGOU.folder
    with (folder / "codelists" / "noticeType.csv").open(encoding="utf-8", newline="") as handle:
        codes = {row["Code"] for row in csv.DictReader(handle)}
    assert codes == {str(t) for t in OCDS_NOTICE_TYPES}
    schema = json.loads((folder / "release-schema.json").read_text("utf-8"))
    assert set(schema["properties"]["noticeType"]["enum"]) == codes | {None}
    metadata = json.loads((folder / "extension.json").read_text("utf-8"))
    for codelist in metadata["codelists"]:
        assert (folder / "codelists" / codelist).is_file()
