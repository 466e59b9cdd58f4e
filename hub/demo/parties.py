"""The demo's organisations, each with a valid unified social credit code.

Codes are computed once per party (GB 32100-2015 check character over a GB 11714
organisation code), so the million-row transaction writer only copies strings.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hub.demo.vocabulary import (
    AGENCIES,
    CITY_ONLY_KINDS,
    COMPANY_PLACES,
    JILIN_CITIES,
    NAMED_PURCHASERS,
    OTHER_DISTRICTS,
    OTHER_TRADES,
    OTHER_UNIT_KINDS,
    TRADE_NAMES,
    TRADES,
    UNIT_KINDS,
)

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714 organisation code
JILIN = "220000"
GENERATED_PURCHASERS = 300


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def organisation_code(rng: random.Random) -> str:
    """Nine characters as GB 11714 makes them: eight digits and their check character."""
    body = str(rng.randrange(10_000_000, 100_000_000))
    check = 11 - sum(int(c) * w for c, w in zip(body, ORG_WEIGHTS, strict=True)) % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


@dataclass(frozen=True)
class Party:
    name: str
    uscc: str
    region: str
    trade: str  # a supplier's trade, a purchaser's sector, "agency" or "centralised"

    def ref(self) -> dict[str, str]:
        return {"id": self.uscc, "name": self.name}

    def ocds(self, roles: Iterable[str]) -> dict[str, Any]:
        """The OCDS parties entry; the credit code is both its id and its identifier."""
        return {
            "id": self.uscc,
            "name": self.name,
            "identifier": {"scheme": "CN-SAIC", "id": self.uscc, "legalName": self.name},
            "address": {"region": self.region},
            "roles": list(roles),
        }


@dataclass
class Province:
    """The organisations of one province in the demo."""

    code: str
    purchasers: list[Party] = field(default_factory=list)
    agencies: list[Party] = field(default_factory=list)
    suppliers: dict[str, list[Party]] = field(default_factory=dict)

    def trade_suppliers(self, trade: str) -> list[Party]:
        """Suppliers of `trade`, or the province's largest pool when it has too few."""
        found = self.suppliers.get(trade, [])
        if len(found) >= 3:
            return found
        return max(self.suppliers.values(), key=len)


class PartyFactory:
    """Makes parties with codes unique across the whole demo."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.codes: set[str] = set()
        self.names: set[str] = set()

    def make(self, name: str, region: str, kind: str, trade: str) -> Party:
        while True:
            first17 = kind + region + organisation_code(self.rng)
            code = first17 + uscc_check_char(first17)
            if code not in self.codes:
                break
        self.codes.add(code)
        self.names.add(name)
        return Party(name, code, region, trade)


def _jilin_units(rng: random.Random) -> list[tuple[str, str, str, str]]:
    """Every (name, region, kind, sector) a Jilin city or county could have; a sample is used."""
    units: list[tuple[str, str, str, str]] = []
    for city_code, city, counties in JILIN_CITIES:
        for kind, code_type, sector in UNIT_KINDS:
            units.append((city + kind, city_code, code_type, sector))
        for county_code, county in counties:
            district = county.endswith("区")
            for kind, code_type, sector in UNIT_KINDS:
                if district and kind in CITY_ONLY_KINDS:
                    continue
                name = (city + county if district else county) + kind
                units.append((name, county_code, code_type, sector))
    return rng.sample(units, min(GENERATED_PURCHASERS, len(units)))


def _suppliers(
    factory: PartyFactory, province: str, trades: Iterable[str], scale: float
) -> dict[str, list[Party]]:
    rng = factory.rng
    places = COMPANY_PLACES[province]
    pools: dict[str, list[Party]] = {}
    for trade in trades:
        words, code_type, share = TRADES[trade]
        pool: list[Party] = []
        for _ in range(max(3, round(share * scale))):
            while True:
                place, region = rng.choice(places)
                name = _company_name(rng, place, rng.choice(TRADE_NAMES), rng.choice(words))
                if name not in factory.names:
                    break
            pool.append(factory.make(name, region, code_type, trade))
        pools[trade] = pool
    return pools


def _company_name(rng: random.Random, place: str, trade_name: str, industry: str) -> str:
    if industry == "律师事务所":
        return f"{place.removesuffix('市').removesuffix('省')}{trade_name}律师事务所"
    if industry == "会计师事务所":
        return f"{place}{trade_name}会计师事务所有限公司"
    roll = rng.random()
    if roll < 0.08:
        return f"{place}{trade_name}{industry}(集团)有限公司"
    if roll < 0.16:
        return f"{place}{trade_name}{industry}股份有限公司"
    if roll < 0.24:
        return f"{place}{trade_name}{industry}有限责任公司"
    return f"{place}{trade_name}{industry}有限公司"


def build_provinces(rng: random.Random) -> dict[str, Province]:
    """Jilin in depth (a few hundred purchasers and suppliers), other provinces sparsely."""
    factory = PartyFactory(rng)
    provinces: dict[str, Province] = {}
    for code, named in NAMED_PURCHASERS.items():
        province = Province(code)
        for name, region, kind, sector in named:
            province.purchasers.append(factory.make(name, region, kind, sector))
        if code == JILIN:
            for name, region, kind, sector in _jilin_units(rng):
                if name not in factory.names:  # the named ones come first
                    province.purchasers.append(factory.make(name, region, kind, sector))
            province.suppliers = _suppliers(factory, code, TRADES, 1.0)
        else:
            for region, place in OTHER_DISTRICTS[code]:
                for kind, code_type, sector in OTHER_UNIT_KINDS:
                    province.purchasers.append(
                        factory.make(place + kind, region, code_type, sector)
                    )
            province.suppliers = _suppliers(factory, code, OTHER_TRADES, 0.12)
        for name, region, kind, centralised in AGENCIES[code]:
            trade = "centralised" if centralised else "agency"
            province.agencies.append(factory.make(name, region, kind, trade))
        provinces[code] = province
    return provinces


def name_variant(rng: random.Random, name: str) -> str:
    """The same name as a careless clerk types it: full-width brackets or stray spaces."""
    if "(" in name:
        return name.replace("(", "（").replace(")", "）")
    cut = 3 if name[2] in "市省" else 2
    space = rng.choice((" ", "  ", "\u3000"))
    return name[:cut] + space + name[cut:]
