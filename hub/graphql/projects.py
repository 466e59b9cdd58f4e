"""Projects and what they are compiled from: notices, lots, awards, contracts."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy import Connection

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
)
from hub.graphql.details import AwardDetails, LotDetails, NoticeDetails, ProjectDetails
from hub.graphql.filters import Direction
from hub.graphql.flags import Flag, by_severity
from hub.graphql.inputs import NoticeOrder, ProjectOrder
from hub.graphql.nodes import PARTY, PUBLISHER, PartyRef, PublisherRef
from hub.graphql.relay import Connection as Page
from hub.graphql.relay import connection
from hub.graphql.sources import NoticeSource, notice_sources
from hub.read import lists
from hub.read.paging import PageArgs


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
    async def flags(self, info: Info) -> list[Flag]:
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
    return PARTY.maybe(await info.context.loaders.party.load(pk))


async def _project(info: Info, pk: int) -> Project:
    return from_row(Project, await info.context.loaders.project.load(pk))


@strawberry.type(name="Notice", description="公告: an immutable notice.")
class Notice(catalogue_type("notices", "Notice"), NoticeDetails, Node):  # type: ignore[misc]
    @strawberry.field(description="The project it belongs to.")
    async def project(self, info: Info) -> Project:
        return await _project(info, self.project_id)

    @strawberry.field(description="The publisher that first pushed it.")
    async def publisher(self, info: Info) -> PublisherRef:
        return PUBLISHER.build(await info.context.loaders.publisher.load(self.publisher_id))

    @strawberry.field(
        description="Every delivery of it: each account that pushed or relayed it here (a "
        "trading platform and the provincial site relaying it are one notice, two sources)."
    )
    async def sources(self, info: Info) -> list[NoticeSource]:
        return await notice_sources(info, self.pk)

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


def projects_page(
    conn: Connection, query: Any, order: ProjectOrder | None, page: PageArgs
) -> Page[Project]:
    order = order or ProjectOrder()
    descending = order.direction is Direction.DESC
    found = lists.projects(conn, query, order.field.value, descending, page)
    return connection(conn, found, lambda r: from_row(Project, r))


def notices_page(conn: Connection, query: Any, order: NoticeOrder, page: PageArgs) -> Page[Notice]:
    descending = order.direction is Direction.DESC
    found = lists.notices(conn, query, order.field.value, descending, page)
    return connection(conn, found, lambda r: from_row(Notice, r))


def contracts_page(
    conn: Connection, query: Any, direction: Direction, page: PageArgs
) -> Page[Contract]:
    found = lists.contracts(conn, query, direction is Direction.DESC, page)
    return connection(conn, found, lambda r: from_row(Contract, r))
