"""Returns (退货) as e-malls publish them: negative quantities, linked to their order.

The convention (README: Input formats): a row whose quantity is negative is a return; its
amount is negative too (or zero), its unit price the positive price per unit. The order it
returns is named by the `return_of` column or, without one, by an order id ending in
`-R<n>`: `DD123-R1` returns `DD123`. The original is looked up among the same publisher's
orders (order ids are unique per publisher).

A return whose original the hub does not hold is kept, with a data-quality issue
(`return_without_original`), not refused: the refund is itself a disclosed fact, the order
may predate the hub or come in a later file, and refusing would make the order in which
files arrive decide what is kept. Returns adding up to more than was bought are kept the same
way (`return_exceeds_order`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from hub.publishing.errors import FieldError

RETURN_ID = re.compile(r"^(.+)-R\d+$")
LOOKUP_CHUNK = 900  # parameters per IN list: under SQLite's old 999 limit
Issue = tuple[str, str, str, str]  # order id, field, code, message


def return_link(order_id: str, quantity: int, amount: int, return_of: str | None) -> str | None:
    """The order a row returns (None for a purchase, or a return naming none); FieldError
    when the signs contradict each other."""
    if quantity < 0:
        if amount > 0:
            raise FieldError("amount", f"{_yuan(amount)} is positive but the quantity "
                             f"{_units(quantity)} is negative: a return (退货) has a negative "
                             "quantity and a negative amount")  # fmt: skip
        if return_of is None:
            match = RETURN_ID.match(order_id)
            return_of = match.group(1) if match else None
        if return_of == order_id:
            raise FieldError("return_of", f"{order_id!r} names the return itself")
        return return_of
    if amount < 0:
        raise FieldError("amount", f"{_yuan(amount)} is negative but the quantity "
                         f"{_units(quantity)} is not: a return (退货) has a negative quantity "
                         "too")  # fmt: skip
    if return_of is not None:
        raise FieldError("return_of", f"names an order returned ({return_of!r}) but the "
                         f"quantity {_units(quantity)} is not negative: a return (退货) has a "
                         "negative quantity and amount")  # fmt: skip
    return None


def _yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def _units(thousandths: int) -> Decimal:
    return Decimal(thousandths).scaleb(-3).normalize()


class ReturnChecks:
    """A batch's written returns; checked against their originals once all are written, so
    an original later in the same batch counts."""

    def __init__(self) -> None:
        self.returns: list[tuple[str, str | None]] = []  # (return's order id, original's)

    def add(self, order_id: str, return_of: str | None) -> None:
        self.returns.append((order_id, return_of))

    def issues(self, conn: Connection, table: Any, publisher_id: int) -> list[Issue]:
        if not self.returns:
            return []
        originals = sorted({o for _, o in self.returns if o is not None})
        bought = _by_order(conn, table, publisher_id, originals)
        returned = _returned(conn, table, publisher_id, [o for o in originals if o in bought])
        found: list[Issue] = []
        for order_id, original in self.returns:
            if original is None:
                found.append((order_id, "return_of", "return_without_original",
                              "退货未指明原订单: a return naming no original order (no return_of, "
                              "and the order id does not end in -R<n>)"))  # fmt: skip
            elif original not in bought:
                found.append((order_id, "return_of", "return_without_original",
                              f"原订单{original}不在本平台已发布的订单中: the order returned is "
                              "not held from this publisher"))  # fmt: skip
            elif returned.get(original, 0) > bought[original]:
                total, held = _units(returned[original]), _units(bought[original])
                found.append((order_id, "quantity", "return_exceeds_order",
                              f"订单{original}退货数量合计{total}，超过成交数量{held}: more "
                              "returned than bought"))  # fmt: skip
        return found


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i : i + LOOKUP_CHUNK] for i in range(0, len(values), LOOKUP_CHUNK)]


def _by_order(conn: Connection, table: Any, publisher_id: int, ids: list[str]) -> dict[str, int]:
    """Quantity (thousandths) of each purchase among `ids` held from the publisher."""
    found: dict[str, int] = {}
    c = table.c
    for chunk in _chunks(ids):
        query = select(c.order_id, c.quantity).where(
            c.publisher_id == publisher_id, c.order_id.in_(chunk), c.quantity > 0
        )
        found.update({r.order_id: int(r.quantity * 1000) for r in conn.execute(query)})
    return found


def _returned(conn: Connection, table: Any, publisher_id: int, ids: list[str]) -> dict[str, int]:
    """Thousandths returned of each order in `ids`, over every return held (this batch's too)."""
    found: dict[str, int] = {}
    c = table.c
    for chunk in _chunks(ids):
        query = (
            select(c.return_of, func.sum(c.quantity))
            .where(c.publisher_id == publisher_id, c.return_of.in_(chunk))
            .group_by(c.return_of)
        )
        for original, total in conn.execute(query):
            found[original] = -int(total * 1000) if total is not None else 0
    return found
