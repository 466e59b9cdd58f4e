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


# Two level-3 headings the transcription lacks (see schema/data/SOURCES.md): their items are
# known, the heading rows are not.
MISSING_HEADINGS = {"A07050200", "B02130300"}


def test_packaged_catalogue_is_whole_and_every_code_has_its_parent() -> None:
    """The 2022 catalogue as transcribed: 4,272 codes, a tree rooted at A/B/C."""
    catalogue = item_catalogue()
    assert len(catalogue) == 4272
    roots = {code for code, item in catalogue.items() if not item.parent_code}
    assert roots == {"A", "B", "C"}
    missing = {item.parent_code for item in catalogue.values()} - {None, *catalogue}
    assert missing == MISSING_HEADINGS
