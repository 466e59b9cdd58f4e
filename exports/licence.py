"""The dumps' licence and provenance, written into every top-level file and OCDS package.

The hub licenses its compilation (the tables, the compiled records, the catalogue); each
notice stays the publisher's own, published under the disclosure rules (政府采购信息公开), and
its terms are respected. The hub (hub/config.py) passes a `Licence` in; exports/ never reads
settings itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CC_BY_4 = "https://creativecommons.org/licenses/by/4.0/"
# Names and titles of licences a URL is recognised as (Frictionless `licenses[].name`).
KNOWN = {
    CC_BY_4: ("CC-BY-4.0", "Creative Commons Attribution 4.0 International"),
    "https://creativecommons.org/publicdomain/zero/1.0/": (
        "CC0-1.0",
        "Creative Commons Zero v1.0 Universal",
    ),
    "https://opendatacommons.org/licenses/odbl/1-0/": (
        "ODbL-1.0",
        "Open Data Commons Open Database License v1.0",
    ),
}
PROVENANCE = (
    "Compiled by caigou-hub from government procurement notices published by the "
    "purchasers, agencies and platforms named in each record, under the disclosure rules "
    "(政府采购信息公开). The licence covers the hub's compilation; each notice remains its "
    "publisher's, whose own terms are respected. 本数据由发布主体依法公开的政府采购信息汇编而成，"
    "许可协议适用于汇编部分，各公告仍遵从其发布主体的条款。"
)
DEFAULT_POLICY = "http://localhost:8000/downloads/policy"


@dataclass(frozen=True)
class Licence:
    """A licence URL, the publication policy page's URL and the provenance statement."""

    url: str = CC_BY_4
    policy: str = DEFAULT_POLICY
    provenance: str = PROVENANCE

    @property
    def name(self) -> str | None:
        return KNOWN.get(self.url, (None, None))[0]

    @property
    def title(self) -> str:
        return KNOWN.get(self.url, (None, self.url))[1] or self.url

    def frictionless(self) -> list[dict[str, str]]:
        """`licenses` of a data package (Frictionless): path, title, and name when known."""
        described = {"path": self.url, "title": self.title}
        if self.name:
            described["name"] = self.name
        return [described]

    def as_json(self) -> dict[str, Any]:
        """What catalog.json and /downloads/?format=json say."""
        return {
            "license": self.url,
            "licenseName": self.name,
            "licenseTitle": self.title,
            "publicationPolicy": self.policy,
            "provenance": self.provenance,
        }
