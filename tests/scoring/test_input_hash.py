"""The input hash against a per-row reference written from the spec.

The reference (:func:`reference_hash`) follows the encoding as documented in
``carbonfin.scoring.input_hash.row_hash`` and docs/scoring-methodology.md, one row at a time
with ``struct`` and ``hashlib.blake2b``; it calls no production code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import struct

import numpy as np
import pandas as pd

from carbonfin.data import load_table
from carbonfin.scoring import build_panel, factors, load_methodology, score_panel
from carbonfin.scoring.factors import PanelInputs
from carbonfin.scoring.input_hash import row_hash
from carbonfin.scoring.score import _HASH_COLUMNS, _attach_benchmarks

AS_OF = dt.date(2026, 11, 26)


def reference_hash(frame: pd.DataFrame, columns: list[str], version: str, file_hash: str) -> list:
    """Encoding carbonfin-score-input/2, written out from its documentation."""
    head = "\0".join(("carbonfin-score-input/2", version, file_hash, *columns)).encode("utf-8")
    text = [
        c for c in columns if frame[c].dtype == object or isinstance(frame[c].dtype, pd.StringDtype)
    ]
    out = []
    for _, row in frame.iterrows():
        message = head
        for c in text:
            value = row[c]
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                message += b"\xff\xff\xff\xff"
            else:
                data = str(value).encode("utf-8")
                message += struct.pack("<I", len(data)) + data
        for c in columns:
            if c in text:
                continue
            value = row[c]
            x = math.nan if value is None or pd.isna(value) else float(value)
            if math.isnan(x):
                message += bytes.fromhex("000000000000f87f")  # the one quiet NaN, little-endian
            elif x == 0.0:
                message += bytes(8)  # +0.0 for both zeros
            else:
                message += struct.pack("<d", x)
        out.append(hashlib.blake2b(message, digest_size=32).hexdigest())
    return out


# --- row_hash follows the documented encoding ---------------------------------------------------


def _edge_frame() -> pd.DataFrame:
    nan_payload = np.frombuffer(bytes.fromhex("010000000000f07f"), dtype="<f8")[0]  # signalling
    negative_nan = np.frombuffer(bytes.fromhex("000000000000f8ff"), dtype="<f8")[0]
    return pd.DataFrame(
        {
            "name": [
                "a\0b",
                "a",
                "",
                None,
                "化学原料和化学制品制造业",
                "e\u0301 🌍",
                "x" * 300,
                pd.NA,
                np.nan,
                "\0",
            ],
            "other": ["b", "\0b", None, "", "", "z", "y", "w", "v", "u"],
            "value": [1.5, 1.5, -0.0, 0.0, np.nan, nan_payload, negative_nan, 1e308, -1.0, 0.1],
            "flag": [True, False, True, False, True, False, True, False, True, False],
            "count": pd.array([1, 2, None, 4, 5, 6, 7, 8, 9, 10], dtype="Int64"),
        }
    )


def test_row_hash_matches_the_reference_at_the_edges() -> None:
    m = load_methodology("v1.1")
    frame = _edge_frame()
    columns = ["name", "value", "other", "flag", "count"]
    assert row_hash(frame, columns, m) == reference_hash(frame, columns, m.version, m.content_hash)


def test_row_hash_is_injective_where_the_inputs_differ() -> None:
    m = load_methodology("v1.1")
    frame = _edge_frame()
    got = row_hash(frame, ["name", "other", "value"], m)
    # ("a\0b", "b") against ("a", "\0b"): same concatenated bytes, different texts
    assert got[0] != got[1]
    # empty text against missing text (rows 2 and 3 swap "" and None across the two columns)
    assert got[2] != got[3]
    # a missing value written as None, pd.NA or NaN is the same missing value
    same = pd.DataFrame({"name": [None, pd.NA, np.nan], "value": [1.0, 1.0, 1.0]}, dtype=object)
    same["value"] = same["value"].astype(float)
    assert len(set(row_hash(same, ["name", "value"], m))) == 1
    # -0.0 and 0.0 are one number; every NaN payload is one missing value (canonical, by design)
    zeros = pd.DataFrame({"value": [0.0, -0.0]})
    assert len(set(row_hash(zeros, ["value"], m))) == 1
    nans = pd.DataFrame({"value": _edge_frame()["value"].iloc[[4, 5, 6]].to_numpy()})
    assert len(set(row_hash(nans, ["value"], m))) == 1
    # Unicode: composed and decomposed forms are different texts
    accents = pd.DataFrame({"name": ["\u00e9", "e\u0301"]})
    assert len(set(row_hash(accents, ["name"], m))) == 2


def test_sample_market_hashes_match_the_reference_and_the_stored_digest() -> None:
    tables = ("firms", "facilities", "facility_emissions", "firm_years", "compliance")
    panel = build_panel({name: load_table(name) for name in tables})
    m = load_methodology("v1.1")
    scores = score_panel(panel, m, as_of=AS_OF)
    # the hashed inputs as score_panel derives them (benchmark attached, compliance state)
    df = _attach_benchmarks(panel, m, None)
    df["compliance_state"] = factors.compliance_state(PanelInputs.from_frame(df), m, AS_OF)
    expected = reference_hash(df, _HASH_COLUMNS, m.version, m.content_hash)
    assert list(scores["input_hash"]) == expected
    # the same hashes as the per-row hashlib code before issue 21 (main at d0e5cc2) wrote them:
    # BLAKE2b-256 of all 4,480 hex digests joined by newlines, computed with that code
    joined = "\n".join(scores["input_hash"]).encode()
    assert hashlib.blake2b(joined, digest_size=32).hexdigest() == STORED_V2_DIGEST


STORED_V2_DIGEST = "148dc9eb7066cb2bdf048a893fc6a776aaa5048af05841a334b049fee3e4b981"


def test_row_hash_of_mostly_distinct_and_mixed_texts_matches_the_reference() -> None:
    # > 1000 mostly distinct texts take the per-row path; mixed types (1, True, 1.0, "1") are
    # never merged by value: each is hashed as its own str()
    m = load_methodology("v1.1")
    n = 1500
    names: list[object] = [f"公司{i}\0{'é' * (i % 7)}" for i in range(n)]
    names[3], names[5], names[8] = None, "", pd.NA
    mixed: list[object] = [[1, True, 1.0, "1", None, False, 0][i % 7] for i in range(n)]
    frame = pd.DataFrame({"name": names, "mixed": mixed, "value": np.arange(n) * -0.5})
    columns = ["name", "mixed", "value"]
    got = row_hash(frame, columns, m)
    assert got == reference_hash(frame, columns, m.version, m.content_hash)
