"""Shared machinery of the ``carbonfin`` command: one error handler, exit codes, ``--json``,
``--sample``, data-source headers, unit warnings and input normalisation.

Every command parses, calls the core and formats; this module does the parts every command shares,
so that each one behaves the same way for a user and for a script:

* **One error handler** (:class:`CarbonfinGroup`, the root command's class). Whatever goes wrong
  ends as *one line* on stderr (``error: ...``) and a documented exit code, never a traceback;
  ``CARBONFIN_DEBUG=1`` prints the traceback as well. Nothing is written to stdout before the
  result is complete.
* **Exit codes** (:class:`ExitCode`): 0 done, 1 internal error (a bug: please report it), 2 bad
  input, 3 data missing, stale or not loaded, 4 evaluated: ineligible, 5 margin call due,
  6 no answer (a fit or solver did not converge, no implied volatility).
* **Messages name the command-line flag**: an engine message about ``window_days`` or ``on``
  reaches the user as ``--window`` or ``--on`` (:func:`command`'s ``flags``; same-named options
  are mapped automatically).
* **Negative numbers parse as values** (``carbonfin fx convert -1000 USD CNY``).
* **``--json``** on every result command; numbers stay numbers, money (:class:`Money`) becomes a
  string in the currency's minor units, dates ISO strings.
* **The data source is always named**: commands that read market or account data read the
  configured database (:mod:`carbonfin.cli._data`) or, with ``--sample``, the shipped sample; the
  report's header says which, and as of when.

How to wrap a new command
-------------------------
Decorate the function with :func:`command` *below* Typer's registration decorator and return a
:class:`Report` instead of printing. ``data=True`` adds ``--sample`` (the command reads data
through :mod:`carbonfin.cli._data`, whose loaders record the source for the header); ``flags``
maps the core's parameter names to the command's flags where they differ::

    from carbonfin.cli._common import ExitCode, Report, command, money, table
    from carbonfin.cli._data import load_prices

    @collateral_app.command("haircut")
    @command(data=True, flags={"horizon_days": "--days"})
    def haircut_cmd(
        instrument: Annotated[str, typer.Argument(help="SHEA, CEA or CCER")],
        days: Annotated[int, typer.Option(min=1, max=260, help="holding period")] = 10,
    ) -> Report:
        inst = parse_instrument(instrument)       # case-insensitive
        h = haircut(load_prices(inst), horizon_days=days)   # core call; errors need no handling
        rows = [{"component": c.name, "frac": c.frac} for c in h.components]
        return Report(
            data={"haircut_frac": h.haircut_frac, "components": rows},   # the --json payload
            human=[f"haircut {h.haircut_frac:.2%}", table(rows, title="components")],
            exit_code=ExitCode.MARGIN_CALL if h.call_due else ExitCode.OK,  # if a script branches
        )

The human rendering and the JSON payload are built from the same values, so they cannot drift;
a test parses ``--json`` and checks it against the table. Raise the engine's errors
(:mod:`carbonfin.errors`) or :func:`fail` for a CLI-only refusal; call :func:`warn` for a soft
problem (it goes to stderr and into the JSON's ``warnings``).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import functools
import importlib
import inspect
import json
import math
import os
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from carbonfin.cli._parse import parse_date, parse_decimal, upper
from carbonfin.cli._report import (
    Column,
    DataSource,
    ExitCode,
    Money,
    Report,
    money,
    table,
    to_jsonable,
)
from carbonfin.errors import (
    BOUND_WORDS,
    CarbonfinError,
    CarbonfinWarning,
    ConfigurationError,
    ConvergenceError,
    DataIntegrityError,
    InvalidInputError,
    MissingDataError,
    ProvisionalCalendarWarning,
    in_callers_terms,
    plain_number,
)

__all__ = [
    "DEBUG_ENV",
    "CarbonfinGroup",
    "CliError",
    "Column",
    "DataSource",
    "ExitCode",
    "Money",
    "Report",
    "check_decimal_unit",
    "classify",
    "clean_errors",
    "command",
    "console",
    "err_console",
    "exit_with",
    "fail",
    "money",
    "parse_date",
    "parse_decimal",
    "progress_bar",
    "record_source",
    "report_error",
    "restate_source",
    "sources_text",
    "table",
    "to_jsonable",
    "upper",
    "use_sample",
    "warn",
]

# The click that Typer builds on: the ``click`` package, or the copy Typer vendors since 0.2x
# (``typer._click``). Found from TyperGroup's base class, so either works.
_CLICK = TyperGroup.__mro__[1].__module__.rpartition(".")[0]
_core: Any = importlib.import_module(f"{_CLICK}.core")
_exceptions: Any = importlib.import_module(f"{_CLICK}.exceptions")
_globals: Any = importlib.import_module(f"{_CLICK}.globals")
_EXITS: tuple[type[BaseException], ...] = (typer.Exit, getattr(_exceptions, "Exit", typer.Exit))


def _closed_pipe() -> NoReturn:
    """End the command whose output pipe was closed (``carbonfin ... | head``) as a Unix tool
    killed by SIGPIPE ends: status 141, nothing more written (stdout pointed at /dev/null, so
    the interpreter's last flush cannot fail), instead of rich's default exit 1, which the exit
    codes keep for a bug."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise SystemExit(ExitCode.BROKEN_PIPE)


class _Console(Console):
    """Rich's console with :func:`_closed_pipe` for a closed output pipe."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        _closed_pipe()


@contextlib.contextmanager
def _closed_pipe_as_sigpipe() -> Iterator[None]:
    """While the command runs, every rich console meets a closed pipe as :func:`_closed_pipe`
    does: Typer prints ``--help`` and usage errors through consoles of its own, for which rich
    would end with status 1 (``carbonfin --help | head -1``)."""
    saved = Console.on_broken_pipe
    setattr(Console, "on_broken_pipe", _Console.on_broken_pipe)  # noqa: B010 (a method)
    try:
        yield
    finally:
        setattr(Console, "on_broken_pipe", saved)  # noqa: B010


def _write_out(text: str) -> None:
    """Write ``text`` to stdout in full, or raise :class:`BrokenPipeError`.

    ``BufferedWriter.write`` can return a short count without an error: when the reader of a
    pipe leaves during a write larger than the pipe (``carbonfin score --all --json | head -c
    10``: 64 KiB of 138 KB went into the pipe, CPython 3.11 returned 65536 and dropped the rest),
    so a plain ``sys.stdout.write`` ended with status 0 and a cut JSON. The rest is written
    again here, and the next write meets the closed pipe.
    """
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream (a test's capture)
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    data = memoryview(text.encode(sys.stdout.encoding or "utf-8", errors="strict"))
    while data:
        written = buffer.write(data)
        if not written:  # a non-blocking stdout that is full: wait for it
            buffer.flush()
            continue
        data = data[written:]
    buffer.flush()


console = _Console(highlight=False)
err_console = Console(stderr=True, soft_wrap=True, highlight=False)  # one line, copy-pasteable

DEBUG_ENV = "CARBONFIN_DEBUG"


def progress_bar(*columns: Any) -> Any:
    """A transient progress display on stderr (a ``rich.progress.Progress`` with ``columns``),
    shown only when stderr is a terminal.

    Off a terminal rich cannot redraw a line: it wrote an empty line on stderr when the display
    ended (``carbonfin haircut ... 2>&1 >/dev/null`` read ``$`` then ``error: ...``), and an
    error is one line.
    """
    from rich.progress import Progress

    return Progress(
        *columns, console=err_console, transient=True, disable=not err_console.is_interactive
    )


class CliError(Exception):
    """A refusal decided by the command line itself, with its exit code."""

    def __init__(self, message: str, code: int = ExitCode.BAD_INPUT) -> None:
        super().__init__(message)
        self.code = int(code)


def fail(message: str, code: int = ExitCode.BAD_INPUT) -> CliError:
    """The error to ``raise`` for a refusal decided by the command line (``raise fail(...)``)."""
    return CliError(message, code)


# --- classifying errors -------------------------------------------------------------------------


def classify(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for an exception raised by a command."""
    if isinstance(exc, CliError):
        return exc.code, str(exc)
    if isinstance(exc, _exceptions.ClickException):
        return ExitCode.BAD_INPUT, _coercion_message(exc) or _click_message(exc)
    if isinstance(exc, MissingDataError | DataIntegrityError):
        return ExitCode.DATA, str(exc)
    if isinstance(exc, ConvergenceError):
        return ExitCode.NO_ANSWER, str(exc)
    if isinstance(exc, InvalidInputError | ConfigurationError | CarbonfinError):
        return ExitCode.BAD_INPUT, str(exc)
    if isinstance(exc, IsADirectoryError | NotADirectoryError | FileNotFoundError):
        return ExitCode.BAD_INPUT, f"{exc.strerror or 'cannot open'}: {exc.filename}"
    if isinstance(exc, PermissionError):
        return ExitCode.BAD_INPUT, f"permission denied: {exc.filename}"
    if isinstance(exc, UnicodeError):
        return ExitCode.BAD_INPUT, f"the input is not UTF-8 text ({exc})"
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted"
    name = type(exc).__name__
    return ExitCode.INTERNAL, (
        f"internal error ({name}: {exc}); this is a bug in carbonfin, please report it "
        f"(set {DEBUG_ENV}=1 for the traceback)"
    )


def _click_message(exc: Any) -> str:
    message = str(exc.format_message())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, _exceptions.UsageError) and ctx is not None:
        return f"{message} (see `{ctx.command_path} --help`)"
    return message


#: pydantic's parsing errors: what the value must be
_KINDS = {
    "float_parsing": "a number",
    "float_type": "a number",
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "a whole number",
    "bool_parsing": "true or false",
}


def _coercion_message(exc: Any) -> str | None:
    """An option value Typer refused with pydantic's words, in the house form (the API's,
    ``api/wording.py``): ``--quantity nan`` read "Input should be less than or equal to
    1000000000" (a NaN fails every bound, and pydantic names the first); it is "`--quantity`
    must be a finite number; got nan", and a bound is a plain number ("at most 1,000,000,000").
    None for any other error (click's own words stand)."""
    param = getattr(exc, "param", None)
    errors = getattr(exc.__cause__, "errors", None)
    if param is None or not callable(errors) or not errors():
        return None
    err = errors()[0]
    opts = getattr(param, "opts", None) or [str(param.name).upper()]
    name = max(opts, key=len)
    value = err.get("input")
    got = f"; got {value}"
    number = _as_float(value)
    if number is not None and not math.isfinite(number):
        return f"`{name}` must be a finite number{got}"
    kind = str(err.get("type"))
    if kind in _KINDS:
        return f"`{name}` must be {_KINDS[kind]}; got {value!r}"
    words, key = BOUND_WORDS.get(kind, ("", ""))
    bound = (err.get("ctx") or {}).get(key)
    if bound is None:
        return None
    return f"`{name}` must be {words} {plain_number(bound)}{got}"


def _as_float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _one_line(message: str) -> str:
    return " ".join(message.split())


def report_error(exc: BaseException) -> int:
    """Print ``exc`` as one line on stderr (and the traceback under CARBONFIN_DEBUG=1)."""
    code, message = classify(exc)
    if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0"):
        traceback.print_exception(exc, file=sys.stderr)
    err_console.print(Text.assemble(("error: ", "bold red"), _one_line(message)))
    return code


# --- the root command ---------------------------------------------------------------------------

_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class CarbonfinGroup(TyperGroup):
    """The root command: the single error handler, and negative numbers parsed as values."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        code: int
        try:
            argv = _protect_negative_numbers(self, argv)
            with _closed_pipe_as_sigpipe():
                try:
                    rv = super().main(
                        argv,
                        prog_name,
                        complete_var,
                        standalone_mode=False,
                        windows_expand_args=windows_expand_args,
                        **extra,
                    )
                finally:  # a closed pipe met here, not in the interpreter's last flush
                    sys.stdout.flush()
        except SystemExit as exc:
            if exc.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
                # click's own answer to EPIPE (it wraps the streams, then exits 1): from an echo
                # in click's parsing, e.g. --version | head
                _closed_pipe()
            raise
        except _EXITS as exc:
            code = int(getattr(exc, "exit_code", 0))
        except _exceptions.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help
                typer.echo(exc.format_message())
                code = ExitCode.BAD_INPUT
            else:
                code = report_error(exc)
        except BrokenPipeError:  # click's echo (help without rich) meets a closed pipe
            _closed_pipe()
        except (Exception, KeyboardInterrupt) as exc:
            code = report_error(exc)
        else:
            code = rv if isinstance(rv, int) else ExitCode.OK
        if not standalone_mode:
            return code
        sys.exit(int(code))


def _protect_negative_numbers(group: Any, argv: list[str]) -> list[str]:
    """Move positional negative numbers (``-1000``) behind ``--`` so they parse as values.

    Click reads any token starting with ``-`` as an option. Options that take a value already
    accept a negative one (``--rate -0.01``); this handles arguments (``fx convert -1000 ...``).
    """
    if not any(_NUMBER.match(a) for a in argv) or "--" in argv:
        return argv
    cmd = group
    i = 0
    ctx = _core.Context(group)
    while callable(getattr(cmd, "get_command", None)):  # a group
        while i < len(argv) and argv[i].startswith("-"):
            i += 1  # options of a group (--version, --help)
        if i >= len(argv):
            return argv
        sub = cmd.get_command(ctx, argv[i])
        if sub is None:
            return argv
        cmd, i = sub, i + 1
    takes_value = {
        opt
        for p in cmd.params
        if _is_option(p) and not getattr(p, "is_flag", False) and not getattr(p, "count", False)
        for opt in (*p.opts, *p.secondary_opts)
    }
    options: list[str] = []
    positionals: list[str] = []
    rest = argv[i:]
    j = 0
    while j < len(rest):
        token = rest[j]
        if token in takes_value and j + 1 < len(rest):
            options += [token, rest[j + 1]]
            j += 2
            continue
        if token.startswith("-") and not _NUMBER.match(token):
            options.append(token)
        else:
            positionals.append(token)
        j += 1
    if not any(_NUMBER.match(p) for p in positionals):
        return argv
    return [*argv[:i], *options, "--", *positionals]


def _is_option(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "option"


def _command_name(ctx: Any) -> str:
    """``price history`` for ``carbonfin price history``: the path below the root command."""
    names: list[str] = []
    while ctx is not None and ctx.parent is not None:
        names.append(str(ctx.info_name))
        ctx = ctx.parent
    return " ".join(reversed(names))


# --- reports: human tables and --json from the same values --------------------------------------


_sources: contextvars.ContextVar[list[DataSource] | None] = contextvars.ContextVar(
    "carbonfin_sources", default=None
)
_warnings: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "carbonfin_warnings", default=None
)
_use_sample: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "carbonfin_use_sample", default=False
)


def use_sample() -> bool:
    """Whether the running command was asked to read the shipped sample (``--sample``)."""
    return _use_sample.get()


def record_source(source: DataSource) -> None:
    """Note a data source for the running command's header (called by the loaders)."""
    found = _sources.get()
    if found is not None and source not in found:
        found.append(source)


def restate_source(what: str, as_of: dt.date, note: str) -> None:
    """Restate the running command's source ``what`` (e.g. ``"SHEA prices"``) as of the data it
    used (``as_of``: the mark of a valuation date), saying so in ``note``; the loaders record
    the end of the data they read, before the command knows its date. A source already as of
    that date is left as it is."""
    found = _sources.get()
    if found is None:
        return
    for i, source in enumerate(found):
        if source.what == what and source.as_of != as_of:
            found[i] = dataclasses.replace(source, as_of=as_of, note=note)


def sources_text() -> str:
    """The running command's data sources so far, in words (for results that carry their source)."""
    found = _sources.get() or []
    return "; ".join(s.describe() for s in found) or "no data read yet"


def warn(message: str, label: str = "warning") -> None:
    """A soft problem: printed on stderr now, and listed in the JSON's ``warnings``."""
    found = _warnings.get()
    text = _one_line(message) if label == "warning" else f"{label}: {_one_line(message)}"
    if found is not None:
        found.append(text)
    err_console.print(Text.assemble((f"{label}: ", "bold yellow"), _one_line(message)))


def _report_engine_warnings(caught: list[warnings.WarningMessage]) -> None:
    """The engine's warnings as report warnings, once per text; others passed on unchanged.

    A provisional China calendar year is named as such ("provisional calendar: ...").
    """
    seen: set[str] = set()
    for w in caught:
        if issubclass(w.category, CarbonfinWarning):
            text = str(w.message)
            if text not in seen:
                seen.add(text)
                provisional = issubclass(w.category, ProvisionalCalendarWarning)
                warn(text, "provisional calendar" if provisional else "warning")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _emit(report: Report, *, name: str, as_json: bool, sources: list[DataSource]) -> None:
    warnings_ = _warnings.get() or []
    if as_json:
        payload: dict[str, Any] = {"command": name}
        if sources:
            payload["source"] = [s.to_json() for s in sources]
        payload.update(report.data)
        payload["warnings"] = list(warnings_)
        try:  # flushed here: a closed pipe is met in the command, not at the interpreter's exit
            _write_out(json.dumps(to_jsonable(payload), indent=2, ensure_ascii=False) + "\n")
        except BrokenPipeError:  # (click would end it as exit 1)
            _closed_pipe()
        return
    for source in sources:
        console.print(Text(f"source: {source.describe()}", style="dim"), soft_wrap=True)
    for item in report.human:
        if isinstance(item, str):
            console.print(item, markup=False, soft_wrap=True)  # the terminal wraps
        else:
            console.print(item)


# --- the command decorator ----------------------------------------------------------------------

JsonOption = Annotated[
    bool, typer.Option("--json", help="print the result as JSON (for scripts)", show_default=False)
]
SampleOption = Annotated[
    bool,
    typer.Option(
        "--sample",
        help="read the shipped sample market instead of the database",
        show_default=False,
    ),
]


def command(
    *, data: bool = False, json: bool = True, flags: Mapping[str, str] | None = None
) -> Callable[[Callable[..., Report | None]], Callable[..., None]]:
    """Wrap a command: ``--json``, ``--sample`` (with ``data=True``), headers, flag names.

    ``flags`` maps the core's parameter names (as they appear in its messages, in backticks) to
    the command's flags, e.g. ``{"window_days": "--window"}``; options named like the core's
    parameter are mapped without it.
    """
    aliases = dict(flags or {})

    def decorate(func: Callable[..., Report | None]) -> Callable[..., None]:
        signature = inspect.signature(func, eval_str=True)
        params = list(signature.parameters.values())
        extra: list[inspect.Parameter] = []
        if json:
            extra.append(_keyword("json_output", JsonOption))
        if data:
            extra.append(_keyword("sample", SampleOption))

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            as_json = bool(kwargs.pop("json_output", False))
            sample = bool(kwargs.pop("sample", False))
            ctx = _globals.get_current_context(silent=True)
            sources_token = _sources.set([])
            warnings_token = _warnings.set([])
            sample_token = _use_sample.set(sample)
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", CarbonfinWarning)
                    try:
                        report = func(*args, **kwargs)
                    except CarbonfinError as exc:  # an error is one line: no warnings with it
                        raise _renamed(exc, ctx, aliases) from exc
                _report_engine_warnings(caught)
                if report is None:
                    return
                name = _command_name(ctx) if ctx else func.__name__
                _emit(report, name=name, as_json=as_json, sources=_sources.get() or [])
                if report.exit_code:
                    raise typer.Exit(int(report.exit_code))
            finally:
                _use_sample.reset(sample_token)
                _warnings.reset(warnings_token)
                _sources.reset(sources_token)

        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*params, *extra]
        )
        wrapper.__annotations__ = {
            **{p.name: p.annotation for p in params},
            **{p.name: p.annotation for p in extra},
        }
        return wrapper

    return decorate


def _keyword(name: str, annotation: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=annotation
    )


def clean_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Compatibility shim for commands not yet wrapped by :func:`command`: flag names in errors.

    The root command's handler already turns every error into one line; prefer :func:`command`.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CarbonfinWarning)
            try:
                result = func(*args, **kwargs)
            except CarbonfinError as exc:
                raise _renamed(exc, _globals.get_current_context(silent=True), {}) from exc
        _report_engine_warnings(caught)
        return result

    return wrapper


def _renamed(exc: CarbonfinError, ctx: Any, aliases: Mapping[str, str]) -> Any:
    """The error with the core's parameter names replaced by the command's flags."""
    names: dict[str, str] = {}
    if ctx is not None:
        for p in ctx.command.params:
            if p.name is None or p.name in ("json_output", "sample"):
                continue
            if _is_option(p):
                names[p.name] = max(p.opts, key=len)
            else:
                names[p.name] = str(getattr(p, "metavar", None) or p.name).upper()
    names.update(aliases)
    code, _ = classify(exc)
    return CliError(in_callers_terms(str(exc), names), code)


# --- parsing helpers ----------------------------------------------------------------------------


def check_decimal_unit(value: float, flag: str, what: str, *, above: float = 1.0) -> None:
    """Warn when a decimal input (0.45 = 45%) was almost surely given in percent (45)."""
    if math.isfinite(value) and abs(value) > above:
        warn(
            f"{flag} {value:g}: did you mean {value / 100:g}? {what} is a decimal "
            f"(0.45 = 45%), not a percentage"
        )


def exit_with(code: int) -> NoReturn:
    """Leave the command with ``code`` after its output."""
    raise typer.Exit(int(code))
