"""The book's results overview, read from the notebooks' results files (``build/results/<notebook>.json``).

One section per chapter, headed by the chapter's title:

- a sentence generated from the rows: which system is best on the most compared
  figure, with its interval, whether the runner-up's interval overlaps it, and
  how many of the source's figures fall inside our intervals;
- one wide table: systems (and data) as rows, the metrics as columns, the
  source's figure beside ours for every metric the source reports; ours is the
  mean ± std over seeds where there are several, then the 95 % interval;
- a table per breakdown the results hold (EER per attack family, per attack, per codec);
- notes under the table they belong to: a note every row shares once, the others
  as numbered marks.

Nothing here is typed by hand: every figure and word about a result comes from a
results file (``shared/results-schema.md``), read through
:func:`asvnb.results.load_results_file`, which refuses a file that breaks the schema.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asvnb import report
from asvnb.results import ResultRow, ResultsFile, breakdown, load_results_file

MAX_METRICS = 6  # metric columns of a study's wide table; the others are named under it

# how a metric is shown: a label, and a kind that sets the unit and digits
_LABELS = {
    "eer": "EER",
    "stream_eer": "stream EER",
    "speaker_eer": "speaker EER",
    "min_tdcf": "min t-DCF",
    "min_tdcf_own_asv": "min t-DCF (own ASV)",
    "min_dcf": "minDCF",
    "act_dcf": "actDCF",
    "cllr": "Cllr",
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "f1": "F1",
    "f1_weighted": "weighted F1",
    "precision_weighted": "weighted precision",
    "recall_weighted": "weighted recall",
    "si_snri_db": "SI-SNRi",
    "params": "parameters",
    "macs": "MACs",
    "params_ratio": "parameter ratio",
    "macs_ratio": "MAC ratio",
}
_PERCENT = {
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "genuine_rate",
    "kept_fraction",
}
_COUNTS = {"params", "macs"}
_PRIMARY = (
    "eer",
    "stream_eer",
    "min_tdcf",
    "min_dcf",
    "act_dcf",
    "cllr",
)  # always a column where present
_LOWER_BETTER = ("min_tdcf", "min_dcf", "act_dcf", "cllr")
_HIGHER_BETTER = ("accuracy", "f1", "f1_weighted")
_KINDS = {"family": "attack family", "attack": "attack", "codec": "codec"}


@dataclass(frozen=True)
class Chapter:
    """A chapter of the book whose results file the overview shows."""

    stem: str  # the notebook's stem, which names its results file
    title: str  # the chapter's title: its first markdown H1
    link: str | None = None  # a link to the chapter from the overview page


def chapter_title(notebook: str | Path) -> str | None:
    """The first markdown H1 of a notebook (``.ipynb``, or a jupytext ``.py`` in the percent format), or None."""
    path = Path(notebook)
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        lines = [
            ln
            for c in cells
            if c.get("cell_type") == "markdown"
            for ln in "".join(c.get("source", "")).splitlines()
        ]
    else:
        lines, markdown = [], False
        for ln in path.read_text(encoding="utf-8").splitlines():
            if ln.startswith("# %%"):
                markdown = "[markdown]" in ln
            elif markdown:
                lines.append(ln[2:] if ln.startswith("# ") else ln.lstrip("#"))
    for ln in lines:
        if m := re.match(r"^# +(\S.*?)\s*#*\s*$", ln):
            return m[1]
    return None


# --------------------------------------------------------------------------- numbers


def is_percent(metric: str) -> bool:
    """Rates shown in %: error rates, accuracies, precision/recall/F1, fractions and ratios."""
    base = metric.removesuffix("_weighted")
    return metric.endswith(("eer", "_ratio", "_rate")) or base in _PERCENT


def metric_label(metric: str) -> str:
    """``EER (%)``, ``min t-DCF``, ``SI-SNRi (dB)``: the column header of a metric."""
    label = _LABELS.get(metric, metric.replace("_", " "))
    if is_percent(metric):
        return f"{label} (%)"
    return f"{label} (dB)" if metric.endswith("_db") else label


def lower_is_better(metric: str) -> bool | None:
    """True for error rates and costs, False for accuracies and F1, None where "best" means nothing here."""
    if metric.endswith("eer") or metric in _LOWER_BETTER:
        return True
    return False if metric in _HIGHER_BETTER else None


def _count(v: float) -> str:
    for div, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " K")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.0f}"


def fmt_number(metric: str, v: float) -> str:
    """Our figure in the metric's unit: 1 decimal for % and dB, counts in K/M/G, else 3 decimals."""
    if metric in _COUNTS:
        return _count(v)
    if is_percent(metric):
        return f"{100 * v:.1f}"
    if metric.endswith("_db"):
        return f"{v:.1f}"
    return f"{v:.3f}" if abs(v) < 100 else f"{v:.4g}"


def fmt_source(metric: str, v: float | None) -> str:
    """The source's figure in our unit, with the digits it gave (up to 4 significant); None as "-"."""
    if v is None:
        return "-"
    if metric in _COUNTS:
        return _count(v)
    return f"{100 * v:.4g}" if is_percent(metric) else f"{v:.4g}"


def fmt_ours(row: ResultRow, seeds: int | None = None) -> str:
    """``mean ± std [lo, hi]`` (± only over several seeds; ``(n=k)`` when k is not the table's usual ``seeds``)."""
    text = fmt_number(row.metric, row.value)
    if row.n_seeds > 1 and row.std is not None:
        text += f" ± {fmt_number(row.metric, row.std) if row.metric not in _COUNTS else _count(row.std)}"
    if row.ci95 is not None:
        text += f" [{fmt_number(row.metric, row.ci95[0])}, {fmt_number(row.metric, row.ci95[1])}]"
    if row.n_seeds > 1 and seeds is not None and row.n_seeds != seeds:
        text += f" (n={row.n_seeds})"
    return text


def _with_unit(row: ResultRow) -> str:
    """Our figure for a sentence: ``30.1 ± 0.6 % [28.1, 32.2]``."""
    unit = " %" if is_percent(row.metric) else " dB" if row.metric.endswith("_db") else ""
    text = fmt_number(row.metric, row.value) + unit
    if row.n_seeds > 1 and row.std is not None:
        text = f"{fmt_number(row.metric, row.value)} ± {fmt_number(row.metric, row.std)}{unit}"
    if row.ci95 is not None:
        text += f" [{fmt_number(row.metric, row.ci95[0])}, {fmt_number(row.metric, row.ci95[1])}]"
    if row.n_seeds > 1:
        text += f" over {row.n_seeds} seeds"
    return text


def _md(text: str) -> str:
    """Text from a results file made safe in a markdown table cell and paragraph."""
    return re.sub(r"([\\|<>*_`\[\]{}$])", r"\\\1", text)


_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _marks(numbers: Sequence[int]) -> str:
    return ",".join(str(n).translate(_SUP) for n in sorted(numbers))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- notes


class _Notes:
    """A section's notes: split at "; ", fragments on the same rows joined again, numbered on first use.

    A note that every row of a table shares is written once under it, without a
    mark; the others mark the rows or cells they belong to, and are listed under
    the first table that uses them.
    """

    def __init__(self, rows: Sequence[ResultRow]) -> None:
        where: dict[str, set[int]] = {}
        for i, r in enumerate(rows):
            for frag in (f.strip() for f in r.note.split("; ")):
                if frag:
                    where.setdefault(frag, set()).add(i)
        by_rows: dict[frozenset[int], list[str]] = {}
        for frag, ids in where.items():
            by_rows.setdefault(frozenset(ids), []).append(frag)
        self.notes = {"; ".join(frags): ids for ids, frags in by_rows.items()}
        self.index = {id(r): i for i, r in enumerate(rows)}
        self.number: dict[str, int] = {}
        self.written: set[str] = set()

    def of(self, rows: Sequence[ResultRow]) -> set[str]:
        """The notes every one of these rows has."""
        ids = {self.index[id(r)] for r in rows}
        return {n for n, on in self.notes.items() if ids and ids <= on}

    def mark(self, notes: set[str]) -> str:
        for n in sorted(notes, key=lambda n: min(self.notes[n])):
            self.number.setdefault(n, len(self.number) + 1)
        return _marks([self.number[n] for n in notes])

    def under(self, common: set[str], numbered_before: int) -> list[str]:
        """Lines under a table: its common notes not written yet, then the notes first numbered in it."""
        out = [
            _md(n[0].upper() + n[1:]) + "." if not n.endswith(".") else _md(n[0].upper() + n[1:])
            for n in sorted(
                common - self.written - set(self.number), key=lambda n: min(self.notes[n])
            )
        ]
        self.written |= common - set(self.number)
        new = sorted(
            (k, n) for n, k in self.number.items() if k > numbered_before and n not in self.written
        )
        self.written |= {n for _, n in new}
        return out + [f"- {_marks([k])} {_md(n)}" for k, n in new]

    def cell(self, row: ResultRow, shown: set[str]) -> str:
        """The marks of a cell's own notes (those not already shown on its table or row)."""
        return self.mark(self.of([row]) - shown)


# --------------------------------------------------------------------------- one chapter


def _seeds(rows: Sequence[ResultRow]) -> int | None:
    counts = Counter(r.n_seeds for r in rows if r.n_seeds > 1)
    return counts.most_common(1)[0][0] if counts else None


def choose_metrics(rows: Sequence[ResultRow]) -> tuple[list[str], list[str]]:
    """The wide table's metric columns, in the order the notebook reports them, and the metrics left out.

    First every metric the source gives a figure for, then the detection metrics
    (EER, t-DCF, ...), then the others by how many rows hold them, up to
    :data:`MAX_METRICS`.
    """
    order = list(dict.fromkeys(r.metric for r in rows))
    sourced = [m for m in order if any(r.source is not None for r in rows if r.metric == m)]
    primary = [m for m in order if m in _PRIMARY and m not in sourced]
    count = Counter(r.metric for r in rows)
    rest = sorted(
        (m for m in order if m not in sourced and m not in primary),
        key=lambda m: (-count[m], order.index(m)),
    )
    chosen = set((sourced + primary + rest)[:MAX_METRICS])
    return [m for m in order if m in chosen], [m for m in order if m not in chosen]


def headline(rows: Sequence[ResultRow]) -> list[ResultRow]:
    """The most compared figure: the rows of one (table, data, metric) with a known "best", best first.

    The group with the most systems wins; ties go to the detection metrics in the
    order EER, stream EER, t-DCF, ..., then to a group with a source figure, then
    to the first reported.
    """
    groups: dict[tuple[str, str, str], list[ResultRow]] = {}
    for r in rows:
        if lower_is_better(r.metric) is not None and breakdown(r) is None:
            groups.setdefault((r.table, r.data, r.metric), []).append(r)
    if not groups:
        return []

    def rank(item: tuple[int, tuple[tuple[str, str, str], list[ResultRow]]]) -> tuple:
        i, ((_, _, metric), members) = item
        prio = (
            _PRIMARY.index(metric)
            if metric in _PRIMARY
            else len(_PRIMARY) + (not metric.endswith("eer"))
        )
        return -len(members), prio, all(m.source is None for m in members), i

    _, (_, members) = min(enumerate(groups.items()), key=rank)
    lower = lower_is_better(members[0].metric)
    return sorted(members, key=lambda r: r.value if lower else -r.value)


def summary(rows: Sequence[ResultRow]) -> str:
    """A sentence or two generated from the rows: the best system with its interval, the runner-up's overlap,
    and how many of the source's figures our 95 % intervals contain."""
    out = []
    group = headline(rows)
    if group:
        best = group[0]
        label = _LABELS.get(best.metric, best.metric.replace("_", " "))
        src = (
            f" (the source: {fmt_source(best.metric, best.source)}{' %' if is_percent(best.metric) else ''})"
            if best.source is not None
            else ""
        )
        if len(group) == 1:
            out.append(f"{_md(best.system)} on {_md(best.data)}: {label} {_with_unit(best)}{src}.")
        else:
            nxt = group[1]
            word = "lowest" if lower_is_better(best.metric) else "highest"
            text = (
                f"On {_md(best.data)}, {_md(best.system)} has the {word} {label} of the {len(group)} systems, "
                f"{_with_unit(best)}{src}; the next, {_md(nxt.system)}, has {_with_unit(nxt)}"
            )
            if best.ci95 is not None and nxt.ci95 is not None:
                overlap = best.ci95[0] <= nxt.ci95[1] and nxt.ci95[0] <= best.ci95[1]
                text += (
                    ", and the two intervals overlap: this size does not tell them apart"
                    if overlap
                    else ", and the two intervals do not overlap"
                )
            out.append(text + ".")
    compared = [r for r in rows if r.source is not None and r.ci95 is not None]
    uncounted = sum(1 for r in rows if r.source is not None and r.ci95 is None)
    if compared:
        inside = sum(r.ci95[0] <= r.source <= r.ci95[1] for r in compared)
        n = len(compared)
        text = (
            f"Our 95 % interval contains the source's figure in {inside} of {n} comparisons"
            if n > 1
            else f"Our 95 % interval {'contains' if inside else 'does not contain'} the source's figure "
            "(the only comparison)"
        )
        if uncounted:
            text += f"; {uncounted} more {'have' if uncounted > 1 else 'has'} no interval"
        out.append(text + ".")
    elif not any(r.source is not None for r in rows):
        out.append("The source reports none of these figures.")
    return " ".join(out)


def _legend(rows: Sequence[ResultRow], seeds: int | None) -> str:
    parts = []
    if seeds:
        several = "" if all(r.n_seeds > 1 for r in rows) else " (one run where no ± is shown)"
        parts.append(f"ours: the mean ± its standard deviation over {seeds} seeds{several}")
    else:
        parts.append("ours: one run")
    if any(r.ci95 is not None for r in rows):
        parts.append("then the 95 % interval [lo, hi]")
    text = ", ".join(parts)
    return (
        text[0].upper()
        + text[1:]
        + ("; rates in %." if any(is_percent(r.metric) for r in rows) else ".")
    )


def _wide_table(
    rows: Sequence[ResultRow], metrics: list[str], notes: _Notes, seeds: int | None
) -> list[str]:
    """The study's wide table and the lines under it."""
    shown = [r for r in rows if r.metric in metrics]
    sourced = {m for m in metrics if any(r.source is not None for r in shown if r.metric == m)}
    tables = list(dict.fromkeys(r.table for r in shown))
    keyed: dict[tuple[str, str, str], dict[str, ResultRow]] = {}
    for r in sorted(
        shown, key=lambda r: tables.index(r.table)
    ):  # a notebook's tables stay together
        keyed.setdefault((r.table, r.system, r.data), {})[r.metric] = r
    names = Counter((s, d) for _, s, d in keyed)
    with_data = len({d for _, _, d in keyed}) > 1
    header = ["system"] + (["data"] if with_data else [])
    for m in metrics:
        header += (
            [f"{metric_label(m)}, source", f"{metric_label(m)}, ours"]
            if m in sourced
            else [metric_label(m)]
        )
    common = notes.of(shown)
    before = len(notes.number)
    body = []
    for (table, system, data), cells in keyed.items():
        row_notes = notes.of(list(cells.values())) - common
        label = _md(system) + notes.mark(row_notes)
        line = [label] + (
            [_md(data) + (f" (table {_md(table)})" if names[(system, data)] > 1 else "")]
            if with_data
            else []
        )
        for m in metrics:
            r = cells.get(m)
            own = notes.cell(r, common | row_notes) if r is not None else ""
            if m in sourced:
                has_src = r is not None and r.source is not None
                line.append(fmt_source(m, r.source) + own if has_src else "-")
                line.append(fmt_ours(r, seeds) + ("" if has_src else own) if r is not None else "-")
            else:
                line.append(fmt_ours(r, seeds) + own if r is not None else "-")
        body.append(line)
    out = [_table(header, body), ""]
    if not with_data and keyed:
        out += [f"All on {_md(next(iter(keyed))[2])}.", ""]
    under = notes.under(common, before)
    return out + ([*under, ""] if under else [])


def _breakdown_tables(
    rows: Sequence[ResultRow], pooled: dict[tuple, ResultRow], notes: _Notes, seeds: int | None
) -> list[str]:
    """One table per (kind, metric) of breakdown rows: EER per attack family, per attack, per codec."""
    parts: dict[tuple[str, str], list[tuple[ResultRow, str, str]]] = {}
    for r in rows:
        if (b := breakdown(r)) is not None:
            parts.setdefault((b[0], r.metric), []).append((r, b[1], b[2]))
    out = []
    for (kind, metric), items in parts.items():
        series = list(dict.fromkeys((r.table, r.system, base) for r, base, _ in items))
        groups = list(dict.fromkeys(g for _, _, g in items))
        cell = {((r.table, r.system, base), g): r for r, base, g in items}
        whole = {s: pooled.get((s[0], s[1], s[2], metric)) for s in series}
        if any(whole.values()):
            groups = ["pooled", *groups]
            cell |= {(s, "pooled"): p for s, p in whole.items() if p is not None}
        bases = {b for _, _, b in series}
        systems = {s for _, s, _ in series}

        def label(s: tuple[str, str, str], systems=systems, bases=bases) -> str:
            if len(bases) == 1:
                return _md(s[1])
            return _md(s[2]) if len(systems) == 1 else f"{_md(s[1])}, {_md(s[2])}"

        members = list(cell.values())
        common = notes.of(members)
        before = len(notes.number)
        own = {s: notes.of([r for (t, _), r in cell.items() if t == s]) - common for s in series}

        def text(s: tuple[str, str, str], g: str, cell=cell, shown=common, own=own) -> str:
            r = cell.get((s, g))
            if r is None:
                return "-"
            src = f" (source {fmt_source(r.metric, r.source)})" if r.source is not None else ""
            return fmt_ours(r, seeds) + src + notes.cell(r, shown | own[s])

        title = (
            f"**{metric_label(metric)} per {_KINDS.get(kind, kind)}"
            + (f" on {_md(next(iter(bases)))}" if len(bases) == 1 else "")
            + "**"
        )
        title += notes.mark(
            common & set(notes.number)
        )  # a shared note already listed above: its mark
        if len(groups) > 2 * len(
            series
        ):  # few series, many groups (one system's 19 attacks): groups as rows
            header = [_KINDS.get(kind, kind)] + [label(s) + notes.mark(own[s]) for s in series]
            body = [[_md(g)] + [text(s, g) for s in series] for g in groups]
        else:
            header = ["system"] + [_md(g) for g in groups]
            body = [[label(s) + notes.mark(own[s])] + [text(s, g) for g in groups] for s in series]
        out += [title, "", _table(header, body), ""]
        under = notes.under(common - set(notes.number), before)
        out += [*under, ""] if under else []
    return out


def chapter_section(results: ResultsFile, title: str, link: str | None = None) -> str:
    """The overview of one chapter: heading, profile, sentence, wide table, breakdown tables, notes."""
    rows = results.rows
    lines = [f"## {title}", ""]  # H2 under the page's H1
    where = f"[the chapter]({link})" if link else "the chapter"
    written = results.created or "at an unknown time"
    origin = f"From {where}'s results file `{results.path.name}` (written {written})."
    lines += [f"{report.profile_banner(results.profile)} {origin}", ""]
    if not rows:
        return "\n".join(lines + ["_The results file holds no rows._", ""])
    main = [r for r in rows if breakdown(r) is None]
    metrics, left_out = choose_metrics(main)
    shown = [r for r in main if r.metric in metrics] + [r for r in rows if breakdown(r) is not None]
    seeds = _seeds(shown)
    notes = _Notes(shown)
    lines += [summary(rows), "", _legend(shown, seeds), ""]
    lines += _wide_table(main, metrics, notes, seeds)
    if left_out:
        names = ", ".join(_LABELS.get(m, f"`{m}`") for m in left_out)
        lines += [f"Not in the table (see the chapter): {names}.", ""]
    pooled = {(r.table, r.system, r.data, r.metric): r for r in shown}  # noted rows only
    lines += _breakdown_tables(rows, pooled, notes, seeds)
    return "\n".join(lines).rstrip() + "\n"


def overview_markdown(results_dir: str | Path, chapters: Sequence[Chapter] | None = None) -> str:
    """Markdown for the results page: a section per chapter with a results file, in the chapters' order.

    Without ``chapters``, every ``*.json`` of ``results_dir`` in name order, titled by
    its stem. A results file that breaks the schema raises
    :class:`asvnb.results.ResultsFileError` naming it.
    """
    results_dir = Path(results_dir)
    if chapters is None:
        files = sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []
        chapters = [Chapter(p.stem, p.stem.replace("_", " ")) for p in files]
    sections = [
        chapter_section(load_results_file(results_dir / f"{c.stem}.json"), c.title, c.link)
        for c in chapters
        if (results_dir / f"{c.stem}.json").is_file()
    ]
    if not sections:
        return "_No chapter has written a results file yet._\n"
    return "\n".join(sections)
