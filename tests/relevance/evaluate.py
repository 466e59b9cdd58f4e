"""The judged relevance set: judgments, the records they name, and precision at 10.

A judgment names the records that must appear in the top 10 of a query either one by one,
by business keys that survive a rebuild of the database (`relevant`), or by criteria a record
must meet (`criteria`: any 10 of the records meeting any one of them). Both resolve against
the records as SQL reads them, never against what a search backend returns.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from indexer.search import KINDS, SearchBackend, SearchRequest
from indexer.text import parse_query
from schema.codes import item_catalogue

JUDGMENTS = Path(__file__).with_name("judgments.json")
TOP = 10
TARGETS = {"elasticsearch": 0.9, "embedded": 0.8}  # mean P@10 each backend must reach
DEFINITION = (
    "P@10 = |top 10 ∩ judged| / min(10, |judged|), judged = the listed records plus every "
    "record meeting a criterion (criterion-form queries: any 10 of them count)"
)
Key = tuple[str, int]  # (kind, database pk): only ever derived from business keys

# Each kind's business fields, as a human assessor reads them (joined names, not ids).
SQL = {
    "transaction": """
        SELECT t.id, t.order_id, pub.name AS publisher, t.channel, t.item_name, t.brand,
               t.model, t.category_code, t.region_code, t.order_date,
               p.name AS purchaser_name, p.uscc AS purchaser_uscc,
               s.name AS supplier_name, s.uscc AS supplier_uscc
        FROM transactions t JOIN publishers pub ON pub.id = t.publisher_id
        JOIN parties p ON p.id = t.purchaser_id JOIN parties s ON s.id = t.supplier_id""",
    "notice": """
        SELECT n.id, n.release_id, n.ocid, n.notice_type, n.title, n.full_text,
               pr.project_code, pr.title AS project_title, pr.procurement_method_details,
               pr.category_code, pr.region_code, pp.name AS purchaser_name,
               pa.name AS agency_name
        FROM notices n JOIN projects pr ON pr.id = n.project_id
        LEFT JOIN parties pp ON pp.id = pr.purchaser_id
        LEFT JOIN parties pa ON pa.id = pr.agency_id""",
    "party": """
        SELECT p.id, p.name, p.uscc, p.region_code,
               (SELECT group_concat(r.role, ' ') FROM party_roles r WHERE r.party_id = p.id)
               AS roles
        FROM parties p""",
    "penalty": """
        SELECT r.id, r.record_id, pub.name AS publisher, r.kind AS penalty_kind,
               r.subject_name, s.uscc AS subject_uscc, r.authority_name, r.decision_number,
               r.facts, r.legal_basis, r.penalty, r.region_code, r.ocid
        FROM penalty_records r JOIN publishers pub ON pub.id = r.publisher_id
        JOIN parties s ON s.id = r.subject_id""",
}
# The fields that identify one record of each kind; a `relevant` entry gives all of them.
IDENTITY = {
    "transaction": ("order_id", "publisher"),
    "notice": ("release_id",),
    "party": ("uscc", "name"),  # either one
    "penalty": ("record_id", "publisher"),
}


def fold(value: Any) -> str:
    """Width- and case-folded text, as a reader compares it (Ａ４ = a4 = A4)."""
    return unicodedata.normalize("NFKC", "" if value is None else str(value)).lower()


@dataclass(frozen=True)
class Judgment:
    id: str
    query: str
    intent: str
    kinds: tuple[str, ...] = KINDS
    relevant: tuple[Mapping[str, str], ...] = ()
    criteria: tuple[Mapping[str, Any], ...] = ()


def load_judgments(path: Path = JUDGMENTS) -> list[Judgment]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for entry in raw["queries"]:
        out.append(
            Judgment(
                id=entry["id"],
                query=entry["query"],
                intent=entry["intent"],
                kinds=tuple(entry.get("kinds", KINDS)),
                relevant=tuple(entry.get("relevant", ())),
                criteria=tuple(entry.get("criteria", ())),
            )
        )
    if len({j.id for j in out}) != len(out):
        raise ValueError(f"{path}: judgment ids repeat")
    return out


def _test(operator: str, expected: Any) -> Callable[[Any], bool]:
    """One comparison of a criterion: `contains` (every given string), `equals`, `in`,
    `startswith`, `excludes` (none of the given strings); text compared folded."""
    wanted = [fold(e) for e in (expected if isinstance(expected, list) else [expected])]
    if operator == "contains":
        return lambda value: all(w in fold(value) for w in wanted)
    if operator == "excludes":
        return lambda value: not any(w in fold(value) for w in wanted)
    if operator in ("equals", "in"):
        return lambda value: fold(value) in wanted
    if operator == "startswith":
        return lambda value: any(fold(value).startswith(w) for w in wanted)
    raise ValueError(f"unknown criterion operator {operator!r}")


@dataclass
class Records:
    """Every record of the demo database with its business fields, by kind and pk."""

    rows: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: Connection) -> Records:
        catalogue = item_catalogue()
        rows: dict[str, dict[int, dict[str, Any]]] = {}
        for kind, statement in SQL.items():
            rows[kind] = {r.id: dict(r._mapping) for r in conn.execute(text(statement))}
            for row in rows[kind].values():
                item = catalogue.get(row.get("category_code") or "")
                row["category_name"] = item.name if item else None
        return cls(rows)

    def resolve(self, key: Mapping[str, str]) -> Key:
        """The record a `relevant` entry names; a key that names none or several is an error."""
        kind = key["kind"]
        given = {k: v for k, v in key.items() if k != "kind"}
        if not given or not set(given) <= set(IDENTITY[kind]):
            raise ValueError(f"{dict(key)}: identify a {kind} by {', '.join(IDENTITY[kind])}")
        found = [
            pk
            for pk, row in self.rows[kind].items()
            if all(row.get(k) == v for k, v in given.items())
        ]
        if len(found) != 1:
            raise ValueError(f"{dict(key)} names {len(found)} records, not one")
        return kind, found[0]

    def matching(self, criterion: Mapping[str, Any]) -> set[Key]:
        """The records meeting every `<field>_<operator>` of `criterion` (fields: SQL above)."""
        kind = criterion["kind"]
        tests: list[tuple[str, Callable[[Any], bool]]] = []
        for name, expected in criterion.items():
            if name == "kind":
                continue
            column, _, operator = name.rpartition("_")
            if column not in self.rows[kind][next(iter(self.rows[kind]))]:
                raise ValueError(f"{kind} records have no field {column!r} ({name})")
            tests.append((column, _test(operator, expected)))
        return {
            (kind, pk)
            for pk, row in self.rows[kind].items()
            if all(check(row[column]) for column, check in tests)
        }

    def judged(self, judgment: Judgment) -> set[Key]:
        """The records judged relevant to `judgment`; never empty."""
        keys = {self.resolve(k) for k in judgment.relevant}
        for criterion in judgment.criteria:
            keys |= self.matching(criterion)
        if not keys:
            raise ValueError(f"judgment {judgment.id} ({judgment.query}) judges no record")
        return keys

    def label(self, key: Key) -> str:
        """A short human description of a record, for reports."""
        kind, pk = key
        row = self.rows[kind][pk]
        if kind == "transaction":
            return (
                f"{row['item_name']} {row['brand'] or ''} {row['model']} ({row['supplier_name']})"
            )
        if kind == "notice":
            return str(row["title"])
        if kind == "party":
            return f"{row['name']} {row['uscc'] or ''}"
        return f"{row['record_id']} {row['subject_name']} {row['penalty_kind']}"


def precision_at_10(top: Sequence[Key], judged: set[Key]) -> float:
    return len(set(top[:TOP]) & judged) / min(TOP, len(judged))


@dataclass(frozen=True)
class Score:
    judgment: Judgment
    judged: int  # how many records are judged relevant
    top: tuple[Key, ...]  # the backend's top 10
    misses: tuple[Key, ...]  # of those, the ones not judged relevant
    missing: tuple[Key, ...]  # judged records absent from the top 10 (listed judgments)
    precision: float


def evaluate(
    backend: SearchBackend, records: Records, judgments: Iterable[Judgment]
) -> list[Score]:
    """Each judgment's query on `backend`, by relevance, scored against its judged set."""
    scores = []
    for judgment in judgments:
        judged = records.judged(judgment)
        request = SearchRequest(parse_query(judgment.query), kinds=judgment.kinds, size=TOP)
        top = tuple((hit.kind, hit.pk) for hit in backend.search(request).hits[:TOP])
        misses = tuple(key for key in top if key not in judged)
        missing = tuple(sorted(judged - set(top))) if len(judged) <= TOP else ()
        precision = precision_at_10(top, judged)
        scores.append(Score(judgment, len(judged), top, misses, missing, precision))
    return scores


def mean(scores: Sequence[Score]) -> float:
    return sum(s.precision for s in scores) / len(scores) if scores else 0.0
