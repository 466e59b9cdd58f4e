"""WHERE clauses of the list filters: regions, ranges, ids, roles, debarments.

Plain functions over SQLAlchemy columns. GraphQL's filter inputs (hub.graphql.inputs) build
their queries from them; a range argument is anything with the inputs' attributes
(`from_`/`to`, `min`/`max`), so the read layer never imports the GraphQL types.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Protocol

from sqlalchemy import Select, and_, exists, func, or_, select

from hub.read.cursors import parse_global_id
from hub.read.errors import BadInput
from schema.codes import is_region_code, region_prefix
from schema.ocds import BEIJING, CURRENCY_NAMES
from schema.tables import PARTY_ROLES as ROLES
from schema.tables import PENALTY_RECORDS as PENALTIES
from schema.tables import PROJECTS

MAX_BOUND = Decimal(10) ** 13  # beyond any stored amount, within 64 bits at four places


class Days(Protocol):
    """An inclusive range of dates (GraphQL's DateRange)."""

    from_: date | None
    to: date | None


class Moments(Protocol):
    """`from` inclusive, `to` exclusive, naive Beijing time or with an offset (TimeRange)."""

    from_: datetime | None
    to: datetime | None


class Amounts(Protocol):
    """An inclusive range of yuan (AmountRange)."""

    min: Decimal | None
    max: Decimal | None


def in_yuan(column: Any, where: Any = None) -> Any:
    """`where` and the amount's currency is the yuan (none stated, CNY or a Chinese name of
    it): the aggregates sum yuan, and pounds or dollars summed with them would mean nothing."""
    stated = func.upper(func.trim(column))  # as schema.ocds.currency_code reads it
    yuan = or_(column.is_(None), stated.in_(["", "CNY", *CURRENCY_NAMES]))
    return yuan if where is None else and_(where, yuan)


def region_clause(column: Any, code: str | None) -> Any:
    if code is None:
        return None
    if not is_region_code(code):
        raise BadInput(f"regionCode {code!r} is not a six-digit division code")
    return column.like(region_prefix(code) + "%") if code != "100000" else None


def date_clause(column: Any, value: Days | None, *, is_datetime: bool = False) -> list[Any]:
    if value is None:
        return []
    clauses = []
    if value.from_ is not None:
        start = datetime.combine(value.from_, datetime.min.time()) if is_datetime else value.from_
        clauses.append(column >= start)
    if value.to is not None:
        if is_datetime:
            clauses.append(column < datetime.combine(value.to, datetime.max.time()))
        else:
            clauses.append(column <= value.to)
    return clauses


def beijing(moment: datetime, argument: str) -> datetime:
    """The moment as naive Beijing time, the one clock the hub stores."""
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(BEIJING).replace(tzinfo=None)
    except (OverflowError, ValueError):
        raise BadInput(f"`{argument}`: {moment.isoformat()} is out of range") from None


def time_clause(column: Any, value: Moments | None, argument: str) -> list[Any]:
    """`from <= column < to` in Beijing time; a range that ends before it starts is refused,
    as it can only be a mistake (an empty range, `from` equal to `to`, is not)."""
    if value is None:
        return []
    start = None if value.from_ is None else beijing(value.from_, f"{argument}.from")
    end = None if value.to is None else beijing(value.to, f"{argument}.to")
    if start is not None and end is not None and end < start:
        raise BadInput(f"`{argument}`: `to` ({end}) is before `from` ({start})")
    clauses = []
    if start is not None:
        clauses.append(column >= start)
    if end is not None:
        clauses.append(column < end)
    return clauses


def amount_clause(column: Any, value: Amounts | None) -> list[Any]:
    if value is None:
        return []
    clauses = []
    if value.min is not None:
        clauses.append(column >= _bound(column, value.min, ROUND_CEILING))
    if value.max is not None:
        clauses.append(column <= _bound(column, value.max, ROUND_FLOOR))
    return clauses


def _bound(column: Any, value: Decimal, rounding: str) -> Decimal:
    """A range end at the column's stored places (fen; 0.0001 yuan for unit prices): a finer
    one is rounded inwards, which selects exactly the stored values within the range."""
    scale = getattr(column.type, "scale", None)
    if scale is None:
        return value
    amount_bound(value, column.name)
    return value.quantize(Decimal(1).scaleb(-scale), rounding=rounding)


def amount_bound(value: Decimal | None, name: str) -> Decimal | None:
    """`value` if it can bound a stored amount, else BadInput naming `name`: NaN, Infinity
    and 1e30 are valid Decimals that no column or index can compare with."""
    if value is not None and (not value.is_finite() or abs(value) >= MAX_BOUND):
        raise BadInput(f"{name}: {value} is not an amount (at most {MAX_BOUND:,})")
    return value


def party_pk(value: str | None, argument: str) -> int | None:
    """The key of a Party id given as `argument`, or BadInput naming it."""
    if value is None:
        return None
    type_name, pk = parse_global_id(value)
    if type_name != "Party":
        raise BadInput(f"`{argument}` takes a Party id, not a {type_name} id")
    return pk


def project_pk(value: str) -> int:
    """The key of a Project id given as `projectId`, or BadInput."""
    type_name, pk = parse_global_id(value)
    if type_name != "Project":
        raise BadInput(f"`projectId` takes a Project id, not a {type_name} id")
    return pk


def narrow(query: Select[Any], *clauses: Any) -> Select[Any]:
    """`query` with every clause given (lists flattened, None skipped) ANDed in."""
    flat: list[Any] = []
    for clause in clauses:
        if isinstance(clause, list):
            flat += clause
        elif clause is not None:
            flat.append(clause)
    return query.where(and_(*flat)) if flat else query


def debarred_on(subject_column: Any, day: date) -> Any:
    return exists(
        select(PENALTIES.c.id).where(
            PENALTIES.c.subject_id == subject_column,
            PENALTIES.c.debarment_start <= day,
            PENALTIES.c.debarment_end >= day,
        )
    )


def has_role(party_column: Any, role: str) -> Any:
    return exists(select(ROLES.c.id).where(ROLES.c.party_id == party_column, ROLES.c.role == role))


def project_region(project_column: Any, code: str | None) -> Any:
    clause = region_clause(PROJECTS.c.region_code, code)
    if clause is None:
        return None
    return project_column.in_(select(PROJECTS.c.id).where(clause))


def text_contains(column: Any, value: str | None) -> Any:
    return None if not value else column.like(f"%{value}%")
