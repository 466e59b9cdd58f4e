"""Excel workbooks of the dumps: one per entity per month, and one per current table.

Excel opening a CSV turns `91220000123456789X`-like codes that happen to be all digits into
numbers (losing leading zeros and digits past the 15th) and reads microseconds as text. A
workbook says what each cell is: every text column is written as text cells (credit codes,
order ids, division and category codes stay text), money as numbers shown with two decimals,
dates and times as Excel dates to the second; the header cell is the Chinese label and the
English name, `采购人 (purchaser_id)`.

Built from the Parquet files already published, so a workbook never disagrees with them:
`xlsx/<entity>/month=YYYY-MM/<entity>.xlsx` from that month's `parquet/<entity>/date=…/`
once the month's last day is exported, and `xlsx/current/<entity>.xlsx` from
`parquet/current/<entity>.parquet`. A workbook holds at most `MAX_ROWS` data rows (Excel's
limit is 1,048,576 rows with the header); beyond, `<entity>-part2.xlsx`, `-part3`, ….
XlsxWriter's constant_memory mode writes row by row (memory bounded by one batch), and the
document's creation time is the data's day, so the same data gives the same bytes.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import xlsxwriter  # type: ignore[import-untyped]

from exports.formats import HashingSink
from exports.manifest import FileEntry
from exports.storage import Store

MAX_ROWS = 1_000_000  # data rows per workbook: a round number under Excel's 1,048,576
MAX_CELL_CHARS = 32_767  # Excel's limit for one cell; longer text is cut, marked with …
BIGGEST_EXACT = 10**15  # Excel keeps 15 significant digits: larger integers go as text
FORMATS = {
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm:ss",
    "money": "#,##0.00",
    "price": "#,##0.00##",  # unit prices to 0.0001 yuan, two places at least
}
WIDTHS = {"date": 11, "datetime": 19, "money": 16, "price": 14, "text": 24, "number": 10}
OPTIONS = {
    "constant_memory": True,
    "strings_to_numbers": False,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "nan_inf_to_errors": True,
}

Cell = Callable[[Any, int, int, Any], None]  # (worksheet, row, column, value)


def completed_month(day: date) -> str | None:
    """'YYYY-MM' when `day` is its month's last day: that month's workbooks can be built."""
    last = calendar.monthrange(day.year, day.month)[1]
    return f"{day:%Y-%m}" if day.day == last else None


def header(field: pa.Field) -> str:
    """`采购人 (purchaser_id)`: the Chinese label for people, the name for code."""
    label = (field.metadata or {}).get(b"label_zh", b"").decode()
    return f"{label} ({field.name})" if label else field.name


def _kind(field: pa.Field) -> str:
    t = field.type
    if pa.types.is_decimal(t):
        return "money" if t.scale <= 2 else "price" if t.scale == 4 else "number"
    if pa.types.is_timestamp(t):
        return "datetime"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "number"
    return "text"


def _text(sheet: Any, row: int, column: int, value: Any) -> None:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    sheet.write_string(row, column, text)


def _number(cell_format: Any) -> Cell:
    def write(sheet: Any, row: int, column: int, value: Any) -> None:
        too_big = isinstance(value, int) and abs(value) >= BIGGEST_EXACT
        if too_big or (isinstance(value, float) and not math.isfinite(value)):
            sheet.write_string(row, column, str(value))
        else:
            sheet.write_number(row, column, value, cell_format)

    return write


def _boolean(sheet: Any, row: int, column: int, value: Any) -> None:
    sheet.write_boolean(row, column, value)


def _moment(cell_format: Any) -> Cell:
    def write(sheet: Any, row: int, column: int, value: Any) -> None:
        sheet.write_datetime(row, column, value, cell_format)

    return write


def _cells(workbook: Any, schema: pa.Schema) -> list[Cell]:
    formats = {k: workbook.add_format({"num_format": v}) for k, v in FORMATS.items()}
    writers: list[Cell] = []
    for field in schema:
        kind = _kind(field)
        if kind == "text":
            writers.append(_text)
        elif kind == "boolean":
            writers.append(_boolean)
        elif kind in ("date", "datetime"):
            writers.append(_moment(formats[kind]))
        else:
            writers.append(_number(formats.get(kind)))
    return writers


def _python_columns(batch: pa.RecordBatch) -> list[list[Any]]:
    """The batch's columns as Python values Excel takes: decimals as floats, times cut to
    the second, dates as midnight datetimes."""
    columns = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        kind = _kind(field)
        if pa.types.is_decimal(field.type):
            column = column.cast(pa.float64())
        elif kind == "datetime":
            column = column.cast(pa.timestamp("s", tz=field.type.tz), safe=False)
            if field.type.tz is not None:
                column = column.cast(pa.timestamp("s"))  # Excel has no time zones
        elif kind == "date":
            column = column.cast(pa.timestamp("s"))
        columns.append(column.to_pylist())
    return columns


def _part_path(folder: str, stem: str, part: int) -> str:
    return f"{folder}/{stem}.xlsx" if part == 1 else f"{folder}/{stem}-part{part}.xlsx"


class _Part:
    """One workbook being written: a single sheet, the header frozen with a filter."""

    def __init__(
        self, store: Store, staging: str, path: str, schema: pa.Schema, sheet: str,
        created: datetime,
    ) -> None:  # fmt: skip
        self.path = path
        self.sink = HashingSink(store.open_output(f"{staging}/{path}"))
        self.workbook = xlsxwriter.Workbook(self.sink, OPTIONS)
        self.workbook.set_properties({"created": created, "title": sheet})
        self.sheet = self.workbook.add_worksheet(sheet[:31])
        self.cells = _cells(self.workbook, schema)
        self.width = len(schema)
        bold = self.workbook.add_format({"bold": True})
        for column, field in enumerate(schema):
            self.sheet.set_column(column, column, WIDTHS.get(_kind(field), 10))
        for column, field in enumerate(schema):
            self.sheet.write_string(0, column, header(field), bold)
        self.sheet.freeze_panes(1, 0)
        self.rows = 0

    def write(self, values: list[Any]) -> None:
        self.rows += 1
        for column, (cell, value) in enumerate(zip(self.cells, values, strict=True)):
            if value is not None:
                cell(self.sheet, self.rows, column, value)

    def close(self, entity: str) -> FileEntry:
        self.sheet.autofilter(0, 0, max(self.rows, 1), max(self.width - 1, 0))
        self.workbook.close()
        self.sink.close()
        written = self.sink.written()
        return FileEntry(self.path, entity, "xlsx", self.rows, written.bytes, written.sha256)


def write_workbooks(
    store: Store, staging: str, folder: str, entity: str, schema: pa.Schema,
    batches: Iterable[pa.RecordBatch], created: datetime, *, max_rows: int = MAX_ROWS,
) -> list[FileEntry]:  # fmt: skip
    """Write `batches` into `folder/<stem>.xlsx` (then `-part2`, … every `max_rows` rows)
    under `staging`; returns their entries (paths relative to the export root)."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, not {max_rows}")
    stem = entity.rsplit("/", 1)[-1]
    parts = [_Part(store, staging, _part_path(folder, stem, 1), schema, stem, created)]
    entries: list[FileEntry] = []
    for batch in batches:
        for values in zip(*_python_columns(batch), strict=True):
            if parts[-1].rows == max_rows:
                entries.append(parts[-1].close(entity))
                path = _part_path(folder, stem, len(parts) + 1)
                parts.append(_Part(store, staging, path, schema, stem, created))
            parts[-1].write(list(values))
    entries.append(parts[-1].close(entity))
    return entries


def _read(store: Store, path: str) -> pq.ParquetFile:
    return pq.ParquetFile(store.fs.open_input_file(store.path(path)))


def _conform(batch: pa.RecordBatch, schema: pa.Schema, path: str) -> pa.RecordBatch:
    """A batch of an older file in the newest file's columns (a column added since: empty)."""
    if batch.schema.names == schema.names:
        return batch.cast(schema) if not batch.schema.equals(schema) else batch
    columns = []
    for field in schema:
        if field.name in batch.schema.names:
            columns.append(batch.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(batch.num_rows, field.type))
    extra = set(batch.schema.names) - set(schema.names)
    if extra:
        raise ValueError(f"{path}: columns {sorted(extra)} are not in the month's newest file")
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _batches(store: Store, paths: list[str], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    for path in paths:
        for batch in _read(store, path).iter_batches(batch_size=65_536):
            yield _conform(batch, schema, path)


def month_files(store: Store, entity: str, month: str, parquet_root: str = "parquet") -> list[str]:
    """The month's day files of `entity`, oldest day first."""
    folder, stem = f"{parquet_root}/{entity}", entity.rsplit("/", 1)[-1]
    days = [n for n in store.list(folder) if n.startswith(f"date={month}-")]
    paths = [f"{folder}/{day}/{stem}.parquet" for day in days]
    return [p for p in paths if store.exists(p)]


def write_month_workbooks(
    store: Store, staging: str, month: str, entities: Iterable[str], *,
    parquet_root: str = "parquet", max_rows: int = MAX_ROWS,
) -> list[FileEntry]:  # fmt: skip
    """`xlsx/<entity>/month=YYYY-MM/<entity>.xlsx` for each entity with day files that month
    (`entities` as under `parquet/`: `transactions`, `changes/awards`); none for an entity
    without files. Written under `staging`, to be moved into place with the day's files."""
    year, number = (int(p) for p in month.split("-"))
    created = datetime(year, number, calendar.monthrange(year, number)[1])
    entries: list[FileEntry] = []
    for entity in entities:
        paths = month_files(store, entity, month, parquet_root)
        if not paths:
            continue
        schema = _read(store, paths[-1]).schema_arrow
        folder = f"xlsx/{entity}/month={month}"
        batches = _batches(store, paths, schema)
        entries += write_workbooks(
            store, staging, folder, entity, schema, batches, created, max_rows=max_rows
        )
    return entries


def write_current_workbooks(
    store: Store, staging: str, entities: Iterable[str], as_of: date, *,
    parquet_root: str = "parquet/current", max_rows: int = MAX_ROWS,
) -> list[FileEntry]:  # fmt: skip
    """`xlsx/current/<entity>.xlsx` from `<parquet_root>/<entity>.parquet` (the state at the
    end of `as_of`, the document's creation time); pass `parquet_root` under staging to
    build from files not yet moved into place."""
    created = datetime.combine(as_of, time())
    entries: list[FileEntry] = []
    for entity in entities:
        path = f"{parquet_root}/{entity}.parquet"
        if not store.exists(path):
            continue
        schema = _read(store, path).schema_arrow
        batches = _batches(store, [path], schema)
        entries += write_workbooks(
            store, staging, "xlsx/current", entity, schema, batches, created, max_rows=max_rows
        )
    return entries


def _flat(parts: Iterable[pa.RecordBatch | pa.Table]) -> Iterator[pa.RecordBatch]:
    for part in parts:
        yield from (part.to_batches() if isinstance(part, pa.Table) else [part])


def month_end_workbooks(
    store: Store, staging: str, day: date, written: Iterable[FileEntry],
    records: Iterable[tuple[str, pa.Schema, Iterable[pa.RecordBatch | pa.Table]]],
    *, max_rows: int = MAX_ROWS,
) -> list[FileEntry]:  # fmt: skip
    """On a month's last day, with its files still in `staging` (`written`): each record's
    month, `xlsx/<record>/month=YYYY-MM/`, from `records` (entity, schema, the month's rows,
    read from the database: the same whatever order the month's days were exported in), and
    each month-end snapshot, `xlsx/snapshots/<entity>/date=D/`. Moved into place with the
    day's files, listed in its manifest."""
    month = completed_month(day)
    if month is None:
        return []
    today = f"date={day.isoformat()}"
    created = datetime.combine(day, time())
    entries: list[FileEntry] = []
    for entity, schema, parts in records:
        entries += write_workbooks(store, staging, f"xlsx/{entity}/month={month}", entity,
                                   schema, _flat(parts), created, max_rows=max_rows)  # fmt: skip
    staged = sorted(e.path for e in written if e.format == "parquet")
    for path in (p for p in staged if p.startswith("parquet/snapshots/")):
        entity = path.split("/")[2]
        schema = _read(store, f"{staging}/{path}").schema_arrow
        batches = _batches(store, [f"{staging}/{path}"], schema)
        entries += write_workbooks(store, staging, f"xlsx/snapshots/{entity}/{today}", entity,
                                   schema, batches, created, max_rows=max_rows)  # fmt: skip
    return entries
