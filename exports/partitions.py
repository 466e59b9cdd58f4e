"""Which rows of each entity make up a day's dump.

Immutable records fall on the Beijing calendar day they were published (a correction
published later lands on its own day, never rewriting an earlier one). Compiled records
(projects, lots, awards, contracts and their suppliers, item lines, evaluation experts)
appear on every day a notice of their project was published, as they stand at cut time;
parties on every day a record names them. Consistency flags fall on the day they were
first found. Projects, parties and flags also get a full snapshot each day.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from exports.arrow import column_list

# Records that name parties come before `parties`: the export gathers the ids they name on
# the way through (a second scan of a million transactions cost more than writing them).
ENTITIES = (
    "notices",
    "projects",
    "lots",
    "awards",
    "contracts",
    "contract_suppliers",
    "project_items",
    "evaluation_experts",
    "penalty_records",
    "transactions",
    "flags",
    "parties",
    "data_quality_issues",
)
PARTY_COLUMNS = {
    "contract_suppliers": ("party_id",),
    "penalty_records": ("subject_id",),
    "transactions": ("purchaser_id", "supplier_id"),
    "flags": ("party_id",),
}
SNAPSHOT_ENTITIES = ("projects", "parties", "flags")


@dataclass(frozen=True)
class Partition:
    """One entity's slice of a day: where its files go and the rows that fill them."""

    entity: str
    folder: str  # relative to the export root, without the date=… part
    where: str  # SQL condition over the entity's table; literals only, from dates and ids

    @property
    def snapshot(self) -> bool:
        return self.folder.startswith("snapshots/")

    @property
    def party_columns(self) -> tuple[str, ...]:
        """Columns naming parties whose ids the day's `parties` partition takes in."""
        return () if self.snapshot else PARTY_COLUMNS.get(self.entity, ())

    def select(self, named_parties: Collection[int] = ()) -> str:
        """The rows in primary-key order: the same data gives the same bytes."""
        named = ", ".join(str(int(i)) for i in sorted(named_parties)) or "NULL"
        where = self.where.replace("{named_parties}", named)
        return f"SELECT {column_list(self.entity)} FROM {self.entity} WHERE {where} ORDER BY id"


def _published_on(column: str, day: date) -> str:
    """Text comparison works on SQLite's ISO text and on PostgreSQL timestamps alike."""
    start, end = day.isoformat(), (day + timedelta(days=1)).isoformat()
    return f"{column} >= '{start}' AND {column} < '{end}'"


def day_partitions(day: date) -> list[Partition]:
    """Every partition written for `day`, dated folders first, then the snapshots."""
    published = _published_on("published_at", day)
    projects = f"SELECT project_id FROM notices WHERE {published}"
    compiled = " UNION ".join(
        [
            f"SELECT purchaser_id FROM projects WHERE id IN ({projects})",
            f"SELECT agency_id FROM projects WHERE id IN ({projects})",
            f"SELECT supplier_id FROM contracts WHERE project_id IN ({projects})",
            "SELECT s.party_id FROM award_suppliers s JOIN awards a ON a.id = s.award_pk "
            f"WHERE a.project_id IN ({projects})",
        ]
    )
    where = {
        "notices": published,
        "projects": f"id IN ({projects})",
        "lots": f"project_id IN ({projects})",
        "awards": f"project_id IN ({projects})",
        "contracts": f"project_id IN ({projects})",
        "contract_suppliers": f"contract_pk IN (SELECT id FROM contracts WHERE project_id IN "
        f"({projects}))",
        "project_items": f"project_id IN ({projects})",
        "evaluation_experts": f"project_id IN ({projects})",
        "parties": f"id IN ({{named_parties}}) OR id IN ({compiled})",
        "penalty_records": published,
        "transactions": published,
        "data_quality_issues": _published_on("detected_at", day),
        # A flag keeps the time it was first found while its finding stands (hub.flags).
        "flags": _published_on("detected_at", day),
    }
    ended = f"'{(day + timedelta(days=1)).isoformat()}'"
    snapshot_where = {
        "projects": f"first_published_at < {ended}",
        "parties": "1 = 1",
        "flags": f"detected_at < {ended}",  # the findings standing when the dump was cut
    }
    return [Partition(entity, entity, where[entity]) for entity in ENTITIES] + [
        Partition(entity, f"snapshots/{entity}", snapshot_where[entity])
        for entity in SNAPSHOT_ENTITIES
    ]
