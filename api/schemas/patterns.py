"""Every pattern a request is checked against, each with what it means in words.

A pattern is the OpenAPI document's way to state a form; it is not a message. A value that does
not match is answered with the words registered here (``"`amount` must be a decimal string from
0 to 1,000,000,000,000,000 …; got '-1'"``, :mod:`api.wording`), never with the regular
expression. ``tests/api/test_validation_messages.py`` checks that every pattern in the document
has its words.
"""

from __future__ import annotations

__all__ = [
    "AMOUNT",
    "CLIENT_ID",
    "CONSENT_REF",
    "CURRENCY_FILTER",
    "FIRM_CURSOR",
    "IDEMPOTENCY_KEY",
    "INSTITUTION_ID",
    "INSTRUMENT_FILTER",
    "JURISDICTION",
    "LOAN_CURRENCY",
    "LOAN_ID",
    "LOAN_STATUS",
    "PLEDGE_ID",
    "PLEDGE_STATUS",
    "REGISTRATION_NO",
    "described",
    "words_for",
]

_WORDS: dict[str, str] = {}


def described(pattern: str, words: str) -> str:
    """Register what ``pattern`` means in words and return the pattern.

    Parameters
    ----------
    pattern
        The regular expression as the schema states it.
    words
        A noun phrase for what matches, read after "must be" (``"a loan id: LN- then …"``).

    Returns
    -------
    str
        ``pattern`` itself, for ``Query(pattern=…)`` or ``Field(pattern=…)``.
    """
    known = _WORDS.setdefault(pattern, words)
    if known != words:
        raise ValueError(f"pattern {pattern!r} is already described as {known!r}")
    return pattern


def words_for(pattern: str) -> str | None:
    """What ``pattern`` means in words, ``None`` if it was never described."""
    return _WORDS.get(pattern)


#: An amount to convert (``/v1/fx/convert``): 0 to 1e15, at most 6 decimals.
AMOUNT = described(
    r"^(?:(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,6})?|1000000000000000(?:\.0{1,6})?)$",
    "a number from 0 to 1,000,000,000,000,000 written with digits and at most 6 decimals "
    "(no sign, exponent or leading zero), e.g. 1000000.00",
)
LOAN_ID = described(
    r"^LN-[0-9A-Z]{7,16}$", "a loan id: LN- then 7 to 16 digits or capital letters (LN-0000003)"
)
PLEDGE_ID = described(
    r"^PL-[0-9A-Z]{7,16}$",
    "a pledge id: PL- then 7 to 16 digits or capital letters (PL-0000001)",
)
#: A page cursor of ``/v1/firms``: the last USCC shown (GB 32100-2015 alphabet).
FIRM_CURSOR = described(
    r"^[0-9A-HJ-NPQRTUWXY]{18}$",
    "the `next_cursor` of the previous page: 18 digits or capital letters other than I, O, S, "
    "V and Z",
)
LOAN_STATUS = described(r"^(active|repaid|defaulted)$", "one of active, repaid, defaulted")
PLEDGE_STATUS = described(
    r"^(active|partially_released|released|enforced)$",
    "one of active, partially_released, released, enforced",
)
CURRENCY_FILTER = described(r"^[A-Za-z]{3}$", "a three-letter currency code (USD)")
LOAN_CURRENCY = described(r"^[A-Z]{3}$", "a three-letter currency code in capitals (USD)")
INSTRUMENT_FILTER = described(r"^[A-Za-z]{2,8}$", "an instrument code: SHEA, CEA or CCER")
REGISTRATION_NO = described(
    r"^[A-Za-z0-9-]+$", "letters, digits and hyphens only (SHEA-ZY-2026-009001)"
)
CONSENT_REF = described(
    r"^[\x21-\x7e][\x20-\x7e]*$",
    "printable ASCII characters (letters, digits, punctuation, spaces), not starting with a space",
)
JURISDICTION = described(r"^[A-Z]{2}$", "an ISO 3166-1 alpha-2 code in capitals (SG)")
INSTITUTION_ID = described(
    r"^[A-Z0-9][A-Z0-9-]{1,31}$",
    "2 to 32 capital letters, digits and hyphens, starting with a letter or digit (BANK-01)",
)
CLIENT_ID = described(
    r"^[a-z0-9][a-z0-9-]{2,63}$",
    "3 to 64 lower-case letters, digits and hyphens, starting with a letter or digit",
)
#: ``Idempotency-Key``: 1 to 255 visible ASCII characters (no spaces at either end).
IDEMPOTENCY_KEY = described(
    r"^[!-~]([ -~]{0,253}[!-~])?$",
    "1 to 255 printable ASCII characters, with no space at either end",
)
