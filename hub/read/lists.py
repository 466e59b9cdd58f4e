"""The lists both GraphQL and the pages read: their orders, keyset pages and a party's
relations, as plain queries over rows.

GraphQL's filter inputs build the WHERE (hub.read.where); these functions order and cut it.
An order is a column name (`"id"` for the key alone) and a direction; every order ends with
the key, so pages are total.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, Select, select

from hub.read.paging import Keyset, PageArgs, keyset
from hub.read.rows import shown
from schema.severity import severity_rank
from schema.tables import (
    AWARD_SUPPLIERS,
    AWARDS,
    CONTRACT_SUPPLIERS,
    CONTRACTS,
    FLAGS,
    NOTICES,
    PARTIES,
    PROJECTS,
    TRANSACTIONS,
)
from schema.tables import PENALTY_RECORDS as PENALTIES

TIMELINE = (NOTICES.c.published_at, NOTICES.c.id)  # a project's notices, in publishing order


def _by(table: Any, field: str) -> list[Any]:
    """The order's columns: the field, then the key (the key alone for "id")."""
    return [table.c.id] if field == "id" else [table.c[field], table.c.id]


def transactions(
    conn: Connection, query: Select[Any], field: str, descending: bool, page: PageArgs
) -> Keyset:
    return keyset(conn, query, _by(TRANSACTIONS, field), descending, page)


def projects(
    conn: Connection, query: Select[Any], field: str, descending: bool, page: PageArgs
) -> Keyset:
    """Projects without a value in the order's field are left out (they have no place)."""
    query = query.where(PROJECTS.c[field].is_not(None))
    return keyset(conn, query, _by(PROJECTS, field), descending, page)


def notices(
    conn: Connection, query: Select[Any], field: str, descending: bool, page: PageArgs
) -> Keyset:
    return keyset(conn, query, _by(NOTICES, field), descending, page)


def contracts(conn: Connection, query: Select[Any], descending: bool, page: PageArgs) -> Keyset:
    return keyset(conn, query, [CONTRACTS.c.id], descending, page)


def parties(conn: Connection, query: Select[Any], page: PageArgs) -> Keyset:
    return keyset(conn, query, [PARTIES.c.id], False, page)


def penalties(
    conn: Connection, query: Select[Any], field: str, descending: bool, page: PageArgs
) -> Keyset:
    return keyset(conn, query, _by(PENALTIES, field), descending, page)


def flags(
    conn: Connection, query: Select[Any], field: str, descending: bool, page: PageArgs
) -> Keyset:
    return keyset(conn, query, _by(FLAGS, field), descending, page)


def by_severity(rows: Iterable[Any]) -> list[Any]:
    """Flags most severe first (schema.severity), then in id order."""
    return sorted(rows, key=lambda r: (severity_rank(r.severity), r.id))


def evidence(raw: str) -> Any:
    """Flag evidence as stored (JSON), pretty-printed for reading."""
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False, indent=2, default=str)
    except ValueError:
        return raw


def flags_where(conn: Connection, condition: Any) -> list[dict[str, Any]]:
    """The flags the pages show, evidence pretty-printed: most severe first, then by code."""
    rows = conn.execute(select(FLAGS).where(condition)).mappings().all()
    found = [{**row, "evidence_text": evidence(row["evidence"])} for row in rows]
    return sorted(found, key=lambda f: (severity_rank(f["severity"]), f["code"]))


def signed_by(party_id: int) -> Any:
    """Contracts whose suppliers include the party, lead or consortium member."""
    links = CONTRACT_SUPPLIERS.c
    return CONTRACTS.c.id.in_(select(links.contract_pk).where(links.party_id == party_id))


def party_transactions(pk: int, column: str) -> Select[Any]:
    """A party's transactions as `supplier_id` or `purchaser_id`."""
    return select(*shown(TRANSACTIONS)).where(TRANSACTIONS.c[column] == pk)


def party_projects(pk: int) -> Select[Any]:
    """The projects a party purchased."""
    return select(*shown(PROJECTS)).where(PROJECTS.c.purchaser_id == pk)


def party_awards(conn: Connection, pk: int) -> Sequence[Any]:
    """Awards a party won, in id order."""
    query = (
        select(*shown(AWARDS))
        .join(AWARD_SUPPLIERS, AWARD_SUPPLIERS.c.award_pk == AWARDS.c.id)
        .where(AWARD_SUPPLIERS.c.party_id == pk)
    )
    return conn.execute(query.order_by(AWARDS.c.id)).all()


def party_penalties(conn: Connection, pk: int) -> Sequence[Any]:
    """Penalty records about a party, newest decision first."""
    query = (
        select(*shown(PENALTIES))
        .where(PENALTIES.c.subject_id == pk)
        .order_by(PENALTIES.c.decision_date.desc(), PENALTIES.c.id.desc())
    )  # the id breaks ties: two decisions on one day come back in one order, every time
    return conn.execute(query).all()


def active_debarments(conn: Connection, pk: int, day: date) -> Sequence[Any]:
    """A party's debarments in force on `day`."""
    query = select(*shown(PENALTIES)).where(
        PENALTIES.c.subject_id == pk,
        PENALTIES.c.debarment_start <= day,
        PENALTIES.c.debarment_end >= day,
    )
    return conn.execute(query).all()


def returned_order(conn: Connection, publisher_id: int, order_id: str) -> Any:
    """The order a return (退货) returns, from the same publisher, if the hub holds it."""
    c = TRANSACTIONS.c
    query = select(*shown(TRANSACTIONS)).where(
        c.publisher_id == publisher_id, c.order_id == order_id, c.quantity > 0
    )
    return conn.execute(query).first()
