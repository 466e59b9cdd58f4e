"""Projects and what they are compiled from: notices, lots, awards, contracts."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Connection, select

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
)
from hub.graphql.details import AwardDetails, LotDetails, NoticeDetails, ProjectDetails
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
    project_region,
    region_clause,
    time_clause,
)
from hub.graphql.relay import Connection as Page
from hub.graphql.relay import PageArgs, keyset_page
from schema.tables import CONTRACT_SUPPLIERS, CONTRACTS, NOTICES, PROJECTS

if TYPE_CHECKING:
    from hub.graphql.flags import Flag
    from hub.graphql.parties import Party, Publisher

PartyRef = Annotated["Party", strawberry.lazy("hub.graphql.parties")]
PublisherRef = Annotated["Publisher", strawberry.lazy("hub.graphql.parties")]
FlagRef = Annotated["Flag", strawberry.lazy("hub.graphql.flags")]


@strawberry.type(
    name="Project", description="采购项目: a procurement project compiled from its notices."
)
class Project(catalogue_type("projects", "Project"), ProjectDetails, Node):  # type: ignore[misc]
    @strawberry.field(description="采购人: the purchaser.")
    async def purchaser(self, info: Info) -> PartyRef | None:
        return await _party(info, self.purchaser_id)

    @strawberry.field(description="采购代理机构: the agency.")
    async def agency(self, info: Info) -> PartyRef | None:
        return await _party(info, self.agency_id)

    @strawberry.field(description="The disclosure timeline: every notice, in publish order.")
    async def notices(self, info: Info) -> list[Notice]:
        return [from_row(Notice, r) for r in await info.context.loaders.notices.load(self.pk)]

    @strawberry.field(description="标段: lots.")
    async def lots(self, info: Info) -> list[Lot]:
        return [from_row(Lot, r) for r in await info.context.loaders.lots.load(self.pk)]

    @strawberry.field(description="中标/成交结果: awards.")
    async def awards(self, info: Info) -> list[Award]:
        return [from_row(Award, r) for r in await info.context.loaders.awards.load(self.pk)]

    @strawberry.field(description="合同: contracts.")
    async def contracts(self, info: Info) -> list[Contract]:
        return [from_row(Contract, r) for r in await info.context.loaders.contracts.load(self.pk)]

    @strawberry.field(description="行政区划: the project's region.")
    def region(self) -> Region | None:
        return region_of(self.region_code)

    @strawberry.field(description=REGION_NAME_HELP)
    def region_name(self) -> str | None:
        return region_name(self.region_code)

    @strawberry.field(description="标记: consistency flags on it, most severe first.")
    async def flags(self, info: Info) -> list[FlagRef]:
        from hub.graphql.flags import by_severity

        return by_severity(await info.context.loaders.project_flags.load(self.pk))

    @strawberry.field(description="品目: the project's main item category.")
    def category(self) -> Category | None:
        return category_of(self.category_code, self.category_edition)

    @strawberry.field(description=CATEGORY_NAME_HELP)
    def category_name(self) -> str | None:
        return category_name(self.category_code, self.category_edition)


async def _party(info: Info, pk: int | None) -> Any:
    if pk is None:
        return None
    from hub.graphql.parties import Party

    row = await info.context.loaders.party.load(pk)
    return from_row(Party, row) if row else None


async def _project(info: Info, pk: int) -> Project:
    return from_row(Project, await info.context.loaders.project.load(pk))


@strawberry.type(description="A site a notice arrived from.")
class NoticeSource:
    source_site: str | None = strawberry.field(description="来源网站: the site it came from.")
    received_at: datetime = strawberry.field(description="接收时间: when it arrived (UTC+8).")
    publisher_pk: strawberry.Private[int]

    @strawberry.field(description="The publisher that pushed it.")
    async def publisher(self, info: Info) -> PublisherRef:
        from hub.graphql.parties import Publisher

        return from_row(Publisher, await info.context.loaders.publisher.load(self.publisher_pk))


@strawberry.type(name="Notice", description="公告: an immutable notice.")
class Notice(catalogue_type("notices", "Notice"), NoticeDetails, Node):  # type: ignore[misc]
    @strawberry.field(description="The project it belongs to.")
    async def project(self, info: Info) -> Project:
        return await _project(info, self.project_id)

    @strawberry.field(description="The publisher that first pushed it.")
    async def publisher(self, info: Info) -> PublisherRef:
        from hub.graphql.parties import Publisher

        return from_row(Publisher, await info.context.loaders.publisher.load(self.publisher_id))

    @strawberry.field(description="Every site it arrived from (a sub-site and the central site).")
    async def sources(self, info: Info) -> list[NoticeSource]:
        rows = await info.context.loaders.sources.load(self.pk)
        return [
            NoticeSource(
                source_site=r.source_site, received_at=r.received_at, publisher_pk=r.publisher_id
            )
            for r in rows
        ]

    @strawberry.field(
        description="更正对象: for a correction, the notice whose fields it supersedes."
    )
    async def supersedes(self, info: Info) -> Notice | None:
        if self.supersedes_id is None:
            return None
        return from_row(Notice, await info.context.loaders.notice.load(self.supersedes_id))


@strawberry.type(name="Lot", description="标段: a lot of a project.")
class Lot(catalogue_type("lots", "Lot"), LotDetails, Node):  # type: ignore[misc]
    @strawberry.field(description="The project.")
    async def project(self, info: Info) -> Project:
        return await _project(info, self.project_id)


@strawberry.type(name="Award", description="中标/成交结果: an award as compiled.")
class Award(catalogue_type("awards", "Award"), AwardDetails, Node):  # type: ignore[misc]
    @strawberry.field(description="中标供应商: awarded suppliers.")
    async def suppliers(self, info: Info) -> list[PartyRef]:
        links = await info.context.loaders.award_suppliers.load(self.pk)
        return [await _party(info, link.party_id) for link in links]

    @strawberry.field(description="The project.")
    async def project(self, info: Info) -> Project:
        return await _project(info, self.project_id)


@strawberry.type(name="Contract", description="合同: a contract as compiled.")
class Contract(catalogue_type("contracts", "Contract"), Node):  # type: ignore[misc]
    @strawberry.field(
        description="供应商: the contracted supplier; for a consortium (联合体) its first, lead "
        "member (`suppliers` lists them all)."
    )
    async def supplier(self, info: Info) -> PartyRef | None:
        return await _party(info, self.supplier_id)

    @strawberry.field(
        description="供应商: every supplier of the contract, each member of a consortium "
        "(联合体), lead first, as the contract notice names them."
    )
    async def suppliers(self, info: Info) -> list[PartyRef]:
        links = await info.context.loaders.contract_suppliers.load(self.pk)
        return [await _party(info, link.party_id) for link in links]

    @strawberry.field(description="The project.")
    async def project(self, info: Info) -> Project:
        return await _project(info, self.project_id)


@strawberry.input(description="Narrows `projects`.")
class ProjectFilter:
    region_code: str | None = strawberry.field(default=None, description=REGION_HELP)
    procurement_method: str | None = filter_field("projects", "procurement_method", "equal to it")
    main_category: str | None = filter_field("projects", "main_category", "equal to it")
    category_code_prefix: str | None = filter_field("projects", "category_code", "starting with it")
    status: str | None = filter_field("projects", "status", "equal to it")
    purchaser_id: strawberry.ID | None = filter_field(
        "projects", "purchaser_id", "this party (a Party id)"
    )
    agency_id: strawberry.ID | None = filter_field(
        "projects", "agency_id", "this party (a Party id)"
    )
    budget: AmountRange | None = filter_field("projects", "budget", "within this inclusive range")
    last_published: DateRange | None = filter_field(
        "projects", "last_published_at", "within this inclusive range"
    )

    def query(self) -> Any:
        c = PROJECTS.c
        return narrow(
            select(PROJECTS),
            region_clause(c.region_code, self.region_code),
            c.procurement_method == self.procurement_method if self.procurement_method else None,
            c.main_category == self.main_category if self.main_category else None,
            c.category_code.like(self.category_code_prefix + "%")
            if self.category_code_prefix
            else None,
            c.status == self.status if self.status else None,
            c.purchaser_id == party_pk(self.purchaser_id, "purchaserId")
            if self.purchaser_id
            else None,
            c.agency_id == party_pk(self.agency_id, "agencyId") if self.agency_id else None,
            amount_clause(c.budget, self.budget),
            date_clause(c.last_published_at, self.last_published, is_datetime=True),
        )


@strawberry.enum
class ProjectOrderField(Enum):
    LAST_PUBLISHED_AT = "last_published_at"
    FIRST_PUBLISHED_AT = "first_published_at"
    ID = "id"


@strawberry.input
class ProjectOrder:
    field: ProjectOrderField = strawberry.field(
        default=ProjectOrderField.LAST_PUBLISHED_AT, description="What to sort by."
    )
    direction: Direction = strawberry.field(default=Direction.DESC, description="ASC or DESC.")


def projects_page(
    conn: Connection, query: Any, order: ProjectOrder | None, page: PageArgs
) -> Page[Project]:
    order = order or ProjectOrder()
    columns = (
        [PROJECTS.c.id]
        if order.field is ProjectOrderField.ID
        else [PROJECTS.c[order.field.value], PROJECTS.c.id]
    )
    query = query.where(PROJECTS.c[order.field.value].is_not(None))
    return keyset_page(
        conn,
        query,
        columns,
        order.direction is Direction.DESC,
        page,
        lambda r: from_row(Project, r),
    )


@strawberry.input(description="Narrows `notices`.")
class NoticeFilter:
    notice_type: str | None = filter_field("notices", "notice_type", "equal to it")
    region_code: str | None = strawberry.field(default=None, description=REGION_HELP)
    published: DateRange | None = filter_field(
        "notices", "published_at", "on these days, an inclusive range of dates"
    )
    published_at: TimeRange | None = filter_field("notices", "published_at", TIME_HELP)
    received_at: TimeRange | None = filter_field("notices", "received_at", RECEIVED_HELP)
    ocid: str | None = filter_field("notices", "ocid", "equal to it")

    def query(self) -> Any:
        c = NOTICES.c
        return narrow(
            select(*shown(NOTICES)),
            c.notice_type == self.notice_type if self.notice_type else None,
            project_region(c.project_id, self.region_code),
            date_clause(c.published_at, self.published, is_datetime=True),
            time_clause(c.published_at, self.published_at, "publishedAt"),
            time_clause(c.received_at, self.received_at, "receivedAt"),
            c.ocid == self.ocid if self.ocid else None,
        )


@strawberry.enum
class NoticeOrderField(Enum):
    PUBLISHED_AT = "published_at"
    RECEIVED_AT = "received_at"


@strawberry.input
class NoticeOrder:
    field: NoticeOrderField = strawberry.field(
        default=NoticeOrderField.PUBLISHED_AT, description="What to sort by."
    )
    direction: Direction = strawberry.field(default=Direction.DESC, description="ASC or DESC.")


def notices_page(conn: Connection, query: Any, order: NoticeOrder, page: PageArgs) -> Page[Notice]:
    columns = [NOTICES.c[order.field.value], NOTICES.c.id]
    descending = order.direction is Direction.DESC
    return keyset_page(conn, query, columns, descending, page, lambda r: from_row(Notice, r))


@strawberry.input(description="Narrows `contracts`.")
class ContractFilter:
    supplier_id: strawberry.ID | None = filter_field(
        "contract_suppliers", "party_id", "this party (a Party id), lead or consortium member"
    )
    region_code: str | None = strawberry.field(default=None, description=REGION_HELP)
    signed: DateRange | None = filter_field(
        "contracts", "date_signed", "within this inclusive range"
    )
    amount: AmountRange | None = filter_field("contracts", "amount", "within this inclusive range")

    def query(self) -> Any:
        c = CONTRACTS.c
        return narrow(
            select(CONTRACTS),
            _signed_by(pk) if (pk := party_pk(self.supplier_id, "supplierId")) else None,
            project_region(c.project_id, self.region_code),
            date_clause(c.date_signed, self.signed, is_datetime=True),
            amount_clause(c.amount, self.amount),
        )


def _signed_by(party_id: int) -> Any:
    """Contracts whose suppliers include the party, lead or not."""
    links = CONTRACT_SUPPLIERS.c
    return CONTRACTS.c.id.in_(select(links.contract_pk).where(links.party_id == party_id))


def contracts_page(
    conn: Connection, query: Any, direction: Direction, page: PageArgs
) -> Page[Contract]:
    columns = [CONTRACTS.c.id]
    return keyset_page(
        conn, query, columns, direction is Direction.DESC, page, lambda r: from_row(Contract, r)
    )
