"""Gaps a user check found at the HTTP edge: HEAD, a bank's ``bank_id``, repeated query
parameters, and error messages that name what the caller can send."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

AS_OF = "2026-10-30"


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/health", None),
        ("/v1/loans?limit=2", "bank1"),
        (f"/v1/prices/SHEA/mark?as_of={AS_OF}", "bank1"),
        ("/dashboard/login", None),
    ],
    ids=["health", "loans", "mark", "dashboard-login"],
)
def test_head_answers_as_get_without_a_body(api: Api, path: str, who: str | None) -> None:
    # HEAD was a 405 on every route (FastAPI registers GET only); RFC 9110 9.3.2: the same
    # status and headers as GET, no content.
    headers = api.as_(who) if who else {}
    got = api.client.get(path, headers=headers)
    head = api.client.head(path, headers=headers)
    assert (head.status_code, got.status_code) == (200, 200), head.text
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert int(head.headers["content-length"]) == len(got.content)


def test_head_where_no_get_exists_is_still_refused(api: Api) -> None:
    resp = api.client.head("/v1/haircuts", headers=api.as_("bank1"))  # POST only
    assert resp.status_code == 405
    assert resp.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/v1/loans",
        f"/v1/margin-calls?as_of={AS_OF}",
        "/v1/pledges",
        f"/v1/exposure/summary?as_of={AS_OF}",
        f"/v1/exposure/history?start={AS_OF}&end={AS_OF}",
    ],
    ids=["loans", "margin-calls", "pledges", "exposure-summary", "exposure-history"],
)
def test_a_bank_key_filtering_on_another_bank_is_refused_alike(api: Api, path: str) -> None:
    # It was silently ignored (the bank's own rows came back, as if filtered). Another bank and
    # a bank that does not exist get the same answer, so the refusal reveals nothing.
    sep = "&" if "?" in path else "?"
    other = api.client.get(f"{path}{sep}bank_id=BANK-02", headers=api.as_("bank1"))
    absent = api.client.get(f"{path}{sep}bank_id=BANK-99", headers=api.as_("bank1"))
    assert other.status_code == absent.status_code == 422, other.text
    assert other.json()["detail"] == absent.json()["detail"]
    assert "bank_id" in other.json()["detail"]
    # its own id (any case) is the same as leaving the parameter out
    own = api.client.get(f"{path}{sep}bank_id=bank-01", headers=api.as_("bank1"))
    plain = api.client.get(path, headers=api.as_("bank1"))
    assert own.status_code == plain.status_code == 200, own.text
    assert own.json() == plain.json()


def test_the_regulator_still_filters_on_any_bank(api: Api) -> None:
    resp = api.client.get("/v1/loans?bank_id=BANK-02&limit=5", headers=api.as_("regulator"))
    assert resp.status_code == 200
    assert {r["bank_id"] for r in resp.json()["items"]} == {"BANK-02"}


@pytest.mark.parametrize(
    "query",
    [f"as_of={AS_OF}&as_of=2026-10-29", "status=active&status=repaid&limit=1"],
    ids=["as_of", "status"],
)
def test_a_repeated_scalar_query_parameter_is_refused(api: Api, query: str) -> None:
    # The last value was taken silently (Starlette's QueryParams), so the answer could be for
    # another date than the caller believed.
    path = "/v1/margin-calls" if "as_of" in query else "/v1/loans"
    resp = api.client.get(f"{path}?{query}", headers=api.as_("bank1"))
    assert resp.status_code == 422, resp.text
    name = query.split("=")[0]
    assert name in resp.json()["detail"]
    assert "once" in resp.json()["detail"]


def test_a_stale_mark_names_no_parameter_the_route_does_not_take(api: Api) -> None:
    # The engine's refusal ends "pass `max_age_days` to override": /v1/haircuts has no such
    # parameter, so the hint is left out there (the mark route, which has it, keeps it).
    body = {"instrument": "SHEA", "quantity_t": 1000, "as_of": "2030-01-02"}
    resp = api.client.post("/v1/haircuts", json=body, headers=api.as_("bank1"))
    assert resp.status_code == 409, resp.text
    assert "refused" in resp.json()["detail"]
    assert "max_age_days" not in resp.json()["detail"]
    mark = api.client.get("/v1/prices/SHEA/mark?as_of=2030-01-02", headers=api.as_("bank1"))
    assert mark.status_code == 409
    assert "`max_age_days`" in mark.json()["detail"]
