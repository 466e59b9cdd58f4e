"""Each compiled entity as it stood at the end of a day, from the notices published up to it.

The ingest compiles a project's current state; a dump of a past day (a backfill above all)
needs the state as it was then. Both come from one pure function
(`schema.compiled.compile_notices`), here fed only the notices with `published_at` before
the next day: the compiled tables are never read, so a later award or signing cannot leak
into an earlier day. Parties are found, never created, by the rules the ingest resolved them
with (credit code, else normalised name: `schema.compiled.party_by_name`); party ids are
stable, so a past version names the same party as today.

`changed_projects` also counts a notice received on a day but published before it: the
earlier days were already dumped without it, so the day it arrives carries the new state.
In a backfill (everything already received) that day's rows repeat the state already dated
earlier; a writer may skip rows equal to the version they replace.

Everything is read through the export's `Source` (one snapshot for the whole export), a
chunk of projects at a time, so 100k projects never sit in memory at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
import pyarrow as pa

from exports.arrow import entity_schema
from exports.partitions import end_of, id_list, start_of
from exports.source import Source, as_datetime
from schema.codes import CodeError, check_uscc, normalise_name
from schema.compiled import CODE_SCHEMES, CompiledProject, compile_notices, party_by_name
from schema.types import PartyRole

# In write order: a project before its children, an award before its suppliers.
COMPILED_ENTITIES = (
    "projects",
    "lots",
    "awards",
    "award_suppliers",
    "contracts",
    "contract_suppliers",
    "project_items",
    "evaluation_experts",
)
# The natural key of each entity's rows (a project's own id is stable, never renumbered).
KEYS: dict[str, tuple[str, ...]] = {
    "projects": ("id",),
    "lots": ("project_id", "lot_id"),
    "awards": ("project_id", "award_id"),
    "award_suppliers": ("project_id", "award_id", "party_id"),
    "contracts": ("project_id", "contract_id"),
    "contract_suppliers": ("project_id", "contract_id", "party_id"),
    "project_items": ("project_id", "section", "award_id", "position"),
    "evaluation_experts": ("project_id", "award_id", "position"),
}
CHUNK = 500  # projects per read: a few MB of payloads


@dataclass(frozen=True)
class _Notice:
    id: int
    notice_type: str
    published_at: datetime
    payload: dict[str, Any]


def _text(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values) or "NULL"


def changed_projects(source: Source, day: date) -> list[int]:
    """Projects whose as-of state changed on `day`: a notice published that day, or received
    that day while published before it (a late arrival changes the day it arrives)."""
    start, end = start_of(day), end_of(day)
    sql = (
        "SELECT DISTINCT project_id FROM notices WHERE "
        f"(published_at >= {start} AND published_at < {end}) OR "
        f"(received_at >= {start} AND received_at < {end} AND published_at < {start}) "
        "ORDER BY project_id"
    )
    return [int(row[0]) for row in source.rows(sql)]


def project_states(source: Source, project_ids: Sequence[int], day: date) -> dict[str, pa.Table]:
    """Every compiled entity's rows of `project_ids` as of the end of `day`, sorted by KEYS.

    A project without a notice published by then has no rows (it did not exist yet).
    """
    parts: dict[str, list[pa.Table]] = defaultdict(list)
    for chunk in iter_project_states(source, project_ids, day):
        for entity, table in chunk.items():
            parts[entity].append(table)
    return {e: _sorted(pa.concat_tables(parts[e]), e) if parts[e] else _empty(e)
            for e in COMPILED_ENTITIES}  # fmt: skip


def iter_project_states(
    source: Source, project_ids: Sequence[int], day: date, chunk: int = CHUNK
) -> Iterator[dict[str, pa.Table]]:
    """`project_states` a chunk of projects at a time (ids in ascending order), for callers
    that write as they go."""
    ordered = sorted(set(project_ids))
    for i in range(0, len(ordered), chunk):
        rows = _chunk_rows(source, ordered[i : i + chunk], day)
        yield {e: _sorted(pa.Table.from_pylist(rows[e], schema=entity_schema(e)), e)
               for e in COMPILED_ENTITIES}  # fmt: skip


def _chunk_rows(source: Source, ids: Sequence[int], day: date) -> dict[str, list[dict]]:
    notices: dict[int, list[_Notice]] = defaultdict(list)
    sql = (
        "SELECT project_id, id, notice_type, published_at, payload FROM notices "
        f"WHERE project_id IN ({id_list(ids)}) AND published_at < {end_of(day)} "
        "ORDER BY project_id, published_at, id"
    )
    for project_id, notice_id, notice_type, published_at, payload in source.rows(sql):
        notices[int(project_id)].append(
            _Notice(int(notice_id), notice_type, as_datetime(published_at), orjson.loads(payload))
        )
    known = source.rows(f"SELECT id, ocid, region_code FROM projects WHERE id IN ({id_list(ids)})")
    lookup = PartyFinder(source, [n.payload for ns in notices.values() for n in ns])
    rows: dict[str, list[dict]] = {e: [] for e in COMPILED_ENTITIES}
    for project_id, ocid, region_code in sorted(known):
        if not notices.get(project_id):
            continue
        compiled = compile_notices(project_id, notices[project_id], lookup)
        _collect(rows, compiled, {"id": project_id, "ocid": ocid, "region_code": region_code})
    return rows


def _collect(rows: dict[str, list[dict]], compiled: CompiledProject, own: dict) -> None:
    rows["projects"].append({**own, **compiled.project})
    for entity in COMPILED_ENTITIES[1:]:
        rows[entity] += getattr(compiled, entity)


def _sorted(table: pa.Table, entity: str) -> pa.Table:
    return table.sort_by([(key, "ascending") for key in KEYS[entity]])


def _empty(entity: str) -> pa.Table:
    return entity_schema(entity).empty_table()


class PartyFinder:
    """A read-only party lookup for compile_notices: the party the ingest resolved, or None.

    Loads, in one query, the parties the given releases could name (by credit code or
    normalised name); never creates one. A credit code finds its party (one named earlier
    without a code got it then). A name alone is decided on today's parties, which can
    differ from the ingest's moment in two rare cases, both needing two coded parties of
    one name: the party meant got its code later (then None), or a party of that name
    without a code was created since (then that one).
    """

    def __init__(self, source: Source, releases: Iterable[dict[str, Any]]) -> None:
        codes: set[str] = set()
        names: set[str] = set()
        for release in releases:
            for party in release.get("parties") or []:
                if not isinstance(party, dict):
                    continue
                code = self._code(party)
                if code:
                    codes.add(code)
                elif isinstance(party.get("name"), str):
                    names.add(normalise_name(party["name"]))
        self.by_code: dict[str, int] = {}
        self.by_name: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
        if not codes and not names:
            return
        by_code, by_name = _text(sorted(codes)), _text(sorted(names))
        sql = (
            "SELECT id, name_normalised, uscc FROM parties "
            f"WHERE uscc IN ({by_code}) OR name_normalised IN ({by_name}) ORDER BY id"
        )
        for party_id, key, uscc in source.rows(sql):
            if uscc is not None:
                self.by_code[uscc] = int(party_id)
            self.by_name[key].append((int(party_id), uscc))

    @staticmethod
    def _code(party: dict[str, Any]) -> str | None:
        given = party.get("identifier")
        identifier: dict[str, Any] = given if isinstance(given, dict) else {}
        code = identifier.get("id") if identifier.get("scheme") in CODE_SCHEMES else None
        return _canonical(str(code)) if code else None

    def __call__(
        self, name: str, code: str | None, region: str | None, role: PartyRole
    ) -> int | None:
        if code:
            canonical = _canonical(code)
            return self.by_code.get(canonical) if canonical else None
        return party_by_name(self.by_name.get(normalise_name(name), []))


def _canonical(code: str) -> str | None:
    try:
        return check_uscc(code.strip())
    except CodeError:
        return None
