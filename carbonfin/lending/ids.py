"""The formats of the ids the lending workflows hand out: loans ``LN-…`` and pledges ``PL-…``.

One place for both edges: the API's path and query patterns and the command line's arguments
use these, and the workflows check an id's shape before looking it up, so a malformed id is bad
input (422 at the API, exit code 2 on the command line), not a missing loan.
"""

from __future__ import annotations

import re

from carbonfin.errors import InvalidInputError

__all__ = ["LOAN_ID_PATTERN", "PLEDGE_ID_PATTERN", "check_loan_id", "check_pledge_id"]

#: ``LN-`` and 7 to 16 digits or capital letters (``LN-0000001`` in the sample, ``LN-`` and ten
#: hexadecimal capitals for a booked loan).
LOAN_ID_PATTERN = r"^LN-[0-9A-Z]{7,16}$"
#: ``PL-`` and 7 to 16 digits or capital letters.
PLEDGE_ID_PATTERN = r"^PL-[0-9A-Z]{7,16}$"


def _check(value: object, pattern: str, name: str, example: str) -> str:
    if not isinstance(value, str) or re.fullmatch(pattern, value) is None:
        prefix = example[:3]
        raise InvalidInputError(
            f"`{name}` must be {prefix} and 7 to 16 digits or capital letters, e.g. {example}; "
            f"got {value!r}"
        )
    return value


def check_loan_id(loan_id: object) -> str:
    """``loan_id`` if it has the shape of a loan id; :class:`InvalidInputError` naming it
    otherwise.

    Parameters
    ----------
    loan_id
        The id as given (already upper-cased by the edge where it accepts any case).

    Raises
    ------
    InvalidInputError
        Not ``LN-`` and 7 to 16 digits or capital letters.
    """
    return _check(loan_id, LOAN_ID_PATTERN, "loan_id", "LN-0000001")


def check_pledge_id(pledge_id: object) -> str:
    """``pledge_id`` if it has the shape of a pledge id; :class:`InvalidInputError` otherwise.

    Raises
    ------
    InvalidInputError
        Not ``PL-`` and 7 to 16 digits or capital letters.
    """
    return _check(pledge_id, PLEDGE_ID_PATTERN, "pledge_id", "PL-0000001")
