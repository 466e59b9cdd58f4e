"""The few shared value types: ids, money, codes and the enums every layer speaks."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import NewType

from pydantic import NaiveDatetime

Ocid = NewType("Ocid", str)
Uscc = NewType("Uscc", str)  # 统一社会信用代码, 18 characters, GB 32100-2015
RegionCode = NewType("RegionCode", str)  # GB/T 2260 six-digit division code
CategoryCode = NewType("CategoryCode", str)  # 政府采购品目分类目录 code, e.g. A02010105
Money = Decimal  # yuan, two decimal places; stored as integer fen
# Every stored time is Beijing time (UTC+8) without an offset: China has one zone and no DST,
# and a publish date is the Beijing calendar date that deadlines count working days on.
BeijingTime = NaiveDatetime


class NoticeType(StrEnum):
    """Notice types of docs/disclosure.md; the value is the stable API code."""

    intention = "intention"
    tender = "tender"
    documents = "documents"
    correction = "correction"
    single_source = "single_source"
    result = "result"
    termination = "termination"
    contract = "contract"
    acceptance = "acceptance"
    agency_fee = "agency_fee"
    complaint_decision = "complaint_decision"
    supervision_decision = "supervision_decision"
    agency_evaluation = "agency_evaluation"
    dishonest_record = "dishonest_record"


NOTICE_TYPE_LABELS: dict[NoticeType, str] = {
    NoticeType.intention: "采购意向",
    NoticeType.tender: "采购公告",
    NoticeType.documents: "采购文件",
    NoticeType.correction: "更正公告",
    NoticeType.single_source: "单一来源公示",
    NoticeType.result: "中标/成交结果公告",
    NoticeType.termination: "终止公告",
    NoticeType.contract: "合同公告",
    NoticeType.acceptance: "验收结果公告",
    NoticeType.agency_fee: "代理服务费",
    NoticeType.complaint_decision: "投诉处理决定",
    NoticeType.supervision_decision: "监督检查处理决定",
    NoticeType.agency_evaluation: "集中采购机构考核结果",
    NoticeType.dishonest_record: "违法失信行为记录",
}


def derived_title(project_title: str | None, ocid: str, notice_type: NoticeType) -> str:
    """The title shown for a release that has none: its project's title (else its ocid)
    and its notice type's label, e.g. 吉林省实验中学计算机采购项目 中标/成交结果公告."""
    return f"{project_title or ocid} {NOTICE_TYPE_LABELS[notice_type]}"


class PenaltyKind(StrEnum):
    """Supervision information, published by finance departments alone."""

    complaint_decision = "complaint_decision"
    supervision_decision = "supervision_decision"
    agency_evaluation = "agency_evaluation"
    dishonest_record = "dishonest_record"


class Channel(StrEnum):
    """Transaction channels (协议供货 / 定点采购 / 电子卖场)."""

    framework = "framework"
    designated = "designated"
    emall = "emall"


CHANNEL_LABELS: dict[Channel, str] = {
    Channel.framework: "协议供货",
    Channel.designated: "定点采购",
    Channel.emall: "电子卖场",
}


class ProcurementMethod(StrEnum):
    """OCDS procurementMethod (closed codelist); Chinese names go in the details."""

    open = "open"
    selective = "selective"
    limited = "limited"
    direct = "direct"


class MainCategory(StrEnum):
    goods = "goods"
    works = "works"
    services = "services"


class ProjectStatus(StrEnum):
    """Where a compiled project stands, from its latest notice."""

    planning = "planning"
    tendering = "tendering"
    awarded = "awarded"
    contracted = "contracted"
    completed = "completed"
    terminated = "terminated"


class PartyRole(StrEnum):
    purchaser = "purchaser"
    agency = "agency"
    supplier = "supplier"
    finance_department = "finance_department"
    centralised_agency = "centralised_agency"
    penalty_subject = "penalty_subject"


class RecordKind(StrEnum):
    """What a publisher may be allowed to push."""

    notice = "notice"
    transaction = "transaction"
    penalty = "penalty"


class PublisherRole(StrEnum):
    purchaser = "purchaser"
    agency = "agency"
    regional_site = "regional_site"
    trading_platform = "trading_platform"
    finance_department = "finance_department"
