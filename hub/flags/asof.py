"""Project flags as they stood at the end of a day: the rules run on the as-of state.

A backfill must not date every flag on the day flags were computed, nor flag a project for
what it published later. `flags_as_of` runs every project rule with `today` = the day, on the
facts as of that day: the notices published by its end, the compiled rows
`exports.asof.project_states` gives for it, and the debarments published by then. The
export can then place a flag on the first day it stands. Read through the export's `Source`
(its one snapshot); nothing is written.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
import pyarrow as pa

from exports.asof import changed_projects, iter_project_states
from exports.partitions import end_of, start_of
from exports.source import Source
from hub.flags.engine import FlagKey, _flag, _key, findings
from hub.flags.facts import AwardFact, ContractFact, Debarment, NoticeFact, ProjectFacts
from hub.flags.stages import CONTRACT_DAYS
from schema.calendar import WorkCalendar, default_calendar
from schema.flags import Flag
from schema.ocds import currency_code, merge_releases


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _ids(values: Any) -> str:
    return ", ".join(str(int(v)) for v in values) or "NULL"


def flags_as_of(
    source: Source,
    states: Mapping[str, pa.Table],
    day: date,
    calendar: WorkCalendar | None = None,
) -> list[Flag]:
    """Every project rule's findings on the projects of `states` (`project_states(…, day)`)
    as of the end of `day`, unsaved, detected at the day's last second."""
    end = (day + timedelta(days=1)).isoformat()
    projects = {p["id"]: p for p in states["projects"].to_pylist()}
    notices: dict[int, list[NoticeFact]] = defaultdict(list)
    for r in source.rows(
        "SELECT project_id, id, release_id, notice_type, published_at, publisher_id, "
        f"source_site, title, content_hash, payload FROM notices WHERE project_id IN "
        f"({_ids(projects)}) AND published_at < '{end}' ORDER BY project_id, published_at, id"
    ):
        notices[int(r[0])].append(NoticeFact(
            int(r[1]), r[2], r[3], _moment(r[4]), int(r[5]), r[6], r[7], r[8], orjson.loads(r[9])
        ))  # fmt: skip
    awards = _awards(states)
    contracts = _contracts(states)
    lots: dict[int, dict[str, Any]] = defaultdict(dict)
    for lot in states["lots"].to_pylist():
        lots[lot["project_id"]][lot["lot_id"]] = lot["budget"]
    named = {p for found in awards.values() for a in found for p in a.supplier_ids}
    named |= {p for found in contracts.values() for c in found for p in c.supplier_ids}
    debarments = _debarments(source, named, end)
    now = datetime.combine(day, time(23, 59, 59))
    flags = []
    for pid in sorted(projects):
        mine = {p for a in awards[pid] for p in a.supplier_ids}
        mine |= {p for c in contracts[pid] for p in c.supplier_ids}
        facts = ProjectFacts(
            SimpleNamespace(**projects[pid]),  # type: ignore[arg-type]  # the rules read fields
            notices[pid], merge_releases(n.payload for n in notices[pid]), lots[pid],
            awards[pid], contracts[pid], {p: debarments[p] for p in mine if p in debarments},
            day, calendar or default_calendar(),
        )  # fmt: skip
        flags += [_flag(rule, finding, pid, now) for rule, finding in findings(facts)]
    return flags


def _awards(states: Mapping[str, pa.Table]) -> dict[int, list[AwardFact]]:
    suppliers: dict[tuple[int, str], set[int]] = defaultdict(set)
    for s in states["award_suppliers"].to_pylist():
        suppliers[s["project_id"], s["award_id"]].add(s["party_id"])
    found: dict[int, list[AwardFact]] = defaultdict(list)
    for a in states["awards"].to_pylist():
        found[a["project_id"]].append(AwardFact(
            a["award_id"], tuple(a["lot_ids"].split(",")) if a["lot_ids"] else (), a["status"],
            a["decision_date"], a["amount"],
            frozenset(suppliers.get((a["project_id"], a["award_id"]), ())),
            currency_code(a.get("currency")),
        ))  # fmt: skip
    return found


def _contracts(states: Mapping[str, pa.Table]) -> dict[int, list[ContractFact]]:
    members: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    for s in states["contract_suppliers"].to_pylist():
        members[s["project_id"], s["contract_id"]].append((s["position"], s["party_id"]))
    found: dict[int, list[ContractFact]] = defaultdict(list)
    for c in states["contracts"].to_pylist():
        lead_first = sorted(members.get((c["project_id"], c["contract_id"]), []))
        found[c["project_id"]].append(ContractFact(
            c["contract_id"], c["award_id"], tuple(p for _, p in lead_first), c["amount"],
            c["date_signed"], currency_code(c.get("currency")),
        ))  # fmt: skip
    return found


def _debarments(source: Source, party_ids: set[int], end: str) -> dict[int, list[Debarment]]:
    """Debarments of these parties published by `end` (a later decision was not known)."""
    found: dict[int, list[Debarment]] = {}
    if not party_ids:
        return found
    rows = source.rows(
        "SELECT id, record_id, kind, subject_id, debarment_start, debarment_end, "
        "decision_number, authority_name FROM penalty_records "
        f"WHERE subject_id IN ({_ids(sorted(party_ids))}) AND debarment_start IS NOT NULL "
        f"AND debarment_end IS NOT NULL AND published_at < '{end}' "
        "ORDER BY debarment_start, id"
    )
    for r in rows:
        found.setdefault(int(r[3]), []).append(Debarment(
            int(r[0]), r[1], r[2], int(r[3]), _day(r[4]), _day(r[5]), r[6], r[7]
        ))  # fmt: skip
    return found


def _on(column: str, day: date) -> str:
    return f"{column} >= {start_of(day)} AND {column} < {end_of(day)}"


def candidates(source: Source, day: date) -> list[int]:
    """The projects whose findings can change on `day`, all else being as the day before:

    - a notice of theirs published that day, or received that day late (changed_projects);
    - a debarment published that day naming one of their suppliers (SUPPLIER_DEBARRED
      compares its period with the award and signing dates, never with `today`);
    - an award whose contract window ends that day: `award_without_contract` is the one rule
      reading `facts.today`, and finds an award decided (or first published) more than
      `CONTRACT_DAYS` days before it — the decision dates of today's awards and the notices
      published that day stand for the as-of ones.
    """
    found = set(changed_projects(source, day))
    debarred = (
        "SELECT subject_id FROM penalty_records WHERE debarment_start IS NOT NULL AND "
        f"debarment_end IS NOT NULL AND {_on('published_at', day)}"
    )
    for sql in (
        "SELECT a.project_id FROM award_suppliers s JOIN awards a ON a.id = s.award_pk "
        f"WHERE s.party_id IN ({debarred})",
        "SELECT c.project_id FROM contract_suppliers s JOIN contracts c ON c.id = s.contract_pk "
        f"WHERE s.party_id IN ({debarred})",
    ):
        found |= {int(r[0]) for r in source.rows(sql)}
    window = day - timedelta(days=CONTRACT_DAYS + 1)  # (day - since).days > CONTRACT_DAYS
    for sql in (
        f"SELECT project_id FROM awards WHERE {_on('decision_date', window)}",
        f"SELECT project_id FROM notices WHERE {_on('published_at', window)}",
    ):
        found |= {int(r[0]) for r in source.rows(sql)}
    return sorted(found)


class FlagDays:
    """The export's as-of flags (exports.flagrows.AsOfFlags), one instance per export run.

    A day's new findings are those standing at its end and not at the end of the day before,
    computed only for the projects that can change on it (`candidates`). The findings of the
    day before are kept per project across the run, so a backfill (days in order) computes
    each project's findings once a day it can change, not twice.
    """

    def __init__(self, calendar: WorkCalendar | None = None) -> None:
        self.calendar = calendar
        self.day: date | None = None  # the day `known` stands at
        self.known: dict[int, Counter[FlagKey]] = {}

    def standing(self, source: Source, states: Mapping[str, pa.Table], day: date) -> list[Flag]:
        return flags_as_of(source, states, day, self.calendar)

    def _findings(self, source: Source, projects: list[int], day: date) -> dict[int, list[Flag]]:
        found: dict[int, list[Flag]] = {p: [] for p in projects}
        for states in iter_project_states(source, projects, day):
            for flag in flags_as_of(source, states, day, self.calendar):
                found[int(flag.project_id or 0)].append(flag)
        return found

    def first_standing(self, source: Source, day: date) -> list[Flag]:
        before = day - timedelta(days=1)
        if self.day != before:
            self.known = {}
        projects = candidates(source, day)
        missing = [p for p in projects if p not in self.known]
        for pid, flags in self._findings(source, missing, before).items():
            self.known[pid] = Counter(_key(f) for f in flags)
        new = []
        for pid, flags in self._findings(source, projects, day).items():
            stood = Counter(self.known[pid])
            for flag in flags:
                if stood[_key(flag)]:
                    stood[_key(flag)] -= 1
                else:
                    new.append(flag)
            self.known[pid] = Counter(_key(f) for f in flags)
        self.day = day
        return new
