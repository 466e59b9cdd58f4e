"""Aggregates compiled: `transactionStats`, `contractStats`, `awardStats` as one statement.

The statement's single row and column is the field's JSON text, built by the database, the
same bytes (after parsing) as the resolvers in hub/graphql/stats.py give: the same groups
(GROUP BY, ORDER BY and LIMIT as there), party keys as global ids with the party's name,
and amounts formatted as `ScaledDecimal.from_scaled` does, the mean rounded half to even as
`Decimal.to_integral_value` does. Whatever it cannot match exactly it declines (None), and
the resolver answers (or refuses).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    Text,
    case,
    cast,
    func,
    literal_column,
    null,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from hub.graphql.filters import region_clause  # lead: the read layer's home when merged
from hub.read.plan.selection import Selection
from schema.columns import ScaledDecimal
from schema.tables import Award, AwardSupplier, Contract, Party, Project, Transaction

PROJECTS = Project.__table__  # type: ignore[attr-defined]
CONTRACTS = Contract.__table__  # type: ignore[attr-defined]
AWARDS = Award.__table__  # type: ignore[attr-defined]
AWARD_SUPPLIERS = AwardSupplier.__table__  # type: ignore[attr-defined]
PARTIES = Party.__table__  # type: ignore[attr-defined]
TRANSACTIONS = Transaction.__table__  # type: ignore[attr-defined]
MAX_GROUPS = 1000  # hub/graphql/stats.py refuses a limit beyond it: so do we (decline)
PARTY_GROUPS = ("SUPPLIER", "PURCHASER")
NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")  # a GraphQL name: safe as an SQL literal
MEASURES = ("sum", "avg", "min", "max")
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class Compiled:
    """One root field as one statement: its one row, one column is the field's JSON text."""

    statement: Select[Any]


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
    return _compile(selection, dialect, Source(base, where, columns, AWARDS.c.amount))


def _groups(selection: Selection) -> list[str]:
    """`groupBy` as enum names (coerced to StatsGroup members; names accepted too)."""
    return [getattr(g, "name", g) for g in selection.args.get("group_by") or []]


def _compile(selection: Selection, dialect: str, source: Source) -> Compiled | None:
    if dialect not in ("sqlite", "postgresql"):
        return None
    groups = _groups(selection)
    limit = selection.args.get("limit", 100)
    if not groups or any(g not in source.columns for g in groups):
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
    sql = Sql(dialect)
    row = sql.row(selection.children, g, groups, source)
    rows: Any
    if dialect == "postgresql":
        ordered = aggregate_order_by(row, *[g.c[f"k{i}"] for i in range(len(groups))])
        rows = func.coalesce(cast(func.json_agg(ordered), Text), _lit("[]"))
    else:  # the rows come out of `g` in its ORDER BY; SQLite 3.40 has no ordered aggregate
        rows = func.json_group_array(row)
    return Compiled(select(rows.label("json")).select_from(g))


# Which sub-fields each type has: a name not here, or arguments on one, and we decline.
ROW_FIELDS = {"__typename": None, "count": None, "keys": "key", "amount": "m", "unitPrice": "m"}
KEY_FIELDS = {"__typename": None, "group": None, "value": None, "label": None}
MEASURE_FIELDS = {"__typename": None, "sum": None, "avg": None, "min": None, "max": None}
NESTED = {"key": KEY_FIELDS, "m": MEASURE_FIELDS}


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


def _aggregates(selection: Selection, source: Source) -> list[Any]:
    """Only the measures asked for, computed as the resolver computes them (`_aggregates`)."""
    wanted = {(c.name, m.name) for c in selection.children for m in c.children}
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
        out += [made[m].label(f"{field}_{m}") for m in MEASURES if (field, m) in wanted]
    return out


class Sql:
    """The dialect's spelling of JSON building, text formatting and base64."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"

    def obj(self, pairs: list[tuple[str, Any]]) -> Any:
        args: list[Any] = []
        for key, value in pairs:
            args += [_text(key), value]
        return (func.json_build_object if self.pg else func.json_object)(*args)

    def array(self, items: list[Any]) -> Any:
        return (func.json_build_array if self.pg else func.json_array)(*items)

    def row(
        self, children: tuple[Selection, ...], g: Any, groups: list[str], source: Source
    ) -> Any:
        pairs: list[tuple[str, Any]] = []
        for child in children:
            if child.name == "__typename":
                pairs.append((child.key, _text("StatsRow")))
            elif child.name == "count":
                pairs.append((child.key, g.c.n))
            elif child.name == "keys":
                keys = [self.key(child.children, g.c[f"k{i}"], k) for i, k in enumerate(groups)]
                pairs.append((child.key, self.array(keys)))
            elif child.name == "unitPrice" and source.unit_price is None:
                pairs.append((child.key, null()))
            else:
                column: Any = source.amount if child.name == "amount" else source.unit_price
                pairs.append((child.key, self.measure(child, g, column.type)))
        return self.obj(pairs)

    def key(self, children: tuple[Selection, ...], column: Any, group: str) -> Any:
        party = group in PARTY_GROUPS
        pairs: list[tuple[str, Any]] = []
        for child in children:
            if child.name == "__typename":
                pairs.append((child.key, _text("StatsKey")))
            elif child.name == "group":
                pairs.append((child.key, _text(group)))
            elif child.name == "value":
                value = self.party_id(column) if party else column
                pairs.append((child.key, value))
            else:  # label: the party's name, None for other groups
                name = select(PARTIES.c.name).where(PARTIES.c.id == column).scalar_subquery()
                pairs.append((child.key, name if party else null()))
        return self.obj(pairs)

    def measure(self, selection: Selection, g: Any, scale: ScaledDecimal) -> Any:
        pairs: list[tuple[str, Any]] = []
        for child in selection.children:
            if child.name == "__typename":
                pairs.append((child.key, _text("Measure")))
                continue
            value = g.c[f"{selection.name}_{child.name}"]
            whole = self.half_even(value) if child.name == "avg" else self.integer(value)
            pairs.append((child.key, self.decimal(whole, scale)))
        return self.obj(pairs)

    def integer(self, value: Any) -> Any:
        """sum() of bigint is numeric on PostgreSQL: the stored integers' exact total."""
        return cast(value, BigInteger) if self.pg else value

    def half_even(self, mean: Any) -> Any:
        """The mean to a whole number, ties to even: `Decimal(avg).to_integral_value()`.

        The database's own mean (numeric on PostgreSQL, a double on SQLite: the value the
        resolver receives), its floor and the exact remainder, compared with one half."""
        if self.pg:
            floor: Any = func.floor(mean)
        else:  # CAST truncates toward zero; a negative fraction goes one lower
            whole = cast(mean, BigInteger)
            floor = whole - cast(mean < whole, BigInteger)
        twice = (mean - floor) * 2
        up = case((twice > 1, 1), (twice < 1, 0), (floor % 2 == 0, 0), else_=1)
        return case((mean.is_(None), null()), else_=self.integer(floor + up))

    def decimal(self, value: Any, scale: ScaledDecimal) -> Any:
        """The stored integer as `ScaledDecimal.from_scaled` prints it: 49990000 → 4999.00,
        -5 → -0.05; a unit price shows 2 places, up to 4 when it has them (0.005)."""
        shown = -scale.shown.as_tuple().exponent  # type: ignore[operator]
        magnitude = type_coerce(func.abs(value), BigInteger)
        sign = case((value < 0, "-"), else_="")
        whole = self.str(_div(magnitude, 10**scale.scale))
        fraction = magnitude % _int(10**scale.scale)
        text = sign + whole + "." + self.pad(fraction, scale.scale)
        if shown < scale.scale:
            drop = 10 ** (scale.scale - shown)
            short = sign + whole + "." + self.pad(_div(fraction, drop), shown)
            trimmed = (
                sign
                + whole
                + "."
                + func.rtrim(self.pad(fraction, scale.scale), _lit("0"), type_=Text)
            )
            text = case((magnitude % _int(drop) == 0, short), else_=trimmed)
        return case((value.is_(None), null()), else_=text)

    def str(self, value: Any) -> Any:
        return cast(value, Text)

    def pad(self, value: Any, places: int) -> Any:
        if self.pg:
            return func.lpad(cast(value, Text), _int(places), _lit("0"), type_=Text)
        return func.printf(f"%0{places}d", value, type_=Text)

    def party_id(self, pk: Any) -> Any:
        """`global_id("Party", pk)`: unpadded url-safe base64 of "Party:<pk>"."""
        raw = literal_column("'Party:'", Text) + cast(pk, Text)
        if self.pg:
            b64 = func.encode(func.convert_to(raw, _lit("UTF8")), _lit("base64"))
            return func.translate(func.rtrim(b64, _lit("=")), _lit("+/"), _lit("-_"), type_=Text)
        # "Party:" is two whole base64 groups (UGFydHk6); each 3 digits then make 4 letters
        # (the last 1 or 2 digits make 2 or 3): integer keys have at most 10 digits.
        digits = cast(pk, Text)
        out: Any = literal_column("'UGFydHk6'", Text)
        for start in (1, 4, 7, 10):
            out = out + _chunk(digits, start)
        return case((pk.is_(None), null()), else_=out)


def _chunk(digits: Any, start: int) -> Any:
    def byte(i: int) -> Any:
        return func.coalesce(func.unicode(func.substr(digits, start + i, 1)), 0)

    n = byte(0) * 65536 + byte(1) * 256 + byte(2)
    left = func.length(digits) - (start - 1)

    def letter(value: Any) -> Any:
        return func.substr(literal_column(f"'{B64}'", Text), value + 1, 1, type_=Text)

    return (
        case((left >= 1, letter(_div(n, 262144)) + letter(_div(n, 4096) % 64)), else_="")
        + case((left >= 2, letter(_div(n, 64) % 64)), else_="")
        + case((left >= 3, letter(n % 64)), else_="")
    )


def _int(value: int) -> ColumnElement[Any]:
    return literal_column(str(value), BigInteger)


def _div(value: Any, by: int) -> Any:
    """Integer division of a non-negative integer (SQL's `/` on two integers)."""
    divided = type_coerce(value, BigInteger).op("/", precedence=8)(_int(by))  # as `*` binds
    return type_coerce(divided, BigInteger)


def _lit(value: str) -> ColumnElement[Any]:
    """A constant of ours inlined (no quote in it), typed as PostgreSQL's functions want."""
    assert "'" not in value
    return literal_column(f"'{value}'", Text)


def _text(value: str) -> ColumnElement[Any]:
    """A constant string inlined: PostgreSQL's json_build_object cannot type a parameter."""
    if not NAME.fullmatch(value):
        raise ValueError(f"not a GraphQL name: {value!r}")
    return literal_column(f"'{value}'", Text)


ROOT: dict[str, Callable[[Selection, str], Compiled | None]] = {
    "transactionStats": compile_transaction_stats,
    "contractStats": compile_contract_stats,
    "awardStats": compile_award_stats,
}
