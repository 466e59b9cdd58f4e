"""Parties (one per organisation), publishers and penalty records."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import strawberry
from sqlalchemy import Connection

from hub.graphql.catalogue_types import Node, catalogue_type, from_row
from hub.graphql.common import REGION_NAME_HELP, Info, Region, region_name, region_of
from hub.graphql.filters import Direction
from hub.graphql.flags import Flag, party_flags
from hub.graphql.inputs import (
    ContractFilter,
    FlagRelation,
    PartyRelation,
    PenaltyOrder,
    TransactionOrder,
)
from hub.graphql.projects import Award, Contract, Project, contracts_page, projects_page
from hub.graphql.relay import Connection as Page
from hub.graphql.relay import connection
from hub.graphql.sources import RecordSource, record_sources
from hub.graphql.transactions import Transaction, transactions_page
from hub.read import lists
from hub.read.cursors import global_id
from hub.read.paging import PageArgs
from schema.ocds import utc_now_beijing
from schema.types import RecordKind


@strawberry.type(
    name="Publisher", description="发布者: an account that pushes records (public fields only)."
)
class Publisher(catalogue_type("publishers", "Publisher"), Node):  # type: ignore[misc]
    pass


@strawberry.type(name="Party", description="主体: an organisation, the same one in every record.")
class Party(catalogue_type("parties", "Party"), Node):  # type: ignore[misc]
    @strawberry.field(
        description="角色: roles it has been seen in (purchaser, agency, supplier, …)."
    )
    async def roles(self, info: Info) -> list[str]:
        return [r.role for r in await info.context.loaders.roles.load(self.pk)]

    @strawberry.field(description="行政区划: its region.")
    def region(self) -> Region | None:
        return region_of(self.region_code)

    @strawberry.field(description=REGION_NAME_HELP)
    def region_name(self) -> str | None:
        return region_name(self.region_code)

    @strawberry.field(description="处罚记录数: penalty records about it.")
    async def penalty_count(self, info: Info) -> int:
        return await info.context.loaders.penalty_count.load(self.pk)

    @strawberry.field(description="处罚记录: penalty records about it, newest first.")
    def penalties(self, info: Info) -> list[PenaltyRecord]:
        rows = lists.party_penalties(info.context.conn, self.pk)
        return [from_row(PenaltyRecord, r) for r in rows]

    @strawberry.field(
        description="禁止参加政府采购: debarments in force on a day (today by default)."
    )
    def active_debarments(self, info: Info, on: date | None = None) -> list[PenaltyRecord]:
        rows = lists.active_debarments(info.context.conn, self.pk, on or utc_now_beijing().date())
        return [from_row(PenaltyRecord, r) for r in rows]

    @strawberry.field(description="中标: awards it won.")
    def awards(self, info: Info) -> list[Award]:
        return [from_row(Award, r) for r in lists.party_awards(info.context.conn, self.pk)]

    @strawberry.field(description="合同: contracts it signed as supplier.")
    def contracts(
        self, info: Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
    ) -> Page[Contract]:  # fmt: skip
        query = ContractFilter(supplier_id=strawberry.ID(global_id("Party", self.pk))).query()
        return contracts_page(
            info.context.conn, query, Direction.ASC, PageArgs(first, after, last, before)
        )

    @strawberry.field(description="交易记录: its transactions as supplier (default) or purchaser.")
    def transactions(
        self, info: Info,
        as_: Annotated[PartyRelation, strawberry.argument(name="as")] = PartyRelation.SUPPLIER,
        first: int | None = None, after: str | None = None, last: int | None = None,
        before: str | None = None, order_by: TransactionOrder | None = None,
    ) -> Page[Transaction]:  # fmt: skip
        query = lists.party_transactions(self.pk, as_.value)
        return transactions_page(info, query, order_by, PageArgs(first, after, last, before))

    @strawberry.field(
        description="标记: consistency flags about it as the supplier concerned (default), or "
        "on the projects it purchased (`as: PURCHASER`); most severe first."
    )
    async def flags(
        self, info: Info,
        as_: Annotated[FlagRelation | None, strawberry.argument(name="as")] = None,
    ) -> list[Flag]:  # fmt: skip
        return await party_flags(info, self.pk, as_ or FlagRelation.SUPPLIER)

    @strawberry.field(description="采购项目: projects it purchased.")
    def projects(
        self, info: Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
    ) -> Page[Project]:  # fmt: skip
        query = lists.party_projects(self.pk)
        return projects_page(info.context.conn, query, None, PageArgs(first, after, last, before))


@strawberry.type(
    name="PenaltyRecord", description="处罚处理记录: supervision information about a party."
)
class PenaltyRecord(catalogue_type("penalty_records", "PenaltyRecord"), Node):  # type: ignore[misc]
    @strawberry.field(description="当事人: the party it is about.")
    async def subject(self, info: Info) -> Party:
        return from_row(Party, await info.context.loaders.party.load(self.subject_id))

    @strawberry.field(description="发布者: the finance department's publisher account.")
    async def publisher(self, info: Info) -> Publisher:
        return from_row(Publisher, await info.context.loaders.publisher.load(self.publisher_id))

    @strawberry.field(description=REGION_NAME_HELP)
    def region_name(self) -> str | None:
        return region_name(self.region_code)

    @strawberry.field(
        description="Every delivery of it: by its finance department, or relayed by a site "
        "registered for penalty records."
    )
    async def sources(self, info: Info) -> list[RecordSource]:
        return await record_sources(info, RecordKind.penalty, self.pk)


def parties_page(conn: Connection, query: Any, page: PageArgs) -> Page[Party]:
    return connection(conn, lists.parties(conn, query, page), lambda r: from_row(Party, r))


def penalties_page(
    conn: Connection, query: Any, order: PenaltyOrder, page: PageArgs
) -> Page[PenaltyRecord]:
    descending = order.direction is Direction.DESC
    found = lists.penalties(conn, query, order.field.value, descending, page)
    return connection(conn, found, lambda r: from_row(PenaltyRecord, r))
