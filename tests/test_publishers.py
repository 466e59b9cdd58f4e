"""Publisher accounts: tokens, revocation and scopes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.publishing import PublisherError, ingest_records
from hub.publishing.publishers import (
    add_publisher,
    authenticate,
    publish_audit,
    revoke_publisher,
)
from schema.tables import INGESTIONS
from schema.types import PublisherRole, RecordKind
from tests.factories import transaction


def test_a_token_identifies_its_publisher_until_revoked(engine) -> None:
    with engine.begin() as conn:
        account, token = add_publisher(
            conn,
            "吉林省政府采购电子卖场",
            PublisherRole.trading_platform,
            ["220000"],
            [RecordKind.transaction],
        )
        assert authenticate(conn, token) == account
        with pytest.raises(PublisherError):
            authenticate(conn, token + "x")
        revoke_publisher(conn, account.name)
        with pytest.raises(PublisherError, match="unknown or revoked"):
            authenticate(conn, token)
    with pytest.raises(PublisherError, match="revoked"):
        ingest_records(engine, account.name, RecordKind.transaction, [transaction()])


def test_nationwide_scope_covers_every_province(engine, add) -> None:
    central = add("中国政府采购网", "regional_site", ["100000"], ["notice"])
    jilin = add("吉林省政府采购网", "regional_site", ["220000"], ["notice"])
    assert central.covers_region("110101") and central.covers_region("222401")
    assert jilin.covers_region("222401") and not jilin.covers_region("110101")


def test_bad_scopes_are_refused_when_the_publisher_is_added(engine) -> None:
    with engine.begin() as conn, pytest.raises(ValueError, match="six-digit"):
        add_publisher(conn, "某站点", PublisherRole.regional_site, ["吉林"], [RecordKind.notice])


def test_a_refused_batch_stays_in_the_audit_with_its_reason_after_revocation(engine, add) -> None:
    site = add("吉林省政府采购网", "regional_site", ["220000"], ["notice"])
    with pytest.raises(PublisherError, match="may not publish transaction"):
        ingest_records(engine, site.name, RecordKind.transaction, [transaction()])
    with engine.begin() as conn:
        revoke_publisher(conn, site.name)
    with engine.connect() as conn:
        [batch] = publish_audit(conn, site.name)
        report = conn.execute(select(INGESTIONS.c.report)).scalar_one()
    assert (batch["status"], batch["rejected"], batch["accepted"]) == ("rejected", 1, 0)
    assert "may not publish transaction records" in report
    with engine.connect() as conn, pytest.raises(PublisherError, match="no publisher named"):
        publish_audit(conn, "无名站点")
