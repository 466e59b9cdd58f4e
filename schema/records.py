"""Immutable pushed records besides notices: penalties and transactions; plus the ledgers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, Index, Text, UniqueConstraint
from sqlmodel import SQLModel

from schema.columns import Money, Quantity, UnitPrice, field
from schema.types import BeijingTime


class PenaltyRecord(SQLModel, table=True):
    """Supervision information (处罚/处理记录), published by a finance department."""

    __tablename__ = "penalty_records"
    __table_args__ = (UniqueConstraint("record_id", "publisher_id"),)

    id: int | None = field("处罚内部编号", "Internal penalty id.", primary_key=True)
    record_id: str = field("记录编号", "Record id given by the publisher.")
    kind: str = field(
        "记录类型",
        "complaint_decision, supervision_decision, agency_evaluation or dishonest_record.",
        index=True,
    )
    subject_id: int = field(
        "当事人", "Party the record is about.", foreign_key="parties.id", index=True
    )
    subject_name: str = field("当事人名称", "Subject name as published.")
    authority_name: str = field("决定机关", "Finance department that decided.")
    decision_number: str | None = field("决定文号", "Decision document number.", default=None)
    decision_date: date = field("决定日期", "Date of the decision.", index=True)
    facts: str | None = field("违法事实", "Facts found.", default=None, sa_type=Text)
    legal_basis: str | None = field("处理依据", "Legal basis.", default=None, sa_type=Text)
    penalty: str | None = field("处理结果", "Penalty or outcome.", default=None, sa_type=Text)
    fine_amount: Decimal | None = field("罚款金额", "Fine in yuan.", default=None, sa_type=Money)
    debarment_start: date | None = field("禁止参加采购起始日", "Debarment start.", default=None)
    debarment_end: date | None = field(
        "禁止参加采购截止日", "Debarment end (inclusive).", default=None, index=True
    )
    region_code: str = field("行政区划代码", "Division code of the authority.", index=True)
    ocid: str | None = field(
        "开放缔约标识OCID", "Project concerned, when there is one.", default=None, index=True
    )
    publisher_id: int = field(
        "发布者", "Publisher that pushed the record.", foreign_key="publishers.id"
    )
    source_site: str | None = field("来源网站", "Site it came from.", default=None)
    published_at: BeijingTime = field("发布时间", "Publish time (UTC+8).")
    received_at: BeijingTime = field("接收时间", "When the hub received it (UTC+8).", index=True)
    payload: str = field("原始报文", "The record exactly as received.", sa_type=Text, public=False)
    content_hash: str = field("内容摘要", "BLAKE2b of the canonical payload.", public=False)


class Transaction(SQLModel, table=True):
    """A framework-agreement, designated or e-mall order (财库〔2017〕86号 (五))."""

    __tablename__ = "transactions"
    # order_id first: the batch look-ups by order id stay index scans even while the
    # statistics do not yet know about the rows this batch has written (PostgreSQL).
    # A party's transactions, newest first, are a walk down (party, order_date, id): with
    # order_date alone a supplier with few orders scanned the whole table (0.5 s at 1M rows).
    __table_args__ = (
        UniqueConstraint("order_id", "publisher_id"),
        Index("ix_transactions_supplier_date", "supplier_id", "order_date", "id"),
        Index("ix_transactions_purchaser_date", "purchaser_id", "order_date", "id"),
        Index("ix_transactions_model_date", "model", "order_date", "id"),  # the price chart
        Index("ix_transactions_return_of", "publisher_id", "return_of"),
        # A region's statistics (transactionStats by month for a county: bench/graphql.py
        # shape c) read only this index on PostgreSQL: 34k rows of one county were 29k heap
        # pages scattered over the table; the region's filter and paging use it too.
        Index(
            "ix_transactions_region_date",
            "region_code",
            "order_date",
            postgresql_include=["quantity", "amount", "unit_price"],
        ),
    )

    id: int | None = field("交易内部编号", "Internal transaction id.", primary_key=True)
    order_id: str = field("订单编号", "Order number given by the publisher.")
    channel: str = field(
        "采购渠道", "framework (协议供货), designated (定点采购) or emall (电子卖场)."
    )
    purchaser_id: int = field("采购人", "Purchaser (party).", foreign_key="parties.id")
    supplier_id: int = field("供应商", "Supplier (party).", foreign_key="parties.id")
    item_name: str = field("商品名称", "Item name.")
    brand: str | None = field("品牌", "Brand of the item.", default=None)
    model: str | None = field(
        "规格型号", "Specification or model; may be absent for a service (品目 C…)."
    )
    category_code: str | None = field("品目编码", "Item category code.", default=None, index=True)
    category_edition: str | None = field(
        "品目目录版本", "Catalogue edition of the code.", default=None
    )
    quantity: Decimal = field(
        "数量", "Quantity bought, up to 3 decimals; negative for a return (退货).", sa_type=Quantity
    )
    unit: str | None = field("单位", "Unit of quantity.", default=None)
    unit_price: Decimal = field(
        "单价", "Unit price in yuan, up to 4 decimals; never negative.", sa_type=UnitPrice
    )
    amount: Decimal = field(
        "成交金额", "Deal amount in yuan; negative for a return (退货).", sa_type=Money
    )
    return_of: str | None = field(
        "原订单编号",
        "For a return (退货): the order id of the order returned, from the same publisher.",
        default=None,
    )
    order_date: date = field("成交日期", "Order date.", index=True)
    region_code: str = field("行政区划代码", "Division code of the purchaser.")
    agreement_id: str | None = field("协议编号", "Framework agreement id.", default=None)
    publisher_id: int = field(
        "发布者", "Publisher that pushed the record.", foreign_key="publishers.id"
    )
    source_site: str | None = field("来源网站", "Site it came from.", default=None)
    published_at: BeijingTime = field(
        "发布时间",
        "When the publisher published it (UTC+8); its arrival when not given.",
        index=True,
    )
    received_at: BeijingTime = field("接收时间", "When the hub received it (UTC+8).", index=True)
    payload: str = field("原始报文", "The row exactly as received.", sa_type=Text, public=False)
    content_hash: str = field("内容摘要", "BLAKE2b of the canonical payload.", public=False)


class DataQualityIssue(SQLModel, table=True):
    """Something accepted but suspicious, kept for supervisors rather than dropped."""

    __tablename__ = "data_quality_issues"

    id: int | None = field("问题编号", "Internal id.", primary_key=True)
    record_kind: str = field("记录类别", "notice, transaction or penalty.", index=True)
    record_pk: int = field("记录内部编号", "Internal id of the record.")
    record_ref: str = field("记录编号", "The publisher's id of the record.")
    field_name: str = field("字段", "Field concerned.")
    code: str = field("问题代码", "Stable code, e.g. amount_mismatch.", index=True)
    message: str = field("说明", "What is wrong.")
    detected_at: BeijingTime = field("发现时间", "When it was found (UTC+8).")


class Ingestion(SQLModel, table=True):
    """One batch pushed by a publisher, accepted or not: the ingestion log."""

    __tablename__ = "ingestions"

    id: int | None = field("批次编号", "Internal id.", primary_key=True)
    publisher_id: int = field(
        "发布者", "Publisher that pushed the record.", foreign_key="publishers.id", index=True
    )
    source: str = field("来源", "File name or API request that carried the batch.")
    record_kind: str = field("记录类别", "notice, transaction or penalty.")
    mode: str = field("模式", "all_or_nothing or partial.")
    status: str = field(
        "状态",
        "running, then accepted, partial, rejected, failed (the error in report) or "
        "interrupted (its process ended mid-batch; nothing of it was written).",
    )
    started_at: BeijingTime = field("开始时间", "UTC+8.")
    finished_at: BeijingTime | None = field("结束时间", "UTC+8.", default=None)
    accepted: int = field("接收数", "Records written.", default=0)
    duplicates: int = field("重复数", "Identical records already held.", default=0)
    rejected: int = field("拒绝数", "Records refused.", default=0)
    report: str | None = field(
        "报告", "JSON list of refusals (first 1,000).", default=None, sa_type=Text
    )
    total: int = field("读取数", "Records read.", default=0)
    digest: str | None = field(
        "批次摘要",
        "SHA-256 of the batch: a file's bytes, or the records as NDJSON (GraphQL).",
        default=None,
    )
    host: str | None = field("主机", "Host name of the ingesting process.", default=None)
    pid: int | None = field("进程号", "Process id of the ingesting process.", default=None)
    process_started: int | None = field(
        "进程启动",
        "Start of the ingesting process (clock ticks since boot): tells a reused pid apart.",
        default=None,
        sa_type=BigInteger,
    )
