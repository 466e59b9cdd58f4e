"""Notice titles and body text, worded as provincial portals word them.

Full-text search in the hub is only worth testing on text that reads like the real thing:
项目编号, 采购人, 预算金额, 采购需求, 评审专家 in their usual places.
"""

from __future__ import annotations

import random
from datetime import date, datetime

from hub.demo.vocabulary import GIVEN_NAMES, SURNAMES


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def cn_date(day: date | datetime) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def cn_time(moment: datetime) -> str:
    return f"{cn_date(moment)}{moment.hour:02d}:{moment.minute:02d}"


def expert_names(rng: random.Random, count: int) -> str:
    names = {
        rng.choice(SURNAMES) + "".join(rng.choices(GIVEN_NAMES, k=rng.choice((1, 2))))
        for _ in range(count)
    }
    return "、".join(sorted(names))


def intention_text(code: str, buyer: str, title: str, needs: str, budget: int, month: int) -> str:
    return (
        f"为便于供应商及时了解政府采购信息，根据《财政部关于开展政府采购意向公开工作的通知》"
        f"（财库〔2020〕10号）等有关规定，现将{buyer}2024年{month}月采购意向公开如下。"
        f"采购项目名称：{title}；项目编号：{code}；采购需求概况：{needs}；"
        f"预算金额：{yuan(budget)}元；预计采购时间：2024年{month}月。"
        f"本次公开的采购意向是本单位政府采购工作的初步安排，具体采购项目情况以相关采购公告和"
        f"采购文件为准。"
    )


def tender_text(
    code: str, buyer: str, agency: str, title: str, method: str, needs: str, budget: int,
    start: datetime, end: datetime,
) -> str:  # fmt: skip
    if method == "单一来源":
        return (
            f"{agency}受{buyer}委托，拟对{title}（项目编号：{code}）采用单一来源方式采购，"
            f"现予以公示。采购需求：{needs}；预算金额：{yuan(budget)}元。"
            f"公示期限：{cn_date(start)}至{cn_date(end)}。"
            f"任何供应商、单位或者个人对采用单一来源采购方式公示有异议的，"
            f"可以在公示期内将书面意见反馈给采购人、采购代理机构。"
        )
    verb = "招标" if method.endswith("招标") else "采购"
    return (
        f"{agency}受{buyer}委托，对{title}进行{method}，欢迎合格的供应商参加。"
        f"一、项目编号：{code}。二、采购方式：{method}。三、预算金额：{yuan(budget)}元"
        f"（最高限价同预算）。四、采购需求：{needs}。五、获取{verb}文件时间："
        f"{cn_date(start)}起。六、响应文件提交截止时间及开启时间：{cn_time(end)}，"
        f"地点：{agency}开标室。七、本项目专门面向中小企业采购。"
    )


def correction_text(code: str, title: str, first: date, changes: list[str]) -> str:
    return (
        f"一、项目编号：{code}。二、项目名称：{title}。三、首次公告日期：{cn_date(first)}。"
        f"四、更正信息：{'；'.join(changes)}。五、其他内容不变。"
    )


def result_text(
    code: str, title: str, method: str, winners: list[tuple[str, str, int]], experts: str,
    fee: str,
) -> str:  # fmt: skip
    award_word = "中标" if method.endswith("招标") else "成交"
    lines = "；".join(
        f"{lot}供应商名称：{name}，{award_word}金额：{yuan(amount)}元"
        for lot, name, amount in winners
    )
    return (
        f"一、项目编号：{code}。二、项目名称：{title}。三、{award_word}信息：{lines}。"
        f"四、评审专家名单：{experts}。五、代理服务收费标准及金额：{fee}。"
        f"六、公告期限：自本公告发布之日起1个工作日。"
    )


def documents_text(code: str, title: str, method: str) -> str:
    kind = "招标文件" if method.endswith("招标") else "采购文件"
    return (
        f"根据《中华人民共和国政府采购法实施条例》第四十三条，现将{title}"
        f"（项目编号：{code}）{kind}随中标（成交）结果一并公告，详见附件。"
    )


def agency_fee_text(code: str, title: str, agency: str, fee: int) -> str:
    return (
        f"{title}（项目编号：{code}）代理服务费：参照原国家计委《招标代理服务收费管理暂行办法》"
        f"（计价格〔2002〕1980号）收费标准，由中标（成交）供应商向{agency}支付，"
        f"金额：{yuan(fee)}元。"
    )


def termination_text(code: str, title: str, reason: str) -> str:
    return f"一、项目编号：{code}。二、项目名称：{title}。三、终止原因：{reason}。"


TERMINATION_REASONS: tuple[tuple[str, str], ...] = (
    ("unsuccessful", "提交响应文件截止时间止，实质性响应的供应商不足三家，本项目废标"),
    ("unsuccessful", "出现影响采购公正的违法、违规行为，本项目废标"),
    ("cancelled", "因采购需求发生重大变化，采购人决定终止本次采购活动"),
)


def contract_text(code: str, title: str, buyer: str, supplier: str, amount: int,
                  signed: datetime, needs: str) -> str:  # fmt: skip
    return (
        f"一、合同编号：{code}-HT。二、合同名称：{title}合同。三、项目编号：{code}。"
        f"四、采购人：{buyer}。五、供应商：{supplier}。六、合同金额：{yuan(amount)}元。"
        f"七、主要标的名称、规格型号、数量及单价：{needs}。八、合同签订日期：{cn_date(signed)}。"
    )


def acceptance_text(code: str, title: str, buyer: str, day: date) -> str:
    return (
        f"{buyer}于{cn_date(day)}组织对{title}（项目编号：{code}）进行了履约验收。"
        f"验收结论：合格。供应商按照合同约定履行了义务，货物（服务）数量、质量符合合同要求。"
    )


SINGLE_SOURCE_RATIONALE = (
    "原系统开发商拥有该软件的知识产权，只能从唯一供应商处采购",
    "为保证原有采购项目一致性或者服务配套的要求，需要继续从原供应商处添购",
    "该设备为专利产品，只能从唯一供应商处采购",
)
