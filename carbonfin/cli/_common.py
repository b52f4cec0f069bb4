"""Shared pieces of the CLI: the Rich console and turning engine errors into clear messages."""

from __future__ import annotations

import datetime as dt
import functools
import warnings
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from carbonfin.errors import CarbonfinError, InvalidInputError, ProvisionalCalendarWarning

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # errors stay on one line, copy-pasteable

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as an error and return the ``typer.Exit`` to raise."""
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def clean_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command so that engine errors print one clear line instead of a traceback,
    and an answer that used a provisional China calendar year says so in one line."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ProvisionalCalendarWarning)
            try:
                return func(*args, **kwargs)
            except CarbonfinError as exc:
                raise fail(str(exc)) from exc
            finally:
                _report_warnings(caught)

    return wrapper


def _report_warnings(caught: list[warnings.WarningMessage]) -> None:
    seen: set[str] = set()
    for w in caught:
        if issubclass(w.category, ProvisionalCalendarWarning):
            text = str(w.message)
            if text not in seen:
                seen.add(text)
                console.print(f"[yellow]provisional calendar:[/] {text}")
        else:  # not ours to handle here: pass it on unchanged
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def parse_date(text: str, name: str) -> dt.date:
    """An ISO date from a command-line argument, or a clear error naming the argument."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"`{name}` must be a date YYYY-MM-DD; got {text!r}") from None
