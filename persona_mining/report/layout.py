"""Tables that fit the terminal they are drawn in: words are never broken, rows are never
hidden without saying so.

Rich shares a too-narrow width between text columns evenly and folds words to fit
(`Budget-consc / ious`), and squeezes ratio columns to one character when many compete.
`FittedTable` instead chooses its column widths when it is drawn, from the console's width:
numbers keep their width; text columns get at least their longest word, then the rest where
it saves the most lines; only when even that does not fit is a long word cut, and then with
an ellipsis. `BoxTable` draws query results as the DuckDB shell does: one line per
row, each cell cut with an ellipsis, middle columns left out when they cannot all fit, and
the row and column counts under the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import (
    Console,
    ConsoleOptions,
    Group,
    JustifyMethod,
    RenderableType,
    RenderResult,
)
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

#: A text column is never narrower than this when it must give up width (its words then end
#: in an ellipsis): narrower, a cell reads as noise.
MIN_TEXT_WIDTH = 6
#: The most lines a cell of a `FittedTable` takes; a longer text ends its last line in an
#: ellipsis (the whole text is in `--format csv` and `json`).
MAX_CELL_LINES = 3
#: The widest a query result's cell is drawn (the DuckDB shell's habit); the rest is cut.
BOX_CELL_WIDTH = 32
#: The narrowest a query result's column is cut to before columns are left out: fewer
#: columns that can be read beat many that cannot.
BOX_MIN_WIDTH = 16


@dataclass(frozen=True)
class Column:
    """A column of a `FittedTable`.

    Attributes:
        header: its name.
        numeric: right-aligned and never wrapped (numbers, intervals, short identifiers).
    """

    header: str
    numeric: bool = False


def as_text(value: Text | str) -> Text:
    """A cell as `Text`; a `str` from the warehouse is never parsed as markup."""
    return value if isinstance(value, Text) else Text(str(value))


def longest_word(text: Text | str) -> int:
    """The cell width of the longest whitespace-separated word."""
    plain = text.plain if isinstance(text, Text) else text
    return max((cell_len(word) for word in plain.split()), default=0)


def natural_width(text: Text | str) -> int:
    """The cell width of the longest line, drawn without wrapping."""
    plain = text.plain if isinstance(text, Text) else text
    return max((cell_len(line) for line in plain.splitlines()), default=0)


@lru_cache(maxsize=65536)
def wrapped_lines(text: str, width: int) -> int:
    """The lines a text takes when wrapped at word boundaries to `width` cells."""
    lines = 0
    for paragraph in text.splitlines() or [""]:
        lines += 1
        used = 0
        for word in paragraph.split():
            size = cell_len(word)
            if used and used + 1 + size > width:
                lines += 1
                used = 0
            used = size if not used else used + 1 + size
    return lines


def plan_widths(
    natural: Sequence[int],
    minimum: Sequence[int],
    fixed: Sequence[bool],
    available: int,
    cells: Sequence[Sequence[str]] = (),
) -> list[int]:
    """Column widths that add up to at most `available` where that is possible.

    Every column gets its natural width when all fit. Otherwise fixed columns keep theirs,
    flexible ones start from their minimum (their longest word), then share what is left
    where it saves the most lines over all `cells` (the rows, each a list of the columns'
    texts; a row is as tall as its tallest cell, and fewer lines in all settle ties), and
    what saves none goes to the columns furthest from their natural width. When even the minimums do not fit, the flexible columns give up width in
    proportion to their size, down to `MIN_TEXT_WIDTH`.
    """
    if sum(natural) <= available:
        return list(natural)
    widths = [n if f else min(m, n) for n, m, f in zip(natural, minimum, fixed, strict=True)]
    spare = available - sum(widths)
    flexible = [i for i, f in enumerate(fixed) if not f]

    def height(trial: list[int]) -> int:
        """The lines of the rows, then (to settle ties) the lines of every cell."""
        lines = [[wrapped_lines(row[i], trial[i]) for i in flexible] for row in cells]
        return sum(max(row, default=1) * 1000 + sum(row) for row in lines)

    if spare > 0 and len(flexible) == 2 and cells:
        # Two text columns (the usual case): try every split of the spare width.
        first, second = flexible
        reach = [min(spare, natural[i] - widths[i]) for i in flexible]

        def cost(extra: int) -> tuple[int, int]:
            trial = list(widths)
            trial[first] += extra
            trial[second] += min(reach[1], spare - extra)
            deficit = max(natural[i] - trial[i] for i in flexible)
            return height(trial), deficit

        extra = min(range(reach[0] + 1), key=cost)
        widths[first] += extra
        widths[second] += min(reach[1], spare - extra)
        spare = available - sum(widths)
    current = height(widths) if spare >= 0 else 0
    while spare > 0:
        # The widening that saves the most lines per cell spent, looking past widths that
        # save none (a word moves up a line only once the whole word fits).
        best: tuple[float, int, int] | None = None
        for i in flexible:
            for step in range(1, min(spare, natural[i] - widths[i]) + 1):
                trial = list(widths)
                trial[i] += step
                saved = current - height(trial)
                if saved > 0:
                    if best is None or saved / step > best[0]:
                        best = (saved / step, i, step)
                    break
        if best is None:  # no line to save: the rest to the columns furthest from natural
            short = [i for i in flexible if widths[i] < natural[i]]
            if not short:
                break
            widths[max(short, key=lambda i: natural[i] - widths[i])] += 1
            spare -= 1
            continue
        _, column, step = best
        widths[column] += step
        spare -= step
        current = height(widths)
    if spare >= 0:
        return widths
    excess = -spare
    room = {i: max(0, widths[i] - MIN_TEXT_WIDTH) for i in flexible}
    total = sum(room.values())
    if total:
        taken = {i: min(room[i], -(-excess * room[i] // total)) for i in flexible}
        for i in flexible:
            widths[i] -= taken[i]
    return widths


class FittedTable:
    """A table for people that chooses its column widths for the width it is drawn at.

    Text wraps at word boundaries; a word too long for its column ends in an ellipsis.
    """

    def __init__(
        self,
        columns: Sequence[Column],
        rows: Iterable[Sequence[Text | str]],
        *,
        title: str | None = None,
        title_justify: JustifyMethod = "center",
    ) -> None:
        self.columns = list(columns)
        self.rows = [[as_text(cell) for cell in row] for row in rows]
        self.title = title
        self.title_justify = title_justify

    def widths(self, available: int) -> list[int]:
        """The column widths (padding excluded) for a table at most `available` cells wide."""
        n = len(self.columns)
        # No edge; between two columns a space and one cell of padding (collapsed).
        overhead = 2 * (n - 1)
        natural, minimum = [], []
        for i, column in enumerate(self.columns):
            cells = [row[i] for row in self.rows]
            natural.append(max([cell_len(column.header), *map(natural_width, cells)]))
            minimum.append(max([longest_word(column.header), *map(longest_word, cells)]))
        fixed = [c.numeric for c in self.columns]
        texts = [[cell.plain for cell in row] for row in self.rows]
        return plan_widths(natural, minimum, fixed, available - overhead, texts)

    def table(self, available: int, console: Console | None = None) -> Table:
        """The rich table drawn at most `available` cells wide.

        With the `console` it is drawn on, a text cell longer than `MAX_CELL_LINES` lines at
        its width is cut to that many, the last ending in an ellipsis.
        """
        widths = self.widths(available)
        rows = self.rows
        if console is not None:
            rows = [
                [
                    cell if column.numeric else _cap_lines(console, cell, width)
                    for cell, column, width in zip(row, self.columns, widths, strict=True)
                ]
                for row in rows
            ]
        # A blank line between rows once a cell wraps, so that each row reads as one.
        wraps = any(
            natural_width(row[i]) > width
            for row in rows
            for i, width in enumerate(widths)
            if not self.columns[i].numeric
        )
        view = Table(
            title=self.title,
            title_justify=self.title_justify,
            box=box.SIMPLE_HEAD,
            header_style="bold",
            pad_edge=False,
            show_edge=False,
            collapse_padding=True,
            leading=1 if wraps else 0,
        )
        for column, width in zip(self.columns, widths, strict=True):
            if column.numeric:
                view.add_column(column.header, justify="right", no_wrap=True)
            else:
                view.add_column(column.header, width=width, overflow="ellipsis")
        for row in rows:
            view.add_row(*row)
        return view

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.table(options.max_width, console)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table(options.max_width))


def _cap_lines(console: Console, cell: Text, width: int) -> Text:
    """The cell as it wraps at `width`, cut to `MAX_CELL_LINES` lines, the last ending in "…"."""
    if width <= 0:
        return cell
    lines = cell.wrap(console, width, overflow="ellipsis")
    if len(lines) <= MAX_CELL_LINES:
        return cell
    kept = list(lines)[:MAX_CELL_LINES]
    last = kept[-1]
    last.rstrip()
    if last.cell_len >= width:
        last.truncate(width - 1)
        last.rstrip()
    last.append("…")
    return Text("\n").join(kept)


def hidden_rows_note(shown: int, total: int, hint: str) -> Text:
    """The line under a table that shows only its first rows: how many, and how to see all."""
    return Text(f"{shown:,} of {total:,} rows shown; {hint}", style="dim")


def with_note(table: RenderableType, note: Text | None) -> RenderableType:
    """The table, then its note when there is one."""
    return table if note is None else Group(table, note)


# Query results, as the DuckDB shell draws them ------------------------------------------------


def box_value(value: Any) -> str:
    """One value of a query result on one line, as the DuckDB shell writes it."""
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return " ".join(str(value).split()) if isinstance(value, str) else str(value).replace("\n", " ")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


class BoxTable:
    """A query result boxed like the DuckDB shell's: one line per row, cut cells, counts below.

    Each column is as wide as its widest value up to `BOX_CELL_WIDTH`; when they do not all
    fit, the widest are cut further, down to `BOX_MIN_WIDTH`, and then columns in the middle
    are left out (a `…` column stands for them) so that the first and the last stay in view.
    """

    def __init__(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        types: Sequence[str] = (),
        total_rows: int | None = None,
        hint: str = "",
    ) -> None:
        self.columns = list(columns)
        self.types = [t.lower() for t in types]
        self.cells = [[box_value(v) for v in row] for row in rows]
        self.numeric = [
            any(_is_number(row[i]) for row in rows)
            and all(row[i] is None or _is_number(row[i]) for row in rows)
            for i in range(len(self.columns))
        ]
        self.total_rows = len(rows) if total_rows is None else total_rows
        self.hint = hint

    def layout(self, available: int) -> tuple[list[int | None], list[int]]:
        """The columns drawn (None: the `…` column) and the width of each (padding excluded)."""
        natural = [
            min(
                BOX_CELL_WIDTH,
                max([cell_len(c), *self._type_len(i), *(cell_len(r[i]) for r in self.cells)]),
            )
            for i, c in enumerate(self.columns)
        ]
        order = _outside_in(len(self.columns))
        for keep in range(len(order), 0, -1):
            chosen = sorted(order[:keep])
            shown: list[int | None] = list(chosen)
            if keep < len(order):  # the columns left out are the middle ones
                gap = next((j for j in range(1, keep) if chosen[j] != chosen[j - 1] + 1), keep)
                shown.insert(gap, None)
            # each column: its width plus a space either side, plus one border; one more border
            room = available - 1 - 3 * len(shown)
            widths = [1 if i is None else natural[i] for i in shown]
            while sum(widths) > room and max(widths) > BOX_MIN_WIDTH:
                widest = max(range(len(widths)), key=lambda j: widths[j])
                widths[widest] -= 1
            if sum(widths) <= room or keep == 1:
                return shown, widths
        return [], []  # pragma: no cover - keep == 1 always returns

    def table(self, available: int) -> tuple[Table, int]:
        """The rich table drawn at most `available` cells wide, and how many of the columns it
        shows."""
        shown, widths = self.layout(available)
        view = Table(box=box.SQUARE, header_style="bold")
        for i, width in zip(shown, widths, strict=True):
            if i is None:
                view.add_column("…", width=1, no_wrap=True)
            else:
                view.add_column(
                    self._header(i),
                    justify="right" if self.numeric[i] else "left",
                    no_wrap=True,
                    overflow="ellipsis",
                    width=width,
                    max_width=width,
                )
        for row in self.cells:
            view.add_row(*(Text("…", style="dim") if i is None else Text(row[i]) for i in shown))
        return view, sum(i is not None for i in shown)

    def _type_len(self, i: int) -> list[int]:
        return [cell_len(self.types[i])] if self.types else []

    def _header(self, i: int) -> Text:
        """A column's name, with its type below it in dim (as the DuckDB shell does)."""
        if not self.types:
            return Text(self.columns[i])
        return Text.assemble(self.columns[i], "\n", (self.types[i], "dim not bold"))

    def counts(self, columns_shown: int) -> str:
        """The line under the table: rows and columns, and how many of each are shown."""
        rows = f"{self.total_rows:,} row{'s' if self.total_rows != 1 else ''}"
        if len(self.cells) < self.total_rows:
            rows += f" ({len(self.cells):,} shown)"
        n = len(self.columns)
        columns = f"{n} column{'s' if n != 1 else ''}"
        if columns_shown < n:
            columns += f" ({columns_shown} shown)"
        hidden = len(self.cells) < self.total_rows or columns_shown < n
        return f"{rows} · {columns}" + (f"; {self.hint}" if hidden and self.hint else "")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # The counts go on a line of their own below the table, not in its caption, which
        # rich wraps to the table's width ("1 row · 1" / "column" under a narrow table).
        view, columns_shown = self.table(options.max_width)
        yield view
        yield Text(self.counts(columns_shown))


def _outside_in(n: int) -> list[int]:
    """Column indexes from the outside in: first, last, second, second to last, ..."""
    order: list[int] = []
    low, high = 0, n - 1
    while low <= high:
        order.append(low)
        if high != low:
            order.append(high)
        low, high = low + 1, high - 1
    return order
