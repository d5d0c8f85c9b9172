"""Study 04's tables: metrics over the whole set, results beside the source's, key figures, the leaks measured."""

from __future__ import annotations

import pandas as pd

from asvnb import comparisons, metrics, report
from asvnb.data.images import ImageSet
from asvnb.results import ResultRow
from asvnb.studies.spectrogram_common import (
    comparison_rows,
    difference_row,
    find_row,
    metric_frame,
    on_trials,
    rows_frame,
    seed_row,
)
from asvnb.studies.spectrogram_resnet18.settings import (
    LA,
    REAL,
    SOURCE_FIGURES,
    SOURCE_TRAIN_IMAGES,
    TASK,
    SpectrogramResNet18Config,
    source_settings,
)
from asvnb.studies.spectrogram_resnet18.training import LeakRuns
from asvnb.train.classify import SeedRun

SYSTEMS = {"SimpleCNN": "SimpleCNN", "ResNet18 transfer": "ResNet18"}
DATA = {
    "LA test": "LA19 test segments",
    "test": "LA19 + DEEP-VOICE test",
    "val": "LA19 dev + DEEP-VOICE val",
    "DV test": "DEEP-VOICE test",
    "unseen": "Imitation",
}


COMPARISON = "ResNet18 minus SimpleCNN"


def metric_summary(runs: dict[str, list[SeedRun]]) -> pd.DataFrame:
    """Accuracy, precision, recall, F1 and EER per model and set, mean over seeds."""
    frame = metric_frame(runs)
    return (
        frame.pivot_table(index=["model", "set"], columns="metric", values="value", aggfunc="mean")
        .round(3)
        .rename(columns=str.upper)
    )


def real_share_text(sets: dict[str, ImageSet]) -> str:
    """The share of real LA test segments and the EER an F1 of 0.80 for the real class needs at that share."""
    share = float((sets["test"].where(LA).labels == REAL).float().mean())
    return (
        f"Real segments are {100 * share:.0f} % of the LA test segments, so an F1 of 0.80 for the real "
        f"class at the EER point needs an EER of at most {metrics.eer_for_f1(share, 0.8):.3f}."
    )


def comparison_table(
    cfg: SpectrogramResNet18Config, runs: dict[str, list[SeedRun]], notes: dict[str, str]
) -> pd.DataFrame:
    """Every model's figures per set beside the source's, with what it trained with in the note."""
    rows = []
    for name, rs in runs.items():
        rows += comparison_rows(
            name,
            rs,
            SOURCE_FIGURES[name],
            ("val", "test", "LA test", "unseen"),
            ("f1", "accuracy", "precision", "recall", "eer"),
            note=notes[name],
        )
    return report.comparison_table(rows, cfg.profile)


def _source(name: str, split: str, metric: str) -> float | None:
    v = SOURCE_FIGURES.get(name, {}).get((split, metric))
    return float(v) if isinstance(v, (int, float)) else None


def result_rows(
    runs: dict[str, list[SeedRun]],
    leak_runs: dict[str, list[SeedRun]] | None = None,
    reps: int = 1000,
) -> list[ResultRow]:
    """The study's results rows (mean +- std over seeds, 95 % bootstrap interval over segments).

    ``leak_runs``: SimpleCNN trained on DEEP-VOICE alone, keyed by the split's
    name (``segment``, ``recording``), each scored on its own ``DV test``.
    """
    rows = []
    plan = {
        "LA test": ("f1", "eer", "accuracy", "precision", "recall"),
        "test": ("f1", "accuracy", "eer"),
        "DV test": ("f1", "eer"),
        "val": ("f1", "eer"),
        "unseen": ("f1", "accuracy", "eer"),
    }
    for name, rs in runs.items():
        for split, mets in plan.items():
            for m in mets:
                note = ""
                if (split, m) == ("unseen", "accuracy") and name == "ResNet18 transfer":
                    note = (
                        "source 0.8403 is the mean of two batch accuracies, 56/64 and 29/36; "
                        "over its whole set 85/100 = 0.85"
                    )
                table = {"unseen": "unseen", "val": "val"}.get(split, "test")
                source = _source(name, split, m)
                rows.append(
                    seed_row(
                        table,
                        SYSTEMS[name],
                        DATA[split],
                        rs,
                        split,
                        m,
                        TASK,
                        source=source,
                        note=note,
                        reps=reps,
                    )
                )
    if {"SimpleCNN", "ResNet18 transfer"} <= runs.keys():
        rows += [
            difference_row(
                "difference",
                COMPARISON,
                DATA["LA test"],
                runs["ResNet18 transfer"],
                runs["SimpleCNN"],
                "LA test",
                m,
                TASK,
                note="paired bootstrap over the same LA19 test segments; mean over each model's seeds",
                reps=reps,
            )
            for m in ("f1", "eer")
        ]
    for split_name, rs in (leak_runs or {}).items():
        for m in ("f1", "eer", "accuracy"):
            rows.append(
                seed_row(
                    "leak",
                    f"SimpleCNN, {split_name} split",
                    "DEEP-VOICE test",
                    rs,
                    "DV test",
                    m,
                    TASK,
                    note="trained on DEEP-VOICE alone",
                    reps=reps,
                )
            )
    return rows


def key_frame(rows: list[ResultRow]) -> pd.DataFrame:
    """The test and unseen key rows as a table."""
    return rows_frame(
        [r for r in rows if r.table in ("test", "unseen")],
        ("system", "data", "metric", "value", "std", "ci95", "n_seeds", "n_trials", "source"),
        {"system": "model", "n_trials": "segments"},
    )


def verdict_text(
    cfg: SpectrogramResNet18Config, rows: list[ResultRow], train: ImageSet, names: list[str]
) -> str:
    """Each model on the LA test segments: F1 and EER with their intervals, the EER weighed against the source,
    the challenge baseline and chance (:func:`asvnb.comparisons.weigh_eer`); then the images it saw."""
    lines = []
    for name in names:
        f1 = find_row(rows, "test", SYSTEMS[name], DATA["LA test"], "f1")
        eer = find_row(rows, "test", SYSTEMS[name], DATA["LA test"], "eer")
        lines.append(
            f"- **{SYSTEMS[name]}** on the LA test segments: F1 {f1.value:.3f} {f1.spread()} "
            f"(95 % CI {f1.ci95[0]:.3f}-{f1.ci95[1]:.3f}"
            + ("" if f1.source is None else f"; the source: {f1.source:.3f}")
            + f"), EER {100 * eer.value:.1f} % {eer.spread(100, 1)} "
            f"(CI {100 * eer.ci95[0]:.1f}-{100 * eer.ci95[1]:.1f} %) over {f1.n_seeds} seeds. "
            + comparisons.weigh_eer(eer, DATA["LA test"], cfg.profile)
        )
    if any(r.system == COMPARISON for r in rows):
        d = find_row(rows, "difference", COMPARISON, DATA["LA test"], "f1")
        said = {
            "reproduces": "ResNet18's F1 is higher on the same segments: our runs reproduce the source's "
            "ordering",
            "contradicts": "SimpleCNN's F1 is higher on the same segments: our runs contradict the source's "
            "ordering",
            "cannot tell": "the interval includes 0: our runs cannot tell the two apart",
        }[comparisons.ordering(d.ci95, 1)]
        lines.append(
            f"- **ResNet18 minus SimpleCNN**: F1 {d.value:+.3f} (paired 95 % CI {d.ci95[0]:+.3f} to "
            f"{d.ci95[1]:+.3f} over the same {d.n_trials:,} LA19 test segments, mean over {d.n_seeds} seed(s)); "
            f"{said}. The source: 0.894 against 0.785."
        )
    passes = {
        name: s.epochs * min(s.samples_per_epoch or len(train), len(train))
        for name, s in cfg.setups.items()
    }
    epochs = source_settings()["setups"]["SimpleCNN"]["epochs"]
    lines.append(
        "- Training images seen per run: "
        + ", ".join(f"{SYSTEMS[k]} {v:,}" for k, v in passes.items())
        + f"; the source's: {epochs} epochs x {SOURCE_TRAIN_IMAGES:,} images = {epochs * SOURCE_TRAIN_IMAGES:,}, "
        "from ImageNet weights for ResNet18. "
        "The histories above show whether the validation EER was still falling when training stopped."
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the leaks, measured

FFT_SYSTEM = "SimpleCNN, segment split, source's FFT sizes"
FFT_DATA = {
    "DV test": "DEEP-VOICE test, drawn as trained",
    "DV test, one FFT size": "DEEP-VOICE test, one FFT size",
}


SPLIT_LEAK = "SimpleCNN, segment split minus recording split"
FFT_LEAK = "SimpleCNN, source's FFT sizes: drawn as trained minus one FFT size"
SHARED = "DEEP-VOICE test, segments in both splits' test parts"


def shared_test_ids(leak: LeakRuns) -> list[str]:
    """Test segments of both DEEP-VOICE splits: the recording split never heard their recordings, the segment
    split heard other segments of them (the leak), so a paired difference on them measures it."""
    rec = set(leak.dv.ids[i] for i in leak.splits["recording"]["test"])
    return [leak.dv.ids[i] for i in leak.splits["segment"]["test"] if leak.dv.ids[i] in rec]


def leak_rows(leak: LeakRuns, reps: int = 1000) -> list[ResultRow]:
    """The leak runs' rows: each split's SimpleCNN on its own test segments, the FFT-size runs drawn both ways,
    and each leak as a paired difference on the same segments (F1 and EER)."""
    rows = result_rows({}, leak.runs, reps=reps)
    shared = shared_test_ids(leak)
    label = dict(zip(leak.dv.ids, leak.dv.labels.tolist()))
    labels = [label[i] for i in shared]
    if min(labels.count(0), labels.count(1)) >= 1 and "recording" in leak.runs:
        seg, rec = (on_trials(leak.runs[k], "DV test", shared) for k in ("segment", "recording"))
        rows += [
            difference_row(
                "difference",
                SPLIT_LEAK,
                SHARED,
                seg,
                rec,
                "DV test",
                m,
                TASK,
                reps=reps,
                note="paired over the segments both test parts hold; mean over each side's seeds",
            )
            for m in ("f1", "eer")
        ]
    if leak.fft:
        rows += [
            seed_row("leak", FFT_SYSTEM, data, leak.fft, split, m, TASK, reps=reps)
            for split, data in FFT_DATA.items()
            for m in ("f1", "eer")
        ]
        rows += [
            difference_row(
                "difference",
                FFT_LEAK,
                "DEEP-VOICE test",
                leak.fft,
                leak.fft,
                "DV test",
                m,
                TASK,
                reps=reps,
                split_b="DV test, one FFT size",
                note="the same model and segments, drawn two ways; paired",
            )
            for m in ("f1", "eer")
        ]
    return rows


def leak_frame(rows: list[ResultRow]) -> pd.DataFrame:
    """The leak rows as a table."""
    return rows_frame(
        rows,
        ("system", "data", "metric", "value", "std", "ci95", "n_trials"),
        {"system": "trained on", "data": "tested on", "n_trials": "segments"},
    )


def _points(d: ResultRow) -> str:
    """A paired EER difference in points with its interval."""
    return (
        f"{100 * d.value:+.1f} points (paired 95 % CI {100 * d.ci95[0]:+.1f} to {100 * d.ci95[1]:+.1f}, "
        f"{d.n_seeds} seed(s))"
    )


def leak_text(leak: LeakRuns, rows: list[ResultRow]) -> str:
    """Each split's EER and F1 beside an all-real model's F1, then each leak read from its paired difference."""
    lines = []
    for split in ("segment", "recording"):
        f1 = find_row(rows, "leak", f"SimpleCNN, {split} split", "DEEP-VOICE test", "f1")
        eer = find_row(rows, "leak", f"SimpleCNN, {split} split", "DEEP-VOICE test", "eer")
        p = leak.share_real(split)
        lines.append(
            f"- **{split} split**: EER {100 * eer.value:.1f} % (95 % CI {100 * eer.ci95[0]:.1f}-"
            f"{100 * eer.ci95[1]:.1f} %), F1 {f1.value:.3f} (CI {f1.ci95[0]:.3f}-{f1.ci95[1]:.3f}); "
            f"a model calling every test segment real would score F1 2p / (1 + p) = {2 * p / (1 + p):.3f} "
            f"(p = {p:.2f} real)."
        )
    split_leak = [r for r in rows if r.key() == ("difference", SPLIT_LEAK, SHARED, "eer")]
    if split_leak:
        d = split_leak[0]
        lines.append(
            f"- **the segment split's leak**, paired on the {d.n_trials} test segments both splits hold (the "
            f"recording split never heard their recordings; the segment split heard other segments of them): "
            f"segment minus recording split, EER {_points(d)}. "
            + {
                "reproduces": "The segment split's model is better on the very same segments: it profits "
                "from having heard their recordings, the leak of the source's split.",
                "contradicts": "The recording split's model is better on the very same segments: no leak "
                "shows here.",
                "cannot tell": "The interval includes 0: on these segments the leak is not established.",
            }[comparisons.ordering(d.ci95, -1)]
        )
    else:
        lines.append(
            "- **the segment split's leak**: the two splits' test parts share no segments of both classes, "
            "so no paired difference can be formed on this corpus."
        )
    if leak.fft:
        d = find_row(rows, "difference", FFT_LEAK, "DEEP-VOICE test", "eer")
        lines.append(
            "- **the source's FFT sizes**: the same model on the same test segments, drawn as in training minus "
            f"drawn with one FFT size, EER {_points(d)}. "
            + {
                "reproduces": "Drawn as in training, the segments are easier: the model learned the drawing, "
                "not the voices.",
                "contradicts": "Drawn with one FFT size, the segments are easier: no drawing cue shows.",
                "cannot tell": "The interval includes 0: the drawing cue is not established here.",
            }[comparisons.ordering(d.ci95, -1)]
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the unseen set, drawn two ways

UNSEEN = {"unseen": "Imitation", "unseen, NFFT 256": "Imitation, NFFT 256"}


def unseen_rows(runs: dict[str, list[SeedRun]]) -> list[ResultRow]:
    """Every model on the Imitation set drawn as trained and as the source drew it (NFFT 256)."""
    return [
        seed_row("unseen", SYSTEMS[name], data, rs, split, m, TASK)
        for name, rs in runs.items()
        for split, data in UNSEEN.items()
        for m in ("f1", "accuracy", "eer")
    ]


def unseen_frame(rows: list[ResultRow]) -> pd.DataFrame:
    """The unseen rows as a table."""
    return rows_frame(
        rows,
        ("system", "data", "metric", "value", "std", "ci95", "n_trials"),
        {"system": "model", "data": "drawn", "n_trials": "clips"},
    )


def all_rows(key: list[ResultRow], *more: list[ResultRow]) -> list[ResultRow]:
    """The key rows, then every row of ``more`` whose key is not among them (what the results file holds)."""
    done = {r.key() for r in key}
    return key + [r for rows in more for r in rows if r.key() not in done]
