"""Consistency flags in the graph: `flags(filter:)`, `Project.flags`, `Party.flags`.

Each flag links to what it is about (project, party, transaction) and to the notices it
cites, so a reader can click through from the finding to the evidence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import orjson
import strawberry
from sqlalchemy import Connection
from strawberry.scalars import JSON

from hub.graphql.catalogue_types import Node, catalogue_type, from_row
from hub.graphql.common import Info, selects
from hub.graphql.filters import Direction
from hub.graphql.inputs import FlagOrder, FlagRelation
from hub.graphql.nodes import (
    NOTICE,
    PARTY,
    PROJECT,
    TRANSACTION,
    NoticeRef,
    PartyRef,
    ProjectRef,
    TransactionRef,
)
from hub.graphql.relay import Connection as Page
from hub.graphql.relay import connection
from hub.read import lists
from hub.read.paging import PageArgs


@strawberry.type(
    name="Flag",
    description="标记: a consistency rule's finding (86号 (九)), with the evidence behind it.",
)
class Flag(catalogue_type("flags", "Flag"), Node):  # type: ignore[misc]
    @strawberry.field(
        description="证据: the notices and fields that triggered it, with their values (JSON)."
    )
    def evidence(self) -> JSON:
        return orjson.loads(self.__dict__["evidence"])

    @strawberry.field(description="项目: the project concerned, if any.")
    async def project(self, info: Info) -> ProjectRef | None:
        if self.project_id is None:
            return None
        return PROJECT.build(await info.context.loaders.project.load(self.project_id))

    @strawberry.field(description="主体: the party concerned (a supplier), if any.")
    async def party(self, info: Info) -> PartyRef | None:
        if self.party_id is None:
            return None
        return PARTY.maybe(await info.context.loaders.party.load(self.party_id))

    @strawberry.field(description="交易: the transaction concerned (unit-price outliers).")
    async def transaction(self, info: Info) -> TransactionRef | None:
        if self.transaction_id is None:
            return None
        row = await info.context.loaders.transaction.load(self.transaction_id)
        if row is None:
            return None
        node = TRANSACTION.build(row)
        if selects(info.selected_fields, {"supplier", "purchaser"}):
            parties = info.context.parties
            parties.want((row.supplier_id, row.purchaser_id))
            # Every flag of the page resumes from the same batch: yielding once lets them all
            # announce their parties, which the first lookup then loads in one query.
            await asyncio.sleep(0)
            node.supplier, node.purchaser = (
                parties.get(row.supplier_id, PARTY.build),
                parties.get(row.purchaser_id, PARTY.build),
            )
        return node

    @strawberry.field(description="相关公告: the notices it cites, in the evidence's order.")
    async def notices(self, info: Info) -> list[NoticeRef]:
        ids = [int(i) for i in (self.notice_ids or "").split(",") if i]
        rows = await info.context.loaders.notice.load_many(ids)
        return [NOTICE.build(r) for r in rows if r is not None]


def by_severity(rows: Iterable[Any]) -> list[Flag]:
    """Flags most severe first, then in id order (hub.read.lists.by_severity)."""
    return [from_row(Flag, r) for r in lists.by_severity(rows)]


def flags_page(conn: Connection, query: Any, order: FlagOrder | None, page: PageArgs) -> Page[Flag]:
    order = order or FlagOrder()
    descending = order.direction is Direction.DESC
    found = lists.flags(conn, query, order.field.value, descending, page)
    return connection(conn, found, lambda r: from_row(Flag, r))


async def party_flags(info: Info, party: int, relation: FlagRelation) -> list[Flag]:
    """A party's flags: as the supplier concerned, or on the projects it purchased."""
    loaders = info.context.loaders
    loader = loaders.party_flags if relation is FlagRelation.SUPPLIER else loaders.purchaser_flags
    return by_severity(await loader.load(party))
