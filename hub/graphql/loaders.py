"""Batch loaders: a page of 100 rows costs one query per relation, not one per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from sqlalchemy import Column, Connection, Select, func, select
from strawberry.dataloader import DataLoader

from hub.graphql.catalogue_types import among, shown
from schema.tables import (
    Award,
    AwardSupplier,
    Contract,
    Lot,
    Notice,
    NoticeSource,
    Party,
    PartyRoleLink,
    PenaltyRecord,
    Project,
    Publisher,
)

T = Any


def _table(model: Any) -> Any:
    return model.__table__


def one_loader(conn: Connection, table: Any) -> DataLoader[int, Any]:
    """Rows by primary key."""

    async def load(keys: list[int]) -> list[Any]:
        found = select(*shown(table)).where(among(conn, table.c.id, keys))
        rows = {r.id: r for r in conn.execute(found)}
        return [rows.get(k) for k in keys]

    return DataLoader(load_fn=load)


def many_loader(
    conn: Connection, query: Callable[[Connection, list[Hashable]], Select[Any]], key: str
) -> DataLoader[Hashable, list[Any]]:
    """Lists of rows grouped by `key`, in the query's order."""

    async def load(keys: list[Hashable]) -> list[list[Any]]:
        grouped: dict[Hashable, list[Any]] = defaultdict(list)
        for row in conn.execute(query(conn, keys)):
            grouped[getattr(row, key)].append(row)
        return [grouped.get(k, []) for k in keys]

    return DataLoader(load_fn=load)


def count_loader(conn: Connection, column: Column[Any]) -> DataLoader[int, int]:
    async def load(keys: list[int]) -> list[int]:
        counts = dict(
            conn.execute(
                select(column, func.count()).where(among(conn, column, keys)).group_by(column)
            ).all()
        )
        return [int(counts.get(k, 0)) for k in keys]

    return DataLoader(load_fn=load)


def _children(
    table: Any, key: str, *order: Any
) -> Callable[[Connection, Iterable[Hashable]], Select[Any]]:
    return lambda conn, keys: (
        select(*shown(table)).where(among(conn, table.c[key], keys)).order_by(*order)
    )


class Loaders:
    """Created per request: loaders cache rows, and a cache must not outlive its request."""

    def __init__(self, conn: Connection) -> None:
        notices, sources = _table(Notice), _table(NoticeSource)
        awards, suppliers = _table(Award), _table(AwardSupplier)
        self.party = one_loader(conn, _table(Party))
        self.project = one_loader(conn, _table(Project))
        self.publisher = one_loader(conn, _table(Publisher))
        self.notice = one_loader(conn, notices)
        self.penalty_count = count_loader(conn, _table(PenaltyRecord).c.subject_id)
        self.roles = many_loader(
            conn,
            _children(_table(PartyRoleLink), "party_id", _table(PartyRoleLink).c.role),
            "party_id",
        )
        self.notices = many_loader(
            conn,
            _children(notices, "project_id", notices.c.published_at, notices.c.id),
            "project_id",
        )
        self.sources = many_loader(
            conn, _children(sources, "notice_id", sources.c.received_at), "notice_id"
        )
        self.lots = many_loader(
            conn, _children(_table(Lot), "project_id", _table(Lot).c.lot_id), "project_id"
        )
        self.awards = many_loader(
            conn, _children(awards, "project_id", awards.c.award_id), "project_id"
        )
        self.contracts = many_loader(
            conn,
            _children(_table(Contract), "project_id", _table(Contract).c.contract_id),
            "project_id",
        )
        self.award_suppliers = many_loader(conn, _children(suppliers, "award_pk"), "award_pk")
