"""One party per organisation: by credit code, otherwise by normalised name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from hub.publishing.dialect import insert_ignoring_conflicts
from hub.publishing.errors import FieldError
from schema.codes import CodeError, check_uscc, is_region_code, normalise_name
from schema.compiled import party_by_name
from schema.divisions import read_region, region_name, registration_region
from schema.ocds import buyer_of, party_with
from schema.search_outbox import enqueue, enqueue_naming
from schema.tables import DATA_QUALITY_ISSUES as ISSUES
from schema.tables import PARTIES
from schema.tables import PARTY_ROLES as ROLES
from schema.types import PartyRole, RecordKind

REGION_NAME = "region_name"  # data-quality codes: a name read as its division code,
REGION_UNLISTED = "region_unlisted"  # a well-formed code the GB/T 2260 list lacks,
REGION_INFERRED = "region_inferred"  # a missing buyer region taken from elsewhere

Note = tuple[str, str, str]  # (field, data-quality code, message)


def resolve_region(value: object, field: str) -> tuple[str, Note | None]:
    """(division code, note) for a region given as a code or a GB/T 2260 name, or FieldError
    naming `field` for an ambiguous or unknown name. Every door reads regions through this."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise FieldError(field, f"{value!r} is not a division code or name")
    try:
        code, message = read_region(str(value))
    except CodeError as exc:
        raise FieldError(field, str(exc)) from None
    if message is None:
        return code, None
    kind = REGION_NAME if not str(value).strip().isdigit() else REGION_UNLISTED
    return code, (field, kind, message)


def quiet_region(value: object) -> str | None:
    """The division code for a party's stated region, None when it cannot be read (the
    door has already refused or recorded it)."""
    try:
        return resolve_region(value, "region")[0] if value not in (None, "") else None
    except FieldError:
        return None


def infer_buyer_region(release: Mapping[str, Any]) -> tuple[str, Note] | None:
    """A region for a buyer that states none: the registration division its credit code
    carries (characters 3–8), else the agency's stated region; with the note saying so."""
    buyer = buyer_of(release)
    if buyer is not None:
        i, party = buyer
        identifier = party.get("identifier") or {}
        if identifier.get("scheme") in ("CN-SAIC", "CN-USCC"):
            code = registration_region(str(identifier.get("id", "")).strip().upper())
            if code:
                field = f"parties[{i}].identifier.id"
                message = (f"buyer region inferred as {code} ({region_name(code)}) from its "
                           "credit code (characters 3–8)")  # fmt: skip
                return code, (field, REGION_INFERRED, message)
    tender = release.get("tender") or {}
    agency_ref = (tender.get("procuringEntity") or {}).get("id")
    agency = party_with(release, agency_ref, "procuringEntity")
    if agency is not None:
        i, party = agency
        stated = (party.get("address") or {}).get("region")
        if stated:
            field = f"parties[{i}].address.region"
            code = resolve_region(stated, field)[0]
            message = f"buyer region inferred as {code} ({region_name(code)}) from the agency's"
            return code, (field, REGION_INFERRED, message + " address.region")
    return None


def record_notes(
    conn: Connection, kind: RecordKind, pk: int, ref: str, notes: Iterable[Note], at: datetime
) -> None:
    """Write how a record's regions were read as `data_quality_issues` rows."""
    rows = [
        {"record_kind": kind.value, "record_pk": pk, "record_ref": ref, "field_name": field,
         "code": code, "message": message, "detected_at": at}
        for field, code, message in notes
    ]  # fmt: skip
    if rows:
        conn.execute(ISSUES.insert(), rows)


class PartyResolver:
    """Finds or creates parties within one batch's transaction, caching what it has seen.

    A party first seen by name only gets its code when a later record gives one, so a
    supplier named in a transaction and coded in a penalty record is still one party.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._by_code: dict[str, int] = {}
        self._by_name: dict[str, int] = {}
        self._valid_codes: dict[str, str] = {}
        self._roles: set[tuple[int, str]] = set()
        self.changed: set[int] = set()  # new, newly coded or in a new role: to re-index
        self.coded: set[int] = set()  # newly coded: what names them is re-indexed too
        self._savepoints = conn.dialect.name != "sqlite"  # SQLite has a single writer

    def check_code(self, code: str, field: str) -> str:
        """The canonical credit code, or FieldError naming `field`."""
        valid = self._valid_codes.get(code)
        if valid is None:
            try:
                valid = check_uscc(code.strip())
            except CodeError as exc:
                raise FieldError(field, str(exc)) from None
            self._valid_codes[code] = valid
        return valid

    def resolve(self, name: str, code: str | None, region: str | None, role: PartyRole) -> int:
        """The party id for `name`/`code` (already checked) in `role`."""
        party_id = self._by_code.get(code) if code else self._by_name.get(name)
        if party_id is None:
            party_id = self._find_or_create(name, code, region)
            if code:
                self._by_code[code] = party_id
            else:
                self._by_name[name] = party_id
        if (party_id, role) not in self._roles:
            added = self.conn.execute(
                insert_ignoring_conflicts(self.conn, ROLES).values(
                    party_id=party_id, role=role.value
                )
            )
            if added.rowcount:
                self.changed.add(party_id)
            self._roles.add((party_id, role))
        return party_id

    def enqueue_changed(self, at: datetime) -> None:
        """Write the search outbox rows for the parties changed since the last call.

        A party that just got its credit code also changes the documents that name it.
        """
        if self.changed:
            enqueue(self.conn, "party", self.changed, at)
            self.changed = set()
        if self.coded:
            enqueue_naming(self.conn, sorted(self.coded), at)
            self.coded = set()

    def _find_or_create(self, name: str, code: str | None, region: str | None) -> int:
        key = normalise_name(name)
        region = quiet_region(region)  # a release may state it as a name (吉林省辽源市东丰县)
        if code:
            row = self.conn.execute(select(PARTIES.c.id).where(PARTIES.c.uscc == code)).first()
            if row:
                return row.id
            unnamed = self.conn.execute(
                select(PARTIES.c.id).where(
                    PARTIES.c.name_normalised == key, PARTIES.c.uscc.is_(None)
                )
            ).first()
            if unnamed:  # known by name only so far: give it its code
                self.conn.execute(
                    update(PARTIES).where(PARTIES.c.id == unnamed.id).values(uscc=code)
                )
                self.changed.add(unnamed.id)
                self.coded.add(unnamed.id)
                return unnamed.id
            if is_region_code(code[2:8]):
                region = code[2:8]
        else:
            rows = self.conn.execute(
                select(PARTIES.c.id, PARTIES.c.uscc)
                .where(PARTIES.c.name_normalised == key)
                .order_by(PARTIES.c.id)
            ).all()
            found = party_by_name([(r.id, r.uscc) for r in rows])
            if found is not None:  # an uncoded one, or the one coded party of that name
                return found
        return self._insert(name, key, code, region)

    def _insert(self, name: str, key: str, code: str | None, region: str | None) -> int:
        values = {"name": name.strip(), "name_normalised": key, "uscc": code, "region_code": region}
        statement = PARTIES.insert().values(**values).returning(PARTIES.c.id)
        if not self._savepoints:
            return self.conn.execute(statement).scalar_one()
        try:
            with self.conn.begin_nested():
                return self.conn.execute(statement).scalar_one()
        except IntegrityError:  # another worker created it a moment ago
            column = PARTIES.c.uscc if code else PARTIES.c.name_normalised
            return self.conn.execute(
                select(PARTIES.c.id).where(column == (code or key))
            ).scalar_one()
