"""Loaded rules are immutable and validated; the score's input hash is canonical and complete."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import struct
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from carbonfin.errors import DataIntegrityError, InvalidInputError
from carbonfin.instruments import Instrument
from carbonfin.rules import market_rules
from carbonfin.scoring import DataQuality, Grade, Sector, load_methodology, score_panel
from carbonfin.scoring.methodology import FACTORS, available_versions, parse_methodology
from carbonfin.scoring.score import HASH_ENCODING
from tests.scoring.cards import BENCH, tiny_panel

V1 = resources.files("carbonfin.scoring.methodology").joinpath("v1.toml").read_bytes()


def test_versions_on_file() -> None:
    assert "v1" in available_versions()
    with pytest.raises(InvalidInputError, match="unknown methodology version 'v9'"):
        load_methodology("v9")


# --- issue 9 item 2: the cached methodology cannot be changed in place ------------------------


def test_loaded_methodology_cannot_be_mutated() -> None:
    m = load_methodology("v1")
    with pytest.raises(TypeError):
        m.max_points["efficiency"] = 0.0  # type: ignore[index]
    with pytest.raises(TypeError):
        m.data_quality.tier_value["estimated"] = 1.0  # type: ignore[index]
    with pytest.raises(TypeError):
        m.sources["efficiency"] = "edited"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.efficiency.grade_points_frac = (1.0,) * 5  # type: ignore[misc]
    with pytest.raises(AttributeError):  # a tuple has no item assignment or append
        m.efficiency.grade_upper_bounds.append(9.9)  # type: ignore[attr-defined]
    assert isinstance(m.efficiency.grade_upper_bounds, tuple)
    assert load_methodology("v1") is m  # one shared object, still the file's values
    assert m.max_points["efficiency"] == 35.0
    assert m.efficiency.grade_upper_bounds == (0.6, 0.8, 1.2, 2.0)


def test_market_rules_cannot_be_mutated() -> None:
    rules = market_rules()
    with pytest.raises(TypeError):
        rules[Instrument.SHEA] = rules[Instrument.CEA]  # type: ignore[index]
    with pytest.raises(TypeError):
        rules[Instrument.CEA].sources["lot_size_t"] = "edited"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules[Instrument.CEA].price_limit.listed_frac = 0.5  # type: ignore[misc]
    assert market_rules()[Instrument.CEA].compliance_deadline_month == 12


def test_market_rules_are_validated() -> None:
    from carbonfin.rules import _validate

    good = market_rules()[Instrument.CEA]
    bad_limit = dataclasses.replace(
        good, price_limit=dataclasses.replace(good.price_limit, listed_frac=1.5)
    )
    with pytest.raises(DataIntegrityError, match=r"listed_frac 1.5 not in \(0, 1\)"):
        _validate(bad_limit)
    with pytest.raises(DataIntegrityError, match="compliance_deadline_month 13"):
        _validate(dataclasses.replace(good, compliance_deadline_month=13))


def _edit(old: str, new: str) -> bytes:
    text = V1.decode("utf-8")
    assert old in text
    return text.replace(old, new, 1).encode("utf-8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "grade_upper_bounds = [0.6, 0.8, 1.2, 2.0]",
            "grade_upper_bounds = [0.6, 1.2, 0.8, 2.0]",
            "strictly ascending",
        ),
        (
            "grade_points_frac = [1.0, 0.8, 0.5, 0.2, 0.0]",
            "grade_points_frac = [1.0, 0.8, 0.5, 0.2]",
            "one share per grade",
        ),
        ("[factors.efficiency]\nmax_points = 35", "[factors.efficiency]\nmax_points = 34", "sum"),
        ("late_frac = 0.5", "late_frac = 1.5", r"`late_frac` must be in \[0, 1\]"),
        ("estimated = 0.2", "estimated = -0.2", r"`estimated` must be in \[0, 1\]"),
        ("estimated = 0.2", "guessed = 0.2", "needs exactly the tiers"),
        ("full_points_share = 0.5", "full_points_share = 2", "full_points_share"),
        ("light_green = 65", "light_green = 85", "must ascend"),
        ("zero_points_at = 0.10", "zero_points_at = -0.20", "must be below"),
        ('version = "v1"', 'version = "v2"', "declares version"),
        ("min_firms = 5", "min_firms = 0", "min_firms"),
    ],
    ids=[
        "bounds-not-ascending",
        "grade-shares",
        "weights-99",
        "fraction-above-1",
        "tier-negative",
        "unknown-tier",
        "green-share",
        "colours",
        "change-scale",
        "version",
        "min-firms",
    ],
)
def test_methodology_is_validated_at_load(old: str, new: str, message: str) -> None:
    with pytest.raises(DataIntegrityError, match=message):
        parse_methodology(_edit(old, new), version="v1")


def test_every_published_version_loads_and_sums_to_100() -> None:
    for version in available_versions():
        m = load_methodology(version)
        assert sum(m.max_points.values()) == 100
        assert all(m.sources[f] for f in FACTORS)


def test_content_hash_is_the_blake2b_of_the_file() -> None:
    # BLAKE2b-256 (RFC 7693, digest_size = 32) of the bytes on disk, computed here directly
    assert load_methodology("v1").content_hash == hashlib.blake2b(V1, digest_size=32).hexdigest()


def test_the_methodology_file_enters_every_input_hash() -> None:
    panel = tiny_panel()
    same_rules = parse_methodology(V1 + b"\n# a comment changes the file, not the rules\n")
    a = score_panel(panel, load_methodology("v1"), BENCH)
    b = score_panel(panel, same_rules, BENCH)
    assert (a["score"] == b["score"]).all()
    assert not set(a["input_hash"]) & set(b["input_hash"])


# --- issue 9 item 4: the input hash sees every byte of every input ----------------------------


def test_input_hash_does_not_truncate_and_takes_unicode() -> None:
    # two sector names agreeing on their first 40 bytes (the old hash kept 32 of them)
    left, right = "x" * 40 + "-left", "x" * 40 + "-right"
    panel = pd.concat(
        [tiny_panel().iloc[[1]].assign(sector=left), tiny_panel().iloc[[1]].assign(sector=right)]
    )
    scores = score_panel(panel, "v1", {left: 5e-4, right: 5e-4})
    assert scores["score"].nunique() == 1
    assert scores["input_hash"].nunique() == 2
    # non-ASCII text (the old hash raised UnicodeEncodeError)
    chinese = score_panel(
        tiny_panel().assign(sector="化学原料和化学制品制造业"),
        "v1",
        {"化学原料和化学制品制造业": 5e-4},
    )
    assert chinese["input_hash"].str.fullmatch(r"[0-9a-f]{64}").all()


def test_input_hash_follows_the_documented_encoding() -> None:
    """Recompute one row's hash from the encoding written in ``_row_hash``'s notes."""
    from carbonfin.scoring.score import _HASH_COLUMNS

    m = load_methodology("v1")
    panel = tiny_panel()
    row = score_panel(panel, m, BENCH).iloc[1]
    # derived inputs: the benchmark supplied, and compliance state 0 (= on time: surrendered
    # 2026-06-20, before the 2026-06-30 deadline)
    src = panel.iloc[1].to_dict() | {
        "benchmark_intensity": BENCH["chemical"],
        "compliance_state": 0,
    }
    header = "\0".join((HASH_ENCODING, m.version, m.content_hash, *_HASH_COLUMNS))
    message = header.encode("utf-8")
    text = [c for c in _HASH_COLUMNS if isinstance(src[c], str)]
    for c in text:
        data = src[c].encode("utf-8")
        message += struct.pack("<I", len(data)) + data
    for c in _HASH_COLUMNS:
        if c in text:
            continue
        v = src[c]
        v = float("nan") if v is None or v is pd.NA else float(v)
        message += (
            struct.pack("<d", 0.0 if v == 0 else v)
            if not np.isnan(v)
            else b"\0" * 6 + (b"\xf8\x7f")
        )
    assert row["input_hash"] == hashlib.blake2b(message, digest_size=32).hexdigest()


# --- issue 9 item 13: enum errors are the engine's ---------------------------------------------


@pytest.mark.parametrize("enum_cls", [Sector, Grade, DataQuality], ids=lambda c: c.__name__)
def test_unknown_enum_values_raise_the_engines_error(enum_cls: type) -> None:
    with pytest.raises(
        InvalidInputError, match=re.escape("'x' is not a valid " + enum_cls.__name__)
    ):
        enum_cls("x")
