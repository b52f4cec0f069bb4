"""GB 32100-2015 unified social credit codes and GB/T 4754-2017 industry codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbonfin.errors import InvalidInputError
from carbonfin.scoring.ids import (
    Sector,
    is_valid_uscc,
    parse_industry_code,
    sector_of,
    uscc_check_character,
    validate_uscc,
)

# Published example codes whose check character is computed by GB 32100-2015 §5 (weights
# 3^(i-1) mod 31, check = 31 - sum mod 31): the standard's annex example and codes printed on
# public business licences.
PUBLISHED = ["91350100M000100Y43", "91310000132149237G"]


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_are_valid(code: str) -> None:
    assert is_valid_uscc(code)
    assert uscc_check_character(code[:17]) == code[17]


def test_wrong_check_character_names_position_18() -> None:
    with pytest.raises(InvalidInputError, match="position 18"):
        validate_uscc("91350100M000100Y44")


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("9135", "18 characters"),
        ("91350100M00010OY43", "character set"),
        (123, "string"),
        # a lower-case code is named as such, not as 3 characters outside the set
        ("91350100m000100y43", r"letters are upper case; position 9 \('m'\), 16 \('y'\)$"),
    ],
)
def test_malformed_codes_get_specific_messages(code: object, fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        validate_uscc(code)


_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@given(st.text(alphabet=_CHARS, min_size=9, max_size=9), st.integers(min_value=8, max_value=16))
def test_any_single_character_change_is_detected(body: str, pos: int) -> None:
    first17 = "91310000" + body
    code = first17 + uscc_check_character(first17)
    assert is_valid_uscc(code)
    replacement = next(c for c in _CHARS if c != code[pos])
    tampered = code[:pos] + replacement + code[pos + 1 :]
    assert not is_valid_uscc(tampered)


def test_industry_codes_map_to_sectors() -> None:
    assert sector_of("D4411") is Sector.POWER  # 火力发电
    assert sector_of("C3110") is Sector.STEEL  # 炼铁
    assert sector_of("C3011") is Sector.CEMENT  # 水泥制造
    assert parse_industry_code("G5611").division == "56"  # 航空客货运输
    with pytest.raises(InvalidInputError):
        parse_industry_code("A4411")  # section A does not hold division 44
