"""Stages missing after their time: a contract after an award, documents with a result.

These depend on `today` (a contract may still come), so `caigou flags rebuild` should run
daily; a project's flags are also recomputed whenever it receives a notice.
"""

from __future__ import annotations

from collections.abc import Iterator

from hub.flags.facts import ProjectFacts, fact
from hub.flags.registry import Finding, rule
from schema.flags import CONTRACT_DAYS
from schema.ocds import is_single_source
from schema.types import NoticeType


@rule("AWARD_WITHOUT_CONTRACT", "medium",
      "政府采购法第四十六条（中标通知书发出之日起30日内签订合同）、"
      "实施条例第五十条（签订后2个工作日内公告）")  # fmt: skip
def award_without_contract(facts: ProjectFacts) -> Iterator[Finding]:
    if facts.of_type(NoticeType.termination):
        return
    linked = {c.award_id for c in facts.contracts}
    unlinked = any(c.award_id is None for c in facts.contracts)
    for award in facts.awards:
        if award.status not in (None, "active") or award.award_id in linked:
            continue
        if unlinked and len(facts.awards) == 1:
            continue
        notice = facts.first_stating("awards", award.award_id)
        since = award.decision_date or (notice.published_at if notice else None)
        if since is None or (facts.today - since.date()).days <= CONTRACT_DAYS:
            continue
        yield Finding(
            f"结果{award.award_id}确定于{since.date()}，{CONTRACT_DAYS}日后（截至{facts.today}）"
            "仍无合同公告",
            notices=(notice,) if notice else (),
            fields=(fact(f"awards[{award.award_id}].date", since, notice),
                    fact("today", facts.today)),
            extra={"award_id": award.award_id, "days": (facts.today - since.date()).days},
        )  # fmt: skip


@rule("RESULT_WITHOUT_DOCUMENTS", "low",
      "政府采购法实施条例第四十三条："
      "招标文件、谈判文件、询价通知书应随中标、成交结果同时公告")  # fmt: skip
def result_without_documents(facts: ProjectFacts) -> Iterator[Finding]:
    """Every method but single source publishes its procurement documents with the result."""
    results = facts.of_type(NoticeType.result)
    if not results or is_single_source(facts.tender):
        return
    if not any(a.status in (None, "active") for a in facts.awards):
        return
    if facts.of_type(NoticeType.documents) or facts.tender.get("documents"):
        return
    yield Finding(
        "已发布中标（成交）结果公告，但未公告采购文件",
        notices=(results[0],),
        fields=(fact("tender.documents", None),
                fact("tender.procurementMethodDetails",
                     facts.tender.get("procurementMethodDetails"))),
    )  # fmt: skip
