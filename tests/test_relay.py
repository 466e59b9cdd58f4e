"""Relays across two real hubs: a notice published at the provincial hub, relayed to the
central hub by the provincial site and also pushed there directly, is one notice there with
two sources, each with its path (issue 17, design §2)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from hub.app import create_app
from hub.config import Settings
from hub.publishing.publishers import add_publisher
from schema.tables import NOTICES, RECORD_SOURCES
from schema.types import PublisherRole, RecordKind
from tests.conftest import fresh_database
from tests.factories import penalty, project_releases, transaction
from tests.hub_server import graphql, running

PLATFORM = "吉林省公共资源交易平台"
PROVINCE = "吉林省政府采购网"
PROVINCE_HUB = "http://hub.jilin.example.gov.cn"
CENTRAL_HUB = "http://hub.ccgp.example.gov.cn"
PLATFORM_SITE = "http://www.jl.gov.cn/ggzy"

PUBLISH = """mutation($records: [JSON!]!, $relay: [RelayInput]) {
  publish(kind: NOTICE, records: $records, relay: $relay) {
    status accepted duplicates rejected refusals { position recordId field reason } } }"""
SOURCES = """{ notices(first: 10) { nodes { releaseId sources {
  publisher { name } originalPublisher originalRole sourceSite firstPublishedAt receivedAt
  hops { hub receivedAt } } } } }"""


@dataclass
class Hub:
    base: str
    engine: Engine
    tokens: dict[str, str]

    def publish(self, who: str, records: list, relay: list | None = None) -> dict:
        answer = graphql(self.base, PUBLISH, {"records": records, "relay": relay}, self.tokens[who])
        assert "errors" not in answer, answer
        return answer["data"]["publish"]

    def notices(self) -> list[dict]:
        answer = graphql(self.base, SOURCES)
        assert "errors" not in answer, answer
        return answer["data"]["notices"]["nodes"]


@pytest.fixture
def hubs(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Hub, Hub]]:
    """The provincial hub (the platform publishes there) and the central hub (the provincial
    site relays to it; the platform also pushes to it directly), each a real server."""
    accounts = {
        PROVINCE_HUB: [(PLATFORM, PublisherRole.trading_platform, PLATFORM_SITE)],
        CENTRAL_HUB: [
            (PLATFORM, PublisherRole.trading_platform, PLATFORM_SITE),
            (PROVINCE, PublisherRole.regional_site, "http://www.ccgp-jilin.gov.cn"),
        ],
    }
    (tmp_path / "p").mkdir()
    (tmp_path / "c").mkdir()
    with (
        fresh_database(dialect, request, tmp_path / "p") as p_url,
        fresh_database(dialect, request, tmp_path / "c") as c_url,
    ):
        started = []
        for url, name in ((p_url, PROVINCE_HUB), (c_url, CENTRAL_HUB)):
            app = create_app(Settings(url, str(tmp_path / "exports"), None, public_url=name))
            tokens = {}
            with app.state.engine.begin() as conn:
                for who, role, site in accounts[name]:
                    _, tokens[who] = add_publisher(
                        conn, who, role, ["220000"], [RecordKind.notice], site
                    )
            started.append((app, tokens))
        (p_app, p_tokens), (c_app, c_tokens) = started
        with running(p_app) as p_base, running(c_app) as c_base:
            yield (
                Hub(p_base, p_app.state.engine, p_tokens),
                Hub(c_base, c_app.state.engine, c_tokens),
            )
        for app, _ in started:
            app.state.engine.dispose()


def test_a_notice_relayed_and_pushed_directly_is_one_notice_with_two_sources(hubs) -> None:
    province, central = hubs
    tender = project_releases()[0]
    assert province.publish(PLATFORM, [tender])["accepted"] == 1
    [at_province] = province.notices()
    [first] = at_province["sources"]
    assert [h["hub"] for h in first["hops"]] == [PROVINCE_HUB]

    relay = {
        "originalPublisher": first["originalPublisher"],
        "originalRole": first["originalRole"],
        "sourceSite": first["sourceSite"],
        "firstPublishedAt": first["firstPublishedAt"],
        "hops": first["hops"],
    }
    relayed = central.publish(PROVINCE, [tender], [relay])
    assert (relayed["status"], relayed["accepted"]) == ("accepted", 1)
    direct = central.publish(PLATFORM, [tender])
    assert (direct["status"], direct["accepted"], direct["duplicates"]) == ("accepted", 0, 1)
    again = central.publish(PROVINCE, [tender], [relay])  # the same delivery: nothing new
    assert (again["accepted"], again["duplicates"]) == (0, 1)

    [notice] = central.notices()
    assert notice["releaseId"] == tender["id"]
    by = {s["publisher"]["name"]: s for s in notice["sources"]}
    assert set(by) == {PROVINCE, PLATFORM}
    assert {s["originalPublisher"] for s in by.values()} == {PLATFORM}
    assert {s["sourceSite"] for s in by.values()} == {PLATFORM_SITE}
    assert [h["hub"] for h in by[PROVINCE]["hops"]] == [PROVINCE_HUB, CENTRAL_HUB]
    assert by[PROVINCE]["hops"][0]["receivedAt"] == first["receivedAt"]
    assert by[PROVINCE]["hops"][1]["receivedAt"] == by[PROVINCE]["receivedAt"]
    assert [h["hub"] for h in by[PLATFORM]["hops"]] == [CENTRAL_HUB]
    assert by[PROVINCE]["firstPublishedAt"] == first["firstPublishedAt"]
    with central.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(NOTICES)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(RECORD_SOURCES)).scalar() == 2


def test_a_relay_through_this_hub_already_is_refused_as_a_loop(hubs) -> None:
    _, central = hubs
    tender = project_releases()[0]
    relay = {"originalPublisher": PLATFORM, "originalRole": "trading_platform",
             "firstPublishedAt": tender["date"],
             "hops": [{"hub": CENTRAL_HUB, "receivedAt": tender["date"]}]}  # fmt: skip
    refused = central.publish(PROVINCE, [tender], [relay])
    assert (refused["status"], refused["accepted"]) == ("rejected", 0)
    assert [(r["recordId"], r["field"]) for r in refused["refusals"]] == [
        (tender["id"], "relay.hops[0].hub")
    ]
    answer = graphql(central.base, PUBLISH, {"records": [tender], "relay": [None, None]},
                     central.tokens[PROVINCE])  # fmt: skip
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert central.notices() == []


def test_penalties_and_transactions_show_their_sources(hubs) -> None:
    """The central hub: the province relays the finance department's penalty and the
    platform's order; the department pushes its penalty directly too."""
    _, central = hubs
    finance = "吉林省财政厅"
    with central.engine.begin() as conn:
        _, central.tokens[finance] = add_publisher(
            conn, finance, PublisherRole.finance_department, ["220000"], [RecordKind.penalty]
        )
        _, central.tokens["site"] = add_publisher(
            conn, "吉林省政府采购网（转发）", PublisherRole.regional_site, ["220000"],
            [RecordKind.penalty, RecordKind.transaction],
        )  # fmt: skip
    mutation = PUBLISH.replace("kind: NOTICE", "kind: $kind").replace(
        "mutation(", "mutation($kind: PublishKind!, "
    )
    hops = [{"hub": PROVINCE_HUB, "receivedAt": "2024-05-21T09:00:05+08:00"}]

    def publish(who: str, kind: str, record: dict, original: str | None, role: str) -> dict:
        relay = None if original is None else [{
            "originalPublisher": original, "originalRole": role, "hops": hops,
            "firstPublishedAt": "2024-05-21T09:00:00+08:00",
        }]  # fmt: skip
        variables = {"kind": kind, "records": [record], "relay": relay}
        answer = graphql(central.base, mutation, variables, central.tokens[who])
        assert "errors" not in answer, answer
        return answer["data"]["publish"]

    assert publish("site", "PENALTY", penalty(), finance, "finance_department")["accepted"] == 1
    assert publish(finance, "PENALTY", penalty(), None, "")["duplicates"] == 1
    order = transaction("DD-9")
    assert publish("site", "TRANSACTION", order, PLATFORM, "trading_platform")["accepted"] == 1
    fields = "sources { publisher { name } originalPublisher hops { hub } }"
    answer = graphql(central.base, f"{{ penalties(first: 5) {{ nodes {{ {fields} }} }} "
                     f"transactions(first: 5) {{ nodes {{ {fields} }} }} }}")  # fmt: skip
    assert "errors" not in answer, answer
    [record] = answer["data"]["penalties"]["nodes"]
    assert [(s["publisher"]["name"], s["originalPublisher"], [h["hub"] for h in s["hops"]])
            for s in record["sources"]] == [
        ("吉林省政府采购网（转发）", finance, [PROVINCE_HUB, CENTRAL_HUB]),
        (finance, finance, [CENTRAL_HUB]),
    ]  # fmt: skip
    [bought] = answer["data"]["transactions"]["nodes"]
    assert [s["originalPublisher"] for s in bought["sources"]] == [PLATFORM]


RELAYS = """mutation($records: [JSON!]!, $relays: JSON) {
  publish(kind: NOTICE, records: $records, partial: true, relays: $relays) {
    status accepted rejected refusals { position recordId field reason } } }"""


def test_relays_as_one_json_list_are_checked_per_record_and_field(hubs) -> None:
    """`relays` (what the pusher sends): the same checks as `relay`, each fault named by the
    record's position and the field; the valid record kept with its path."""
    _, central = hubs
    releases = project_releases()[:3]
    good = {"originalPublisher": PLATFORM, "originalRole": "trading_platform",
            "sourceSite": PLATFORM_SITE, "firstPublishedAt": releases[0]["date"],
            "hops": [{"hub": PROVINCE_HUB, "receivedAt": releases[0]["date"]}]}  # fmt: skip
    bad_time = {**good, "firstPublishedAt": "yesterday", "hops": [{"hub": PROVINCE_HUB}]}
    answer = graphql(central.base, RELAYS, {"records": releases,
                     "relays": [good, bad_time, "not an object"]},
                     central.tokens[PROVINCE])  # fmt: skip
    assert "errors" not in answer, answer
    result = answer["data"]["publish"]
    assert (result["status"], result["accepted"], result["rejected"]) == ("partial", 1, 2)
    assert [(r["position"], r["recordId"], r["field"]) for r in result["refusals"]] == [
        (2, releases[1]["id"], "relay.firstPublishedAt"),
        (2, releases[1]["id"], "relay.hops[0].receivedAt"),
        (3, releases[2]["id"], "relay"),
    ]
    [notice] = central.notices()
    [source] = notice["sources"]
    assert (source["originalPublisher"], [h["hub"] for h in source["hops"]]) == (
        PLATFORM, [PROVINCE_HUB, CENTRAL_HUB]
    )  # fmt: skip
    for relays, problem in (([good], "1 entries for 3 records"), ({"a": 1}, "must be a JSON list")):
        answer = graphql(central.base, RELAYS, {"records": releases, "relays": relays},
                         central.tokens[PROVINCE])  # fmt: skip
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert problem in answer["errors"][0]["message"]
    both = RELAYS.replace("$relays: JSON", "$relays: JSON, $relay: [RelayInput]").replace(
        "relays: $relays", "relays: $relays, relay: $relay"
    )
    answer = graphql(central.base, both, {"records": releases[:1], "relays": [good],
                     "relay": [good]}, central.tokens[PROVINCE])  # fmt: skip
    assert "not both" in answer["errors"][0]["message"]


def test_relay_names_and_sites_get_a_cells_checks(hubs) -> None:
    """A NUL or 900,000 characters in `originalPublisher`, `sourceSite` or a hop's hub were
    stored and fed on (on PostgreSQL a NUL fails the whole batch at the next hub up)."""
    _, central = hubs
    releases = project_releases()[:3]
    good = {"originalPublisher": PLATFORM, "originalRole": "trading_platform",
            "sourceSite": PLATFORM_SITE, "firstPublishedAt": releases[0]["date"],
            "hops": [{"hub": PROVINCE_HUB, "receivedAt": releases[0]["date"]}]}  # fmt: skip
    relays = [{**good, "originalPublisher": "平台\x00"},
              {**good, "sourceSite": "http://" + "x" * 900_000},
              {**good, "hops": [{"hub": "h\x00", "receivedAt": releases[0]["date"]}]}]  # fmt: skip
    answer = graphql(central.base, RELAYS, {"records": releases, "relays": relays},
                     central.tokens[PROVINCE])  # fmt: skip
    result = answer["data"]["publish"]
    assert (result["accepted"], result["rejected"]) == (0, 3), result
    assert [(r["position"], r["field"]) for r in result["refusals"]] == [
        (1, "relay.originalPublisher"), (2, "relay.sourceSite"), (3, "relay.hops[0].hub"),
    ]  # fmt: skip
    assert "NUL" in result["refusals"][0]["reason"] and "bytes" in result["refusals"][1]["reason"]
