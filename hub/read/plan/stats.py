"""Aggregates compiled: `transactionStats`, `contractStats`, `awardStats` as one statement.

The statement's single row and column is the field's JSON text, built by the database, the
same bytes as the resolvers in hub/graphql/stats.py give: the same groups
(GROUP BY, ORDER BY and LIMIT as there), party keys as global ids with the party's name,
and amounts formatted as `ScaledDecimal.from_scaled` does, the mean rounded half to even as
`Decimal.to_integral_value` does. Whatever it cannot match exactly it declines (None), and
the resolver answers (or refuses).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    case,
    cast,
    func,
    literal_column,
    select,
    type_coerce,
)

from hub.read.plan.roots import ROOT, Compiled
from hub.read.plan.selection import Selection
from hub.read.plan.sqljson import Dialect, Part, arr, lit, obj
from hub.read.where import in_yuan, region_clause
from schema.columns import ScaledDecimal
from schema.tables import AWARD_SUPPLIERS, AWARDS, CONTRACTS, PARTIES, PROJECTS, TRANSACTIONS

PARTY_NAME = f"(SELECT name FROM {PARTIES.name} WHERE id = {{}})"  # a key's label
MAX_GROUPS = 1000  # hub/graphql/stats.py refuses a limit beyond it: so do we (decline)
PARTY_GROUPS = ("SUPPLIER", "PURCHASER")
NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")  # a GraphQL name: safe as an SQL literal
MEASURES = ("sum", "avg", "min", "max")
PREFIX = {"amount": "amount", "unitPrice": "price"}  # columns of layers g and r: lower case


@dataclass(frozen=True)
class Source:
    """What one aggregate reads: the rows, their groupings and the amounts measured."""

    base: Any
    where: Any
    columns: Mapping[str, Any]  # StatsGroup name → key expression
    amount: Any
    unit_price: Any | None = None
    purchases: Any | None = None  # only purchases count in avg/min/max (and unit prices)


def _month(column: Any) -> Any:
    return func.substr(cast(column, String), 1, 7)


def _where(selection: Selection) -> tuple[bool, Any]:
    """The filter's own WHERE clause; (False, None) when building it refuses the input."""
    given = selection.args.get("filter")
    if given is None:
        return True, None
    try:
        return True, given.query().whereclause
    except Exception:  # BAD_USER_INPUT: the resolver says so, in its words
        return False, None


def compile_transaction_stats(selection: Selection, dialect: str) -> Compiled | None:
    ok, where = _where(selection)
    if not ok:
        return None
    c = TRANSACTIONS.c
    columns = {
        "SUPPLIER": c.supplier_id, "PURCHASER": c.purchaser_id, "REGION": c.region_code,
        "CATEGORY": c.category_code, "MONTH": _month(c.order_date), "BRAND": c.brand,
    }  # fmt: skip
    purchases = type_coerce(c.quantity, BigInteger) >= 0
    source = Source(TRANSACTIONS, where, columns, c.amount, c.unit_price, purchases)
    return _compile(selection, dialect, source)


def compile_contract_stats(selection: Selection, dialect: str) -> Compiled | None:
    ok, where = _where(selection)
    if not ok:
        return None
    p = PROJECTS.c
    columns = {
        "SUPPLIER": CONTRACTS.c.supplier_id, "PURCHASER": p.purchaser_id,
        "REGION": p.region_code, "CATEGORY": p.category_code,
        "MONTH": _month(CONTRACTS.c.date_signed),
    }  # fmt: skip
    base = CONTRACTS.join(PROJECTS, PROJECTS.c.id == CONTRACTS.c.project_id)
    where = in_yuan(CONTRACTS.c.currency, where)  # as hub/graphql/stats.py: yuan only
    return _compile(selection, dialect, Source(base, where, columns, CONTRACTS.c.amount))


def compile_award_stats(selection: Selection, dialect: str) -> Compiled | None:
    p = PROJECTS.c
    try:
        where = region_clause(p.region_code, selection.args.get("region_code"))
    except Exception:  # BAD_USER_INPUT: not a division code
        return None
    columns = {
        "SUPPLIER": AWARD_SUPPLIERS.c.party_id, "PURCHASER": p.purchaser_id,
        "REGION": p.region_code, "CATEGORY": p.category_code,
        "MONTH": _month(AWARDS.c.decision_date),
    }  # fmt: skip
    base = AWARDS.join(PROJECTS, PROJECTS.c.id == AWARDS.c.project_id)
    if "SUPPLIER" in _groups(selection):
        base = base.join(AWARD_SUPPLIERS, AWARD_SUPPLIERS.c.award_pk == AWARDS.c.id)
    where = in_yuan(AWARDS.c.currency, where)  # as hub/graphql/stats.py: yuan only
    return _compile(selection, dialect, Source(base, where, columns, AWARDS.c.amount))


def _groups(selection: Selection) -> list[str]:
    """`groupBy` as enum names (coerced to StatsGroup members; names accepted too)."""
    return [getattr(g, "name", g) for g in selection.args.get("group_by") or []]


def _compile(selection: Selection, dialect: str, source: Source) -> Compiled | None:
    if dialect not in ("sqlite", "postgresql"):
        return None
    groups = _groups(selection)
    limit = selection.args.get("limit", 100)
    if (
        not groups
        or len(set(groups)) != len(groups)
        or any(g not in source.columns for g in groups)
    ):
        return None  # the resolver's BAD_USER_INPUT
    if not isinstance(limit, int) or not 1 <= limit <= MAX_GROUPS:
        return None
    if not _known(selection.children, ROW_FIELDS):
        return None
    keys = [source.columns[g].label(f"k{i}") for i, g in enumerate(groups)]
    measures = _aggregates(selection, source)
    grouped = select(*keys, func.count().label("n"), *measures).select_from(source.base)
    if source.where is not None:
        grouped = grouped.where(source.where)
    g = grouped.group_by(*keys).order_by(*keys).limit(limit).subquery("g")
    # The JSON's text depends only on the selection's shape: built once, reused.
    scales = (_places(source.amount), _places(source.unit_price))
    columns, json = _text(dialect, _shape(selection.children), tuple(groups), scales)
    layer: list[Any] = [literal_column(sql).label(name) for name, sql in columns]
    r = select(*layer).select_from(g)
    return Compiled(select(literal_column(json).label("json")).select_from(r.subquery("r")))


# Which sub-fields each type has: a name not here, or arguments on one, and we decline.
ROW_FIELDS = {"__typename": None, "count": None, "keys": "key", "amount": "m", "unitPrice": "m"}
KEY_FIELDS = {"__typename": None, "group": None, "value": None, "label": None}
MEASURE_FIELDS = {"__typename": None, "sum": None, "avg": None, "min": None, "max": None}
NESTED = {"key": KEY_FIELDS, "m": MEASURE_FIELDS}
Shape = tuple[tuple[str, str, "Shape"], ...]  # (response key, field name, sub-fields)


def _known(children: tuple[Selection, ...], fields: Mapping[str, str | None]) -> bool:
    """Every child a field we build, once per response key, without arguments."""
    seen = [c.key for c in children]
    if not children or len(seen) != len(set(seen)):
        return False
    for child in children:
        if child.name not in fields or child.args or not NAME.fullmatch(child.key):
            return False
        nested = fields[child.name]
        if nested is None and child.children:
            return False
        if nested is not None and not _known(child.children, NESTED[nested]):
            return False
    return True


def _shape(children: tuple[Selection, ...]) -> Shape:
    return tuple((c.key, c.name, _shape(c.children)) for c in children)


def _aggregates(selection: Selection, source: Source) -> list[Any]:
    """Only the measures asked for, computed as the resolver computes them (`_aggregates`)."""
    wanted = _wanted(_shape(selection.children))
    out: list[Any] = []
    measured = (("amount", source.amount, True), ("unitPrice", source.unit_price, False))
    for field, column, net in measured:
        if column is None:
            continue
        raw = type_coerce(column, BigInteger)
        only = raw if source.purchases is None else case((source.purchases, raw))
        made = {
            "sum": func.sum(raw if net else only), "avg": func.avg(only),
            "min": func.min(only), "max": func.max(only),
        }  # fmt: skip
        out += [made[m].label(f"{PREFIX[field]}_{m}") for m in MEASURES if (field, m) in wanted]
    return out


def _wanted(shape: Shape) -> set[tuple[str, str]]:
    return {(name, m) for _, name, sub in shape for _, m, _ in sub if m in MEASURES}


@lru_cache(maxsize=1024)
def _text(
    dialect: str, shape: Shape, groups: tuple[str, ...], scales: tuple[Places, Places]
) -> tuple[list[tuple[str, str]], str]:
    """The columns of layer `r` over `g` (keys, count, position, measures as whole stored
    integers, the mean rounded) and the JSON array over `r`, as SQL text concatenated by
    sqljson (orjson's bytes on both databases): our own constants and GraphQL names only
    (checked), so nothing a client sends is spelled into it."""
    rows = Rows(Dialect(dialect), scales)
    order = ", ".join(f"g.k{i}" for i in range(len(groups)))
    columns = [(f"k{i}", f"g.k{i}") for i in range(len(groups))] + [("n", "g.n")]
    columns.append(("pos", f"row_number() OVER (ORDER BY {order})"))  # g's ORDER BY
    for field, m in sorted(_wanted(shape)):
        if rows.scales[field] is not None:  # unitPrice of contracts and awards: null
            value = f"g.{PREFIX[field]}_{m}"
            made = _half_even(dialect, value) if m == "avg" else _whole(dialect, value)
            columns.append((f"{PREFIX[field]}_{m}", made))
    item = rows.row(shape, groups)
    assert isinstance(item, str)  # text only: no bind parameters in it
    json = rows.sql.array("r.pos", item)
    assert isinstance(json, str)
    return columns, json


Places = tuple[int, int] | None  # a money column's scale, and the places always shown


def _places(column: Any) -> Places:
    """Money columns are ScaledDecimal: 2 places for amounts, 4 (2 shown) for unit prices."""
    if column is None:
        return None
    scale: ScaledDecimal = column.type
    return scale.scale, -int(scale.shown.as_tuple().exponent)


def _quoted(value: str) -> str:
    """A GraphQL name as a JSON string, as an SQL literal."""
    if not NAME.fullmatch(value):
        raise ValueError(f"not a GraphQL name: {value!r}")
    return lit(f'"{value}"')


class Rows:
    """A StatsRow's JSON text, spelled by sqljson's helpers."""

    def __init__(self, sql: Dialect, scales: tuple[Places, Places]) -> None:
        self.sql = sql
        self.scales = {"amount": scales[0], "unitPrice": scales[1]}

    def row(self, shape: Shape, groups: tuple[str, ...]) -> Part:
        pairs: list[tuple[str, Part]] = []
        for key, name, sub in shape:
            if name == "__typename":
                pairs.append((key, _quoted("StatsRow")))
            elif name == "count":
                pairs.append((key, self.sql.integer("r.n")))
            elif name == "keys":
                pairs.append(
                    (key, arr([self.key(sub, f"r.k{i}", g) for i, g in enumerate(groups)]))
                )
            elif self.scales[name] is None:  # unitPrice of contracts and awards
                pairs.append((key, lit("null")))
            else:
                pairs.append((key, self.measure(sub, name)))
        return obj(pairs)

    def key(self, shape: Shape, column: str, group: str) -> Part:
        party = group in PARTY_GROUPS
        pairs: list[tuple[str, Part]] = []
        for key, name, _ in shape:
            if name == "__typename":
                pairs.append((key, _quoted("StatsKey")))
            elif name == "group":
                pairs.append((key, _quoted(group)))
            elif name == "value":  # a party's global id; other keys as text
                shown = self.sql.optional_id("Party", column) if party else None
                pairs.append((key, shown or self.sql.string(f"CAST({column} AS TEXT)")))
            elif party:  # label: the party's name, null for other groups
                pairs.append((key, self.sql.string(PARTY_NAME.format(column))))
            else:
                pairs.append((key, lit("null")))
        return obj(pairs)

    def measure(self, shape: Shape, field: str) -> Part:
        places = self.scales[field]
        assert places is not None
        pairs: list[tuple[str, Part]] = []
        for key, name, _ in shape:
            if name == "__typename":
                pairs.append((key, _quoted("Measure")))
            else:
                pairs.append((key, self.sql.scaled(f"r.{PREFIX[field]}_{name}", *places)))
        return obj(pairs)


def _whole(dialect: str, value: str) -> str:
    """sum() of bigint is numeric on PostgreSQL: the stored integers' exact total."""
    return f"CAST({value} AS BIGINT)" if dialect == "postgresql" else value


def _half_even(dialect: str, mean: str) -> str:
    """The mean to a whole number, ties to even: `Decimal(avg).to_integral_value()`.

    The database's own mean (numeric on PostgreSQL, a double on SQLite: the value the
    resolver receives), its floor and the exact remainder, compared with one half."""
    if dialect == "postgresql":
        floor = f"floor({mean})"
    else:  # CAST truncates toward zero; a negative fraction goes one lower
        floor = f"(CAST({mean} AS INTEGER) - ({mean} < CAST({mean} AS INTEGER)))"
    twice = f"({mean} - {floor}) * 2"
    up = (f"CASE WHEN {twice} > 1 THEN 1 WHEN {twice} < 1 THEN 0 "
          f"WHEN {floor} % 2 = 0 THEN 0 ELSE 1 END")  # fmt: skip
    whole = _whole(dialect, f"{floor} + {up}")
    return f"CASE WHEN {mean} IS NULL THEN NULL ELSE {whole} END"


ROOT.update(
    transactionStats=compile_transaction_stats,
    contractStats=compile_contract_stats,
    awardStats=compile_award_stats,
)
