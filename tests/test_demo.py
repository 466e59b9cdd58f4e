"""The demo dataset goes through the real pipeline whole, and carries what later checks need."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import String, func, select, text

from hub.demo import generate
from hub.demo.load import ensure_publishers
from hub.publishing import ingest_file
from schema.tables import (
    AWARD_SUPPLIERS,
    AWARDS,
    CONTRACTS,
    DATA_QUALITY_ISSUES,
    NOTICE_SOURCES,
    PARTIES,
    PENALTY_RECORDS,
    PROJECTS,
    TRANSACTIONS,
)
from schema.types import RecordKind


def test_demo_files_ingest_without_a_refusal_and_again_as_duplicates(
    engine, tmp_path: Path
) -> None:
    files = generate(tmp_path / "demo", projects=40, transactions=3_000, penalties=30)
    ensure_publishers(engine, files.publishers)
    first = [
        ingest_file(engine, b.path, b.publisher, kind=RecordKind(b.kind)) for b in files.batches
    ]
    assert all(r.status == "accepted" and r.rejected == 0 for r in first), [
        r.refusals[:3] for r in first
    ]
    again = [
        ingest_file(engine, b.path, b.publisher, kind=RecordKind(b.kind)) for b in files.batches
    ]
    assert sum(r.accepted for r in again) == 0
    assert sum(r.duplicates for r in again) == sum(r.accepted + r.duplicates for r in first)

    planted = json.loads((tmp_path / "demo" / "planted.json").read_text("utf-8"))
    awards, projects, contracts = AWARDS, PROJECTS, CONTRACTS
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(TRANSACTIONS)).scalar_one() == 3_000
        several_sites = (
            select(NOTICE_SOURCES.c.notice_id)
            .group_by(NOTICE_SOURCES.c.notice_id)
            .having(func.count() > 1)
        )
        assert (
            conn.execute(select(func.count()).select_from(several_sites.subquery())).scalar_one()
            > 0
        )
        assert conn.execute(select(func.count()).select_from(DATA_QUALITY_ISSUES)).scalar_one() > 0
        above_budget = set(
            conn.execute(
                select(projects.c.ocid)
                .join(awards, awards.c.project_id == projects.c.id)
                .where(awards.c.amount > projects.c.budget)
            ).scalars()
        )
        not_awarded = set(
            conn.execute(
                select(projects.c.ocid)
                .join(contracts, contracts.c.project_id == projects.c.id)
                .where(
                    ~contracts.c.supplier_id.in_(
                        select(AWARD_SUPPLIERS.c.party_id)
                        .join(awards, awards.c.id == AWARD_SUPPLIERS.c.award_pk)
                        .where(awards.c.project_id == projects.c.id)
                    )
                )
            ).scalars()
        )
        suppliers_without_code = conn.execute(
            select(func.count()).select_from(PARTIES).where(PARTIES.c.uscc.is_(None))
        ).scalar_one()
    assert set(planted["award_above_budget"]) <= above_budget
    assert set(planted["contract_supplier_not_awarded"]) == not_awarded
    assert suppliers_without_code == 0  # name-only rows were unified with their coded parties


def test_demo_records_are_found_by_the_month_they_were_published(engine, tmp_path: Path) -> None:
    """Not by the day they were loaded: a month's orders and penalties by `published_at`."""
    files = generate(tmp_path / "demo", projects=12, transactions=2_000, penalties=16)
    ensure_publishers(engine, files.publishers)
    for batch in files.batches:
        result = ingest_file(engine, batch.path, batch.publisher, kind=RecordKind(batch.kind))
        assert result.status == "accepted" and result.rejected == 0, result.refusals[:3]
    with (tmp_path / "demo" / "transactions.csv").open(encoding="utf-8-sig") as handle:
        published = [row["published_at"] for row in csv.DictReader(handle)]
    in_march = sum("2024-03-01" <= value < "2024-03-31" for value in published)
    month = (
        "SELECT count(*) FROM transactions WHERE published_at BETWEEN '2024-03-01' AND '2024-03-31'"
    )
    with engine.connect() as conn:
        march = conn.execute(text(month)).scalar_one()  # the README's month, 31 March excluded
        assert march == in_march > 100
        for table in (TRANSACTIONS, PENALTY_RECORDS):
            c = table.c
            months = conn.execute(
                select(
                    func.count(func.distinct(func.substr(func.cast(c.published_at, String), 1, 7)))
                )
            ).scalar_one()
            assert months >= (12 if table.name == "transactions" else 6), table.name
            later = conn.execute(
                select(func.count()).select_from(table).where(c.published_at >= c.received_at)
            ).scalar_one()
            assert later == 0, table.name  # every one published in 2024, received today
