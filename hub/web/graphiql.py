"""`/graphql` in a browser: GraphiQL built from npm into /static/vendor, with example queries.

scripts/build-web.sh copies the npm packages' browser builds into hub/web/static/vendor/, so
the page loads nothing from outside the hub. Without that build the page still offers the
examples as plain text and says how to build.
"""

from __future__ import annotations

import json

from starlette.responses import HTMLResponse

from hub.web.render import STATIC, environment

EXAMPLES: dict[str, str] = {
    "搜索 search": """# 全文搜索：公告和交易 Full-text search over notices and transactions
query Search($q: String!) {
  search(query: $q, kinds: [NOTICE, TRANSACTION], first: 10) {
    totalCount
    edges {
      highlights { field fragments }
      node {
        ... on Notice { title noticeType publishedAt }
        ... on Transaction { itemName brand model unitPrice amount }
      }
    }
    facets { noticeType { key label count } }
  }
}""",
    "单价统计 unit prices": """# 按品牌、月份统计单价 Unit prices by brand and month
query Prices {
  transactionStats(groupBy: [BRAND, MONTH], limit: 20) {
    keys { group value label }
    count
  }
}""",
    "一致性标记 flags": """# 一致性标记及证据 Flags with their evidence
query Flags {
  flags(first: 10) {
    totalCount
    nodes { code severity message legalBasis evidence }
  }
}""",
}
VARIABLES = {"q": "复印纸"}
ASSETS = ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js",
          "graphiql.min.css")  # fmt: skip


def built() -> bool:
    return all((STATIC / "vendor" / name).exists() for name in ASSETS)


def ide_page() -> HTMLResponse:
    variables = json.dumps(VARIABLES, ensure_ascii=False)
    tabs = [{"query": q, "variables": variables} for q in EXAMPLES.values()]
    html = environment().get_template("graphiql.html").render(
        examples=EXAMPLES, tabs=json.dumps(tabs, ensure_ascii=False).replace("</", "<\\/"),
        built=built(),
    )  # fmt: skip
    return HTMLResponse(html)
