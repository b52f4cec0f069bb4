"""A table laid out for the width it is printed at: identifiers and numbers are never cut.

Rich shrinks a table that is wider than the terminal by narrowing its wrappable columns first,
down to nothing, and then every column evenly with an ellipsis: on an 80-column pipe the margin
calls of ``book value`` lost their loan ids and states entirely, and amounts read "61,111,1…".
:class:`FitTable` decides the widths itself when the table is printed, for the width it is
printed at:

* a **kept** column (a row's identifier or state; the first column unless said otherwise) and a
  **numeric** column are as wide as their widest value: never folded, never cut;
* a text column folds, down to :data:`TEXT_MIN_WIDTH` characters;
* a header wraps at its spaces ("top-up cash CNY" on two lines) before anything else gives way;
* then the outer borders go;
* when even that does not fit, whole columns are left out, the ones marked ``optional`` first
  and then from the right (never a kept one), and the table's caption names them, so nothing
  is lost in silence (``--json`` always has every column).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

__all__ = ["TEXT_MIN_WIDTH", "FitColumn", "FitTable"]

#: the narrowest a folding text column is made (characters)
TEXT_MIN_WIDTH = 12


@dataclass(frozen=True)
class FitColumn:
    """One column's header, its cells as text and how it may give way to a narrow terminal."""

    header: str
    cells: tuple[str, ...]
    numeric: bool  # right-justified, never folded
    keep: bool  # an identifier or a state: never folded, never left out
    optional: bool  # left out first when the table cannot fit

    @property
    def widest(self) -> int:
        """The natural width: the widest cell, or the header on one line."""
        return max([cell_len(self.header), *(cell_len(c) for c in self.cells)])

    @property
    def narrowest(self) -> int:
        """The least width: every cell whole (kept and numeric columns) or wrapped at its spaces
        (text; a word longer than :data:`TEXT_MIN_WIDTH` folds), the header's longest word
        whole."""
        word = max((cell_len(w) for w in self.header.split()), default=1)
        if self.keep or self.numeric:
            cell = max((cell_len(c) for c in self.cells), default=1)
        else:  # wrapped at spaces; a longer word folds
            cell = min(max((cell_len(w) for c in self.cells for w in c.split()), default=1),
                       TEXT_MIN_WIDTH)  # fmt: skip
        return max(word, cell)


def _overhead(n_columns: int, edge: bool) -> int:
    """Characters a Rich table with its default box spends on borders and padding (``edge``:
    with its outer borders and their padding)."""
    # two edges, n - 1 separators, one space each side of a cell
    return 3 * n_columns + 1 - (0 if edge else 4)


def _shown(columns: Sequence[FitColumn], width: int, edge: bool) -> list[int]:
    """Indexes of the columns shown at ``width``: optional ones left out first, then others
    from the right, until the narrowest layout fits (kept columns are always shown)."""
    shown = list(range(len(columns)))
    order = [i for i in reversed(shown) if columns[i].optional and not columns[i].keep]
    order += [i for i in reversed(shown) if not columns[i].optional and not columns[i].keep]
    for i in order:
        if sum(columns[j].narrowest for j in shown) + _overhead(len(shown), edge) <= width:
            break
        shown.remove(i)
    return shown


def _widths(columns: Sequence[FitColumn], width: int, edge: bool) -> list[int]:
    """Each column's width: the narrowest, and the room left handed out one character at a
    time to the columns that would use it, first to unfold the values, then the headers."""
    widths = [c.narrowest for c in columns]
    spare = width - _overhead(len(columns), edge) - sum(widths)
    values = [max([widths[i], *(cell_len(v) for v in c.cells)]) for i, c in enumerate(columns)]
    for targets in (values, [c.widest for c in columns]):
        wanting = [i for i in range(len(columns)) if targets[i] > widths[i]]
        while spare > 0 and wanting:
            for i in list(wanting):
                if spare == 0:
                    break
                widths[i] += 1
                spare -= 1
                if widths[i] >= targets[i]:
                    wanting.remove(i)
    return widths


class FitTable:
    """A Rich renderable: the table laid out for the width it is printed at (see the module)."""

    def __init__(self, columns: Sequence[FitColumn], title: str | None = None) -> None:
        self.columns = tuple(columns)
        self.title = title

    def build(self, width: int) -> Table:
        """The Rich table for a terminal (or pipe) ``width`` characters wide."""
        shown = _shown(self.columns, width, edge=True)
        bare = _shown(self.columns, width, edge=False)
        edge = len(shown) >= len(bare)  # the outer borders go where that keeps a column
        shown = shown if edge else bare
        columns = [self.columns[i] for i in shown]
        left_out = [c.header for i, c in enumerate(self.columns) if i not in shown]
        caption = (
            f"left out at {width} columns: {', '.join(left_out)} (shown by a wider terminal "
            "or --json)"
            if left_out
            else None
        )
        out = Table(title=self.title, caption=caption, show_edge=edge, pad_edge=edge)
        for c, w in zip(columns, _widths(columns, width, edge), strict=True):
            header = Text(c.header, no_wrap=False, overflow="fold")
            if c.numeric or c.keep:
                out.add_column(header, width=w, no_wrap=True,
                               justify="right" if c.numeric else "left")  # fmt: skip
            else:
                out.add_column(header, width=w, overflow="fold")
        n_rows = len(self.columns[0].cells) if self.columns else 0
        for r in range(n_rows):
            out.add_row(*(c.cells[r] for c in columns))
        return out

    def __rich_console__(self, console: Any, options: Any) -> Any:
        yield self.build(int(options.max_width))
