"""The notice door after review: the buyer is the party `buyer.id` names, other parties'
unreadable regions and extensions' fields are kept, not refused, an all-or-nothing batch
names only its faulty records, and a migration refuses a database with broken references."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

from hub.publishing import ingest_records
from schema.db import alembic_config
from schema.tables import DATA_QUALITY_ISSUES as ISSUES
from schema.tables import NOTICES, PROJECTS
from schema.types import RecordKind
from tests.factories import project_releases

JILIN = "吉林省政府采购网"
BEIJING = "北京市政府采购网"


@pytest.fixture
def sites(add):  # type: ignore[no-untyped-def]
    add(JILIN, "regional_site", ["220000"], ["notice"])
    add(BEIJING, "regional_site", ["110000"], ["notice"])


def projects(engine: Engine) -> list[tuple[str, str]]:
    table = PROJECTS
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table.c.ocid, table.c.region_code))]


def issue_codes(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(ISSUES.c.field_name, ISSUES.c.code).order_by(ISSUES.c.id))
        return [tuple(r) for r in rows]


def test_a_decoy_buyer_listed_first_cannot_take_a_project_to_the_publishers_region(
    engine, sites
) -> None:
    """Beijing's site names the Jilin school as buyer and puts a Beijing 'buyer' first."""
    release = project_releases()[0]
    release["parties"].insert(0, {"id": "decoy", "name": "某单位", "roles": ["buyer"],
                                  "address": {"region": "110105"}})  # fmt: skip
    result = ingest_records(engine, BEIJING, RecordKind.notice, [release])
    assert result.status == "rejected"
    assert [(r.field, r.reason) for r in result.refusals] == [
        ("parties[1].address.region", "220102 is outside 北京市政府采购网's scope (110000)")
    ]
    assert projects(engine) == []
    # and the Jilin site, which covers the real buyer, publishes the project as ever
    assert ingest_records(engine, JILIN, RecordKind.notice, project_releases()).accepted == 4
    assert projects(engine) == [(release["ocid"], "220102")]


def test_a_second_buyer_outside_the_scope_is_refused(engine, sites) -> None:
    release = project_releases()[0]
    release["parties"].append({"id": "other", "name": "北京某校", "roles": ["buyer"],
                               "address": {"region": "110105"}})  # fmt: skip
    result = ingest_records(engine, JILIN, RecordKind.notice, [release])
    assert [(r.field, r.reason) for r in result.refusals] == [
        ("parties[2].address.region", "110105 is outside 吉林省政府采购网's scope")
    ]


def test_other_parties_unreadable_regions_and_extension_fields_are_kept(engine, sites) -> None:
    releases = project_releases()
    tender = releases[0]
    tender["parties"].append({"id": "hk", "name": "香港某供应商", "roles": ["tenderer"],
                              "address": {"region": "Hong Kong"}})  # fmt: skip
    tender["bids"] = {"statistics": [{"id": "1", "measure": "validBids", "value": 3}]}
    result = ingest_records(engine, JILIN, RecordKind.notice, releases)
    assert (result.status, result.accepted) == ("accepted", 4)
    codes = issue_codes(engine)
    assert ("parties[2].address.region", "party_region_unread") in codes
    assert ("bids", "extension_field") in codes
    table = NOTICES
    with engine.connect() as conn:
        payload = conn.execute(
            select(table.c.payload).where(table.c.release_id == tender["id"])
        ).scalar_one()
    assert '"bids"' in payload and "Hong Kong" in payload  # verbatim


@pytest.mark.parametrize("tag", [[["tender"]], [{"tag": "tender"}], "tender"])
def test_a_malformed_tag_is_a_named_refusal_not_a_crash(engine, sites, tag: Any) -> None:
    release = project_releases()[0] | {"tag": tag}
    result = ingest_records(engine, JILIN, RecordKind.notice, [release], partial=True)
    assert result.rejected == 1
    assert any(r.field.startswith("tag") for r in result.refusals), result.refusals


def test_an_all_or_nothing_batch_names_only_its_faulty_records(engine, sites) -> None:
    bad = copy.deepcopy(project_releases("ocds-cghub1-BAD-1")[0])
    bad["date"] = "2024-13-40"
    result = ingest_records(engine, JILIN, RecordKind.notice, [bad, *project_releases()])
    assert result.status == "rejected"
    assert [(r.position, r.field) for r in result.refusals] == [(1, "date")]
    assert projects(engine) == []


def test_a_migration_refuses_a_database_with_broken_references(
    engine: Engine, database_url: str
) -> None:
    """SQLite can hold broken references (keys off at some point); PostgreSQL cannot."""
    config = alembic_config(engine)
    command.downgrade(config, "0006")
    orphan = text("INSERT INTO lots (project_id, lot_id) VALUES (999, 'L1')")
    if not database_url.startswith("sqlite"):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(orphan)
        command.upgrade(config, "head")
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.execute(orphan)
        conn.commit()
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    with pytest.raises(RuntimeError, match="broken references"):
        command.upgrade(config, "head")
    indexes = {i["name"] for i in inspect(engine).get_indexes("transactions")}
    assert "ix_transactions_model_date" not in indexes  # nothing of the migration ran
