"""Framework-agreement, designated and e-mall transactions, and their filters."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import select

from hub.graphql.catalogue_types import Node, catalogue_type, filter_field, from_row, shown
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
from hub.graphql.filters import (
    RECEIVED_HELP,
    REGION_HELP,
    TIME_HELP,
    AmountRange,
    DateRange,
    Direction,
    TimeRange,
    amount_clause,
    date_clause,
    narrow,
    party_pk,
    region_clause,
    text_contains,
    time_clause,
)
from hub.graphql.parties import Party, Publisher
from hub.graphql.relay import Connection as Page
from hub.graphql.relay import PageArgs, keyset_page
from schema.tables import TRANSACTIONS
from schema.types import CHANNEL_LABELS, Channel


@strawberry.type(
    name="Transaction", description="成交记录: a framework, designated or e-mall order."
)
class Transaction(catalogue_type("transactions", "Transaction"), Node):  # type: ignore[misc]
    # Plain attributes, set by `attach_parties` for every page that asks for them: a
    # resolver per row (let alone an awaited DataLoader call) cost more than the row.
    purchaser: Party = strawberry.field(description="采购人: the purchaser.")
    supplier: Party = strawberry.field(description="供应商: the supplier.")

    @strawberry.field(description="发布者: the platform that pushed it.")
    async def publisher(self, info: Info) -> Publisher:
        return from_row(Publisher, await info.context.loaders.publisher.load(self.publisher_id))

    @strawberry.field(description="采购渠道名称: 协议供货, 定点采购 or 电子卖场.")
    def channel_label(self) -> str:
        return CHANNEL_LABELS[Channel(self.channel)]

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
        c = TRANSACTIONS.c
        query = select(*shown(TRANSACTIONS)).where(
            c.publisher_id == self.publisher_id, c.order_id == self.return_of, c.quantity > 0
        )
        row = info.context.conn.execute(query).first()
        if row is None:
            return None
        order = from_row(Transaction, row)
        attach_parties(info, [order])
        return order


@strawberry.input(description="Narrows `transactions`.")
class TransactionFilter:
    region_code: str | None = strawberry.field(default=None, description=REGION_HELP)
    channel: str | None = filter_field("transactions", "channel", "equal to it")
    category_code_prefix: str | None = filter_field(
        "transactions", "category_code", "starting with it"
    )
    purchaser_id: strawberry.ID | None = filter_field(
        "transactions", "purchaser_id", "this party (a Party id)"
    )
    supplier_id: strawberry.ID | None = filter_field(
        "transactions", "supplier_id", "this party (a Party id)"
    )
    order_date: DateRange | None = filter_field(
        "transactions", "order_date", "within this inclusive range"
    )
    published_at: TimeRange | None = filter_field("transactions", "published_at", TIME_HELP)
    received_at: TimeRange | None = filter_field("transactions", "received_at", RECEIVED_HELP)
    amount: AmountRange | None = filter_field(
        "transactions", "amount", "within this inclusive range"
    )
    unit_price: AmountRange | None = filter_field(
        "transactions", "unit_price", "within this inclusive range"
    )
    brand: str | None = filter_field("transactions", "brand", "equal to it")
    model_contains: str | None = filter_field("transactions", "model", "containing this text")
    item_name_contains: str | None = filter_field(
        "transactions", "item_name", "containing this text"
    )

    def query(self, base: Any = None) -> Any:
        c = TRANSACTIONS.c
        return narrow(
            select(*shown(TRANSACTIONS)) if base is None else base,
            region_clause(c.region_code, self.region_code),
            c.channel == self.channel if self.channel else None,
            c.category_code.like(self.category_code_prefix + "%")
            if self.category_code_prefix
            else None,
            c.purchaser_id == party_pk(self.purchaser_id, "purchaserId")
            if self.purchaser_id
            else None,
            c.supplier_id == party_pk(self.supplier_id, "supplierId") if self.supplier_id else None,
            date_clause(c.order_date, self.order_date),
            time_clause(c.published_at, self.published_at, "publishedAt"),
            time_clause(c.received_at, self.received_at, "receivedAt"),
            amount_clause(c.amount, self.amount),
            amount_clause(c.unit_price, self.unit_price),
            c.brand == self.brand if self.brand else None,
            text_contains(c.model, self.model_contains),
            text_contains(c.item_name, self.item_name_contains),
        )


@strawberry.enum
class TransactionOrderField(Enum):
    ORDER_DATE = "order_date"
    PUBLISHED_AT = "published_at"
    RECEIVED_AT = "received_at"
    AMOUNT = "amount"
    UNIT_PRICE = "unit_price"
    ID = "id"


@strawberry.input
class TransactionOrder:
    field: TransactionOrderField = strawberry.field(
        default=TransactionOrderField.ORDER_DATE, description="What to sort by."
    )
    direction: Direction = strawberry.field(default=Direction.DESC, description="ASC or DESC.")


def transactions_page(
    info: Info, query: Any, order: TransactionOrder | None, page: PageArgs
) -> Page[Transaction]:
    order = order or TransactionOrder()
    columns = [TRANSACTIONS.c.id]
    if order.field is not TransactionOrderField.ID:
        columns.insert(0, TRANSACTIONS.c[order.field.value])
    build = lambda row: from_row(Transaction, row)  # noqa: E731
    descending = order.direction is Direction.DESC
    found = keyset_page(info.context.conn, query, columns, descending, page, build)
    attach_parties(info, found.nodes)
    return found


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
        t.supplier = parties.get(t.supplier_id)
        t.purchaser = parties.get(t.purchaser_id)
