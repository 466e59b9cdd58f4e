"""Framework-agreement, designated and e-mall transactions."""

from __future__ import annotations

from typing import Any

import strawberry

from hub.graphql.catalogue_types import Node, catalogue_type, from_row
from hub.graphql.common import (
    CATEGORY_NAME_HELP,
    REGION_NAME_HELP,
    Category,
    Info,
    Region,
    category_name,
    category_of,
    region_name,
    region_of,
    selects,
)
from hub.graphql.filters import Direction
from hub.graphql.inputs import TransactionOrder
from hub.graphql.nodes import PARTY, PUBLISHER, PartyRef, PublisherRef
from hub.graphql.relay import Connection as Page
from hub.graphql.relay import connection
from hub.graphql.sources import RecordSource, record_sources
from hub.read import lists
from hub.read.labels import channel_label
from hub.read.paging import PageArgs
from schema.types import RecordKind


@strawberry.type(
    name="Transaction", description="成交记录: a framework, designated or e-mall order."
)
class Transaction(catalogue_type("transactions", "Transaction"), Node):  # type: ignore[misc]
    # Plain attributes, set by `attach_parties` for every page that asks for them: a
    # resolver per row (let alone an awaited DataLoader call) cost more than the row.
    purchaser: PartyRef = strawberry.field(description="采购人: the purchaser.")
    supplier: PartyRef = strawberry.field(description="供应商: the supplier.")

    @strawberry.field(description="发布者: the platform that pushed it.")
    async def publisher(self, info: Info) -> PublisherRef:
        return PUBLISHER.build(await info.context.loaders.publisher.load(self.publisher_id))

    @strawberry.field(description="Every delivery of it: directly by its platform, or relayed.")
    async def sources(self, info: Info) -> list[RecordSource]:
        return await record_sources(info, RecordKind.transaction, self.pk)

    @strawberry.field(description="采购渠道名称: 协议供货, 定点采购 or 电子卖场.")
    def channel_label(self) -> str:
        return channel_label(self.channel)

    @strawberry.field(description="行政区划: the purchaser's region.")
    def region(self) -> Region | None:
        return region_of(self.region_code)

    @strawberry.field(description=REGION_NAME_HELP)
    def region_name(self) -> str | None:
        return region_name(self.region_code)

    @strawberry.field(description="品目: the item category.")
    def category(self) -> Category | None:
        return category_of(self.category_code, self.category_edition)

    @strawberry.field(description=CATEGORY_NAME_HELP)
    def category_name(self) -> str | None:
        return category_name(self.category_code, self.category_edition)

    @strawberry.field(
        description="原订单: for a return (退货), the order it returns, when the hub holds it "
        "from the same publisher (`returnOf` names it either way)."
    )
    def returned_order(self, info: Info) -> Transaction | None:
        if self.return_of is None:
            return None
        row = lists.returned_order(info.context.conn, self.publisher_id, self.return_of)
        if row is None:
            return None
        order = from_row(Transaction, row)
        attach_parties(info, [order])
        return order


def transactions_page(
    info: Info, query: Any, order: TransactionOrder | None, page: PageArgs
) -> Page[Transaction]:
    order = order or TransactionOrder()
    conn = info.context.conn
    descending = order.direction is Direction.DESC
    found = lists.transactions(conn, query, order.field.value, descending, page)
    listed = connection(conn, found, lambda row: from_row(Transaction, row))
    attach_parties(info, listed.nodes)
    return listed


def attach_parties(info: Info, transactions: list[Any], selections: Any = None) -> None:
    """Give each transaction its supplier and purchaser, all loaded in one query.

    Only when the query asks for either (anywhere below the field being resolved);
    `selections` is `info.selected_fields` when the caller has it already.
    """
    if not transactions:
        return
    if not selects(selections or info.selected_fields, {"supplier", "purchaser"}):
        return
    parties = info.context.parties
    parties.want(pk for t in transactions for pk in (t.supplier_id, t.purchaser_id))
    for t in transactions:
        t.supplier = parties.get(t.supplier_id, PARTY.build)
        t.purchaser = parties.get(t.purchaser_id, PARTY.build)
