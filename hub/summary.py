"""What the hub holds, in figures a person can check at a glance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, distinct, func, select

from schema.ocds import utc_now_beijing
from schema.tables import (
    NOTICE_SOURCES,
    NOTICES,
    PARTIES,
    PARTY_ROLES,
    PENALTY_RECORDS,
    TRANSACTIONS,
    DataQualityIssue,
    Project,
)
from schema.tables import metadata as _metadata


@dataclass(frozen=True)
class HubSummary:
    counts: dict[str, int]
    notices_by_type: dict[str, int]
    notices_from_several_sites: int
    suppliers: int
    purchasers: int
    transaction_amount: Decimal
    active_debarments: int
    top_suppliers: list[tuple[str, str | None, int, Decimal]]


def summarise(conn: Connection, today: date | None = None) -> HubSummary:
    today = today or utc_now_beijing().date()
    counts = {
        table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
        for table in _metadata.sorted_tables
    }
    notices = NOTICES
    sources = NOTICE_SOURCES
    roles = PARTY_ROLES
    txn = TRANSACTIONS
    penalties = PENALTY_RECORDS
    parties = PARTIES
    by_type: dict[str, int] = dict(
        conn.execute(
            select(notices.c.notice_type, func.count()).group_by(notices.c.notice_type)
        ).all()
    )
    multi = (
        select(sources.c.notice_id)
        .group_by(sources.c.notice_id)
        .having(func.count() > 1)
        .subquery()
    )
    role_count = {
        role: conn.execute(
            select(func.count(distinct(roles.c.party_id))).where(roles.c.role == role)
        ).scalar_one()
        for role in ("supplier", "purchaser")
    }
    amount = conn.execute(select(func.coalesce(func.sum(txn.c.amount), 0))).scalar_one()
    debarred = conn.execute(
        select(func.count()).where(
            penalties.c.debarment_start <= today, penalties.c.debarment_end >= today
        )
    ).scalar_one()
    top = conn.execute(
        select(parties.c.name, parties.c.uscc, func.count(), func.sum(txn.c.amount))
        .join(txn, txn.c.supplier_id == parties.c.id)
        .group_by(parties.c.id, parties.c.name, parties.c.uscc)
        .order_by(func.sum(txn.c.amount).desc())
        .limit(5)
    ).all()
    return HubSummary(
        counts=counts,
        notices_by_type=by_type,
        notices_from_several_sites=conn.execute(
            select(func.count()).select_from(multi)
        ).scalar_one(),
        suppliers=role_count["supplier"],
        purchasers=role_count["purchaser"],
        transaction_amount=Decimal(amount),
        active_debarments=debarred,
        top_suppliers=[(r[0], r[1], r[2], Decimal(r[3])) for r in top],
    )


__all__ = ["DataQualityIssue", "HubSummary", "Project", "summarise"]
