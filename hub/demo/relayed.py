"""Relayed notices with realistic push lags (推送时效), so push timeliness has something to measure.

中国政府采购网 (the central site) passes on what 吉林省政府采购网 first published: the demo's
re-pushed Jilin projects arrive at this hub as relays (issue 17, design §4), each with the
path Jilin site → central site and an arrival time drawn from a realistic spread: most within
hours of first publication (实时推送), some the next working day, a few days late. Draws
come from their own generator, so the rest of the demo is the same with or without them.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

# (share, lowest hours, highest hours) from first publication to arrival here.
LAG_SPREAD = ((0.55, 0.05, 4.0), (0.25, 4.0, 30.0), (0.12, 30.0, 80.0), (0.08, 96.0, 300.0))
HOP_MINUTES = (2, 30)  # the central site passes a record on within these minutes


def draw_lag(rng: random.Random) -> timedelta:
    """Hours from first publication to arrival at this hub, from LAG_SPREAD."""
    pick, total = rng.random(), 0.0
    span = LAG_SPREAD[-1][1:]
    for share, *bounds in LAG_SPREAD:
        total += share
        if pick < total:
            span = (bounds[0], bounds[1])
            break
    return timedelta(hours=round(rng.uniform(*span), 4))


def relay_of(
    release: dict[str, Any], origin: tuple[str, str], via: str, rng: random.Random
) -> tuple[dict[str, Any], str]:
    """The relay metadata of `release` first published by `origin` (name, site URL) and
    passed on by the site `via`, and the time it reaches this hub (ISO, Beijing time)."""
    first = datetime.fromisoformat(release["date"]).replace(tzinfo=None)
    arrival = first + draw_lag(rng)
    passed_on = max(first, arrival - timedelta(minutes=rng.randint(*HOP_MINUTES)))
    relay = {
        "originalPublisher": origin[0], "originalRole": "regional_site",
        "sourceSite": origin[1], "firstPublishedAt": release["date"],
        "hops": [{"hub": origin[1], "receivedAt": f"{release['date'][:19]}+08:00"},
                 {"hub": via, "receivedAt": f"{passed_on.isoformat(timespec='seconds')}+08:00"}],
    }  # fmt: skip
    return relay, arrival.isoformat(timespec="seconds")
