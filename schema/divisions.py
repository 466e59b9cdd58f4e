"""GB/T 2260 administrative divisions: names, hierarchy, and a name read back as its code.

Publishers write a region as `220421`, as `吉林省辽源市东丰县`, or as `东丰县`; the hub stores
the code and shows the name, from the one list in `schema/data/divisions.csv` (民政部's
county-level list as of 2024-12-31; sources in `schema/data/SOURCES.md`).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import combinations

from schema.codes import CodeError, is_region_code

LIST_EDITION = "2024"
NATIONWIDE = "100000"  # a scope, not a division: 中华人民共和国
NATIONWIDE_NAME = "全国"
REGION_NAME_HELP = "行政区划名称: the division's full GB/T 2260 name, e.g. 吉林省辽源市东丰县."
LEVELS = {"province": "省级", "prefecture": "地级", "county": "县级"}
_SEPARATORS = re.compile(r"[\s/\\|,，、·•\-－—>＞]+")
_CITY_DISTRICTS = ("市辖区", "省直辖县级行政区划", "自治区直辖县级行政区划")


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    level: str  # province, prefecture or county
    parent_code: str | None


@cache
def divisions() -> dict[str, Division]:
    """Every current division by code (3,213 codes: 34 provinces, 333 prefectures …)."""
    text = resources.files("schema").joinpath("data/divisions.csv").read_text("utf-8")
    return {
        row["code"]: Division(row["code"], row["name"], row["level"], row["parent_code"] or None)
        for row in csv.DictReader(text.splitlines())
    }


def division(code: str | None) -> Division | None:
    return divisions().get(code) if code else None


def lineage(code: str) -> list[Division]:
    """The division and those above it, province first: 吉林省, 辽源市, 东丰县."""
    chain: list[Division] = []
    current = division(code)
    while current is not None:
        chain.append(current)
        current = division(current.parent_code)
    return chain[::-1]


def region_name(code: str | None) -> str | None:
    """The full name a reader knows it by (吉林省辽源市东丰县), or None for an unknown code."""
    if code == NATIONWIDE:
        return NATIONWIDE_NAME
    chain = lineage(code) if code else []
    if not chain and code and code.endswith("01") and division(code[:4] + "00"):
        chain = [*lineage(code[:4] + "00"), Division(code, "市辖区", "county", code[:4] + "00")]
    return "".join(d.name for d in chain) or None  # 市辖区: older lists' code for the city


def region_label(code: str | None) -> str:
    """`220421 吉林省辽源市东丰县` for pages; the bare code when the list does not know it."""
    name = region_name(code)
    return f"{code} {name}" if name else (code or "")


def _folded(name: str) -> str:
    text = unicodedata.normalize("NFKC", name)
    for filler in _CITY_DISTRICTS:  # 北京市市辖区东城区: the list has no such level
        text = text.replace(filler, "")
    return _SEPARATORS.sub("", text)


@cache
def _by_name() -> dict[str, frozenset[str]]:
    """Each way of writing a division's name (its own name, preceded by any of the names
    above it, in order) → the codes it may mean."""
    index: dict[str, set[str]] = {}
    for code in divisions():
        *above, own = [d.name for d in lineage(code)]
        for size in range(len(above) + 1):
            for prefix in combinations(above, size):
                index.setdefault(_folded("".join((*prefix, own))), set()).add(code)
    return {name: frozenset(codes) for name, codes in index.items()}


def code_for_name(name: str) -> str:
    """The one division `name` means, or CodeError saying it is unknown or ambiguous."""
    codes = _by_name().get(_folded(name), frozenset())
    if len(codes) == 1:
        return next(iter(codes))
    if not codes:
        raise CodeError(
            f"{name!r} is neither a six-digit division code nor a division name of the "
            f"GB/T 2260 list ({LIST_EDITION}), e.g. 220421 or 吉林省辽源市东丰县"
        )
    shown = ", ".join(f"{c} {region_name(c)}" for c in sorted(codes)[:5])
    more = f" and {len(codes) - 5} more" if len(codes) > 5 else ""
    raise CodeError(
        f"{name!r} names {len(codes)} divisions ({shown}{more}): give the code or the name "
        "with its province"
    )


def read_region(value: str) -> tuple[str, str | None]:
    """(code, note) for a region given as a code or a name; the note says how a name or an
    unlisted code was read, for the data-quality record. CodeError when it cannot be read."""
    text = value.strip()
    if text.isascii() and text.isdigit():
        if not is_region_code(text):
            raise CodeError(f"{value!r} is not a six-digit division code (GB/T 2260)")
        if text != NATIONWIDE and text not in divisions():
            return text, f"{text} is not in the GB/T 2260 list ({LIST_EDITION}); kept as given"
        return text, None
    code = code_for_name(text)
    return code, f"region given as the name {text!r}, read as {code} ({region_name(code)})"


def registration_region(uscc: str | None) -> str | None:
    """The registration division a unified social credit code carries (characters 3–8),
    when it is a listed division."""
    if not uscc or len(uscc) != 18:
        return None
    code = uscc[2:8]
    return code if code in divisions() else None
