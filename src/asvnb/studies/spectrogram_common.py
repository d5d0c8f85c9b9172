"""Spectrogram-image classifiers shared by studies 01 (CNN vs ResNet50) and 04 (SimpleCNN vs ResNet18).

Both sources turn speech into a coloured spectrogram image and train image
classifiers on it. What they share lives here: clips rendered once into an
in-memory image set by either feature route, one training run per seed through
the shared trainer, the best model reloaded and scored over whole sets, and the
rows of the results table (mean +- std over seeds beside the source's figure).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from asvnb import config, features
from asvnb.metrics import eer
from asvnb.results import ResultRow, bootstrap_ci, over_seeds
from asvnb.train import load_best, model_config
from asvnb.train.classify import (
    ClassifierSetup,
    Predictions,
    binary_metrics,
    predict,
    train_classifier,
)

ROUTES = ("tensor", "source")


@dataclass(frozen=True)
class Clip:
    """One piece of audio to render: its id, class label, corpus (``group``) and the FFT size it is drawn with."""

    id: str
    label: int
    group: str
    wav: np.ndarray
    nfft: int = 1024


class ImageSet(Dataset):
    """``(image, label, id)`` of spectrogram images held in memory as uint8 (like the source's 8-bit JPEGs)."""

    def __init__(
        self, images: torch.Tensor, labels: Sequence[int], ids: Sequence[str], groups: Sequence[str]
    ):
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(
                f"images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        if not len(images) == len(labels) == len(ids) == len(groups):
            raise ValueError(
                f"{len(images)} images, {len(labels)} labels, {len(ids)} ids, {len(groups)} groups"
            )
        self.images, self.labels = images, torch.as_tensor(list(labels), dtype=torch.long)
        self.ids, self.groups = list(ids), list(groups)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        return self.images[i].float() / 255.0, self.labels[i], self.ids[i]

    def subset(self, index: Sequence[int]) -> ImageSet:
        """The images at ``index``, in that order."""
        index = list(index)
        return ImageSet(
            self.images[index],
            self.labels[index].tolist(),
            [self.ids[i] for i in index],
            [self.groups[i] for i in index],
        )

    def where(self, group: str) -> ImageSet:
        """The images of one corpus."""
        idx = [i for i, g in enumerate(self.groups) if g == group]
        if not idx:
            raise ValueError(
                f"no images of group {group!r} (groups: {', '.join(sorted(set(self.groups)))})"
            )
        return self.subset(idx)

    @staticmethod
    def concat(sets: Iterable[ImageSet]) -> ImageSet:
        """One set of the images of several, in order."""
        sets = list(sets)
        return ImageSet(
            torch.cat([s.images for s in sets]),
            [y for s in sets for y in s.labels.tolist()],
            [i for s in sets for i in s.ids],
            [g for s in sets for g in s.groups],
        )

    def resized(self, size: int) -> ImageSet:
        """The same images scaled to ``size`` x ``size`` (bilinear, antialiased), for a model that runs on smaller
        pictures than were drawn."""
        if size == self.images.shape[-1] == self.images.shape[-2]:
            return self
        x = torch.nn.functional.interpolate(
            self.images.float(),
            size=(size, size),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
        return ImageSet(
            x.round().clamp(0, 255).to(torch.uint8), self.labels.tolist(), self.ids, self.groups
        )

    def counts(self, names: Mapping[int, str]) -> pd.Series:
        """Number of images per (corpus, class name)."""
        frame = pd.DataFrame({"corpus": self.groups, "class": [names[int(y)] for y in self.labels]})
        return frame.value_counts().sort_index()


def render(
    clips: Iterable[Clip],
    sr: int,
    route: str = "tensor",
    size: int = 224,
    jpeg_dir: str | Path | None = None,
    threads: int | None = 1,
) -> ImageSet:
    """Draw every clip as a ``size`` x ``size`` spectrogram image by the ``tensor`` or the source's ``source`` route.

    noverlap is half the FFT size: the source's 1024/512, and matplotlib's
    defaults 256/128 where the source left NFFT unset. ``jpeg_dir`` keeps the
    source route's JPEGs. ``threads``: torch threads while drawing (None: the
    current setting); see :func:`single_thread` for why the default is one.
    """
    if route not in ROUTES:
        raise ValueError(f"route must be one of {ROUTES}, got {route!r}")
    with single_thread(threads):
        return _render(clips, sr, route, size, jpeg_dir)


@contextmanager
def single_thread(threads: int | None = 1):
    """Run torch on ``threads`` threads (default one; None: unchanged) inside the block, then restore the count.

    One is the default for loops over one small clip at a time: handing each op
    to the thread pool costs more than it saves, worst on a busy machine, where
    every hand-off waits for a time slice (measured: 100 four-second clips drawn
    in 26 s with 2 threads on a loaded 2-core machine, 0.45 s with one). On an
    idle machine long clips draw faster on every core.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _render(
    clips: Iterable[Clip], sr: int, route: str, size: int, jpeg_dir: str | Path | None
) -> ImageSet:
    imagers: dict[int, features.SpecgramImage] = {}
    images, labels, ids, groups = [], [], [], []
    for c in clips:
        if route == "tensor":
            if (
                c.nfft not in imagers
            ):  # one imager per FFT size: building one looks up the colour map
                imagers[c.nfft] = features.SpecgramImage(sr, c.nfft, c.nfft // 2, size)
            img = imagers[c.nfft](
                torch.from_numpy(np.ascontiguousarray(c.wav, dtype=np.float32)), torch.uint8
            )[0]
        else:
            path = Path(jpeg_dir) / f"{c.id.replace('/', '_')}.jpg" if jpeg_dir else None
            img = features.spectrogram_image(
                c.wav, sr, "source", c.nfft, c.nfft // 2, size, jpeg_path=path
            )
            img = (img * 255).round().to(torch.uint8)
        images.append(img)
        labels.append(c.label)
        ids.append(c.id)
        groups.append(c.group)
    if not images:
        raise ValueError("no clips to render")
    return ImageSet(torch.stack(images), labels, ids, groups)


@dataclass
class Task:
    """What the classifier is asked: which label is bona fide, which is the positive class of F1, their names."""

    bonafide: int
    positive: int
    names: dict[int, str]


@dataclass
class SeedRun:
    """One trained model: its history, best epoch and directory, and predictions and metrics on each set."""

    seed: int
    history: pd.DataFrame
    best_epoch: int | None
    best_dir: Path
    predictions: dict[str, Predictions] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_dir(out: Path, name: str, seed: int, **settings: Any) -> Path:
    """A run's folder: its name, a hash of everything it depends on, its seed.

    A rerun with the same settings resumes (or reuses) the checkpoint there; a
    change of data, route or optimiser settings starts a new folder instead.
    """
    return Path(out) / f"{name}-{config.stable_hash(settings)[:10]}" / f"seed{seed}"


def score_sets(
    model: nn.Module, sets: Mapping[str, Dataset], task: Task, batch_size: int = 64
) -> tuple[dict[str, Predictions], dict[str, dict[str, Any]]]:
    """Predictions and whole-set metrics of a model on named sets."""
    preds = {k: predict(model, DataLoader(s, batch_size=batch_size)) for k, s in sets.items()}
    return preds, {
        k: binary_metrics(p, positive=task.positive, bonafide=task.bonafide)
        for k, p in preds.items()
    }


def train_and_score(
    factory: Callable[..., nn.Module],
    kwargs: Mapping[str, Any],
    train: Dataset,
    val: Dataset,
    evals: Mapping[str, Dataset],
    setup: ClassifierSetup,
    task: Task,
    out_dir: str | Path,
    seed: int,
    device: str = "auto",
) -> SeedRun:
    """Build ``factory(**kwargs)`` with ``seed``, train it through the shared trainer, reload its best epoch, score ``evals``."""
    config.seed_everything(seed)  # the initial weights depend on the seed
    model = factory(**kwargs)
    res = train_classifier(
        model,
        train,
        val,
        setup,
        out_dir=out_dir,
        seed=seed,
        positive=task.positive,
        bonafide=task.bonafide,
        model_config=model_config(factory, **kwargs),
    )
    if res.best_dir is None:
        raise RuntimeError(
            f"{out_dir}: training exported no best model (monitored {setup.monitor} was never finite)"
        )
    best = load_best(res.best_dir).to(config.resolve_device(device))
    preds, mets = score_sets(best, evals, task, setup.batch_size)
    return SeedRun(seed, res.history, res.best_epoch, res.best_dir, preds, mets)


def run_seeds(
    name: str,
    factory: Callable[..., nn.Module],
    kwargs: Mapping[str, Any],
    train: Dataset,
    val: Dataset,
    evals: Mapping[str, Dataset],
    setup: ClassifierSetup,
    task: Task,
    out: str | Path,
    seeds: Sequence[int],
    settings: Mapping[str, Any],
    device: str = "auto",
) -> list[SeedRun]:
    """:func:`train_and_score` once per seed, each in its own :func:`run_dir`."""
    runs = []
    for seed in seeds:
        print(f"--- {name}, seed {seed}")
        out_dir = run_dir(Path(out), name, seed, model=kwargs, setup=vars(setup), **settings)
        runs.append(
            train_and_score(factory, kwargs, train, val, evals, setup, task, out_dir, seed, device)
        )
    return runs


def join_sets(run: SeedRun, name: str, parts: Sequence[str], task: Task) -> SeedRun:
    """Add set ``name`` to a run as the scored ``parts`` in order (no model is run twice over the same images)."""
    preds = [run.predictions[p] for p in parts]
    joined = Predictions(
        np.concatenate([p.logits for p in preds]),
        np.concatenate([p.labels for p in preds]),
        [i for p in preds for i in p.ids],
    )
    run.predictions[name] = joined
    run.metrics[name] = binary_metrics(joined, positive=task.positive, bonafide=task.bonafide)
    return run


def values(runs: Sequence[SeedRun], split: str, metric: str) -> list[float]:
    """One metric of one set across seeds."""
    return [float(r.metrics[split][metric]) for r in runs]


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
) -> list[dict[str, Any]]:
    """Rows for :func:`asvnb.report.comparison_table`: ours per seed beside the source's figure (``figures[(split, metric)]``).

    EER is shown in percent; ``labels`` renames sets in the metric column.
    """
    labels = labels or {}
    return [
        {
            "model": model,
            "metric": f"{labels.get(s, s)} {m}",
            "source": figures.get((s, m)),
            "ours": values(runs, s, m),
            "percent": m == "eer",
            "note": note,
        }
        for s in splits
        for m in metrics
    ]


def pooled_scores(
    runs: Sequence[SeedRun], split: str, bonafide: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bona fide and spoof CM scores of one set, pooled over seeds (for DET curves)."""
    bona, spoof = [], []
    for r in runs:
        p = r.predictions[split]
        s = p.scores(bonafide)
        bona.append(s[p.labels == bonafide])
        spoof.append(s[p.labels != bonafide])
    return np.concatenate(bona), np.concatenate(spoof)


def median_run(runs: Sequence[SeedRun], split: str, metric: str = "f1") -> SeedRun:
    """The run whose metric is the median (lower middle) across seeds: the one shown in single-run figures."""
    order = np.argsort(values(runs, split, metric), kind="stable")
    return runs[int(order[(len(order) - 1) // 2])]


# ----------------------------------------------------------------------------- images drawn once, kept on disk


def cached_images(
    folder: str | Path, name: str, key: Mapping[str, Any], draw: Callable[[], ImageSet]
) -> ImageSet:
    """``draw()`` once per ``key`` (everything the images depend on), kept as ``<folder>/<name>-<hash>.pt``.

    Drawing thousands of clips costs more than a few training epochs on 2
    cores; a rerun with the same data and drawing settings reads them back.
    """
    path = Path(folder) / f"{name}-{config.stable_hash(dict(key))[:12]}.pt"
    if path.is_file():
        d = torch.load(path, weights_only=True)
        return ImageSet(d["images"], d["labels"], d["ids"], d["groups"])
    images = draw()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    torch.save(
        {
            "images": images.images,
            "labels": images.labels.tolist(),
            "ids": images.ids,
            "groups": images.groups,
        },
        tmp,
    )
    tmp.replace(path)  # atomic: an interrupted run never leaves a half-written cache
    return images


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
