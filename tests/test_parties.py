"""One supplier is one party wherever it appears: result, contract, transaction, penalty."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from hub.publishing import ingest_records
from schema.tables import (
    AWARD_SUPPLIERS,
    CONTRACTS,
    PARTIES,
    PARTY_ROLES,
    PENALTY_RECORDS,
    TRANSACTIONS,
)
from schema.types import RecordKind
from tests.factories import LENOVO_DEALER, penalty, project_releases, transaction


def publishers(add) -> None:  # type: ignore[no-untyped-def]
    add("吉林省政府采购网", "regional_site", ["220000"], ["notice"])
    add("吉林省政府采购电子卖场", "trading_platform", ["220000"], ["transaction"])
    add("吉林省财政厅", "finance_department", ["220000"], ["penalty"])


def test_the_same_supplier_in_every_kind_of_record_is_one_party(engine, add) -> None:
    publishers(add)
    ingest_records(engine, "吉林省政府采购网", RecordKind.notice, project_releases())
    spaced = "长春市博远科技 有限公司"  # as typed by a trading platform: a stray space, no code
    ingest_records(engine, "吉林省政府采购电子卖场", RecordKind.transaction, [
        transaction("DD1"), transaction("DD2", supplier_name=spaced, supplier_uscc=""),
    ])  # fmt: skip
    ingest_records(engine, "吉林省财政厅", RecordKind.penalty, [penalty()])
    with engine.connect() as conn:
        award_party = conn.execute(select(AWARD_SUPPLIERS.c.party_id)).scalar_one()
        contract_party = conn.execute(select(CONTRACTS.c.supplier_id)).scalar_one()
        txn_parties = set(conn.execute(select(TRANSACTIONS.c.supplier_id)).scalars())
        penalty_party = conn.execute(select(PENALTY_RECORDS.c.subject_id)).scalar_one()
        coded = conn.execute(select(PARTIES).where(PARTIES.c.uscc == LENOVO_DEALER[1])).one()
        roles = set(
            conn.execute(
                select(PARTY_ROLES.c.role).where(PARTY_ROLES.c.party_id == coded.id)
            ).scalars()
        )
    assert {award_party, contract_party, penalty_party} | txn_parties == {coded.id}
    assert roles == {"supplier", "penalty_subject"}


def test_a_party_known_by_name_gets_its_code_later(engine, add) -> None:
    publishers(add)
    fullwidth = "长春市博远科技（集团）有限公司"
    ingest_records(engine, "吉林省政府采购电子卖场", RecordKind.transaction, [
        transaction("DD1", supplier_name=fullwidth, supplier_uscc=""),
    ])  # fmt: skip
    halfwidth = "长春市博远科技(集团)有限公司"
    ingest_records(engine, "吉林省财政厅", RecordKind.penalty, [penalty(subject_name=halfwidth)])
    with engine.connect() as conn:
        suppliers = conn.execute(
            select(PARTIES).where(PARTIES.c.name_normalised.like("%博远%"))
        ).all()
    assert len(suppliers) == 1
    assert suppliers[0].uscc == LENOVO_DEALER[1]
    assert suppliers[0].name == fullwidth  # as first published


def test_only_finance_departments_publish_penalties_and_debarments_are_checked(engine, add) -> None:
    publishers(add)
    good = penalty("R1")
    backwards = penalty("R2", debarment_start="2025-05-19", debarment_end="2024-05-20")
    half = penalty("R3", debarment_end="")
    result = ingest_records(
        engine, "吉林省财政厅", RecordKind.penalty, [good, backwards, half], partial=True
    )
    assert result.accepted == 1
    assert [(r.record_id, r.field) for r in result.refusals] == [
        ("R2", "debarment_end"),
        ("R3", "debarment_end"),
    ]
    with engine.connect() as conn:
        record = conn.execute(select(PENALTY_RECORDS)).one()
    assert (record.debarment_start, record.debarment_end) == (date(2024, 5, 20), date(2025, 5, 19))


def test_a_purchaser_site_cannot_be_given_penalty_rights(engine) -> None:
    import pytest

    from hub.publishing.publishers import add_publisher
    from schema.types import PublisherRole

    with engine.begin() as conn, pytest.raises(ValueError, match="finance_department"):
        add_publisher(
            conn, "某采购代理公司", PublisherRole.agency, ["220000"], [RecordKind.penalty]
        )
