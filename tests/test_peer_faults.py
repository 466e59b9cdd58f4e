"""Another hub that answers wrongly must not hang, exhaust or mislead this one.

`caigou mirror pull` against a feed that never ends, drips, loops or sends what is no change;
the pusher against an upstream whose 200 answer is no publish result or does not add up.
The peer is tests/broken_peer.py (why a scripted server: see there). Found by a hostile run:
the mirror grew 1.6 GB a second, hung past its timeout or looped for ever; the pusher's
thread died on a malformed answer, or moved its cursor past 80 records none of which were
stored.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from hub.cli.mirror import MirrorError, pull
from hub.federation.pusher import PushFailed, push_once
from hub.federation.upstreams import add_upstream
from hub.publishing import ingest_records
from schema.changes import MIRROR_CURSORS
from schema.tables import NOTICES, UPSTREAMS
from schema.types import RecordKind
from tests.broken_peer import broken_peer, endless, once
from tests.factories import project_releases

NOTICE = project_releases()[0]


def change(seq: int, **fields: Any) -> dict[str, Any]:
    return {"seq": seq, "cursor": f"c{seq}", "kind": "notice", "action": "insert",
            "acceptedAt": "2024-05-21T09:00:00", "publisher": "吉林省政府采购网",
            "publisherRole": "regional_site", "sourceSite": "http://www.ccgp-jilin.gov.cn",
            "payload": orjson.dumps(NOTICE).decode(), "relay": None, **fields}  # fmt: skip


def page(changes: list[dict[str, Any]], next_: Any, more: Any) -> bytes:
    lines = [*changes, {"next": next_, "more": more}]
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def mirror_of(engine: Engine, body: Any, **limits: Any) -> str:
    """The MirrorError of pulling from a peer answering every page with `body`."""
    with broken_peer(lambda _m, _p: (200, body)) as url, pytest.raises(MirrorError) as error:
        pull(engine, url, **limits)
    return str(error.value)


def test_an_endless_or_dripping_page_is_cut_off_not_waited_for(engine: Engine) -> None:
    started = time.monotonic()
    line = orjson.dumps(change(1)) + b"\n"
    assert "more than 1,000,000 bytes" in mirror_of(engine, endless(line), page_bytes=1_000_000)
    assert "within 1 s" in mirror_of(engine, endless(b"\n", pause=0.2), page_seconds=1)
    assert time.monotonic() - started < 30
    with engine.connect() as conn:
        assert conn.execute(select(NOTICES.c.id)).first() is None


@pytest.mark.parametrize(
    ("body", "says"),
    [(page([], "c0", True), "more follow"),  # a cursor that does not move
     (page([change(2), change(1)], "c1", False), "went back"),
     (b"not json\n", "line 1 is not JSON"), (b'"hello"\n', "not a JSON object"),
     (page([change(1, kind="contract")], "c1", False), "kind 'contract'"),
     (page([change(1, publisherRole="root")], "c1", False), "publisherRole 'root'"),
     (page([change(1, acceptedAt="2099-01-01T00:00:00")], "c1", False), "acceptedAt"),
     (page([change(1, payload="[1, 2, 3]")], "c1", False), "payload is not a JSON object"),
     (page([change(1, relay="{not json")], "c1", False), "relay is not a JSON object"),
     (page([change("abc")], "c1", False), "seq is not a number"),
     (page([], None, False), 'closing line is not {"next"')],
)  # fmt: skip
def test_a_feed_of_another_shape_stops_the_pull_named_with_nothing_stored(
    engine: Engine, body: bytes, says: str
) -> None:
    message = mirror_of(engine, once(body))
    assert says in message, message
    with engine.connect() as conn:
        assert conn.execute(select(NOTICES.c.id)).first() is None
        saved = conn.execute(select(MIRROR_CURSORS.c.cursor)).scalar()
    assert saved in (None, "c0")  # "c0": where the stuck feed's first answer led (no further)


def publish_answer(**publish: Any) -> bytes:
    return json.dumps({"data": {"publish": publish}}).encode()


@pytest.mark.parametrize(
    "body",
    [b"[]", b"null", publish_answer(status="accepted"),
     publish_answer(status="accepted", accepted=0, duplicates=0, rejected=0, refusals=[]),
     publish_answer(status="partial", accepted=0, duplicates=0, rejected=1,
                    refusals=[{"position": 99999, "field": "x", "reason": "y"}]),
     publish_answer(status="partial", accepted=0, duplicates=0, rejected=1,
                    refusals=[{"position": "first", "field": "x", "reason": "y"}])],
)  # fmt: skip
def test_an_upstream_answer_that_is_no_publish_result_moves_nothing(
    engine: Engine, add, tmp_path: Path, body: bytes
) -> None:
    """Each was a traceback that ended the pusher's thread for every upstream, or a cursor
    moved past records the upstream never stored (or all parked when one was refused)."""
    add("吉林省政府采购网", "regional_site", ["220000"], ["notice"])
    assert ingest_records(engine, "吉林省政府采购网", RecordKind.notice, [NOTICE]).accepted == 1
    token = tmp_path / "token"
    token.write_text("t0ken")
    with broken_peer(lambda _m, _p: (200, once(body))) as url:
        with engine.begin() as conn:
            add_upstream(conn, "up", url, str(token), from_start=True)
        with pytest.raises(PushFailed):
            push_once(engine, "up")
    with engine.connect() as conn:
        assert conn.execute(select(UPSTREAMS.c.cursor)).scalar_one() == 0
