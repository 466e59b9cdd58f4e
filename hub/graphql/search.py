"""`search`: full-text search over notices, transactions, parties and penalty records.

The backend (Elasticsearch, or SQLite FTS5 when none is configured) answers with record
keys, scores, highlights and facets; the records themselves come from the database, so a
hit shows exactly what the rest of the API shows.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types.nodes import SelectedField

from hub.graphql.common import Info, selects
from hub.graphql.errors import ApiError, BadUserInput
from hub.graphql.filters import REGION_HELP, AmountRange, DateRange
from hub.graphql.parties import Party, PenaltyRecord
from hub.graphql.projects import Notice
from hub.graphql.relay import PageInfo
from hub.graphql.transactions import Transaction
from hub.read.cursors import decode_cursor, encode_cursor
from hub.read.errors import BadInput
from hub.read.paging import DEFAULT_PAGE, MAX_PAGE
from hub.read.search import SIDES, facet_label, hydrate
from hub.read.where import amount_bound, party_pk
from indexer.search import (
    KINDS,
    Hit,
    SearchFilter,
    SearchRequest,
    SearchResult,
    SearchUnavailable,
)
from indexer.text import parse_query
from schema.codes import is_region_code

TYPES: dict[str, Any] = {
    "notice": Notice,
    "transaction": Transaction,
    "party": Party,
    "penalty": PenaltyRecord,
}
MAX_QUERY_CHARS = 200


class SearchUnavailableError(ApiError):
    code = "SEARCH_UNAVAILABLE"


@strawberry.enum(description="What kind of record to search.")
class SearchKind(Enum):
    NOTICE = "notice"
    TRANSACTION = "transaction"
    PARTY = "party"
    PENALTY = "penalty"


@strawberry.enum(description="How hits are ordered.")
class SearchOrder(Enum):
    RELEVANCE = "relevance"
    DATE = "date"
    AMOUNT = "amount"


@strawberry.input(description="Narrows `search`; a filter a kind has no field for leaves it out.")
class SearchFilterInput:
    region_code: str | None = strawberry.field(default=None, description=REGION_HELP)
    notice_type: str | None = strawberry.field(default=None, description="公告类型 code.")
    procurement_method: str | None = strawberry.field(
        default=None, description="采购方式 (OCDS procurementMethod code)."
    )
    category_code_prefix: str | None = strawberry.field(
        default=None, description="品目编码 starting with this."
    )
    channel: str | None = strawberry.field(default=None, description="采购渠道 of transactions.")
    purchaser_id: strawberry.ID | None = strawberry.field(
        default=None, description="采购人: a Party id."
    )
    supplier_id: strawberry.ID | None = strawberry.field(
        default=None, description="供应商: a Party id."
    )
    date: DateRange | None = strawberry.field(
        default=None, description="The record's main date (published, ordered, decided)."
    )
    amount: AmountRange | None = strawberry.field(default=None, description="Amount in yuan.")
    flag_code: str | None = strawberry.field(
        default=None,
        description="规则代码: notices whose project, or transactions, a consistency rule "
        "flagged, e.g. SINGLE_SOURCE_NO_PUBLICITY (parties and penalties drop out).",
    )

    def to_filter(self) -> SearchFilter:
        if self.region_code is not None and not is_region_code(self.region_code):
            raise BadUserInput(f"regionCode {self.region_code!r} is not a six-digit division code")
        when, money = self.date or DateRange(), self.amount or AmountRange()
        return SearchFilter(
            region_code=self.region_code,
            notice_type=self.notice_type,
            procurement_method=self.procurement_method,
            category_code_prefix=self.category_code_prefix,
            channel=self.channel,
            purchaser_id=party_pk(self.purchaser_id, "purchaserId") if self.purchaser_id else None,
            supplier_id=party_pk(self.supplier_id, "supplierId") if self.supplier_id else None,
            date_from=when.from_,
            date_to=when.to,
            amount_min=amount_bound(money.min, "filter.amount.min"),
            amount_max=amount_bound(money.max, "filter.amount.max"),
            flag_code=self.flag_code.strip().upper() if self.flag_code else None,
        )


SearchNode = Annotated[
    Notice | Transaction | Party | PenaltyRecord,
    strawberry.union("SearchNode", description="A record found by `search`."),
]


@strawberry.type(description="A matched field with its matches in <em>…</em>, HTML-escaped.")
class Highlight:
    field: str = strawberry.field(description="title or text.")
    fragments: list[str] = strawberry.field(description="Excerpts, whole words marked.")


@strawberry.type(description="One hit: the record, its cursor, score and highlights.")
class SearchEdge:
    cursor: str = strawberry.field(description="Opaque position, for `after`.")
    node: SearchNode = strawberry.field(description="The record.")
    kind: SearchKind = strawberry.field(description="What kind of record it is.")
    score: float | None = strawberry.field(description="Relevance score (ordering by relevance).")
    highlights: list[Highlight] = strawberry.field(description="Where the query matched.")


@strawberry.type(description="A facet value and how many hits have it.")
class FacetBucket:
    key: str = strawberry.field(description="The value, a code.")
    label: str | None = strawberry.field(description="Its Chinese name, where there is one.")
    count: int = strawberry.field(description="Hits with this value.")


@strawberry.type(description="Counts of the hits by value, for narrowing a search.")
class SearchFacets:
    kind: list[FacetBucket] = strawberry.field(description="By kind of record.")
    notice_type: list[FacetBucket] = strawberry.field(description="公告类型.")
    region: list[FacetBucket] = strawberry.field(description="行政区划, by province.")
    category: list[FacetBucket] = strawberry.field(description="品目.")
    channel: list[FacetBucket] = strawberry.field(description="采购渠道.")
    year: list[FacetBucket] = strawberry.field(description="年份.")


@strawberry.type(description="Amounts of the hits that have one, in yuan.")
class SearchAmountStats:
    count: int = strawberry.field(description="Hits with an amount.")
    sum: Decimal | None = strawberry.field(description="Their total.")
    min: Decimal | None = strawberry.field(description="The smallest.")
    max: Decimal | None = strawberry.field(description="The largest.")
    avg: Decimal | None = strawberry.field(description="The mean.")


@strawberry.type(
    description="How far the search index is behind the records: changes written but not yet "
    "searchable. Searches answer from what is indexed; the indexer catches up meanwhile."
)
class SearchIndexLag:
    pending: int = strawberry.field(description="Changes waiting to be indexed; 0: up to date.")
    oldest_pending_at: datetime | None = strawberry.field(
        description="When the oldest waiting change was written (UTC+8); null when up to date."
    )


@strawberry.type(description="Search hits, newest-cursor pagination with `first`/`after`.")
class SearchConnection:
    edges: list[SearchEdge] = strawberry.field(description="The hits with their cursors.")
    page_info: PageInfo = strawberry.field(description="Where this page stands.")
    total_count: int = strawberry.field(description="Hits in all pages.")
    facets: SearchFacets = strawberry.field(description="Counts by value over all hits.")
    amount: SearchAmountStats | None = strawberry.field(description="Amount statistics.")
    index_lag: SearchIndexLag | None = strawberry.field(
        description="Changes not yet searchable when this page was read; null when unknown."
    )

    @strawberry.field(description="The records, when cursors and highlights are not needed.")
    def nodes(self) -> list[SearchNode]:
        return [edge.node for edge in self.edges]


def _facets(result: SearchResult) -> SearchFacets:
    names = ("kind", "notice_type", "region", "category", "channel", "year")
    buckets = {
        name: [
            FacetBucket(key=b.key, label=facet_label(name, b.key), count=b.count)
            for b in result.facets.get(name, [])
        ]
        for name in names
    }
    return SearchFacets(**buckets)


class _Everything(Exception):
    """A field asked for under `node` on no particular kind: every kind's rows are needed."""


KIND_OF_TYPE = {cls.__strawberry_definition__.name: kind for kind, cls in TYPES.items()}


def _shown_kinds(selections: list[Any]) -> set[str] | None:
    """The kinds whose fields the query asks for under `edges.node` or `nodes`; None: all.

    A search for 联想 finds notices and parties too; a page that shows only transactions'
    fields needs no rows of the others (records are never deleted, so a hit's row exists).
    """
    shown: set[str] = set()

    def node(selections: list[Any], kind: str | None) -> None:
        for selection in selections:
            if isinstance(selection, SelectedField):
                if selection.name == "__typename":
                    continue
                if kind is None:
                    raise _Everything
                shown.add(kind)
            else:  # a fragment: on a kind, or on the union or an interface (inherits ours)
                node(selection.selections, KIND_OF_TYPE.get(selection.type_condition, kind))

    def connection(selections: list[Any]) -> None:
        for selection in selections:
            if not isinstance(selection, SelectedField) or selection.name == "edges":
                connection(selection.selections)
            elif selection.name in ("node", "nodes"):
                node(selection.selections, None)

    try:
        connection(selections[0].selections)
    except _Everything:
        return None
    return shown


def _bare(cls: Any, pk: int) -> Any:
    obj = object.__new__(cls)
    obj.pk = pk
    return obj


def _built(cls: Any, record: dict[str, Any]) -> Any:
    """A catalogue type's instance from a record, bypassing `__init__` (as `from_row`)."""
    obj = object.__new__(cls)
    obj.__dict__.update(record)
    obj.pk = obj.__dict__.pop("id")
    return obj


def _records(info: Info, hits: list[Hit]) -> dict[tuple[str, int], Any]:
    """The hits' records (the read layer's one search hydration), as the schema's objects.

    Rows only of the kinds the query shows fields of; the parties of transactions in the same
    statement when the query asks for either, kept in the request's party cache.
    """
    selections = info.selected_fields  # converted from the query's AST at each call: once
    shown_kinds = _shown_kinds(selections)
    with_parties = selects(selections, {"supplier", "purchaser"})
    found: dict[tuple[str, int], Any] = {}
    for hit in hits:
        if shown_kinds is not None and hit.kind not in shown_kinds:
            found[(hit.kind, hit.pk)] = _bare(TYPES[hit.kind], hit.pk)
    records = hydrate(info.context.conn, hits, shown_kinds, parties=with_parties)
    cache = info.context.parties.built
    for (kind, pk), record in records.items():
        if kind == "transaction" and with_parties:
            for side in SIDES:
                party = record.pop(side)
                record[side] = cache.get(party["id"]) or cache.setdefault(
                    party["id"], _built(Party, party)
                )
        found[(kind, pk)] = _built(TYPES[kind], record)
    return found


async def run_search(
    info: Info,
    query: str,
    kinds: list[SearchKind] | None,
    filter: SearchFilterInput | None,
    order_by: SearchOrder,
    first: int | None,
    after: str | None,
) -> SearchConnection:
    if len(query) > MAX_QUERY_CHARS:
        raise BadUserInput(f"the query is longer than {MAX_QUERY_CHARS} characters")
    size = DEFAULT_PAGE if first is None else first
    if not 0 <= size <= MAX_PAGE:
        raise BadUserInput(f"`first` must be between 0 and {MAX_PAGE}")
    parsed = parse_query(query)
    if parsed.empty and not query.strip().startswith("-") and query.strip():
        raise BadUserInput(f"{query!r} has no word to search for")
    backend = info.context.search
    if backend is None:
        raise SearchUnavailableError(
            "search is not configured: set CAIGOU_ELASTICSEARCH_URL (or use SQLite)"
        )
    request = SearchRequest(
        query=parsed,
        kinds=tuple(k.value for k in kinds) if kinds else KINDS,
        filter=(filter or SearchFilterInput()).to_filter(),
        order_by=order_by.value,
        descending=True,
        size=size + 1,  # one more than asked: whether a next page exists
        after=_after(after),
    )
    try:  # in a worker thread; the records are then read on the loop, on the request's conn
        result = await backend.asearch(request)
    except SearchUnavailable as exc:
        raise SearchUnavailableError(str(exc)) from None
    hits = result.hits[:size]
    records = _records(info, hits)
    edges = []
    for hit in hits:
        node = records.get((hit.kind, hit.pk))
        if node is None:
            continue  # deleted since it was indexed; the indexer will catch up
        highlights = [Highlight(field=f, fragments=v) for f, v in hit.highlights.items() if v]
        cursor, kind = encode_cursor(list(hit.sort)), SearchKind(hit.kind)
        edges.append(
            SearchEdge(cursor=cursor, node=node, kind=kind, score=hit.score, highlights=highlights)
        )
    page = PageInfo(
        has_next_page=len(result.hits) > size,
        has_previous_page=after is not None,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=encode_cursor(list(hits[-1].sort)) if hits else None,
    )
    amount = result.amount
    return SearchConnection(
        edges=edges,
        page_info=page,
        total_count=result.total,
        facets=_facets(result),
        amount=SearchAmountStats(
            count=amount.count, sum=amount.sum, min=amount.min, max=amount.max, avg=amount.avg
        )
        if amount
        else None,
        index_lag=SearchIndexLag(
            pending=result.lag.pending, oldest_pending_at=result.lag.oldest_pending_at
        )
        if result.lag
        else None,
    )


def _after(cursor: str | None) -> tuple[Any, ...] | None:
    """The sort values of `after`, or BadInput naming the argument (as the lists do)."""
    try:
        return tuple(decode_cursor(cursor)) if cursor else None
    except BadInput as error:
        raise BadInput(f"`after`: {error}") from None
