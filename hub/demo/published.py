"""When the demo's publishers publish a record (发布时间): on a working day, in office hours.

Orders and penalty decisions carry a date only; the platform or finance department puts the
record online that day or a few working days later, during office hours in Beijing time.
Without a publish time the hub would date every record by its arrival (the load day), and a
month's records could not be found by when they were published. Draws come from their own
generator, so the rest of the demo is the same with or without them.
"""

from __future__ import annotations

import random
from datetime import date
from functools import cache

from hub.demo.workdays import add_workdays

# Working days after the order: most go online the same or the next working day.
ORDER_LAGS = (0,) * 35 + (1,) * 30 + (2,) * 15 + (3,) * 10 + (4,) * 6 + (5,) * 4
# 行政处罚信息 goes online within seven working days of the decision (双公示).
PENALTY_LAGS = (1,) * 30 + (2,) * 25 + (3,) * 15 + (4,) * 10 + (5,) * 8 + (6,) * 7 + (7,) * 5
# Office hours (办公时间) 08:30–11:30 and 13:00–17:00, to the minute.
OFFICE_MINUTES = tuple(
    f"{minute // 60:02d}:{minute % 60:02d}"
    for minute in (*range(8 * 60 + 30, 11 * 60 + 30), *range(13 * 60, 17 * 60))
)


@cache
def _workday(day: str, lag: int) -> str:
    return add_workdays(date.fromisoformat(day), lag).isoformat()


class PublishClock:
    """Draws publish times; cheap enough for a million rows (two draws and a cached lookup)."""

    def __init__(self, rng: random.Random) -> None:
        self.rand = rng.random

    def after(self, day: str, lags: tuple[int, ...]) -> str:
        """ISO 8601 with +08:00: `lags` working days from `day` (0: the day itself, or the
        next working day when it is a day off), at a minute in office hours."""
        rand = self.rand
        lag = lags[int(rand() * len(lags))]
        minute = OFFICE_MINUTES[int(rand() * len(OFFICE_MINUTES))]
        second = int(rand() * 60)
        return f"{_workday(day, lag)}T{minute}:{second:02d}+08:00"

    def order(self, day: str) -> str:
        return self.after(day, ORDER_LAGS)

    def penalty(self, day: str) -> str:
        return self.after(day, PENALTY_LAGS)
