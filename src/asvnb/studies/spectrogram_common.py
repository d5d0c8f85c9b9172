"""What studies 01 (CNN vs ResNet50) and 04 (SimpleCNN vs ResNet18) share above the trainer.

Both sources turn speech into a coloured spectrogram image and train image
classifiers on it (:mod:`asvnb.data.images`, :func:`asvnb.features.render`,
one run per seed in :mod:`asvnb.train.classify`). Shared here: a notebook's
start (settings, seeds, fingerprint, banner), the settings read from the
study's YAML files, and the rows of the results tables (mean +- std over
seeds, with a bootstrap interval over trials, beside the source's figure).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from asvnb import config
from asvnb.metrics import eer
from asvnb.report import ComparisonRow
from asvnb.results import ResultRow, bootstrap_ci, over_seeds, paired_difference
from asvnb.train.classify import SeedRun, Task, values

# the backbone weights as the notes say them
BACKBONES = {None: "random init (no ImageNet weights offline)", "imagenet": "ImageNet weights"}


def backbone(weights: str | None) -> str:
    """How a note names the weights a backbone starts from."""
    return BACKBONES.get(weights, f"weights {weights}")


def load_tree(
    study: str, profile: str, overrides: Mapping[str, Any], epochs: int | None = None
) -> dict[str, Any]:
    """The study's settings of ``profile`` (or ``source``) with ``overrides``; ``epochs`` sets every setup's epochs."""
    if epochs is not None:
        names = config.load_settings(study, profile)["setups"]
        overrides = {**{f"setups.{name}.epochs": epochs for name in names}, **overrides}
    return config.load_settings(study, profile, overrides)


def image_tree(
    study: str, file: str, params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Studies 01 and 04's settings tree and device: ``epochs`` sets every model's epochs, ``weights`` the
    ImageNet backbone (None there means random initialisation); None and "default" keep the file's value."""
    epochs, weights = params.pop("epochs", None), params.pop("weights", "default")
    device = params.pop("device", "auto")
    tree = load_tree(study, file, params, epochs)
    if weights != "default":  # None is a value here (random init), not "keep the profile's"
        tree["weights"] = weights
    return tree, {"device": device}


def bullets(items: Mapping[str, str]) -> str:
    """A markdown list: ``- **key**: value`` per item."""
    return "\n".join(f"- **{k}**: {v}" for k, v in items.items())


def find_row(
    rows: Sequence[ResultRow], table: str, system: str, data: str, metric: str
) -> ResultRow:
    """The row of key ``(table, system, data, metric)``."""
    return next(r for r in rows if r.key() == (table, system, data, metric))


# a results row's fields as a table shows them
ROW_FIELDS = (
    "table",
    "system",
    "data",
    "metric",
    "value",
    "std",
    "ci95",
    "n_seeds",
    "n_trials",
    "source",
)
HEADERS = {"value": "mean", "n_seeds": "seeds", "n_trials": "trials"}


def rows_frame(
    rows: Sequence[ResultRow],
    fields: Sequence[str] = ROW_FIELDS,
    headers: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Results rows as a table rounded to 3 digits: mean, std over seeds, 95 % interval, the source's figure."""
    names = HEADERS | dict(headers or {})
    return pd.DataFrame(
        [
            {
                names.get(f, f): f"[{r.ci95[0]:.3f}, {r.ci95[1]:.3f}]"
                if f == "ci95"
                else getattr(r, f)
                for f in fields
            }
            for r in rows
        ]
    ).round(3)


def metric_frame(
    runs: Mapping[str, Sequence[SeedRun]],
    metrics: Sequence[str] = ("accuracy", "precision", "recall", "f1", "eer"),
) -> pd.DataFrame:
    """Every model x set x seed x metric as a long table (for plots and for checking the summary rows)."""
    rows = [
        {"model": m, "set": split, "seed": r.seed, "metric": k, "value": float(v[k])}
        for m, rs in runs.items()
        for r in rs
        for split, v in r.metrics.items()
        for k in metrics
    ]
    return pd.DataFrame(rows)


def comparison_rows(
    model: str,
    runs: Sequence[SeedRun],
    figures: Mapping[tuple[str, str], Any],
    splits: Sequence[str],
    metrics: Sequence[str],
    note: str = "",
    labels: Mapping[str, str] | None = None,
) -> list[ComparisonRow]:
    """Rows for :func:`asvnb.report.comparison_table`: ours per seed beside the source's figure (``figures[(split, metric)]``).

    EER is shown in percent; ``labels`` renames sets in the metric column.
    """
    labels = labels or {}
    return [
        ComparisonRow(
            model,
            f"{labels.get(s, s)} {m}",
            values(runs, s, m),
            source=figures.get((s, m)),
            note=note,
            percent=m == "eer",
        )
        for s in splits
        for m in metrics
    ]


# ----------------------------------------------------------------------------- machine-readable results

# a metric of (labels, predicted classes, CM scores), recomputed on bootstrap resamples of the trials
MetricFn = Callable[[np.ndarray, np.ndarray, np.ndarray], float]
# metrics of a set of predictions, recomputed on bootstrap resamples of its trials
RATE_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "eer",
)


def fast_metric(
    labels: np.ndarray, predicted: np.ndarray, scores: np.ndarray, metric: str, task: Task
) -> float:
    """One of :data:`RATE_METRICS` from counts (the bootstrap calls it thousands of times; sklearn's checks cost more).

    Agrees with :func:`asvnb.train.classify.binary_metrics` (zero_division 0).
    """
    if metric == "eer":
        bona = labels == task.bonafide
        return float(eer(scores[bona], scores[~bona])[0])
    if metric == "accuracy":
        return float(np.mean(labels == predicted))

    def prf(c: int) -> tuple[float, float, float]:
        tp = float(np.sum((labels == c) & (predicted == c)))
        n_pred, n_true = float(np.sum(predicted == c)), float(np.sum(labels == c))
        p = tp / n_pred if n_pred else 0.0
        r = tp / n_true if n_true else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    kind = ("precision", "recall", "f1")
    if metric in kind:
        return prf(task.positive)[kind.index(metric)]
    base = metric.removesuffix("_weighted")
    if metric.endswith("_weighted") and base in kind:
        support = np.array([np.sum(labels == c) for c in (0, 1)], dtype=float)
        per = np.array([prf(c)[kind.index(base)] for c in (0, 1)])
        return float(per @ support / support.sum())
    raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(RATE_METRICS)}")


def seed_row(
    table: str,
    system: str,
    data: str,
    runs: Sequence[SeedRun],
    split: str,
    metric: str,
    task: Task,
    source: float | None = None,
    note: str = "",
    reps: int = 1000,
    fn: MetricFn | Sequence[MetricFn] | None = None,
) -> ResultRow:
    """A results row: mean +- std over seeds of ``metric`` on ``split``, with a 95 % bootstrap interval over trials.

    Each resample draws the same trials for every seed (they share the set) and
    averages the seeds' metrics on it, so the interval is that of the reported
    mean; classes are resampled apart, so each resample keeps both. ``fn(labels,
    predicted, scores)`` computes a metric that is not one of :data:`RATE_METRICS`
    (``metric`` then only names the row); a list gives one per seed.
    """
    fns = list(fn) if isinstance(fn, Sequence) else [fn] * len(runs)
    if len(fns) != len(runs):
        raise ValueError(f"{len(fns)} metric functions for {len(runs)} seeds")

    def one(k: int, y: np.ndarray, yhat: np.ndarray, s: np.ndarray) -> float:
        return fns[k](y, yhat, s) if fns[k] is not None else fast_metric(y, yhat, s, metric, task)

    preds = [r.predictions[split] for r in runs]
    labels = preds[0].labels
    if any(not np.array_equal(p.labels, labels) for p in preds):
        raise ValueError(f"{split}: the seeds were scored on different trials")
    per_seed = [(p.predicted, p.scores(task.bonafide)) for p in preds]
    vals = [one(k, labels, yhat, s) for k, (yhat, s) in enumerate(per_seed)]

    def stat(idx: np.ndarray) -> float:
        return float(
            np.mean(
                [one(k, labels[idx], yhat[idx], s[idx]) for k, (yhat, s) in enumerate(per_seed)]
            )
        )

    ci = bootstrap_ci(stat, len(labels), reps=reps, seed=0, strata=labels)
    return ResultRow(
        table,
        system,
        data,
        metric,
        **over_seeds(vals),
        ci95=ci,
        n_trials=int(len(labels)),
        source=source,
        note=note,
    )


def difference_row(
    table: str,
    system: str,
    data: str,
    a: Sequence[SeedRun],
    b: Sequence[SeedRun],
    split: str,
    metric: str,
    task: Task,
    note: str = "",
    reps: int = 1000,
    split_b: str | None = None,
) -> ResultRow:
    """``a`` minus ``b`` on the same trials: mean over each side's seeds, with a paired 95 % bootstrap interval.

    Both sides must have scored the same trials in the same order (``split``, or ``split_b`` for ``b``: the same
    clips drawn another way); each replicate resamples those trials once for both (:func:`paired_difference`).
    """
    pa = [r.predictions[split] for r in a]
    pb = [r.predictions[split_b or split] for r in b]
    labels, ids = pa[0].labels, pa[0].ids
    for p in pa + pb:
        if not np.array_equal(p.labels, labels) or (ids and p.ids and p.ids != ids):
            raise ValueError(
                f"{system}: the two sides were not scored on the same trials of {split}"
            )

    def stat(p: Any) -> Callable[[np.ndarray], float]:
        yhat, s = p.predicted, p.scores(task.bonafide)
        return lambda idx: fast_metric(labels[idx], yhat[idx], s[idx], metric, task)

    d = paired_difference([stat(p) for p in pa], [stat(p) for p in pb], len(labels), labels, reps)
    return ResultRow(table, system, data, metric, n_trials=int(len(labels)), note=note, **d)


def on_trials(runs: Sequence[SeedRun], split: str, ids: Sequence[str]) -> list[SeedRun]:
    """The runs with ``split``'s predictions cut down to the trials ``ids``, in that order (two models tested on
    different sets are paired on the trials both sets hold)."""
    out = []
    for r in runs:
        p = r.predictions[split]
        where = {i: k for k, i in enumerate(p.ids)}
        missing = [i for i in ids if i not in where]
        if missing:
            raise ValueError(f"{split}: {len(missing)} trial(s) not scored, e.g. {missing[0]!r}")
        k = np.array([where[i] for i in ids], dtype=int)
        sub = type(p)(p.logits[k], p.labels[k], list(ids))
        out.append(type(r)(r.seed, r.history, r.best_epoch, r.best_dir, {split: sub}))
    return out
