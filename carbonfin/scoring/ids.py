"""Firm identity and industry classification.

* The 18-character unified social credit code (统一社会信用代码, USCC) of GB 32100-2015.
* GB/T 4754-2017 industry codes (国民经济行业分类) and their mapping to the engine's sectors.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from carbonfin.errors import InvalidInputError

__all__ = [
    "USCC_ALPHABET",
    "IndustryCode",
    "Sector",
    "is_valid_uscc",
    "parse_industry_code",
    "sector_of",
    "uscc_check_character",
    "uscc_problems",
    "validate_uscc",
]

# GB 32100-2015, section 4 and table 2: the code uses the 10 digits and 21 capital letters,
# leaving out I, O, Z, S, V (31 symbols); each symbol's value is its index in this string.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
# GB 32100-2015, 4.2 / annex: weight of position i (1-based) is 3^(i-1) mod 31.
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
# GB 32100-2015, table 1: registration-management department codes (position 1).
_AUTHORITY_CODES = frozenset("123456789ANY")


def uscc_check_character(first_17: str) -> str:
    """Return the check character (position 18) for the first 17 characters of a USCC.

    Notes
    -----
    GB 32100-2015: ``C18 = 31 - (sum(C_i * W_i) mod 31)`` with ``W_i = 3**(i-1) mod 31``, where a
    result of 31 is read as 0; the value is mapped back through the 31-symbol alphabet.
    """
    if not isinstance(first_17, str) or len(first_17) != 17:
        raise InvalidInputError(f"`first_17` must be a string of 17 characters; got {first_17!r}")
    total = 0
    for pos, (ch, weight) in enumerate(zip(first_17.upper(), _WEIGHTS, strict=True), start=1):
        value = _VALUE.get(ch)
        if value is None:
            raise InvalidInputError(
                f"USCC position {pos} has {ch!r}, which is not in the GB 32100-2015 character "
                f"set ({USCC_ALPHABET})"
            )
        total += value * weight
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problems(code: object) -> list[str]:
    """Every problem found in ``code`` as a USCC, each naming the position; empty if valid."""
    if not isinstance(code, str):
        return [f"a USCC must be a string; got {type(code).__name__}"]
    if len(code) != 18:
        return [f"a USCC has 18 characters; this one has {len(code):,}"]
    outside = [(pos, ch) for pos, ch in enumerate(code, start=1) if ch not in _VALUE]
    if outside and all(ch.upper() in _VALUE for _, ch in outside):
        lower = ", ".join(f"{pos} ({ch!r})" for pos, ch in outside)
        return [f"letters are upper case; position {lower}"]
    problems = [
        f"position {pos} has {ch!r}, which is not in the GB 32100-2015 character set"
        for pos, ch in outside
    ]
    if problems:
        return problems
    if code[0] not in _AUTHORITY_CODES:
        problems.append(
            f"position 1 has {code[0]!r}, which is not a registration-authority code "
            f"({''.join(sorted(_AUTHORITY_CODES))})"
        )
    if not code[2:8].isdigit():
        problems.append(
            f"positions 3-8 must be a 6-digit administrative-division code; got {code[2:8]!r}"
        )
    expected = uscc_check_character(code[:17])
    if code[17] != expected:
        problems.append(
            f"position 18 (check character) is {code[17]!r}; the first 17 characters give "
            f"{expected!r}"
        )
    return problems


def is_valid_uscc(code: object) -> bool:
    """Whether ``code`` is a valid unified social credit code under GB 32100-2015."""
    return not uscc_problems(code)


def validate_uscc(code: object) -> str:
    """Return ``code`` if it is a valid USCC; else raise :class:`InvalidInputError` saying why."""
    problems = uscc_problems(code)
    if problems:
        raise InvalidInputError(f"invalid USCC {code!r}: " + "; ".join(problems))
    assert isinstance(code, str)
    return code


def unknown_member(cls: type[enum.Enum], value: object) -> InvalidInputError:
    """The engine's error for a value that is not a member of ``cls`` (an ``_missing_`` hook)."""
    valid = ", ".join(str(m.value) for m in cls)
    return InvalidInputError(f"{value!r} is not a valid {cls.__name__}; valid: {valid}")


class Sector(enum.StrEnum):
    """The engine's sector list, the unit of industry benchmarks and coverage rules.

    ``Sector("x")`` raises :class:`InvalidInputError` (a ``ValueError``) listing the sectors.
    """

    POWER = "power"
    STEEL = "steel"
    PETROCHEMICAL = "petrochemical"
    CHEMICAL = "chemical"
    CEMENT = "cement"
    OTHER_ENERGY_INTENSIVE = "other_energy_intensive"
    AVIATION = "aviation"
    WATER_TRANSPORT = "water_transport"
    DATA_CENTRE = "data_centre"
    BUILDINGS = "buildings"
    PUBLIC_INSTITUTION = "public_institution"
    OTHER = "other"

    @classmethod
    def _missing_(cls, value: object) -> Sector:
        raise unknown_member(cls, value)


# GB/T 4754-2017 sections and the 2-digit divisions each contains (国民经济行业分类, table 1).
_SECTION_DIVISIONS: dict[str, range] = {
    "A": range(1, 6),
    "B": range(6, 13),
    "C": range(13, 44),
    "D": range(44, 47),
    "E": range(47, 51),
    "F": range(51, 53),
    "G": range(53, 61),
    "H": range(61, 63),
    "I": range(63, 66),
    "J": range(66, 70),
    "K": range(70, 71),
    "L": range(71, 73),
    "M": range(73, 76),
    "N": range(76, 80),
    "O": range(80, 83),
    "P": range(83, 84),
    "Q": range(84, 86),
    "R": range(86, 91),
    "S": range(91, 97),
    "T": range(97, 98),
}

# Code prefix (digits of division/group/class) -> sector; the longest matching prefix wins.
# Sources: GB/T 4754-2017 titles, quoted for each.
_SECTOR_PREFIXES: dict[str, Sector] = {
    "44": Sector.POWER,  # 电力、热力生产和供应业
    "45": Sector.OTHER_ENERGY_INTENSIVE,  # 燃气生产和供应业
    "31": Sector.STEEL,  # 黑色金属冶炼和压延加工业
    "25": Sector.PETROCHEMICAL,  # 石油、煤炭及其他燃料加工业
    "26": Sector.CHEMICAL,  # 化学原料和化学制品制造业
    "28": Sector.CHEMICAL,  # 化学纤维制造业
    "30": Sector.OTHER_ENERGY_INTENSIVE,  # 非金属矿物制品业 (glass, ceramics, ...)
    "301": Sector.CEMENT,  # 水泥、石灰和石膏制造
    "302": Sector.CEMENT,  # 石膏、水泥制品及类似制品制造
    "32": Sector.OTHER_ENERGY_INTENSIVE,  # 有色金属冶炼和压延加工业
    "22": Sector.OTHER_ENERGY_INTENSIVE,  # 造纸和纸制品业
    "17": Sector.OTHER_ENERGY_INTENSIVE,  # 纺织业
    "56": Sector.AVIATION,  # 航空运输业
    "55": Sector.WATER_TRANSPORT,  # 水上运输业
    "645": Sector.DATA_CENTRE,  # 信息处理和存储支持服务 (data centres)
    "70": Sector.BUILDINGS,  # 房地产业 (commercial buildings under property management)
    "61": Sector.BUILDINGS,  # 住宿业 (hotels)
    "52": Sector.BUILDINGS,  # 零售业 (shopping centres)
    "72": Sector.BUILDINGS,  # 商务服务业 (office buildings)
    "83": Sector.PUBLIC_INSTITUTION,  # 教育 (universities)
    "84": Sector.PUBLIC_INSTITUTION,  # 卫生 (hospitals)
    "92": Sector.PUBLIC_INSTITUTION,  # 国家机构 (public administration)
}

_INDUSTRY_RE = re.compile(r"^([A-T])(\d{2}|\d{3}|\d{4})?$")


@dataclass(frozen=True, slots=True)
class IndustryCode:
    """A GB/T 4754-2017 code: section letter plus an optional 2-, 3- or 4-digit code."""

    section: str
    digits: str

    @property
    def code(self) -> str:
        return self.section + self.digits

    @property
    def division(self) -> str:
        return self.digits[:2]

    @property
    def sector(self) -> Sector:
        return sector_of(self)

    def __str__(self) -> str:
        return self.code


def parse_industry_code(code: str) -> IndustryCode:
    """Parse ``"C3011"``, ``"D44"``, ``"I645"`` or ``"C"``; check the division is in the section."""
    if not isinstance(code, str):
        raise InvalidInputError(f"`industry_code` must be a string; got {code!r}")
    match = _INDUSTRY_RE.match(code.strip().upper())
    if match is None:
        raise InvalidInputError(
            f"`industry_code` {code!r} is not a GB/T 4754-2017 code (a section letter A-T "
            "followed by an optional 2-, 3- or 4-digit code, e.g. C3011)"
        )
    section, digits = match.group(1), match.group(2) or ""
    if digits and int(digits[:2]) not in _SECTION_DIVISIONS[section]:
        divisions = _SECTION_DIVISIONS[section]
        raise InvalidInputError(
            f"`industry_code` {code!r}: division {digits[:2]} is not in section {section} "
            f"(divisions {divisions.start:02d}-{divisions.stop - 1:02d})"
        )
    return IndustryCode(section, digits)


def sector_of(code: IndustryCode | str) -> Sector:
    """Map a GB/T 4754-2017 code to the engine's sector (longest matching prefix)."""
    industry = parse_industry_code(code) if isinstance(code, str) else code
    for length in (4, 3, 2):
        sector = (
            _SECTOR_PREFIXES.get(industry.digits[:length])
            if len(industry.digits) >= length
            else None
        )
        if sector is not None:
            return sector
    return Sector.OTHER
