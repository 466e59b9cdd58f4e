"""One strictness for every door: GraphQL `publish` refuses exactly what an NDJSON file does.

hypothesis builds batches of transaction and penalty records with hostile values (objects
and lists where text belongs, unknown fields, dates with trailing garbage, NUL, huge cells,
out-of-range numbers). Each batch goes once through `publish` on a running hub and once, with
other ids, as an NDJSON file through `ingest_file` (what `caigou ingest` calls), both with
`partial`; the refused positions must agree. All examples run, then the test fails once with
each distinct disagreement (the side that refused, its field and reason) and its smallest
batch. `CAIGOU_TEST_FUZZ_EXAMPLES` scales the number of batches.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from hub.app import create_app
from hub.config import Settings
from hub.publishing import ingest_file
from hub.publishing.publishers import add_publisher
from schema.types import PublisherRole, RecordKind
from tests.factories import penalty, transaction
from tests.hub_server import graphql, running

SCALE = float(os.environ.get("CAIGOU_TEST_FUZZ_EXAMPLES", "1"))
ID = {"transaction": "order_id", "penalty": "record_id"}
HOSTILE = st.one_of(
    st.sampled_from(["", "\x00", "a\x00b", "2024-03-01garbage", "2024-02-30", "9999-12-31",
                     "1e400", "NaN", "-1", "x" * 200_000, "18446744073709551616"]),
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.none(), st.just({"a": 1}), st.just(["x"]), st.text(max_size=12),
)  # fmt: skip
PUBLISH = """mutation ($kind: PublishKind!, $records: [JSON!]!) {
  publish(kind: $kind, records: $records, partial: true) {
    status refusals { position field reason } } }"""


def batch(kind: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    make = transaction if kind == "transaction" else penalty
    keys = list(make())

    def one(n: int, changes: dict[str, Any], extra: bool) -> dict[str, Any]:
        record = {**make(f"R{n}"), **changes}
        return {**record, "surprise": "!"} if extra else record

    record = st.builds(one, st.integers(0, 10**9), st.dictionaries(st.sampled_from(keys), HOSTILE,
                       max_size=2), st.sampled_from([False, False, False, True]))  # fmt: skip
    return st.lists(record, min_size=1, max_size=3)


def with_ids(records: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The same records under other ids, so that neither door sees the other's as duplicates."""
    out = []
    for record in records:
        key = next(k for k in ID.values() if k in record)
        value = record[key]
        out.append({**record, key: prefix + value} if isinstance(value, str) else dict(record))
    return out


def short(record: dict[str, Any], kind: str) -> str:
    """A record as its changes from the good one (a generated id `R<n>` left out)."""
    good = (transaction if kind == "transaction" else penalty)("")
    shown = [f"{k}={str(v)[:30]!r}" for k, v in record.items()
             if good.get(k) != v and not (k in ID.values() and re.fullmatch(r"R\d+", str(v)))]  # fmt: skip
    return "{" + ", ".join(shown) + "}"


@pytest.fixture
def hub(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    tokens = {}
    with engine.begin() as conn:
        for kind, role in (("transaction", PublisherRole.trading_platform),
                           ("penalty", PublisherRole.finance_department)):  # fmt: skip
            _, tokens[kind] = add_publisher(
                conn, f"doors-{kind}", role, ["220000"], [RecordKind(kind)]
            )
    app = create_app(Settings(database_url, str(tmp_path / "exports"), None))
    with running(app) as base:
        yield base, tokens
    app.state.engine.dispose()


def test_publish_refuses_what_the_files_refuse(hub: tuple[str, dict[str, str]], engine: Engine,
                                                tmp_path: Path) -> None:  # fmt: skip
    base, tokens = hub
    found: dict[str, tuple[int, str]] = {}
    sent = 0

    @settings(max_examples=max(1, int(120 * SCALE)), deadline=None, derandomize=True,
              database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(
        st.sampled_from(["transaction", "penalty"]).flatmap(
            lambda k: st.tuples(st.just(k), batch(k))
        )
    )
    def run(example: tuple[str, list[dict[str, Any]]]) -> None:
        nonlocal sent
        sent += 1
        kind, records = example
        answer = graphql(base, PUBLISH, {"kind": kind.upper(), "records": with_ids(records, f"G{sent}-")},
                         tokens[kind])  # fmt: skip
        by_api = {r["position"]: f"{r['field']}: {r['reason']}"
                  for r in (answer.get("data") or {}).get("publish", {}).get("refusals", [])}  # fmt: skip
        path = tmp_path / f"batch-{sent}.ndjson"
        path.write_text(
            "".join(json.dumps(r) + "\n" for r in with_ids(records, f"F{sent}-")), "utf-8"
        )
        try:
            result = ingest_file(engine, path, f"doors-{kind}", kind=RecordKind(kind), partial=True)
            by_file = {r.position: f"{r.field}: {r.reason}" for r in result.refusals}
        except Exception as exc:  # a traceback from the file door: a fault of its own
            by_file = {0: f"traceback {type(exc).__name__}: {exc}"}
        if "errors" in answer:
            by_api = {0: f"error: {answer['errors'][0].get('message')}"}
        whole = [("publish", by_api.pop(0, None)), ("file", by_file.pop(0, None))]
        for side, why in whole:  # a batch-level failure is a fault even when both doors fail
            if why:
                keep(
                    f"the {side} door failed the batch: {re.sub(r'[0-9]+', 'N', why)[:80]}", records
                )
        for position in sorted(set(by_api) ^ set(by_file)):
            side, why = (
                ("file", by_file[position])
                if position in by_file
                else ("publish", by_api[position])
            )
            keep(f"only the {side} refuses: {re.sub(r'[0-9]+', 'N', why)[:80]}",
                 [records[position - 1]])  # fmt: skip

    def keep(signature: str, chosen: list[dict[str, Any]]) -> None:
        kind = "transaction" if "order_id" in chosen[0] else "penalty"
        shown = f"{kind} {'; '.join(short(r, kind) for r in chosen)}"
        if signature not in found or len(shown) < found[signature][0]:
            found[signature] = (len(shown), shown)

    run()
    listing = "\n".join(f"- {s}\n    record: {r}" for s, (_, r) in sorted(found.items()))
    assert not found, (
        f"{len(found)} disagreements between publish and files in {sent} batches:\n{listing}"
    )
