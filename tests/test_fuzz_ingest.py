"""Ingest fuzzing through `caigou ingest`: every generated file is accepted or refused by name.

hypothesis writes transaction and penalty tables (CSV, NDJSON) and OCDS release packages
from good records with hostile changes: encodings (UTF-8 with and without BOM, GBK, GB18030,
truncated UTF-8), quoting, huge cells, NUL, impossible dates, bad credit-code check
characters, numbers beyond 64 bits, duplicates, unknown or missing columns. Each file goes
through the real command (in-process, so that hundreds fit in a minute) on SQLite and
PostgreSQL. Expected: exit 0 (accepted), 1 (refused, each record named with its field) or 2
(refused, the reason printed); never a traceback; a refused batch changes no count and its
ingestion row ends `rejected` with its report. At the end `caigou flags rebuild` runs over
whatever was accepted. As in tests/test_fuzz_graphql.py, all examples run and the test then
fails once listing each distinct fault with its smallest file.
`CAIGOU_TEST_FUZZ_EXAMPLES` scales the number of files.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, func, select
from typer.testing import CliRunner

from hub.cli.main import app
from schema.tables import INGESTIONS, Notice, Party, PenaltyRecord, Project, Transaction
from tests.factories import penalty, project_releases, transaction

SCALE = float(os.environ.get("CAIGOU_TEST_FUZZ_EXAMPLES", "1"))
ROOT = Path(__file__).resolve().parents[1]
PROJECT_DIRS = {"hub", "schema", "indexer", "exports"}
TABLES = (Transaction, PenaltyRecord, Notice, Project, Party)
TABLE_OF = {"transaction": 0, "penalty": 1, "notice": 2}
PUBLISHERS = {"transaction": "fuzz-mall", "penalty": "fuzz-finance", "notice": "fuzz-site"}
# A record's refusal (`  - record 3 (id): field: reason`), or a whole file's that names the
# part at fault (`x.csv: refused, nothing written: header: …`).
REFUSAL_LINE = re.compile(
    r"^\s+- (record \d+|batch)( \(.*\))?: [^:\s]+: .+|refused, nothing written: [^:\s]+: .+",
    re.MULTILINE,
)

HOSTILE = st.one_of(
    st.sampled_from([
        "", " ", "\x00", "a\x00b", "9999-12-31", "2024-02-30", "0000-00-00", "1900-01-01",
        "2024-03-01T08:00:00+08:00", "2024-03-01garbage", "-1", "0", "1e400", "NaN", "Infinity",
        "18446744073709551616", "99999999999999999999999.99", "-9223372036854775809",
        "0.0000001", "1,000.00", "１２３", "91220101MA0Y12345X", "91220101MA0Y123450",
        "110000", "999999", "=HYPERLINK(\"http://x\")", "\"", "\"\"", "a,b", "a\nb", "a\r\nb",
        "\ufeff", "\ud7ff", "😀", "錕斤拷", "x" * 140_000, "中" * 50_000,
    ]),
    st.text(max_size=30),
    st.integers(-(2**80), 2**80),
    st.sampled_from([{"a": 1}, ["x"], None, True, 1.5]),  # NDJSON and OCDS only: JSON types
)  # fmt: skip
ENCODINGS = st.sampled_from(
    ["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-8-sig", "gbk", "gb18030", "truncated-utf-8"]
)


def mutated(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    keys = list(base)
    return st.builds(
        lambda changes, removed, extra: {
            **{k: v for k, v in {**base, **changes}.items() if k not in removed}, **extra
        },
        st.dictionaries(st.sampled_from(keys), HOSTILE, max_size=3),
        st.lists(st.sampled_from(keys), max_size=1),
        st.sampled_from([{}, {}, {}, {"surprise": "!"}]),
    )  # fmt: skip


def rows(kind: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    """1-4 records; a record may come twice (a duplicate) or its id again with other content."""
    make = transaction if kind == "transaction" else penalty
    one = st.uuids().map(lambda u: make(f"FZ{u.hex[:12].upper()}")).flatmap(
        lambda r: st.one_of(st.just(r), mutated(r))
    )  # fmt: skip

    def repeat(records: list[dict[str, Any]], again: int) -> list[dict[str, Any]]:
        first = records[0]
        other = "agreement_id" if kind == "transaction" else "facts"
        return records + [[], [dict(first)], [{**first, other: "改"}]][again]

    return st.builds(repeat, st.lists(one, min_size=1, max_size=4), st.integers(0, 2))


def releases() -> st.SearchStrategy[list[tuple[Any, str]]]:
    """(release, what was changed) pairs; a release may also be no object at all."""
    keys = ["date", "tag", "ocid", "id", "title", "buyer", "parties", "tender", "awards",
            "contracts", "classified", "planning"]  # fmt: skip

    def one(ocid: str, index: int, changes: dict[str, Any], removed: list[str]) -> tuple[Any, str]:
        release = project_releases(f"ocds-cghub1-FZ{ocid}")[index]
        release = {k: v for k, v in {**release, **changes}.items() if k not in removed}
        shown = [f"{k}={short(v)}" for k, v in changes.items()] + [f"-{k}" for k in removed]
        stage = ("tender", "correction", "result", "contract")[index]
        return release, "{" + ", ".join([stage, *shown]) + "}"

    release = st.builds(one, st.uuids().map(lambda u: u.hex[:10].upper()), st.integers(0, 3),
                        st.dictionaries(st.sampled_from(keys), HOSTILE, max_size=2),
                        st.lists(st.sampled_from(keys), max_size=1))  # fmt: skip
    return st.lists(
        st.one_of(release, release, HOSTILE.map(lambda v: (v, short(v)))), min_size=1, max_size=3
    )


def encode(text: str, encoding: str) -> bytes:
    if encoding == "truncated-utf-8":  # a file cut inside a multibyte character
        data = text.encode("utf-8")
        wide = [i for i in range(1, len(data)) if 0x80 <= data[i] < 0xC0]
        return data[: wide[len(wide) // 2]] if wide else data[:-1]
    return codecs.encode(text, encoding, errors="replace")


def table_text(records: list[dict[str, Any]], quoting: int, header: str) -> str:
    columns: list[str] = []
    for record in records:
        columns += [k for k in record if k not in columns]
    names = columns
    if header == "none":  # a header that names no kind
        names = [
            c.replace("order_id", "order_no").replace("record_id", "record_no") for c in columns
        ]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=quoting)
    writer.writerow(names)
    for record in records:
        cells = [str(record.get(c, "")) for c in columns]
        writer.writerow(cells[:-1] if header == "short" else cells)
    return buffer.getvalue()


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"<{len(str(value)):,} chars {text[:12]}…>"


def describe(records: list[dict[str, Any]], kind: str) -> str:
    """Each record as its changes from the good one, which is all a reader needs."""
    make = transaction if kind == "transaction" else penalty
    out = []
    for record in records:
        good = make(str(record.get("order_id", record.get("record_id", ""))))
        changed = [f"{k}={short(v)}" for k, v in record.items() if good.get(k) != v]
        missing = [f"-{k}" for k in good if k not in record]
        out.append("{" + ", ".join(changed + missing) + "}")
    return "[" + "; ".join(out) + "]"


@st.composite
def files(draw: st.DrawFn) -> tuple[str, str, bytes, str]:
    """(kind, file suffix, content, how it was made)."""
    kind = draw(st.sampled_from(["transaction", "penalty", "notice"]))
    encoding = draw(ENCODINGS)
    if kind == "notice":
        pairs = draw(releases())
        body = [release for release, _ in pairs]
        package = {"uri": "http://fuzz.example.gov.cn/p.json", "version": "1.1",
                   "publishedDate": "2024-04-10T12:00:00+08:00", "publisher": {"name": "fuzz"},
                   "releases": body}  # fmt: skip
        text = json.dumps(package, ensure_ascii=draw(st.booleans()))
        return (
            kind,
            ".json",
            encode(text, encoding),
            f"notice package [{'; '.join(d for _, d in pairs)}] in {encoding}",
        )
    records = draw(rows(kind))
    if draw(st.booleans()):
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        return (
            kind,
            ".ndjson",
            encode(text, encoding),
            f"{kind} ndjson {describe(records, kind)} in {encoding}",
        )
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    header = draw(st.sampled_from(["ok", "ok", "ok", "none", "short"]))
    text = table_text(records, quoting, header)
    made = f"{kind} csv header={header} quoting={quoting} {describe(records, kind)} in {encoding}"
    return kind, ".csv", encode(text, encoding), made


def csv_file(
    kind: str, records: list[dict[str, Any]], encoding: str = "utf-8"
) -> tuple[str, str, bytes, str]:
    text = table_text(records, csv.QUOTE_MINIMAL, "ok")
    return (
        kind,
        ".csv",
        encode(text, encoding),
        f"{kind} csv {describe(records, kind)} in {encoding}",
    )


def ndjson_file(kind: str, records: list[dict[str, Any]]) -> tuple[str, str, bytes, str]:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    return kind, ".ndjson", text.encode(), f"{kind} ndjson {describe(records, kind)}"


def package_file(changes: dict[str, Any], index: int = 0) -> tuple[str, str, bytes, str]:
    release = {**project_releases(f"ocds-cghub1-FZX{index}{len(str(changes))}")[index], **changes}
    package = {
        "version": "1.1",
        "publishedDate": "2024-04-10T12:00:00+08:00",
        "releases": [release],
    }
    shown = ", ".join(f"{k}={short(v)}" for k, v in changes.items())
    return "notice", ".json", json.dumps(package).encode(), f"notice package [{{{shown}}}]"


T, P = transaction, penalty
BAD_CHECK = T()["supplier_uscc"][:-1] + ("0" if T()["supplier_uscc"][-1] != "0" else "1")
# The faults issue 13 lists, always tried before the generated files.
KNOWN = [
    csv_file("transaction", [T("FZK01", item_name="x" * 140_000)]),
    ndjson_file("transaction", [{**T("FZK02"), "quantity": 1, "unit_price": 2**70, "amount": 2**70}]),
    csv_file("transaction", [T("FZK03", order_date="9999-12-31")]),
    csv_file("transaction", [T("FZK04", order_date="2024-02-30")]),
    csv_file("transaction", [T("FZK05", supplier_uscc=BAD_CHECK)]),
    csv_file("transaction", [T("FZK06", item_name="台式\x00计算机")]),
    csv_file("transaction", [T("FZK07")], "gbk"),
    csv_file("penalty", [P("FZK08")], "gb18030"),
    csv_file("transaction", [T("FZK09")], "truncated-utf-8"),
    ("transaction", ".csv", table_text([T("FZK10")], csv.QUOTE_MINIMAL, "none").encode(),
     "transaction csv header without order_id"),
    csv_file("transaction", [T("FZK11"), T("FZK11"), T("FZK11", agreement_id="改")]),
    ndjson_file("penalty", [{**P("FZK12"), "fine_amount": 2**70}]),
    csv_file("transaction", [{**T("FZK13"), "published_at": "9999-12-31T23:59:59"}]),
    package_file({"awards": 5}, 2),
    package_file({"planning": "x"}),
    package_file({"tender": {**project_releases()[0]["tender"], "value": {"amount": 2**70, "currency": "CNY"}}}),
    package_file({"date": "9999-12-31T00:00:00+08:00"}),
]  # fmt: skip


@dataclass
class Fault:
    signature: str
    made: str
    size: int
    output: str


@dataclass
class Hub:
    url: str
    engine: Engine
    folder: Path
    runner: CliRunner = field(default_factory=CliRunner)
    faults: dict[str, Fault] = field(default_factory=dict)

    def counts(self) -> tuple[int, ...]:
        with self.engine.connect() as conn:
            return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                         for t in TABLES)  # fmt: skip

    def last_ingestion(self) -> tuple[int, str, str | None] | None:
        table = INGESTIONS
        with self.engine.connect() as conn:
            row = conn.execute(select(table.c.id, table.c.status, table.c.report)
                               .order_by(table.c.id.desc()).limit(1)).first()  # fmt: skip
        return None if row is None else (row[0], row[1], row[2])

    def caigou(self, *args: str) -> Any:
        """The command in this process; the engine it opens is closed after it, as at exit."""
        opened: set[Engine] = set()

        def seen(conn: Any) -> None:
            opened.add(conn.engine)

        event.listen(Engine, "engine_connect", seen)
        try:
            return self.runner.invoke(app, ["--database-url", self.url, *args])
        finally:
            event.remove(Engine, "engine_connect", seen)
            for engine in opened - {self.engine}:
                engine.dispose()

    def fault(self, signature: str, made: str, size: int, output: str) -> None:
        known = self.faults.get(signature)
        if known is None or size < known.size:
            self.faults[signature] = Fault(signature, made, size, output[-400:])

    def ingest(self, kind: str, suffix: str, content: bytes, made: str, partial: bool) -> None:
        path = self.folder / f"{uuid.uuid4().hex[:8]}{suffix}"
        path.write_bytes(content)
        before, last = self.counts(), self.last_ingestion()
        args = ["ingest", str(path), "--publisher", PUBLISHERS[kind]]
        result = self.caigou(*args, *(["--partial"] if partial else []))
        size, output = len(content), result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            self.fault(_where(result.exception), made, size, f"{result.exception!s:.200}")
            if self.counts() != before:
                self.fault("a failed ingest changed the counts", made, size, output)
            return
        after, logged = self.counts(), self.last_ingestion()
        if result.exit_code == 0:
            accepted = re.search(r"([\d,]+) accepted", output)
            grown = after[TABLE_OF[kind]] - before[TABLE_OF[kind]]
            if accepted is None or grown != int(accepted[1].replace(",", "")):
                self.fault("accepted count differs from the rows written", made, size, output)
            return
        if result.exit_code == 1 and not REFUSAL_LINE.search(output):
            self.fault(
                f"exit 1 without a named record and field: {output[:80]}", made, size, output
            )
        elif result.exit_code not in (1, 2):
            self.fault(f"exit {result.exit_code}", made, size, output)
        if after != before:
            self.fault("a refused file changed the counts", made, size, f"{before} → {after}")
        if logged != last and logged is not None and (logged[1] != "rejected" or not logged[2]):
            self.fault(
                f"ingestion log says {logged[1]} with report {logged[2]!r:.40}", made, size, output
            )


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if _ours(f.filename)] or frames
    place = "?"
    if ours:
        path = Path(ours[-1].filename)
        place = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{ours[-1].lineno}"
    return f"traceback {type(exc).__name__} at {place}"


def _ours(filename: str) -> bool:
    path = Path(filename)
    return path.is_relative_to(ROOT) and path.relative_to(ROOT).parts[0] in PROJECT_DIRS


@pytest.fixture
def hub(database_url: str, engine: Engine, add: Any, tmp_path: Path) -> Hub:
    add(PUBLISHERS["transaction"], "trading_platform", ["220000"], ["transaction"])
    add(PUBLISHERS["penalty"], "finance_department", ["220000"], ["penalty"])
    add(PUBLISHERS["notice"], "regional_site", ["220000"], ["notice"])
    return Hub(database_url, engine, tmp_path)


def test_generated_files_are_accepted_or_refused_by_name(hub: Hub) -> None:
    made = 0

    @settings(max_examples=max(1, int(150 * SCALE)), deadline=None, derandomize=True,
              database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(files(), st.booleans())
    def run(file: tuple[str, str, bytes, str], partial: bool) -> None:
        nonlocal made
        made += 1
        hub.ingest(*file, partial)

    for known in KNOWN:
        run = example(known, False)(run)
    run()
    rebuilt = hub.caigou("flags", "rebuild")
    if rebuilt.exception is not None and not isinstance(rebuilt.exception, SystemExit):
        hub.fault(f"flags rebuild: {_where(rebuilt.exception)}", "the accepted records", 0,
                  f"{rebuilt.exception!s:.200}")  # fmt: skip
    elif rebuilt.exit_code != 0:
        hub.fault(
            f"flags rebuild exit {rebuilt.exit_code}", "the accepted records", 0, rebuilt.output
        )
    listing = "\n".join(f"- {f.signature}\n    file ({f.size:,} bytes): {f.made}\n    output: {f.output!r}"
                        for f in sorted(hub.faults.values(), key=lambda f: f.signature))  # fmt: skip
    assert not hub.faults, f"{len(hub.faults)} distinct faults in {made} files:\n{listing}"
