"""Deadline rules: single-source publicity, result and contract notices, tender periods.

Each rule is one small function of a project's facts; `registry.rule` gives it a stable code,
a severity and its legal basis. Dates are Beijing calendar dates; the act's own day is not
counted (民法典 art 201).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

from hub.flags.facts import ProjectFacts, fact
from hub.flags.registry import UNKNOWN_CALENDAR, Finding, days_text, late, rule, working_days
from schema.ocds import is_single_source, parse_ocds_datetime
from schema.types import NoticeType

PUBLICITY_DAYS = 5  # 实施条例 art 38
NOTICE_DAYS = 2  # 实施条例 arts 43 and 50


def _when(value: object) -> datetime | None:
    try:
        return parse_ocds_datetime(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def _purchase_day(facts: ProjectFacts) -> tuple[date, str] | None:
    """When the single-source purchase happened: award decision, result, or signing."""
    decided = [a.decision_date for a in facts.awards if a.decision_date]
    if decided:
        return min(decided).date(), "awards.date"
    results = facts.of_type(NoticeType.result)
    if results:
        return results[0].published_at.date(), "result.published_at"
    signed = [c.date_signed for c in facts.contracts if c.date_signed]
    return (min(signed).date(), "contracts.dateSigned") if signed else None


@rule("SINGLE_SOURCE_NO_PUBLICITY", "high",
      "政府采购法实施条例第三十八条："
      "单一来源采购应在采购前公示，公示期不少于5个工作日")  # fmt: skip
def single_source_without_publicity(facts: ProjectFacts) -> Iterator[Finding]:
    if not is_single_source(facts.tender) or facts.of_type(NoticeType.single_source):
        return
    stages = facts.of_type(NoticeType.result, NoticeType.contract)
    if not stages:
        return
    yield Finding(
        "单一来源采购项目已发布结果或合同，但没有单一来源公示",
        notices=tuple(stages),
        fields=(
            fact("tender.procurementMethod", facts.tender.get("procurementMethod")),
            fact("tender.procurementMethodDetails", facts.tender.get("procurementMethodDetails")),
        ),
    )


@rule("SINGLE_SOURCE_SHORT_PUBLICITY", "high",
      "政府采购法实施条例第三十八条："
      "单一来源采购应在采购前公示，公示期不少于5个工作日")  # fmt: skip
def single_source_short_publicity(facts: ProjectFacts) -> Iterator[Finding]:
    """Publicity runs from the day after publishing through its stated end, and must be over
    before the day of the purchase (the award decision, else the result or the signing)."""
    publicity = facts.of_type(NoticeType.single_source)
    purchase = _purchase_day(facts)
    if not publicity or purchase is None:
        return
    notice, (purchase_day, purchase_field) = publicity[0], purchase
    start = notice.published_at.date()
    fields = [fact("single_source.published_at", notice.published_at, notice),
              fact(purchase_field, purchase_day)]  # fmt: skip
    last_days = [purchase_day - timedelta(days=1)]
    end = _when((facts.tender.get("tenderPeriod") or {}).get("endDate"))
    if end is not None:
        last_days.append(end.date())
        fields.append(fact("tender.tenderPeriod.endDate", end,
                           facts.tender_source("tenderPeriod", "endDate")))  # fmt: skip
    short = undecided = False
    shortest: int | None = None
    for last in last_days:
        days = working_days(facts, start, last) if last > start else 0
        if days is None:  # calendar days bound working days
            short |= (last - start).days < PUBLICITY_DAYS
            undecided |= (last - start).days >= PUBLICITY_DAYS
            continue
        shortest = days if shortest is None else min(shortest, days)
        short |= days < PUBLICITY_DAYS
    if not (short or undecided):
        return
    if short:
        note, text = None, f"单一来源公示期不足5个工作日（{shortest}个工作日）"
        if shortest is None or shortest >= PUBLICITY_DAYS:
            text = "单一来源公示期不足5个自然日，更不足5个工作日"
    else:
        note, text = UNKNOWN_CALENDAR, "公示期超出已知工作日历，无法判断是否满5个工作日"
    yield Finding(text, notices=(notice,), fields=tuple(fields), note=note,
                  extra={"publicity_working_days": shortest})  # fmt: skip


@rule("RESULT_LATE", "medium",
      "政府采购法实施条例第四十三条："
      "中标、成交供应商确定之日起2个工作日内发布结果公告")  # fmt: skip
def result_late(facts: ProjectFacts) -> Iterator[Finding]:
    for award in facts.awards:
        notice = facts.first_stating("awards", award.award_id)
        if award.decision_date is None or notice is None or award.status == "pending":
            continue
        decided, published = award.decision_date.date(), notice.published_at.date()
        over, days = late(facts, decided, published, NOTICE_DAYS)
        if not over:
            continue
        source = facts.last_stating("awards", award.award_id, "date")
        yield Finding(
            f"结果{award.award_id}于{decided}确定，{published}才公告，"
            f"{days_text(days, decided, published)}，"
            "超过2个工作日",
            notices=tuple(dict.fromkeys(n for n in (notice, source) if n)),
            fields=(fact(f"awards[{award.award_id}].date", award.decision_date, source),
                    fact("result.published_at", notice.published_at, notice)),
            note=None if days is not None else UNKNOWN_CALENDAR,
            extra={"award_id": award.award_id, "working_days": days},
        )  # fmt: skip


@rule("CONTRACT_LATE", "medium",
      "政府采购法实施条例第五十条："
      "政府采购合同自签订之日起2个工作日内公告")  # fmt: skip
def contract_late(facts: ProjectFacts) -> Iterator[Finding]:
    for contract in facts.contracts:
        notice = facts.first_stating("contracts", contract.contract_id)
        if contract.date_signed is None or notice is None:
            continue
        signed, published = contract.date_signed.date(), notice.published_at.date()
        over, days = late(facts, signed, published, NOTICE_DAYS)
        if not over:
            continue
        source = facts.last_stating("contracts", contract.contract_id, "dateSigned")
        yield Finding(
            f"合同{contract.contract_id}于{signed}签订，{published}才公告，"
            f"{days_text(days, signed, published)}，超过2个工作日",
            notices=tuple(dict.fromkeys(n for n in (notice, source) if n)),
            fields=(fact(f"contracts[{contract.contract_id}].dateSigned", contract.date_signed,
                         source),
                    fact("contract.published_at", notice.published_at, notice)),
            note=None if days is not None else UNKNOWN_CALENDAR,
            extra={"contract_id": contract.contract_id, "working_days": days},
        )  # fmt: skip


# Method (procurementMethodDetails) → (minimum, unit): from documents issued to the deadline.
TENDER_MINIMUMS = {
    "公开招标": (20, "days"),  # 政府采购法 art 35
    "邀请招标": (20, "days"),  # 政府采购法 art 35
    "竞争性磋商": (10, "days"),  # 财库〔2014〕214号 art 10
    "竞争性谈判": (3, "working_days"),  # 财政部令第74号 art 29
    "询价": (3, "working_days"),  # 财政部令第74号 art 45
}


@rule("TENDER_PERIOD_SHORT", "high",
      "政府采购法第三十五条（招标≥20日）；财库〔2014〕214号第十条（磋商≥10日）；"
      "财政部令第74号第二十九、四十五条（谈判、询价≥3个工作日）："
      "")  # fmt: skip
def tender_period_short(facts: ProjectFacts) -> Iterator[Finding]:
    method = facts.tender.get("procurementMethodDetails")
    period = facts.tender.get("tenderPeriod") or {}
    start, end = _when(period.get("startDate")), _when(period.get("endDate"))
    if method not in TENDER_MINIMUMS or start is None or end is None:
        return
    minimum, unit = TENDER_MINIMUMS[method]
    calendar_days = (end.date() - start.date()).days
    days: int | None = calendar_days
    if unit == "working_days" and calendar_days >= minimum:
        days = working_days(facts, start.date(), end.date())
    if days is not None and days >= minimum:
        return
    word = "日" if unit == "days" else "个工作日"
    text = (f"{method}从文件发出到截止仅{days}{word}，少于{minimum}{word}" if days is not None
            else f"{method}截止期超出已知工作日历，无法判断是否满{minimum}个工作日")  # fmt: skip
    sources = (facts.tender_source("tenderPeriod", "startDate"),
               facts.tender_source("tenderPeriod", "endDate"))  # fmt: skip
    yield Finding(
        text, notices=tuple(dict.fromkeys(n for n in sources if n)),
        fields=(fact("tender.procurementMethodDetails", method),
                fact("tender.tenderPeriod.startDate", start, sources[0]),
                fact("tender.tenderPeriod.endDate", end, sources[1])),
        note=None if days is not None else UNKNOWN_CALENDAR,
        extra={"minimum": minimum, "unit": unit, "period": days},
    )  # fmt: skip
