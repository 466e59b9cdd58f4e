"""`/transactions` and `/transactions.csv`: transaction search as a table, a chart, a file.

Same query parameters as `/` (always transactions); the chart compares unit prices of one
model across purchasers; the CSV is the current result (UTF-8 with BOM for Excel),
streamed page by page through the search cursor, capped at CSV_LIMIT rows.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from exports.arrow import entity_schema
from exports.formats import CsvTableWriter, Spool
from hub.read.cursors import encode_cursor
from hub.read.errors import BadInput
from hub.read.labels import labels
from hub.web import params as p
from hub.web.charts import Bar, price_ranges
from hub.web.render import BadRequest, error_page, render
from hub.web.search_page import Query, pager, read_query, records, run
from indexer.search import MAX_SIZE, SearchResult, SearchUnavailable
from schema.tables import PARTIES, TRANSACTIONS

log = logging.getLogger("caigou.http")

PAGE_SIZE = 50
CSV_LIMIT = 10_000
PURCHASER, SUPPLIER = "采购人名称", "供应商名称"
CHART_PURCHASERS = 15
CHART_SAMPLE = 100
COLUMNS = ("item_name", "brand", "model", "quantity", "unit", "unit_price", "amount",
           "purchaser_id", "supplier_id", "order_date")  # fmt: skip


def transaction_query(request: Request) -> Query:
    query = read_query(request)
    return replace(query, kind="transaction", params={**query.params, "kind": "transaction"})


def detail_rows(engine: Engine, hits: list[Any]) -> list[dict[str, Any]]:
    """Rows for the table, in hit order, with quantity and unit added."""
    base = records(engine, hits)
    pks = [h.pk for h in hits if ("transaction", h.pk) in base]
    if not pks:
        return []
    t = TRANSACTIONS
    with engine.connect() as conn:
        extra = {
            r.id: r
            for r in conn.execute(
                select(t.c.id, t.c.quantity, t.c.unit, t.c.unit_price).where(t.c.id.in_(pks))
            )
        }
    return [{**base[("transaction", pk)], **extra[pk]._mapping} for pk in pks]


def price_chart(engine: Engine, model: str) -> list[Bar]:
    """Unit prices of one model by purchaser over its latest CHART_SAMPLE purchases (returns,
    退货, left out: a refund is no price paid).

    One range read of (model, order_date, id), newest first: bounded work however common
    the model.
    """
    t = TRANSACTIONS
    latest = (
        select(t.c.purchaser_id, t.c.unit_price)
        .where(t.c.model == model, t.c.quantity > 0)  # returns: no price paid
        .order_by(t.c.order_date.desc(), t.c.id.desc())
        .limit(CHART_SAMPLE)
        .subquery()
    )
    with engine.connect() as conn:
        rows = conn.execute(
            select(latest.c.purchaser_id, PARTIES.c.name, latest.c.unit_price).join(
                PARTIES, PARTIES.c.id == latest.c.purchaser_id
            )
        ).all()
    prices: dict[tuple[int, str], list[Decimal]] = defaultdict(list)
    for purchaser, name, price in rows:
        prices[(purchaser, name)].append(price)
    bars = [
        Bar(name, min(p), sum(p, Decimal(0)) / len(p), max(p), len(p))
        for (_, name), p in prices.items()
    ]
    return sorted(bars, key=lambda b: b.mean)[:CHART_PURCHASERS]


def table_and_chart(
    engine: Engine, hits: list[Any], model: str
) -> tuple[list[dict[str, Any]], str, list[Bar]]:
    """The table's rows and the chart of the model asked for (or of the first row's)."""
    rows = detail_rows(engine, hits)
    model = model or next((r["model"] for r in rows if r["model"]), "")
    return rows, model, price_chart(engine, model) if model else []


def page(engine: Engine, search: Any) -> Callable[[Request], Awaitable[Response]]:
    """Async, unlike the other pages: it awaits the search service (`asearch`, a worker
    thread behind its admission limit); its SQL then runs in one thread-pool call."""

    async def endpoint(request: Request) -> Response:
        try:
            query = transaction_query(request)
            model = p.text(request.query_params, "model", 100)
        except BadRequest as exc:
            return error_page(request, 400, str(exc))
        if search is None:
            return error_page(request, 503, "搜索未配置 search is not configured")
        try:
            result = await run(search, query, PAGE_SIZE)
            hits = result.hits[:PAGE_SIZE]
            rows, model, bars = await run_in_threadpool(table_and_chart, engine, hits, model)
        except SearchUnavailable as exc:
            return error_page(request, 503, f"搜索暂不可用 search unavailable: {exc}")
        except BadInput as exc:  # a cursor of another order or list
            return error_page(request, 400, f"after: 不是本排序的翻页游标 {exc}")
        title = f"{model} 最近 {CHART_SAMPLE} 笔各采购人成交单价 unit prices by purchaser"
        next_cursor = encode_cursor(list(hits[-1].sort)) if len(result.hits) > PAGE_SIZE else None
        current = p.text(request.query_params, "after", 400)
        return render(
            "transactions.html", query=query, result=result, rows=rows, model=model,
            chart=price_ranges(title, bars), pages=pager(query, current, next_cursor),
            sample=CHART_SAMPLE,
            csv_url="/transactions.csv" + (("?" + request.url.query) if request.url.query else ""),
        )  # fmt: skip

    return endpoint


def csv_schema() -> pa.Schema:
    """The download's columns: the export's types under the catalogue's Chinese labels."""
    names, types = labels("transactions"), entity_schema("transactions")
    fields = [pa.field(names[c], types.field(c).type) for c in COLUMNS]
    return pa.schema([*fields, pa.field(PURCHASER, pa.string()), pa.field(SUPPLIER, pa.string())])


class DownloadCut(Exception):
    """A download stopped part way (its time budget spent): the transfer is aborted."""


async def csv_lines(
    engine: Engine, search: Any, query: Query, first: SearchResult, budget: float = 0
) -> AsyncIterator[bytes]:
    """The header with catalogue labels, then pages of the result until CSV_LIMIT rows.

    Written by the exports' CSV writer, so formula-like cells are neutralised the same way.
    `first` is the first page, searched before the response starts: search unavailable is a
    503 then. A later page that fails aborts the transfer: never a file that looks whole.
    So does a download whose searches and reads take more than `budget` seconds in all
    (CAIGOU_REQUEST_TIMEOUT): up to a hundred searches of a query slow to search (2 s each
    here) held a thread for minutes. Sending to the client does not count.
    """
    spent = 0.0  # seconds searching and reading: a slow client's own pace does not count
    schema = csv_schema()
    spool = Spool()
    writer = CsvTableWriter(pa.PythonFile(spool, mode="w"), schema)
    try:
        yield spool.take()
        sent, result = 0, first
        while sent < CSV_LIMIT:
            hits = result.hits[: MAX_SIZE - 1]
            began = time.monotonic()
            rows = (await run_in_threadpool(detail_rows, engine, hits))[: CSV_LIMIT - sent]
            spent += time.monotonic() - began
            values = [[row[c] for c in COLUMNS] + [row["purchaser"], row["supplier"]]
                      for row in rows]  # fmt: skip
            table = [dict(zip(schema.names, v, strict=True)) for v in values]
            writer.write(pa.Table.from_pylist(table, schema=schema))
            sent += len(rows)
            yield spool.take()
            if len(result.hits) < MAX_SIZE or not hits:
                break
            if budget > 0 and spent > budget:
                log.warning("transactions.csv cut short after %d rows: CAIGOU_REQUEST_TIMEOUT "
                            "= %g s", sent, budget)  # fmt: skip
                raise DownloadCut(f"the download ran past {budget:g} s")
            after = replace(query, after=tuple(hits[-1].sort))
            began = time.monotonic()
            result = await run(search, after, MAX_SIZE - 1, keys_only=True)
            spent += time.monotonic() - began
        writer.close()
        yield spool.take()
    finally:
        writer.abort()  # the client left or a page failed: closed quietly (no-op when closed)


def csv_download(engine: Engine, search: Any) -> Callable[[Request], Awaitable[Response]]:
    """Async: it awaits the search and streams; each page's SQL runs in the thread pool."""

    async def endpoint(request: Request) -> Response:
        try:
            query = transaction_query(request)
        except BadRequest as exc:
            return error_page(request, 400, str(exc))
        if search is None:
            return error_page(request, 503, "搜索未配置 search is not configured")
        try:
            first = await run(search, query, MAX_SIZE - 1, keys_only=True)
        except SearchUnavailable as exc:
            return error_page(request, 503, f"搜索暂不可用 search unavailable: {exc}")
        except BadInput as exc:  # a cursor of another order or list
            return error_page(request, 400, f"after: 不是本排序的翻页游标 {exc}")
        settings = getattr(request.app.state, "settings", None)
        budget = settings.request_timeout if settings is not None else 0
        return StreamingResponse(
            csv_lines(engine, search, query, first, budget),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="transactions.csv"'},
        )

    return endpoint
