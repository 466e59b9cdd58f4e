"""On the demo data, the hub flags every irregularity the generator planted, and at high
severity nothing else: both directions, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from hub.demo import DemoFiles, generate
from hub.demo.load import load_demo
from hub.demo.planted import ADDED_KINDS, DRAWN_CODES, OUTLIER_KIND
from hub.flags.engine import rebuild
from schema.tables import FLAGS, PROJECTS, TRANSACTIONS

SIZE = {"projects": 60, "transactions": 4_000, "penalties": 40}

Key = tuple[str, str]  # (flag code, ocid or order_id)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate(tmp_path_factory.mktemp("demo"), **SIZE)


def raised(engine: Engine) -> list[tuple[str, str, str]]:
    """(code, severity, business key) of every flag in the database."""
    query = select(FLAGS.c.code, FLAGS.c.severity, PROJECTS.c.ocid, TRANSACTIONS.c.order_id)
    query = query.select_from(
        FLAGS.outerjoin(PROJECTS, PROJECTS.c.id == FLAGS.c.project_id).outerjoin(
            TRANSACTIONS, TRANSACTIONS.c.id == FLAGS.c.transaction_id
        )
    )
    with engine.connect() as conn:
        return [(r.code, r.severity, r.ocid or r.order_id) for r in conn.execute(query)]


def test_the_manifest_lists_every_kind_and_matches_the_files(demo: DemoFiles) -> None:
    out = demo.batches[0].path.parent
    manifest = json.loads((out / "planted-flags.json").read_text("utf-8"))
    assert manifest["as_of"] == str(demo.flags_as_of)
    assert manifest["flags"] == [f.as_json() for f in demo.planted]
    kinds = {f.kind for f in demo.planted}
    assert kinds >= {*DRAWN_CODES, *ADDED_KINDS, OUTLIER_KIND}
    planted = json.loads((out / "planted.json").read_text("utf-8"))
    drawn = {(DRAWN_CODES[k], ocid) for k, ocids in planted.items() for ocid in ocids}
    assert drawn <= {(f.code, f.ocid) for f in demo.planted}


def test_every_planted_irregularity_is_flagged_and_nothing_else_high(
    engine: Engine, demo: DemoFiles
) -> None:
    for batch, result in load_demo(engine, demo):
        assert result.rejected == 0, (batch.path.name, result.refusals[:3])
    assert demo.flags_as_of is not None
    rebuild(engine, today=demo.flags_as_of)
    flags = raised(engine)
    planted: set[Key] = {(f.code, f.ocid or f.order_id) for f in demo.planted}
    found: set[Key] = {(code, key) for code, _, key in flags}
    assert planted - found == set()  # every planted irregularity is flagged with its code
    high = {(code, key) for code, severity, key in flags if severity == "high"}
    assert high - planted == set()  # nothing else at high severity
    # medium findings are planted too; low ones (documents not published with the result)
    # are the ordinary state of most demo projects
    medium = {(code, key) for code, severity, key in flags if severity == "medium"}
    assert medium - planted == set()


def test_a_day_earlier_only_the_missing_contracts_are_not_yet_flagged(
    engine: Engine, demo: DemoFiles
) -> None:
    """`as_of` is the first day all show: a day earlier, a missing contract is not yet late."""
    for batch, result in load_demo(engine, demo):
        assert result.rejected == 0, batch.path.name
    assert demo.flags_as_of is not None
    rebuild(engine, today=demo.flags_as_of - timedelta(days=1))
    found = {(code, key) for code, _, key in raised(engine)}
    missing = {(f.code, f.ocid or f.order_id) for f in demo.planted} - found
    assert missing and {code for code, _ in missing} == {"AWARD_WITHOUT_CONTRACT"}
