"""The demo generator: deterministic files, valid codes, and the irregularities it plants."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from hub.demo import DemoFiles, generate
from hub.demo.workdays import is_workday, next_workday
from schema.codes import CodeError, check_uscc, item_catalogue, normalise_name
from schema.ocds import merge_releases, notice_type_of

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"projects": 12, "transactions": 300, "penalties": 8}
TRANSACTION_COLUMNS = [
    "order_id", "channel", "purchaser_name", "purchaser_uscc", "supplier_name", "supplier_uscc",
    "item_name", "brand", "model", "category_code", "quantity", "unit", "unit_price", "amount",
    "order_date", "region_code", "agreement_id", "published_at",
]  # fmt: skip
PENALTY_COLUMNS = [
    "record_id", "kind", "subject_name", "subject_uscc", "authority_name", "decision_number",
    "decision_date", "facts", "legal_basis", "penalty", "fine_amount", "debarment_start",
    "debarment_end", "region_code", "ocid", "published_at",
]  # fmt: skip
CATEGORY_LETTER = {"goods": "A", "works": "B", "services": "C"}


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    assert path.read_bytes().startswith(b"\xef\xbb\xbf"), "Excel needs the BOM"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def working_days_after(start: date, end: date) -> int:
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_workday(day)
    return count


def day_of(value: str) -> date:
    return datetime.fromisoformat(value).date()


class Demo:
    """One generated dataset, read back."""

    def __init__(self, out: Path, files: DemoFiles) -> None:
        self.out = out
        self.files = files
        self.jilin = json.loads((out / "notices-jilin.json").read_text("utf-8"))
        self.central = json.loads((out / "notices-central.json").read_text("utf-8"))
        self.planted: dict[str, list[str]] = json.loads((out / "planted.json").read_text("utf-8"))
        self.header, self.orders = read_csv(out / "transactions.csv")
        self.penalties = {
            name: read_csv(out / name) for name in ("penalties-jilin.csv", "penalties-mof.csv")
        }
        self.projects: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for release in self.jilin["releases"]:
            self.projects[release["ocid"]].append(release)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    out = tmp_path_factory.mktemp("demo")
    return Demo(out, generate(out, projects=40, transactions=3000, penalties=24))


def test_same_seed_gives_identical_files_in_any_process(tmp_path: Path) -> None:
    generate(tmp_path / "a", **SMALL)
    script = (
        "import sys; from pathlib import Path; from hub.demo import generate; "
        f"generate(Path(sys.argv[1]), **{SMALL!r})"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "b")], check=True, env=env)
    first = digests(tmp_path / "a")
    assert first == digests(tmp_path / "b")
    assert set(first) >= {"notices-jilin.json", "transactions.csv", "planted.json"}


def test_other_seed_gives_other_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", **SMALL)
    generate(tmp_path / "b", seed=7, **SMALL)
    first, second = digests(tmp_path / "a"), digests(tmp_path / "b")
    for name in ("notices-jilin.json", "notices-central.json", "transactions.csv"):
        assert first[name] != second[name]


def test_batches_and_publishers_are_listed(demo: Demo) -> None:
    batches = json.loads((demo.out / "batches.json").read_text("utf-8"))
    assert [(b["path"], b["publisher"], b["kind"]) for b in batches] == [
        (b.path.name, b.publisher, b.kind) for b in demo.files.batches
    ]
    publishers = json.loads((demo.out / "publishers.json").read_text("utf-8"))
    assert [p["name"] for p in publishers] == [p.name for p in demo.files.publishers]
    by_name = {p.name: p for p in demo.files.publishers}
    for batch in demo.files.batches:
        assert batch.path.parent == demo.out and batch.path.exists()
        assert batch.kind in by_name[batch.publisher].kinds
    assert by_name["中国政府采购网"].regions == ("100000",)


def test_every_credit_code_is_valid(demo: Demo) -> None:
    codes: set[str] = set()
    for package in (demo.jilin, demo.central):
        for release in package["releases"]:
            for party in release.get("parties", []):
                assert party["id"] == party["identifier"]["id"]
                codes.add(party["id"])
            for section in ("awards", "contracts"):
                for entry in release.get(section, []):
                    codes.update(s["id"] for s in entry.get("suppliers", []))
            if "buyer" in release:
                codes.add(release["buyer"]["id"])
    for row in demo.orders:
        codes.add(row["purchaser_uscc"])
        if row["supplier_uscc"]:
            codes.add(row["supplier_uscc"])
    for _, rows in demo.penalties.values():
        codes.update(row["subject_uscc"] for row in rows)
    assert len(codes) > 100
    for code in sorted(codes):
        try:
            check_uscc(code)
        except CodeError as exc:
            pytest.fail(str(exc))


def test_every_category_code_is_in_the_2022_catalogue(demo: Demo) -> None:
    catalogue = item_catalogue()
    for package in (demo.jilin, demo.central):
        for release in package["releases"]:
            tender = release.get("tender") or {}
            for item in tender.get("items", []):
                code = item["classification"]["id"]
                assert item["classification"]["scheme"] == "CN-GPC-2022"
                assert item["classification"]["description"] == catalogue[code].name
                assert code[0] == CATEGORY_LETTER[tender["mainProcurementCategory"]]
    assert {row["category_code"] for row in demo.orders} <= set(catalogue)


def test_transactions_add_up_except_the_planted_share(demo: Demo) -> None:
    assert demo.header == TRANSACTION_COLUMNS
    assert len(demo.orders) == 3000
    assert len({row["order_id"] for row in demo.orders}) == 3000
    wrong = 0
    for row in demo.orders:
        expected = (Decimal(row["quantity"]) * Decimal(row["unit_price"])).quantize(
            Decimal("0.01"), ROUND_HALF_UP
        )
        wrong += expected != Decimal(row["amount"])
        assert "2024-01-01" <= row["order_date"] <= "2024-12-31"
        assert row["region_code"].startswith("22")
        assert bool(row["agreement_id"]) == (row["channel"] in ("framework", "协议供货"))
    assert 0 < wrong <= len(demo.orders) * 0.02


def office_hours(moment: datetime) -> bool:
    """On a working day, 08:30–11:30 or 13:00–17:00 Beijing time."""
    minutes = moment.hour * 60 + moment.minute
    return is_workday(moment.date()) and (510 <= minutes < 690 or 780 <= minutes < 1020)


def test_orders_are_published_in_office_hours_within_days_of_the_order(demo: Demo) -> None:
    lags: list[int] = []
    for row in demo.orders:
        published = datetime.fromisoformat(row["published_at"])
        assert published.utcoffset() == timedelta(hours=8), row["order_id"]
        assert office_hours(published), row
        ordered = date.fromisoformat(row["order_date"])
        assert ordered <= published.date(), row["order_id"]
        # an order placed on a day off counts from the next working day
        lags.append(working_days_after(next_workday(ordered), published.date()))
    assert max(lags) <= 5
    assert lags.count(0) > len(lags) / 5 and sum(lag > 0 for lag in lags) > len(lags) / 3
    months = {row["published_at"][:7] for row in demo.orders}
    assert {f"2024-{m:02d}" for m in range(1, 13)} <= months  # spread over the year


def test_penalties_are_published_in_office_hours_after_their_decision(demo: Demo) -> None:
    for _, rows in demo.penalties.values():
        for row in rows:
            published = datetime.fromisoformat(row["published_at"])
            assert office_hours(published), row["record_id"]
            decided = date.fromisoformat(row["decision_date"])
            assert 1 <= working_days_after(decided, published.date()) <= 7, row["record_id"]


def test_name_only_suppliers_are_known_elsewhere_by_code(demo: Demo) -> None:
    coded = {normalise_name(r["supplier_name"]) for r in demo.orders if r["supplier_uscc"]}
    names = {r["supplier_name"] for r in demo.orders if r["supplier_uscc"]}
    uncoded = [r["supplier_name"] for r in demo.orders if not r["supplier_uscc"]]
    assert uncoded
    for name in uncoded:
        assert name not in names and normalise_name(name) in coded


def test_penalties_name_known_parties_and_order_debarments(demo: Demo) -> None:
    known: set[str] = {r["supplier_uscc"] for r in demo.orders if r["supplier_uscc"]}
    for package in (demo.jilin, demo.central):
        for release in package["releases"]:
            for entry in release.get("awards", []) + release.get("contracts", []):
                known.update(s["id"] for s in entry.get("suppliers", []))
            known.update(
                p["id"] for p in release.get("parties", []) if "procuringEntity" in p["roles"]
            )
    ocids = {r["ocid"] for p in (demo.jilin, demo.central) for r in p["releases"]}
    for name, (header, rows) in demo.penalties.items():
        assert header == PENALTY_COLUMNS
        assert rows, name
        for row in rows:
            assert row["subject_uscc"] in known
            assert not row["ocid"] or row["ocid"] in ocids
            if row["kind"] == "dishonest_record":
                start, end = date.fromisoformat(row["debarment_start"]), row["debarment_end"]
                assert start <= date.fromisoformat(end) <= start.replace(year=start.year + 3)
                assert Decimal(row["fine_amount"]) > 0
            else:
                assert row["debarment_start"] == row["debarment_end"] == ""
            region = row["region_code"]
            assert region == "110000" if name == "penalties-mof.csv" else region.startswith("22")
    kinds = {row["kind"] for _, rows in demo.penalties.values() for row in rows}
    assert kinds == {
        "complaint_decision", "supervision_decision", "agency_evaluation", "dishonest_record"
    }  # fmt: skip


def test_releases_are_complete_and_in_date_order(demo: Demo) -> None:
    package = demo.jilin
    assert package["version"] == "1.1" and package["publisher"]["name"] == "吉林省政府采购网"
    for ocid, releases in demo.projects.items():
        for release in releases:
            assert {"ocid", "id", "date", "tag", "title", "fullText"} <= release.keys()
            assert release["date"].endswith("+08:00")
            assert notice_type_of(release) is not None
        dates = [release["date"] for release in releases]
        assert dates == sorted(dates), ocid
        assert len({release["id"] for release in releases}) == len(releases)
        assert notice_type_of(releases[0]) == "intention"


def test_central_site_repushes_some_jilin_releases_verbatim(demo: Demo) -> None:
    jilin = {json.dumps(r, sort_keys=True) for r in demo.jilin["releases"]}
    central = [json.dumps(r, sort_keys=True) for r in demo.central["releases"]]
    repushed = sum(release in jilin for release in central)
    assert 0 < repushed < len(jilin) / 4
    buyers = {
        party["address"]["region"][:2]
        for release in demo.central["releases"]
        for party in release.get("parties", [])
        if "buyer" in party["roles"]
    }
    assert {"22", "11", "31"} <= buyers


def irregularities(releases: list[dict[str, Any]]) -> set[str]:
    """What the hub's consistency checks should flag on one project."""
    record = merge_releases(releases)
    by_type = {notice_type_of(release): release for release in releases}
    awards, found = record.get("awards", []), set()
    if any(a["value"]["amount"] > record["planning"]["budget"]["amount"]["amount"] for a in awards):
        found.add("award_above_budget")
    if "result" in by_type:
        awarded = day_of(awards[0]["date"])
        if working_days_after(awarded, day_of(by_type["result"]["date"])) > 2:
            found.add("late_result_notice")
        publicity = by_type.get("single_source")
        if publicity and working_days_after(day_of(publicity["date"]), awarded) < 5:
            found.add("short_single_source_publicity")
    if "contract" in by_type:
        contracts = record["contracts"]
        signed = day_of(contracts[0]["dateSigned"])
        if working_days_after(signed, day_of(by_type["contract"]["date"])) >= 5:
            found.add("late_contract_notice")
        winners = {s["id"] for a in awards for s in a["suppliers"]}
        if any(s["id"] not in winners for c in contracts for s in c["suppliers"]):
            found.add("contract_supplier_not_awarded")
    return found


def test_planted_irregularities_are_exactly_where_listed(demo: Demo) -> None:
    assert list(demo.planted) == [
        "late_contract_notice", "contract_supplier_not_awarded", "award_above_budget",
        "late_result_notice", "short_single_source_publicity",
    ]  # fmt: skip
    expected: dict[str, set[str]] = defaultdict(set)
    for key, ocids in demo.planted.items():
        assert len(ocids) >= 3, key
        for ocid in ocids:
            expected[ocid].add(key)
    for ocid, releases in demo.projects.items():
        assert irregularities(releases) == expected[ocid], ocid
