"""Flag rows in the dumps: every row keyed by its finding, stored or computed as of a day.

A stored flag keeps its id while its finding stands (hub.flags.engine), but a finding that
stood on a past day and was withdrawn since has no stored flag, so rows are identified by
`flag_key`: the finding the engine matches flags on (rule code, project, transaction, party,
triggering notices), as text. The as-of flags come from a hook the hub passes in
(`AsOfFlags`, implemented by hub.flags.asof): `exports/` never imports the rules.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any, Protocol

import orjson
import pyarrow as pa

from exports.arrow import entity_schema, to_export
from exports.partitions import Partition, id_list
from exports.source import Source
from schema.flags import Flag

ENTITY = "flags"
KEY = "flag_key"


class AsOfFlags(Protocol):
    """The project flags as they stood at the end of a day (hub.flags.asof.FlagDays)."""

    def first_standing(self, source: Source, day: date) -> list[Flag]:
        """The findings standing at the end of `day` that did not at the end of the day before."""
        ...

    def standing(self, source: Source, states: Mapping[str, pa.Table], day: date) -> list[Flag]:
        """The findings standing at the end of `day` on the projects of `states`
        (exports.asof.project_states)."""
        ...


def key_text(
    code: str, project: Any, transaction: Any, party: Any, notices: Any, evidence: Any = None
) -> str:
    """The finding as text: `CODE|project|transaction|party|notice ids`, empty where none,
    then the ids its evidence names (`|award_id=ZB2`: two awards of one result notice are two
    findings, whichever day each first stood)."""
    parts = (code, project, transaction, party, notices)
    base = "|".join("" if p is None else str(p) for p in parts)
    named = _named_ids(evidence)
    return f"{base}|{named}" if named else base


def _named_ids(evidence: Any) -> str:
    """`award_id=ZB1;lot_ids=1,2`: the evidence's `…_id`/`…_ids` entries, by name."""
    if not evidence:
        return ""
    found = orjson.loads(evidence) if isinstance(evidence, str | bytes) else evidence
    if not isinstance(found, dict):
        return ""
    named = []
    for name in sorted(found):
        if name.endswith(("_id", "_ids")):
            value = found[name]
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            named.append(f"{name}={text}")
    return ";".join(named)


class Keys:
    """Numbers equal findings (a rule may find the same thing twice in one project): the
    second gets `#2`, and so on, in the order the rows come."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def __call__(self, base: str) -> str:
        self.seen[base] += 1
        count = self.seen[base]
        return base if count == 1 else f"{base}#{count}"


def keyed(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Stored flags (exported columns, `flag_key` empty) with their keys filled in."""
    keys = Keys()
    names = ("code", "project_id", "transaction_id", "party_id", "notice_ids", "evidence")
    for batch in batches:
        columns = [batch.column(n).to_pylist() for n in names]
        filled = pa.array([keys(key_text(*row)) for row in zip(*columns, strict=True)],
                          pa.string())  # fmt: skip
        index = batch.schema.get_field_index(KEY)
        yield batch.set_column(index, batch.schema.field(index), filled)


def partition_batches(source: Source, part: Partition) -> Iterator[pa.RecordBatch]:
    """A partition's rows in export types; flags with their keys."""
    batches = (to_export(b, part.entity) for b in source.batches(part.select(), part.entity))
    return keyed(batches) if part.entity == ENTITY else batches


def _stored(source: Source, project_ids: Iterable[int]) -> dict[str, list[int]]:
    """The stored flag ids of these projects by finding, in id order."""
    found: dict[str, list[int]] = defaultdict(list)
    ids = sorted(set(project_ids))
    for start in range(0, len(ids), 1000):
        for r in source.rows(
            "SELECT id, code, project_id, transaction_id, party_id, notice_ids, evidence "
            "FROM flags "
            f"WHERE project_id IN ({id_list(ids[start : start + 1000])}) ORDER BY id"
        ):
            found[key_text(*r[1:])].append(int(r[0]))
    return found


def flag_table(source: Source, flags: list[Flag]) -> pa.Table:
    """As-of findings as dump rows, in their order: each with the id of the stored flag of
    the same finding when one stands now (else empty) and its key."""
    stored = _stored(source, [f.project_id for f in flags if f.project_id is not None])
    keys = Keys()
    rows = []
    for flag in flags:
        base = key_text(flag.code, flag.project_id, flag.transaction_id, flag.party_id,
                        flag.notice_ids, flag.evidence)  # fmt: skip
        same = stored.get(base)
        row = flag.model_dump()
        row["id"] = same.pop(0) if same else None
        row[KEY] = keys(base)
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=entity_schema(ENTITY))
