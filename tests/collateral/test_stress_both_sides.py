"""Issue 22: a carbon price move on both sides of a bank's book, worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carbonfin.collateral.stress import both_sides, stress_scenarios
from carbonfin.instruments import Instrument


def test_spike_raises_collateral_and_borrower_cost_together() -> None:
    # B1 holds two SHEA pledges worth 1,000 and 2,000 CNY; its borrower X must buy 100 t of SHEA
    # at a forward of 60 (6,000 CNY). B2 has no pledge and a CEA borrower Y: 50 t at 80 (4,000).
    # +50% on every instrument: B1 collateral 3,000 -> 4,500 (+1,500), cost 6,000 -> 9,000;
    # B2 collateral 0, cost 4,000 -> 6,000.
    spike = stress_scenarios()["spike-50"]
    assert spike.params["move_frac"] == 0.5
    moves = dict.fromkeys(spike.instruments, 0.5)
    pledges = pd.DataFrame({"loan_id": ["L1", "L1"]})
    loans = pd.DataFrame({"loan_id": ["L1"], "bank_id": ["B1"]})
    exposure = pd.DataFrame(
        {"bank_id": ["B1", "B2"], "borrower_uscc": ["X", "Y"], "instrument": ["SHEA", "CEA"],
         "purchase_t": [100.0, 50.0], "forward_cny_per_t": [60.0, 80.0]}
    )  # fmt: skip
    value = np.array([1000.0, 2000.0])
    out = both_sides(pledges, loans, value, value * 1.5, exposure, moves).set_index("bank_id")
    assert out.loc["B1", "collateral_change_cny"] == pytest.approx(1500.0)
    assert out.loc["B1", "carbon_cost_before_cny"] == pytest.approx(6000.0)
    assert out.loc["B1", "carbon_cost_after_cny"] == pytest.approx(9000.0)
    assert out.loc["B2", "collateral_before_cny"] == 0.0
    assert out.loc["B2", "carbon_cost_change_cny"] == pytest.approx(2000.0)
    # an instrument the scenario does not move leaves the cost unchanged
    only_shea = both_sides(pledges, loans, value, value, exposure, {Instrument.SHEA: 0.5})
    assert only_shea.set_index("bank_id").loc["B2", "carbon_cost_change_cny"] == 0.0
    with pytest.raises(ValueError, match="lacks"):
        both_sides(pledges, loans, value, value, exposure.drop(columns="purchase_t"), moves)
