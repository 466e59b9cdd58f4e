"""Unit-price outliers among framework-agreement and e-mall orders (财库〔2017〕86号 (五)).

Orders are compared with orders of the same category code and model (spaces, width and case
ignored) in the same calendar quarter. The median and the median absolute deviation (MAD)
resist the very outliers being looked for, where a mean and standard deviation would not.
Rows stream ordered by (category, date), so memory holds one category-quarter at a time.
"""

from __future__ import annotations

import statistics
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, select

from schema.tables import Transaction

TRANSACTIONS = Transaction.__table__  # type: ignore[attr-defined]
CODE = "UNIT_PRICE_OUTLIER"
SEVERITY = "medium"
LEGAL_BASIS = (
    "政府采购法第十七条：集中采购的价格应低于市场平均价格；"
    "财库〔2017〕86号（五）：公开成交单价以供比较"
)
MIN_ORDERS = 5  # a median of fewer orders says little
MIN_OTHER_PURCHASERS = 3  # "what other purchasers paid"
RATIO = Decimal("1.5")  # at least half again the median …
MADS = 5  # … and five robust standard deviations above it
MAD_TO_SIGMA = Decimal("1.4826")
PEERS_SHOWN = 20


@dataclass(frozen=True)
class Order:
    id: int
    order_id: str
    purchaser_id: int
    supplier_id: int
    model: str
    unit_price: Decimal
    order_date: date


@dataclass(frozen=True)
class Outlier:
    order: Order
    category_code: str
    quarter: str
    median: Decimal
    mad: Decimal
    peers: list[Order]
    group_size: int

    def message(self) -> str:
        ratio = (self.order.unit_price / self.median).quantize(Decimal("0.01"))
        return (
            f"订单{self.order.order_id}单价{self.order.unit_price}元，是同期（{self.quarter}）"
            f"同品目（{self.category_code}）同型号（{self.order.model}）{self.group_size}笔成交"
            f"中位数{self.median}元的{ratio}倍"
        )


def model_key(model: str) -> str:
    return "".join(unicodedata.normalize("NFKC", model).casefold().split())


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def outliers_in(category_code: str, quarter: str, orders: list[Order]) -> Iterator[Outlier]:
    """Orders priced far above the median of one category, model and quarter."""
    groups: dict[str, list[Order]] = {}
    for order in orders:
        groups.setdefault(model_key(order.model), []).append(order)
    for group in groups.values():
        if len(group) < MIN_ORDERS:
            continue
        prices = [o.unit_price for o in group]
        median = Decimal(statistics.median(prices))
        mad = Decimal(statistics.median(abs(p - median) for p in prices))
        threshold = max(median * RATIO, median + MADS * MAD_TO_SIGMA * mad)
        for order in group:
            if order.unit_price <= threshold:
                continue
            others = [o for o in group if o.purchaser_id != order.purchaser_id]
            if len({o.purchaser_id for o in others}) < MIN_OTHER_PURCHASERS:
                continue
            peers = sorted(others, key=lambda o: (o.order_date, o.id))[:PEERS_SHOWN]
            yield Outlier(order, category_code, quarter, median.quantize(Decimal("0.01")),
                          mad.quantize(Decimal("0.01")), peers, len(group))  # fmt: skip


def _chunks(conn: Connection) -> Iterator[tuple[str, str, list[Order]]]:
    """(category, quarter, orders) from one ordered pass over the transactions."""
    query = (
        select(TRANSACTIONS.c.id, TRANSACTIONS.c.order_id, TRANSACTIONS.c.purchaser_id,
               TRANSACTIONS.c.supplier_id, TRANSACTIONS.c.model, TRANSACTIONS.c.unit_price,
               TRANSACTIONS.c.order_date, TRANSACTIONS.c.category_code)
        .where(TRANSACTIONS.c.category_code.is_not(None))
        .order_by(TRANSACTIONS.c.category_code, TRANSACTIONS.c.order_date, TRANSACTIONS.c.id)
    )  # fmt: skip
    key: tuple[str, str] | None = None
    chunk: list[Order] = []
    # Options on the statement: Connection.execution_options would change the connection.
    for row in conn.execute(query.execution_options(stream_results=True, yield_per=10_000)):
        here = (row.category_code, quarter_of(row.order_date))
        if here != key:
            if key is not None:
                yield key[0], key[1], chunk
            key, chunk = here, []
        chunk.append(Order(row.id, row.order_id, row.purchaser_id, row.supplier_id, row.model,
                           row.unit_price, row.order_date))  # fmt: skip
    if key is not None:
        yield key[0], key[1], chunk


def price_outliers(conn: Connection) -> Iterable[Outlier]:
    for category_code, quarter, orders in _chunks(conn):
        yield from outliers_in(category_code, quarter, orders)
