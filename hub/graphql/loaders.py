"""Batch loaders: a page of 100 rows costs one query per relation, not one per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from functools import cached_property
from typing import Any

from sqlalchemy import Column, Connection, Select, func, select
from strawberry.dataloader import DataLoader

from hub.read.lists import TIMELINE
from hub.read.rows import among, by_ids, shown
from hub.read.sources import sources_of
from schema.columns import table_of
from schema.tables import (
    Award,
    AwardSupplier,
    Contract,
    ContractSupplier,
    Flag,
    Lot,
    Notice,
    Party,
    PartyRoleLink,
    PenaltyRecord,
    Project,
    Publisher,
    Transaction,
)
from schema.types import RecordKind

T = Any


def _table(model: Any) -> Any:
    return table_of(model)


def one_loader(conn: Connection, table: Any) -> DataLoader[int, Any]:
    """Rows by primary key."""

    async def load(keys: list[int]) -> list[Any]:
        rows = {r.id: r for r in by_ids(conn, table, keys)}
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
        counts: dict[int, int] = dict(
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
    """Created per request: loaders cache rows, and a cache must not outlive its request.

    Each loader is made on first use: most requests need one or two of them.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._record_sources: dict[RecordKind, DataLoader[int, list[Any]]] = {}

    def record_sources(self, kind: RecordKind) -> DataLoader[int, list[Any]]:
        """Each record's deliveries (record_sources), by the record's id."""
        if kind not in self._record_sources:

            async def load(keys: list[int]) -> list[list[Any]]:
                found = sources_of(self.conn, kind, keys)
                return [found.get(k, []) for k in keys]

            self._record_sources[kind] = DataLoader(load_fn=load)
        return self._record_sources[kind]

    @cached_property
    def party(self) -> DataLoader[int, Any]:
        return one_loader(self.conn, _table(Party))

    @cached_property
    def project(self) -> DataLoader[int, Any]:
        return one_loader(self.conn, _table(Project))

    @cached_property
    def publisher(self) -> DataLoader[int, Any]:
        return one_loader(self.conn, _table(Publisher))

    @cached_property
    def notice(self) -> DataLoader[int, Any]:
        return one_loader(self.conn, _table(Notice))

    @cached_property
    def penalty_count(self) -> DataLoader[int, int]:
        return count_loader(self.conn, _table(PenaltyRecord).c.subject_id)

    @cached_property
    def roles(self) -> DataLoader[Hashable, list[Any]]:
        links = _table(PartyRoleLink)
        return many_loader(self.conn, _children(links, "party_id", links.c.role), "party_id")

    @cached_property
    def notices(self) -> DataLoader[Hashable, list[Any]]:
        notices = _table(Notice)
        return many_loader(self.conn, _children(notices, "project_id", *TIMELINE), "project_id")

    @cached_property
    def lots(self) -> DataLoader[Hashable, list[Any]]:
        lots = _table(Lot)
        return many_loader(self.conn, _children(lots, "project_id", lots.c.lot_id), "project_id")

    @cached_property
    def awards(self) -> DataLoader[Hashable, list[Any]]:
        awards = _table(Award)
        order = awards.c.award_id
        return many_loader(self.conn, _children(awards, "project_id", order), "project_id")

    @cached_property
    def contracts(self) -> DataLoader[Hashable, list[Any]]:
        contracts = _table(Contract)
        order = contracts.c.contract_id
        return many_loader(self.conn, _children(contracts, "project_id", order), "project_id")

    @cached_property
    def award_suppliers(self) -> DataLoader[Hashable, list[Any]]:
        links = _table(AwardSupplier)
        order = links.c.party_id  # the key: the same order on every database
        return many_loader(self.conn, _children(links, "award_pk", order), "award_pk")

    @cached_property
    def contract_suppliers(self) -> DataLoader[Hashable, list[Any]]:
        links = _table(ContractSupplier)
        order = links.c.position
        return many_loader(self.conn, _children(links, "contract_pk", order), "contract_pk")

    @cached_property
    def transaction(self) -> DataLoader[int, Any]:
        return one_loader(self.conn, _table(Transaction))

    @cached_property
    def project_flags(self) -> DataLoader[Hashable, list[Any]]:
        flags = _table(Flag)
        return many_loader(self.conn, _children(flags, "project_id", flags.c.id), "project_id")

    @cached_property
    def party_flags(self) -> DataLoader[Hashable, list[Any]]:
        flags = _table(Flag)
        return many_loader(self.conn, _children(flags, "party_id", flags.c.id), "party_id")

    @cached_property
    def purchaser_flags(self) -> DataLoader[Hashable, list[Any]]:
        """Flags on the projects each party purchased."""
        flags, projects = _table(Flag), _table(Project)

        def query(conn: Connection, keys: Iterable[Hashable]) -> Select[Any]:
            return (
                select(*shown(flags), projects.c.purchaser_id.label("purchaser_key"))
                .join(projects, projects.c.id == flags.c.project_id)
                .where(among(conn, projects.c.purchaser_id, keys))
                .order_by(flags.c.id)
            )

        return many_loader(self.conn, query, "purchaser_key")
