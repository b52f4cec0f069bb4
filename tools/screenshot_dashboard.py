"""Screenshot of the dashboard over the sample market, for the README.

    python tools/screenshot_dashboard.py [--out docs/dashboard.png] [--full PATH]

Seeds a temporary SQLite database with the shipped sample market, stores three stress runs as
``carbonfin stress --save`` would, creates a regulator key, serves the API with uvicorn, signs in
through the login form in headless Chromium (Debian's ``chromium`` and ``chromium-driver``) at
1366 × 768 and saves what a laptop screen shows (``--full``: the whole page too). The page uses
the reader's own fonts: for the Chinese source text of the policy to show, the machine taking
the picture needs a CJK font (Debian: ``fonts-wqy-microhei``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = dt.date(2026, 10, 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--full", type=Path, default=None, help="also save the whole page here")
    args = parser.parse_args()

    from api.main import create_app
    from api.settings import Settings
    from carbonfin.store import credentials, repositories
    from carbonfin.store.database import make_engine, session_scope, upgrade
    from tests.api._dashboard import (
        browser_missing,
        chromium,
        login,
        store_history,
        store_stress_runs,
    )
    from tests.api._server import uvicorn_server

    missing = browser_missing()
    if missing:
        raise SystemExit(f"screenshot_dashboard: {missing}")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/dashboard.db"
        engine = make_engine(url)
        upgrade(engine)
        with session_scope(engine) as session:
            repositories.seed(session=session)
            _, key = credentials.create_api_key(
                session=session, institution_id="PBOC-SH", role="regulator"
            )
        app = create_app(Settings(database_url=url), engine=engine)
        store_stress_runs(app, engine, AS_OF)
        store_history(app, AS_OF)  # the year's stored valuations, where this version has them
        engine.dispose()
        with uvicorn_server(url) as base, chromium() as driver:
            login(driver, base, key, AS_OF)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
            print(f"saved {args.out} ({args.out.stat().st_size:,} bytes)")
            if args.full:
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(1366, int(height) + 100)
                driver.save_screenshot(str(args.full))
                print(f"saved {args.full}")


if __name__ == "__main__":
    main()
