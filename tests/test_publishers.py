"""Publisher accounts: tokens, revocation and scopes."""

from __future__ import annotations

import pytest

from hub.publishing import PublisherError, ingest_records
from hub.publishing.publishers import add_publisher, authenticate, revoke_publisher
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
