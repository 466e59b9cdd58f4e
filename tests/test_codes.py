"""Credit codes, party names, division codes and item categories."""

from __future__ import annotations

import pytest

from schema.codes import (
    CodeError,
    check_category,
    check_uscc,
    item_catalogue,
    normalise_name,
    region_within,
)
from tests.factories import SHARED


def test_a_valid_credit_code_passes_in_canonical_form() -> None:
    assert check_uscc("91110108551385082Q") == "91110108551385082Q"
    assert check_uscc(" 91110108551385082q ") == "91110108551385082Q"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91110108551385082A", "check"),  # wrong check character
        ("9111010855138508", "length"),  # too short
        ("91110108551385O82Q", "format"),  # the letter O is not in the charset
    ],
)
def test_invalid_credit_codes_say_what_is_wrong(code: str, reason: str) -> None:
    with pytest.raises(CodeError) as error:
        check_uscc(code)
    assert code in str(error.value) and reason in str(error.value)


def test_names_fold_width_spaces_and_brackets() -> None:
    assert normalise_name("长春市博远科技（集团） 有限公司") == normalise_name(
        "长春市博远科技(集团)有限公司"
    )
    assert normalise_name("ＡＢＣ科技【吉林】") == normalise_name("abc科技(吉林)")
    assert normalise_name("长春市博远科技") != normalise_name("长春市博远科技集团")


def test_regions_contain_their_descendants() -> None:
    assert region_within("220102", "220000")
    assert region_within("220102", "220100")
    assert not region_within("220202", "220100")
    assert not region_within("110101", "220000")


def test_categories_come_from_the_2022_catalogue_unless_another_edition_is_named() -> None:
    assert item_catalogue()["A02010105"].name == "台式计算机"
    assert item_catalogue()["A02010104"].name == "服务器"
    assert check_category("A02010105", None) == "2022"
    assert check_category("A02010104", "2013") == "2013"  # 台式计算机 in the 2013 edition
    with pytest.raises(CodeError, match="not in the 2022"):
        check_category("A99999999", None)
    with pytest.raises(CodeError, match="not a catalogue code"):
        check_category("计算机", "2013")


def test_packaged_catalogue_is_the_shared_one() -> None:
    shared = SHARED / "data" / "catalog-2022.csv"
    assert len(item_catalogue()) == len(shared.read_text("utf-8").splitlines()) - 1
