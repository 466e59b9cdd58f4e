"""Publisher credentials: rotation with a grace period, and the audit of every publish,
through the library, the real `caigou` command (typer's runner) and GraphQL over HTTP."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from hub.app import create_app
from hub.cli import app as caigou
from hub.config import Settings
from hub.flags import rebuild
from hub.publishing import PublisherError
from hub.publishing.publishers import (
    add_publisher,
    authenticate,
    revoke_publisher,
    rotate_publisher,
)
from schema.data_version import current_data_version
from schema.ocds import utc_now_beijing
from schema.types import PublisherRole, RecordKind
from tests.factories import transaction, write_csv
from tests.hub_server import graphql, running
from tests.web_client import web

MALL = "吉林省政府采购电子卖场"
PUBLISH = """mutation($r: [JSON!]!) {
  publish(kind: TRANSACTION, records: $r) { status accepted duplicates rejected }
}"""


def add_mall(engine: Engine) -> str:
    with engine.begin() as conn:
        _, token = add_publisher(conn, MALL, PublisherRole.trading_platform, ["220000"],
                                 [RecordKind.transaction])  # fmt: skip
    return token


def test_a_rotated_token_works_for_its_grace_period_then_stops(engine: Engine) -> None:
    old = add_mall(engine)
    now = utc_now_beijing()
    with engine.begin() as conn:
        new, expires = rotate_publisher(conn, MALL, timedelta(hours=2), now=now)
    assert expires == now + timedelta(hours=2) and new != old
    with engine.connect() as conn:
        assert authenticate(conn, new).name == MALL
        assert authenticate(conn, old, now=now + timedelta(hours=1, minutes=59)).name == MALL
        with pytest.raises(PublisherError, match="replaced by a rotation; it expired"):
            authenticate(conn, old, now=now + timedelta(hours=2))
        assert authenticate(conn, new, now=now + timedelta(days=400)).name == MALL
    with engine.begin() as conn:  # a second rotation ends the first one's grace at once
        newest, _ = rotate_publisher(conn, MALL, timedelta(hours=2), now=now)
    with engine.connect() as conn:
        with pytest.raises(PublisherError, match="unknown or revoked"):
            authenticate(conn, old, now=now)
        assert authenticate(conn, new, now=now).name == MALL  # the grace of the second
        assert authenticate(conn, newest, now=now).name == MALL
    with engine.begin() as conn:
        revoke_publisher(conn, MALL)
    with engine.connect() as conn:
        for token in (new, newest):  # revoking ends every token, in grace or not
            with pytest.raises(PublisherError, match="unknown or revoked"):
                authenticate(conn, token, now=now)


def run(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(caigou, ["--database-url", database_url, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_rotate_and_audit_through_the_command_and_graphql(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    old = add_mall(engine)
    hub = create_app(Settings(database_url, str(tmp_path / "exports"), None))
    records = [transaction("API-1"), transaction("API-2")]
    with running(hub) as base:
        printed = run(database_url, "publisher", "rotate", MALL)  # default grace: 24 hours
        assert "the old token works until" in printed
        new = printed.strip().splitlines()[-1]
        assert new.startswith("cgp_") and new != old
        for token, batch in ((old, records[:1]), (new, records)):
            answer = graphql(base, PUBLISH, {"r": batch}, token=token)
            assert answer["data"]["publish"]["status"] == "accepted", answer
        assert "no longer" in run(database_url, "publisher", "rotate", MALL, "--grace", "0")
        refused = graphql(base, PUBLISH, {"r": records}, token=new)
        assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    hub.state.engine.dispose()
    path = write_csv(tmp_path / "orders.csv", [transaction("CLI-1"), transaction("API-1")])
    run(database_url, "ingest", str(path), "--publisher", MALL)
    audit = run(database_url, "publisher", "audit", MALL, "--limit", "2")
    header, *rows = (line.split("\t") for line in audit.splitlines() if "\t" in line)
    assert header[6:] == ["outcome", "read", "accepted", "duplicates", "refused", "sha256"]
    assert len(rows) == 2 and "2 batches shown" in audit
    newest, second = rows
    file_digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert newest[3:] == ["orders.csv", "transaction", "all_or_nothing", "accepted", "2", "1",
                          "1", "0", file_digest]  # fmt: skip
    ndjson = b"".join(orjson.dumps(r) + b"\n" for r in records)
    sent_digest = hashlib.sha256(ndjson).hexdigest()
    assert second[3:] == ["graphql", "transaction", "all_or_nothing", "accepted", "2", "1", "1",
                          "0", sent_digest]  # fmt: skip
    assert "3 batches shown" in run(database_url, "publisher", "audit", MALL)


def test_a_get_after_a_publisher_is_added_is_not_answered_304(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    hub = create_app(Settings(database_url, str(tmp_path / "exports"), None))
    params = {"query": "{ publishers { name } }"}
    with running(hub) as base:
        first = web.get(f"{base}/graphql", params=params)
        assert first.json() == {"data": {"publishers": []}}
        etag = first.headers["etag"]
        same = web.get(f"{base}/graphql", params=params, headers={"if-none-match": etag})
        assert same.status_code == 304
        run(database_url, "publisher", "add", MALL, "--role", "trading_platform",
            "--region", "220000", "--kind", "transaction")  # fmt: skip
        after = web.get(f"{base}/graphql", params=params, headers={"if-none-match": etag})
        assert after.status_code == 200 and after.headers["etag"] != etag
        assert after.json() == {"data": {"publishers": [{"name": MALL}]}}
    hub.state.engine.dispose()


def test_every_write_bumps_the_data_version(engine: Engine) -> None:
    def version() -> int:
        with engine.connect() as conn:
            return current_data_version(conn)

    seen = [version()]
    add_mall(engine)
    seen.append(version())
    with engine.begin() as conn:
        rotate_publisher(conn, MALL)
    seen.append(version())
    rebuild(engine)
    seen.append(version())
    with engine.begin() as conn:
        revoke_publisher(conn, MALL)
    seen.append(version())
    assert seen == sorted(set(seen)), seen  # each write moved it on
