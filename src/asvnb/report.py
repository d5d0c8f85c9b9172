"""Results tables: the source's figure beside ours, always labelled with the profile that produced ours.

A results table is a pandas DataFrame with the columns ``model``, ``metric``,
``source`` (the figure the source reported, as text so that "0.69 (also 70%)"
or "-" survive), ``this book`` (ours, mean +- std over seeds when there are
several), ``profile`` and ``note``. Notebooks save their tables with
:func:`save_results` as CSV, a copy for readers of the build folder; the book's
results overview reads the results files of ``shared/results-schema.md`` instead
(:mod:`asvnb.overview`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asvnb import config, files

COLUMNS = ["model", "metric", "source", "this book", "profile", "note"]

PROFILE_NOTES = {
    "embedded": "embedded corpus (generated, synthetic attacks) and locally trained models, 2 CPU cores",
    "full": "real datasets and hub models, GPU; less training than the sources' (the book's one-GPU-hour budget)",
    "ci": "CI profile: the tiny generated corpus and a few training steps, run only to prove that every code "
    "path executes. **These numbers come from the CI profile and mean nothing**",
}


def mean_std(values: Iterable[float], digits: int | None = None, percent: bool = False) -> str:
    """Format seeds' results as ``mean ± std (n=k)`` (a single value as itself); NaNs are reported, not dropped."""
    digits = (2 if percent else 3) if digits is None else digits
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return "-"
    scale = 100.0 if percent else 1.0
    suffix = "%" if percent else ""
    if np.isnan(v).any():
        return f"nan in {int(np.isnan(v).sum())} of {v.size} runs"
    if v.size == 1:
        return f"{v[0] * scale:.{digits}f}{suffix}"
    return (
        f"{v.mean() * scale:.{digits}f} ± {v.std(ddof=1) * scale:.{digits}f}{suffix} (n={v.size})"
    )


def fmt_source(value: float | str | None, digits: int = 3, percent: bool = False) -> str:
    """Format a source's figure: numbers like ours, text (e.g. "0.69 (also 70%)") as given, None as "-"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, str):
        return value
    return f"{value * (100.0 if percent else 1.0):.{digits}f}{'%' if percent else ''}"


@dataclass(frozen=True)
class ComparisonRow:
    """One line of a results table: our figure (per-seed values, or text) beside the source's."""

    model: str
    metric: str
    ours: float | str | Sequence[float] | None
    source: float | str | None = None
    note: str = ""
    percent: bool = False
    digits: int | None = None

    @classmethod
    def of(cls, row: ComparisonRow | Mapping[str, Any]) -> ComparisonRow:
        """A row as given, or built from a dict; a key the row does not have is an error naming it."""
        if isinstance(row, ComparisonRow):
            return row
        unknown = sorted(set(row) - {f.name for f in fields(cls)})
        if unknown:
            raise KeyError(f"results table row {dict(row)!r}: unknown key(s) {', '.join(unknown)}")
        return cls(**row)

    def ours_text(self) -> str:
        """Our figure as the table shows it: mean ± std over seeds, text as given, None as "-"."""
        if isinstance(self.ours, str):
            return self.ours
        if self.ours is None:
            return "-"
        return mean_std(np.atleast_1d(self.ours), digits=self.digits, percent=self.percent)


def comparison_table(
    rows: Sequence[ComparisonRow | Mapping[str, Any]], profile: str
) -> pd.DataFrame:
    """A results table (:data:`COLUMNS`) from :class:`ComparisonRow` rows (or dicts of their fields)."""
    config.check_profile(profile)
    out = []
    for r in map(ComparisonRow.of, rows):
        digits = (2 if r.percent else 3) if r.digits is None else r.digits
        out.append(
            {
                "model": r.model,
                "metric": r.metric,
                "source": fmt_source(r.source, digits=digits, percent=r.percent),
                "this book": r.ours_text(),
                "profile": profile,
                "note": r.note,
            }
        )
    return pd.DataFrame(out, columns=COLUMNS)


def shows_row_numbers(df: pd.DataFrame) -> bool:
    """Whether a table's index is pandas' row numbers (unnamed integers), which say nothing to a reader.

    A named index (``set_index("system")``) holds the table's first column and is kept.
    """
    return all(n is None for n in df.index.names) and pd.api.types.is_integer_dtype(df.index)


def table_html(df: pd.DataFrame) -> str:
    """A table as the book shows it: HTML without the row-number column (see :func:`shows_row_numbers`)."""
    return df.to_html(
        index=not shows_row_numbers(df),
        max_rows=pd.get_option("display.max_rows"),
        max_cols=pd.get_option("display.max_columns"),
        show_dimensions=False,
        border=0,
    )


def register_display(kind: type, formatters: dict[str, Callable[[Any], Any]]) -> None:
    """In a running IPython (a notebook), show every object of ``kind`` through ``formatters`` (MIME type ->
    function); outside IPython nothing changes."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None:
        return
    for mime, fn in formatters.items():
        ip.display_formatter.formatters[mime].for_type(kind, fn)


# Every DataFrame of a notebook goes through table_html, so no results table prints its row numbers: one
# formatter for all chapters, whether a cell displays a table or ends with one.
register_display(pd.DataFrame, {"text/html": table_html})


def results_dir() -> Path:
    """Where notebooks save their results tables (``build/results``)."""
    return Path(os.environ.get("ASVNB_BUILD", config.build_root())) / "results"


def save_results(df: pd.DataFrame, name: str) -> Path:
    """Save a results table as CSV (``build/results/<name>.csv``); the overview reads the ``.json`` results files."""
    missing = [
        c for c in ("model", "metric", "source", "this book", "profile") if c not in df.columns
    ]
    if missing:
        raise ValueError(
            f"results table {name!r} lacks the columns {missing}; build it with comparison_table()"
        )
    path = results_dir() / f"{name}.csv"
    with files.atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return path


def profile_banner(profile: str) -> str:
    """One markdown sentence that says which profile produced the numbers below it."""
    config.check_profile(profile)
    return f"**Profile: `{profile}`** — {PROFILE_NOTES[profile]}."
