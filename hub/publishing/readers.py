"""Reading what publishers send: OCDS release packages, CSV and NDJSON tables."""

from __future__ import annotations

import codecs
import csv
import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from hub.publishing import penalties, transactions
from hub.publishing.errors import FieldError
from schema.types import RecordKind

log = logging.getLogger(__name__)
SNIFF_BYTES = 64 * 1024
LONE_CR = re.compile(r"(?<=\r)(?!\n)")
CSV_FIELD_LIMIT = 16 * 1024 * 1024  # read big cells whole, so the cell cap names the column
BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark, as Windows editors write it
TABLE_COLUMNS = {
    RecordKind.transaction: (
        transactions.COLUMNS,
        transactions.OPTIONAL_COLUMNS,
        transactions.EXTRA_COLUMNS,
    ),
    RecordKind.penalty: (penalties.COLUMNS, penalties.OPTIONAL_COLUMNS, penalties.EXTRA_COLUMNS),
}
# E-malls add columns of their own (order_status, …): their rows keep them in the payload and
# the handler says so once per file. Penalty tables stay strict: a stray column is a mistake.
KEEPS_UNKNOWN_COLUMNS = frozenset({RecordKind.transaction})


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
    expected = "; ".join(
        f"{kind}: {', '.join(columns)}" for kind, (columns, _, _) in TABLE_COLUMNS.items()
    )
    raise FieldError(
        "header",
        f"{path.name}: the first line names no known kind of record (expected columns for "
        f"{expected}; or an OCDS release package in a .json file); or pass --kind",
    )


def read_releases(path: Path) -> Iterator[Mapping[str, Any]]:
    try:
        # A UTF-8 BOM, as Windows editors write it, read past as the CSV reader does.
        package = orjson.loads(path.read_bytes().removeprefix(BOM))
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
    if kind in KEEPS_UNKNOWN_COLUMNS and not missing:  # else one may be a misspelt missing one
        unknown = []
    duplicated = sorted({c for c in header if c and header.count(c) > 1})
    if duplicated:  # two cells for one name: which one the hub reads would be a guess
        raise FieldError("header", f"columns named twice: {', '.join(duplicated)}")
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing columns {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown columns {', '.join(unknown)}")
        raise FieldError("header", "; ".join(parts) + f" (expected: {', '.join(columns)})")


def read_table(path: Path, kind: RecordKind) -> Iterator[Mapping[str, Any]]:
    """Rows of a CSV (UTF-8 with or without BOM, or GB18030/GBK) or NDJSON file as dicts."""
    if path.suffix in (".ndjson", ".jsonl"):
        yield from _read_ndjson(path)
        return
    with path.open("rb") as handle:
        encoding = sniff_encoding(path.name, handle.read(SNIFF_BYTES))
        handle.seek(0)
        if encoding == "gb18030":
            log.info("%s: read as GB18030 (GBK), not UTF-8", path.name)
        if csv.field_size_limit() < CSV_FIELD_LIMIT:  # the csv module's one global setting
            csv.field_size_limit(CSV_FIELD_LIMIT)
        reader = csv.reader(_decoded_lines(handle, encoding, path.name))
        try:
            header = [h.strip() for h in next(reader, [])]
        except csv.Error as exc:
            raise FieldError("header", f"{path.name}: line 1: {exc}") from None
        check_header(kind, header)
        width = len(header)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # a cell beyond the csv module's limit, or bad quoting
                reason = str(exc)
                if "field limit" in reason:
                    reason = f"a cell is over {csv.field_size_limit():,} characters"
                yield BadRecord(FieldError("row", f"line {reader.line_num}: {reason}"))
                continue
            if len(row) != width:
                if not any(row):
                    continue
                yield BadRecord(
                    FieldError(
                        "row",
                        f"line {reader.line_num} has {len(row)} cells, the header has {width}",
                    )
                )
                continue
            yield dict(zip(header, row, strict=True))


def file_encoding(path: Path) -> str | None:
    """How `read_table` decodes a CSV file (utf-8-sig or gb18030); None when not a CSV or
    unreadable (reading it names the fault)."""
    if path.suffix in (".ndjson", ".jsonl", ".json"):
        return None
    with path.open("rb") as handle:
        try:
            return sniff_encoding(path.name, handle.read(SNIFF_BYTES))
        except FieldError:
            return None


def sniff_encoding(name: str, head: bytes) -> str:
    """utf-8-sig when the file starts as UTF-8 (BOM or not), gb18030 when it starts as
    GB18030/GBK (Chinese Excel's "CSV" export); else FieldError naming the line."""
    try:
        codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    prefix = head[:bad_at]
    if not prefix.isascii():  # UTF-8 text, then a bad sequence: reading names its line
        return "utf-8-sig"
    try:  # nothing multi-byte decoded yet: a GB18030 file looks like this
        codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        pass
    line = prefix.count(b"\n") + 1
    raise FieldError(
        "encoding", f"{name}: line {line} is neither UTF-8 nor GB18030 (GBK); save the file as "
        "UTF-8 CSV",
    )  # fmt: skip


def _decoded_lines(handle: BinaryIO, encoding: str, name: str) -> Iterator[str]:
    """Lines of the file decoded strictly; a bad or truncated sequence names its line."""
    decode = codecs.getdecoder(encoding)
    for number, raw in enumerate(handle, start=1):
        try:
            line = decode(raw)[0]
        except UnicodeDecodeError as exc:
            what = "truncated" if exc.reason == "unexpected end of data" else "invalid"
            codec = "GB18030" if encoding == "gb18030" else "UTF-8"
            raise FieldError(
                "encoding", f"{name}: line {number} has {what} {codec} at byte {exc.start + 1}; "
                "nothing of the file was written",
            ) from None  # fmt: skip
        if line.find("\r") in (-1, len(line) - 2):  # LF or CRLF: the usual case
            yield line
        else:  # a lone CR ends a line too (old Mac Excel), as text mode with newline="" reads
            yield from filter(None, LONE_CR.split(line))


def _read_ndjson(path: Path) -> Iterator[Mapping[str, Any]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if number == 1:
                line = line.removeprefix(BOM)
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield BadRecord(FieldError("line", f"line {number} is not valid JSON: {exc}"))
                continue
            if not isinstance(record, dict):
                yield BadRecord(FieldError("line", f"line {number} is not a JSON object"))
                continue
            yield record
