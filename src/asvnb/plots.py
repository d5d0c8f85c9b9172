"""Shared figures (seaborn/matplotlib): confusion matrices, DET curves, training curves, spectrogram grids.

Every function returns the matplotlib Figure (nothing is shown or saved
here), built without pyplot so it works under any backend. Scores follow the
ASVspoof convention: higher = more bona fide.

Every figure carries a caption that tells the reader what to look at
(:func:`with_caption`; each function here has a default and takes ``caption=``).
In a notebook, a captioned figure is shown as an HTML figure with its caption
under the image (:func:`figure_html`), which the book renders as it is.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from scipy.stats import norm
from sklearn.metrics import confusion_matrix

from asvnb.metrics import det_curve
from asvnb.report import register_display

# DET ticks of the official ASVspoof / NIST plots, in percent
DET_TICKS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 40)

# What each kind of figure shows and where to look; a caller may give a caption of its own
CONFUSION_CAPTION = (
    "Rows are the true classes, columns the predicted ones, so the diagonal holds the correct decisions: look "
    "for the largest cell off it, the commonest confusion (row-normalised, the diagonal is each class's recall)."
)
DET_CAPTION = (
    "Each curve is one system: the share of bona fide trials rejected (miss) against the share of spoofs "
    "accepted (false alarm), on normal-deviate axes. Lower and further left is better; a curve crosses the "
    "dotted diagonal at its EER."
)
HISTORY_CAPTION = (
    "Each panel is one metric per epoch, training against validation: look for the validation curve "
    "levelling off (more epochs would not help) or turning away from the training curve (overfitting)."
)
GRID_CAPTION = (
    "One spectrogram per panel, time left to right and low frequencies at the bottom: compare the panels "
    "for the bands, harmonics and textures that tell one kind of speech from another."
)


def _register_notebook_display() -> None:
    """Show a returned Figure as a PNG in Jupyter, whatever the matplotlib backend, with its caption.

    The figures here are built without pyplot (no global figure state, nothing
    leaks across a long notebook), so the inline backend's automatic display of
    pyplot figures does not apply; IPython's formatters for the Figure type do:
    the PNG, and, preferred to the bare PNG by Jupyter and by the book, the HTML
    figure with its caption under it (:func:`figure_html`).
    """
    register_display(Figure, {"image/png": figure_png, "text/html": figure_html})


CAPTION = "_asvnb_caption"  # the Figure attribute that holds its caption


def with_caption(fig: Figure, caption: str) -> Figure:
    """Attach the caption shown under the figure (what the reader should look at); returns the figure."""
    setattr(fig, CAPTION, caption)
    return fig


def caption_of(fig: Figure) -> str | None:
    """The figure's caption, or None."""
    return getattr(fig, CAPTION, None)


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, as a notebook shows it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def figure_html(fig: Figure) -> str | None:
    """The figure as an HTML ``<figure>``: the PNG inline and its caption as ``<figcaption>``; None (the PNG
    alone) for a figure without a caption."""
    caption = caption_of(fig)
    if not caption:
        return None
    data = base64.b64encode(figure_png(fig)).decode("ascii")
    text = html.escape(caption)
    return (
        f'<figure class="asvnb-figure"><img src="data:image/png;base64,{data}" alt="{text}" '
        f'style="max-width: 100%"/><figcaption>{text}</figcaption></figure>'
    )


_register_notebook_display()


def plot_confusion(
    y_true: Sequence,
    y_pred: Sequence,
    class_names: Sequence[str] | Mapping[Any, str] | None = None,
    labels: Sequence | None = None,
    normalize: str = "both",
    title: str | None = None,
    caption: str | None = None,
) -> Figure:
    """Confusion matrix heatmap(s): ``normalize`` is ``counts``, ``true`` (row-normalised) or ``both`` (two panels).

    Rows are true classes, columns predicted ones; an empty row normalises to zeros.
    ``class_names`` as a mapping label -> name (a study's ``TASK.names``) gives the
    labels too, in label order.
    """
    if normalize not in ("counts", "true", "both"):
        raise ValueError(f"normalize must be counts, true or both, got {normalize!r}")
    if isinstance(class_names, Mapping):
        labels = list(labels) if labels is not None else sorted(class_names)
        class_names = [class_names[c] for c in labels]
    labels = list(labels) if labels is not None else sorted(set(y_true) | set(y_pred))
    names = list(class_names) if class_names is not None else [str(c) for c in labels]
    if len(names) != len(labels):
        raise ValueError(f"{len(names)} class names for {len(labels)} classes")
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    rows = cm.sum(axis=1, keepdims=True)
    cm_norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    panels = {
        "counts": [("counts", cm, "d")],
        "true": [("row-normalised", cm_norm, ".2f")],
        "both": [("counts", cm, "d"), ("row-normalised", cm_norm, ".2f")],
    }[normalize]
    fig = Figure(figsize=(4.6 * len(panels), 4.0), layout="constrained")
    for ax, (name, mat, fmt) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        sns.heatmap(
            mat,
            annot=True,
            fmt=fmt,
            cmap="Blues",
            cbar=False,
            square=True,
            ax=ax,
            xticklabels=names,
            yticklabels=names,
            vmin=0,
            vmax=1 if fmt == ".2f" else None,
        )
        ax.set(xlabel="predicted", ylabel="true", title=name)
    if title:
        fig.suptitle(title)
    return with_caption(fig, caption or CONFUSION_CAPTION)


def plot_det(
    systems: Mapping[str, tuple[np.ndarray, np.ndarray]],
    title: str | None = None,
    limits: tuple[float, float] = (0.05, 60.0),
    caption: str | None = None,
) -> Figure:
    """DET curves of several systems on normal-deviate axes; ``systems`` maps name -> (bona fide, spoof) scores.

    Miss = bona fide rejected, false alarm = spoof accepted, from the official
    DET points of :func:`asvnb.metrics.det_curve` (the ones the EER is read
    from). Axes are probit-scaled with the percent ticks of the official DET plots.
    """
    fig = Figure(figsize=(5.2, 5.0), layout="constrained")
    ax = fig.add_subplot()
    lo, hi = limits[0] / 100, limits[1] / 100
    for name, (bona, spoof) in systems.items():
        bona, spoof = np.asarray(bona, float), np.asarray(spoof, float)
        if len(bona) == 0 or len(spoof) == 0:
            raise ValueError(f"DET of {name!r}: needs both bona fide and spoof scores")
        p_miss, p_fa, _ = det_curve(bona, spoof)
        # 0 and 1 have no normal deviate: clip just outside the plotted range
        ax.plot(
            norm.ppf(np.clip(p_fa, lo / 10, 1 - lo / 10)),
            norm.ppf(np.clip(p_miss, lo / 10, 1 - lo / 10)),
            label=name,
        )
    ticks = [t for t in DET_TICKS if limits[0] <= t <= limits[1]]
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_ticks(norm.ppf(np.array(ticks) / 100), labels=[f"{t:g}" for t in ticks])
    ax.set(
        xlim=norm.ppf([lo, hi]),
        ylim=norm.ppf([lo, hi]),
        xlabel="False alarm rate (%)",
        ylabel="Miss rate (%)",
        title=title or "DET curve",
    )
    ax.plot(
        norm.ppf([lo, hi]), norm.ppf([lo, hi]), ls=":", color="grey", lw=0.8
    )  # EER line: miss = false alarm
    ax.grid(True, alpha=0.4)
    legend_below(fig, ax.get_legend_handles_labels())
    return with_caption(fig, caption or DET_CAPTION)


def legend_below(fig: Figure, handles_labels: tuple[list, list], ncols: int | None = None) -> None:
    """One legend for the figure, under its axes: it never covers a curve (a legend inside the axes does
    wherever the data happen to be). Needs the figure's constrained layout, which makes room for it."""
    handles, labels = handles_labels
    if not handles:
        return
    ncols = ncols or min(len(labels), 3 if max(map(len, labels)) < 24 else 2)
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, frameon=False)


def plot_history(
    history: pd.DataFrame,
    x: str = "epoch",
    title: str | None = None,
    caption: str | None = None,
) -> Figure:
    """Training curves: one panel per metric, train vs val lines from ``train_<m>`` / ``val_<m>`` columns.

    Columns without a ``train_``/``val_`` prefix (other than ``x``) get a panel of their own.
    """
    if x not in history.columns:
        raise ValueError(f"history has no {x!r} column (columns: {', '.join(history.columns)})")
    metrics: dict[str, list[tuple[str, str]]] = {}
    for c in history.columns:
        if c == x or not pd.api.types.is_numeric_dtype(history[c]):
            continue
        split, _, m = c.partition("_") if c.startswith(("train_", "val_")) else ("", "", c)
        metrics.setdefault(m, []).append((split or c, c))
    if not metrics:
        raise ValueError("history has no numeric metric columns")
    # at most three panels a row: a row of five shrinks each to an unreadable strip on the book's page
    ncols = min(3, len(metrics))
    nrows = -(-len(metrics) // ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    # one colour per split in every panel, named once in the legend below them
    colours: dict[str, str] = {}
    for ax, (m, cols) in zip(axes, metrics.items()):
        for split, c in cols:
            colour = colours.setdefault(split, f"C{len(colours)}")
            ax.plot(history[x], history[c], marker="o", ms=3, label=split, color=colour)
        ax.set(xlabel=x, ylabel=m, title=m)
        ax.grid(True, alpha=0.4)
    handles = {h.get_label(): h for ax in axes for h in ax.get_lines()}
    legend_below(fig, (list(handles.values()), list(handles)))
    if title:
        fig.suptitle(title)
    return with_caption(fig, caption or HISTORY_CAPTION)


def plot_spectrogram_grid(
    items: Sequence[tuple[str, np.ndarray]],
    ncols: int = 4,
    title: str | None = None,
    cmap: str = "viridis",
    caption: str | None = None,
) -> Figure:
    """A grid of spectrograms (e.g. one per attack): 2-D ``(freq, time)`` arrays drawn low frequency at the
    bottom, or ``(3, H, W)`` / ``(H, W, 3)`` images drawn as they are; each panel titled."""
    if not items:
        raise ValueError("no spectrograms to draw")
    n = len(items)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(3.0 * ncols, 2.6 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, spec) in zip(axes, items):
        a = spec.detach().cpu().numpy() if hasattr(spec, "detach") else np.asarray(spec)
        if a.ndim == 3:
            ax.imshow(np.moveaxis(a, 0, -1) if a.shape[0] == 3 else a)
        elif a.ndim == 2:
            ax.imshow(a, origin="lower", aspect="auto", cmap=cmap)
        else:
            raise ValueError(
                f"{name}: expected a 2-D spectrogram or a 3-channel image, got shape {a.shape}"
            )
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return with_caption(fig, caption or GRID_CAPTION)
