"""Flags and transparency scores over HTTP, in the dumps and in search, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import chinese_calendar
import orjson
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, delete, event, select, text

from exports.arrow import entity_schema, export_fields
from exports.flagrows import Keys, key_text
from exports.party_names import named_schema
from exports.write import export_day
from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from hub.flags import rebuild, recompute_project
from hub.flags.engine import enqueue_notices
from hub.read.cursors import global_id
from schema.ocds import utc_now_beijing
from schema.tables import FLAGS
from tests.conftest import fresh_database
from tests.hub_server import graphql, running
from tests.indexing import caught_up


@dataclass
class Hub:
    base: str
    engine: Engine
    folder: Path

    def data(self, query: str, variables: dict | None = None) -> dict:
        answer = graphql(self.base, query, variables)
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    def sql(self, statement: str, **params: object) -> list:
        with self.engine.connect() as conn:
            return conn.execute(text(statement), params).all()

    def statements(self, query: str, variables: dict) -> tuple[dict, int]:
        """The answer and the SQL statements it cost (the ETag's data version aside)."""
        seen: list[str] = []

        def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
            seen.append(statement)

        event.listen(self.engine, "before_cursor_execute", count)
        try:
            found = self.data(query, variables)
        finally:
            event.remove(self.engine, "before_cursor_execute", count)
        return found, len([s for s in seen if "ingestions" not in s])


@pytest.fixture(scope="module")
def hub(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    folder = tmp_path_factory.mktemp(f"flags-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        app = create_app(Settings(url, str(folder / "exports"), None))
        engine: Engine = app.state.engine
        files = generate(folder / "demo", projects=40, transactions=1_500, penalties=30)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        rebuild(engine)
        with running(app) as base:
            yield Hub(base, engine, folder)
        engine.dispose()


PAGE = """query($first: Int, $after: String, $filter: FlagFilter, $order: FlagOrder) {
  flags(first: $first, after: $after, filter: $filter, orderBy: $order) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id code severity detectedAt evidence project { ocid } notices { id } }
  }
}"""


def _all_pages(hub: Hub, variables: dict, size: int) -> list[dict]:
    found, after = [], None
    while True:
        page = hub.data(PAGE, {**variables, "first": size, "after": after})["flags"]
        found += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def test_flags_filter_and_pages_equal_sql(hub: Hub) -> None:
    everything = _all_pages(hub, {}, 7)
    expected = hub.sql("SELECT id, code FROM flags ORDER BY detected_at DESC, id DESC")
    assert [global_id("Flag", r.id) for r in expected] == [f["id"] for f in everything]
    assert len(expected) > 7, "the demo data raises flags"
    code = expected[0].code
    narrowed = _all_pages(hub, {"filter": {"code": code.lower(), "regionCode": "220000"},
                                "order": {"field": "ID", "direction": "ASC"}}, 3)  # fmt: skip
    rows = hub.sql(
        "SELECT f.id FROM flags f LEFT JOIN projects p ON p.id = f.project_id "
        "LEFT JOIN transactions t ON t.id = f.transaction_id WHERE f.code = :code "
        "AND (p.region_code LIKE '22%' OR t.region_code LIKE '22%') ORDER BY f.id",
        code=code,
    )
    assert [f["id"] for f in narrowed] == [global_id("Flag", r.id) for r in rows] != []
    medium = hub.data(PAGE, {"first": 1, "filter": {"severity": "MEDIUM"}})["flags"]
    [(count,)] = hub.sql("SELECT count(*) FROM flags WHERE severity = 'medium'")
    assert medium["totalCount"] == count


def test_a_flag_shows_its_evidence_and_the_notices_it_cites(hub: Hub) -> None:
    [row] = hub.sql("SELECT * FROM flags WHERE notice_ids IS NOT NULL ORDER BY id LIMIT 1")
    flag = hub.data(
        "query($id: ID!) { node(id: $id) { ... on Flag { code evidence notices { id title } "
        "project { ocid } } } }",
        {"id": global_id("Flag", row.id)},
    )["node"]
    assert flag["evidence"] == orjson.loads(row.evidence)
    cited = [int(i) for i in row.notice_ids.split(",")]
    assert [n["id"] for n in flag["notices"]] == [global_id("Notice", i) for i in cited]
    assert [n["id"] for n in flag["evidence"]["notices"]] == cited


def test_project_and_party_flags_are_batched(hub: Hub) -> None:
    projects = """query($n: Int) { projects(first: $n, orderBy: {field: ID, direction: ASC}) {
      nodes { ocid flags { code severity notices { id } party { name } project { ocid } } } } }"""
    counts = {}
    for size in (5, 40):
        found, counts[size] = hub.statements(projects, {"n": size})
        for project in found["projects"]["nodes"]:
            rows = hub.sql(
                "SELECT f.code FROM flags f JOIN projects p ON p.id = f.project_id "
                "WHERE p.ocid = :ocid",
                ocid=project["ocid"],
            )
            assert sorted(f["code"] for f in project["flags"]) == sorted(r.code for r in rows)
    assert counts[5] == counts[40] <= 6
    suppliers = """query($n: Int) { parties(first: $n) { nodes { name
      flags { code transaction { orderId supplier { name } } }
      purchased: flags(as: PURCHASER) { code } } } }"""
    for size in (5, 100):
        found, counts[size] = hub.statements(suppliers, {"n": size})
    assert counts[5] == counts[100] <= 7
    [(flagged,)] = hub.sql("SELECT count(DISTINCT party_id) FROM flags")
    named = [p for p in found["parties"]["nodes"] if p["flags"]]
    assert len(named) == min(flagged, len(named)) and any(p["purchased"] for p in
                                                          found["parties"]["nodes"])  # fmt: skip


SCORES = """query($group: ScoreGroup!) { transparencyScores(groupBy: $group, first: 100) {
  rank score completeness timeliness consistency pushTimeliness projects regionCode
  party { id } } }"""


def _expected_scores(hub: Hub, today: date) -> dict[int, dict[str, float | None]]:
    """The README's formulas, computed again in plain SQL per purchaser (all months)."""
    cutoff = datetime.combine(today - timedelta(days=30), datetime.min.time())
    has = "EXISTS (SELECT 1 FROM notices n WHERE n.project_id = p.id AND n.notice_type = '{}')"
    res, con, docs = has.format("result"), has.format("contract"), has.format("documents")
    opened = (f"CASE WHEN p.procurement_method = 'limited' THEN {has.format('single_source')} "
              f"ELSE ({has.format('tender')} OR {has.format('single_source')}) END")  # fmt: skip
    out = f"({res} OR {con})"
    docs_due = f"({res} AND (p.procurement_method IS NULL OR p.procurement_method <> 'limited'))"
    late_result = ("EXISTS (SELECT 1 FROM notices n WHERE n.project_id = p.id AND "
                   "n.notice_type = 'result' AND n.published_at < :cutoff)")  # fmt: skip
    contract_due = f"({late_result} AND NOT {has.format('termination')})"
    rows = hub.sql(f"""
      SELECT p.purchaser_id AS party, count(*) AS projects,
        sum(CASE WHEN {out} THEN 1 ELSE 0 END + CASE WHEN {con} THEN 1 ELSE 0 END
          + CASE WHEN {docs_due} THEN 1 ELSE 0 END + CASE WHEN {contract_due} THEN 1 ELSE 0 END)
          AS n_req,
        sum(CASE WHEN {out} AND {opened} THEN 1 ELSE 0 END
          + CASE WHEN {con} AND {res} THEN 1 ELSE 0 END
          + CASE WHEN {docs_due} AND {docs} THEN 1 ELSE 0 END
          + CASE WHEN {contract_due} AND {con} THEN 1 ELSE 0 END) AS n_ok,
        sum(5 + (SELECT 3 * count(*) FROM awards a WHERE a.project_id = p.id
                 AND (a.status IS NULL OR a.status = 'active'))
              + (SELECT 3 * count(*) FROM contracts c WHERE c.project_id = p.id)) AS f_req,
        sum((CASE WHEN p.title IS NULL THEN 0 ELSE 1 END)
          + (CASE WHEN p.purchaser_id IS NULL THEN 0 ELSE 1 END)
          + (CASE WHEN p.budget IS NULL THEN 0 ELSE 1 END)
          + (CASE WHEN p.procurement_method IS NULL THEN 0 ELSE 1 END)
          + (CASE WHEN p.category_code IS NULL THEN 0 ELSE 1 END)
          + (SELECT count(a.amount) + count(a.decision_date) FROM awards a
             WHERE a.project_id = p.id AND (a.status IS NULL OR a.status = 'active'))
          + (SELECT count(*) FROM awards a WHERE a.project_id = p.id
             AND (a.status IS NULL OR a.status = 'active')
             AND EXISTS (SELECT 1 FROM award_suppliers s WHERE s.award_pk = a.id))
          + (SELECT count(c.amount) + count(c.date_signed) + count(c.supplier_id)
             FROM contracts c WHERE c.project_id = p.id)) AS f_ok,
        sum((SELECT count(*) FROM awards a WHERE a.project_id = p.id
             AND a.decision_date IS NOT NULL AND (a.status IS NULL OR a.status <> 'pending'))
          + (SELECT count(*) FROM contracts c WHERE c.project_id = p.id
             AND c.date_signed IS NOT NULL)) AS deadlines,
        sum((SELECT count(*) FROM flags f WHERE f.project_id = p.id
             AND f.code IN ('RESULT_LATE', 'CONTRACT_LATE') AND f.severity <> 'low')) AS late,
        sum(CASE WHEN EXISTS (SELECT 1 FROM flags f WHERE f.project_id = p.id
             AND f.severity IN ('high', 'medium')) THEN 1 ELSE 0 END) AS flagged
      FROM projects p WHERE p.purchaser_id IS NOT NULL GROUP BY p.purchaser_id""",
        cutoff=cutoff,
    )  # fmt: skip
    arrivals: dict[int, list[bool]] = defaultdict(list)
    for party, published, received in hub.sql(  # relayed deliveries (design §4, issue 17)
        "SELECT p.purchaser_id, s.first_published_at, s.received_at FROM record_sources s "
        "JOIN publishers u ON u.id = s.publisher_id "
        "JOIN notices n ON n.id = s.record_id AND s.kind = 'notice' "
        "JOIN projects p ON p.id = n.project_id "
        "WHERE p.purchaser_id IS NOT NULL AND s.original_publisher <> u.name"
    ):
        published, received = (v if isinstance(v, datetime) else datetime.fromisoformat(v)
                               for v in (published, received))  # fmt: skip
        days = [published.date() + timedelta(days=i + 1)
                for i in range((received.date() - published.date()).days)]  # fmt: skip
        arrivals[party].append(sum(chinese_calendar.is_workday(d) for d in days) <= 1)
    expected = {}
    for row in rows:
        r = SimpleNamespace(**{k: int(v) for k, v in row._mapping.items()})
        shares = {
            "completeness": (r.n_ok + r.f_ok) / (r.n_req + r.f_req),
            "timeliness": (r.deadlines - r.late) / r.deadlines if r.deadlines else None,
            "consistency": (r.projects - r.flagged) / r.projects,
            "pushTimeliness": sum(arrivals[r.party]) / len(arrivals[r.party])
            if arrivals[r.party] else None,
        }  # fmt: skip
        known = [v for v in shares.values() if v is not None]
        expected[r.party] = {**shares, "score": sum(known) / len(known), "projects": r.projects}
    return expected


def test_scores_equal_an_independent_sql_computation(hub: Hub) -> None:
    expected = _expected_scores(hub, utc_now_beijing().date())
    found = hub.data(SCORES, {"group": "PURCHASER"})["transparencyScores"]
    assert len(found) == min(len(expected), 100) > 3
    for row in found:
        [(party,)] = hub.sql("SELECT id FROM parties WHERE id = :i", i=_pk(row["party"]["id"]))
        for name, value in expected[party].items():
            assert row[name] == pytest.approx(value), (party, name)
    scores = [row["score"] for row in found]
    assert scores == sorted(scores, reverse=True) and found[0]["rank"] == 1
    assert any(e["consistency"] < 1 for e in expected.values()), "some projects are flagged"


def _pk(value: str) -> int:
    from hub.read.cursors import parse_global_id

    return parse_global_id(value)[1]


def test_regions_rank_and_trend_month_by_month(hub: Hub) -> None:
    regions = hub.data(SCORES, {"group": "REGION"})["transparencyScores"]
    [(total,)] = hub.sql("SELECT count(*) FROM projects WHERE region_code IS NOT NULL")
    assert sum(r["projects"] for r in regions) == total
    trend = hub.data("""{ transparencyTrend(regionCode: "220000", from: "2000-01") {
        month projects score } }""")["transparencyTrend"]  # fmt: skip
    months = defaultdict(int)
    for (when,) in hub.sql("SELECT first_published_at FROM projects WHERE region_code LIKE '22%'"):
        months[str(when)[:7]] += 1
    assert {m["month"]: m["projects"] for m in trend if m["projects"]} == dict(months)
    assert [m["month"] for m in trend] == sorted(m["month"] for m in trend)


def test_flags_dump_round_trip(hub: Hub) -> None:
    with hub.engine.connect() as conn:
        latest = conn.execute(select(FLAGS.c.detected_at).order_by(FLAGS.c.id.desc())).scalar()
        day = (latest if isinstance(latest, datetime) else datetime.fromisoformat(latest)).date()
        start = datetime.combine(day, datetime.min.time())
        columns = [FLAGS.c[f.name] for f in export_fields("flags") if f.name in FLAGS.c]
        query = select(*columns).where(
            FLAGS.c.detected_at >= start, FLAGS.c.detected_at < start + timedelta(days=1)
        )
        keys = Keys()  # the dumps' key of each finding (exports.flagrows)
        expected = [
            {**r._mapping, "flag_key": keys(key_text(r.code, r.project_id, r.transaction_id,
                                                     r.party_id, r.notice_ids, r.evidence))}
            for r in conn.execute(query.order_by(FLAGS.c.id))
        ]  # fmt: skip
        standing = conn.execute(select(FLAGS.c.id).order_by(FLAGS.c.id)).scalars().all()
    root = hub.folder / f"dump-{day}"
    manifest = export_day(hub.engine, str(root), day)
    found = pq.read_table(root / f"parquet/flags/date={day}/flags.parquet")
    # The flag's columns, its party's name and credit code beside `party_id`.
    assert found.schema.equals(named_schema(entity_schema("flags"), "flags"), check_metadata=True)
    assert found.select(entity_schema("flags").names).to_pylist() == expected != []
    snapshot = pq.read_table(root / "parquet/current/flags.parquet")  # as of the day
    assert snapshot.column("id").to_pylist() == standing
    assert any(f.path == f"csv/flags/date={day}/flags.csv" for f in manifest.files)
    scores = pq.read_table(root / "parquet/current/transparency_scores.parquet")
    assert scores.schema.equals(
        named_schema(entity_schema("transparency_scores"), "transparency_scores"),
        check_metadata=True,
    )
    per_purchaser: dict[int, int] = defaultdict(int)
    for row in scores.to_pylist():
        if row["group_by"] == "purchaser":
            per_purchaser[row["party_id"]] += row["projects"]
    end = datetime.combine(day + timedelta(days=1), datetime.min.time())
    counted = hub.sql("SELECT purchaser_id, count(*) FROM projects WHERE purchaser_id IS NOT "
                      "NULL AND first_published_at < :end GROUP BY purchaser_id", end=end)  # fmt: skip
    assert dict(per_purchaser) == {party: n for party, n in counted} != {}
    assert set(scores.column("group_by").to_pylist()) == {"purchaser", "agency", "region"}


def test_rebuild_keeps_ids_and_first_detection(hub: Hub) -> None:
    before = hub.sql("SELECT id, code, detected_at FROM flags ORDER BY id")
    rebuild(hub.engine)
    assert hub.sql("SELECT id, code, detected_at FROM flags ORDER BY id") == before


SEARCH = """query($code: String) { search(query: "", kinds: [NOTICE, TRANSACTION], first: 100,
  filter: {flagCode: $code}) { totalCount nodes { ... on Notice { id }
  ... on Transaction { id } } } }"""


@pytest.mark.only_on("sqlite")
def test_search_by_flag_code_follows_recomputation(hub: Hub) -> None:
    [(code, project)] = hub.sql(
        "SELECT code, min(project_id) FROM flags WHERE project_id IS NOT NULL GROUP BY code "
        "HAVING count(DISTINCT project_id) BETWEEN 2 AND 10 ORDER BY code LIMIT 1"
    )

    def notices(code: str) -> set[str]:
        caught_up(hub.engine)  # searches answer from the index; the hub catches it up
        return {n["id"] for n in hub.data(SEARCH, {"code": code})["search"]["nodes"]}

    def expected(code: str) -> set[str]:
        rows = hub.sql("SELECT n.id FROM notices n WHERE n.project_id IN "
                       "(SELECT project_id FROM flags WHERE code = :c)", c=code)  # fmt: skip
        return {global_id("Notice", r.id) for r in rows}

    assert notices(code) == expected(code) != set()
    mine = {global_id("Notice", r.id) for r in hub.sql(
        "SELECT id FROM notices WHERE project_id = :p", p=project)}  # fmt: skip
    with hub.engine.begin() as conn:  # as if the flag had gone: the index follows the outbox
        conn.execute(delete(FLAGS).where(FLAGS.c.project_id == project))
        enqueue_notices(conn, [project], utc_now_beijing())
    assert not notices(code) & mine
    with hub.engine.begin() as conn:
        recompute_project(conn, project)
    assert mine <= notices(code) == expected(code)
    [(outlier,)] = hub.sql("SELECT count(*) FROM flags WHERE code = 'UNIT_PRICE_OUTLIER'")
    caught_up(hub.engine)
    priced = hub.data(SEARCH, {"code": "unit_price_outlier"})["search"]
    assert priced["totalCount"] == outlier
