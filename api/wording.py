"""Request-validation errors in words a caller can act on.

pydantic's messages speak of its own machinery ("String should match pattern '^(?:(?:0|…'",
"Input should be less than or equal to 30"). Each error is answered here as one sentence that
names the parameter as the caller sends it, says what it must be and what was given, in the
house form ``"`amount` must be …; got '-1'"`` (docs/api.md, "Errors"). The wording is found by
the error's ``type`` in one table (:data:`_BY_TYPE`); the ``type`` itself is passed on unchanged
for programs. A pattern is never shown: its words come from :mod:`api.schemas.patterns`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from api.schemas.patterns import words_for
from carbonfin.errors import BOUND_WORDS, plain_number

__all__ = ["parameter_name", "plain_error", "shown"]

#: The longest echo of a value in a message (a 64 KB body is not sent back).
_SHOWN_MAX = 60


def shown(value: object) -> str:
    """``value`` as a message echoes it: a string quoted, anything cut to 60 characters."""
    text = repr(value) if isinstance(value, str) else str(value)
    if len(text) <= _SHOWN_MAX:
        return text
    return f"{text[: _SHOWN_MAX - 1]}… ({len(str(value)):,} characters)"


def parameter_name(loc: Sequence[object]) -> str:
    """The public name of the parameter at ``loc`` (``("body", "usccs", 3)`` is ``usccs[3]``;
    ``("query", "from")`` is ``from``; the body itself is ``body``)."""
    name = ""
    for part in loc[1:]:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or (str(loc[0]) if loc else "request")


Wording = Callable[[str, dict[str, Any]], str | None]


def _got(err: dict[str, Any]) -> str:
    return f"; got {shown(err['input'])}" if "input" in err else ""


def _ctx(err: dict[str, Any], key: str) -> Any:
    return (err.get("ctx") or {}).get(key)


def _must(what: str) -> Wording:
    return lambda name, err: f"`{name}` must be {what}{_got(err)}"


def _limit(template: str, key: str) -> Wording:
    """``template`` with the bound ``key`` of the error's context (``"be at most {}"``), the
    bound as a plain number (:func:`carbonfin.errors.plain_number`: ``1,000,000,000``;
    pydantic's ``"Decimal('1E+13')"`` is 10,000,000,000,000)."""

    def wording(name: str, err: dict[str, Any]) -> str | None:
        limit = _ctx(err, key)
        if limit is None:
            return None
        return f"`{name}` must {template.format(plain_number(limit))}{_got(err)}"

    return wording


def _size(words: str, key: str, unit: str) -> Wording:
    def wording(name: str, err: dict[str, Any]) -> str | None:
        limit, value = _ctx(err, key), err.get("input")
        if limit is None:
            return None
        got = _ctx(err, "actual_length")
        if got is None and isinstance(value, str | list | tuple | dict):
            got = len(value)
        tail = "" if got is None else f"; got {got:,}"
        return f"`{name}` must have {words} {limit:,} {unit}{'' if limit == 1 else 's'}{tail}"

    return wording


def _pattern(name: str, err: dict[str, Any]) -> str:
    words = words_for(str(_ctx(err, "pattern"))) or "in the form the OpenAPI document states"
    return f"`{name}` must be {words}{_got(err)}"


def _one_of(name: str, err: dict[str, Any]) -> str | None:
    expected = _ctx(err, "expected")
    return None if expected is None else f"`{name}` must be one of {expected}{_got(err)}"


def _extra(name: str, err: dict[str, Any]) -> str:
    where = err.get("loc", ("",))[0]
    what = "a parameter of this route" if where == "query" else "a field of this request"
    return f"`{name}` is not {what}"


def _uscc(name: str, err: dict[str, Any]) -> str:
    return (
        f"`{name}` is not a valid unified social credit code (GB 32100-2015): "
        f"{_ctx(err, 'problems')}{_got(err)}"
    )


_BY_TYPE: dict[str, Wording] = {
    "string_pattern_mismatch": _pattern,
    **{kind: _limit(f"be {words} {{}}", key) for kind, (words, key) in BOUND_WORDS.items()},
    "string_too_short": _size("at least", "min_length", "character"),
    "string_too_long": _size("at most", "max_length", "character"),
    "too_short": _size("at least", "min_length", "item"),
    "too_long": _size("at most", "max_length", "item"),
    "literal_error": _one_of,
    "enum": _one_of,
    "int_parsing": _must("an integer"),
    "int_type": _must("an integer"),
    "int_from_float": _must("a whole number"),
    "float_parsing": _must("a number"),
    "float_type": _must("a number"),
    "decimal_parsing": _must("a decimal number"),
    "decimal_type": _must("a decimal number"),
    "decimal_max_places": _limit("have at most {} decimals", "decimal_places"),
    "decimal_max_digits": _limit("have at most {} digits", "max_digits"),
    "bool_parsing": _must("true or false"),
    "bool_type": _must("true or false"),
    "string_type": _must("a string"),
    "list_type": _must("a list"),
    "dict_type": _must("a JSON object"),
    "model_attributes_type": _must("a JSON object"),
    "model_type": _must("a JSON object"),
    "finite_number": _must("a finite number"),
    "missing": lambda name, _err: f"`{name}` is required",
    "extra_forbidden": _extra,
    "uscc": _uscc,
}


def _own_words(name: str, err: dict[str, Any]) -> str:
    """A message written by a validator of ours (a date, money, a bank scope), with its name."""
    msg = str(err.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg if msg.startswith(f"`{name}`") else f"`{name}`: {msg}"


def plain_error(err: dict[str, Any]) -> dict[str, Any]:
    """One pydantic (or hand-made) validation error as ``loc``, ``msg`` in words and ``type``.

    A NaN or an infinity fails every bound, and pydantic names the first bound ("less than or
    equal to 1"): the caller's mistake is the number itself, so it is named as such (type
    ``finite_number``).
    """
    loc = [str(p) if not isinstance(p, int) else p for p in err.get("loc", ())]
    name = parameter_name(loc)
    value = err.get("input")
    kind = str(err.get("type", ""))
    if isinstance(value, float) and not math.isfinite(value):
        kind = "finite_number"
    wording = _BY_TYPE.get(kind)
    msg = wording(name, {**err, "loc": loc}) if wording else None
    return {
        "loc": [str(p) for p in loc],
        "msg": msg or _own_words(name, err),
        "type": kind,
    }
