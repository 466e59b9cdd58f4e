"""The field catalogue: every public field's name, type, Chinese label and description.

Read back from the table declarations, so GraphQL, search mappings, Arrow schemas and the
data dictionary all derive from the one place a field is declared.
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import dataclass

from sqlmodel import SQLModel

from schema.flags import FlagRow
from schema.projects import AwardSupplierRow, ContractSupplierRow
from schema.scores import TransparencyScore
from schema.tables import (
    Award,
    Contract,
    ContractSupplier,
    DataQualityIssue,
    EvaluationExpert,
    Flag,
    Lot,
    Notice,
    Party,
    PenaltyRecord,
    Project,
    ProjectItem,
    Publisher,
    Transaction,
)

ENTITIES: dict[str, type[SQLModel]] = {
    "projects": Project,
    "notices": Notice,
    "lots": Lot,
    "awards": Award,
    "contracts": Contract,
    "contract_suppliers": ContractSupplier,
    "project_items": ProjectItem,
    "evaluation_experts": EvaluationExpert,
    "parties": Party,
    "penalty_records": PenaltyRecord,
    "transactions": Transaction,
    "publishers": Publisher,
    "data_quality_issues": DataQualityIssue,
    "flags": Flag,
    "transparency_scores": TransparencyScore,  # computed, not stored: no table
}
# What the dumps write of each entity: the same models, but the supplier links as rows keyed
# by project and natural ids (their tables key them by the database's award_pk/contract_pk).
EXPORTED: dict[str, type[SQLModel]] = {
    **ENTITIES,
    "award_suppliers": AwardSupplierRow,
    "contract_suppliers": ContractSupplierRow,
    "flags": FlagRow,  # with the finding's key (flags of a past day may have no stored id)
}


@dataclass(frozen=True)
class FieldSpec:
    entity: str
    name: str
    python_type: type
    nullable: bool
    label: str
    description: str


def _unwrap(annotation: object) -> tuple[type, bool]:
    """(type, nullable) from `X | None` or `X`."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False  # type: ignore[return-value]


def public_fields(entity: str) -> list[FieldSpec]:
    """The fields of `entity` that the API, search and dumps may show, in declared order."""
    return list(_fields(entity, ENTITIES[entity], exported_only=False))


def exported_fields(entity: str) -> list[FieldSpec]:
    """The fields the dumps write of `entity`: public, and not a compiled row's surrogate id
    (`field(..., exported=False)`), in declared order."""
    return list(_fields(entity, EXPORTED[entity], exported_only=True))


@functools.cache
def _fields(entity: str, model: type[SQLModel], *, exported_only: bool) -> tuple[FieldSpec, ...]:
    """Read once per entity: the search index asks for every document it builds."""
    specs = []
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if not extra.get("public", True) or (exported_only and not extra.get("exported", True)):
            continue
        python_type, nullable = _unwrap(info.annotation)
        specs.append(
            FieldSpec(
                entity, name, python_type, nullable, info.title or name, info.description or ""
            )
        )
    return tuple(specs)
