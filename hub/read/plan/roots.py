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

from sqlalchemy import Executable, func, literal_column, select

from hub.read.plan.build import Decline
from hub.read.plan.lookup import party_where
from hub.read.plan.objects import (
    TABLES,
    Relation,
    Rows,
    TextBase,
    channel_label,
    node,
    page,
    party,
    shown,
)
from hub.read.plan.relations import CONTRACT, PARTY, PROJECT
from hub.read.plan.selection import Selection
from hub.read.plan.sqljson import Dialect, Part, element
from schema.tables import CONTRACT_SUPPLIERS as LINKS

TRANSACTIONS = TABLES["Transaction"]
PARTIES = TABLES["Party"]
CONTRACTS = TABLES["Contract"]
PENALTIES = TABLES["PenaltyRecord"]
PROJECTS = TABLES["Project"]


@dataclass(frozen=True)
class Compiled:
    """One statement; its single row's single column is the field's JSON text (or NULL for
    a nullable field that is null)."""

    statement: Executable


RootCompiler = Callable[[Selection, str], "Compiled | None"]
ROOT: dict[str, RootCompiler] = {}


def root(name: str) -> Callable[[Callable[[Selection, Dialect], Part]], Callable[..., Any]]:
    """Register a compiler that builds the field's JSON (or raises Decline)."""

    def register(build: Callable[[Selection, Dialect], Part]) -> Callable[..., Any]:
        def compiled(sel: Selection, dialect: str) -> Compiled | None:
            try:
                return Compiled(select(element(build(sel, Dialect(dialect)))))
            except Decline:
                return None

        ROOT[name] = compiled
        return build

    return register


def _transaction(d: Dialect, sel: Selection, row: Rows) -> Part:
    relations: dict[str, Relation] = {
        "supplier": lambda d, s, r: party(d, s, r.ref("supplier_id")),
        "purchaser": lambda d, s, r: party(d, s, r.ref("purchaser_id")),
        "channelLabel": channel_label,
    }
    return node(d, sel, row, relations)


def _transactions_page(d: Dialect, sel: Selection, base: Any) -> Part:
    """`transactions_page`: ordered by `orderBy` (order date, newest first), then id."""
    order = sel.args.get("order_by")
    field = order.field.value if order is not None else "order_date"
    descending = order is None or order.direction.value == "desc"
    columns = [TRANSACTIONS.c.id] if field == "id" else [TRANSACTIONS.c[field], TRANSACTIONS.c.id]
    build = lambda s, row: _transaction(d, s, row)  # noqa: E731
    return page(d, sel, base, "Transaction", columns, descending, build)


def _query(filter: Any, default: Any) -> Any:
    """The filter's own query (its `.query()`), or the unfiltered list; its refusal declines."""
    if filter is None:
        return default
    try:
        return filter.query()
    except Exception as error:  # BAD_USER_INPUT from the filter: the resolver reports it
        raise Decline("the filter refuses its input") from error


@root("transactions")
def transactions(sel: Selection, d: Dialect) -> Part:
    base = _query(sel.args.get("filter"), select(TRANSACTIONS.c.id))
    return _transactions_page(d, sel, base)


def _party_node(d: Dialect, sel: Selection, row: Rows) -> Part:
    """A party of a page; its lists refer to the page's row by name (SQL text), so each
    nested statement is correlated to it without SQLAlchemy having to know."""

    def contracts(d: Dialect, s: Selection, r: Rows) -> Part:
        """`ContractFilter(supplier_id=…)`: contracts the party signed, lead or member."""
        party_id: Any = literal_column(r.ref("id"))
        signed = select(LINKS.c.contract_pk).where(LINKS.c.party_id == party_id)
        base = TextBase(
            "contracts",
            lambda t: (
                f"{t}.id in (select contract_pk from contract_suppliers "
                f"where party_id={r.ref('id')})"
            ),
            select(CONTRACTS.c.id).where(CONTRACTS.c.id.in_(signed)),
        )
        build = lambda s2, rows: node(d, s2, rows, CONTRACT)  # noqa: E731
        return page(d, s, base, "Contract", [CONTRACTS.c.id], False, build)

    def transactions(d: Dialect, s: Selection, r: Rows) -> Part:
        relation = s.args.get("as_")
        column = relation.value if relation is not None else "supplier_id"
        party_id: Any = literal_column(r.ref("id"))
        base = TextBase(
            "transactions",
            lambda t: f"{t}.{column}={r.ref('id')}",
            select(TRANSACTIONS.c.id).where(TRANSACTIONS.c[column] == party_id),
        )
        return _transactions_page(d, s, base)

    def penalties(d: Dialect, s: Selection, r: Rows) -> Part:
        """`Party.penalties`: newest decision first, then newest id (as lists.party_penalties)."""
        name = d.alias()
        rows = Rows(name)
        item = node(d, s, rows)
        if not isinstance(item, str):  # pragma: no cover - penalties have no nested page
            raise Decline("a penalty with nested pages")
        columns = "".join(f"p.{c.key}," for c in shown("PenaltyRecord") if c.key in rows.used)
        source = (
            f"(select {columns}row_number() over (order by p.decision_date desc, p.id desc) as rn "
            f"from penalty_records p where p.subject_id={r.ref('id')}) {name}"
        )
        return f"(select {d.array(name + '.rn', item)} from {source})"

    relations: dict[str, Relation] = {
        **PARTY, "contracts": contracts, "transactions": transactions, "penalties": penalties,
    }  # fmt: skip
    return node(d, sel, row, relations)


def _parties(sel: Selection, d: Dialect, base: Any) -> Part:
    build = lambda s, row: _party_node(d, s, row)  # noqa: E731
    return page(d, sel, base, "Party", [PARTIES.c.id], False, build)


@root("parties")
def parties(sel: Selection, d: Dialect) -> Part:
    return _parties(sel, d, _query(sel.args.get("filter"), select(PARTIES.c.id)))


@root("suppliers")
def suppliers(sel: Selection, d: Dialect) -> Part:
    chosen = sel.args.get("filter")
    if chosen is None:
        raise Decline("suppliers without a filter: the resolver builds its own")
    return _parties(sel, d, _query(dataclasses.replace(chosen, role="supplier"), None))


@root("project")
def project(sel: Selection, d: Dialect) -> Part:
    """`project(ocid:)`: null when there is none."""
    found = (
        select(element(node(d, sel, Rows("projects"), PROJECT)))
        .where(PROJECTS.c.ocid == sel.args["ocid"])
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(found, literal_column("'null'"))


@root("party")
def party_lookup(sel: Selection, d: Dialect) -> Part:
    """`party(id:, uscc:)`: null when there is none; a lookup the resolver refuses declines."""
    try:
        where = party_where(sel.args.get("id"), sel.args.get("uscc"))
    except Exception as error:
        raise Decline("the lookup's arguments are refused") from error
    found = (
        select(element(_party_node(d, sel, Rows("parties"))))
        .where(where)
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(found, literal_column("'null'"))
