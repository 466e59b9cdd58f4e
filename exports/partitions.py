"""Which rows make up a day's dump, and where each file of the layout goes.

One tree per format (`parquet/`, `csv/`), so a folder reader never meets the other format:

- `<fmt>/<record>/date=D/` immutable records published on Beijing day D (a correction
  published later lands on its own day, never rewriting an earlier one); consistency flags
  on the day their finding first stood (computed as of each day by the hook the hub passes:
  exports.flagrows; without it, by the day the stored flag was first found);
- `<fmt>/changes/<compiled>/date=D/` the as-of state of every project that changed on D
  (exports.versions);
- `<fmt>/snapshots/<entity>/date=<month end>/` the full state at each month's last day;
- `<fmt>/history/<compiled>.<fmt>` and `<fmt>/current/<entity>.<fmt>`, rebuilt after each
  export (exports.derived).
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from exports.arrow import column_list

FORMATS = ("parquet", "csv")
# Published once, never revised: each row sits in the folder of the day it was published.
RECORDS = ("notices", "penalty_records", "transactions", "data_quality_issues", "flags")
# Full state at each month end and in current/, besides the compiled entities.
STATE_ENTITIES = ("parties", "flags", "transparency_scores")
SCORES = "transparency_scores"


@dataclass(frozen=True)
class Partition:
    """One entity's rows for a file: the table and the condition that selects them."""

    entity: str
    where: str  # SQL condition over the entity's table; literals only, from dates

    def select(self) -> str:
        """The rows in primary-key order: the same data gives the same bytes."""
        return (
            f"SELECT {column_list(self.entity)} FROM {self.entity} WHERE {self.where} ORDER BY id"
        )


def data_path(fmt: str, folder: str, entity: str, day: date | None = None) -> str:
    """`parquet/transactions/date=D/transactions.parquet`; without a day, `<fmt>/<folder>/
    <entity>.<fmt>` (history/ and current/)."""
    if day is None:
        return f"{fmt}/{folder}/{entity}.{fmt}"
    return f"{fmt}/{folder}/date={day.isoformat()}/{entity}.{fmt}"


def id_list(values: Iterable[int]) -> str:
    """Ids for `IN (…)`: integers only, so nothing but digits reaches the SQL; NULL for none."""
    return ", ".join(str(int(v)) for v in values) or "NULL"


def start_of(day: date) -> str:
    """The first instant of `day`, as text both dialects compare correctly."""
    return f"'{day.isoformat()}'"


def end_of(day: date) -> str:
    """The first instant after `day`, as text both dialects compare correctly."""
    return f"'{(day + timedelta(days=1)).isoformat()}'"


def _published_on(column: str, day: date, last: date | None = None) -> str:
    """From `day` to `last` (default: that day), Beijing time. Text comparison works on
    SQLite's ISO text and on PostgreSQL timestamps alike."""
    return f"{column} >= {start_of(day)} AND {column} < {end_of(last or day)}"


def month_end(day: date) -> bool:
    """Full snapshots are cut on the last day of each month."""
    return day.day == calendar.monthrange(day.year, day.month)[1]


def record_partitions(
    day: date, last: date | None = None, late: Mapping[str, list[int]] | None = None
) -> list[Partition]:
    """The immutable records of `day` (or of `day` to `last`: a month's workbooks), and the
    `late` ones by id (exports.late: arrived on `day` after their own day was dumped)."""
    where = {
        "notices": _published_on("published_at", day, last),
        "penalty_records": _published_on("published_at", day, last),
        "transactions": _published_on("published_at", day, last),
        "data_quality_issues": _published_on("detected_at", day, last),
        # A flag keeps the time it was first found while its finding stands (hub.flags).
        "flags": _published_on("detected_at", day, last),
    }
    for entity, ids in (late or {}).items():
        if ids:
            where[entity] = f"({where[entity]}) OR id IN ({id_list(ids)})"
    return [Partition(entity, where[entity]) for entity in RECORDS]


def named_parties(day: date, compiled: Collection[int], flagged: str = "") -> str:
    """The ids of parties named by the end of `day`: by a transaction or penalty record
    published by then, or by the compiled state as of then (`compiled`: the party ids of the
    rows exports.asof computed, never today's compiled tables, where a later award's supplier
    already stands). A party appears in a snapshot from the day it is first named; `flagged`
    narrows the stored flags counted (the as-of project flags' parties are in `compiled`)."""
    end = end_of(day)
    return " UNION ".join(
        [
            f"SELECT purchaser_id FROM transactions WHERE published_at < {end}",
            f"SELECT supplier_id FROM transactions WHERE published_at < {end}",
            f"SELECT subject_id FROM penalty_records WHERE published_at < {end}",
            f"SELECT party_id FROM flags WHERE {flagged}detected_at < {end}",  # standing flags'
            f"SELECT id FROM parties WHERE id IN ({id_list(sorted(compiled))})",
        ]
    )


def state_partitions(
    day: date, compiled_parties: Collection[int], *, as_of_flags: bool = False
) -> list[Partition]:
    """Parties and standing flags as of the end of `day` (scores are computed: exports.scores);
    `compiled_parties`: the parties the compiled state (and its as-of flags) as of that day
    names. With `as_of_flags` the project flags are computed by the caller (hub.flags.asof):
    only the transaction flags are read, by the day they were first found."""
    flagged = "transaction_id IS NOT NULL AND " if as_of_flags else ""
    return [
        Partition("parties", f"id IN ({named_parties(day, compiled_parties, flagged)})"),
        # The findings standing when the day ended, as far as today's flags tell.
        Partition("flags", f"{flagged}detected_at < {end_of(day)}"),
    ]
