"""Chinese working days for 2024–2025, so demo deadlines are kept (or broken) on purpose.

The demo plants late notices counted in working days; placing dates with the real holiday
schedule (State Council notices of 2023-10 and 2024-11) keeps normal projects clear of the
hub's deadline checks. Outside the table only weekends are days off.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta


def _days(*spans: tuple[str, str]) -> frozenset[date]:
    days: set[date] = set()
    for first, last in spans:
        day, end = date.fromisoformat(first), date.fromisoformat(last)
        while day <= end:
            days.add(day)
            day += timedelta(days=1)
    return frozenset(days)


HOLIDAYS = _days(
    ("2024-01-01", "2024-01-01"),
    ("2024-02-10", "2024-02-17"),
    ("2024-04-04", "2024-04-06"),
    ("2024-05-01", "2024-05-05"),
    ("2024-06-10", "2024-06-10"),
    ("2024-09-15", "2024-09-17"),
    ("2024-10-01", "2024-10-07"),
    ("2025-01-01", "2025-01-01"),
    ("2025-01-28", "2025-02-04"),
    ("2025-04-04", "2025-04-06"),
    ("2025-05-01", "2025-05-05"),
    ("2025-05-31", "2025-06-02"),
    ("2025-10-01", "2025-10-08"),
)
MAKEUP_WORKDAYS = frozenset(
    date.fromisoformat(d)
    for d in (
        "2024-02-04", "2024-02-18", "2024-04-07", "2024-04-28", "2024-05-11", "2024-09-14",
        "2024-09-29", "2024-10-12", "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28",
        "2025-10-11",
    )
)  # fmt: skip


def is_workday(day: date) -> bool:
    if day in MAKEUP_WORKDAYS:
        return True
    return day.weekday() < 5 and day not in HOLIDAYS


def next_workday(day: date) -> date:
    """`day` itself when it is a working day, else the first one after it."""
    while not is_workday(day):
        day += timedelta(days=1)
    return day


def previous_workday(day: date) -> date:
    while not is_workday(day):
        day -= timedelta(days=1)
    return day


def add_workdays(day: date, count: int) -> date:
    """The `count`-th working day after `day` (count 0: `day` or the next working day)."""
    day = next_workday(day)
    for _ in range(count):
        day = next_workday(day + timedelta(days=1))
    return day


def at(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute)


def ocds_datetime(moment: datetime) -> str:
    """ISO 8601 in Beijing time, the form every demo release date takes."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S+08:00")
