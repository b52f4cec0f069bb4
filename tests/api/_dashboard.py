"""Helpers shared by the dashboard tests and ``tools/screenshot_dashboard.py``: stored stress runs
for a seeded database, a headless Chromium driven by Selenium with Debian's binaries, and a
login through the real form."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine

CHROMIUM = os.environ.get("CARBONFIN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CARBONFIN_CHROMEDRIVER", "/usr/bin/chromedriver")
SCENARIOS = ("shea-2015", "drop-30", "cea-2024")


def store_stress_runs(
    app: Any, engine: Engine, as_of: dt.date, scenarios: tuple[str, ...] = SCENARIOS
) -> None:
    """Run ``scenarios`` on the whole book as ``carbonfin stress --save`` does and store them."""
    from carbonfin.collateral import stress_book, stress_record
    from carbonfin.collateral.models import get_model
    from carbonfin.instruments import Instrument
    from carbonfin.store.database import session_scope
    from carbonfin.store.stress import save_stress_run

    state = app.state
    with session_scope(engine) as session:
        book = state.book.valuation(session, as_of)
        histories = {
            Instrument.parse(c): state.data.history(c)
            for c in sorted(book.pledges["instrument"].unique())
        }
        industries = state.book.industries(session)
        model = get_model("hs")
        for name in scenarios:
            res = stress_book(book, name, histories, industries=industries)
            record = stress_record(
                res, scope="all", seed=0, model=model.name, model_version=model.version,
                policy_version=book.policy_version, data_source=book.data_source,
            )  # fmt: skip
            save_stress_run(session=session, record=record)


def store_history(app: Any, as_of: dt.date) -> bool:
    """Value and store the book at the end of each of the 12 months before ``as_of`` with
    ``carbonfin.lending.exposure.snapshot`` (the stored valuations the history reads); ``False``
    where this version has no such function."""
    import importlib

    try:
        exposure = importlib.import_module("carbonfin.lending.exposure")
    except ImportError:
        return False
    if not hasattr(exposure, "snapshot"):
        return False
    ends = [dt.date(as_of.year - (as_of.month - k <= 0), (as_of.month - k - 1) % 12 + 1, 28)
            for k in range(12)]  # fmt: skip
    exposure.snapshot(app.state.sessions, [d for d in ends if d <= as_of], app.state.data)
    return True


def browser_missing() -> str | None:
    """Why the browser test cannot run here, or ``None``."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the Python package selenium is not installed"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(path)):
            return f"{path} is absent (Debian packages chromium and chromium-driver)"
    return None


@contextmanager
def chromium(width: int = 1366, height: int = 768) -> Iterator[Any]:
    """A headless Chromium (Debian's binary and driver given explicitly, so Selenium Manager
    never downloads anything), ``width`` × ``height`` CSS pixels."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        f"--window-size={width},{height}", "--hide-scrollbars", "--force-device-scale-factor=1",
        "--disable-extensions", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-default-apps",
    ):  # fmt: skip
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(120)
        # --window-size is the outer window: grow it so the page itself gets width × height
        inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        driver.set_window_size(2 * width - int(inner[0]), 2 * height - int(inner[1]))
        yield driver
    finally:
        driver.quit()


def login(driver: Any, base: str, key: str, as_of: dt.date | None = None) -> None:
    """Sign in through the login form, then open the page for ``as_of``."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/dashboard/login")
    driver.find_element(By.ID, "api_key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    # the click returns before the form's answer arrives: wait for the page it redirects to (the
    # first page values the book, seconds on a loaded machine), so the session cookie is set
    # before the next request and that request is not overtaken by the redirect
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(
        lambda d: (
            d.current_url.rstrip("/").endswith("/dashboard")
            and d.execute_script("return document.readyState") == "complete"
        )
    )
    if as_of is not None:
        driver.get(f"{base}/dashboard?as_of={as_of.isoformat()}")


def money(text: str) -> float:
    """``"1,234.50"`` → 1234.5."""
    return float(re.sub(r"[^0-9.\-]", "", text))
