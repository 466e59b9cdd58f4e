"""Parties (one per organisation), publishers and penalty records."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Connection, select

from hub.graphql.catalogue_types import Node, catalogue_type, filter_field, from_row, shown
from hub.graphql.common import REGION_NAME_HELP, Info, Region, region_name, region_of
from hub.graphql.filters import (
    RECEIVED_HELP,
    REGION_HELP,
    TIME_HELP,
    DateRange,
    Direction,
    TimeRange,
    date_clause,
    debarred_on,
    has_role,
    narrow,
    party_pk,
    region_clause,
    text_contains,
    time_clause,
)
from hub.graphql.relay import Connection as Page
from hub.graphql.relay import PageArgs, global_id, keyset_page
from schema.tables import AWARD_SUPPLIERS, AWARDS, PARTIES, PROJECTS
from schema.tables import PENALTY_RECORDS as PENALTIES

if TYPE_CHECKING:
    from hub.graphql.flags import Flag, FlagRelation
    from hub.graphql.projects import Award, Contract, Project
    from hub.graphql.transactions import Transaction, TransactionOrder

TransactionRef = Annotated["Transaction", strawberry.lazy("hub.graphql.transactions")]
TransactionOrderRef = Annotated["TransactionOrder", strawberry.lazy("hub.graphql.transactions")]
ProjectRef = Annotated["Project", strawberry.lazy("hub.graphql.projects")]
ContractRef = Annotated["Contract", strawberry.lazy("hub.graphql.projects")]
AwardRef = Annotated["Award", strawberry.lazy("hub.graphql.projects")]
FlagRef = Annotated["Flag", strawberry.lazy("hub.graphql.flags")]
FlagRelationRef = Annotated["FlagRelation", strawberry.lazy("hub.graphql.flags")]


@strawberry.enum
class PartyRelation(Enum):
    SUPPLIER = "supplier_id"
    PURCHASER = "purchaser_id"


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
        query = (
            select(*shown(PENALTIES))
            .where(PENALTIES.c.subject_id == self.pk)
            .order_by(PENALTIES.c.decision_date.desc())
        )
        return [from_row(PenaltyRecord, r) for r in info.context.conn.execute(query)]

    @strawberry.field(
        description="禁止参加政府采购: debarments in force on a day (today by default)."
    )
    def active_debarments(self, info: Info, on: date | None = None) -> list[PenaltyRecord]:
        day = on or date.today()
        query = select(*shown(PENALTIES)).where(
            PENALTIES.c.subject_id == self.pk,
            PENALTIES.c.debarment_start <= day,
            PENALTIES.c.debarment_end >= day,
        )
        return [from_row(PenaltyRecord, r) for r in info.context.conn.execute(query)]

    @strawberry.field(description="中标: awards it won.")
    def awards(self, info: Info) -> list[AwardRef]:
        from hub.graphql.projects import Award

        awards, links = AWARDS, AWARD_SUPPLIERS
        query = (
            select(*shown(awards))
            .join(links, links.c.award_pk == awards.c.id)
            .where(links.c.party_id == self.pk)
        )
        return [from_row(Award, r) for r in info.context.conn.execute(query.order_by(awards.c.id))]

    @strawberry.field(description="合同: contracts it signed as supplier.")
    def contracts(
        self, info: Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
    ) -> Page[ContractRef]:  # fmt: skip
        from hub.graphql.projects import ContractFilter, contracts_page

        query = ContractFilter(supplier_id=global_id("Party", self.pk)).query()
        return contracts_page(
            info.context.conn, query, Direction.ASC, PageArgs(first, after, last, before)
        )

    @strawberry.field(description="交易记录: its transactions as supplier (default) or purchaser.")
    def transactions(
        self, info: Info,
        as_: Annotated[PartyRelation, strawberry.argument(name="as")] = PartyRelation.SUPPLIER,
        first: int | None = None, after: str | None = None, last: int | None = None,
        before: str | None = None, order_by: TransactionOrderRef | None = None,
    ) -> Page[TransactionRef]:  # fmt: skip
        from hub.graphql.transactions import TRANSACTIONS, transactions_page

        query = select(*shown(TRANSACTIONS)).where(TRANSACTIONS.c[as_.value] == self.pk)
        return transactions_page(info, query, order_by, PageArgs(first, after, last, before))

    @strawberry.field(
        description="标记: consistency flags about it as the supplier concerned (default), or "
        "on the projects it purchased (`as: PURCHASER`); most severe first."
    )
    async def flags(
        self, info: Info,
        as_: Annotated[FlagRelationRef | None, strawberry.argument(name="as")] = None,
    ) -> list[FlagRef]:  # fmt: skip
        from hub.graphql.flags import FlagRelation, party_flags

        return await party_flags(info, self.pk, as_ or FlagRelation.SUPPLIER)

    @strawberry.field(description="采购项目: projects it purchased.")
    def projects(
        self, info: Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
    ) -> Page[ProjectRef]:  # fmt: skip
        from hub.graphql.projects import projects_page

        projects = PROJECTS
        query = select(*shown(projects)).where(projects.c.purchaser_id == self.pk)
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


@strawberry.input(description="Narrows `parties` and `suppliers`.")
class PartyFilter:
    role: str | None = strawberry.field(default=None, description="purchaser, agency, supplier, …")
    region_code: str | None = strawberry.field(default=None, description=REGION_HELP)
    name_contains: str | None = filter_field("parties", "name", "containing this text")
    uscc: str | None = filter_field("parties", "uscc", "equal to it")
    debarred_on: date | None = strawberry.field(
        default=None, description="With a debarment in force that day."
    )

    def query(self) -> Any:
        c = PARTIES.c
        return narrow(
            select(*shown(PARTIES)),
            has_role(c.id, self.role) if self.role else None,
            region_clause(c.region_code, self.region_code),
            text_contains(c.name, self.name_contains),
            c.uscc == self.uscc.upper() if self.uscc else None,
            debarred_on(c.id, self.debarred_on) if self.debarred_on else None,
        )


def parties_page(conn: Connection, query: Any, page: PageArgs) -> Page[Party]:
    return keyset_page(conn, query, [PARTIES.c.id], False, page, lambda r: from_row(Party, r))


@strawberry.input(description="Narrows `penalties`.")
class PenaltyFilter:
    kind: str | None = filter_field("penalty_records", "kind", "equal to it")
    region_code: str | None = strawberry.field(default=None, description=REGION_HELP)
    subject_id: strawberry.ID | None = filter_field(
        "penalty_records", "subject_id", "this party (a Party id)"
    )
    decided: DateRange | None = filter_field(
        "penalty_records", "decision_date", "within this inclusive range"
    )
    published_at: TimeRange | None = filter_field("penalty_records", "published_at", TIME_HELP)
    received_at: TimeRange | None = filter_field("penalty_records", "received_at", RECEIVED_HELP)
    debarred_on: date | None = strawberry.field(
        default=None, description="Debarments in force that day."
    )

    def query(self) -> Any:
        c = PENALTIES.c
        day = self.debarred_on
        return narrow(
            select(*shown(PENALTIES)),
            c.kind == self.kind if self.kind else None,
            region_clause(c.region_code, self.region_code),
            c.subject_id == party_pk(self.subject_id, "subjectId") if self.subject_id else None,
            date_clause(c.decision_date, self.decided),
            time_clause(c.published_at, self.published_at, "publishedAt"),
            time_clause(c.received_at, self.received_at, "receivedAt"),
            [c.debarment_start <= day, c.debarment_end >= day] if day else None,
        )


@strawberry.enum
class PenaltyOrderField(Enum):
    DECISION_DATE = "decision_date"
    PUBLISHED_AT = "published_at"
    RECEIVED_AT = "received_at"


@strawberry.input
class PenaltyOrder:
    field: PenaltyOrderField = strawberry.field(
        default=PenaltyOrderField.DECISION_DATE, description="What to sort by."
    )
    direction: Direction = strawberry.field(default=Direction.DESC, description="ASC or DESC.")


def penalties_page(
    conn: Connection, query: Any, order: PenaltyOrder, page: PageArgs
) -> Page[PenaltyRecord]:
    columns = [PENALTIES.c[order.field.value], PENALTIES.c.id]
    descending = order.direction is Direction.DESC
    build = lambda r: from_row(PenaltyRecord, r)  # noqa: E731
    return keyset_page(conn, query, columns, descending, page, build)
