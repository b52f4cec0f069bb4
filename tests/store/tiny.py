"""A tiny, hand-written sample market (every table, a few rows) for fast storage tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd

from carbonfin.data.schema import TABLES, write_table
from carbonfin.scoring.ids import uscc_check_character

D = dt.date


def uscc(body17: str) -> str:
    return body17 + uscc_check_character(body17)


BANK = uscc("91310000MA1K00001")
BANK2 = uscc("91310000MA1K00002")
PBOC = uscc("11310000MB0000003")
FIRM_A = uscc("91310115MA1H00004")
FIRM_B = uscc("91310116MA1H00005")

ROWS: dict[str, list[tuple[object, ...]]] = {
    "institutions": [
        ("BANK-01", "Huangpu Commercial Bank", "黄浦商业银行", "bank", BANK, "HPCBCNSH"),
        ("BANK-02", "Pudong Green Bank", "浦东绿色银行", "bank", BANK2, None),
        (
            "PBOC-SH",
            "PBOC Shanghai Head Office",
            "中国人民银行上海总部",
            "central_bank",
            PBOC,
            None,
        ),
    ],
    "firms": [
        (
            FIRM_A,
            "Jinshan Power",
            "金山电力",
            "D4411",
            "power",
            "Jinshan",
            1998,
            True,
            True,
            2030,
            0.3,
            2060,
        ),
        (
            FIRM_B,
            "Baoshan Steel Works",
            "宝山钢铁",
            "C3110",
            "steel",
            "Baoshan",
            2001,
            False,
            False,
            None,
            None,
            None,
        ),
    ],
    "facilities": [
        ("FAC-000001", FIRM_A, "Jinshan unit 1", "power_plant", "Jinshan", 2005),
        ("FAC-000002", FIRM_B, "Baoshan furnace", "blast_furnace", "Baoshan", 2003),
    ],
    "facility_emissions": [
        ("FAC-000001", 2024, 1234567.125, 1500.5, "verified"),
        ("FAC-000001", 2025, None, 1400.0, "estimated"),
        ("FAC-000002", 2025, 98765.432, None, "self_reported"),
    ],
    "firm_years": [
        (
            FIRM_A,
            2025,
            2500000.0,
            "MWh",
            900000000.12,
            1500000000.5,
            2000000000.0,
            3000000000.0,
            50000.0,
            1200,
            True,
        ),
        (FIRM_B, 2025, None, "t_steel", None, None, 500000000.0, 250000000.0, None, 0, False),
    ],
    "compliance": [
        (FIRM_A, 2024, "SHEA", 1200000, 1236068, 1180000, 56068, 0, D(2025, 6, 27)),
    ],
    "prices": [
        (D(2024, 1, 2), "SHEA", 70.5, 71.0, 70.1, 70.8, 70.62, 1200, 84744.0),
        (D(2024, 1, 3), "SHEA", None, None, None, None, None, 0, 0.0),
        (D(2024, 1, 4), "SHEA", 70.8, 72.345678, 70.8, 72.0, 71.5, 300, 21450.0),
        (D(2024, 1, 2), "CEA", 72.0, 72.0, 71.5, 71.9, 71.8, 50000, 3590000.0),
    ],
    "fx_fixings": [
        (D(2024, 1, 2), "USD/CNY", 7.0920, "central_parity"),
        (D(2024, 1, 2), "JPY/CNY", 0.050263, "central_parity"),
        (D(2024, 1, 2), "USD/CNH", 7.1105, "cnh_fixing"),
    ],
    "loans": [
        (
            "LN-0000001",
            "BANK-01",
            FIRM_A,
            "CNY",
            50000000.0,
            42000000.0,
            D(2024, 3, 1),
            D(2027, 3, 1),
            0.0345,
            "green",
            "active",
        ),
        (
            "LN-0000002",
            "BANK-02",
            FIRM_B,
            "USD",
            2000000.0,
            2000000.0,
            D(2025, 5, 20),
            D(2026, 5, 20),
            0.0512,
            "transition",
            "active",
        ),
    ],
    "pledges": [
        (
            "PL-0000001",
            "LN-0000001",
            "SHEA",
            2024,
            300000,
            "SHEA-ZY-2024-000001",
            D(2024, 3, 1),
            "active",
            FIRM_A,
            None,
        ),
        (
            "PL-0000002",
            "LN-0000002",
            "CCER",
            None,
            50000,
            "CCER-ZY-2025-000002",
            D(2025, 5, 21),
            "active",
            FIRM_A,  # a third-party pledgor: FIRM_A pledges CCER for FIRM_B's loan
            None,
        ),
    ],
    # FIRM_A: SHEA 2024 allocated, 300,000 t pledged, 280,000 t bought before surrendering
    # 1,180,000 t, which leaves exactly the pledged 300,000 t. FIRM_A also buys CCER it pledges.
    "registry_events": [
        ("RE-0000001", D(2024, 1, 31), FIRM_A, "SHEA", 2024, "allocation", 1200000, None),
        (
            "RE-0000002",
            D(2024, 3, 1),
            FIRM_A,
            "SHEA",
            2024,
            "pledge_registered",
            300000,
            "PL-0000001",
        ),
        ("RE-0000003", D(2025, 5, 10), FIRM_A, "CCER", None, "purchase", 60000, None),
        (
            "RE-0000004",
            D(2025, 5, 21),
            FIRM_A,
            "CCER",
            None,
            "pledge_registered",
            50000,
            "PL-0000002",
        ),
        ("RE-0000005", D(2025, 6, 20), FIRM_A, "SHEA", 2024, "purchase", 280000, None),
        ("RE-0000006", D(2025, 6, 27), FIRM_A, "SHEA", 2024, "surrender", 1180000, None),
    ],
}


def frames() -> dict[str, pd.DataFrame]:
    return {
        name: pd.DataFrame(rows, columns=TABLES[name].column_names) for name, rows in ROWS.items()
    }


def write(directory: Path, *, manifest: bool = True) -> Path:
    """Write the tiny market (and a manifest) into ``directory``; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, frame in frames().items():
        data = write_table(name, frame, directory)
        files[TABLES[name].filename] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "rows": len(frame),
        }
    if manifest:
        (directory / "manifest.json").write_text(
            json.dumps({"files": files}, sort_keys=True, indent=1), encoding="utf-8"
        )
    return directory
