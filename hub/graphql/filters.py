"""Typed filter and order inputs; each filter knows how to narrow its SQL query."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import Select, and_, exists, or_, select

from hub.graphql.errors import BadUserInput
from hub.graphql.relay import parse_global_id
from schema.codes import is_region_code, region_prefix
from schema.ocds import BEIJING
from schema.tables import PARTY_ROLES, PENALTY_RECORDS, PROJECTS

MAX_BOUND = Decimal(10) ** 13  # beyond any stored amount, within 64 bits at four places


@strawberry.input(description="An inclusive range of dates; either end may be open.")
class DateRange:
    from_: date | None = strawberry.field(
        default=None, name="from", description="First day, inclusive."
    )
    to: date | None = strawberry.field(default=None, description="Last day, inclusive.")


@strawberry.input(
    description="A range of moments in Beijing time (UTC+8): `from` inclusive, `to` exclusive; "
    "either end may be open. A time without an offset is Beijing time; one with an offset "
    "(`Z`, `+00:00`) is converted to it."
)
class TimeRange:
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="From this moment on, inclusive."
    )
    to: datetime | None = strawberry.field(
        default=None, description="Before this moment, exclusive."
    )


@strawberry.input(description="An inclusive range of amounts in yuan; either end may be open.")
class AmountRange:
    min: Decimal | None = strawberry.field(default=None, description="At least this many yuan.")
    max: Decimal | None = strawberry.field(default=None, description="At most this many yuan.")


@strawberry.enum
class Direction(Enum):
    ASC = "asc"
    DESC = "desc"


def region_clause(column: Any, code: str | None) -> Any:
    if code is None:
        return None
    if not is_region_code(code):
        raise BadUserInput(f"regionCode {code!r} is not a six-digit division code")
    return column.like(region_prefix(code) + "%") if code != "100000" else None


def date_clause(column: Any, value: DateRange | None, *, is_datetime: bool = False) -> list[Any]:
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
        raise BadUserInput(f"`{argument}`: {moment.isoformat()} is out of range") from None


def time_clause(column: Any, value: TimeRange | None, argument: str) -> list[Any]:
    """`from <= column < to` in Beijing time; a range that ends before it starts is refused,
    as it can only be a mistake (an empty range, `from` equal to `to`, is not)."""
    if value is None:
        return []
    start = None if value.from_ is None else beijing(value.from_, f"{argument}.from")
    end = None if value.to is None else beijing(value.to, f"{argument}.to")
    if start is not None and end is not None and end < start:
        raise BadUserInput(f"`{argument}`: `to` ({end}) is before `from` ({start})")
    clauses = []
    if start is not None:
        clauses.append(column >= start)
    if end is not None:
        clauses.append(column < end)
    return clauses


def amount_clause(column: Any, value: AmountRange | None) -> list[Any]:
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
    if not value.is_finite() or abs(value) >= MAX_BOUND:
        raise BadUserInput(f"{column.name}: {value} is not an amount (at most {MAX_BOUND:,})")
    return value.quantize(Decimal(1).scaleb(-scale), rounding=rounding)


def party_pk(value: strawberry.ID | None, argument: str) -> int | None:
    if value is None:
        return None
    type_name, pk = parse_global_id(value)
    if type_name != "Party":
        raise BadUserInput(f"`{argument}` takes a Party id, not a {type_name} id")
    return pk


def narrow(query: Select[Any], *clauses: Any) -> Select[Any]:
    flat: list[Any] = []
    for clause in clauses:
        if isinstance(clause, list):
            flat += clause
        elif clause is not None:
            flat.append(clause)
    return query.where(and_(*flat)) if flat else query


def debarred_on(subject_column: Any, day: date) -> Any:
    penalties = PENALTY_RECORDS
    return exists(
        select(penalties.c.id).where(
            penalties.c.subject_id == subject_column,
            penalties.c.debarment_start <= day,
            penalties.c.debarment_end >= day,
        )
    )


def has_role(party_column: Any, role: str) -> Any:
    roles = PARTY_ROLES
    return exists(select(roles.c.id).where(roles.c.party_id == party_column, roles.c.role == role))


def project_region(project_column: Any, code: str | None) -> Any:
    clause = region_clause(PROJECTS.c.region_code, code)
    if clause is None:
        return None
    projects = PROJECTS
    return project_column.in_(select(projects.c.id).where(clause))


def text_contains(column: Any, value: str | None) -> Any:
    return None if not value else column.like(f"%{value}%")


__all__ = ["DateRange", "Direction", "TimeRange", "amount_clause", "debarred_on", "or_"]

TIME_HELP = "from `from` (inclusive) to `to` (exclusive), Beijing time"
RECEIVED_HELP = (
    f"{TIME_HELP}. What is new since the last poll: this range from the last `receivedAt` seen, "
    "ordered by RECEIVED_AT ascending, `after` the last cursor (batches are received one at a "
    "time, so a later batch never has an earlier receipt time)"
)
REGION_HELP = "行政区划代码: a six-digit division code; matches it and every division inside it."
