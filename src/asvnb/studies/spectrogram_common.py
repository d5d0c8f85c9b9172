"""Spectrogram-image classifiers shared by studies 000 (CNN vs ResNet50) and 003 (SimpleCNN vs ResNet18).

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
from asvnb.train import load_best, model_config
from asvnb.train.classify import ClassifierSetup, Predictions, binary_metrics, predict, train_classifier

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

    def __init__(self, images: torch.Tensor, labels: Sequence[int], ids: Sequence[str], groups: Sequence[str]):
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        if not len(images) == len(labels) == len(ids) == len(groups):
            raise ValueError(f"{len(images)} images, {len(labels)} labels, {len(ids)} ids, {len(groups)} groups")
        self.images, self.labels = images, torch.as_tensor(list(labels), dtype=torch.long)
        self.ids, self.groups = list(ids), list(groups)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        return self.images[i].float() / 255.0, self.labels[i], self.ids[i]

    def subset(self, index: Sequence[int]) -> "ImageSet":
        """The images at ``index``, in that order."""
        index = list(index)
        return ImageSet(self.images[index], self.labels[index].tolist(), [self.ids[i] for i in index],
                        [self.groups[i] for i in index])

    def where(self, group: str) -> "ImageSet":
        """The images of one corpus."""
        idx = [i for i, g in enumerate(self.groups) if g == group]
        if not idx:
            raise ValueError(f"no images of group {group!r} (groups: {', '.join(sorted(set(self.groups)))})")
        return self.subset(idx)

    @staticmethod
    def concat(sets: Iterable["ImageSet"]) -> "ImageSet":
        """One set of the images of several, in order."""
        sets = list(sets)
        return ImageSet(torch.cat([s.images for s in sets]), [y for s in sets for y in s.labels.tolist()],
                        [i for s in sets for i in s.ids], [g for s in sets for g in s.groups])

    def counts(self, names: Mapping[int, str]) -> pd.Series:
        """Number of images per (corpus, class name)."""
        frame = pd.DataFrame({"corpus": self.groups, "class": [names[int(y)] for y in self.labels]})
        return frame.value_counts().sort_index()


def render(clips: Iterable[Clip], sr: int, route: str = "tensor", size: int = 224,
           jpeg_dir: str | Path | None = None, threads: int | None = 1) -> ImageSet:
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


def _render(clips: Iterable[Clip], sr: int, route: str, size: int, jpeg_dir: str | Path | None) -> ImageSet:
    imagers: dict[int, features.SpecgramImage] = {}
    images, labels, ids, groups = [], [], [], []
    for c in clips:
        if route == "tensor":
            if c.nfft not in imagers:  # one imager per FFT size: building one looks up the colour map
                imagers[c.nfft] = features.SpecgramImage(sr, c.nfft, c.nfft // 2, size)
            img = imagers[c.nfft](torch.from_numpy(np.ascontiguousarray(c.wav, dtype=np.float32)), torch.uint8)[0]
        else:
            path = Path(jpeg_dir) / f"{c.id.replace('/', '_')}.jpg" if jpeg_dir else None
            img = features.spectrogram_image(c.wav, sr, "source", c.nfft, c.nfft // 2, size, jpeg_path=path)
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


def score_sets(model: nn.Module, sets: Mapping[str, Dataset], task: Task, batch_size: int = 64
               ) -> tuple[dict[str, Predictions], dict[str, dict[str, Any]]]:
    """Predictions and whole-set metrics of a model on named sets."""
    preds = {k: predict(model, DataLoader(s, batch_size=batch_size)) for k, s in sets.items()}
    return preds, {k: binary_metrics(p, positive=task.positive, bonafide=task.bonafide) for k, p in preds.items()}


def train_and_score(factory: Callable[..., nn.Module], kwargs: Mapping[str, Any], train: Dataset, val: Dataset,
                    evals: Mapping[str, Dataset], setup: ClassifierSetup, task: Task, out_dir: str | Path,
                    seed: int, device: str = "auto") -> SeedRun:
    """Build ``factory(**kwargs)`` with ``seed``, train it through the shared trainer, reload its best epoch, score ``evals``."""
    config.seed_everything(seed)  # the initial weights depend on the seed
    model = factory(**kwargs)
    res = train_classifier(model, train, val, setup, out_dir=out_dir, seed=seed, positive=task.positive,
                           bonafide=task.bonafide, model_config=model_config(factory, **kwargs))
    if res.best_dir is None:
        raise RuntimeError(f"{out_dir}: training exported no best model (monitored {setup.monitor} was never finite)")
    best = load_best(res.best_dir).to(config.resolve_device(device))
    preds, mets = score_sets(best, evals, task, setup.batch_size)
    return SeedRun(seed, res.history, res.best_epoch, res.best_dir, preds, mets)


def run_seeds(name: str, factory: Callable[..., nn.Module], kwargs: Mapping[str, Any], train: Dataset,
              val: Dataset, evals: Mapping[str, Dataset], setup: ClassifierSetup, task: Task, out: str | Path,
              seeds: Sequence[int], settings: Mapping[str, Any], device: str = "auto") -> list[SeedRun]:
    """:func:`train_and_score` once per seed, each in its own :func:`run_dir`."""
    runs = []
    for seed in seeds:
        print(f"--- {name}, seed {seed}")
        out_dir = run_dir(Path(out), name, seed, model=kwargs, setup=vars(setup), **settings)
        runs.append(train_and_score(factory, kwargs, train, val, evals, setup, task, out_dir, seed, device))
    return runs


def values(runs: Sequence[SeedRun], split: str, metric: str) -> list[float]:
    """One metric of one set across seeds."""
    return [float(r.metrics[split][metric]) for r in runs]


def metric_frame(runs: Mapping[str, Sequence[SeedRun]], metrics: Sequence[str] = ("accuracy", "precision",
                 "recall", "f1", "eer")) -> pd.DataFrame:
    """Every model x set x seed x metric as a long table (for plots and for checking the summary rows)."""
    rows = [{"model": m, "set": split, "seed": r.seed, "metric": k, "value": float(v[k])}
            for m, rs in runs.items() for r in rs for split, v in r.metrics.items() for k in metrics]
    return pd.DataFrame(rows)


def comparison_rows(model: str, runs: Sequence[SeedRun], figures: Mapping[tuple[str, str], Any],
                    splits: Sequence[str], metrics: Sequence[str], note: str = "",
                    labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Rows for :func:`asvnb.report.comparison_table`: ours per seed beside the source's figure (``figures[(split, metric)]``).

    EER is shown in percent; ``labels`` renames sets in the metric column.
    """
    labels = labels or {}
    return [{"model": model, "metric": f"{labels.get(s, s)} {m}", "source": figures.get((s, m)),
             "ours": values(runs, s, m), "percent": m == "eer", "note": note}
            for s in splits for m in metrics]


def pooled_scores(runs: Sequence[SeedRun], split: str, bonafide: int) -> tuple[np.ndarray, np.ndarray]:
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
