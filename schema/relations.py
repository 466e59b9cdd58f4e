"""How the exported tables join: every key from one entity to another, declared once.

The keys follow the open-data layout of issue 15: compiled entities (projects and what is
compiled from their notices) are published without the database's surrogate ids, so a child
points at its parent by `project_id` (projects.id, never renumbered) and the parent's natural
id within the project (`award_id`, `contract_id`, `lot_id`). Every party id is a `parties.id`.

`checked` says whether every non-empty value is guaranteed to be found in the target: only
those keys go into `datapackage.json` as Frictionless foreign keys, since Frictionless checks
a composite key unless all of its parts are empty (a contract without an award would fail
`(project_id, award_id)`), and a key the hub does not guarantee would fail on true data.
The others are documented (docs/open-data-tables.md) for joining, with why they may miss.
"""

from __future__ import annotations

from dataclasses import dataclass

PARTIES = "parties"


@dataclass(frozen=True)
class Relation:
    """`entity.fields` refer to `resource.target` (the entity itself for a self-reference)."""

    entity: str
    fields: tuple[str, ...]
    resource: str
    target: tuple[str, ...]
    checked: bool = True  # every non-empty value is found in the target
    note: str = ""  # why a key is not checked, or what it means

    @property
    def to_party(self) -> bool:
        return self.resource == PARTIES and self.target == ("id",)


def _parties(entity: str, *columns: str) -> tuple[Relation, ...]:
    return tuple(Relation(entity, (c,), PARTIES, ("id",)) for c in columns)


def _in_project(entity: str, parent: str, key: str, *, optional: bool = False) -> Relation:
    """A child's key to its parent within the same project."""
    note = f"empty when the {entity} row names no {parent[:-1]}" if optional else ""
    return Relation(entity, ("project_id", key), parent, ("project_id", key), not optional, note)


def _to_project(entity: str) -> Relation:
    return Relation(entity, ("project_id",), "projects", ("id",))


RELATIONS: tuple[Relation, ...] = (
    *_parties("projects", "purchaser_id", "agency_id"),
    _to_project("notices"),
    Relation("notices", ("supersedes_id",), "notices", ("id",)),
    _to_project("lots"),
    _to_project("awards"),
    _in_project("award_suppliers", "awards", "award_id"),
    *_parties("award_suppliers", "party_id"),
    _to_project("contracts"),
    _in_project("contracts", "awards", "award_id", optional=True),
    *_parties("contracts", "supplier_id"),
    _in_project("contract_suppliers", "contracts", "contract_id"),
    *_parties("contract_suppliers", "party_id"),
    _to_project("project_items"),
    _in_project("project_items", "awards", "award_id", optional=True),
    _in_project("project_items", "lots", "lot_id", optional=True),
    _to_project("evaluation_experts"),
    Relation("evaluation_experts", ("notice_id",), "notices", ("id",)),
    _in_project("evaluation_experts", "awards", "award_id", optional=True),
    *_parties("penalty_records", "subject_id"),
    Relation(
        "penalty_records", ("ocid",), "projects", ("ocid",), False,
        "the project a finance department names may not have been published to the hub",
    ),
    *_parties("transactions", "purchaser_id", "supplier_id"),
    Relation(
        "transactions", ("publisher_id", "return_of"), "transactions",
        ("publisher_id", "order_id"), False,
        "a return (退货) of an order the hub does not hold is kept, with the data-quality "
        "issue return_without_original; empty for a purchase",
    ),
    _to_project("flags"),
    *_parties("flags", "party_id"),
    Relation("flags", ("transaction_id",), "transactions", ("id",)),
    *_parties("transparency_scores", "party_id"),
)  # fmt: skip


def relations(entity: str) -> tuple[Relation, ...]:
    """The keys from `entity` to other entities (or itself), in declared order."""
    return tuple(r for r in RELATIONS if r.entity == entity)


def party_id_columns(entity: str) -> tuple[str, ...]:
    """The columns of `entity` holding a `parties.id`."""
    return tuple(r.fields[0] for r in relations(entity) if r.to_party)
