"""`carbonfin haircut`, `carbonfin book value` and `carbonfin stress` on the shipped sample."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from carbonfin.cli import app
from tests.realdata import REAL_SHEA

runner = CliRunner()
SAMPLE = ["--sample"]  # these commands read the shipped sample on purpose


@pytest.fixture(autouse=True)
def _no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONFIN_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")


def test_haircut_prints_the_breakdown_and_its_sources() -> None:
    result = runner.invoke(
        app, ["haircut", "shea", "--quantity", "200000", "--loan-currency", "usd", "--sample"]
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    for name in ("market", "anti_procyclicality", "liquidation", "currency", "data_quality"):
        assert name in out
    assert "haircut" in out
    assert "CRE22.54" in out
    assert "data: shipped sample" in out


@pytest.mark.realdata
def test_haircut_on_the_real_shea_file() -> None:
    if not REAL_SHEA.exists():
        pytest.skip(f"real SHEA quotes not found at {REAL_SHEA}")
    result = runner.invoke(
        app,
        ["haircut", "SHEA", "--quantity", "20000", "--as-of", "2023-05-05",
         "--prices-csv", str(REAL_SHEA)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "data: file" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["haircut", "EUA", "--quantity", "10"], 2, "unknown instrument 'EUA'"),
        (["haircut", "SHEA", "--quantity", "-5"], 2, "`--quantity` must be finite and > 0"),
        # a bound as the API's (it was an internal error: Decimal overflow in the money amounts)
        (["haircut", "SHEA", "--quantity", "1e30"], 2, "--quantity"),
        (["haircut", "SHEA", "--quantity", "5", "--as-of", "2001-01-01"], 3, "before the first"),
        (["haircut", "SHEA", "--quantity", "5", "--model", "garch"], 2, "`--model` must be one of"),
        (["haircut", "SHEA", "--quantity", "5", "--loan-currency", "XYZ"], 2, "unknown currency"),
        (["haircut", "SHEA", "--quantity", "5", "--book-share", "2"], 2, "`--book-share`"),
        (["stress", "--scenario", "doom"], 2, "unknown stress scenario 'doom'"),
        (["book", "value", "--bank", "BANK-99"], 3, "unknown bank 'BANK-99'"),
        (["book", "value", "--bank", "BANK-01", "--top", "0"], 2, "`--top`"),
        # it was exit 3, "no pledge ... could be valued", each loan failing on the model name
        (["book", "value", "--bank", "BANK-01", "--model", "bogus"], 2, "`--model` must be one"),
    ],
    ids=[
        "instrument",
        "quantity",
        "quantity-bound",
        "as-of",
        "model",
        "currency",
        "share",
        "scenario",
        "bank",
        "top",
        "book-model",
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], code: int, message: str) -> None:
    from tests.cli.conftest import assert_one_line_error

    assert_one_line_error(runner.invoke(app, [*args, "--sample"]), code, message)


def test_book_value_and_stress() -> None:
    result = runner.invoke(
        app, ["book", "value", "--bank", "bank-03", "--as-of", "2026-10-30", "--sample"]
    )
    assert result.exit_code in (0, 5), result.output  # 5: a margin call is due
    out = " ".join(result.output.split())
    assert "book valued on 2026-10-30" in out
    assert "LTV quantiles" in out
    assert "states: ok" in out
    listing = runner.invoke(app, ["stress", "--scenario", "list"])
    assert "shea-2015" in listing.output
    result = runner.invoke(
        app,
        ["stress", "--scenario", "drop-30", "--bank", "BANK-03", "--as-of", "2026-10-30", *SAMPLE],
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "stress drop-30" in out
    assert "uncovered exposure" in out
    assert "per industry" in out


# --- persisting a book valuation through the store ---------------------------------------------


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped sample migrated and seeded into a SQLite file (once for the module)."""
    path = tmp_path_factory.mktemp("book") / "book.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CARBONFIN_DATABASE_URL", f"sqlite:///{path}")
        for args in (["db", "upgrade"], ["db", "seed"]):
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
    return path


def _stored(path: Path, day: str) -> tuple[int, int]:
    from sqlalchemy import func, select

    from carbonfin.store.database import make_engine, session_scope
    from carbonfin.store.models import CollateralValuation, MarginCall

    engine = make_engine(f"sqlite:///{path}")
    d = dt.date.fromisoformat(day)
    with session_scope(engine) as session:
        n_val = session.scalar(select(func.count()).where(CollateralValuation.valuation_date == d))
        n_call = session.scalar(select(func.count()).where(MarginCall.valuation_date == d))
    engine.dispose()
    return int(n_val or 0), int(n_call or 0)


def test_book_value_saves_idempotently_and_a_failure_writes_nothing(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARBONFIN_DATABASE_URL", f"sqlite:///{seeded_db}")
    args = ["book", "value", "--bank", "BANK-02", "--as-of", "2026-10-30", "--save"]
    first = runner.invoke(app, args)
    assert first.exit_code in (0, 5), first.output  # 5: a margin call is due
    out = " ".join(first.output.split())
    assert "eligible quantities from the registry" in out
    n_val, n_call = _stored(seeded_db, "2026-10-30")
    assert n_val > 0
    assert f"saved {n_val} valuations (0 replaced)" in out
    again = runner.invoke(app, args)
    assert again.exit_code == first.exit_code, again.output
    assert _stored(seeded_db, "2026-10-30") == (n_val, n_call)  # replaced, not duplicated
    assert f"({n_val} replaced)" in " ".join(again.output.split())
    # a valuation that fails (no SHEA quote yet in 2013) stores nothing for its date
    failed = runner.invoke(
        app, ["book", "value", "--bank", "BANK-02", "--as-of", "2013-06-03", "--save"]
    )
    assert failed.exit_code == 3, failed.output  # data missing
    assert _stored(seeded_db, "2013-06-03") == (0, 0)
    # a batch the store refuses half-way (one bad record) stores nothing either
    from carbonfin.collateral import monitor

    real = monitor.BookValuation.valuation_records

    def one_bad(self: monitor.BookValuation) -> pd.DataFrame:
        frame = real(self)
        frame.loc[frame.index[-1], "haircut_frac"] = 1.5
        return frame

    monkeypatch.setattr(monitor.BookValuation, "valuation_records", one_bad)
    bad = runner.invoke(
        app, ["book", "value", "--bank", "BANK-02", "--as-of", "2026-10-29", "--save"]
    )
    assert bad.exit_code == 2, bad.output  # bad input, refused before any write
    assert "`haircut_frac` of pledge" in " ".join(bad.output.split())
    assert _stored(seeded_db, "2026-10-29") == (0, 0)


def test_stress_save_stores_the_run_once(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 19, point 9: stress results were printed, not stored
    from carbonfin.store.database import make_engine, session_scope
    from carbonfin.store.stress import load_stress_runs

    monkeypatch.setenv("CARBONFIN_DATABASE_URL", f"sqlite:///{seeded_db}")
    args = ["stress", "--scenario", "drop-30", "--bank", "BANK-02", "--as-of", "2026-10-30",
            "--save"]  # fmt: skip
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "saved stress run" in first.output
    again = runner.invoke(app, args)
    assert "replacing the earlier run" in " ".join(again.output.split())
    engine = make_engine(f"sqlite:///{seeded_db}")
    with session_scope(engine) as session:
        runs = load_stress_runs(session=session, scenario="drop-30")
    engine.dispose()
    assert len(runs) == 1
    assert runs[0].scope == "BANK-02"
    assert runs[0].as_of == dt.date(2026, 10, 30)
    assert runs[0].model_versions["haircut_model"] == "hs"
    assert set(runs[0].inputs["moves"].values()) == {-0.3}
    r = runner.invoke(app, ["stress", "--scenario", "drop-30", "--save", "--sample"])
    assert r.exit_code == 2


# --- a close-only file: --adv (issue 19: "refused without --adv and accepted with it") ---------


@pytest.fixture
def close_only(tmp_path: Path) -> Path:
    """The sample's SHEA closes without any volume column (as a vendor's close-only file)."""
    from carbonfin.data import load_table

    prices = load_table("prices")
    shea = prices[prices["instrument"] == "SHEA"]
    path = tmp_path / "closes.csv"
    shea[["date", "close_cny_per_t"]].rename(columns={"close_cny_per_t": "close"}).to_csv(
        path, index=False
    )
    return path


@pytest.mark.slow  # six commands, each measuring the market risk (~8 s on the shared VM)
def test_haircut_of_a_close_only_file_needs_adv_and_says_it_was_given(close_only: Path) -> None:
    from tests.cli.conftest import assert_one_line_error, invoke

    base = ["haircut", "--quantity", "10000", "--csv", str(close_only), "--name", "MYEA",
            "--calendar", "China.SSE", "--currency", "CNY"]  # fmt: skip
    # refused: no volume is not zero volume; the message names the flag to use
    refused = invoke(base)
    assert_one_line_error(refused, 3, "state the daily volume with `--adv`")
    assert_one_line_error(
        invoke([*base, "--adv", "0"]), 2, "`--adv` must be a number of tonnes > 0"
    )
    # accepted with --adv, and the breakdown says the volume was given by the user
    given = invoke([*base, "--adv", "5000", "--other-position", "20000"])
    assert given.exit_code == 0, given.output
    out = " ".join(given.stdout.split())
    assert "5,000 t a day given by the user with --adv (an assumption" in out
    assert "daily volume stated by the caller: 5,000 t (an assumption)" in out
    data = json.loads(
        invoke([*base, "--adv", "5000", "--other-position", "20000", "--json"]).stdout
    )
    assert data["daily_volume"] == {"adv_t": 5000.0, "statistic": "stated", "given_by_user": True}
    liq = next(c for c in data["components"] if c["component"] == "liquidation")
    assert liq["inputs"]["adv_stated"] is True
    # the position is 10,000 + 20,000 t; a series without rules sells 10% of the day's volume:
    # ceil(30,000 / (0.10 x 5,000)) = 60 business days
    assert data["position_t"] == 30_000.0
    assert liq["inputs"]["sale_days"] == 60
    alone = json.loads(invoke([*base, "--adv", "5000", "--json"]).stdout)
    assert alone["position_t"] == 10_000.0
    assert (
        next(c for c in alone["components"] if c["component"] == "liquidation")["inputs"][
            "sale_days"
        ]
        == 20
    )
    assert data["haircut_frac"] > alone["haircut_frac"]


@pytest.mark.slow  # two short backtest runs
def test_backtest_of_a_close_only_file_needs_adv_for_the_haircut(
    close_only: Path, tmp_path: Path
) -> None:
    from tests.cli.conftest import assert_one_line_error, invoke

    base = ["backtest", "--csv", str(close_only), "--name", "MYEA", "--calendar", "China.SSE",
            "--currency", "CNY", "--models", "hs", "--horizons", "1", "--from", "2026-06-01",
            "--haircut-step", "40", "--out", str(tmp_path / "report")]  # fmt: skip
    # before: every haircut date was skipped in silence ("MYEA": volume unknown) and the run
    # said it had succeeded
    assert_one_line_error(invoke(base), 3, "no quote has a volume (a close-only series)")
    assert "`--adv`" in invoke(base).stderr
    assert_one_line_error(invoke(["backtest", "--instrument", "SHEA", "--adv", "10", "--sample"]),
                          2, "`--adv` states the daily volume of a `--csv` file")  # fmt: skip
    # the VaR backtest alone needs no volume
    assert invoke([*base, "--no-haircut"]).exit_code == 0
    done = invoke([*base, "--adv", "5000", "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert "daily volume: 5,000 t a day given by the user with --adv" in " ".join(data["applied"])
    assert data["parameters"]["adv_t"].startswith("5,000 t a day given by the user")
    assert data["errors"] == []
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    text = json.dumps(results)
    assert "daily volume stated by the caller: 5,000 t (an assumption)" in text


def test_a_stale_mark_names_no_flag_the_command_does_not_have() -> None:
    # The engine's refusal ends "pass `max_age_days` to override"; `carbonfin haircut` has no
    # such flag (it named an engine field the user cannot type), so the hint is left out.
    from tests.cli.conftest import assert_one_line_error, invoke

    result = invoke(["haircut", "SHEA", "--quantity", "1000", "--as-of", "2030-01-02", "--sample"])
    assert_one_line_error(result, 3, "refused")
    assert "max_age_days" not in result.stderr


# --- the fresh-clone user check: haircut's header, its warnings and its two price-file flags ---


def test_haircut_header_states_the_unit_of_the_liquidation_horizon() -> None:
    # it said "liquidation 150": 150 is T_M + T_L - 1, the business day the last slice of the
    # position is sold (20-day holding period + 131 days of sale - 1)
    result = runner.invoke(app, ["haircut", "SHEA", "--quantity", "200000", "--sample"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "holding 20 business days, last slice sold on business day 150;" in out
    assert "liquidation 150" not in out


@pytest.fixture
def off_calendar(tmp_path: Path) -> Path:
    """The sample's SHEA quotes with three of them moved to Saturdays (off China.SSE)."""
    from carbonfin.data import load_table

    prices = load_table("prices")
    shea = prices[prices["instrument"] == "SHEA"].drop(columns="instrument").copy()
    for saturday in ("2026-09-05", "2026-09-12", "2026-09-19"):
        row = shea[shea["date"] == shea["date"].max()].copy()
        row["date"] = dt.date.fromisoformat(saturday)
        shea = pd.concat([shea, row])
    shea = shea.sort_values("date")
    path = tmp_path / "weekends.csv"
    shea.to_csv(path, index=False)
    return path


def test_haircut_of_a_file_warns_on_stderr_and_keeps_stdout_for_the_result(
    off_calendar: Path,
) -> None:
    # "3 rows of SHEA fall on days that are not business days" was printed on stdout, mixed with
    # the table a user pipes
    base = ["haircut", "--quantity", "1000", "--csv", str(off_calendar), "--name", "SHEA"]
    result = runner.invoke(app, base)
    assert result.exit_code == 0, result.output
    assert "not business days" not in result.stdout
    assert "warning: 3 rows of SHEA fall on days that are not business days" in " ".join(
        result.stderr.split()
    )
    data = json.loads(runner.invoke(app, [*base, "--json"]).stdout)
    assert any("3 rows of SHEA fall on days" in w for w in data["warnings"])
    assert not any("not business days" in a for a in data["applied"])


def test_haircut_refuses_both_price_file_flags(off_calendar: Path) -> None:
    # --prices-csv was silently ignored when --csv was given too
    from tests.cli.conftest import assert_one_line_error

    result = runner.invoke(
        app,
        ["haircut", "SHEA", "--quantity", "1000", "--csv", str(off_calendar), "--name", "SHEA",
         "--prices-csv", str(off_calendar)],
    )  # fmt: skip
    assert_one_line_error(result, 2, "--prices-csv and --csv both name a price file: give one")


def test_book_value_sources_are_as_of_the_marks_used_not_the_end_of_the_file() -> None:
    # a 2026-10-05 valuation said "SHEA prices to 2026-10-30" (the loaders recorded the end of
    # the file before the command knew its date); 2026-10-01..07 is the National Day holiday
    args = ["book", "value", "--bank", "BANK-01", "--as-of", "2026-10-05", "--sample"]
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 5), result.output
    out = " ".join(result.stdout.split())
    assert "prices to 2026-10-30" not in out
    data = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    prices = {s["what"]: s for s in data["source"] if s["what"].endswith(" prices")}
    for inst in ("SHEA", "CEA"):  # BANK-01's pledged instruments: the summary names each mark
        as_of = prices[f"{inst} prices"]["as_of"]
        assert as_of <= "2026-10-05"
        assert f"{inst}: mark " in out
        assert f"CNY/t of {as_of}," in out.split(f"{inst}: mark ", 1)[1][:40]
        assert f"SHEA prices to {prices['SHEA prices']['as_of']} (the mark used" in out
    assert "quotes held to 2026-10-30" in prices["CCER prices"]["note"]
    fx = next(s for s in data["source"] if s["what"] == "FX fixings")
    assert fx["as_of"] == "2026-09-30"  # the last fixing before the holiday


def test_the_documented_state_counts_are_the_commands() -> None:
    # docs/collateral.md said 11 ok, 2 warning, 3 margin call, 2 liquidation for BANK-01; the
    # command shows 8 / 2 / 3 / 5 since the sample was regenerated (fresh-clone user check)
    import re

    doc = " ".join((Path(__file__).parents[2] / "docs/collateral.md").read_text().split())
    found = re.search(
        r"`carbonfin book value --bank BANK-01 --sample` shows (\d+) of (\d+) loans ok, (\d+) at "
        r"warning, (\d+) in margin call and (\d+) at liquidation level",
        doc,
    )
    assert found, "the sentence with the counts is gone from docs/collateral.md"
    ok, loans, warning, call, liquidation = (int(g) for g in found.groups())
    data = json.loads(
        runner.invoke(
            app, ["book", "value", "--bank", "BANK-01", "--as-of", "2026-10-30", "--sample",
                  "--json"],
        ).stdout
    )  # fmt: skip
    assert data["loans"] == loans
    states = ("ok", "warning", "margin_call", "liquidation")
    assert [data["states"].get(k, 0) for k in states] == [ok, warning, call, liquidation]


def test_stress_with_carbon_cost_names_each_source_once_as_of_what_it_used() -> None:
    # the carbon-cost side read the prices again: "SHEA prices to 2026-10-30" followed the
    # restated "SHEA prices to 2026-09-29 (the mark used for 2026-10-05 ...)"
    args = ["stress", "--scenario", "drop-30", "--bank", "BANK-01", "--as-of", "2026-10-05",
            "--carbon-cost", "--sample", "--json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    names = [s["what"] for s in data["source"]]
    assert len(names) == len(set(names)), names
    prices = [s for s in data["source"] if s["what"] in ("SHEA prices", "CEA prices")]
    assert all(s["as_of"] <= "2026-10-05" for s in prices), prices
    assert data["both_sides"]
