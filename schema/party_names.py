"""The name and credit code published beside every party id: their fields, declared once.

A researcher reading `transactions.csv` alone should see who bought and who sold, not
`purchaser_id = 812`. Each party id column (schema.relations) is followed by `<stem>_name`
(parties.name, the name the party was first published under) and `<stem>_uscc` (统一社会
信用代码, empty when none was ever published), labelled from the id field's own label:
采购人 → 采购人名称, 采购人统一社会信用代码.

Where the entity already has a `<stem>_name` (penalty_records.subject_name, the name as the
finance department wrote it), the hub's name goes to `<stem>_party_name` instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from schema.catalogue import FieldSpec, exported_fields
from schema.relations import party_id_columns

NAME_LABEL = "名称"
NAME_LABEL_TAKEN = "主体名称"  # when `<label>名称` is another field's label already
USCC_LABEL = "统一社会信用代码"


def _stem(column: str) -> str:
    return column.removesuffix("_id")


def name_fields(entity: str, id_field: FieldSpec, taken: Sequence[str]) -> tuple[FieldSpec, ...]:
    """The two fields that follow party id `id_field`; `taken` are the entity's other names."""
    stem, label = _stem(id_field.name), id_field.label
    name, name_label = f"{stem}_name", f"{label}{NAME_LABEL}"
    if name in taken:
        name, name_label = f"{stem}_party_name", f"{label}{NAME_LABEL_TAKEN}"
    return (
        FieldSpec(
            entity, name, str, True, name_label,
            f"Name of the party in {id_field.name} as the hub holds it (parties.name: the name "
            "it was first published under).",
        ),
        FieldSpec(
            entity, f"{stem}_uscc", str, True, f"{label}{USCC_LABEL}",
            f"Unified social credit code (统一社会信用代码) of the party in {id_field.name} "
            "(parties.uscc); empty when none has been published.",
        ),
    )  # fmt: skip


def published_fields(entity: str, fields: Sequence[FieldSpec] | None = None) -> list[FieldSpec]:
    """`fields` (the entity's exported fields by default) with each party id's name and credit
    code right after it: the columns of the dumps, for their Arrow schema and datapackage."""
    given = list(exported_fields(entity) if fields is None else fields)
    names = [f.name for f in given]
    party_ids = set(party_id_columns(entity))
    published: list[FieldSpec] = []
    for spec in given:
        published.append(spec)
        if spec.name in party_ids:
            published.extend(name_fields(entity, spec, names))
    return published
