"""Chinese working days (工作日): weekends and public holidays off, make-up days (调休) on.

Deadlines in docs/disclosure.md count working days. `chinesecalendar` knows 2004–2026; the State
Council publishes each next year's schedule late in the year, so `data/workday-overrides.csv`
(date, kind = holiday | workday, name) extends it without a release and corrects it where
needed. A year neither knows is unknown: asking about it raises `CalendarUnknown`, because a
guessed deadline would accuse or excuse a publisher wrongly.

A year counts as known to the override table when the table lists at least one day of it
(every published schedule names its holidays).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import chinese_calendar

OVERRIDES = Path(__file__).parent / "data" / "workday-overrides.csv"


class CalendarUnknown(LookupError):
    """A date outside the known holiday schedules; say so rather than guess."""

    def __init__(self, day: date) -> None:
        super().__init__(
            f"{day.isoformat()} is outside known working-day data (chinesecalendar covers "
            f"2004–2026; add the year's schedule to schema/data/workday-overrides.csv)"
        )
        self.day = day


def load_overrides(path: Path = OVERRIDES) -> dict[date, bool]:
    """date → is a working day, from a CSV of `date,kind,name` rows."""
    overrides: dict[date, bool] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            kind = (row.get("kind") or "").strip()
            if kind not in ("holiday", "workday"):
                raise ValueError(f"{path.name}: kind must be holiday or workday, not {kind!r}")
            overrides[date.fromisoformat(row["date"].strip())] = kind == "workday"
    return overrides


class WorkCalendar:
    """`chinesecalendar` with an override table on top."""

    def __init__(self, overrides: Mapping[date, bool]) -> None:
        self.overrides = dict(overrides)
        self.override_years = {day.year for day in self.overrides}
        self.known: dict[date, bool] = {}  # chinesecalendar's answers: it validates each call

    def is_workday(self, day: date) -> bool:
        known = self.overrides.get(day)
        if known is not None:
            return known
        known = self.known.get(day)
        if known is not None:
            return known
        try:
            known = self.known[day] = bool(chinese_calendar.is_workday(day))
            return known
        except NotImplementedError:
            if day.year in self.override_years:  # a year the table covers: weekends off
                return day.weekday() < 5
            raise CalendarUnknown(day) from None

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (negative when end < start).

        The day an act happens is not counted (民法典 art 201), so a notice published on the
        2nd working day after the decision is `working_days_between(decision, notice) == 2`.
        """
        if end < start:
            return -self.working_days_between(end, start)
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_workday(day)
        return count

    def add_working_days(self, day: date, count: int) -> date:
        """The `count`-th working day after `day` (before it when negative; `day` when 0)."""
        step = timedelta(days=1 if count >= 0 else -1)
        remaining = abs(count)
        while remaining:
            day += step
            remaining -= self.is_workday(day)
        return day


@cache
def default_calendar() -> WorkCalendar:
    return WorkCalendar(load_overrides())


def is_workday(day: date) -> bool:
    return default_calendar().is_workday(day)


def working_days_between(start: date, end: date) -> int:
    return default_calendar().working_days_between(start, end)


def add_working_days(day: date, count: int) -> date:
    return default_calendar().add_working_days(day, count)
