"""`/`: one search box over notices and transactions, with facets, filters and cursors.

The URL holds the whole query (plain GET form), so a result page can be shared. Paging goes
forward with the backend's `after` cursor; `prev` carries the cursors of earlier pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import Response

from hub.read.cursors import decode_cursor, encode_cursor
from hub.read.errors import BadInput
from hub.read.labels import category_label, channel_label, notice_type_label
from hub.read.search import SIDES, driver_statements, hydrate, hydration
from hub.read.search import records as hydrated
from hub.web import params as p
from hub.web.render import BadRequest, error_page, render, url_with
from indexer.search import SearchFilter, SearchRequest, SearchResult, SearchUnavailable
from indexer.text import parse_query
from schema.codes import is_region_code
from schema.divisions import region_label

PAGE_SIZE = 20
KINDS = {"all": ("notice", "transaction"), "notice": ("notice",), "transaction": ("transaction",)}
SORTS = ("relevance", "date", "amount")
# Facet → the URL parameter a click sets; labels for the facet values.
FACETS: dict[str, tuple[str, str, Callable[[str], str]]] = {
    "notice_type": ("notice_type", "公告类型 Notice type", notice_type_label),
    "region": ("region", "地区 Region", region_label),
    "category": ("category", "品目 Category", category_label),
    "channel": ("channel", "采购渠道 Channel", channel_label),
    "year": ("year", "年份 Year", lambda key: key),
}
FILTER_NAMES = {
    "kind": "类别", "notice_type": "公告类型", "region": "地区", "category": "品目",
    "channel": "渠道", "year": "年份", "from": "起始日期", "to": "截止日期",
    "min": "最低金额", "max": "最高金额", "purchaser": "采购人", "supplier": "供应商",
}  # fmt: skip


@dataclass(frozen=True)
class Query:
    """A search page's query, read once from the URL."""

    text: str
    kind: str
    sort: str
    filter: SearchFilter
    after: tuple[Any, ...] | None
    params: dict[str, str]
    prev: list[str]


def read_query(request: Request) -> Query:
    q = request.query_params
    region = p.text(q, "region", 6)
    if region and not is_region_code(region):
        raise BadRequest(f"region={region!r} 不是六位行政区划代码: not a six-digit division code")
    year = p.integer(q, "year")
    start, end = p.day(q, "from"), p.day(q, "to")
    if year is not None:
        if not 1990 <= year <= 2100:
            raise BadRequest(f"year={year} 超出范围: out of range")
        start, end = (
            max(start or date(year, 1, 1), date(year, 1, 1)),
            min(end or date(year, 12, 31), date(year, 12, 31)),
        )
    after_text = p.text(q, "after", 400)
    try:
        after = tuple(decode_cursor(after_text)) if after_text else None
    except BadInput:
        raise BadRequest("after: 不是本站给出的翻页游标 not a cursor this site gave") from None
    search_filter = SearchFilter(
        region_code=region or None,
        notice_type=p.text(q, "notice_type", 40) or None,
        category_code_prefix=p.text(q, "category", 20) or None,
        channel=p.text(q, "channel", 40) or None,
        purchaser_id=p.integer(q, "purchaser"),
        supplier_id=p.integer(q, "supplier"),
        date_from=start,
        date_to=end,
        amount_min=p.amount(q, "min"),
        amount_max=p.amount(q, "max"),
    )
    kept = {k: v for k, v in q.items() if k in FILTER_NAMES or k in ("q", "sort") if v}
    return Query(
        text=p.text(q, "q"),
        kind=p.choice(q, "kind", tuple(KINDS)),
        sort=p.choice(q, "sort", SORTS),
        filter=search_filter,
        after=after,
        params=kept,
        prev=[c for c in q.getlist("prev") if len(c) <= 400][:50],
    )


async def run(
    search: Any, query: Query, size: int = PAGE_SIZE, *, keys_only: bool = False
) -> SearchResult:
    """The backend call, exactly as GraphQL `search` makes it: in a worker thread.
    `keys_only` for a download, which needs the hits and not their facets or highlights."""
    result: SearchResult = await search.asearch(search_request(query, size, keys_only=keys_only))
    return result


def search_request(
    query: Query, size: int = PAGE_SIZE, *, keys_only: bool = False
) -> SearchRequest:
    return SearchRequest(
        query=parse_query(query.text),
        kinds=KINDS[query.kind],
        filter=query.filter,
        order_by=query.sort,
        descending=True,
        size=size + 1,
        after=query.after,
        keys_only=keys_only,
    )


# The columns a hit shows on the page (and on /transactions): not a notice's full text.
COLUMNS = {
    "notice": ("id", "ocid", "title", "notice_type", "published_at", "source_site"),
    "transaction": ("id", "item_name", "brand", "model", "amount", "order_date", "channel",
                    "purchaser_id", "supplier_id", "region_code", "category_code",
                    "category_edition"),
}  # fmt: skip


def records(engine: Engine, hits: list[Any]) -> dict[tuple[str, int], dict[str, Any]]:
    """The hits' rows (the read layer's one search hydration), flat for the templates: a
    notice with its project's region and category, a transaction with its parties' names."""
    if not hits:
        return {}
    with engine.connect() as conn:
        found = hydrate(conn, hits, tuple(COLUMNS), **HYDRATION)
    return _flat(found)


HYDRATION: dict[str, Any] = {"columns": COLUMNS, "parties": ("name",), "projects": True}


def _flat(found: dict[tuple[str, int], dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    for record in found.values():
        if "project" in record:
            record.update(record.pop("project"))
        for side in SIDES:
            if side in record:
                record[side] = record[side]["name"]
    return found


async def searched(
    engine: Engine, search: Any, query: Query
) -> tuple[SearchResult, dict[tuple[str, int], dict[str, Any]]]:
    """The search and its hits' rows. On PostgreSQL with Elasticsearch both awaited on the
    event loop (`GuardedSearch.loop_search`, hub/pg_reads.py): no worker thread. Elsewhere
    the rows are read in the search's worker thread: SQL off the event loop either way."""
    if not search.on_loop:
        found: tuple[SearchResult, dict[tuple[str, int], dict[str, Any]]]
        found = await search.asearch_then(
            search_request(query), lambda result: records(engine, result.hits[:PAGE_SIZE])
        )
        return found
    result: SearchResult = await search.loop_search(search_request(query), lag=True)
    hits = result.hits[:PAGE_SIZE]
    if not hits:
        return result, {}
    jobs = hydration(engine.dialect, hits, tuple(COLUMNS), **HYDRATION)
    rows = await search.pg.rows(driver_statements(jobs))
    if isinstance(rows, DBAPIError):
        raise rows  # the query timeout: the page's 503, as from the thread
    if rows is None:  # the loop's pool cannot answer: the threads read them
        return result, await anyio.to_thread.run_sync(records, engine, hits)
    return result, _flat(hydrated(jobs, rows, raw=True))


def _buckets(
    params: dict[str, str], param: str, label: Callable[[str], str], buckets: list[Any]
) -> list[tuple[Any, str, str]]:
    """A facet's first buckets: (bucket, its label, its link). The links are `url_with`'s,
    built on one encoding of the other parameters: the template called it once a bucket,
    60 times a page, a quarter of its rendering."""
    shown = buckets[:12]
    if param in params or any(b.key == "" for b in shown):  # as url_with puts them
        return [(b, label(b.key), url_with(params, **{param: b.key})) for b in shown]
    base = url_with(params)
    joint = "&" if len(base) > 1 else ""
    return [(b, label(b.key), base + joint + urlencode({param: b.key})) for b in shown]


def relaxations(query: Query) -> list[tuple[str, str]]:
    """For an empty result: one link per active filter, dropping it."""
    shown = {param: label for param, _, label in FACETS.values()}
    links = []
    for key, value in query.params.items():
        if key in FILTER_NAMES and not (key == "kind" and value == "all"):
            text = f"去掉{FILTER_NAMES[key]}（{shown.get(key, str)(value)}）remove"
            links.append((text, url_with(query.params, **{key: None})))
    return links


def behind(result: SearchResult) -> str | None:
    """A short notice while the index catches up: what a search cannot find yet."""
    lag = result.lag
    if lag is None or not lag.pending:
        return None
    oldest = lag.oldest_pending_at
    since = f"，最早一条写于 {oldest:%Y-%m-%d %H:%M}" if oldest else ""
    return (
        f"索引更新中：{lag.pending:,} 条新变更尚未可检索{since}。"
        f" The index is catching up: {lag.pending:,} recent changes are not searchable yet."
    )


def pager(query: Query, current: str, next_cursor: str | None) -> dict[str, str | None]:
    """Next and previous page URLs: `prev` keeps the cursors of the pages before this one."""
    trail = [*query.prev, current]
    following = None
    if next_cursor:
        following = url_with(query.params, after=next_cursor) + _trail(trail)
    previous = None
    if current:
        back = query.prev[-1] if query.prev else ""
        previous = url_with(query.params, after=back or None) + _trail(query.prev[:-1])
    return {"next": following, "prev": previous}


def _trail(cursors: list[str]) -> str:
    return "".join("&" + urlencode({"prev": c}) for c in cursors)


def page(engine: Engine, search: Any) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            query = read_query(request)
        except BadRequest as exc:
            return error_page(request, 400, str(exc))
        # Without search the page still offers the form and the other pages, with a 503.
        problem, result = None, SearchResult(total=0, hits=[], facets={})
        rows: dict[tuple[str, int], dict[str, Any]] = {}
        if search is None:
            problem = "搜索未配置 search is not configured: set CAIGOU_ELASTICSEARCH_URL"
        else:
            try:
                result, rows = await searched(engine, search, query)
            except SearchUnavailable as exc:
                problem = f"搜索暂不可用 search is unavailable: {exc}"
            except BadInput as exc:  # a cursor of another order or list
                return error_page(request, 400, f"after: 不是本排序的翻页游标 {exc}")
        hits = result.hits[:PAGE_SIZE]
        shown = [(h, rows[(h.kind, h.pk)]) for h in hits if (h.kind, h.pk) in rows]
        next_cursor = encode_cursor(list(hits[-1].sort)) if len(result.hits) > PAGE_SIZE else None
        current = p.text(request.query_params, "after", 400)
        facets = [
            (name, param, title, _buckets(query.params, param, label, result.facets.get(name, [])))
            for name, (param, title, label) in FACETS.items()
        ]
        return render(
            "search.html", query=query, result=result, hits=shown, facets=facets,
            next_cursor=next_cursor, current=current, relax=relaxations(query),
            pages=pager(query, current, next_cursor), problem=problem,
            behind=behind(result), status=503 if problem else 200,
        )  # fmt: skip

    return endpoint
