"""Range inputs, the order direction and the help texts the filter inputs share.

The clauses they narrow a query with are plain functions in hub.read.where."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum

import strawberry


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


TIME_HELP = "from `from` (inclusive) to `to` (exclusive), Beijing time"
RECEIVED_HELP = (
    f"{TIME_HELP}. What is new since the last poll: this range from the last `receivedAt` seen, "
    "ordered by RECEIVED_AT ascending, `after` the last cursor (batches are received one at a "
    "time, so a later batch never has an earlier receipt time)"
)
REGION_HELP = "行政区划代码: a six-digit division code; matches it and every division inside it."
