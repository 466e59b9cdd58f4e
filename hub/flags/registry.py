"""Rules as data: a stable code, a severity, a one-line legal basis and a check function."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from hub.flags.facts import NoticeFact, ProjectFacts
from schema.calendar import CalendarUnknown
from schema.severity import SEVERITIES

UNKNOWN_CALENDAR = "unknown_calendar"


@dataclass(frozen=True)
class Finding:
    """What a check found; the engine turns it into a `Flag` row with the rule's metadata."""

    message: str
    notices: tuple[NoticeFact, ...] = ()
    fields: tuple[dict[str, Any], ...] = ()
    party_id: int | None = None
    note: str | None = None  # UNKNOWN_CALENDAR: the check could not decide, and says so
    extra: dict[str, Any] = field(default_factory=dict)


Check = Callable[[ProjectFacts], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    legal_basis: str
    check: Check


PROJECT_RULES: dict[str, Rule] = {}


def rule(code: str, severity: str, legal_basis: str) -> Callable[[Check], Check]:
    """Register a project rule under its stable code."""
    assert severity in SEVERITIES, severity

    def register(check: Check) -> Check:
        assert code not in PROJECT_RULES, code
        PROJECT_RULES[code] = Rule(code, severity, legal_basis, check)
        return check

    return register


def working_days(facts: ProjectFacts, start: date, end: date) -> int | None:
    """Working days from `start` to `end`, or None when the calendar does not know them."""
    try:
        return facts.calendar.working_days_between(start, end)
    except CalendarUnknown:
        return None


def late(facts: ProjectFacts, start: date, end: date, allowed: int) -> tuple[bool, int | None]:
    """(more than `allowed` working days from start to end — or undecidable, days).

    Calendar days bound working days, so a short span needs no calendar at all.
    """
    if (end - start).days <= allowed:
        return False, None
    days = working_days(facts, start, end)
    return days is None or days > allowed, days


def days_text(days: int | None, start: date, end: date) -> str:
    if days is None:
        return f"相隔{(end - start).days}个自然日（超出已知工作日历，无法换算工作日）"
    return f"相隔{days}个工作日"
