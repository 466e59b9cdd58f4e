"""Build `caigou_bench_10m`: the demo data grown to 10,000,000 transactions and 100,000 projects.

The database is copied from `caigou_bench_graphql` (CREATE DATABASE … TEMPLATE, retried while
the template has other sessions; after `--template-wait` seconds, pg_dump | pg_restore instead,
which reads a snapshot without blocking anyone), brought to the schema head with
`caigou db upgrade`, then grown in SQL in one transaction (no Python row loops):

- transactions: the 1,000,000 originals stay as they are (their day, the busiest, is still the
  1M-row day of `bench/export.py`); nine copies get new ids, order ids `<order_id>-<copy>`
  (the payload's order_id follows), and publish times `order_date + copy days` at the
  original time of day, so the 9M copies spread over ~375 days of 2024–2025;
- projects: copies `<ocid>-B<copy>` until there are 100,000, each with its notices (release
  ids and payload ocids renamed, `supersedes_id` remapped), notice sources, lots, awards,
  award suppliers and contracts, every foreign key remapped to the copy. Parties are shared.
  Dates are NOT shifted: the payloads (which the flags compile from) keep their dates, so a
  copy is consistent with itself and finds the same flags as its original.

Secondary indexes, unique and foreign-key constraints of the grown tables are dropped for the
inserts and recreated after (a validated FK is one join, not 9M trigger calls); sequences are
moved past the new ids; then VACUUM ANALYZE. Idempotent: the database comment records a
finished build and a second run only checks the schema and counts. A database of that name
without the comment (an earlier, other shape, or an interrupted build) is dropped and rebuilt.

    python bench/bigdata.py [--server-url postgresql://postgres@127.0.0.1:54329]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

SERVER_URL = "postgresql://postgres@127.0.0.1:54329"
TEMPLATE = "caigou_bench_graphql"
TARGET = "caigou_bench_10m"
TRANSACTION_COPIES = 10  # the originals and nine copies
PROJECTS = 100_000
MARK = f"bench/bigdata.py: grown to {TRANSACTION_COPIES}x transactions, {PROJECTS} projects"
# Children of projects, copied with their project (parents first: ids are remapped in order).
GROWN = ("transactions", "projects", "notices", "notice_sources", "lots", "awards",
         "award_suppliers", "contracts")  # fmt: skip


@contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.perf_counter()
    print(f"{label} …", flush=True)
    yield
    print(f"{label}: {time.perf_counter() - started:.1f} s", flush=True)


def db_url(server: str, name: str) -> str:
    return f"{server.rstrip('/')}/{name}"


def comment(admin: psycopg.Connection, name: str) -> str | None:
    """The database's comment, or None when it does not exist ('' when it has none)."""
    row = admin.execute(
        "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database "
        "WHERE datname = %s",
        [name],
    ).fetchone()
    return None if row is None else str(row[0])


def copy_template(admin: psycopg.Connection, server: str, wait: float) -> None:
    """CREATE DATABASE … TEMPLATE while the template is idle, else dump and restore it."""
    create = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(TARGET), sql.Identifier(TEMPLATE)
    )
    deadline = time.monotonic() + wait
    while True:
        try:
            admin.execute(create)
            return
        except psycopg.errors.ObjectInUse:
            if time.monotonic() > deadline:
                break
            time.sleep(1)
    print(f"{TEMPLATE} stayed in use for {wait:.0f} s: pg_dump | pg_restore", flush=True)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TARGET)))
    dump = subprocess.Popen(["pg_dump", "-Fc", db_url(server, TEMPLATE)], stdout=subprocess.PIPE)
    restore = subprocess.run(
        ["pg_restore", "--no-owner", "-d", db_url(server, TARGET)], stdin=dump.stdout, check=False
    )
    if dump.wait() != 0 or restore.returncode != 0:
        raise SystemExit("pg_dump | pg_restore failed")


def upgrade(url: str) -> None:
    caigou = Path(sys.executable).with_name("caigou")
    subprocess.run([str(caigou), "--database-url", url, "db", "upgrade"], check=True)


def loosen(conn: psycopg.Connection, tables: tuple[str, ...]) -> list[str]:
    """Drop the tables' FK and unique constraints and secondary indexes; the SQL to restore."""
    restore: list[str] = []
    names = list(tables)
    constraints = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('f', 'u') "
        "ORDER BY contype DESC, conrelid::regclass::text, conname",  # unique before foreign
        [names],
    ).fetchall()
    indexes = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        [names],
    ).fetchall()
    for table, name, _ in reversed(constraints):  # foreign keys first
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, definition in indexes:
        conn.execute(f"DROP INDEX {name}")
        restore.append(definition)
    for table, name, definition in constraints:
        restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    return restore


TRANSACTIONS_SQL = """
INSERT INTO transactions (id, order_id, channel, purchaser_id, supplier_id, item_name, brand,
    model, category_code, category_edition, quantity, unit, unit_price, amount, order_date,
    region_code, agreement_id, publisher_id, source_site, published_at, received_at, payload,
    content_hash)
SELECT t.id + g * %(top)s, t.order_id || '-' || g, t.channel, t.purchaser_id, t.supplier_id,
    t.item_name, t.brand, t.model, t.category_code, t.category_edition, t.quantity, t.unit,
    t.unit_price, t.amount, t.order_date, t.region_code, t.agreement_id, t.publisher_id,
    t.source_site,
    t.order_date + g * interval '1 day' + (t.published_at - date_trunc('day', t.published_at)),
    t.order_date + g * interval '1 day' + (t.received_at - date_trunc('day', t.published_at)),
    replace(t.payload, '"order_id":"' || t.order_id || '"',
            '"order_id":"' || t.order_id || '-' || g || '"'),
    t.content_hash
FROM transactions t, (SELECT %(copy)s::int AS g) copy
WHERE t.id <= %(top)s
"""

# Project copies: (old id, copy number) → new id, capped at `PROJECTS` in all.
PROJECT_MAP_SQL = """
CREATE TEMP TABLE project_map ON COMMIT DROP AS
SELECT p.id AS old_id, k.k, p.ocid || '-B' || k.k AS ocid, p.ocid AS old_ocid,
    m.top + row_number() OVER (ORDER BY k.k, p.id) AS new_id
FROM projects p, (SELECT max(id) AS top FROM projects) m,
    generate_series(1, (%(target)s - 1) / (SELECT count(*) FROM projects)) k
ORDER BY k.k, p.id
LIMIT %(target)s - (SELECT count(*) FROM projects)
"""


def child_map(name: str, table: str, parent_join: str) -> str:
    """Map each copied child row (old id, copy) to a new id, numbered after the table's max."""
    return f"""
CREATE TEMP TABLE {name} ON COMMIT DROP AS
SELECT c.id AS old_id, pm.k, pm.new_id AS project_id, pm.ocid, pm.old_ocid,
    top.v + row_number() OVER (ORDER BY pm.new_id, c.id) AS new_id
FROM {table} c {parent_join}, (SELECT coalesce(max(id), 0) AS v FROM {table}) top
"""


COPY_SQL = [
    """
INSERT INTO projects (id, ocid, project_code, title, purchaser_id, agency_id, region_code,
    procurement_method, procurement_method_details, main_category, category_code,
    category_edition, budget, currency, status, first_published_at, last_published_at,
    notice_count)
SELECT pm.new_id, pm.ocid, p.project_code || '-B' || pm.k, p.title, p.purchaser_id,
    p.agency_id, p.region_code, p.procurement_method, p.procurement_method_details,
    p.main_category, p.category_code, p.category_edition, p.budget, p.currency, p.status,
    p.first_published_at, p.last_published_at, p.notice_count
FROM project_map pm JOIN projects p ON p.id = pm.old_id ORDER BY pm.new_id
""",
    child_map("notice_map", "notices", "JOIN project_map pm ON pm.old_id = c.project_id"),
    """
INSERT INTO notices (id, ocid, project_id, release_id, notice_type, ocds_tags, published_at,
    publisher_id, source_site, received_at, title, full_text, supersedes_id, payload,
    content_hash)
SELECT nm.new_id, nm.ocid, nm.project_id,
    CASE WHEN starts_with(n.release_id, n.ocid)
         THEN nm.ocid || substr(n.release_id, length(n.ocid) + 1)
         ELSE n.release_id || '-B' || nm.k END,
    n.notice_type, n.ocds_tags, n.published_at, n.publisher_id, n.source_site, n.received_at,
    n.title, n.full_text, sm.new_id, replace(n.payload, '"' || n.ocid, '"' || nm.ocid),
    n.content_hash
FROM notice_map nm JOIN notices n ON n.id = nm.old_id
LEFT JOIN notice_map sm ON sm.old_id = n.supersedes_id AND sm.k = nm.k
ORDER BY nm.new_id
""",
    """
INSERT INTO notice_sources (id, notice_id, publisher_id, source_site, received_at)
SELECT top.v + row_number() OVER (ORDER BY nm.new_id, s.id), nm.new_id, s.publisher_id,
    s.source_site, s.received_at
FROM notice_map nm JOIN notice_sources s ON s.notice_id = nm.old_id,
    (SELECT coalesce(max(id), 0) AS v FROM notice_sources) top
""",
    """
INSERT INTO lots (id, project_id, lot_id, title, budget, status)
SELECT top.v + row_number() OVER (ORDER BY pm.new_id, l.id), pm.new_id, l.lot_id, l.title,
    l.budget, l.status
FROM project_map pm JOIN lots l ON l.project_id = pm.old_id,
    (SELECT coalesce(max(id), 0) AS v FROM lots) top
""",
    child_map("award_map", "awards", "JOIN project_map pm ON pm.old_id = c.project_id"),
    """
INSERT INTO awards (id, project_id, award_id, lot_ids, title, status, decision_date, amount,
    currency)
SELECT am.new_id, am.project_id, a.award_id, a.lot_ids, a.title, a.status, a.decision_date,
    a.amount, a.currency
FROM award_map am JOIN awards a ON a.id = am.old_id ORDER BY am.new_id
""",
    """
INSERT INTO award_suppliers (award_pk, party_id)
SELECT am.new_id, s.party_id FROM award_map am JOIN award_suppliers s ON s.award_pk = am.old_id
""",
    """
INSERT INTO contracts (id, project_id, contract_id, award_id, supplier_id, title, status,
    amount, currency, date_signed, period_start, period_end)
SELECT top.v + row_number() OVER (ORDER BY pm.new_id, c.id), pm.new_id, c.contract_id,
    c.award_id, c.supplier_id, c.title, c.status, c.amount, c.currency, c.date_signed,
    c.period_start, c.period_end
FROM project_map pm JOIN contracts c ON c.project_id = pm.old_id,
    (SELECT coalesce(max(id), 0) AS v FROM contracts) top
""",
]


def scalar(conn: psycopg.Connection, query: str) -> int:
    row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row[0])


def counts(conn: psycopg.Connection) -> dict[str, int]:
    return {t: scalar(conn, f"SELECT count(*) FROM {t}") for t in GROWN}


def grow(url: str) -> None:
    with psycopg.connect(url) as conn:  # one transaction: grown whole or not at all
        conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
        conn.execute("SET LOCAL work_mem = '256MB'")
        before = counts(conn)
        print(f"before: {before}", flush=True)
        with timed("drop secondary indexes and constraints"):
            restore = loosen(conn, GROWN)
        top = scalar(conn, "SELECT max(id) FROM transactions")
        for copy in range(1, TRANSACTION_COPIES):  # one statement per copy: rows stay in id order
            with timed(f"transactions copy {copy} of {TRANSACTION_COPIES - 1}"):
                conn.execute(TRANSACTIONS_SQL, {"copy": copy, "top": top})  # type: ignore[arg-type]
        with timed(f"projects to {PROJECTS:,} with their notices, lots, awards, contracts"):
            conn.execute(PROJECT_MAP_SQL, {"target": PROJECTS})  # type: ignore[arg-type]
            for statement in COPY_SQL:
                conn.execute(statement)  # type: ignore[arg-type]
        with timed(f"recreate {len(restore)} indexes and constraints"):
            for statement in restore:
                conn.execute(statement)  # type: ignore[arg-type]
        with timed("move sequences past the new ids"):
            for table in GROWN:
                if table != "award_suppliers":
                    conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # type: ignore[arg-type]
                        f"(SELECT max(id) FROM {table}))"
                    )
        print(f"after: {counts(conn)}", flush=True)
    with psycopg.connect(url, autocommit=True) as conn, timed("VACUUM ANALYZE"):
        conn.execute("VACUUM ANALYZE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default=SERVER_URL, help="without a database name")
    parser.add_argument("--template-wait", type=float, default=120.0)
    args = parser.parse_args()
    started = time.perf_counter()
    url = db_url(args.server_url, TARGET)
    with psycopg.connect(db_url(args.server_url, "postgres"), autocommit=True) as admin:
        state = comment(admin, TARGET)
        if state is not None and state != MARK:
            with timed(f"drop {TARGET} (not a finished build: {state or 'no comment'})"):
                admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(TARGET)))
            state = None
        if state is None:
            with timed(f"copy {TEMPLATE} to {TARGET}"):
                copy_template(admin, args.server_url, args.template_wait)
        with timed("caigou db upgrade"):
            upgrade(url)
        if state == MARK:
            with psycopg.connect(url) as conn:
                print(f"{TARGET} already grown: {counts(conn)}")
            return 0
        grow(url)
        admin.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(TARGET), sql.Literal(MARK)
            )
        )
    print(f"done in {time.perf_counter() - started:.1f} s: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
