"""Eligibility of pledged allowances: one test per rule (each failing rule named in the
decision), over-pledging refused, the compliance need and the clause 5 carry-over schedule
worked by hand, and the vectorised evaluation agreeing with the one-pledge one."""

from __future__ import annotations

import copy
import datetime as dt
import time
import tomllib
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import pytest

from carbonfin.collateral.eligibility import (
    RULES,
    Decision,
    Outcome,
    carried_over_frac,
    carryover_entries,
    compliance_need,
    eligibility_rules,
    evaluate_pledge,
    evaluate_pledges,
    parse_eligibility_rules,
)
from carbonfin.errors import InvalidInputError, UnknownInstrumentError

D = dt.date
FIRM = "91310115MA1H00004A"
OTHER = "91310116MA1H00005B"
AS_OF = D(2025, 3, 31)


def _pledge(**change: Any) -> dict[str, Any]:
    base = {
        "pledge_id": "PL-1",
        "instrument": "SHEA",
        "vintage": 2024,
        "quantity_t": 400_000,
        "registration_no": "SHEA-ZY-2025-000001",
        "registration_date": D(2025, 1, 10),
        "release_date": None,
        "pledgor_uscc": FIRM,
    }
    return base | change


def _holdings(*rows: tuple[str, str, int | None, int]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["uscc", "instrument", "vintage", "balance_t"])


HELD = _holdings((FIRM, "SHEA", 2024, 1_000_000))

# compliance with every finished year surrendered: no open need
DONE = pd.DataFrame(
    [(FIRM, 2024, "SHEA", 900_000, D(2025, 3, 20))],
    columns=["uscc", "year", "instrument", "verified_emissions_tco2e", "surrender_date"],
)


def _rules_with(**change: Any) -> Any:
    text = resources.files("carbonfin.collateral").joinpath("data/eligibility.toml").read_text()
    raw = tomllib.loads(text)
    raw = copy.deepcopy(raw)
    for path, value in change.items():
        node = raw
        *head, last = path.split("__")
        for key in head:
            node = node[key]
        node[last] = value
    return parse_eligibility_rules(raw)


def _decide(pledge: dict[str, Any], **kwargs: Any) -> Any:
    kwargs.setdefault("holdings", HELD)
    kwargs.setdefault("as_of", AS_OF)
    kwargs.setdefault("compliance", DONE)
    return evaluate_pledge(pledge, **kwargs)


def test_a_clean_pledge_passes_every_rule() -> None:
    d = _decide(_pledge())
    assert d.decision is Decision.ELIGIBLE
    assert d.eligible_quantity_t == d.quantity_t == 400_000
    assert [r.rule for r in d.rules] == list(RULES)
    assert [r.outcome for r in d.rules[:5]] == [Outcome.PASS] * 5
    assert d.outcome("national-market carry-over") is Outcome.NOT_APPLICABLE
    assert d.failed == ()
    assert all(r.source for r in d.rules)
    assert "clause 12" in d.rules[0].source
    assert "SHEA-ZY-2025-000001" in str(d)
    assert d.rules_version == eligibility_rules().version


# --- one test per rule ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pledge", "rules", "reason"),
    [
        (
            _pledge(instrument="CCER", vintage=None),
            _rules_with(instruments__CCER__accepted=False),
            "CCER is not on the accepted list",
        ),
        (
            _pledge(vintage=2019),
            _rules_with(instruments__SHEA__min_vintage=2020),
            "older than the accepted vintage 2020",
        ),
    ],
    ids=["instrument", "old-vintage"],
)
def test_instrument_not_accepted_fails_that_rule(
    pledge: dict[str, Any], rules: Any, reason: str
) -> None:
    held = _holdings(
        (FIRM, "SHEA", 2024, 1_000_000), (FIRM, "SHEA", 2019, 500_000), (FIRM, "CCER", None, 5e5)
    )
    d = _decide(pledge, holdings=held, rules=rules)
    assert [r.rule for r in d.failed] == ["instrument accepted"]
    assert reason in d.failed[0].reason
    assert d.decision is Decision.INELIGIBLE
    assert d.eligible_quantity_t == 0


@pytest.mark.parametrize(
    ("pledge", "reason"),
    [
        (_pledge(vintage=None), "must name a vintage"),
        (_pledge(vintage=2026), "vintage 2026 is not issued yet"),
        (_pledge(instrument="CCER", vintage=2024), "CCER has no vintage"),
    ],
    ids=["missing", "future", "ccer-with-vintage"],
)
def test_invalid_vintage_fails_that_rule(pledge: dict[str, Any], reason: str) -> None:
    held = _holdings(
        (FIRM, "SHEA", None, 1_000_000), (FIRM, "SHEA", 2026, 1_000_000), (FIRM, "CCER", 2024, 1e6)
    )
    d = _decide(pledge, holdings=held)
    assert "vintage valid" in [r.rule for r in d.failed]
    assert reason in next(r.reason for r in d.failed if r.rule == "vintage valid")
    assert d.decision is Decision.INELIGIBLE


def test_an_expired_vintage_fails_when_the_rules_set_an_expiry() -> None:
    rules = _rules_with(vintage__expiry_years={"SHEA": 3})
    held = _holdings((FIRM, "SHEA", 2021, 1_000_000))
    d = _decide(_pledge(vintage=2021), holdings=held, rules=rules)
    assert [r.rule for r in d.failed] == ["vintage valid"]
    assert "expired after 3 years" in d.failed[0].reason
    assert _decide(_pledge(vintage=2022), holdings=_holdings((FIRM, "SHEA", 2022, 1e6)),
                   rules=rules).decision is Decision.ELIGIBLE  # fmt: skip


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"registration_no": None}, "no registration number"),
        ({"registration_no": "  ", "registration_date": None}, "no registration number and no"),
        ({"registration_date": None}, "no registration date"),
        ({"registration_date": D(2025, 4, 2)}, "registered only on 2025-04-02"),
        ({"release_date": D(2025, 3, 1)}, "released on 2025-03-01"),
    ],
    ids=["no-number", "neither", "no-date", "future", "released"],
)
def test_an_unregistered_or_released_pledge_fails_registration(
    change: dict[str, Any], reason: str
) -> None:
    d = _decide(_pledge(**change))
    assert "pledge registered" in [r.rule for r in d.failed]
    assert reason in next(r.reason for r in d.failed if r.rule == "pledge registered")
    assert d.eligible_quantity_t == 0
    # a release after the valuation date does not matter yet
    assert _decide(_pledge(release_date=D(2025, 4, 1))).decision is Decision.ELIGIBLE


def test_over_pledging_a_holding_is_refused_in_registration_order() -> None:
    # 1,000,000 t held; 600,000 t pledged first (to another bank), then 500,000 t: the second
    # would lock 1,100,000 t. Rows are given in the opposite order: registration decides.
    later = _pledge(pledge_id="PL-2", quantity_t=500_000, registration_date=D(2025, 2, 1),
                    registration_no="SHEA-ZY-2025-000002")  # fmt: skip
    earlier = _pledge(pledge_id="PL-1", quantity_t=600_000, registration_date=D(2025, 1, 5))
    table = evaluate_pledges(
        pd.DataFrame([later, earlier]), holdings=HELD, as_of=AS_OF, compliance=DONE
    )
    first, second = table.decision("PL-1"), table.decision("PL-2")
    assert first.decision is Decision.ELIGIBLE
    assert first.eligible_quantity_t == 600_000
    assert [r.rule for r in second.failed] == ["pledgor holds the quantity"]
    assert "over-pledged" in second.failed[0].reason
    assert "lock 1,100,000 t (100,000 t more than held)" in second.failed[0].reason
    assert second.eligible_quantity_t == 0
    # once the first pledge is released the second fits
    released = earlier | {"release_date": D(2025, 3, 1)}
    again = evaluate_pledges(
        pd.DataFrame([later, released]), holdings=HELD, as_of=AS_OF, compliance=DONE
    )
    assert again.decision("PL-2").decision is Decision.ELIGIBLE


def test_a_holding_the_pledgor_does_not_have_and_a_pending_pledge_beyond_it() -> None:
    d = _decide(_pledge(pledgor_uscc=OTHER))
    assert [r.rule for r in d.failed] == ["pledgor holds the quantity"]
    assert f"{OTHER} holds 0 t of SHEA vintage 2024" in d.failed[0].reason
    locked = _pledge(pledge_id="PL-0", quantity_t=700_000, registration_date=D(2025, 1, 2))
    pending = _pledge(registration_no=None, registration_date=None)
    table = evaluate_pledges(pd.DataFrame([locked, pending]), holdings=HELD, as_of=AS_OF)
    assert [r.rule for r in table.decision("PL-1").failed] == [
        "pledge registered",
        "pledgor holds the quantity",
    ]


def test_compliance_need_is_not_free_collateral_worked_by_hand() -> None:
    # The pledgor holds 1,000,000 t SHEA24 + 200,000 t SHEA23 = 1,200,000 t and must still
    # surrender 900,000 t for its verified 2024 emissions (deadline 2025-06-30).
    # Free beyond the need: 1,200,000 - 900,000 = 300,000 t.
    # PL-A (registered first) 200,000 t: all of it counts.
    # PL-B 250,000 t: 300,000 - 200,000 = 100,000 t count.
    # PL-C 150,000 t: nothing is left: it fails the rule.
    held = _holdings((FIRM, "SHEA", 2024, 1_000_000), (FIRM, "SHEA", 2023, 200_000))
    open_2024 = DONE.assign(surrender_date=[None])
    pledges = pd.DataFrame(
        [
            _pledge(pledge_id="PL-A", quantity_t=200_000, registration_date=D(2025, 1, 10)),
            _pledge(pledge_id="PL-B", quantity_t=250_000, registration_date=D(2025, 2, 10),
                    registration_no="R-B"),
            _pledge(pledge_id="PL-C", quantity_t=150_000, vintage=2023,
                    registration_date=D(2025, 3, 10), registration_no="R-C"),
        ]
    )  # fmt: skip
    table = evaluate_pledges(pledges, holdings=held, as_of=AS_OF, compliance=open_2024)
    a, b, c = (table.decision(p) for p in ("PL-A", "PL-B", "PL-C"))
    assert (a.decision, a.eligible_quantity_t) == (Decision.ELIGIBLE, 200_000)
    assert (b.decision, b.eligible_quantity_t) == (Decision.PARTIALLY_ELIGIBLE, 100_000)
    assert b.outcome("compliance need") is Outcome.PARTIAL
    reason = next(r.reason for r in b.rules if r.rule == "compliance need")
    assert "must still surrender 900,000 t SHEA for 2024 (next deadline 2025-06-30)" in reason
    assert "only 100,000 t of 250,000 t" in reason
    assert (c.decision, c.eligible_quantity_t) == (Decision.INELIGIBLE, 0)
    assert [r.rule for r in c.failed] == ["compliance need"]
    frame = table.to_frame()
    assert list(frame["failed_rules"]) == ["", "", "compliance need"]
    assert list(frame["eligible_quantity_t"]) == [200_000, 100_000, 0]
    # after the surrender is recorded, the need is gone
    after = evaluate_pledges(pledges, holdings=held, as_of=D(2025, 7, 1), compliance=DONE)
    assert list(after.eligible_quantity_t) == [200_000, 250_000, 150_000]


def test_without_compliance_records_the_need_is_reported_unknown() -> None:
    d = evaluate_pledge(_pledge(), holdings=HELD, as_of=AS_OF)
    assert d.outcome("compliance need") is Outcome.NOT_APPLICABLE
    assert "surrender need is unknown" in d.rules[4].reason


def test_compliance_need_by_hand() -> None:
    records = pd.DataFrame(
        [
            (FIRM, 2023, "SHEA", 100, D(2024, 6, 20)),  # surrendered
            (FIRM, 2024, "SHEA", 200, None),  # open, deadline 2025-06-30
            (FIRM, 2025, "SHEA", 300, None),  # the year is not over on 2025-03-31
            (OTHER, 2023, "CEA", 400, None),  # overdue (deadline 2024-12-31)
            (OTHER, 2024, "CEA", 500, D(2025, 4, 30)),  # surrendered after the date: open
        ],
        columns=["uscc", "year", "instrument", "verified_emissions_tco2e", "surrender_date"],
    )
    need = compliance_need(records, AS_OF).set_index(["uscc", "instrument"])
    assert need.loc[(FIRM, "SHEA"), "need_t"] == 200
    assert need.loc[(FIRM, "SHEA"), "next_deadline"] == D(2025, 6, 30)
    assert need.loc[(OTHER, "CEA"), "need_t"] == 900
    assert need.loc[(OTHER, "CEA"), "years"] == "2023, 2024"
    assert need.loc[(OTHER, "CEA"), "next_deadline"] == D(2024, 12, 31)


# --- clause 5 carry-over ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "frac"),
    [
        (D(2025, 12, 31), 0.0),  # before entry: nothing to carry over (still in Shanghai)
        (D(2026, 1, 1), 1 / 3),  # first tranche on entry
        (D(2026, 12, 31), 1 / 3),
        (D(2027, 1, 1), 2 / 3),  # second on the first anniversary
        (D(2028, 1, 1), 1.0),  # the last on the second: all within three years
        (D(2031, 6, 1), 1.0),
    ],
)
def test_carry_over_schedule_by_hand(as_of: dt.date, frac: float) -> None:
    assert carried_over_frac(D(2026, 1, 1), as_of) == pytest.approx(frac)


@pytest.mark.parametrize(
    ("as_of", "eligible", "outcome"),
    [
        # Entry 2026-01-01 with a 900,000 t SHEA surplus, all still held; pledge 400,000 t.
        # Before entry: the firm is still in the Shanghai market, nothing is locked.
        (D(2025, 12, 1), 400_000, Outcome.PASS),
        # 2026: 1/3 carried over = 300,000 t, 600,000 t not yet: 900,000 - 600,000 = 300,000.
        (D(2026, 6, 30), 300_000, Outcome.PARTIAL),
        # 2027: 2/3 = 600,000 t carried, 300,000 t locked: 600,000 t free >= 400,000.
        (D(2027, 1, 1), 400_000, Outcome.PASS),
        (D(2028, 1, 1), 400_000, Outcome.PASS),
    ],
)
def test_carry_over_limits_the_eligible_quantity(
    as_of: dt.date, eligible: int, outcome: Outcome
) -> None:
    held = _holdings((FIRM, "SHEA", 2020, 900_000))
    carry = pd.DataFrame({"uscc": [FIRM], "entry_date": [D(2026, 1, 1)], "base_t": [900_000]})
    empty = DONE.iloc[:0]
    d = _decide(_pledge(vintage=2020), holdings=held, as_of=as_of, compliance=empty,
                carryover=carry)  # fmt: skip
    assert d.outcome("national-market carry-over") is outcome
    assert d.eligible_quantity_t == eligible
    if outcome is Outcome.PARTIAL:
        assert d.decision is Decision.PARTIALLY_ELIGIBLE
        reason = d.rules[-1].reason
        assert "33% of its 900,000 t SHEA surplus carried over by 2026-06-30" in reason
        assert "600,000 t not yet" in reason
    # CEA pledges of the same firm are not concerned
    cea = _decide(
        _pledge(instrument="CEA", vintage=2026),
        holdings=_holdings((FIRM, "CEA", 2026, 1e6)),
        as_of=max(as_of, D(2026, 6, 30)),
        compliance=empty,
        carryover=carry,
    )
    assert cea.outcome("national-market carry-over") is Outcome.NOT_APPLICABLE


def test_moving_firms_come_from_the_compliance_records_and_an_unknown_surplus_fails() -> None:
    records = pd.DataFrame(
        [(FIRM, y, "SHEA" if y < 2021 else "CEA", 100, D(y + 1, 6, 1)) for y in range(2019, 2025)]
        + [(OTHER, 2024, "SHEA", 100, D(2025, 6, 1))],
        columns=["uscc", "year", "instrument", "verified_emissions_tco2e", "surrender_date"],
    )
    entries = carryover_entries(records)
    assert entries.to_dict("records") == [
        {"uscc": FIRM, "entry_date": D(2021, 1, 1), "last_shea_year": 2020}
    ]
    held = _holdings((FIRM, "SHEA", 2020, 1e6))
    early = _pledge(vintage=2020, registration_date=D(2021, 12, 1))
    d = _decide(early, holdings=held, compliance=records, as_of=D(2022, 1, 1))
    assert [r.rule for r in d.failed] == ["national-market carry-over"]
    assert "surplus is unknown" in d.failed[0].reason
    # once the three-year schedule has run its course the surplus no longer matters
    late = _decide(early, holdings=held, compliance=records, as_of=D(2023, 1, 1))
    assert late.outcome("national-market carry-over") is Outcome.PASS
    assert "100% of" in late.rules[-1].reason


# --- the book, vectorised -----------------------------------------------------------------------


def _sample_inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dt.date]:
    from carbonfin.data import load_table

    as_of = D(2026, 10, 30)
    events = load_table("registry_events")
    sign = events["kind"].map({"allocation": 1, "purchase": 1, "sale": -1, "surrender": -1})
    held = (
        events.assign(balance_t=sign.fillna(0) * events["quantity_t"], v=events["vintage"])
        .groupby(["uscc", "instrument", "v"], dropna=False)["balance_t"]
        .sum()
        .reset_index()
        .rename(columns={"v": "vintage"})
    )
    pledges = load_table("pledges")
    return pledges, held, load_table("compliance"), as_of


def test_book_evaluation_agrees_with_pledge_by_pledge() -> None:
    pledges, held, compliance, as_of = _sample_inputs()
    carry = carryover_entries(compliance).assign(base_t=0)  # fully carried by 2026 anyway
    start = time.perf_counter()
    table = evaluate_pledges(
        pledges, holdings=held, as_of=as_of, compliance=compliance, carryover=carry
    )
    elapsed = time.perf_counter() - start
    assert len(table) == len(pledges)
    frame = table.to_frame()
    rng = np.random.default_rng(7)
    for k in rng.choice(len(pledges), 25, replace=False):
        row = pledges.iloc[int(k)].to_dict()
        others = pledges.drop(index=pledges.index[int(k)])
        one = evaluate_pledge(
            row,
            holdings=held,
            as_of=as_of,
            other_pledges=others,
            compliance=compliance,
            carryover=carry,
        )
        assert one.decision.value == frame.loc[int(k), "decision"]
        assert one.eligible_quantity_t == frame.loc[int(k), "eligible_quantity_t"]
    # the sample registry never over-pledges, and released pledges are reported as released
    active = pledges["release_date"].isna().to_numpy()
    assert (frame.loc[active, "pledgor holds the quantity"] == "pass").all()
    assert frame.loc[~active, "failed_rules"].str.contains("pledge registered").all()
    assert (frame.loc[~active, "decision"] == "ineligible").all()
    counts = frame.loc[active, "decision"].value_counts().to_dict()
    print(f"{len(pledges)} pledges evaluated in {elapsed * 1e3:.1f} ms; active: {counts}")


def test_results_are_frozen() -> None:
    table = evaluate_pledges(pd.DataFrame([_pledge()]), holdings=HELD, as_of=AS_OF)
    with pytest.raises(ValueError, match="read-only"):
        table.eligible_quantity_t[0] = 1
    with pytest.raises(TypeError):
        table.outcomes["vintage valid"] = np.array(["pass"])  # type: ignore[index]
    with pytest.raises(TypeError):
        eligibility_rules().sources["x"] = "y"  # type: ignore[index]
    d = table.decision("PL-1")
    with pytest.raises(AttributeError):
        d.eligible_quantity_t = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("frame", "error", "message"),
    [
        (pd.DataFrame([_pledge()]).drop(columns="pledgor_uscc"), InvalidInputError,
         r"`pledges` lacks the columns \['pledgor_uscc'\]"),
        (pd.DataFrame([_pledge(), _pledge()]), InvalidInputError, "PL-1' appears twice"),
        (pd.DataFrame([_pledge(quantity_t=0)]), InvalidInputError,
         "`quantity_t` of pledge PL-1 must be > 0"),
        (pd.DataFrame([_pledge(instrument="EUA")]), UnknownInstrumentError,
         "unknown instrument 'EUA'"),
    ],
    ids=["columns", "duplicate", "quantity", "instrument"],
)  # fmt: skip
def test_bad_input_gets_a_clear_error(
    frame: pd.DataFrame, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        evaluate_pledges(frame, holdings=HELD, as_of=AS_OF)


def test_reasons_for_a_lender_carry_no_holding_and_no_other_pledges() -> None:
    # Same book as the worked compliance-need example: PL-B's full reasons name the pledgor's
    # 1,200,000 t holding and the 200,000 t PL-A (possibly another bank's) takes; worded for
    # PL-B's lender they name neither (issue 18 point 4), only PL-B's own figures and the need.
    held = _holdings((FIRM, "SHEA", 2024, 1_000_000), (FIRM, "SHEA", 2023, 200_000))
    open_2024 = DONE.assign(surrender_date=[None])
    pledges = pd.DataFrame(
        [
            _pledge(pledge_id="PL-A", quantity_t=200_000, registration_date=D(2025, 1, 10)),
            _pledge(pledge_id="PL-B", quantity_t=250_000, registration_date=D(2025, 2, 10),
                    registration_no="R-B"),
            _pledge(pledge_id="PL-X", quantity_t=900_000, registration_date=D(2025, 2, 11),
                    registration_no="R-X"),
        ]
    )  # fmt: skip
    table = evaluate_pledges(pledges, holdings=held, as_of=AS_OF, compliance=open_2024)
    full = " ".join(r.reason for r in table.decision("PL-B").rules)
    assert "1,200,000 t" in full
    assert "200,000 t" in full.replace("1,200,000 t", "")
    for pid in ("PL-B", "PL-X"):
        lender = " ".join(r.reason for r in table.decision(pid, for_lender=True).rules)
        assert "1,000,000" not in lender
        assert "1,200,000" not in lender
        assert "200,000 t" not in lender.replace("1,200,000 t", "")
        assert "holds" not in lender
        assert "earlier pledges" not in lender
    x = table.decision("PL-X", for_lender=True)
    assert x.failed[0].rule == "pledgor holds the quantity"
    assert x.failed[0].reason == "the pledge of 900,000 t exceeds the quantity free to pledge"
    b = table.decision("PL-B", for_lender=True)
    need = next(r.reason for r in b.rules if r.rule == "compliance need")
    assert need == (
        "the pledgor must still surrender 900,000 t SHEA for 2024 (next deadline 2025-06-30): "
        "only 100,000 t of 250,000 t is beyond the need"
    )
