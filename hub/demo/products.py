"""What the demo buys: real products with model numbers, and project subjects.

Every code is a 2022-catalogue code (A goods, B works, C services), checked by the tests,
so category facets and price comparisons in the hub work on the demo as on real data.
"""

from __future__ import annotations

from typing import NamedTuple


class Product(NamedTuple):
    """One model sold on the e-mall or under a framework agreement, or a designated service."""

    item: str
    brand: str
    model: str
    code: str
    unit: str
    price: float  # typical unit price in yuan; the demo varies it a little per order
    quantities: tuple[str, ...]
    trades: tuple[str, ...]
    weight: int  # relative share of orders


PCS = ("1", "1", "1", "1", "2", "2", "3", "4", "5", "6", "8", "10", "12", "15", "20")
FEW = ("1", "1", "1", "1", "2", "2", "3", "4")
BOXES = ("1", "2", "2", "3", "4", "5", "5", "6", "8", "10", "10", "12", "15", "20", "30", "50")
TONNES = ("0.5", "1", "1", "1.5", "2", "2.5", "3")
SEATS = ("2", "4", "6", "8", "10", "12", "16", "20", "24", "30", "40")
IT = ("computer", "office")

PRODUCTS: tuple[Product, ...] = (
    Product("台式计算机", "联想", "启天M4360", "A02010105", "台", 4699, PCS, IT, 12),
    Product("台式计算机", "联想", "启天M437", "A02010105", "台", 4899, PCS, IT, 10),
    Product("台式计算机", "联想", "启天M428", "A02010105", "台", 4399, PCS, IT, 5),
    Product("台式计算机", "惠普", "HP ProDesk 400 G9", "A02010105", "台", 5199, PCS, IT, 6),
    Product("台式计算机", "华为", "擎云B730", "A02010105", "台", 5499, PCS, IT, 6),
    Product("台式计算机", "戴尔", "OptiPlex 3000", "A02010105", "台", 4599, PCS, IT, 4),
    Product("便携式计算机", "联想", "昭阳K4e", "A02010108", "台", 5599, FEW, IT, 4),
    Product("便携式计算机", "联想", "ThinkPad E14", "A02010108", "台", 5299, FEW, IT, 4),
    Product("便携式计算机", "华为", "MateBook D 14", "A02010108", "台", 4999, FEW, IT, 3),
    Product("便携式计算机", "惠普", "HP ProBook 440 G10", "A02010108", "台", 5799, FEW, IT, 2),
    Product("便携式计算机", "戴尔", "Latitude 3440", "A02010108", "台", 5399, FEW, IT, 2),
    Product("平板式计算机", "华为", "MatePad 11", "A02010109", "台", 2499, FEW, IT, 1),
    Product("液晶显示器", "联想", "ThinkVision T24i-30", "A02021104", "台", 1099, PCS, IT, 3),
    Product("液晶显示器", "戴尔", "P2422H", "A02021104", "台", 1299, PCS, IT, 2),
    Product("液晶显示器", "飞利浦", "243V7Q", "A02021104", "台", 749, PCS, IT, 2),
    Product("激光打印机", "惠普", "HP LaserJet M403d", "A02021003", "台", 2350, FEW, IT, 6),
    Product("激光打印机", "佳能", "LBP2900", "A02021003", "台", 1199, FEW, IT, 5),
    Product("激光打印机", "联想", "LJ2405D", "A02021003", "台", 999, FEW, IT, 3),
    Product("激光打印机", "奔图", "P3301DN", "A02021003", "台", 1499, FEW, IT, 2),
    Product(
        "彩色激光打印机",
        "惠普",
        "HP Color LaserJet Pro M255dw",
        "A02021004",
        "台",
        3299,
        FEW,
        IT,
        2,
    ),
    Product("彩色激光打印机", "佳能", "LBP623Cdw", "A02021004", "台", 2899, FEW, IT, 1),
    Product("复印机", "佳能", "iR 2625", "A02020100", "台", 12800, FEW, IT, 1),
    Product("复印机", "理光", "IM 2702", "A02020100", "台", 9800, FEW, IT, 1),
    Product("复印机", "京瓷", "TASKalfa 2020", "A02020100", "台", 7800, FEW, IT, 1),
    Product("复印机", "柯尼卡美能达", "bizhub 226i", "A02020100", "台", 8900, FEW, IT, 1),
    Product("投影仪", "爱普生", "CB-X06", "A02020200", "台", 3299, FEW, IT, 2),
    Product("投影仪", "明基", "E580", "A02020200", "台", 3599, FEW, IT, 1),
    Product("投影仪", "索尼", "VPL-EX435", "A02020200", "台", 5499, FEW, IT, 1),
    Product("扫描仪", "富士通", "fi-7160", "A02021118", "台", 6499, FEW, IT, 1),
    Product("扫描仪", "佳能", "DR-C225 II", "A02021118", "台", 3199, FEW, IT, 1),
    Product("碎纸机", "得力", "9912", "A02021301", "台", 469, FEW, ("office",), 1),
    Product("碎纸机", "科密", "C-2600", "A02021301", "台", 799, FEW, ("office",), 1),
    Product("交换机", "华为", "S5735-L24T4S-A1", "A02010202", "台", 3199, FEW, ("computer",), 1),
    Product("交换机", "华三", "S5130S-28S-EI", "A02010202", "台", 2799, FEW, ("computer",), 1),
    Product("交换机", "锐捷", "RG-S2928G-E V3", "A02010202", "台", 1899, FEW, ("computer",), 1),
    Product("不间断电源", "山特", "C3K", "A02061504", "台", 3599, FEW, ("computer",), 1),
    Product("空调机", "格力", "KFR-35GW/NhGc1B", "A02061804", "台", 3299, FEW, ("appliance",), 4),
    Product("空调机", "格力", "KFR-72LW/NhGc1B", "A02061804", "台", 7899, FEW, ("appliance",), 2),
    Product("空调机", "美的", "KFR-35GW/N8MXC1", "A02061804", "台", 2899, FEW, ("appliance",), 3),
    Product("空调机", "海尔", "KFR-35GW/05EDS81", "A02061804", "台", 2799, FEW, ("appliance",), 2),
    Product("电冰箱", "海尔", "BCD-216STPT", "A02061801", "台", 1799, FEW, ("appliance",), 1),
    Product("电视机", "海信", "65E3H", "A02091001", "台", 3799, FEW, ("appliance",), 1),
    Product("复印纸", "得力", "A4 70g 500张/包 5包/箱", "A05040101", "箱", 109, BOXES, IT, 14),
    Product("复印纸", "得力", "A4 80g 500张/包 5包/箱", "A05040101", "箱", 129, BOXES, IT, 8),
    Product("复印纸", "晨光", "A4 70g 500张/包", "A05040101", "包", 22.5, BOXES, IT, 6),
    Product("复印纸", "晨光", "A4 80g 500张/包 5包/箱", "A05040101", "箱", 125, BOXES, IT, 5),
    Product("复印纸", "亚太森博", "百旺 A4 70g 5包/箱", "A05040101", "箱", 105, BOXES, IT, 5),
    Product("复印纸", "亚太森博", "百旺 A4 70g", "A05040101", "吨", 6200, TONNES, IT, 2),
    Product("复印纸", "UPM", "欣乐 A4 80g 5包/箱", "A05040101", "箱", 139, BOXES, IT, 3),
    Product("复印纸", "得力", "A3 70g 500张/包 5包/箱", "A05040101", "箱", 219, BOXES, IT, 2),
    Product("硒鼓", "惠普", "CF228A", "A05040201", "个", 560, BOXES, IT, 4),
    Product("硒鼓", "佳能", "CRG-303", "A05040201", "个", 450, BOXES, IT, 3),
    Product("硒鼓", "联想", "LD2451", "A05040201", "个", 399, BOXES, IT, 2),
    Product("碳粉", "奔图", "TO-400", "A05040202", "个", 199, BOXES, IT, 2),
    Product("抽纸", "维达", "3层130抽 24包/箱", "A05040501", "箱", 79, BOXES, ("office",), 3),
    Product("办公桌", "震旦", "CF-ZT1600", "A05010201", "张", 1580, SEATS, ("furniture",), 3),
    Product("办公桌", "圣奥", "S-DZ1400", "A05010201", "张", 1280, SEATS, ("furniture",), 3),
    Product("办公桌", "黎明", "LM-BGZ1200", "A05010201", "张", 980, SEATS, ("furniture",), 2),
    Product("办公椅", "震旦", "AC-8802", "A05010301", "把", 680, SEATS, ("furniture",), 3),
    Product("办公椅", "圣奥", "SA-Y305", "A05010301", "把", 520, SEATS, ("furniture",), 3),
    Product("办公椅", "黎明", "LM-Y021", "A05010301", "把", 380, SEATS, ("furniture",), 2),
    Product("文件柜", "黎明", "LM-WJG0918", "A05010502", "组", 860, SEATS, ("furniture",), 2),
    Product("文件柜", "圣奥", "S-GZ0920", "A05010502", "组", 1050, SEATS, ("furniture",), 1),
    Product("会议桌", "震旦", "CT-HYZ3600", "A05010202", "张", 4800, FEW, ("furniture",), 1),
    Product("三人沙发", "圣奥", "SF-301", "A05010401", "套", 3200, FEW, ("furniture",), 1),
    Product(
        "车辆维修保养",
        "",
        "常规保养（机油、机滤）",
        "C23120301",
        "次",
        480,
        FEW,
        ("auto_repair",),
        4,
    ),
    Product("车辆维修保养", "", "更换前刹车片", "C23120301", "次", 650, FEW, ("auto_repair",), 2),
    Product("车辆维修保养", "", "四轮定位", "C23120301", "次", 180, FEW, ("auto_repair",), 1),
    Product(
        "宣传册印刷",
        "",
        "A4 彩色 16页 157g铜版纸",
        "C23090199",
        "册",
        8.5,
        ("200", "300", "500", "1000", "2000"),
        ("printing",),
        2,
    ),
    Product(
        "信封印刷",
        "",
        "5号 牛皮纸 单色",
        "C23090199",
        "个",
        0.35,
        ("1000", "2000", "5000", "10000"),
        ("printing",),
        1,
    ),
    Product("会议服务", "", "半天 会议室50人", "C22010200", "场", 2600, FEW, ("hotel",), 2),
    Product("会议服务", "", "全天 会议室100人", "C22010200", "场", 5800, FEW, ("hotel",), 1),
)


class Line(NamedTuple):
    """An item line of a project: what, its 2022 code, and plausible unit prices."""

    description: str
    code: str
    unit: str
    price_low: int
    price_high: int
    quantity_low: int
    quantity_high: int


class Subject(NamedTuple):
    """What a project buys; the title reads 「<purchaser><name>项目」."""

    name: str
    category: str  # goods | works | services (OCDS mainProcurementCategory)
    lines: tuple[Line, ...]
    trade: str
    sectors: tuple[str, ...]
    lots: bool  # may be split into lots, one per line


ALL = ("education", "health", "government", "police", "culture", "infrastructure")
OFFICES = ("government", "police", "infrastructure", "culture")


def _one(description: str, code: str, low: int, high: int) -> tuple[Line, ...]:
    """A works or services project: one line of 1 项 priced at the budget."""
    return (Line(description, code, "项", low, high, 1, 1),)


SUBJECTS: tuple[Subject, ...] = (
    Subject("计算机设备采购", "goods", (
        Line("台式计算机", "A02010105", "台", 4300, 6500, 20, 240),
        Line("便携式计算机", "A02010108", "台", 5000, 8000, 5, 40),
        Line("液晶显示器", "A02021104", "台", 800, 1500, 10, 60),
    ), "computer", ALL, True),
    Subject("办公设备采购", "goods", (
        Line("A4黑白激光打印机", "A02021003", "台", 1100, 2600, 5, 40),
        Line("数字复印机", "A02020100", "台", 7800, 16000, 2, 10),
        Line("投影仪", "A02020200", "台", 3000, 6000, 2, 20),
    ), "computer", ALL, True),
    Subject("服务器及网络设备采购", "goods", (
        Line("机架式服务器", "A02010104", "台", 30000, 80000, 2, 10),
        Line("三层交换机", "A02010202", "台", 3000, 20000, 4, 30),
        Line("不间断电源", "A02061504", "台", 5000, 30000, 1, 4),
    ), "computer", ("government", "police", "health", "education"), True),
    Subject("多媒体教学设备采购", "goods", (
        Line("交互式智能平板", "A02091104", "台", 8000, 15000, 10, 80),
        Line("投影仪", "A02020200", "台", 3000, 6000, 5, 30),
    ), "computer", ("education",), True),
    Subject("办公家具采购", "goods", (
        Line("办公桌", "A05010201", "张", 800, 2500, 20, 150),
        Line("办公椅", "A05010301", "把", 300, 1200, 20, 150),
        Line("文件柜", "A05010502", "组", 800, 1800, 10, 60),
    ), "furniture", ALL, True),
    Subject("学生课桌椅采购", "goods", (
        Line("学生课桌椅", "A05010203", "套", 300, 650, 200, 1500),
    ), "furniture", ("education",), False),
    Subject("空调设备采购", "goods", (
        Line("分体式空调机", "A02061804", "台", 3000, 9000, 10, 80),
    ), "appliance", ALL, False),
    Subject("医疗设备采购", "goods", (
        Line("彩色多普勒超声诊断仪", "A02320500", "台", 600000, 2500000, 1, 2),
        Line("全自动生化分析仪", "A02321900", "台", 400000, 1500000, 1, 2),
        Line("多参数监护仪", "A02320300", "台", 20000, 60000, 10, 40),
    ), "medical", ("health",), True),
    Subject("图书采购", "goods", (
        Line("普通图书", "A04010100", "册", 35, 60, 5000, 40000),
    ), "books", ("education", "culture"), False),
    Subject("视频监控设备采购", "goods", (
        Line("网络摄像机及存储设备", "A02091107", "套", 3000, 12000, 20, 200),
    ), "computer", ("police", "education", "government"), False),
    Subject("公务用车采购", "goods", (
        Line("轿车", "A02030501", "辆", 150000, 180000, 1, 5),
    ), "auto_sales", ("government", "police"), False),
    Subject("办公楼维修改造工程", "works",
            _one("房屋修缮", "B08010000", 500_000, 5_000_000), "construction", ALL, False),
    Subject("室内装修工程", "works",
            _one("装修工程", "B07000000", 300_000, 3_000_000), "decoration", ALL, False),
    Subject("供热管网改造工程", "works",
            _one("供暖设备安装", "B06050000", 800_000, 6_000_000), "construction", OFFICES, False),
    Subject("校园网络系统工程", "works",
            _one("计算机网络系统工程", "B06020600", 400_000, 3_000_000), "network",
            ("education",), False),
    Subject("安防监控系统工程", "works",
            _one("保安监控和防盗报警系统工程", "B06020200", 300_000, 2_500_000), "network",
            ("police", "health", "education"), False),
    Subject("道路维修工程", "works",
            _one("城市道路工程施工", "B02050000", 1_000_000, 9_000_000), "construction",
            ("infrastructure",), False),
    Subject("园林绿化工程", "works",
            _one("园林绿化工程施工", "B02130500", 300_000, 3_000_000), "landscaping",
            ("infrastructure",), False),
    Subject("物业管理服务", "services",
            _one("物业管理服务", "C21040000", 200_000, 2_000_000), "property", ALL, False),
    Subject("保安服务", "services",
            _one("保安服务", "C05040300", 150_000, 900_000), "security", ALL, False),
    Subject("保洁服务", "services",
            _one("建筑物清洁服务", "C23160000", 120_000, 800_000), "property",
            ("health", "education", "government"), False),
    Subject("信息系统运维服务", "services",
            _one("软件运维服务", "C16070300", 200_000, 1_500_000), "software",
            ("government", "police", "health"), False),
    Subject("业务应用系统开发", "services",
            _one("行业应用软件开发服务", "C16010302", 500_000, 4_000_000), "software",
            ("government", "police", "health", "education"), False),
    Subject("政务云服务", "services",
            _one("云计算服务", "C16040000", 600_000, 5_000_000), "software",
            ("government",), False),
    Subject("年度财务审计服务", "services",
            _one("审计服务", "C23030000", 50_000, 400_000), "accounting", ALL, False),
    Subject("常年法律顾问服务", "services",
            _one("其他法律服务", "C23019900", 50_000, 300_000), "law", OFFICES, False),
    Subject("印刷服务", "services",
            _one("其他印刷服务", "C23090199", 80_000, 600_000), "printing", ALL, False),
    Subject("公务车辆维修服务", "services",
            _one("车辆维修和保养服务", "C23120301", 100_000, 600_000), "auto_repair",
            ("government", "police"), False),
    Subject("食堂餐饮服务", "services",
            _one("餐饮服务", "C22040000", 300_000, 2_500_000), "catering",
            ("education", "health"), False),
    Subject("工程监理服务", "services",
            _one("工程监理服务", "C20020600", 100_000, 900_000), "consulting",
            ("infrastructure",), False),
    Subject("业务培训服务", "services",
            _one("培训服务", "C02060000", 80_000, 500_000), "training", OFFICES, False),
)  # fmt: skip

# Procurement methods: Chinese name → OCDS procurementMethod, notice word, weight by category.
METHODS: dict[str, tuple[str, str]] = {
    "公开招标": ("open", "公开招标公告"),
    "邀请招标": ("selective", "邀请招标公告"),
    "竞争性谈判": ("limited", "竞争性谈判公告"),
    "竞争性磋商": ("limited", "竞争性磋商公告"),
    "询价": ("limited", "询价公告"),
    "单一来源": ("limited", "单一来源采购公示"),
}
METHOD_WEIGHTS: dict[str, tuple[tuple[str, int], ...]] = {
    "goods": (("公开招标", 42), ("邀请招标", 5), ("竞争性谈判", 10), ("竞争性磋商", 15),
              ("询价", 16), ("单一来源", 12)),
    "works": (("公开招标", 40), ("竞争性谈判", 15), ("竞争性磋商", 45)),
    "services": (("公开招标", 40), ("邀请招标", 5), ("竞争性谈判", 10), ("竞争性磋商", 33),
                 ("单一来源", 12)),
}  # fmt: skip
