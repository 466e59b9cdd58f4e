"""Codes the domain checks: credit codes, party names, division codes, item categories."""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import ValidationError


class CodeError(ValueError):
    """A code that fails its check; the message says why and what is expected."""


def _reason(exc: ValidationError) -> str:
    """stdnum's subclasses (InvalidFormat, InvalidChecksum, …) each carry a `message`."""
    return str(getattr(exc, "message", exc))


def check_uscc(code: str) -> str:
    """The code in canonical form, or CodeError naming the fault (GB 32100-2015)."""
    try:
        return str(stdnum_uscc.validate(code))
    except ValidationError as exc:
        raise CodeError(
            f"invalid unified social credit code {code!r}: {_reason(exc).lower().rstrip('.')}"
            " (18 characters from 0-9 and A-Y without I, O, S, V, Z, last one a check character)"
        ) from None


_BRACKETS = str.maketrans({"【": "(", "】": ")", "〔": "(", "〕": ")", "[": "(", "]": ")"})
_SPACE = re.compile(r"\s+")


def normalise_name(name: str) -> str:
    """The key for a party without a credit code: width, spaces and brackets folded."""
    folded = unicodedata.normalize("NFKC", name).translate(_BRACKETS)
    return _SPACE.sub("", folded).lower()


_REGION = re.compile(r"^\d{6}$")


def is_region_code(code: str) -> bool:
    return bool(_REGION.match(code)) and code[:2] != "00"


def region_prefix(code: str) -> str:
    """The prefix all of a division's descendants share: 220000 → 22, 220100 → 2201."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def region_within(code: str, scope: str) -> bool:
    """Whether division `code` is `scope` or lies inside it."""
    return code.startswith(region_prefix(scope))


@dataclass(frozen=True)
class CatalogueItem:
    code: str
    name: str
    level: int
    parent_code: str | None
    category: str


CURRENT_EDITION = "2022"
CATEGORY_NAME_HELP = "品目名称: the category's name in the 2022 catalogue, when it is from it."
_CATEGORY_FORMAT = re.compile(r"^[ABC](\d{2}){0,4}$|^[ABC]\d{8}$")


@cache
def item_catalogue() -> dict[str, CatalogueItem]:
    """The 2022 edition of 政府采购品目分类目录 (4,272 codes)."""
    text = resources.files("schema").joinpath("data/catalog-2022.csv").read_text("utf-8")
    return {
        row["code"]: CatalogueItem(
            row["code"], row["name"], int(row["level"]), row["parent_code"] or None, row["category"]
        )
        for row in csv.DictReader(text.splitlines())
    }


def category_name(code: str | None, edition: str | None = None) -> str | None:
    """The 2022 catalogue's name for `code`, also for a search facet's prefix (A02 → A02000000)."""
    if not code or edition not in (None, CURRENT_EDITION):
        return None
    catalogue = item_catalogue()
    item = catalogue.get(code)
    if item is None and len(code) < 9 and looks_like_category(code) and len(code) > 1:
        item = catalogue.get(code.ljust(9, "0"))
    return item.name if item else None


def check_category(code: str, edition: str | None) -> str:
    """The edition to store with `code`; a 2022 code must exist in the 2022 catalogue."""
    edition = edition or CURRENT_EDITION
    if edition == CURRENT_EDITION:
        if code not in item_catalogue():
            raise CodeError(
                f"category code {code!r} is not in the {CURRENT_EDITION} item catalogue; "
                "if it is from another edition, give that edition (e.g. 2013)"
            )
    elif not _CATEGORY_FORMAT.match(code):
        raise CodeError(f"category code {code!r} is not a catalogue code (A/B/C and 8 digits)")
    return edition


CATALOGUE_SCHEMES = {"CN-GPC-2022": "2022", "CN-GPC-2013": "2013"}


def looks_like_category(code: str) -> bool:
    """Whether `code` has the shape of a 品目 code (A/B/C and up to 8 digits)."""
    return bool(_CATEGORY_FORMAT.match(code))


def catalogue_classification(scheme: object, code: object) -> tuple[str, str] | None:
    """(code, edition) when an OCDS classification is a 品目 of the catalogue, None when it is
    from a foreign scheme (CPV, UNSPSC…), which is kept in the payload but is not the 品目.

    A code shaped like a catalogue code is checked whatever the scheme says, so a CPV label
    cannot smuggle an unknown 品目 in; CodeError when it fails.
    """
    if not isinstance(code, str) or not code.strip():
        return None
    code = code.strip()
    edition = CATALOGUE_SCHEMES.get(scheme) if isinstance(scheme, str) else None
    if edition is None and not looks_like_category(code):
        return None
    return code, check_category(code, edition)
