"""The SVG chart module against geometry worked by hand: bar lengths, bin and threshold positions,
line coordinates, tick steps; labels escaped; every chart well-formed XML with a title."""

from __future__ import annotations

import datetime as dt
import itertools
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.dashboard.charts import (
    Bin,
    Series,
    Threshold,
    bar_chart,
    format_number,
    histogram,
    line_chart,
    nice_ticks,
)
from carbonfin.errors import InvalidInputError

NS = {"s": "http://www.w3.org/2000/svg"}


def _svg(markup: str) -> ET.Element:
    root = ET.fromstring(markup)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img"
    assert root.find("s:title", NS) is not None
    assert root.find("s:desc", NS) is not None
    return root


def test_bars_are_proportional_to_their_values() -> None:
    # width 560 = label column 150 + plot 320 + value column 90: 100 fills the plot, 50 half
    root = _svg(bar_chart([("a", 50.0), ("b", 100.0)], chart_id="t", title="T", unit="CNY"))
    widths = [float(r.get("width", "nan")) for r in root.iterfind(".//s:rect", NS)]
    assert widths == [160.0, 320.0]
    tips = [t.text for t in root.iterfind(".//s:g/s:title", NS)]
    assert tips == ["a: 50.00 CNY", "b: 100.00 CNY"]


def test_bar_figures_are_scaled_and_tooltips_keep_the_full_value() -> None:
    root = _svg(
        bar_chart(
            [("BANK-01", 1_234_567.0)],
            chart_id="t",
            title="T",
            unit="CNY",
            scale=1e6,
            scale_label="m",
            decimals=1,
        )
    )
    texts = [t.text for t in root.iterfind(".//s:text", NS)]
    assert "1.2 m" in texts
    assert root.find(".//s:g/s:title", NS).text == "BANK-01: 1,234,567.00 CNY"  # type: ignore[union-attr]


def test_histogram_bins_and_threshold_lines_on_one_scale() -> None:
    # axis 0 … 1.5 (the open last bin as wide as the one before), plot x from 40 to 550 (510 px)
    bins = [Bin(0.0, 0.5, 2), Bin(0.5, 1.0, 4), Bin(1.0, None, 1)]
    root = _svg(
        histogram(
            bins,
            chart_id="h",
            title="H",
            x_label="u",
            thresholds=[Threshold(1.2, "liquidation", "liquidation")],
        )
    )
    rects = list(root.iterfind(".//s:rect", NS))
    # bin k starts at 40 + lo/1.5 × 510, drawn 1 px inside each edge
    assert [float(r.get("x", "nan")) for r in rects] == [41.0, 211.0, 381.0]
    assert [int(r.get("data-value", "-1")) for r in rects] == [2, 4, 1]
    # y axis up to 4 (ticks 0, 1, …, 4): the bar of 4 is the full plot height 240 − 28 − 44
    assert float(rects[1].get("height", "nan")) == pytest.approx(168.0)
    line = root.find(".//s:g[@class='threshold threshold-liquidation']/s:line", NS)
    assert line is not None
    assert float(line.get("x1", "nan")) == pytest.approx(40 + 1.2 / 1.5 * 510)


def test_line_chart_coordinates() -> None:
    # plot x 56 … 548 over 10 days, y 204 (value 0) … 24 (value 100, the top tick)
    s = Series("close", ((dt.date(2026, 1, 1), 0.0), (dt.date(2026, 1, 11), 100.0)))
    root = _svg(
        line_chart(
            [s],
            chart_id="l",
            title="L",
            y_label="CNY/t",
            markers=[(dt.date(2026, 1, 6), 50.0, "mark")],
        )
    )
    path = root.find(".//s:path", NS)
    assert path is not None
    assert path.get("d") == "M56.0,204.0 L548.0,24.0"
    circle = root.find(".//s:circle", NS)
    assert circle is not None
    assert (float(circle.get("cx", "nan")), float(circle.get("cy", "nan"))) == (302.0, 114.0)


@pytest.mark.parametrize(
    ("lo", "hi", "count", "expected"),
    [
        (0.0, 37.0, 5, [0.0, 10.0, 20.0, 30.0, 40.0]),  # step 9.25 → 10
        (0.0, 1.0, 4, [0.0, 0.5, 1.0]),  # step 0.33 → 0.5
        (0.0, 100.0, 5, [0.0, 25.0, 50.0, 75.0, 100.0]),  # step 25 exactly
        (-3.0, 3.0, 4, [-4.0, -2.0, 0.0, 2.0, 4.0]),  # step 2
    ],
    ids=["37", "unit", "hundred", "around-zero"],
)
def test_nice_ticks(lo: float, hi: float, count: int, expected: list[float]) -> None:
    assert nice_ticks(lo, hi, count) == expected


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-1e9, 1e9, allow_nan=False),
    st.floats(0, 1e9, allow_nan=False),
    st.integers(2, 8),
)
def test_nice_ticks_cover_the_range(lo: float, span: float, count: int) -> None:
    ticks = nice_ticks(lo, lo + span, count)
    # within a billionth of the range (the ticks snap values that close to a round number)
    slack = 1e-9 * max(1.0, abs(lo), span)
    assert ticks[0] <= lo + slack
    assert ticks[-1] >= lo + span - slack
    assert all(a < b for a, b in itertools.pairwise(ticks))


def test_labels_are_escaped() -> None:
    evil = '<script>alert("x")</script>&'
    markup = bar_chart([(evil, 1.0)], chart_id="x", title=evil, unit="CNY")
    assert "<script" not in markup
    root = _svg(markup)  # still well-formed
    assert root.find("s:title", NS).text == evil  # type: ignore[union-attr]


def test_empty_and_bad_input() -> None:
    root = _svg(bar_chart([], chart_id="e", title="E", unit="CNY"))
    assert root.find(".//s:text", NS).text == "no data"  # type: ignore[union-attr]
    with pytest.raises(InvalidInputError, match="amounts >= 0"):
        bar_chart([("a", -1.0)], chart_id="n", title="N", unit="CNY")
    with pytest.raises(InvalidInputError, match="contiguous"):
        histogram([Bin(0, 1, 1), Bin(2, 3, 1)], chart_id="b", title="B", x_label="u")
    with pytest.raises(InvalidInputError, match="increasing"):
        line_chart(
            [Series("s", ((dt.date(2026, 1, 2), 1.0), (dt.date(2026, 1, 1), 2.0)))],
            chart_id="l", title="L", y_label="x",
        )  # fmt: skip


def test_format_number() -> None:
    assert format_number(1234567.891, 2) == "1,234,567.89"
    assert format_number(float("nan")) == "n/a"
    assert format_number(float("inf")) == "∞"
