"""`carbonfin carbon-cost`: a firm's carbon cost at risk, or the population's for one year."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer

from carbonfin.cli._common import Column, Report, command, fail, parse_date, table, upper
from carbonfin.cli._data import load_account_frames, load_prices
from carbonfin.errors import InvalidInputError
from carbonfin.instruments import Instrument

if TYPE_CHECKING:
    import pandas as pd

    from carbonfin.scoring.carbon_cost import CarbonCost

_METHODS = {"fhs": "fhs", "t": "t", "student-t": "t", "merton": "merton"}


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root `carbonfin` app."""
    app.command("carbon-cost")(carbon_cost_cmd)


def parse_years(text: str | None, as_of: dt.date) -> tuple[int, ...]:
    """``2026-2030`` or ``2027`` (default: the as-of year and the four after it)."""
    if text is None:
        return tuple(range(as_of.year, as_of.year + 5))
    parts = text.strip().split("-")
    try:
        first, last = int(parts[0]), int(parts[-1])
    except ValueError:
        raise InvalidInputError(f"`years` must be YYYY or YYYY-YYYY; got {text!r}") from None
    if len(parts) > 2 or not 2000 <= first <= last <= 2100 or last - first > 20:
        raise InvalidInputError(
            f"`years` must be YYYY or YYYY-YYYY (at most 21 years); got {text!r}"
        )
    return tuple(range(first, last + 1))


def _registry_events() -> pd.DataFrame:
    from carbonfin.cli._common import use_sample

    if use_sample():
        from carbonfin.data import load_table

        return load_table("registry_events")
    from carbonfin.cli._data import database
    from carbonfin.store.collateral import registry_events
    from carbonfin.store.database import session_scope

    with session_scope(database()) as session:
        return registry_events(session=session)


def _frames() -> dict[str, pd.DataFrame]:
    frames = dict(load_account_frames())
    frames["registry_events"] = _registry_events()
    return frames


def _histories() -> dict[Instrument, Any]:
    from carbonfin.pricing import PriceHistory

    return {
        inst: PriceHistory.from_frame(load_prices(inst), inst)
        for inst in (Instrument.SHEA, Instrument.CEA)
    }


def _source() -> str:
    from carbonfin.cli._common import sources_text

    return sources_text() or "the configured database"


@command(data=True, flags={"n_scenarios": "--paths", "method": "--scenarios"})
def carbon_cost_cmd(
    uscc: Annotated[str | None, typer.Argument(help="the firm's USCC (any case)")] = None,
    all_firms: Annotated[bool, typer.Option("--all", help="the whole population")] = False,
    years: Annotated[
        str | None, typer.Option(help="compliance years YYYY-YYYY (default: as-of year + 4)")
    ] = None,
    year: Annotated[
        int | None, typer.Option(min=2000, max=2100, help="--all: the year to report")
    ] = None,
    scenarios: Annotated[str, typer.Option(help="price scenarios: fhs, t or merton")] = "fhs",
    paths: Annotated[int, typer.Option(min=100, max=200_000, help="number of scenarios")] = 10_000,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="valuation date YYYY-MM-DD (default today)")
    ] = None,
) -> Report:
    """Carbon cost at risk: the compliance cost over the years under the auction-share rules and
    seeded price scenarios (expected, CaR 95/99 with standard error, ES), or with --all the
    population's distribution for one year by industry."""
    if all_firms == (uscc is not None):
        raise fail("give either a USCC or --all")
    method = _METHODS.get(scenarios.strip().lower())
    if method is None:
        raise InvalidInputError(f"`scenarios` must be fhs, t or merton; got {scenarios!r}")
    when = dt.date.today() if as_of is None else parse_date(as_of, "as_of")
    span = parse_years(years, when)
    if year is not None and year not in span:
        raise InvalidInputError(f"`year` {year} is outside the years {span[0]}-{span[-1]}")
    if uscc is not None:
        if year is not None:
            raise fail("--year goes with --all (a firm's card shows every year)")
        return _firm(upper(uscc), span, method, paths, seed, when)
    return _population(span, year, method, paths, seed, when)


def _firm(
    uscc: str, span: tuple[int, ...], method: str, n: int, seed: int, when: dt.date
) -> Report:
    from carbonfin.scoring.carbon_card import card_from_result
    from carbonfin.scoring.carbon_inputs import carbon_cost_outlook
    from carbonfin.scoring.ids import validate_uscc

    validate_uscc(uscc)
    frames = _frames()
    result, _ = carbon_cost_outlook(
        frames, _histories(), as_of=when, years=span, method=method, n_scenarios=n, seed=seed,
        uscc=(uscc,), data_source=_source(),
    )  # fmt: skip
    card = card_from_result(result, uscc)
    _, ys = result.firm(uscc)
    rows: list[dict[str, Any]] = [{str(k): v for k, v in r.items()} for r in ys.to_dict("records")]
    human: list[Any] = [f"{uscc}: carbon cost at risk {span[0]}-{span[-1]}", card.summary()]
    if card.covered:
        human.append(
            table(
                rows,
                [
                    Column("year"),
                    Column("market"),
                    Column("need_t", "need t", fmt="{:,.0f}"),
                    Column("auction_share", "auction", fmt="{:.1%}", optional=True),
                    Column("free_t", "free t", fmt="{:,.0f}", optional=True),
                    Column("purchase_t", "buy t", fmt="{:,.0f}"),
                    Column("carry_sale_t", "carry-over t", fmt="{:,.0f}", optional=True),
                    Column("forward_cny_per_t", "forward", fmt="{:.2f}", optional=True),
                    Column("expected_cny", "expected CNY", fmt="{:,.0f}"),
                    Column("car99_cny", "CaR99 CNY", fmt="{:,.0f}"),
                    Column("es99_cny", "ES99 CNY", fmt="{:,.0f}"),
                ],
                title="by compliance year",
            )
        )
    human += [f"  assumption: {a}" for a in result.assumptions]
    human += [f"  note: {n_}" for n_ in result.notes]
    return Report(
        {**card.to_record(), "by_year": rows, "notes": list(result.notes)},
        human,
    )


def _population(
    span: tuple[int, ...], year: int | None, method: str, n: int, seed: int, when: dt.date
) -> Report:
    import pandas as pd
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    from carbonfin.cli._common import progress_bar
    from carbonfin.scoring.carbon_inputs import carbon_cost_outlook
    from carbonfin.scoring.carbon_prices import simulate_compliance_prices

    frames = _frames()
    firms = frames["firms"]
    sectors = sorted(firms["sector"].unique())
    parts: list[CarbonCost] = []
    with progress_bar(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()
    ) as progress:
        task = progress.add_task(f"carbon cost of {len(firms)} firms", total=len(sectors) + 1)
        prices = simulate_compliance_prices(
            _histories(), as_of=when, years=span, method=method, n_scenarios=n, seed=seed
        )
        progress.advance(task)
        for sector in sectors:  # one vectorised run per sector, for the progress bar
            ids = tuple(firms.loc[firms["sector"] == sector, "uscc"])
            result, _ = carbon_cost_outlook(
                frames, as_of=when, years=span, uscc=ids, prices=prices, data_source=_source()
            )
            parts.append(result)
            progress.advance(task)
    horizon = pd.concat([p.horizon for p in parts], ignore_index=True)
    ys = pd.concat([p.years for p in parts], ignore_index=True)
    sector_of = dict(zip(firms["uscc"], firms["sector"], strict=True))
    if year is None:
        chosen = horizon.assign(sector=horizon["uscc"].map(sector_of))
        label = f"{span[0]}-{span[-1]}"
    else:
        chosen = ys[ys["year"] == year].merge(horizon[["uscc", "status"]], on="uscc")
        chosen = chosen.assign(sector=chosen["uscc"].map(sector_of))
        label = str(year)
    rows = _by_sector(chosen)
    top = chosen[chosen["status"] == "covered"].nlargest(10, "car99_cny")
    top_rows = top[["uscc", "sector", "expected_cny", "car99_cny", "car99_share_value_added"]]
    cols = [
        Column("sector"), Column("firms"), Column("covered"),
        Column("expected_cny", "expected CNY", fmt="{:,.0f}"),
        Column("car99_cny", "sum CaR99 CNY", fmt="{:,.0f}"),
        Column("median_share_va", "median CaR99/VA", fmt="{:.2%}"),
    ]  # fmt: skip
    first = parts[0]
    return Report(
        {
            "years": list(span), "year": year, "as_of": when, "scenarios": method,
            "n_scenarios": n, "seed": seed, "by_sector": rows,
            "top_car99": top_rows.to_dict("records"),
            "assumptions": list(first.assumptions), "notes": list(prices.notes),
        },
        [
            f"carbon cost at risk {label}: {int((horizon['status'] == 'covered').sum())} covered "
            f"firms of {len(horizon)} ({method}, {n} scenarios, seed {seed}, as of {when})",
            table(rows, cols, title="by sector"),
            *(f"  assumption: {a}" for a in first.assumptions),
            *(f"  note: {n_}" for n_ in prices.notes),
        ],
    )  # fmt: skip


def _by_sector(frame: pd.DataFrame) -> list[dict[str, Any]]:
    cov = frame[frame["status"] == "covered"]
    g = frame.groupby("sector")
    c = cov.groupby("sector")
    out = []
    for sector in sorted(frame["sector"].unique()):
        has = sector in c.groups
        out.append(
            {
                "sector": sector,
                "firms": int(g.size()[sector]),
                "covered": int(c.size()[sector]) if has else 0,
                "expected_cny": float(c["expected_cny"].sum()[sector]) if has else None,
                "car99_cny": float(c["car99_cny"].sum()[sector]) if has else None,
                "median_share_va": float(c["car99_share_value_added"].median()[sector])
                if has
                else None,
            }
        )
    return out
