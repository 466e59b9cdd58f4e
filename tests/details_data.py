"""A whole project whose notices carry the details real notices do (caigou extension)."""

from __future__ import annotations

from typing import Any

from tests.factories import project_releases

OCID = "ocds-cghub1-JLZC2024-0300"
EXPERTS = [
    {"name": "王建国", "role": "chair"},
    {"name": "李敏", "role": "expert"},
    {"name": "张秀英", "role": "purchaserRepresentative"},
]


def detailed_releases(ocid: str = OCID) -> list[dict[str, Any]]:
    """tender → correction → result → contract, with ceiling price, lots, items, experts, …

    Experts are public in the result notice only, so only the result names them (any other
    notice naming them is refused: test_notice_details.py).
    """
    tender_r, correction, result, contract = project_releases(ocid)
    tender = tender_r["tender"]
    tender.update(
        ceilingPrice={"amount": 480000.0, "currency": "CNY"},
        smeSetAside=True,
        consortiumAllowed=False,
        lots=[
            {"id": "L1", "title": "台式计算机", "value": {"amount": 300000.0, "currency": "CNY"},
             "ceilingPrice": {"amount": 290000.0, "currency": "CNY"}, "smeSetAside": True},
            {"id": "L2", "title": "复印纸", "value": {"amount": 200000.0, "currency": "CNY"},
             "consortiumAllowed": True},
        ],
        items=[
            {"id": "1", "description": "台式计算机", "specification": "i5-13500/16G/512G SSD",
             "classification": {"scheme": "CN-GPC-2022", "id": "A02010105"},
             "quantity": 100, "unit": {"name": "台", "value": {"amount": 2900, "currency": "CNY"}},
             "relatedLot": "L1"},
            {"id": "2", "description": "复印纸", "specification": "A4 70g 500张/包",
             "quantity": 40000, "unit": {"name": "张", "value": {"amount": 0.005, "currency": "CNY"}},
             "relatedLot": "L2"},
        ],
    )  # fmt: skip
    tender_r["publicityPeriod"] = {
        "startDate": "2024-03-01T09:00:00+08:00",
        "endDate": "2024-03-07T17:00:00+08:00",
        "durationInDays": 5,
    }
    agency = tender_r["parties"][1]
    agency["address"]["streetAddress"] = "长春市朝阳区人民大街1号"
    agency["contactPoint"] = {"name": "刘工", "telephone": "0431-88886666"}
    result["tender"] = {"id": tender["id"], "agencyFee": {"amount": 6897.0, "currency": "CNY"}}
    result["publicityPeriod"] = {"startDate": "2024-04-01T15:00:00+08:00", "durationInDays": 1}
    award = result["awards"][0]
    award["evaluationExperts"] = EXPERTS
    award["items"] = [
        {"id": "1", "description": "台式计算机", "specification": "联想 启天M4360",
         "quantity": 100, "unit": {"name": "台", "value": {"amount": 2898, "currency": "CNY"}}},
    ]  # fmt: skip
    return [tender_r, correction, result, contract]
