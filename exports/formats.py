"""The file formats of a dump, each a writer behind one small interface.

A writer takes the entity's record batches in order and, when closed, says how many bytes it
wrote and their SHA-256 (hashed on the way out, never read back). Both formats are
deterministic: nothing in them depends on when or where they were written.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 131_072  # fixed, so the same rows always make the same row groups
ZSTD_LEVEL = 3
BOM = b"\xef\xbb\xbf"  # Chinese Excel reads UTF-8 only with it; pandas, DuckDB, readr skip it
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_START = r"^[=+\-@\t\r]"


@dataclass(frozen=True)
class Written:
    bytes: int
    sha256: str


class HashingSink:
    """A binary file object that hashes and counts what it passes on to `stream`."""

    def __init__(self, stream: pa.NativeFile) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        self.digest.update(data)
        self.size += len(data)
        self.stream.write(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.stream.flush()

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.stream.close()

    def written(self) -> Written:
        return Written(self.size, self.digest.hexdigest())


class Spool:
    """A file object that keeps what is written until taken: a streamed response's chunks."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data, self.buffer = bytes(self.buffer), bytearray()
        return data


class TableWriter(Protocol):
    """One file of one entity's partition, fed tables of `ROW_GROUP_ROWS` rows (the last fewer)."""

    format: str  # also the file suffix

    def write(self, rows: pa.Table) -> None: ...

    def close(self) -> Written: ...

    def abort(self) -> None: ...


class _FileWriter:
    """What both formats share: a pyarrow writer over a hashing sink."""

    writer: Any
    sink: HashingSink

    def close(self) -> Written:
        self.writer.close()
        self.sink.close()
        return self.sink.written()

    def abort(self) -> None:
        """After a failure (a full disk): close without raising, so that pyarrow's finaliser
        does not fail again later; the staged file goes with its staging folder."""
        for part in (self.writer, self.sink):
            with contextlib.suppress(Exception):
                part.close()


class ParquetTableWriter(_FileWriter):
    """Parquet, zstd, one row group per `ROW_GROUP_ROWS` rows, sorted by id (and saying so)."""

    format = "parquet"

    def __init__(self, stream: pa.NativeFile, schema: pa.Schema) -> None:
        self.sink = HashingSink(stream)
        self.writer = pq.ParquetWriter(
            self.sink,
            schema,
            compression="zstd",
            compression_level=ZSTD_LEVEL,
            store_decimal_as_integer=True,
            sorting_columns=[pq.SortingColumn(schema.get_field_index("id"))]
            if "id" in schema.names
            else None,  # computed entities (scores) are sorted by their key columns
        )

    def write(self, rows: pa.Table) -> None:
        self.writer.write_table(rows, row_group_size=ROW_GROUP_ROWS)


def neutralise_formulas(rows: pa.Table) -> pa.Table:
    """Prefix text cells a spreadsheet would run as a formula with an apostrophe.

    Only text columns: a negative amount in a decimal column is a number, not a formula.
    """
    columns = []
    for field, column in zip(rows.schema, rows.columns, strict=True):
        if pa.types.is_string(field.type):
            risky = pc.match_substring_regex(column, FORMULA_START)
            if pc.any(risky).as_py():
                column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=rows.schema)


def to_the_second(schema: pa.Schema) -> pa.Schema:
    """`schema` with every timestamp in seconds: pyarrow's CSV writer then writes
    `2024-01-02 13:20:00`, not `2024-01-02 13:20:00.000000`."""
    return pa.schema(
        [f.with_type(pa.timestamp("s")) if pa.types.is_timestamp(f.type) else f for f in schema],
        metadata=schema.metadata,
    )


class CsvTableWriter(_FileWriter):
    """CSV for people: UTF-8 with BOM, a header of field names, RFC 4180 (quotes, CRLF).

    Times are written to the second (`2024-01-02 13:20:00`): Excel reads that as a date and
    time, while six decimals of a second make it a text cell; DuckDB and pandas read either.
    The Parquet files keep microseconds (DuckDB's own TIMESTAMP), which Parquet stores as a
    timestamp type that every reader converts itself; a fraction of a second is truncated
    in the CSV only.
    """

    format = "csv"

    def __init__(self, stream: pa.NativeFile, schema: pa.Schema) -> None:
        self.sink = HashingSink(stream)
        self.sink.write(BOM)
        self.schema = to_the_second(schema)
        options = pa_csv.WriteOptions(include_header=True, eol="\r\n", quoting_style="needed")
        self.writer = pa_csv.CSVWriter(self.sink, self.schema, write_options=options)

    def write(self, rows: pa.Table) -> None:
        seconds = rows.cast(self.schema, safe=False)  # truncates a fraction of a second
        self.writer.write_table(neutralise_formulas(seconds))


WRITERS: tuple[type[ParquetTableWriter] | type[CsvTableWriter], ...] = (
    ParquetTableWriter,
    CsvTableWriter,
)
