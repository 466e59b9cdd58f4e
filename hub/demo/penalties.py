"""Supervision records (处罚/处理记录) as finance departments publish them.

Every subject is a supplier or agency that also appears in the demo's awards, contracts or
orders, with the same credit code, so the hub can hang penalties and debarments on parties
users already see elsewhere.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from hub.demo.parties import Party
from hub.demo.published import PublishClock
from hub.demo.releases import ProjectFacts
from hub.demo.texts import yuan
from hub.demo.workdays import next_workday

COLUMNS = (
    "record_id", "kind", "subject_name", "subject_uscc", "authority_name", "decision_number",
    "decision_date", "facts", "legal_basis", "penalty", "fine_amount", "debarment_start",
    "debarment_end", "region_code", "ocid", "published_at",
)  # fmt: skip
KINDS = ("complaint_decision", "supervision_decision", "agency_evaluation", "dishonest_record")
KIND_WEIGHTS = (35, 25, 10, 30)
LAW = "《中华人民共和国政府采购法》"
RULES = "《中华人民共和国政府采购法实施条例》"
ORDER_94 = "《政府采购质疑和投诉办法》（财政部令第94号）"
DISHONEST = (
    ("提供虚假材料谋取中标、成交", f"{LAW}第七十七条第一款第（一）项"),
    ("与其他供应商恶意串通", f"{LAW}第七十七条第一款第（三）项"),
    ("提供假冒伪劣产品", f"{RULES}第七十二条第一款第（五）项、{LAW}第七十七条"),
)  # fmt: skip
COMPLAINTS = (
    ("称中标供应商不满足采购文件实质性要求。经调查，投诉事项缺乏事实依据",
     f"{ORDER_94}第二十九条第（二）项", "驳回投诉"),
    ("称评审委员会未按采购文件规定的评审标准评分。经调查，投诉事项成立",
     f"{ORDER_94}第三十二条第一款第（二）项", "投诉事项成立，责令重新开展采购活动"),
)  # fmt: skip


@dataclass(frozen=True)
class Authority:
    """A finance department that decides; `prefix` starts its decision numbers."""

    name: str
    region: str
    prefix: str


@dataclass(frozen=True)
class Debarment:
    """A written record's ban on taking part in government procurement (inclusive dates)."""

    record_id: str
    subject: Party
    start: date
    end: date
    ocid: str  # the project the conduct concerned, "" when none

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass
class Written:
    """What a penalty file says that projects must agree with."""

    debarments: list[Debarment] = field(default_factory=list)
    named: set[tuple[str, str]] = field(default_factory=set)  # (ocid, subject credit code)


@dataclass(frozen=True)
class _Row:
    kind: str
    subject: Party
    authority: Authority
    day: date
    facts: str
    basis: str
    penalty: str
    fine: int | None
    years: int
    ocid: str


class PenaltyWriter:
    """Draws penalty records for one publishing finance department."""

    def __init__(
        self, rng: random.Random, authorities: dict[str, Authority], projects: list[ProjectFacts],
        agencies: list[Party], fallback: list[Party], evaluates: Callable[[Party], bool],
    ) -> None:  # fmt: skip
        self.rng = rng
        self.authorities = authorities  # keyed by division-code prefix, "" for the default
        self.awarded = [p for p in projects if p.winners]
        self.winners = {s.uscc for p in self.awarded for s, _ in p.winners}
        self.late = [p for p in self.awarded if "late_result_notice" in p.planted]
        used = {p.agency.uscc: p.agency for p in projects}.values()
        # 集中采购机构考核 (政府采购法 art 66): the centralised agencies it oversees, once a year.
        self.evaluated = [a for a in used if a.trade == "centralised" and evaluates(a)]
        self.fallback = fallback or agencies

    def authority(self, region: str) -> Authority:
        """The city's finance bureau for some of its cases, else the publishing department."""
        city = self.authorities.get(region[:4])
        return city if city and self.rng.random() < 0.6 else self.authorities[""]

    def supervisor(self, agency: Party) -> Authority:
        """The finance department of a centralised agency's own level."""
        return self.authorities.get(agency.region[:4], self.authorities[""])

    def decided(self, project: ProjectFacts | None) -> date:
        if project is None or project.award_day is None:
            return next_workday(date(2024, 1, 15) + timedelta(days=self.rng.randint(0, 330)))
        return next_workday(project.award_day + timedelta(days=self.rng.randint(30, 150)))

    def draw(self, kind: str) -> _Row:
        rng = self.rng
        if kind == "agency_evaluation" and not self.evaluated:
            kind = "supervision_decision"
        if kind == "agency_evaluation":
            agency = self.evaluated.pop(rng.randrange(len(self.evaluated)))
            score = rng.randint(72, 98)
            grade = "优秀" if score >= 90 else "良好" if score >= 80 else "合格"
            return _Row(
                kind, agency, self.supervisor(agency),
                next_workday(date(2024, 3, 1) + timedelta(days=rng.randint(0, 90))),
                f"对{agency.name}2023年度政府采购代理工作进行考核，考核事项包括采购价格、"
                "节约资金效果、服务质量、信誉状况、有无违法行为等",
                f"{LAW}第六十六条", f"考核结果：{grade}（{score}分）", None, 0, "",
            )  # fmt: skip
        if not self.awarded:
            return self._unrelated()
        if kind == "supervision_decision" and rng.random() < 0.7:
            late = self.late.pop(rng.randrange(len(self.late))) if self.late else None
            return self._agency_case(late or rng.choice(self.awarded))
        project = rng.choice(self.awarded)
        where = self.authority(project.buyer.region)
        day = self.decided(project)
        about = f"{project.title}（项目编号：{project.code}）"
        if kind == "complaint_decision":
            losers = [t for t in project.tenderers if t.uscc in self.winners
                      and all(t.uscc != s.uscc for s, _ in project.winners)]  # fmt: skip
            if losers:
                subject = rng.choice(losers)
                found, basis, outcome = rng.choice(COMPLAINTS)
                return _Row(kind, subject, where, day,
                            f"投诉人{subject.name}就{about}的采购结果提出投诉，{found}",
                            basis, outcome, None, 0, project.ocid)  # fmt: skip
            kind = "dishonest_record"
        subject, amount = rng.choice(project.winners)
        if kind == "supervision_decision":
            return _Row(
                kind, subject, where, day,
                f"{subject.name}在{about}中提供的检测报告已过有效期，经核查不影响采购结果",
                f"{LAW}第五十九条", "责令改正，予以通报",
                None, 0, project.ocid,
            )  # fmt: skip
        return self._dishonest(subject, where, day, about, amount, project.ocid)

    def _agency_case(self, project: ProjectFacts) -> _Row:
        """A supervision decision on the agency, for a fault the project's notices show."""
        agency = project.agency
        if "late_result_notice" in project.planted:
            fault, item = "未在中标（成交）供应商确定之日起2个工作日内发布结果公告", "（二）"
        elif not any(r.get("noticeType") == "documents" for r in project.releases):
            fault, item = "未将采购文件随中标（成交）结果同时公告", "（二）"
        else:
            fault, item = (
                "采用综合评分法时评审标准中的分值设置未与评审因素的量化指标相对应",
                "（七）",
            )
        return _Row(
            "supervision_decision", agency, self.authority(project.buyer.region),
            self.decided(project),
            f"{agency.name}在代理{project.title}（项目编号：{project.code}）过程中，{fault}",
            f"{LAW}第七十八条、{RULES}第六十八条第{item}项", "责令限期改正，给予警告",
            None, 0, project.ocid,
        )  # fmt: skip

    def _dishonest(self, subject: Party, where: Authority, day: date, about: str, amount: int,
                   ocid: str) -> _Row:  # fmt: skip
        rng = self.rng
        conduct, basis = rng.choice(DISHONEST)
        rate, words = rng.choice(((5, "千分之五"), (5, "千分之五"), (8, "千分之八")))
        fine = amount * rate // 1000
        years = rng.choice((1, 1, 2, 3))
        return _Row(
            "dishonest_record", subject, where, day,
            f"{subject.name}在{about}中{conduct}", basis,
            f"处以采购金额{words}的罚款（{yuan(fine)}元），列入不良行为记录名单，"
            f"{years}年内禁止参加政府采购活动", fine, years, ocid,
        )  # fmt: skip

    def _unrelated(self) -> _Row:
        """Without projects: a supplier known from the orders, no ocid."""
        subject = self.rng.choice(self.fallback)
        where = self.authority(subject.region)
        amount = self.rng.randint(50_000, 2_000_000) * 100
        return self._dishonest(subject, where, self.decided(None), "电子卖场采购", amount, "")


def _debarment_end(start: date, years: int) -> date:
    """The last day of a debarment of `years` years (inclusive)."""
    try:
        anniversary = start.replace(year=start.year + years)
    except ValueError:  # 29 February
        anniversary = date(start.year + years, 3, 1)
    return anniversary - timedelta(days=1)


def write_penalties(
    path: Path, writer: PenaltyWriter, count: int, record_prefix: str,
    clock: PublishClock | None = None,
) -> Written:  # fmt: skip
    """Write `count` records in decision order, numbered per authority and year; returns the
    debarments they impose, so projects can be kept clear of them (or planted inside).

    Each is published (`published_at`) a few working days after its decision, by `clock`."""
    clock = clock or PublishClock(random.Random(0))
    rng = writer.rng
    kinds = list(KINDS[:count]) + rng.choices(KINDS, KIND_WEIGHTS, k=max(0, count - len(KINDS)))
    rows = sorted((writer.draw(kind) for kind in kinds), key=lambda r: (r.day, r.subject.uscc))
    numbers: dict[tuple[str, int], int] = {}
    written = Written()
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(COLUMNS)
        for position, row in enumerate(rows, start=1):
            key = (row.authority.prefix, row.day.year)
            numbers[key] = numbers.get(key, rng.randint(2, 9)) + rng.randint(1, 3)
            start = end = ""
            record_id = f"{record_prefix}{row.day.year}{position:04d}"
            if row.years:
                last = _debarment_end(row.day, row.years)
                start, end = row.day.isoformat(), last.isoformat()
                written.debarments.append(
                    Debarment(record_id, row.subject, row.day, last, row.ocid)
                )
            if row.ocid:
                written.named.add((row.ocid, row.subject.uscc))
            out.writerow((
                record_id, row.kind, row.subject.name,
                row.subject.uscc, row.authority.name,
                f"{row.authority.prefix}〔{row.day.year}〕{numbers[key]}号", row.day.isoformat(),
                row.facts, row.basis, row.penalty,
                "" if row.fine is None else f"{row.fine // 100}.{row.fine % 100:02d}",
                start, end, row.authority.region, row.ocid, clock.penalty(row.day.isoformat()),
            ))  # fmt: skip
    return written
