"""Labels shown beside codes, read from `schema/` (one fact, one place): GraphQL and pages."""

from __future__ import annotations

from functools import cache

from schema.catalogue import public_fields
from schema.codes import category_name
from schema.types import CHANNEL_LABELS, NOTICE_TYPE_LABELS, Channel, NoticeType


@cache
def labels(entity: str) -> dict[str, str]:
    """Chinese field labels of an entity, by field name, from the catalogue."""
    return {f.name: f.label for f in public_fields(entity)}


def notice_type_label(code: str | None) -> str:
    if code is not None and code in NoticeType.__members__:
        return NOTICE_TYPE_LABELS[NoticeType(code)]
    return code or ""


def channel_label(code: str | None) -> str:
    """协议供货, 定点采购 or 电子卖场; a code the enum lacks as it is."""
    if code is not None and code in Channel.__members__:
        return CHANNEL_LABELS[Channel(code)]
    return code or ""


def category_label(code: str | None, edition: str | None = None) -> str:
    """`A02010105 台式计算机`: code and name, as GraphQL's categoryName gives it."""
    name = category_name(code, edition)
    return f"{code} {name}" if name else (code or "")
