"""Reading what publishers send: OCDS release packages, CSV and NDJSON tables."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from hub.publishing import penalties, transactions
from hub.publishing.errors import FieldError
from schema.types import RecordKind

TABLE_COLUMNS = {
    RecordKind.transaction: (
        transactions.COLUMNS,
        transactions.OPTIONAL_COLUMNS,
        transactions.EXTRA_COLUMNS,
    ),
    RecordKind.penalty: (penalties.COLUMNS, penalties.OPTIONAL_COLUMNS, penalties.EXTRA_COLUMNS),
}


class BadRecord(dict[str, Any]):
    """A line that could not be read at all; the handler refuses it with `error`."""

    def __init__(self, error: FieldError) -> None:
        super().__init__()
        self.error = error


def detect_kind(path: Path) -> RecordKind:
    """notice for a JSON release package; for tables, the header tells."""
    with path.open("rb") as handle:
        head = handle.read(4096).decode("utf-8-sig", errors="replace")
    first = head.lstrip()
    if path.suffix == ".json" or '"releases"' in head:
        return RecordKind.notice
    line = first.splitlines()[0] if first else ""
    if "order_id" in line:
        return RecordKind.transaction
    if "record_id" in line:
        return RecordKind.penalty
    raise FieldError("file", f"{path.name}: cannot tell the record kind; pass --kind")


def read_releases(path: Path) -> Iterator[Mapping[str, Any]]:
    try:
        package = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise FieldError("file", f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(package, dict) or not isinstance(package.get("releases"), list):
        raise FieldError(
            "releases", f"{path.name} is not an OCDS release package (no releases list)"
        )
    for release in package["releases"]:
        yield (
            release
            if isinstance(release, dict)
            else BadRecord(FieldError("release", "not an object"))
        )


def check_header(kind: RecordKind, header: list[str]) -> None:
    columns, optional, extra = TABLE_COLUMNS[kind]
    missing = [c for c in columns if c not in header and c not in optional]
    unknown = [c for c in header if c not in columns and c not in extra]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing columns {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown columns {', '.join(unknown)}")
        raise FieldError("header", "; ".join(parts) + f" (expected: {', '.join(columns)})")


def read_table(path: Path, kind: RecordKind) -> Iterator[Mapping[str, Any]]:
    """Rows of a CSV (UTF-8, BOM or not) or NDJSON file as dicts."""
    if path.suffix in (".ndjson", ".jsonl"):
        yield from _read_ndjson(path, kind)
        return
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        check_header(kind, header)
        width = len(header)
        for row in reader:
            if len(row) != width:
                if not any(row):
                    continue
                yield BadRecord(FieldError("row", f"has {len(row)} cells, the header has {width}"))
                continue
            yield dict(zip(header, row, strict=True))


def _read_ndjson(path: Path, kind: RecordKind) -> Iterator[Mapping[str, Any]]:
    columns, _optional, extra = TABLE_COLUMNS[kind]
    known = set(columns) | extra
    with path.open("rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield BadRecord(FieldError("line", f"not valid JSON: {exc}"))
                continue
            if not isinstance(record, dict):
                yield BadRecord(FieldError("line", "not a JSON object"))
                continue
            unknown = [k for k in record if k not in known]
            if unknown:
                yield BadRecord(FieldError(unknown[0], "unknown field"))
                continue
            yield record
