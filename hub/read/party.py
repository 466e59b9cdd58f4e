"""A party on one page, and party names by id: the pages' party lookups.

Awards won, contracts, projects bought, recent transactions (keyset-paged, newest first,
as purchaser or supplier), penalty records, debarments active today and flags.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, select, tuple_
from sqlalchemy.orm import aliased

from hub.read.lists import flags_where
from schema.ocds import utc_now_beijing
from schema.tables import (
    AWARD_SUPPLIERS,
    AWARDS,
    CONTRACT_SUPPLIERS,
    CONTRACTS,
    FLAGS,
    PARTIES,
    PROJECTS,
    TRANSACTIONS,
)
from schema.tables import PARTY_ROLES as ROLES
from schema.tables import PENALTY_RECORDS as PENALTIES

LIST_LIMIT = 50
TX_PAGE = 20


def transactions_page(
    conn: Connection, pk: int, before: tuple[date, int] | None
) -> tuple[list[Any], tuple[date, int] | None]:
    """Newest first, as purchaser or supplier; the key of the last row pages on.

    One query per role, each walking its (party, order_date, id) index for one page, then
    merged: an OR across both roles would sort all of a large supplier's rows.
    """
    t, other = TRANSACTIONS, aliased(PARTIES)
    found: list[Any] = []
    for own, their in ((t.c.purchaser_id, t.c.supplier_id), (t.c.supplier_id, t.c.purchaser_id)):
        query = (
            select(t.c.id, t.c.item_name, t.c.brand, t.c.model, t.c.quantity, t.c.unit,
                   t.c.unit_price, t.c.amount, t.c.order_date,
                   other.c.name.label("counterpart"), other.c.id.label("counterpart_id"))
            .join(other, other.c.id == their)
            .where(own == pk)
            .order_by(t.c.order_date.desc(), t.c.id.desc())
            .limit(TX_PAGE + 1)
        )  # fmt: skip
        if before is not None:
            query = query.where(tuple_(t.c.order_date, t.c.id) < tuple_(*before))
        found += conn.execute(query).mappings().all()
    unique = {r["id"]: r for r in found}.values()  # a party buying from itself: once
    rows = sorted(unique, key=lambda r: (r["order_date"], r["id"]), reverse=True)[: TX_PAGE + 1]
    if len(rows) <= TX_PAGE:
        return rows, None
    last = rows[TX_PAGE - 1]
    return rows[:TX_PAGE], (last["order_date"], last["id"])


def party_data(conn: Connection, pk: int, before: tuple[date, int] | None) -> dict[str, Any] | None:
    party = conn.execute(select(PARTIES).where(PARTIES.c.id == pk)).mappings().first()
    if party is None:
        return None
    roles = sorted(conn.execute(select(ROLES.c.role).where(ROLES.c.party_id == pk)).scalars())
    # Each list ends its order with the id: rows tied on the date (and the row at the limit)
    # come back the same on every view.
    awards = conn.execute(
        select(AWARDS.c.award_id, AWARDS.c.title, AWARDS.c.amount, AWARDS.c.currency,
               AWARDS.c.decision_date,
               PROJECTS.c.ocid, PROJECTS.c.title.label("project_title"))
        .join(AWARD_SUPPLIERS, AWARD_SUPPLIERS.c.award_pk == AWARDS.c.id)
        .join(PROJECTS, PROJECTS.c.id == AWARDS.c.project_id)
        .where(AWARD_SUPPLIERS.c.party_id == pk)
        .order_by(AWARDS.c.decision_date.desc(), AWARDS.c.id.desc()).limit(LIST_LIMIT)
    ).mappings().all()  # fmt: skip
    contracts = conn.execute(
        select(CONTRACTS.c.contract_id, CONTRACTS.c.title, CONTRACTS.c.amount, CONTRACTS.c.currency,
               CONTRACTS.c.date_signed, PROJECTS.c.ocid)
        .join(PROJECTS, PROJECTS.c.id == CONTRACTS.c.project_id)
        .join(CONTRACT_SUPPLIERS, CONTRACT_SUPPLIERS.c.contract_pk == CONTRACTS.c.id)
        .where(CONTRACT_SUPPLIERS.c.party_id == pk)
        .order_by(CONTRACTS.c.date_signed.desc(), CONTRACTS.c.id.desc()).limit(LIST_LIMIT)
    ).mappings().all()  # fmt: skip
    projects = conn.execute(
        select(PROJECTS.c.ocid, PROJECTS.c.title, PROJECTS.c.budget, PROJECTS.c.currency,
               PROJECTS.c.status)
        .where(PROJECTS.c.purchaser_id == pk)
        .order_by(PROJECTS.c.last_published_at.desc(), PROJECTS.c.id.desc())
        .limit(LIST_LIMIT)
    ).mappings().all()  # fmt: skip
    penalties = conn.execute(
        select(PENALTIES).where(PENALTIES.c.subject_id == pk)
        .order_by(PENALTIES.c.decision_date.desc(), PENALTIES.c.id.desc())
    ).mappings().all()  # fmt: skip
    today = utc_now_beijing().date()
    active = [
        r for r in penalties
        if r["debarment_start"] and r["debarment_end"]
        and r["debarment_start"] <= today <= r["debarment_end"]
    ]  # fmt: skip
    transactions, following = transactions_page(conn, pk, before)
    return {
        "party": party, "roles": roles, "awards": awards, "contracts": contracts,
        "projects": projects, "penalties": penalties, "debarments": active,
        "transactions": transactions, "following": following, "paged": before is not None,
        "flags": flags_where(conn, FLAGS.c.party_id == pk),
    }  # fmt: skip


def names(conn: Connection, pks: set[int]) -> dict[int, str]:
    if not pks:
        return {}
    rows = conn.execute(select(PARTIES.c.id, PARTIES.c.name).where(PARTIES.c.id.in_(pks)))
    return {r.id: r.name for r in rows}
