"""Figures rendered to PNG with Agg, checked for their files and the contents of their axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import norm

from asvnb import plots


def _png(fig, path) -> tuple[int, int]:
    fig.savefig(path, format="png", dpi=60)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        return im.size


def assert_outside(fig, legend) -> None:
    """The legend, as drawn, overlaps no axes: it cannot cover a curve."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # a figure built without pyplot has no drawing canvas of its own
    canvas.draw()
    renderer = canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer)), (box, ax.get_title())


def test_confusion_counts_and_row_normalised(tmp_path):
    y_true = [1, 1, 1, 0, 0, 2]
    y_pred = [1, 1, 0, 0, 0, 2]
    fig = plots.plot_confusion(
        y_true, y_pred, class_names=["spoof", "bona fide", "adv"], labels=[0, 1, 2]
    )
    w, h = _png(fig, tmp_path / "cm.png")
    assert w > h > 0
    counts, normed = fig.axes
    assert (counts.get_title(), normed.get_title()) == ("counts", "row-normalised")
    assert [t.get_text() for t in counts.texts] == ["2", "0", "0", "1", "2", "0", "0", "0", "1"]
    assert [t.get_text() for t in normed.texts][3:6] == ["0.33", "0.67", "0.00"]
    assert [t.get_text() for t in counts.get_xticklabels()] == ["spoof", "bona fide", "adv"]
    assert counts.get_xlabel() == "predicted" and counts.get_ylabel() == "true"
    one = plots.plot_confusion([0, 0], [0, 1], labels=[0, 1, 2], normalize="true")
    assert (
        len(one.axes) == 1 and [t.get_text() for t in one.axes[0].texts][-3:] == ["0.00"] * 3
    )  # empty row


def test_confusion_class_names_as_a_mapping_give_the_labels_in_label_order():
    y_true, y_pred = [1, 1, 0, 0, 0], [1, 0, 0, 0, 1]
    fig = plots.plot_confusion(y_true, y_pred, {1: "real", 0: "fake"}, normalize="counts")
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fake", "real"]
    assert [t.get_text() for t in ax.texts] == ["2", "1", "1", "1"]  # rows: true fake, true real


def test_det_curves_on_normal_deviate_axes(tmp_path):
    rng = np.random.default_rng(0)
    systems = {
        "good": (rng.normal(2, 1, 500), rng.normal(-2, 1, 500)),
        "weak": (rng.normal(0.5, 1, 500), rng.normal(-0.5, 1, 500)),
    }
    fig = plots.plot_det(systems, title="LA eval")
    _png(fig, tmp_path / "det.png")
    ax = fig.axes[0]
    assert len(ax.lines) == 3  # two systems and the miss = false-alarm diagonal
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["good", "weak"]
    assert_outside(fig, legend)
    assert ax.get_xlabel() == "False alarm rate (%)" and ax.get_ylabel() == "Miss rate (%)"
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "0.1",
        "0.2",
        "0.5",
        "1",
        "2",
        "5",
        "10",
        "20",
        "40",
    ]
    np.testing.assert_allclose(ax.get_xticks(), norm.ppf(np.array(plots.DET_TICKS) / 100))
    # where a curve meets the diagonal it sits at its EER: near Phi(-2) for 'good', Phi(-0.5) for 'weak'
    for line, d in zip(ax.lines[:2], (2.0, 0.5)):
        x, y = line.get_data()
        i = np.argmin(np.abs(x - y))
        assert abs(norm.cdf(x[i]) - norm.cdf(-d)) < 0.03
    with pytest.raises(ValueError, match="needs both"):
        plots.plot_det({"x": ([], [1.0])})


def test_training_curves(tmp_path):
    hist = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [0.9, 0.6, 0.4],
            "val_loss": [1.0, 0.8, 0.7],
            "train_acc": [0.5, 0.7, 0.8],
            "val_acc": [0.4, 0.6, 0.65],
            "lr": [1e-3, 1e-3, 5e-4],
        }
    )
    fig = plots.plot_history(hist)
    _png(fig, tmp_path / "hist.png")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "acc", "lr"]
    wide = plots.plot_history(hist.assign(seconds=[1.0, 2.0, 3.0], auc=[0.5, 0.6, 0.7]))
    shown = [ax for ax in wide.axes if ax.get_visible()]
    assert len(shown) == 5 and len({round(ax.get_position().y0, 2) for ax in shown}) == 2  # 3 + 2
    loss = fig.axes[0]
    assert [ln.get_label() for ln in loss.lines] == ["train", "val"]
    np.testing.assert_array_equal(loss.lines[1].get_ydata(), [1.0, 0.8, 0.7])
    assert len(fig.axes[2].lines) == 1
    (legend,) = fig.legends  # one legend for all panels, each split one colour everywhere
    assert [t.get_text() for t in legend.get_texts()] == ["train", "val", "lr"]
    assert fig.axes[0].lines[0].get_color() == fig.axes[1].lines[0].get_color()
    assert_outside(fig, legend)
    with pytest.raises(ValueError, match="no 'epoch' column"):
        plots.plot_history(hist.drop(columns="epoch"))


def test_spectrogram_grid(tmp_path):
    items = [(f"A0{i}", np.random.default_rng(i).random((40, 100))) for i in range(1, 6)]
    items.append(("image", np.random.default_rng(9).random((3, 224, 224))))
    fig = plots.plot_spectrogram_grid(items, ncols=4)
    _png(fig, tmp_path / "grid.png")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(fig.axes) == 8 and len(visible) == 6
    assert [ax.get_title() for ax in visible] == ["A01", "A02", "A03", "A04", "A05", "image"]
    assert (
        visible[0].images[0].get_array().shape == (40, 100)
        and visible[0].images[0].origin == "lower"
    )
    assert visible[5].images[0].get_array().shape == (224, 224, 3)
    with pytest.raises(ValueError, match="expected a 2-D"):
        plots.plot_spectrogram_grid([("bad", np.zeros(5))])


def test_figures_display_as_png_in_ipython() -> None:
    """Figures are built without pyplot; IPython must still show a returned one as an image."""
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib.figure import Figure

    from asvnb import plots

    shell = InteractiveShell.instance()
    plots._register_notebook_display()
    fig = Figure()
    fig.subplots().plot([0, 1], [1, 0])
    data, _ = shell.display_formatter.format(fig)
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert "text/html" not in data  # no caption: the PNG alone
    plots.with_caption(fig, "Look at the <falling> line.")
    data, _ = shell.display_formatter.format(fig)
    html = data["text/html"]
    assert html.startswith('<figure class="asvnb-figure"><img src="data:image/png;base64,')
    assert html.endswith("<figcaption>Look at the &lt;falling&gt; line.</figcaption></figure>")


def test_every_figure_says_what_to_look_at() -> None:
    rng = np.random.default_rng(0)
    hist = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.1, 0.8]})
    figures = {
        plots.plot_confusion([0, 1], [0, 0]): plots.CONFUSION_CAPTION,
        plots.plot_det({"x": (rng.normal(1, 1, 50), rng.normal(-1, 1, 50))}): plots.DET_CAPTION,
        plots.plot_history(hist): plots.HISTORY_CAPTION,
        plots.plot_spectrogram_grid([("a", rng.random((4, 5)))]): plots.GRID_CAPTION,
    }
    for fig, caption in figures.items():
        assert plots.caption_of(fig) == caption
    assert "EER" in plots.DET_CAPTION and "diagonal" in plots.CONFUSION_CAPTION
    own = plots.plot_history(hist, caption="The loss halves in one epoch.")
    assert plots.caption_of(own) == "The loss halves in one epoch."
