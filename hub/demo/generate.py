"""Write the demo dataset: the files five publishers would push, and where to find them.

Everything derives from the seed (child generators drawn from one `random.Random(seed)`)
and from the fixed base date 2024-01-01, never from the clock, so the same arguments give
byte-identical files: the hub's ingestion, exports and tests can rely on them.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from hub.demo.notices import PLANTED_KEYS, ProjectWriter, assign_planted
from hub.demo.parties import JILIN, Party, build_provinces
from hub.demo.penalties import Authority, PenaltyWriter, write_penalties
from hub.demo.planted import (
    OUTLIER_CODE,
    OUTLIER_KIND,
    PlantedFlag,
    clear_debarments,
    conflicting_copy,
    drawn_flags,
    flags_as_of,
    plant_projects,
)
from hub.demo.published import PublishClock
from hub.demo.relayed import relay_of
from hub.demo.releases import ProjectFacts
from hub.demo.transactions import write_transactions

OTHER_PROVINCES = ("110000", "310000", "110000", "310000", "440000", "330000", "510000", "210000")
OTHER_CODES = tuple(dict.fromkeys(OTHER_PROVINCES))  # ordered: generators draw in this order
REPUSH_SHARE = 0.10  # of Jilin's projects, re-pushed verbatim by the central site
EMPTY_PACKAGE_DATE = "2024-12-31T18:00:00+08:00"


@dataclass(frozen=True)
class PublisherSpec:
    """A publisher account the demo needs: who may push what, for where."""

    name: str
    role: str  # purchaser | agency | regional_site | trading_platform | finance_department
    source_site: str
    regions: tuple[str, ...]  # division codes; "100000" is the whole country
    kinds: tuple[str, ...]  # notice | transaction | penalty


@dataclass(frozen=True)
class Batch:
    """One file to ingest, and the publisher that pushes it."""

    path: Path
    publisher: str
    kind: str
    relays: Path | None = None  # one relay object (or null) a line, in the records' order
    arrivals: tuple[str | None, ...] = ()  # each relayed record's arrival here (ISO, UTC+8)


@dataclass(frozen=True)
class DemoFiles:
    publishers: list[PublisherSpec]
    batches: list[Batch]  # in ingestion order
    planted: list[PlantedFlag] = field(default_factory=list)  # as in planted-flags.json
    flags_as_of: date | None = None  # from this day on, every planted flag shows


JILIN_SITE = PublisherSpec(
    "吉林省政府采购网", "regional_site", "http://www.ccgp-jilin.gov.cn", ("220000",), ("notice",)
)
CENTRAL_SITE = PublisherSpec(
    "中国政府采购网", "regional_site", "http://www.ccgp.gov.cn", ("100000",), ("notice",)
)
JILIN_MALL = PublisherSpec(
    "吉林省政府采购电子卖场", "trading_platform", "http://mall.ccgp-jilin.gov.cn", ("220000",),
    ("transaction",),
)  # fmt: skip
JILIN_FINANCE = PublisherSpec(
    "吉林省财政厅", "finance_department", "http://czt.jl.gov.cn", ("220000",), ("penalty",)
)
MOF = PublisherSpec(
    "财政部", "finance_department", "http://www.mof.gov.cn", ("100000",), ("penalty",)
)
PUBLISHERS = [JILIN_SITE, CENTRAL_SITE, JILIN_MALL, JILIN_FINANCE, MOF]
JILIN_AUTHORITIES = {
    "": Authority("吉林省财政厅", "220000", "吉财采监"),
    "2201": Authority("长春市财政局", "220100", "长财采监"),
    "2202": Authority("吉林市财政局", "220200", "吉市财采监"),
}
MOF_AUTHORITIES = {"": Authority("财政部", "110000", "财库法")}


def _dump(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _package(site: PublisherSpec, name: str, releases: list[dict[str, Any]]) -> dict[str, Any]:
    """An OCDS 1.1 release package, releases in publication order."""
    releases = sorted(releases, key=lambda r: (r["date"], r["ocid"], r["id"]))
    return {
        "uri": f"{site.source_site}/ocds/2024/{name}",
        "version": "1.1",
        "publishedDate": releases[-1]["date"] if releases else EMPTY_PACKAGE_DATE,
        "publisher": {"name": site.name},
        "releases": releases,
    }


def _releases(projects: list[ProjectFacts]) -> list[dict[str, Any]]:
    return [release for project in projects for release in project.releases]


def _write_relays(
    path: Path, releases: list[dict[str, Any]], repushed: list[ProjectFacts], rng: random.Random
) -> tuple[str | None, ...]:
    """The central package's relays file: the re-pushed Jilin releases are relays of the Jilin
    site's (null for the central site's own); returns each record's arrival here."""
    relayed = {project.ocid for project in repushed}
    origin = (JILIN_SITE.name, JILIN_SITE.source_site)
    lines: list[str] = []
    arrivals: list[str | None] = []
    for release in releases:
        if release["ocid"] in relayed:
            relay, arrival = relay_of(release, origin, CENTRAL_SITE.source_site, rng)
            lines.append(json.dumps(relay, ensure_ascii=False))
            arrivals.append(arrival)
        else:
            lines.append("null")
            arrivals.append(None)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return tuple(arrivals)


def generate(
    out: Path,
    *,
    seed: int = 20221,
    projects: int = 240,
    transactions: int = 20_000,
    penalties: int = 80,
) -> DemoFiles:
    """Write the demo files into `out` (created if needed) and say who pushes which."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root = random.Random(seed)
    party_rng, notice_rng, order_rng, penalty_rng = (
        random.Random(root.getrandbits(64)) for _ in range(4)
    )
    plant_rng = random.Random(root.getrandbits(64))  # drawn after: the others stay as they were
    clock = PublishClock(random.Random(root.getrandbits(64)))  # publish times
    relay_rng = random.Random(root.getrandbits(64))  # push lags, drawn last
    provinces = build_provinces(party_rng)
    jilin = provinces[JILIN]

    writer = ProjectWriter(notice_rng, jilin)
    planted = assign_planted(notice_rng, projects)
    jilin_projects = [writer.write(flags) for flags in planted]
    writers = {code: ProjectWriter(notice_rng, provinces[code]) for code in OTHER_CODES}
    other_projects = [
        writers[OTHER_PROVINCES[i % len(OTHER_PROVINCES)]].write(set())
        for i in range(max(2, projects // 6) if projects else 0)
    ]
    repushed = notice_rng.sample(jilin_projects, round(projects * REPUSH_SHARE))

    orders = out / "transactions.csv"
    outliers: list[str] = []
    seen = write_transactions(orders, order_rng, jilin, transactions, outliers, clock)

    penalties_jilin, penalties_mof = out / "penalties-jilin.csv", out / "penalties-mof.csv"
    mof_count = penalties // 4
    jilin_writer = PenaltyWriter(
        penalty_rng, JILIN_AUTHORITIES, jilin_projects, jilin.agencies, seen, lambda a: True
    )
    written = write_penalties(penalties_jilin, jilin_writer, penalties - mof_count, "JLCF", clock)
    national: list[Party] = [a for code in OTHER_CODES for a in provinces[code].agencies]
    mof_writer = PenaltyWriter(  # the ministry evaluates the central state organs' centre
        penalty_rng,
        MOF_AUTHORITIES,
        other_projects or jilin_projects,
        national,
        seen,
        lambda a: a.name.startswith("中央"),
    )
    national_written = write_penalties(penalties_mof, mof_writer, mof_count, "CZBCF", clock)
    debarments = written.debarments + national_written.debarments

    added: list[ProjectFacts] = []
    planted_flags: list[PlantedFlag] = []
    if projects:
        writer.rng = plant_rng  # numbering continues after the ordinary projects
        added, planted_flags = plant_projects(plant_rng, writer, written.debarments)
    kept = clear_debarments(
        plant_rng, jilin_projects + other_projects + added, debarments, provinces,
        written.named | national_written.named,
    )  # fmt: skip
    conflicts = [conflicting_copy(p) for p in added if "sources_conflict" in p.planted]

    notices_jilin, notices_central = out / "notices-jilin.json", out / "notices-central.json"
    jilin_releases = _releases(jilin_projects + added)
    _dump(notices_jilin, _package(JILIN_SITE, notices_jilin.name, jilin_releases))
    central = _releases(repushed) + _releases(other_projects)  # the same objects, verbatim
    package = _package(CENTRAL_SITE, notices_central.name, central + conflicts)
    _dump(notices_central, package)
    relays_central = out / "relays-central.ndjson"
    arrivals = _write_relays(relays_central, package["releases"], repushed, relay_rng)

    found: dict[str, list[str]] = {key: [] for key in PLANTED_KEYS}
    for project, flags in zip(jilin_projects, planted, strict=True):
        for key in flags:
            found[key].append(project.ocid)
    found = {key: sorted(ocids) for key, ocids in found.items()}
    _dump(out / "planted.json", found)
    planted_flags = drawn_flags(found) + planted_flags + kept
    planted_flags += [PlantedFlag(OUTLIER_CODE, OUTLIER_KIND, order_id=o) for o in outliers]
    as_of = flags_as_of(added)
    _dump(out / "planted-flags.json", {
        "about": "Every irregularity the demo plants, by business key, with the flag the hub "
                 "must raise for it; on the ingested demo, flags rebuilt as of `as_of` are "
                 "these and, at high severity, nothing else.",
        "as_of": as_of.isoformat(),
        "flags": [f.as_json() for f in planted_flags],
    })  # fmt: skip

    batches = [
        Batch(notices_jilin, JILIN_SITE.name, "notice"),
        Batch(notices_central, CENTRAL_SITE.name, "notice", relays_central, arrivals),
        Batch(orders, JILIN_MALL.name, "transaction"),
        Batch(penalties_jilin, JILIN_FINANCE.name, "penalty"),
        Batch(penalties_mof, MOF.name, "penalty"),
    ]
    _dump(out / "publishers.json", [asdict(spec) for spec in PUBLISHERS])
    _dump(
        out / "batches.json",
        [
            {
                "path": b.path.name,
                "publisher": b.publisher,
                "kind": b.kind,
                **({"relays": b.relays.name} if b.relays else {}),
            }
            for b in batches
        ],
    )
    return DemoFiles(list(PUBLISHERS), batches, planted_flags, as_of)
