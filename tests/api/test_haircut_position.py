"""The haircut route prices the pledge's whole position (issue 19 point 1): 20,000 t with
180,000 t more of the same pledgor's position gets the haircut of 200,000 t."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.api.test_collateral_flow import AS_OF


def _haircut(api: Api, **body: object) -> dict:  # type: ignore[type-arg]
    resp = api.client.post(
        "/v1/haircuts",
        json={"instrument": "SHEA", "as_of": AS_OF.isoformat(), **body},
        headers=api.as_("bank1"),
    )
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_haircut_of_a_pledge_is_its_positions(api: Api) -> None:
    whole = _haircut(api, quantity_t=200_000)
    part = _haircut(api, quantity_t=20_000, other_position_t=180_000)
    alone = _haircut(api, quantity_t=20_000)
    assert part["total"] == pytest.approx(whole["total"], abs=1e-12)
    assert alone["total"] < part["total"]
    liq = {c["name"]: c for c in part["components"]}["liquidation"]
    assert liq["inputs"]["position_t"] == 200_000
