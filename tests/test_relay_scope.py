"""Who may relay what: scope, kinds, penalties' original publisher, and conflicts across
sources (issue 17, design §2). Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select

from hub.publishing import PublisherError, ingest_records
from schema.tables import NOTICES, PENALTY_RECORDS, RECORD_SOURCES, TRANSACTIONS
from schema.types import RecordKind
from tests.factories import penalty, project_releases, transaction

FINANCE = "吉林省财政厅"
PROVINCE = "吉林省政府采购网"
PLATFORM = "吉林省公共资源交易平台"
AGENCY = "吉林省政府采购中心"
WHEN = "2024-05-21T09:00:00+08:00"


def relay(original: str, role: str, **more: Any) -> dict[str, Any]:
    return {"originalPublisher": original, "originalRole": role, "firstPublishedAt": WHEN,
            "sourceSite": "http://czt.jl.gov.cn", **more}  # fmt: skip


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def sources(engine: Engine, kind: str) -> list[Any]:
    s = RECORD_SOURCES.c
    with engine.connect() as conn:
        query = select(RECORD_SOURCES).where(s.kind == kind).order_by(s.id)
        return list(conn.execute(query))


def faults(result: Any) -> list[tuple[int, str | None, str]]:
    return [(r.position, r.record_id, r.field) for r in result.refusals]


def test_a_relay_out_of_the_sites_scope_is_refused_by_record_and_field(engine, add) -> None:
    add(PROVINCE, "regional_site", ["220000"], ["notice"])
    tender = project_releases()[0]
    beijing = copy.deepcopy(tender)
    beijing["ocid"] = "ocds-cghub1-BJ-1"
    beijing["id"] = "ocds-cghub1-BJ-1-01-tender"
    beijing["parties"][0]["address"]["region"] = "110101"
    result = ingest_records(engine, PROVINCE, RecordKind.notice, [tender, beijing],
                            relays=[relay(PLATFORM, "trading_platform")] * 2)  # fmt: skip
    assert result.status == "rejected"
    assert faults(result) == [(2, beijing["id"], "parties[0].address.region")]
    assert "outside 吉林省政府采购网's scope" in result.refusals[0].reason
    assert count(engine, NOTICES) == count(engine, RECORD_SOURCES) == 0


def test_only_regional_sites_and_platforms_relay(engine, add) -> None:
    add(AGENCY, "agency", ["220000"], ["notice"])
    result = ingest_records(engine, AGENCY, RecordKind.notice, project_releases()[:1],
                            relays=[relay(PLATFORM, "trading_platform")])  # fmt: skip
    assert faults(result) == [(1, project_releases()[0]["id"], "relay")]
    assert "may not relay" in result.refusals[0].reason
    assert count(engine, NOTICES) == 0


def test_faulty_relay_metadata_is_refused_naming_each_field(engine, add) -> None:
    add(PROVINCE, "regional_site", ["220000"], ["notice"])
    bad = {"originalPublisher": " ", "originalRole": "ministry", "firstPublishedAt": "May",
           "hops": [{"hub": "http://a", "receivedAt": "soon"}], "via": 1}  # fmt: skip
    result = ingest_records(engine, PROVINCE, RecordKind.notice, project_releases()[:1],
                            relays=[bad])  # fmt: skip
    assert sorted(f for _, _, f in faults(result)) == [
        "relay.firstPublishedAt", "relay.hops[0].receivedAt", "relay.originalPublisher",
        "relay.originalRole", "relay.via",
    ]  # fmt: skip


def test_a_penalty_relayed_by_a_site_registered_for_penalties_is_accepted(engine, add) -> None:
    add(FINANCE, "finance_department", ["220000"], ["penalty"])
    add(PROVINCE, "regional_site", ["220000"], ["notice", "penalty"])
    record = penalty()
    relayed = ingest_records(engine, PROVINCE, RecordKind.penalty, [record],
                             relays=[relay(FINANCE, "finance_department")])  # fmt: skip
    assert (relayed.status, relayed.accepted) == ("accepted", 1)
    direct = ingest_records(engine, FINANCE, RecordKind.penalty, [record])
    assert (direct.accepted, direct.duplicates) == (0, 1)
    assert count(engine, PENALTY_RECORDS) == 1
    rows = sources(engine, "penalty")
    assert [(r.original_publisher, r.original_role) for r in rows] == [
        (FINANCE, "finance_department")
    ] * 2
    assert [len(orjson.loads(r.hops)) for r in rows] == [1, 1]
    with engine.connect() as conn:
        stored = conn.execute(
            select(PENALTY_RECORDS.c.source_site, PENALTY_RECORDS.c.published_at)
        ).one()
    assert stored.source_site == "http://czt.jl.gov.cn"  # where first published, not the relayer
    assert stored.published_at == datetime(2024, 5, 21, 9)  # its first publication, not now


def test_a_penalty_relayed_by_a_site_not_registered_for_penalties_is_refused(engine, add) -> None:
    add(PROVINCE, "regional_site", ["220000"], ["notice"])
    with pytest.raises(PublisherError, match="may not publish penalty records"):
        ingest_records(engine, PROVINCE, RecordKind.penalty, [penalty()],
                       relays=[relay(FINANCE, "finance_department")])  # fmt: skip
    assert count(engine, PENALTY_RECORDS) == 0


def test_a_relaying_site_publishes_no_penalty_of_its_own(engine, add) -> None:
    add(PROVINCE, "regional_site", ["220000"], ["penalty"])
    own = ingest_records(engine, PROVINCE, RecordKind.penalty, [penalty("A")])
    assert faults(own) == [(1, "A", "relay")]
    not_finance = ingest_records(engine, PROVINCE, RecordKind.penalty, [penalty("B")],
                                 relays=[relay(PLATFORM, "trading_platform")])  # fmt: skip
    assert faults(not_finance) == [(1, "B", "relay.originalRole")]
    outside = ingest_records(engine, PROVINCE, RecordKind.penalty, [penalty("C", region_code="110000")],
                             relays=[relay(FINANCE, "finance_department")])  # fmt: skip
    assert faults(outside) == [(1, "C", "region_code")]
    assert count(engine, PENALTY_RECORDS) == 0


def test_same_key_other_content_from_another_source_is_a_conflict(engine, add) -> None:
    add(FINANCE, "finance_department", ["220000"], ["penalty"])
    add(PROVINCE, "regional_site", ["220000"], ["notice", "penalty"])
    ingest_records(engine, FINANCE, RecordKind.penalty, [penalty()])
    changed = ingest_records(engine, PROVINCE, RecordKind.penalty, [penalty(fine_amount="9.00")],
                             relays=[relay(FINANCE, "finance_department")])  # fmt: skip
    assert faults(changed) == [(1, "JLCZ-2024-001", "record_id")]
    add(PLATFORM, "trading_platform", ["220000"], ["notice"])
    tender = project_releases()[0]
    ingest_records(engine, PLATFORM, RecordKind.notice, [tender])
    other = {**tender, "title": "另一个标题"}
    refused = ingest_records(engine, PROVINCE, RecordKind.notice, [other],
                             relays=[relay(PLATFORM, "trading_platform")])  # fmt: skip
    assert faults(refused) == [(1, tender["id"], "id")]
    assert count(engine, PENALTY_RECORDS) == count(engine, NOTICES) == 1
    assert count(engine, RECORD_SOURCES) == 2


def test_a_transaction_relayed_and_pushed_directly_is_one_order_with_two_sources(
    engine, add
) -> None:
    add(PLATFORM, "trading_platform", ["220000"], ["transaction"])
    add(PROVINCE, "regional_site", ["220000"], ["transaction"])
    order = transaction("DD-1")
    direct = ingest_records(engine, PLATFORM, RecordKind.transaction, [order])
    assert direct.accepted == 1
    relayed = ingest_records(engine, PROVINCE, RecordKind.transaction, [order, transaction("DD-2")],
                             relays=[relay(PLATFORM, "trading_platform")] * 2)  # fmt: skip
    assert (relayed.accepted, relayed.duplicates) == (1, 1)
    assert count(engine, TRANSACTIONS) == 2
    by_order: dict[int, list[str]] = {}
    for row in sources(engine, "transaction"):
        by_order.setdefault(row.record_id, []).append(row.original_publisher)
    assert sorted(by_order.values()) == [[PLATFORM], [PLATFORM, PLATFORM]]
    with engine.connect() as conn:
        query = select(TRANSACTIONS.c.published_at).where(TRANSACTIONS.c.order_id == "DD-2")
        assert conn.execute(query).scalar_one() == datetime(2024, 5, 21, 9)
    changed = ingest_records(engine, PROVINCE, RecordKind.transaction, [transaction("DD-1", quantity="3")],
                             relays=[relay(PLATFORM, "trading_platform")])  # fmt: skip
    assert faults(changed) == [(1, "DD-1", "order_id")]


def test_one_id_twice_from_two_originals_through_one_site_is_refused_by_name(engine, add) -> None:
    add(PROVINCE, "regional_site", ["220000"], ["penalty"])
    first = ingest_records(engine, PROVINCE, RecordKind.penalty, [penalty("X")],
                           relays=[relay(FINANCE, "finance_department")])  # fmt: skip
    assert first.accepted == 1
    other = ingest_records(engine, PROVINCE, RecordKind.penalty, [penalty("X")],
                           relays=[relay("长春市财政局", "finance_department")])  # fmt: skip
    assert faults(other) == [(1, "X", "record_id")]
    assert "already delivered a record X" in other.refusals[0].reason
    assert count(engine, PENALTY_RECORDS) == 1


def test_a_publisher_refused_by_a_relay_of_another_version_is_told_who_relayed_it(
    engine, add
) -> None:
    """A relay's claim of who first published a record is not signed: a platform can relay
    an order naming another local publisher first, and that publisher's own, different
    order is then refused. The hub cannot tell which is right; the refusal now names the
    account that relayed it, so the publisher and the operators can (and the log says so).
    A conflict with one's own earlier version keeps the plain message."""
    add(PLATFORM, "trading_platform", ["220000"], ["transaction"])
    add("另一电子卖场", "trading_platform", ["220000"], ["transaction"])
    squat = transaction("DD-VICTIM-1", amount="4579.00", unit_price="4579.00")
    claimed = relay(PLATFORM, "trading_platform")
    relayed = ingest_records(engine, "另一电子卖场", RecordKind.transaction, [squat],
                             relays=[claimed])  # fmt: skip
    assert relayed.accepted == 1
    genuine = transaction("DD-VICTIM-1", amount="45790.00", unit_price="45790.00", quantity="1")
    refused = ingest_records(engine, PLATFORM, RecordKind.transaction, [genuine])
    [refusal] = refused.refusals
    assert refusal.field == "order_id" and "held as relayed by 另一电子卖场" in refusal.reason
    own = ingest_records(engine, "另一电子卖场", RecordKind.transaction,
                         [transaction("DD-OWN-1")])  # fmt: skip
    assert own.accepted == 1
    again = ingest_records(engine, "另一电子卖场", RecordKind.transaction,
                           [transaction("DD-OWN-1", amount="1.00", unit_price="1.00")])  # fmt: skip
    assert "held as relayed" not in again.refusals[0].reason


def test_a_notice_held_by_another_account_as_its_own_is_refused_without_naming_it(
    engine, add
) -> None:
    """Notices are one per release id whoever publishes them: a different version from a
    second site is refused plainly (no relay claimed the sender as its publisher)."""
    add(PROVINCE, "regional_site", ["220000"], ["notice"])
    add(AGENCY, "regional_site", ["220000"], ["notice"])
    tender = project_releases()[0]
    assert ingest_records(engine, PROVINCE, RecordKind.notice, [tender]).accepted == 1
    other = copy.deepcopy(tender)
    other["title"] = "另一个版本"
    [refusal] = ingest_records(engine, AGENCY, RecordKind.notice, [other]).refusals
    assert refusal.field == "id" and "held as relayed" not in refusal.reason
