"""Projects and their notices; lots, awards and contracts are compiled from the notices."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Text, UniqueConstraint, false
from sqlmodel import SQLModel

from schema.columns import Money, field
from schema.types import BeijingTime


class Project(SQLModel, table=True):
    """A procurement project's current state, compiled from its notices in publish order."""

    __tablename__ = "projects"

    id: int | None = field("项目内部编号", "Internal project id.", primary_key=True)
    ocid: str = field(
        "开放缔约标识OCID", "Open Contracting ID of the procurement process.", unique=True
    )
    project_code: str | None = field(
        "项目编号", "Project code given by the purchaser.", default=None
    )
    title: str | None = field("项目名称", "Project title.", default=None)
    purchaser_id: int | None = field(
        "采购人", "Purchasing unit (party).", default=None, foreign_key="parties.id", index=True
    )
    agency_id: int | None = field(
        "采购代理机构",
        "Procurement agency (party).",
        default=None,
        foreign_key="parties.id",
        index=True,
    )
    region_code: str | None = field("行政区划代码", "Division code.", default=None, index=True)
    procurement_method: str | None = field(
        "采购方式", "OCDS procurementMethod: open, selective, limited or direct.", default=None
    )
    procurement_method_details: str | None = field(
        "采购方式名称", "Chinese method name, e.g. 公开招标, 单一来源.", default=None
    )
    main_category: str | None = field("采购类别", "goods, works or services.", default=None)
    category_code: str | None = field("品目编码", "Procurement item category code.", default=None)
    category_edition: str | None = field(
        "品目目录版本", "Edition of the item catalogue the code is from (2022, 2013).", default=None
    )
    budget: Decimal | None = field("预算金额", "Budget in yuan.", default=None, sa_type=Money)
    currency: str | None = field("币种", "ISO 4217 currency code.", default=None)
    ceiling_price: Decimal | None = field(
        "最高限价",
        "Ceiling price in yuan: bids above it are refused. Not the budget (tender.ceilingPrice).",
        default=None,
        sa_type=Money,
    )
    agency_fee: Decimal | None = field(
        "代理服务收费金额",
        "Agency service fee in yuan (tender.agencyFee).",
        default=None,
        sa_type=Money,
    )
    sme_set_aside: bool | None = field(
        "专门面向中小企业",
        "Whether the purchase is reserved for small and medium enterprises (tender.smeSetAside).",
        default=None,
    )
    consortium_allowed: bool | None = field(
        "是否接受联合体",
        "Whether consortia (联合体) may bid (tender.consortiumAllowed).",
        default=None,
    )
    status: str = field(
        "项目状态", "planning, tendering, awarded, contracted, completed, terminated."
    )
    first_published_at: BeijingTime | None = field(
        "首次发布时间", "First notice (UTC+8).", default=None
    )
    last_published_at: BeijingTime | None = field(
        "最近发布时间", "Latest notice (UTC+8).", default=None
    )
    notice_count: int = field("公告数", "Number of notices compiled.", default=0)


class Notice(SQLModel, table=True):
    """An immutable notice (公告); a correction is a new notice, never an edit."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("ocid", "release_id"),)

    id: int | None = field("公告编号", "Internal notice id.", primary_key=True)
    ocid: str = field("开放缔约标识OCID", "Project the notice belongs to.", index=True)
    project_id: int = field("项目", "Project id.", foreign_key="projects.id", index=True)
    release_id: str = field("发布编号", "OCDS release id, unique within the project.")
    notice_type: str = field(
        "公告类型", "intention, tender, correction, result, contract, …", index=True
    )
    ocds_tags: str = field("OCDS标签", "Comma-separated OCDS release tags.")
    published_at: BeijingTime = field("发布时间", "Publish time (UTC+8).", index=True)
    publisher_id: int = field(
        "发布者", "Publisher that first pushed it.", foreign_key="publishers.id"
    )
    source_site: str | None = field("来源网站", "Site it was first received from.", default=None)
    received_at: BeijingTime = field("接收时间", "When the hub received it (UTC+8).", index=True)
    title: str = field("公告标题", "Notice title; derived when the release has none.")
    title_derived: bool = field(
        "标题为推导",
        "True when the release had no title: the title shown is the project's title and the "
        "notice type's label.",
        default=False,
        sa_column_kwargs={"server_default": false()},
    )
    full_text: str | None = field("公告正文", "Notice body text.", default=None, sa_type=Text)
    publicity_start: BeijingTime | None = field(
        "公告期限开始", "Start of the notice's publicity period (UTC+8).", default=None
    )
    publicity_end: BeijingTime | None = field(
        "公告期限截止", "End of the notice's publicity period (UTC+8).", default=None
    )
    publicity_days: int | None = field(
        "公告期限天数", "Length of the publicity period in days, as published.", default=None
    )
    supersedes_id: int | None = field(
        "更正对象",
        "For a correction: the notice whose fields it supersedes.",
        default=None,
        foreign_key="notices.id",
    )
    payload: str = field("原始报文", "The release exactly as received.", sa_type=Text, public=False)
    content_hash: str = field("内容摘要", "BLAKE2b of the canonical payload.", public=False)


class NoticeSource(SQLModel, table=True):
    """Every site a notice arrived from: a sub-site and the central site count once each."""

    __tablename__ = "notice_sources"
    __table_args__ = (UniqueConstraint("notice_id", "publisher_id"),)

    id: int | None = field("编号", "Internal id.", primary_key=True, public=False)
    notice_id: int = field("公告", "The notice.", foreign_key="notices.id", index=True)
    publisher_id: int = field("发布者", "Publisher that pushed it.", foreign_key="publishers.id")
    source_site: str | None = field("来源网站", "Site it came from.", default=None)
    received_at: BeijingTime = field("接收时间", "When it arrived (UTC+8).")


class Lot(SQLModel, table=True):
    __tablename__ = "lots"
    __table_args__ = (UniqueConstraint("project_id", "lot_id"),)

    id: int | None = field("标段内部编号", "Internal lot id.", primary_key=True, exported=False)
    project_id: int = field("项目", "Project id.", foreign_key="projects.id", index=True)
    lot_id: str = field("标段编号", "Lot id within the project.")
    title: str | None = field("标段名称", "Lot title.", default=None)
    budget: Decimal | None = field("标段预算", "Lot budget in yuan.", default=None, sa_type=Money)
    status: str | None = field("标段状态", "OCDS lot status.", default=None)
    ceiling_price: Decimal | None = field(
        "标段最高限价", "Ceiling price of the lot in yuan.", default=None, sa_type=Money
    )
    sme_set_aside: bool | None = field(
        "标段专门面向中小企业",
        "Whether the lot is reserved for small and medium enterprises.",
        default=None,
    )
    consortium_allowed: bool | None = field(
        "标段是否接受联合体", "Whether consortia may bid for the lot.", default=None
    )


class Award(SQLModel, table=True):
    __tablename__ = "awards"
    __table_args__ = (UniqueConstraint("project_id", "award_id"),)

    id: int | None = field("结果内部编号", "Internal award id.", primary_key=True, exported=False)
    project_id: int = field("项目", "Project id.", foreign_key="projects.id", index=True)
    award_id: str = field("结果编号", "Award id within the project.")
    lot_ids: str | None = field("标段", "Comma-separated related lot ids.", default=None)
    title: str | None = field("结果名称", "Award title.", default=None)
    status: str | None = field(
        "结果状态", "pending, active, cancelled, unsuccessful.", default=None
    )
    decision_date: BeijingTime | None = field(
        "中标确定日期", "When the winner was determined (UTC+8).", default=None
    )
    amount: Decimal | None = field("中标金额", "Award amount in yuan.", default=None, sa_type=Money)
    currency: str | None = field("币种", "ISO 4217 currency code.", default=None)


class AwardSupplier(SQLModel, table=True):
    __tablename__ = "award_suppliers"

    award_pk: int = field("结果", "Award.", foreign_key="awards.id", primary_key=True)
    party_id: int = field(
        "供应商", "Supplier.", foreign_key="parties.id", primary_key=True, index=True
    )


class Contract(SQLModel, table=True):
    __tablename__ = "contracts"
    __table_args__ = (UniqueConstraint("project_id", "contract_id"),)

    id: int | None = field(
        "合同内部编号", "Internal contract id.", primary_key=True, exported=False
    )
    project_id: int = field("项目", "Project id.", foreign_key="projects.id", index=True)
    contract_id: str = field("合同编号", "Contract id within the project.")
    award_id: str | None = field("结果编号", "Award the contract follows.", default=None)
    supplier_id: int | None = field(
        "供应商",
        "Contracted supplier (party); for a consortium (联合体) its first, lead member "
        "(every member is in contract_suppliers).",
        default=None,
        foreign_key="parties.id",
        index=True,
    )
    title: str | None = field("合同名称", "Contract title.", default=None)
    status: str | None = field("合同状态", "pending, active, cancelled, terminated.", default=None)
    amount: Decimal | None = field(
        "合同金额", "Contract amount in yuan.", default=None, sa_type=Money
    )
    currency: str | None = field("币种", "ISO 4217 currency code.", default=None)
    date_signed: BeijingTime | None = field("签订日期", "When it was signed (UTC+8).", default=None)
    period_start: date | None = field("履约开始", "Contract period start.", default=None)
    period_end: date | None = field("履约结束", "Contract period end.", default=None)


class ContractSupplier(SQLModel, table=True):
    """Every supplier of a contract: each member of a consortium (联合体), lead first."""

    __tablename__ = "contract_suppliers"
    __table_args__ = (UniqueConstraint("contract_pk", "party_id"),)

    id: int | None = field("编号", "Internal id.", primary_key=True)
    contract_pk: int = field(
        "合同", "The contract (contracts.id).", foreign_key="contracts.id", index=True
    )
    party_id: int = field(
        "供应商", "A supplier of the contract (party).", foreign_key="parties.id", index=True
    )
    position: int = field(
        "排序", "0 for the first (lead) supplier, then 1, 2, … in the order published."
    )


# The dumps' supplier rows: keyed by the project and the award's or contract's own id, never
# by the database's award_pk/contract_pk (a past version has none). Not tables.


class AwardSupplierRow(SQLModel):
    """A supplier of an award (中标/成交供应商), one row per award and party."""

    project_id: int = field("项目", "Project id (projects.id).")
    award_id: str = field("结果编号", "Award id within the project (awards.award_id).")
    party_id: int = field("供应商", "A winning supplier (parties.id, stable).")


class ContractSupplierRow(SQLModel):
    """A supplier of a contract: each member of a consortium (联合体), lead first."""

    project_id: int = field("项目", "Project id (projects.id).")
    contract_id: str = field("合同编号", "Contract id within the project (contracts.contract_id).")
    party_id: int = field("供应商", "A supplier of the contract (parties.id, stable).")
    position: int = field(
        "排序", "0 for the first (lead) supplier, then 1, 2, … in the order published."
    )
