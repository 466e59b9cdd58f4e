"""Publishers and parties: who pushes records, and the organisations they name."""

from __future__ import annotations

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import SQLModel

from schema.columns import field
from schema.types import BeijingTime


class Publisher(SQLModel, table=True):
    """An account allowed to push records within its scope (谁发布谁负责)."""

    __tablename__ = "publishers"

    id: int | None = field("发布者编号", "Internal publisher id.", primary_key=True)
    name: str = field("发布者", "Publisher name, unique.", unique=True)
    role: str = field(
        "发布者类型",
        "purchaser, agency, regional_site, trading_platform or finance_department.",
    )
    source_site: str | None = field("来源网站", "Site the publisher pushes from.", default=None)
    scope_regions: str = field(
        "发布区域",
        "Comma-separated division codes the publisher may publish for (descendants included).",
        public=False,
    )
    scope_kinds: str = field(
        "发布类别", "Comma-separated record kinds: notice, transaction, penalty.", public=False
    )
    token_hash: str = field(
        "令牌摘要",
        "SHA-256 of the API token; the token itself is never stored.",
        public=False,
        unique=True,
    )
    previous_token_hash: str | None = field(
        "旧令牌摘要",
        "SHA-256 of the token replaced by the last rotation; valid until its expiry.",
        default=None,
        public=False,
        unique=True,
        index=True,
    )
    previous_token_expires_at: BeijingTime | None = field(
        "旧令牌失效时间",
        "When the replaced token stops working (UTC+8): the rotation's grace period.",
        default=None,
        public=False,
    )
    created_at: BeijingTime = field(
        "创建时间", "When the publisher was added (UTC+8).", public=False
    )
    revoked_at: BeijingTime | None = field(
        "吊销时间",
        "When its token was revoked; revoked publishers cannot publish.",
        default=None,
        public=False,
    )


class Party(SQLModel, table=True):
    """An organisation, the same one wherever it appears."""

    __tablename__ = "parties"
    __table_args__ = (
        Index(
            "uq_parties_name_without_code",
            "name_normalised",
            unique=True,
            sqlite_where=text("uscc IS NULL"),
            postgresql_where=text("uscc IS NULL"),
        ),
    )

    id: int | None = field("主体编号", "Internal party id.", primary_key=True)
    name: str = field("名称", "Name as first published.")
    name_normalised: str = field(
        "规范名称",
        "Name with full-width characters, spaces and brackets normalised; the key when there "
        "is no credit code.",
        index=True,
    )
    uscc: str | None = field(
        "统一社会信用代码",
        "Unified social credit code (GB 32100-2015), checked with its check character.",
        default=None,
        unique=True,
    )
    region_code: str | None = field(
        "行政区划代码", "GB/T 2260 division code of the party.", default=None, index=True
    )
    address: str | None = field(
        "地址", "Street address as last published (address.streetAddress).", default=None
    )
    contact_name: str | None = field(
        "联系人", "Contact person as last published (contactPoint.name).", default=None
    )
    contact_telephone: str | None = field(
        "联系电话", "Contact telephone as last published (contactPoint.telephone).", default=None
    )


class PartyRoleLink(SQLModel, table=True):
    """The roles a party has been seen in (purchaser, agency, supplier, …)."""

    __tablename__ = "party_roles"
    __table_args__ = (UniqueConstraint("party_id", "role"),)

    id: int | None = field("编号", "Internal id.", primary_key=True, public=False)
    party_id: int = field("主体编号", "The party.", foreign_key="parties.id", index=True)
    role: str = field("角色", "purchaser, agency, supplier, finance_department, …", index=True)
