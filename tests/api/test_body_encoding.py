"""A /v1 body not sent as JSON is a 415 and one that is not UTF-8 a 400, as docs/api.md says
(both were 422: "Input should be a valid dictionary", "JSON decode error"); found by a
fresh-clone user check."""

from __future__ import annotations

from tests.api.conftest import Api


def test_a_body_not_sent_as_json_is_a_415(api: Api) -> None:
    headers = {**api.as_("bank1"), "content-type": "text/plain"}
    r = api.client.post("/v1/haircuts", content=b"{}", headers=headers)
    assert r.status_code == 415, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "application/json" in r.json()["detail"]


def test_a_body_that_is_not_utf8_is_a_400(api: Api) -> None:
    headers = {**api.as_("bank1"), "content-type": "application/json"}
    r = api.client.post("/v1/haircuts", content=b"\xff\xfe", headers=headers)
    assert r.status_code == 400, r.text
    assert "UTF-8" in r.json()["detail"]


def test_a_json_body_still_reaches_the_route(api: Api) -> None:
    headers = {**api.as_("bank1"), "content-type": "application/json; charset=utf-8"}
    r = api.client.post("/v1/haircuts", content=b"{}", headers=headers)
    assert r.status_code == 422, r.text  # the route's own validation: fields missing
