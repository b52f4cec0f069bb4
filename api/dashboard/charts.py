"""Server-side SVG charts for the dashboard: horizontal bars, a histogram with threshold lines,
and line series over dates. No JavaScript, no fonts, no external reference of any kind.

Every chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` (read by screen
readers), and every bar, bin and point carries its number and unit in a ``<title>`` of its own
(the tooltip a mouse user sees). The page puts a table of the same numbers beside each chart.

Geometry is plain arithmetic on a fixed ``viewBox`` (the SVG scales with its container):

- bars: ``width = value / max(values) × plot_width`` (values below zero are refused: a chart of
  amounts has no negative bar);
- histogram: bins on a linear axis ``x = left + (edge − lo) / (hi − lo) × plot_width``, the open
  last bin drawn as wide as the one before it; threshold lines at the same scale;
- lines: dates on a linear day axis, values on a linear axis from ``min(0, lowest)`` to the
  highest value rounded up to a tick.

Text is escaped (:func:`html.escape`), so a label cannot inject markup.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from carbonfin.errors import InvalidInputError

__all__ = [
    "Bin",
    "Series",
    "Threshold",
    "bar_chart",
    "format_number",
    "histogram",
    "line_chart",
    "nice_ticks",
]

_FONT = 'font-family="sans-serif"'  # the reader's own sans-serif font: nothing is fetched


@dataclass(frozen=True, slots=True)
class Bin:
    """One histogram bin ``[lo, hi)`` (``hi`` None: open to the right) and its count."""

    lo: float
    hi: float | None
    count: int


@dataclass(frozen=True, slots=True)
class Threshold:
    """A vertical line at ``value`` on a histogram's axis, with its label."""

    value: float
    label: str
    kind: str = "warning"  # CSS class suffix: warning, margin-call, liquidation, target


@dataclass(frozen=True, slots=True)
class Series:
    """A named line: ``points`` as (date, value), in date order."""

    name: str
    points: tuple[tuple[dt.date, float], ...]
    kind: str = "a"  # CSS class suffix (colour)


def format_number(value: float, decimals: int = 0) -> str:
    """``1234567.891`` → ``"1,234,568"`` (``decimals`` places); NaN → ``"n/a"``."""
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if not math.isfinite(value):
        return "n/a"
    return f"{value:,.{decimals}f}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]``: steps of 1, 2, 2.5 or 5 × 10^k, about ``count``
    of them; the first tick ≤ ``lo`` and the last ≥ ``hi``.

    Raises
    ------
    InvalidInputError
        ``lo`` or ``hi`` not finite, ``hi`` < ``lo`` or ``count`` < 2.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo or count < 2:
        raise InvalidInputError(f"nice_ticks needs finite lo <= hi and count >= 2; got {lo}, {hi}")
    if hi - lo <= max(abs(lo), abs(hi), 1.0) * 1e-9:  # one value: a range around it
        hi = lo + max(abs(lo) * 0.1, 1.0)
    raw = (hi - lo) / (count - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw * (1 - 1e-12))
    digits = max(0, 2 - math.floor(math.log10(step)))
    first = math.floor(lo / step + 1e-12)
    last = math.ceil(hi / step - 1e-12)
    return [round(k * step, digits) for k in range(first, last + 1)]


def _svg_open(chart_id: str, width: int, height: int, title: str, desc: str) -> str:
    cid = escape(chart_id)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart" id="{cid}" role="img" aria-labelledby="{cid}-title {cid}-desc" '
        f'preserveAspectRatio="xMinYMin meet">'
        f'<title id="{cid}-title">{escape(title)}</title>'
        f'<desc id="{cid}-desc">{escape(desc)}</desc>'
    )


def _empty(chart_id: str, title: str, message: str, width: int = 560) -> str:
    return (
        _svg_open(chart_id, width, 60, title, message)
        + f'<text x="10" y="35" class="empty" {_FONT} font-size="13">{escape(message)}</text></svg>'
    )


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    chart_id: str,
    title: str,
    unit: str,
    scale: float = 1.0,
    scale_label: str = "",
    decimals: int = 0,
    width: int = 560,
) -> str:
    """Horizontal bars, one per ``(label, value)``, in the order given.

    Parameters
    ----------
    bars
        Labels and values (>= 0) in ``unit``; NaN bars are drawn as "n/a" with no bar.
    chart_id, title
        The SVG's id and accessible title.
    unit
        The values' unit, e.g. ``"CNY"``; the tooltips say it.
    scale, scale_label
        The values are divided by ``scale`` for the printed figures, e.g. ``1e6`` and
        ``"m CNY"``; the tooltips keep the full value.
    decimals
        Decimal places of the printed figures.

    Raises
    ------
    InvalidInputError
        A negative value.
    """
    if not bars:
        return _empty(chart_id, title, "no data")
    values = [float(v) for _, v in bars]
    if any(v < 0 for v in values if math.isfinite(v)):
        raise InvalidInputError(f"bar_chart draws amounts >= 0; got {min(values)} in {title!r}")
    row, label_w, value_w = 24, 150, 90
    plot_w = width - label_w - value_w
    height = row * len(bars) + 12
    top = max((v for v in values if math.isfinite(v)), default=0.0)
    parts = [_svg_open(chart_id, width, height, title, f"{title}, {len(bars)} bars, in {unit}")]
    for i, ((label, _), v) in enumerate(zip(bars, values, strict=True)):
        y = 6 + i * row
        w = v / top * plot_w if top > 0 and math.isfinite(v) else 0.0
        shown = format_number(v / scale, decimals) + (f" {scale_label}" if scale_label else "")
        tip = f"{label}: {format_number(v, 2)} {unit}"
        lab = escape(label if len(label) <= 22 else label[:21] + "…")
        parts.append(
            f'<g class="bar-row"><title>{escape(tip)}</title>'
            f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" {_FONT} '
            f'font-size="12">{lab}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.2f}" height="{row - 8}" '
            f'data-value="{v!r}"/>'
            f'<text x="{label_w + w + 4:.2f}" y="{y + 16}" {_FONT} font-size="12">'
            f"{escape(shown)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    bins: Sequence[Bin],
    *,
    chart_id: str,
    title: str,
    x_label: str,
    thresholds: Sequence[Threshold] = (),
    width: int = 560,
    height: int = 240,
) -> str:
    """Vertical bars for contiguous bins, with dashed vertical lines at ``thresholds``.

    Raises
    ------
    InvalidInputError
        Bins not contiguous and increasing, an open bin that is not the last, a negative count.
    """
    if not bins:
        return _empty(chart_id, title, "no data")
    for a, b in itertools.pairwise(bins):
        if a.hi is None or a.hi != b.lo or a.hi <= a.lo:
            raise InvalidInputError(f"histogram bins must be contiguous and increasing: {a}, {b}")
    if any(b.count < 0 for b in bins):
        raise InvalidInputError("histogram counts must be >= 0")
    last = bins[-1]
    last_w = (last.hi - last.lo) if last.hi is not None else (
        (bins[-2].hi or 0.0) - bins[-2].lo if len(bins) > 1 else 1.0
    )  # fmt: skip
    lo, hi = bins[0].lo, last.lo + last_w
    left, right, top, bottom = 40, 10, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    ymax = nice_ticks(0.0, float(max(max(b.count for b in bins), 1)), 4)[-1]

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    def y(c: float) -> float:
        return top + plot_h - c / ymax * plot_h

    total = sum(b.count for b in bins)
    parts = [
        _svg_open(chart_id, width, height, title, f"{title}: {total} in {len(bins)} bins"),
        *_y_axis(nice_ticks(0.0, ymax, 4), y, left, width - right, lambda t: f"{t:g}"),
    ]
    for b in bins:
        x0, x1 = x(b.lo), x(b.hi if b.hi is not None else b.lo + last_w)
        rng = f"{b.lo:g}–{b.hi:g}" if b.hi is not None else f"≥ {b.lo:g}"
        parts.append(
            f'<g class="bin"><title>{escape(f"{x_label} {rng}: {b.count}")}</title>'
            f'<rect class="bar" x="{x0 + 1:.2f}" y="{y(b.count):.2f}" width="{x1 - x0 - 2:.2f}" '
            f'height="{top + plot_h - y(b.count):.2f}" data-value="{b.count}"/></g>'
        )
    edges = [b.lo for b in bins] + ([last.hi] if last.hi is not None else [])
    step = max(1, math.ceil(len(edges) / 8))
    for e in edges[::step]:
        parts.append(
            f'<text x="{x(e):.2f}" y="{top + plot_h + 14}" text-anchor="middle" {_FONT} '
            f'font-size="11">{e:g}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.2f}" y="{height - 6}" text-anchor="middle" {_FONT} '
        f'font-size="12">{escape(x_label)}</text>'
    )
    for i, t in enumerate(thresholds):
        tx = x(t.value)
        lx = left + i * (plot_w / max(len(thresholds), 1))
        parts.append(
            f'<g class="threshold threshold-{escape(t.kind)}" data-value="{t.value!r}">'
            f"<title>{escape(f'{t.label}: {t.value:g}')}</title>"
            f'<line x1="{tx:.2f}" y1="{top}" x2="{tx:.2f}" y2="{top + plot_h}"/>'
            f'<line x1="{lx:.2f}" y1="{top - 16}" x2="{lx + 18:.2f}" y2="{top - 16}"/>'
            f'<text x="{lx + 22:.2f}" y="{top - 12}" {_FONT} font-size="11">'
            f"{escape(t.label)} {t.value:g}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _y_axis(
    ticks: Sequence[float],
    y: Callable[[float], float],
    left: float,
    right: float,
    fmt: Callable[[float], str],
) -> list[str]:
    out = []
    for t in ticks:
        yy = y(t)
        out.append(
            f'<line class="grid" x1="{left}" y1="{yy:.2f}" x2="{right}" y2="{yy:.2f}"/>'
            f'<text x="{left - 4}" y="{yy + 4:.2f}" text-anchor="end" {_FONT} font-size="11">'
            f"{escape(fmt(t))}</text>"
        )
    return out


def line_chart(
    series: Sequence[Series],
    *,
    chart_id: str,
    title: str,
    y_label: str,
    markers: Sequence[tuple[dt.date, float, str]] = (),
    scale: float = 1.0,
    from_zero: bool = True,
    width: int = 560,
    height: int = 240,
) -> str:
    """Lines over dates with optional point markers (e.g. the mark used by a valuation).

    ``y_label`` names the unit as printed (values divided by ``scale``); tooltips print the
    full value.

    Raises
    ------
    InvalidInputError
        A series whose dates are not increasing.
    """
    pts = [p for s in series for p in s.points] + [(d, v) for d, v, _ in markers]
    finite = [(d, v) for d, v in pts if math.isfinite(v)]
    if not finite:
        return _empty(chart_id, title, "no data")
    for s in series:
        if any(a[0] >= b[0] for a, b in itertools.pairwise(s.points)):
            raise InvalidInputError(f"series {s.name!r}: dates must be increasing")
    d0 = min(d for d, _ in finite).toordinal()
    d1 = max(d for d, _ in finite).toordinal()
    d1 = d1 if d1 > d0 else d0 + 1
    low = min(v for _, v in finite) / scale
    ticks = nice_ticks(min(0.0, low) if from_zero else low, max(v for _, v in finite) / scale)
    left, right, top, bottom = 56, 12, 24, 36
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(d: dt.date) -> float:
        return left + (d.toordinal() - d0) / (d1 - d0) * plot_w

    def y(v: float) -> float:
        return top + plot_h - (v / scale - ticks[0]) / (ticks[-1] - ticks[0]) * plot_h

    desc = f"{title}; " + "; ".join(f"{s.name}: {len(s.points)} points" for s in series)
    parts = [
        _svg_open(chart_id, width, height, title, desc),
        *_y_axis(ticks, lambda t: y(t * scale), left, width - right, lambda t: f"{t:,g}"),
    ]
    for d in _date_ticks(dt.date.fromordinal(d0), dt.date.fromordinal(d1)):
        parts.append(
            f'<text x="{x(d):.2f}" y="{top + plot_h + 14}" text-anchor="middle" {_FONT} '
            f'font-size="11">{d:%Y-%m}</text>'
        )
    parts.append(f'<text x="6" y="{top - 8}" {_FONT} font-size="12">{escape(y_label)}</text>')
    if len(series) > 1:  # a legend: a short line of each series' colour and its name
        lx = left + 60.0
        for s in series:
            parts.append(
                f'<g class="series series-{escape(s.kind)} legend">'
                f'<path d="M{lx:.1f},{top - 12} L{lx + 16:.1f},{top - 12}" fill="none"/>'
                f'<text x="{lx + 20:.1f}" y="{top - 8}" {_FONT} font-size="11">'
                f"{escape(s.name)}</text></g>"
            )
            lx += 28 + 6.2 * len(s.name)
    for s in series:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x(d):.1f},{y(v):.1f}"
            for i, (d, v) in enumerate(p for p in s.points if math.isfinite(p[1]))
        )
        last = s.points[-1]
        tip = f"{s.name}: {len(s.points)} points, last {last[0]} {format_number(last[1], 2)}"
        parts.append(
            f'<g class="series series-{escape(s.kind)}"><title>{escape(tip)}</title>'
            f'<path d="{path}" fill="none"/></g>'
        )
    for d, v, label in markers:
        parts.append(
            f'<g class="marker"><title>{escape(f"{label}: {d} {format_number(v, 2)}")}</title>'
            f'<circle cx="{x(d):.2f}" cy="{y(v):.2f}" r="5" data-value="{v!r}"/></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _date_ticks(start: dt.date, end: dt.date) -> list[dt.date]:
    """First days of months between ``start`` and ``end``, at most about six of them."""
    months = (end.year - start.year) * 12 + end.month - start.month
    step = max(1, math.ceil(months / 6))
    out = []
    y, m = start.year, start.month + 1
    if m > 12:
        y, m = y + 1, 1
    while (y, m) <= (end.year, end.month):
        out.append(dt.date(y, m, 1))
        m += step
        while m > 12:
            y, m = y + 1, m - 12
    return out
