"""The root compilers: `ROOT[field name](selection, dialect)` → one statement, or None.

A compiler returns `Compiled` (a statement whose one row and column is the field's JSON
text) or None to leave the field to its resolver. Compilers raise `Decline` internally;
`compile_root` turns it into None. Registered here: `transactions`, `suppliers`, `parties`
and `project(ocid:)`; `hub/read/plan/stats.py` registers the aggregates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable, func, select

from hub.read.plan.build import Decline
from hub.read.plan.objects import TABLES, Relation, channel_label, node, page, party, shown
from hub.read.plan.selection import Selection
from hub.read.plan.sqljson import Dialect, Sql, lit
from schema.tables import ContractSupplier

TRANSACTIONS = TABLES["Transaction"]
PARTIES = TABLES["Party"]
CONTRACTS = TABLES["Contract"]
PENALTIES = TABLES["PenaltyRecord"]
PROJECTS = TABLES["Project"]
LINKS = ContractSupplier.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Compiled:
    """One statement; its single row's single column is the field's JSON text (or NULL for
    a nullable field that is null)."""

    statement: Executable


RootCompiler = Callable[[Selection, str], "Compiled | None"]
ROOT: dict[str, RootCompiler] = {}


def root(name: str) -> Callable[[Callable[[Selection, Dialect], Sql]], Callable[..., Any]]:
    """Register a compiler that builds the field's JSON expression (or raises Decline)."""

    def register(build: Callable[[Selection, Dialect], Sql]) -> Callable[..., Any]:
        def compiled(sel: Selection, dialect: str) -> Compiled | None:
            try:
                return Compiled(select(build(sel, Dialect(dialect))))
            except Decline:
                return None

        ROOT[name] = compiled
        return build

    return register


def _transaction(d: Dialect, sel: Selection, row: Any) -> Sql:
    relations: dict[str, Relation] = {
        "supplier": lambda d, s, r: party(d, s, r["supplier_id"]),
        "purchaser": lambda d, s, r: party(d, s, r["purchaser_id"]),
        "channelLabel": channel_label,
    }
    return node(d, sel, row, relations)


def _transactions_page(d: Dialect, sel: Selection, base: Any, outer: Any = None) -> Sql:
    """`transactions_page`: ordered by `orderBy` (order date, newest first), then id."""
    order = sel.args.get("order_by")
    field = order.field.value if order is not None else "order_date"
    descending = order is None or order.direction.value == "desc"
    columns = [TRANSACTIONS.c.id] if field == "id" else [TRANSACTIONS.c[field], TRANSACTIONS.c.id]
    build = lambda s, row: _transaction(d, s, row)  # noqa: E731
    return page(d, sel, base, "Transaction", columns, descending, build, outer)


def _query(filter: Any, default: Any) -> Any:
    """The filter's own query (its `.query()`), or the unfiltered list; its refusal declines."""
    if filter is None:
        return default
    try:
        return filter.query()
    except Exception as error:  # BAD_USER_INPUT from the filter: the resolver reports it
        raise Decline("the filter refuses its input") from error


@root("transactions")
def transactions(sel: Selection, d: Dialect) -> Sql:
    base = _query(sel.args.get("filter"), select(*shown("Transaction")))
    return _transactions_page(d, sel, base)


def _party_node(d: Dialect, sel: Selection, row: Any, outer: Any) -> Sql:
    def contracts(d: Dialect, s: Selection, r: Any) -> Sql:
        signed = select(LINKS.c.contract_pk).where(LINKS.c.party_id == r["id"]).correlate(outer)
        base = select(*shown("Contract")).where(CONTRACTS.c.id.in_(signed))
        build = lambda s2, row: node(d, s2, row)  # noqa: E731
        return page(d, s, base, "Contract", [CONTRACTS.c.id], False, build, outer)

    def transactions(d: Dialect, s: Selection, r: Any) -> Sql:
        relation = s.args.get("as_")
        column = relation.value if relation is not None else "supplier_id"
        base = select(*shown("Transaction")).where(TRANSACTIONS.c[column] == r["id"])
        return _transactions_page(d, s, base, outer)

    def penalties(d: Dialect, s: Selection, r: Any) -> Sql:
        order = PENALTIES.c.decision_date.desc()
        rows = (
            select(*shown("PenaltyRecord"), func.row_number().over(order_by=order).label("rn"))
            .where(PENALTIES.c.subject_id == r["id"])
            .correlate(outer)
            .subquery()
        )
        return select(d.array(rows.c.rn, node(d, s, rows.c))).select_from(rows).scalar_subquery()

    relations = {"contracts": contracts, "transactions": transactions, "penalties": penalties}
    return node(d, sel, row, relations)


def _parties(sel: Selection, d: Dialect, base: Any) -> Sql:
    def build(s: Selection, row: Any) -> Sql:
        # The page's own rows are the outer every nested list correlates to.
        return _party_node(d, s, row, row["id"].table)

    return page(d, sel, base, "Party", [PARTIES.c.id], False, build)


@root("parties")
def parties(sel: Selection, d: Dialect) -> Sql:
    return _parties(sel, d, _query(sel.args.get("filter"), select(*shown("Party"))))


@root("suppliers")
def suppliers(sel: Selection, d: Dialect) -> Sql:
    chosen = sel.args.get("filter")
    if chosen is None:
        raise Decline("suppliers without a filter: the resolver builds its own")
    return _parties(sel, d, _query(dataclasses.replace(chosen, role="supplier"), None))


@root("project")
def project(sel: Selection, d: Dialect) -> Sql:
    """`project(ocid:)`: null when there is none."""
    relations: dict[str, Relation] = {
        "purchaser": lambda d, s, r: party(d, s, r["purchaser_id"]),
        "agency": lambda d, s, r: party(d, s, r["agency_id"]),
    }
    found = (
        select(node(d, sel, PROJECTS.c, relations))
        .where(PROJECTS.c.ocid == sel.args["ocid"])
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(found, lit("null"))
