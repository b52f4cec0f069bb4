"""The dashboard in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) through Selenium, against a real uvicorn over the sample market.

Signs in with the regulator key through the form, finds every chart drawn (an SVG with bars,
bins or lines), checks the totals shown against the regulator API's, saves a screenshot (the
test's artefact: ``CARBONFIN_ARTEFACTS`` or pytest's temporary folder) and signs in with a bank
key to find only that bank. Skips with the reason where the browser is absent;
``CARBONFIN_REQUIRE_BROWSER=1`` (set by ``.ci/run``) turns that into a failure.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.main import create_app
from api.settings import Settings
from carbonfin.store import credentials, repositories
from carbonfin.store.database import make_engine, session_scope, upgrade
from tests.api._dashboard import browser_missing, chromium, login, money, store_stress_runs
from tests.api._server import uvicorn_server

pytestmark = pytest.mark.slow
AS_OF = dt.date(2026, 10, 30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    reason = browser_missing()
    if reason is not None:
        if os.environ.get("CARBONFIN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CARBONFIN_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(f"no browser for the dashboard test: {reason}")
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'dash.db'}"
    engine = make_engine(url)
    upgrade(engine)
    keys = {}
    with session_scope(engine) as session:
        repositories.seed(session=session)
        for who, inst in (("regulator", "PBOC-SH"), ("bank", "BANK-03")):
            _, keys[who] = credentials.create_api_key(session=session, institution_id=inst)
    store_stress_runs(create_app(Settings(database_url=url), engine=engine), engine, AS_OF)
    engine.dispose()
    with uvicorn_server(url) as base:
        yield base, keys


def _artefacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CARBONFIN_ARTEFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_regulator_page_in_chromium(served: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    base, keys = served
    with chromium() as driver:
        login(driver, base, keys["regulator"], AS_OF)
        assert driver.current_url.startswith(f"{base}/dashboard?as_of=")
        charts = driver.find_elements(By.CSS_SELECTOR, "svg.chart")
        assert len(charts) >= 9  # 4 exposures, pledgors, LTV, stress, 2+ price series
        for svg in charts:
            marks = svg.find_elements(By.CSS_SELECTOR, "rect.bar, path, circle")
            assert marks, svg.get_attribute("id")
            box = svg.rect
            assert box["width"] > 200, svg.get_attribute("id")
            assert box["height"] > 40, svg.get_attribute("id")
        api = httpx.get(
            f"{base}/v1/regulator/exposures",
            params={"as_of": AS_OF.isoformat(), "group_by": "bank"},
            headers={"Authorization": f"Bearer {keys['regulator']}"},
        ).json()
        for col in ("collateral_value_cny", "lendable_value_cny", "loan_outstanding_cny"):
            cell = driver.find_element(By.CSS_SELECTOR, f'[data-total="{col}"]')
            shown = money(cell.get_attribute("textContent") or "")
            assert shown == pytest.approx(round(api["total"][col], 2), abs=0.005), col
        # nothing was fetched from anywhere but the service, and the policy blocked nothing
        urls = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert urls
        assert all(str(u).startswith(base + "/") for u in urls), urls
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert errors == []
        # the page fits a 1366-pixel laptop screen: no horizontal scrolling
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert int(width) <= 1366
        # keyboard: the first Tab reaches the skip link, which leads to the content
        from selenium.webdriver.common.keys import Keys

        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        focused = driver.switch_to.active_element
        assert focused.get_attribute("class") == "skip"
        shot = _artefacts(tmp_path) / "dashboard-regulator.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")


def test_bank_page_in_chromium(served: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    base, keys = served
    with chromium() as driver:
        login(driver, base, keys["bank"], AS_OF)
        text = driver.find_element(By.TAG_NAME, "body").get_attribute("textContent") or ""
        assert "BANK-03" in text
        others = [f"BANK-{i:02d}" for i in range(1, 10) if i != 3]
        assert [b for b in others if b in text] == []
        assert [b for b in others if b in driver.page_source] == []
        driver.save_screenshot(str(_artefacts(tmp_path) / "dashboard-bank.png"))
        driver.get(f"{base}/dashboard?bank=BANK-01")
        assert "BANK-01" not in (driver.find_element(By.TAG_NAME, "body").text or "")
