"""Every command, given bad input: one line on stderr, a documented exit code, no traceback,
nothing on stdout (issue 11, items 2 and 3).

Rows that read data run on the shipped sample (``--sample``) and on a seeded database on SQLite
and PostgreSQL; the others need no data. Exit codes: 2 bad input, 3 data missing or not loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carbonfin.cli._common import ExitCode
from tests.cli.conftest import assert_one_line_error, invoke
from tests.store import tiny

BAD = ExitCode.BAD_INPUT
DATA = ExitCode.DATA

OPTION = ["price", "option", "--strike", "85", "--expiry", "0.5", "--vol", "0.45", "--rate", "0.01"]
AMERICAN = ["price", "american", "--spot", "50", "--strike", "50", "--vol", "0.4", "--rate", "0.1"]

# (args, exit code, fragment of the one error line): commands that read no data
NO_DATA: list[tuple[list[str], int, str]] = [
    (["nonsense"], BAD, "No such command 'nonsense'"),
    (["--bogus"], BAD, "No such option: --bogus"),
    ([*OPTION, "--forward", "-80"], BAD, "`--forward` must be finite and > 0"),
    ([*OPTION, "--forward", "abc"], BAD, "`--forward`"),
    (
        [
            "price",
            "option",
            "--forward",
            "80",
            "--strike",
            "85",
            "--expiry",
            "500",
            "--vol",
            "0.4",
            "--rate",
            "0.01",
        ],
        BAD,
        "`--expiry`",
    ),
    (
        [
            "price",
            "implied-vol",
            "--price",
            "-1",
            "--forward",
            "80",
            "--strike",
            "85",
            "--expiry",
            "0.5",
            "--rate",
            "0.018",
        ],
        BAD,  # an option price is never negative: bad input, not a price with no volatility
        "`--price` must be >= 0",
    ),
    ([*AMERICAN, "--expiry", "500", "--put"], BAD, "`--expiry`"),
    ([*AMERICAN, "--expiry", "0.5", "--method", "xyz"], BAD, "`--method`"),
    (["fx", "convert", "-1000", "USD", "CNY", "--on", "2026-10-01", "--sample"], BAD, ">= 0"),
    (["fx", "convert", "1e26", "USD", "CNY", "--on", "2026-10-01", "--sample"], BAD, "AMOUNT"),
    (["fx", "convert", "ten", "USD", "CNY", "--on", "2026-10-01"], BAD, "`AMOUNT` must be"),
    (
        ["fx", "convert", "100", "USD", "CNY", "--on", "2026-10-01", "--max-age-days", "-3"],
        BAD,
        "`--max-age-days`",
    ),
    (["fx", "spot-date", "2101-03-01", "USD/CNY"], BAD, "outside the China calendar data"),
    (["fx", "spot-date", "2026-13-01", "USD/CNY"], BAD, "`TRADE_DATE` must be a date"),
    (
        [
            "fx",
            "forward",
            "USD/CNY",
            "--spot",
            "7.1",
            "--base-rate",
            "0.04",
            "--quote-rate",
            "0.015",
            "--start",
            "2026-07-06",
            "--end",
            "2026-01-05",
        ],
        BAD,
        "",
    ),
    (["fx", "haircut", "CNY", "XYZ"], BAD, "unknown currency code 'XYZ'"),
    (["fx", "haircut", "CNY", "USD", "--holding-days", "0"], BAD, "`--holding-days`"),
    (["eligibility", "check"], BAD, "give a participant JSON file"),
    (["eligibility", "check", "/nonexistent.json"], BAD, "no such file"),
    (["warmup", "--now"], BAD, "No such option: --now"),
    (["sample", "generate", "--seed", "-1"], BAD, "`--seed`"),
]


@pytest.mark.parametrize(
    ("args", "code", "fragment"), NO_DATA, ids=[" ".join(a[:4]) for a, _c, _f in NO_DATA]
)
def test_commands_without_data(
    args: list[str], code: int, fragment: str, no_database: Path
) -> None:
    assert_one_line_error(invoke(args), code, fragment)


def test_eligibility_file_problems(tmp_path: Path) -> None:
    utf16 = tmp_path / "utf16.json"
    utf16.write_text(json.dumps({"name": "Fund"}), encoding="utf-16")
    assert_one_line_error(invoke(["eligibility", "check", str(utf16)]), BAD, "not UTF-8 text")
    assert_one_line_error(invoke(["eligibility", "check", str(tmp_path)]), BAD, "is a directory")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    assert_one_line_error(invoke(["eligibility", "check", str(broken)]), BAD, "not valid JSON")
    listed = tmp_path / "list.json"
    listed.write_text("[]", encoding="utf-8")
    assert_one_line_error(invoke(["eligibility", "check", str(listed)]), BAD, "one JSON object")


# (args, exit code, fragment): commands that read the database (or, with --sample, the sample)
WITH_DATA: list[tuple[list[str], int, str]] = [
    (["price", "history", "EUA"], BAD, "unknown instrument 'EUA'"),
    (["price", "history", "SHEA", "--start", "2040-01-01"], DATA, "on or after 2040-01-01"),
    (["price", "history", "SHEA", "--end", "2000-01-01"], DATA, "on or before 2000-01-01"),
    (["price", "history", "SHEA", "--start", "2024-02-01", "--end", "2024-01-01"], BAD, "before"),
    (["price", "mark", "SHEA", "--on", "2026-13-01"], BAD, "`--on` must be a date"),
    (["price", "mark", "SHEA", "--on", "2024-01-05", "--window", "100000"], BAD, "`--window`"),
    (["price", "mark", "SHEA", "--on", "2024-01-05", "--window", "0"], BAD, "`--window`"),
    (["price", "mark", "SHEA", "--on", "2024-01-05", "--method", "twap"], BAD, "`--method`"),
    (["price", "mark", "SHEA", "--on", "2000-01-05"], DATA, "on or before 2000-01-05"),
    (["vol", "fit", "SHEA", "--model", "figarch"], BAD, "`--model` must be one of"),
    (["vol", "select", "SHEA", "--criterion", "hqic"], BAD, "`--criterion`"),
    (["vol", "scenarios", "SHEA", "--paths", "0"], BAD, "`--paths`"),
    (["vol", "scenarios", "SHEA", "--days", "-5"], BAD, "`--days`"),
    (["score", "91310000132149237X"], BAD, "position 18 (check character)"),
    (["score"], BAD, "give either a USCC or --all"),
    (["score", "--all", "--year", "1999"], BAD, "no account data for 1999"),
    (["coverage", "--year", "1999"], BAD, "`--year`"),
    (["financed", "BANK-99"], DATA, "unknown bank 'BANK-99'"),
    (["financed", "BANK-01", "--top", "-5"], BAD, "`--top`"),
    (["fx", "convert", "100", "USD", "XYZ", "--on", "2024-01-02"], BAD, "unknown currency code"),
    (["fx", "convert", "100", "USD", "CNY", "--on", "2024-02-30"], BAD, "`--on` must be a date"),
]
IDS = [" ".join(a[:4]) for a, _c, _f in WITH_DATA]


@pytest.mark.parametrize(("args", "code", "fragment"), WITH_DATA, ids=IDS)
def test_data_commands_on_the_sample(
    args: list[str], code: int, fragment: str, no_database: Path
) -> None:
    assert_one_line_error(invoke([*args, "--sample"]), code, fragment)


@pytest.mark.parametrize(("args", "code", "fragment"), WITH_DATA, ids=IDS)
def test_data_commands_on_the_database(
    args: list[str], code: int, fragment: str, seeded: str
) -> None:
    assert_one_line_error(invoke(args), code, fragment)


@pytest.mark.parametrize("command", ["info", "price history SHEA", "score --all", "db upgrade"])
def test_a_file_that_is_not_a_database(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are notes, not a database\n" * 20, encoding="utf-8")
    monkeypatch.setenv("CARBONFIN_DATABASE_URL", f"sqlite:///{path}")
    assert_one_line_error(invoke(command.split()), BAD, "file is not a database")


def test_malformed_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONFIN_DATABASE_URL", "nonsense")
    assert_one_line_error(invoke(["db", "upgrade"]), BAD, "is not a database URL")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "is empty (0 bytes"), (None, "prices.csv holds no rows")],
    ids=["zero-byte-csv", "header-only-csv"],
)
def test_seed_refuses_empty_files(
    content: bytes | None, fragment: str, tmp_path: Path, no_database: Path
) -> None:
    data = tiny.write(tmp_path / "tiny", manifest=False)
    prices = data / "prices.csv"
    header = prices.read_text(encoding="utf-8").splitlines()[0] + "\n"
    prices.write_bytes(content if content is not None else header.encode())
    assert invoke(["db", "upgrade"]).exit_code == 0
    assert_one_line_error(invoke(["db", "seed", "--data-dir", str(data)]), DATA, fragment)


def test_debug_shows_the_traceback(no_database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONFIN_DEBUG", "1")
    result = invoke(["price", "history", "SHEA"])
    assert result.exit_code == DATA
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: no database at")


def test_an_unexpected_error_is_one_line_and_code_1(
    no_database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import carbonfin.cli.pricing as cli_pricing

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("year 1205 out of bound")

    monkeypatch.setattr(cli_pricing, "_history", broken)
    result = invoke(["price", "history", "SHEA", "--sample"])
    assert_one_line_error(result, ExitCode.INTERNAL, "internal error (RuntimeError: year 1205")
    assert "CARBONFIN_DEBUG=1" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["book", "value", "--bank", "BANK-01", "--sample"],  # rich tables and text
        ["fx", "convert", "1000", "usd", "cny", "--on", "2026-10-01", "--json", "--sample"],
        ["--help"],  # typer's own rich console: was exit 1
        ["haircut", "--help"],
        ["--version"],  # typer.echo: the closed pipe was met at the interpreter's exit, 1
    ],
    ids=["table", "json", "help", "command-help", "version"],
)
def test_a_closed_output_pipe_ends_as_sigpipe_not_as_a_bug(args: list[str]) -> None:
    """``carbonfin ... | head`` whose reader has gone: status 141 (128 + SIGPIPE, as a Unix
    tool), nothing on stderr. It was rich's exit 1, which the exit codes keep for a bug."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "carbonfin.cli", *args],
            stdout=write_end, stderr=subprocess.PIPE, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr.decode()
    assert done.stderr.decode() == ""


def test_a_pipe_closed_during_a_long_json_write_ends_as_sigpipe() -> None:
    """``carbonfin score --all --json | head -c 10``: 138 KB of JSON, more than a pipe holds,
    and the reader leaves while it is being written. The write came back short without an
    error (64 KiB taken, the rest dropped) and the command ended with status 0 and a cut JSON;
    it is 141, with nothing on stderr, as for a reader gone before the first byte."""
    import subprocess
    import sys

    args = ["score", "--all", "--year", "2025", "--limit", "0", "--json", "--sample"]
    with subprocess.Popen(
        [sys.executable, "-m", "carbonfin.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        assert proc.stderr is not None
        head = proc.stdout.read(10)  # returns once the write has begun: it cannot finish
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    assert head.startswith(b"{")
    assert code == 141, stderr
    assert stderr.strip() == ""


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["haircut", "SHEA", "--quantity", "-5", "--sample"], BAD),
        (["haircut", "SHEA", "--quantity", "5", "--sample"], ExitCode.OK),
    ],
    ids=["refused", "done"],
)
def test_no_empty_line_on_stderr_from_the_progress_display(args: list[str], code: int) -> None:
    """The progress display of a long command (haircut, book value) ended with an empty line
    on stderr when stderr is not a terminal, before the error line and on a successful run
    (``carbonfin haircut SHEA --quantity -5 2>&1 >/dev/null | cat -A``: ``$`` then
    ``error: ...$``)."""
    result = invoke(args)
    assert result.exit_code == code, result.stderr
    if code == ExitCode.OK:
        assert result.stderr == ""
    else:
        assert result.stderr.startswith("error: "), repr(result.stderr)
        assert result.stderr.count("\n") == 1, repr(result.stderr)
