"""Small realistic records for tests, built in code so each test shows what it varies."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from stdnum.cn import uscc

from hub.publishing.transactions import COLUMNS as TRANSACTION_COLUMNS


def credit_code(body: str) -> str:
    """A valid 统一社会信用代码 from its first 17 characters."""
    return body + uscc.calc_check_digit(body)


SCHOOL = ("吉林省实验中学", credit_code("12220000412758693"))
HOSPITAL = ("吉林大学第一医院", credit_code("12220000412760098"))
AGENCY = ("吉林省政府采购中心", credit_code("12220000MB1234567"))
LENOVO_DEALER = ("长春市博远科技有限公司", credit_code("91220101MA0Y12345"))
PAPER_DEALER = ("吉林省文汇办公用品有限公司", credit_code("91220102MA17ABCDE"))
FURNITURE = ("长春市金桥家具有限公司", credit_code("91220104MA0Y98765"))


def transaction(order_id: str = "DD202400000001", **overrides: Any) -> dict[str, str]:
    row = {
        "order_id": order_id,
        "channel": "emall",
        "purchaser_name": SCHOOL[0],
        "purchaser_uscc": SCHOOL[1],
        "supplier_name": LENOVO_DEALER[0],
        "supplier_uscc": LENOVO_DEALER[1],
        "item_name": "台式计算机",
        "brand": "联想",
        "model": "启天M4360",
        "category_code": "A02010105",
        "quantity": "2",
        "unit": "台",
        "unit_price": "4999.00",
        "amount": "9998.00",
        "order_date": "2024-03-01",
        "region_code": "220102",
        "agreement_id": "",
    }
    row.update({k: str(v) for k, v in overrides.items()})
    return row


def write_csv(path: Path, rows: Iterable[Mapping[str, Any]], *, bom: bool = True) -> Path:
    rows = list(rows)
    columns = list(rows[0]) if rows else list(TRANSACTION_COLUMNS)
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_ndjson(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def penalty(record_id: str = "JLCZ-2024-001", **overrides: Any) -> dict[str, str]:
    row = {
        "record_id": record_id,
        "kind": "dishonest_record",
        "subject_name": LENOVO_DEALER[0],
        "subject_uscc": LENOVO_DEALER[1],
        "authority_name": "吉林省财政厅",
        "decision_number": "吉财采监〔2024〕12号",
        "decision_date": "2024-05-20",
        "facts": "提供虚假材料谋取中标",
        "legal_basis": "《中华人民共和国政府采购法》第七十七条",
        "penalty": "处以采购金额千分之五的罚款，列入不良行为记录名单，一年内禁止参加政府采购活动",
        "fine_amount": "1520.00",
        "debarment_start": "2024-05-20",
        "debarment_end": "2025-05-19",
        "region_code": "220000",
        "ocid": "",
    }
    row.update({k: str(v) for k, v in overrides.items()})
    return row


def party(name_code: tuple[str, str], roles: list[str], region: str = "220102") -> dict[str, Any]:
    name, code = name_code
    return {
        "id": code,
        "name": name,
        "identifier": {"scheme": "CN-SAIC", "id": code, "legalName": name},
        "address": {"region": region},
        "roles": roles,
    }


def project_releases(ocid: str = "ocds-cghub1-JLZC2024-0153") -> list[dict[str, Any]]:
    """A whole open tender: tender → correction → result → contract."""
    buyer = party(SCHOOL, ["buyer"])
    agency = party(AGENCY, ["procuringEntity"], "220000")
    supplier = party(LENOVO_DEALER, ["supplier"])
    tender = {
        "id": "JLZC2024-0153",
        "title": "吉林省实验中学计算机采购项目",
        "status": "active",
        "procurementMethod": "open",
        "procurementMethodDetails": "公开招标",
        "mainProcurementCategory": "goods",
        "value": {"amount": 500000.0, "currency": "CNY"},
        "procuringEntity": {"id": AGENCY[1], "name": AGENCY[0]},
        "tenderPeriod": {"startDate": "2024-03-01T09:00:00+08:00", "endDate": "2024-03-22T09:30:00+08:00"},
        "items": [{
            "id": "1", "description": "台式计算机",
            "classification": {"scheme": "CN-GPC-2022", "id": "A02010105", "description": "台式计算机"},
            "quantity": 100, "unit": {"name": "台"},
        }],
    }  # fmt: skip
    return [
        {
            "ocid": ocid, "id": f"{ocid}-01-tender", "date": "2024-03-01T09:00:00+08:00",
            "tag": ["tender"], "initiationType": "tender", "language": "zh",
            "title": "吉林省实验中学计算机采购项目公开招标公告",
            "fullText": "项目编号：JLZC2024-0153。采购人：吉林省实验中学。预算金额：50万元。",
            "parties": [buyer, agency], "buyer": {"id": SCHOOL[1], "name": SCHOOL[0]},
            "planning": {"budget": {"amount": {"amount": 500000.0, "currency": "CNY"}}},
            "tender": tender,
        },
        {
            "ocid": ocid, "id": f"{ocid}-02-correction", "date": "2024-03-08T10:00:00+08:00",
            "tag": ["tenderAmendment"], "title": "吉林省实验中学计算机采购项目更正公告",
            "fullText": "投标截止时间延长至2024年3月29日9时30分。预算调整为48万元。",
            "planning": {"budget": {"amount": {"amount": 480000.0, "currency": "CNY"}}},
            "tender": {"id": "JLZC2024-0153", "value": {"amount": 480000.0, "currency": "CNY"},
                       "tenderPeriod": {"endDate": "2024-03-29T09:30:00+08:00"}},
        },
        {
            "ocid": ocid, "id": f"{ocid}-03-result", "date": "2024-04-01T15:00:00+08:00",
            "tag": ["award"], "title": "吉林省实验中学计算机采购项目中标结果公告",
            "fullText": "中标供应商：长春市博远科技有限公司，中标金额：459,800.00元。",
            "parties": [supplier],
            "awards": [{
                "id": "A1", "title": "计算机采购", "status": "active",
                "date": "2024-03-29T16:00:00+08:00",
                "value": {"amount": 459800.0, "currency": "CNY"},
                "suppliers": [{"id": LENOVO_DEALER[1], "name": LENOVO_DEALER[0]}],
            }],
        },
        {
            "ocid": ocid, "id": f"{ocid}-04-contract", "date": "2024-04-10T09:00:00+08:00",
            "tag": ["contract"], "title": "吉林省实验中学计算机采购项目合同公告",
            "fullText": "合同金额：459,800.00元。",
            "contracts": [{
                "id": "C1", "awardID": "A1", "title": "计算机采购合同", "status": "active",
                "value": {"amount": 459800.0, "currency": "CNY"},
                "dateSigned": "2024-04-08T10:00:00+08:00",
                "period": {"startDate": "2024-04-10T00:00:00+08:00", "endDate": "2024-05-10T00:00:00+08:00"},
                "suppliers": [{"id": LENOVO_DEALER[1], "name": LENOVO_DEALER[0]}],
            }],
        },
    ]  # fmt: skip


def write_package(
    path: Path, releases: list[dict[str, Any]], publisher: str = "吉林省政府采购网"
) -> Path:
    package = {
        "uri": f"http://example.gov.cn/{path.name}",
        "version": "1.1",
        "publishedDate": "2024-04-10T12:00:00+08:00",
        "publisher": {"name": publisher},
        "extensions": [],
        "releases": releases,
    }
    path.write_text(json.dumps(package, ensure_ascii=False), "utf-8")
    return path
