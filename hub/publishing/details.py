"""The details real notices carry, read from OCDS core and the `caigou` extension.

Core OCDS gives item lines (`items[]`: description, quantity, unit.name, unit.value) and
party addresses and contact points; the `caigou` extension (schema/data/extension-caigou/)
adds what no registered extension carries: 最高限价 `tender.ceilingPrice`, 代理服务收费金额
`tender.agencyFee`, `smeSetAside`, `consortiumAllowed` (tender and lots), the release's
`publicityPeriod`, `items[].specification` and `awards[].evaluationExperts`.

`detail_faults` checks them when a release arrives; `store_details` stores them when its
project is compiled (`schema.compiled` reads them). Experts are public only in result
notices (`EXPERTS_PUBLIC_IN`): a release of any other type naming them is refused, since
its payload is kept and published verbatim (the OCDS download), so the names must never be
stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, RowMapping, delete, select, update

from hub.publishing.cells import MAX_MONEY, MAX_QUANTITY, decimal, iso_datetime
from hub.publishing.errors import FieldError
from schema.codes import region_within
from schema.compiled import CompiledProject
from schema.details import EXPERTS_PUBLIC_IN
from schema.divisions import NATIONWIDE
from schema.ocds import notice_type_of, parse_ocds_datetime
from schema.tables import EVALUATION_EXPERTS as EXPERTS
from schema.tables import NOTICES, PARTIES, PROJECTS
from schema.tables import PROJECT_ITEMS as ITEMS

FLAGS = ("smeSetAside", "consortiumAllowed")
EXPERT_ROLES = ("chair", "expert", "purchaserRepresentative")
CONTACT = ("address", "contact_name", "contact_telephone")
EXPERTS_RULE = (
    "evaluation experts' names are public only in a result notice (中标/成交结果公告, "
    "政府采购法实施条例 art 43; docs/disclosure.md: Notice types): publish them there, "
    "not in a {} notice"
)


# --- checks, when a release arrives -------------------------------------------------------


def detail_faults(release: Mapping[str, Any]) -> list[FieldError]:
    """Every fault in the detail fields of one release, each with its JSON path."""
    faults: list[FieldError] = []
    tender = _object(release.get("tender"))
    for key in ("ceilingPrice", "agencyFee"):
        _amount(faults, tender.get(key), f"tender.{key}", places=2)
    _flags(faults, tender, "tender")
    for i, lot in enumerate(_objects(tender.get("lots"))):
        _amount(faults, lot.get("ceilingPrice"), f"tender.lots[{i}].ceilingPrice", places=2)
        _flags(faults, lot, f"tender.lots[{i}]")
    _items(faults, tender.get("items"), "tender.items")
    notice_type = notice_type_of(release)
    for j, award in enumerate(_objects(release.get("awards"))):
        _items(faults, award.get("items"), f"awards[{j}].items")
        experts, path = award.get("evaluationExperts"), f"awards[{j}].evaluationExperts"
        if notice_type in EXPERTS_PUBLIC_IN:
            _experts(faults, experts, path)
        elif experts not in (None, []):
            shown = notice_type.value if notice_type else "non-procurement"
            faults.append(FieldError(path, EXPERTS_RULE.format(shown)))
    _period(faults, release.get("publicityPeriod"), "publicityPeriod")
    return faults


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _objects(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _amount(faults: list[FieldError], value: Any, path: str, *, places: int) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        faults.append(FieldError(path, "must be an object with amount and currency"))
        return
    if isinstance(value.get("amount"), str) and not value["amount"].strip():
        faults.append(FieldError(f"{path}.amount", "is empty: give a number, or leave it out"))
        return
    try:
        decimal(value, "amount", places=places, maximum=MAX_MONEY, required=False)
    except FieldError as error:
        faults.append(FieldError(f"{path}.amount", error.reason))


def _flags(faults: list[FieldError], owner: Mapping[str, Any], path: str) -> None:
    for key in FLAGS:
        value = owner.get(key)
        if value is not None and not isinstance(value, bool):
            faults.append(FieldError(f"{path}.{key}", f"{value!r} must be true or false"))


def _items(faults: list[FieldError], items: Any, path: str) -> None:
    for i, item in enumerate(_objects(items)):
        where = f"{path}[{i}]"
        try:
            decimal(item, "quantity", places=3, maximum=MAX_QUANTITY, required=False)
        except FieldError as error:
            faults.append(FieldError(f"{where}.quantity", error.reason))
        unit = _object(item.get("unit"))
        _amount(faults, unit.get("value"), f"{where}.unit.value", places=4)
        spec = item.get("specification")
        if spec is not None and not isinstance(spec, str):
            faults.append(FieldError(f"{where}.specification", "must be text (规格型号)"))


def _experts(faults: list[FieldError], experts: Any, path: str) -> None:
    if experts is None:
        return
    if not isinstance(experts, list):
        faults.append(FieldError(path, "must be a list of {name, role}"))
        return
    for i, expert in enumerate(experts):
        name = expert.get("name") if isinstance(expert, dict) else None
        if not isinstance(name, str) or not name.strip():
            faults.append(FieldError(f"{path}[{i}].name", "is required (专家姓名)"))
        role = expert.get("role") if isinstance(expert, dict) else None
        if role is not None and not isinstance(role, str):
            faults.append(FieldError(f"{path}[{i}].role", f"must be text, e.g. {EXPERT_ROLES}"))


def _period(faults: list[FieldError], period: Any, path: str) -> None:
    if period is None:
        return
    if not isinstance(period, dict):
        faults.append(FieldError(path, "must be an object with startDate, endDate"))
        return
    moments = {}
    for key in ("startDate", "endDate"):
        if period.get(key) is not None:
            try:
                moments[key] = iso_datetime(period[key], f"{path}.{key}", schedule=True)
            except FieldError as error:
                faults.append(error)
    if len(moments) == 2 and moments["endDate"] < moments["startDate"]:
        faults.append(FieldError(f"{path}.endDate", "is before startDate"))
    days = period.get("durationInDays")
    if days is not None and (type(days) is not int or not 0 <= days <= 3660):
        faults.append(FieldError(f"{path}.durationInDays", f"{days!r} is not a number of days"))


# --- compiling, when a project changes ----------------------------------------------------


def store_details(
    conn: Connection, project_id: int, notices: Sequence[Any], rows: CompiledProject
) -> set[int]:
    """Store a compiled project's item lines and experts, each notice's publicity period and
    the parties' contacts; returns the parties whose contact changed.

    `notices` are the project's notices (id, notice_type, payload) in publish order; the lots'
    and project's detail columns came with their rows (`schema.compiled`).
    """
    conn.execute(delete(ITEMS).where(ITEMS.c.project_id == project_id))
    if rows.project_items:
        conn.execute(ITEMS.insert(), rows.project_items)
    conn.execute(delete(EXPERTS).where(EXPERTS.c.project_id == project_id))
    if rows.evaluation_experts:
        conn.execute(EXPERTS.insert(), rows.evaluation_experts)
    _publicity(conn, project_id, notices)
    return _contacts(conn, project_id, rows.contacts)


def _publicity(conn: Connection, project_id: int, notices: Sequence[Any]) -> None:
    """Fill each notice's publicity period from its own payload, once."""
    unset = set(
        conn.execute(
            select(NOTICES.c.id).where(
                NOTICES.c.project_id == project_id,
                NOTICES.c.publicity_start.is_(None),
                NOTICES.c.publicity_end.is_(None),
                NOTICES.c.publicity_days.is_(None),
            )
        ).scalars()
    )
    for notice in notices:
        if notice.id not in unset:
            continue
        payload = notice.payload  # parsed by the compiler (NoticeFact), or a stored row's text
        release = payload if isinstance(payload, Mapping) else orjson.loads(payload)
        period = _object(release.get("publicityPeriod"))
        start, end = period.get("startDate"), period.get("endDate")
        values = {
            "publicity_start": parse_ocds_datetime(start) if start else None,
            "publicity_end": parse_ocds_datetime(end) if end else None,
            "publicity_days": period.get("durationInDays"),
        }
        if any(v is not None for v in values.values()):
            conn.execute(update(NOTICES).where(NOTICES.c.id == notice.id).values(**values))


def _contacts(
    conn: Connection, project_id: int, wanted: Mapping[int, Mapping[str, str]]
) -> set[int]:
    """Write each named party's address and contact point, as the project last published them.

    A party's row is shared by every project naming it, so a project writes them only for a
    party in its own region (`_may_write`): a publisher cannot rewrite, through a project
    of its scope, the contact that another region's projects show.
    """
    if not wanted:
        return set()
    region = conn.execute(
        select(PROJECTS.c.region_code).where(PROJECTS.c.id == project_id)
    ).scalar()
    columns = (PARTIES.c.id, PARTIES.c.region_code, *(PARTIES.c[k] for k in CONTACT))
    held = {
        r.id: r._mapping for r in conn.execute(select(*columns).where(PARTIES.c.id.in_(wanted)))
    }
    changed = set()
    for pk, given in wanted.items():
        row = held.get(pk)
        if row is None or not _may_write(row, region):
            continue
        if any(row[k] != v for k, v in given.items()):
            conn.execute(update(PARTIES).where(PARTIES.c.id == pk).values(**given))
            changed.add(pk)
    return changed


def _may_write(party: RowMapping, project_region: str | None) -> bool:
    """Whether a project in `project_region` may write the party's address and contact: when
    none is stored yet, or when the party's division lies within the project's (220000
    covers 220102; a nationwide project, 100000, covers every division)."""
    if not any(party[k] for k in CONTACT):
        return True
    own = party["region_code"]
    if not own or not project_region:
        return False
    return project_region == NATIONWIDE or region_within(own, project_region)
