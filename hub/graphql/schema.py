"""The schema: root fields of every domain merged, with limits and error masking."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import strawberry
from sqlalchemy import select

from hub.graphql.catalogue_types import Node, from_row
from hub.graphql.changes import ChangeConnection, RecordKind, changes_page
from hub.graphql.common import Info
from hub.graphql.errors import BadUserInput, HubErrors, is_logged
from hub.graphql.exports import ExportFile, list_exports
from hub.graphql.filters import Direction
from hub.graphql.flags import Flag, flags_page
from hub.graphql.inputs import (
    ContractFilter,
    FlagFilter,
    FlagOrder,
    NoticeFilter,
    NoticeOrder,
    PartyFilter,
    PenaltyFilter,
    PenaltyOrder,
    ProjectFilter,
    ProjectOrder,
    TransactionFilter,
    TransactionOrder,
)
from hub.graphql.limits import QueryLimits
from hub.graphql.mutations import Mutation
from hub.graphql.parties import Party, PenaltyRecord, Publisher, parties_page, penalties_page
from hub.graphql.projects import (
    Award,
    Contract,
    Lot,
    Notice,
    Project,
    contracts_page,
    notices_page,
    projects_page,
)
from hub.graphql.push import PushLag, push_lags
from hub.graphql.relay import Connection
from hub.graphql.scores import (
    ScoreGroup,
    TransparencyScore,
    transparency_scores,
    transparency_trend,
)
from hub.graphql.search import (
    SearchConnection,
    SearchFilterInput,
    SearchKind,
    SearchOrder,
    run_search,
)
from hub.graphql.stats import StatsGroup, StatsRow, award_stats, contract_stats, transaction_stats
from hub.graphql.transactions import Transaction, attach_parties, transactions_page
from hub.read.cursors import parse_global_id, shown_value
from hub.read.paging import PageArgs
from hub.read.plan.lookup import party_where
from hub.read.rows import shown
from schema.columns import table_of
from schema.tables import PARTIES, PROJECTS, PUBLISHERS
from schema.tables import (
    Award as AwardTable,
)
from schema.tables import (
    Contract as ContractTable,
)
from schema.tables import (
    Flag as FlagTable,
)
from schema.tables import (
    Lot as LotTable,
)
from schema.tables import (
    Notice as NoticeTable,
)
from schema.tables import (
    Party as PartyTable,
)
from schema.tables import (
    PenaltyRecord as PenaltyTable,
)
from schema.tables import (
    Project as ProjectTable,
)
from schema.tables import (
    Publisher as PublisherTable,
)
from schema.tables import (
    Transaction as TransactionTable,
)

NODE_TYPES = {
    cls.__name__: (cls, table_of(table))  # sqlmodel: no __table__
    for cls, table in (
        (Project, ProjectTable), (Notice, NoticeTable), (Lot, LotTable), (Award, AwardTable),
        (Contract, ContractTable), (Party, PartyTable), (PenaltyRecord, PenaltyTable),
        (Transaction, TransactionTable), (Publisher, PublisherTable), (Flag, FlagTable),
    )
}  # fmt: skip
After = Annotated[str | None, strawberry.argument(description="Items after this cursor.")]
Before = Annotated[str | None, strawberry.argument(description="Items before this cursor.")]
First = Annotated[int | None, strawberry.argument(description="The first n items, at most 100.")]
Last = Annotated[int | None, strawberry.argument(description="The last n items, at most 100.")]
OrderDirection = Annotated[
    Direction,
    strawberry.argument(
        description="ASC or DESC, in the default order; `orderBy` replaces it when given.",
        deprecation_reason="Use `orderBy: {field, direction}`.",
    ),
]


def _node(info: Info, value: strawberry.ID) -> Node | None:
    type_name, pk = parse_global_id(value)
    if type_name not in NODE_TYPES:
        raise BadUserInput(f"{shown_value(value)} is not an id given by this API")
    cls, table = NODE_TYPES[type_name]
    row = info.context.conn.execute(select(*shown(table)).where(table.c.id == pk)).first()
    if row is None:
        return None
    node = from_row(cls, row)
    if cls is Transaction:
        attach_parties(info, [node])
    return node


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its global id.")
    def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return _node(info, id)

    @strawberry.field(description="Objects by global ids, in the order asked (null where missing).")
    def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > 100:
            raise BadUserInput("at most 100 ids at a time")
        return [_node(info, i) for i in ids]

    @strawberry.field(
        description="A project by its OCID; null when there is none (the query's other "
        "fields still answer)."
    )
    def project(self, info: Info, ocid: str) -> Project | None:
        table = PROJECTS
        row = info.context.conn.execute(select(*shown(table)).where(table.c.ocid == ocid)).first()
        return None if row is None else from_row(Project, row)

    @strawberry.field(
        description="主体: a party by its global `id` or its 统一社会信用代码 `uscc` (exactly "
        "one of the two); null when there is none (the query's other fields still answer)."
    )
    def party(
        self, info: Info, id: strawberry.ID | None = None, uscc: str | None = None
    ) -> Party | None:
        condition = party_where(id, uscc)
        row = info.context.conn.execute(select(*shown(PARTIES)).where(condition)).first()
        return None if row is None else from_row(Party, row)

    @strawberry.field(description="采购项目: projects, latest published first by default.")
    def projects(
        self, info: Info, filter: ProjectFilter | None = None, order_by: ProjectOrder | None = None,
        first: First = None, after: After = None, last: Last = None, before: Before = None,
    ) -> Connection[Project]:  # fmt: skip
        query = (filter or ProjectFilter()).query()
        return projects_page(
            info.context.conn, query, order_by, PageArgs(first, after, last, before)
        )

    @strawberry.field(description="公告: notices, newest first by default.")
    def notices(
        self, info: Info, filter: NoticeFilter | None = None,
        order_by: NoticeOrder | None = None, direction: OrderDirection = Direction.DESC,
        first: First = None, after: After = None, last: Last = None, before: Before = None,
    ) -> Connection[Notice]:  # fmt: skip
        query = (filter or NoticeFilter()).query()
        order = order_by or NoticeOrder(direction=direction)
        return notices_page(info.context.conn, query, order, PageArgs(first, after, last, before))

    @strawberry.field(description="主体: parties (organisations), in id order.")
    def parties(
        self, info: Info, filter: PartyFilter | None = None,
        first: First = None, after: After = None, last: Last = None, before: Before = None,
    ) -> Connection[Party]:  # fmt: skip
        query = (filter or PartyFilter()).query()
        return parties_page(info.context.conn, query, PageArgs(first, after, last, before))

    @strawberry.field(description="供应商: parties seen as suppliers.")
    def suppliers(
        self, info: Info, filter: PartyFilter | None = None,
        first: First = None, after: After = None, last: Last = None, before: Before = None,
    ) -> Connection[Party]:  # fmt: skip
        chosen = filter or PartyFilter()
        chosen.role = "supplier"
        return parties_page(info.context.conn, chosen.query(), PageArgs(first, after, last, before))

    @strawberry.field(description="合同: contracts.")
    def contracts(
        self, info: Info, filter: ContractFilter | None = None,
        direction: Direction = Direction.ASC,
        first: First = None, after: After = None, last: Last = None, before: Before = None,
    ) -> Connection[Contract]:  # fmt: skip
        query = (filter or ContractFilter()).query()
        return contracts_page(
            info.context.conn, query, direction, PageArgs(first, after, last, before)
        )

    @strawberry.field(
        description="处罚处理记录: penalty records, latest decision first by default."
    )
    def penalties(
        self, info: Info, filter: PenaltyFilter | None = None,
        order_by: PenaltyOrder | None = None, direction: OrderDirection = Direction.DESC,
        first: First = None, after: After = None, last: Last = None, before: Before = None,
    ) -> Connection[PenaltyRecord]:  # fmt: skip
        query = (filter or PenaltyFilter()).query()
        order = order_by or PenaltyOrder(direction=direction)
        return penalties_page(info.context.conn, query, order, PageArgs(first, after, last, before))

    @strawberry.field(description="成交记录: framework, designated and e-mall transactions.")
    def transactions(
        self, info: Info, filter: TransactionFilter | None = None,
        order_by: TransactionOrder | None = None,
        first: First = None, after: After = None, last: Last = None, before: Before = None,
    ) -> Connection[Transaction]:  # fmt: skip
        query = (filter or TransactionFilter()).query()
        return transactions_page(info, query, order_by, PageArgs(first, after, last, before))

    @strawberry.field(description="Transaction aggregates by group: count, sum, avg, min, max.")
    def transaction_stats(
        self,
        info: Info,
        group_by: list[StatsGroup],
        filter: TransactionFilter | None = None,
        limit: int = 100,
    ) -> list[StatsRow]:
        return transaction_stats(info, filter, group_by, limit)

    @strawberry.field(description="Contract amount aggregates by group.")
    def contract_stats(
        self,
        info: Info,
        group_by: list[StatsGroup],
        filter: ContractFilter | None = None,
        limit: int = 100,
    ) -> list[StatsRow]:
        return contract_stats(info, filter, group_by, limit)

    @strawberry.field(description="Award amount aggregates by group.")
    def award_stats(
        self,
        info: Info,
        group_by: list[StatsGroup],
        region_code: str | None = None,
        limit: int = 100,
    ) -> list[StatsRow]:
        return award_stats(info, group_by, limit, region_code)

    @strawberry.field(
        description="全文检索: notices, transactions, parties and penalty records by words "
        'as typed: 复印纸, "联想 启天" (a phrase), -A3 (without). Newest-first or by amount '
        "on request; facets count the hits by kind, notice type, region, category, channel, year."
    )
    async def search(
        self, info: Info, query: str, kinds: list[SearchKind] | None = None,
        filter: SearchFilterInput | None = None, order_by: SearchOrder = SearchOrder.RELEVANCE,
        first: First = None, after: After = None,
    ) -> SearchConnection:  # fmt: skip
        return await run_search(info, query, kinds, filter, order_by, first, after)

    @strawberry.field(
        description="标记: consistency flags (disclosure deadlines, stages compared, debarred "
        "suppliers, unit-price outliers), newest first by default."
    )
    def flags(
        self, info: Info, filter: FlagFilter | None = None, order_by: FlagOrder | None = None,
        first: First = None, after: After = None, last: Last = None, before: Before = None,
    ) -> Connection[Flag]:  # fmt: skip
        query = (filter or FlagFilter()).query()
        return flags_page(info.context.conn, query, order_by, PageArgs(first, after, last, before))

    @strawberry.field(
        description="透明度评价: purchasers, agencies or regions ranked by transparency score "
        "over a range of months (YYYY-MM, inclusive), best first by default."
    )
    def transparency_scores(
        self, info: Info, group_by: ScoreGroup,
        from_: Annotated[str | None, strawberry.argument(name="from")] = None,
        to: str | None = None, region_code: str | None = None,
        direction: Direction = Direction.DESC, first: int = 20, min_projects: int = 1,
    ) -> list[TransparencyScore]:  # fmt: skip
        return transparency_scores(
            info, group_by, from_, to, region_code, direction, first, min_projects
        )

    @strawberry.field(
        description="透明度趋势: one purchaser's or agency's (entityId, a Party id) or one "
        "region's (regionCode, with its descendants) scores month by month, oldest first."
    )
    def transparency_trend(
        self, info: Info, group_by: ScoreGroup = ScoreGroup.PURCHASER,
        entity_id: strawberry.ID | None = None, region_code: str | None = None,
        from_: Annotated[str | None, strawberry.argument(name="from")] = None,
        to: str | None = None,
    ) -> list[TransparencyScore]:  # fmt: skip
        return transparency_trend(info, group_by, entity_id, region_code, from_, to)

    @strawberry.field(
        description="推送时效: per province, the relayed records' lag from first publication to "
        "arrival here (median, p95; hours and working days), its distribution, late arrivals "
        "and push completeness. `region` (six digits) narrows to a region's records."
    )
    def push_lag(self, info: Info, region: str | None = None) -> list[PushLag]:
        return push_lags(info, region)

    @strawberry.field(description="开放数据: published daily dump files, newest day first.")
    def exports(
        self, info: Info,
        from_: Annotated[date | None, strawberry.argument(name="from")] = None,
        to: date | None = None, entity: str | None = None,
    ) -> list[ExportFile]:  # fmt: skip
        return list_exports(info, from_, to, entity)

    @strawberry.field(
        description="变更: every accepted record in acceptance order, payload verbatim, with a "
        "stable cursor: read from the start and follow `pageInfo.endCursor` to mirror this hub "
        "(README: Mirroring a hub). At most 1000 a page."
    )
    def changes(
        self, info: Info, after: After = None, first: int | None = 100,
        kinds: list[RecordKind] | None = None,
    ) -> ChangeConnection:  # fmt: skip
        return changes_page(info, after, first, kinds)

    @strawberry.field(description="发布者: every publisher (public fields only).")
    def publishers(self, info: Info) -> list[Publisher]:
        table = PUBLISHERS
        return [
            from_row(Publisher, r)
            for r in info.context.conn.execute(select(*shown(table)).order_by(table.c.name))
        ]


class HubSchema(strawberry.Schema):
    """Logs only what is masked: a refused or bad request is the client's, not a fault.

    strawberry logs every error with its traceback; a client sending refused queries in a
    loop filled the log with them (and spent the server's time formatting them).
    """

    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        super().process_errors([e for e in errors if is_logged(e)], execution_context)


schema = HubSchema(
    query=Query,
    mutation=Mutation,
    types=[cls for cls, _table in NODE_TYPES.values()],
    extensions=[
        QueryLimits,  # parses and validates, both cached per small query text
        HubErrors,
    ],
)

__all__ = ["date", "schema"]
