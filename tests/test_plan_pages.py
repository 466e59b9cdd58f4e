"""The project, party and transactions pages as GraphQL operations, answered by the planner
(one statement per root field, `x-caigou-plan: planned`) byte for byte as the resolvers
answer them (`CAIGOU_PLANNER=off`), on SQLite and PostgreSQL; and `party(id:, uscc:)`.

Each operation asks for what its page shows (hub/web/templates/project.html, party.html,
transactions.html). What the planner leaves to the resolvers is named beside each.
"""

from __future__ import annotations

import orjson
import pytest

from hub.read.cursors import global_id
from tests.test_plan_shapes import Hubs, hubs  # noqa: F401 - the two hubs on one database

PARTY_REF = "id name uscc"

# project.html (+ flags.html, project_details.html). Left to the resolvers, so not asked
# for here: `regionName`, `categoryName` (the page formats codes itself).
ITEM = (
    "section itemId lotId awardId position name specification categoryCode quantity unit unitPrice"
)
PROJECT_PAGE = f"""query ProjectPage($ocid: String!) {{ project(ocid: $ocid) {{
  id ocid title projectCode status budget ceilingPrice agencyFee regionCode categoryCode
  categoryEdition smeSetAside consortiumAllowed procurementMethod mainCategory
  firstPublishedAt lastPublishedAt noticeCount
  purchaser {{ {PARTY_REF} contactName contactTelephone address }}
  agency {{ {PARTY_REF} contactName contactTelephone address }}
  notices {{ id releaseId noticeType title publishedAt sourceSite publicityStart publicityEnd
    publicityDays titleDerived publisher {{ name }}
    supersedes {{ id noticeType title publishedAt }} evaluationExperts {{ name }}
    sources {{ sourceSite receivedAt publisher {{ name role }} }} }}
  lots {{ id lotId title budget ceilingPrice status smeSetAside consortiumAllowed
    items {{ itemId name }} }}
  awards {{ id awardId title status amount decisionDate suppliers {{ {PARTY_REF} roles }}
    items {{ {ITEM} }} evaluationExperts {{ awardId position name role }} }}
  items {{ {ITEM} }} evaluationExperts {{ awardId position name role }}
  contracts {{ id contractId title status amount dateSigned periodStart periodEnd
    supplier {{ {PARTY_REF} }} suppliers {{ {PARTY_REF} }} }}
  flags {{ id code severity message legalBasis evidence detectedAt }}
}} }}"""

# party.html (+ flags.html). `activeDebarments` (today's date) and `regionName` are left to
# the resolvers: the page reads debarments from `penalties`.
PARTY_PAGE = """query PartyPage($id: ID, $uscc: String, $after: String) {
  party(id: $id, uscc: $uscc) { id name uscc regionCode roles penaltyCount
  awards { awardId title amount decisionDate project { ocid title } }
  contracts(first: 50) { totalCount nodes { contractId title amount dateSigned
    project { ocid } } }
  projects(first: 50) { nodes { ocid title budget status } pageInfo { hasNextPage } }
  purchased: transactions(as: PURCHASER, first: 20, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id orderDate itemName brand model quantity unit unitPrice amount
      supplier { id name } } }
  sold: transactions(first: 20, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id orderDate itemName brand model quantity unit unitPrice amount
      purchaser { id name } } }
  penalties { recordId kind decisionDate authorityName decisionNumber penalty fineAmount
    debarmentStart debarmentEnd }
  flags { code severity message legalBasis evidence }
  bought: flags(as: PURCHASER) { code severity project { ocid } }
} }"""

# transactions.html: a filtered page of 50 with both parties (the page reads its hits from
# search; the same rows through GraphQL are this).
TRANSACTIONS_PAGE = """query TransactionsPage($filter: TransactionFilter, $after: String) {
  transactions(filter: $filter, first: 50, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id orderDate itemName brand model quantity unit unitPrice amount channelLabel
      purchaser { id name } supplier { id name } } } }"""


def test_the_project_page_is_planned(hubs: Hubs) -> None:  # noqa: F811
    # Projects with flags, awards, contracts and corrections first.
    ocids = hubs.sql(
        "SELECT ocid FROM projects p ORDER BY (SELECT count(*) FROM flags f WHERE "
        "f.project_id=p.id) DESC, (SELECT count(*) FROM contracts c WHERE c.project_id=p.id) "
        "DESC, p.id LIMIT 12"
    )
    seen = {"notices": 0, "awards": 0, "contracts": 0, "flags": 0, "lots": 0, "suppliers": 0,
            "items": 0, "evaluationExperts": 0}  # fmt: skip
    for ocid in [*ocids, "ocds-none-such"]:
        path, body = hubs.both(PROJECT_PAGE, {"ocid": ocid})
        assert path == "planned"
        found = orjson.loads(body)["data"]["project"]
        if found is None:
            assert ocid == "ocds-none-such"
            continue
        for name in ("notices", "awards", "contracts", "flags", "lots", "items",
                     "evaluationExperts"):  # fmt: skip
            seen[name] += len(found[name])
        seen["suppliers"] += sum(len(a["suppliers"]) for a in found["awards"])
    assert all(seen.values()), seen  # every list was compared with rows in it


def _party_ids(both: Hubs) -> list[int]:
    """The parties with the most of each list the page shows: awards won, projects bought,
    penalties, flags."""
    found: list[int] = []
    for count in (
        "SELECT count(*) FROM award_suppliers a WHERE a.party_id=p.id",
        "SELECT count(*) FROM projects j WHERE j.purchaser_id=p.id",
        "SELECT count(*) FROM penalty_records r WHERE r.subject_id=p.id",
        "SELECT count(*) FROM flags f WHERE f.party_id=p.id",
    ):
        top = both.sql(f"SELECT p.id FROM parties p ORDER BY ({count}) DESC, p.id LIMIT 3")
        found += [pk for pk in top if pk not in found]
    return found


def test_the_party_page_is_planned_by_id_and_by_uscc(hubs: Hubs) -> None:  # noqa: F811
    seen = {"awards": 0, "projects": 0, "penalties": 0, "roles": 0, "sold": 0, "purchased": 0}
    for pk in _party_ids(hubs):
        path, body = hubs.both(PARTY_PAGE, {"id": global_id("Party", pk)})
        assert path == "planned"
        found = orjson.loads(body)["data"]["party"]
        seen["awards"] += len(found["awards"])
        seen["projects"] += len(found["projects"]["nodes"])
        seen["penalties"] += len(found["penalties"])
        seen["roles"] += len(found["roles"])
        for side in ("sold", "purchased"):
            seen[side] += len(found[side]["nodes"])
            cursor = found[side]["pageInfo"]["endCursor"]
            if found[side]["pageInfo"]["hasNextPage"]:  # the next page of the list
                path, _ = hubs.both(PARTY_PAGE, {"id": global_id("Party", pk), "after": cursor})
                assert path == "planned"
        if found["uscc"]:
            path, again = hubs.both(PARTY_PAGE, {"uscc": found["uscc"].lower()})
            assert path == "planned" and again == body
    assert all(seen.values()), seen


def test_an_unknown_party_is_null_and_the_other_fields_answer(hubs: Hubs) -> None:  # noqa: F811
    query = """query($id: ID!) { gone: party(id: $id) { name }
      none: party(uscc: "91110000000000000X") { name }
      transactions(first: 1) { nodes { orderId } } }"""
    path, body = hubs.both(query, {"id": global_id("Party", 2**31 - 1)})
    assert path == "planned"
    answer = orjson.loads(body)
    assert answer["data"]["gone"] is None and answer["data"]["none"] is None
    assert len(answer["data"]["transactions"]["nodes"]) == 1 and "errors" not in answer


@pytest.mark.parametrize(
    "arguments",
    ["", 'id: "UGFydHk6MQ", uscc: "91110000000000000X"', 'id: "not-an-id"',
     f'id: "{global_id("Project", 1)}"', 'uscc: " "'],
)  # fmt: skip
def test_a_party_lookup_the_resolver_refuses_names_its_argument(
    hubs: Hubs,  # noqa: F811
    arguments: str,
) -> None:
    lookup = f"party({arguments})" if arguments else "party"
    query = f"{{ {lookup} {{ name }} transactions(first: 1) {{ totalCount }} }}"
    path, body = hubs.both(query)
    assert path == "partial"  # the lookup went to its resolver, the rest was planned
    answer = orjson.loads(body)
    assert answer["data"]["party"] is None and answer["data"]["transactions"]["totalCount"]
    [error] = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "party" in error["message"]
    assert error["path"] == ["party"]


def test_the_transactions_page_is_planned(hubs: Hubs) -> None:  # noqa: F811
    day = str(hubs.sql("SELECT min(order_date) FROM transactions")[0])[:10]
    for chosen in (None, {"orderDate": {"from": day}}, {"brand": "none such"}):
        after, pages = None, 0
        while pages < 3:
            path, body = hubs.both(TRANSACTIONS_PAGE, {"filter": chosen, "after": after})
            assert path == "planned"
            page = orjson.loads(body)["data"]["transactions"]
            pages += 1
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]


NESTED_PAGES = """query($id: ID, $projects: String, $contracts: String, $sold: String,
  $order: TransactionOrder) { party(id: $id) {
  projects(first: 1, after: $projects) { totalCount pageInfo { hasNextPage hasPreviousPage
    startCursor endCursor } edges { cursor node { ocid lastPublishedAt } } }
  contracts(first: 1, after: $contracts) { pageInfo { hasNextPage endCursor }
    nodes { contractId suppliers { name } } }
  transactions(first: 3, after: $sold, orderBy: $order) { pageInfo { hasNextPage endCursor }
    nodes { orderId amount unitPrice } } } }"""


@pytest.mark.parametrize(
    "order", [None, {"field": "AMOUNT", "direction": "ASC"}, {"field": "UNIT_PRICE"}]
)
def test_a_partys_nested_lists_are_walked_forward_by_cursor(
    hubs: Hubs,  # noqa: F811
    order: object,
) -> None:
    counts = {
        "projects": "SELECT count(*) FROM projects j WHERE j.purchaser_id=p.id",
        "contracts": "SELECT count(*) FROM contract_suppliers c WHERE c.party_id=p.id",
        "sold": "SELECT count(*) FROM transactions t WHERE t.supplier_id=p.id",
    }
    for name, count in counts.items():
        [pk] = hubs.sql(f"SELECT p.id FROM parties p ORDER BY ({count}) DESC, p.id LIMIT 1")
        cursors: dict[str, object] = {"id": global_id("Party", pk), "order": order}
        pages = 0
        while pages < 3:  # up to three pages of the party with the most rows
            path, body = hubs.both(NESTED_PAGES, cursors)
            assert path == "planned"
            pages += 1
            found = orjson.loads(body)["data"]["party"]
            lists = {"projects": "projects", "contracts": "contracts", "sold": "transactions"}
            info = found[lists[name]]["pageInfo"]
            if info["endCursor"] is None:  # past the end: an empty page was compared too
                break
            cursors[name] = info["endCursor"]
        assert pages > 1, name  # a page after a cursor was compared
