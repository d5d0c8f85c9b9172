"""Supervised bona fide / spoof classification with the shared trainer (studies 01 and 04).

One run per seed (:func:`run_seeds`): the model built with the seed, trained
in its own run folder, its best epoch reloaded and scored over whole sets.
Batches are ``(x, y)`` or ``(x, y, ids)``. Scores follow the ASVspoof
convention (higher = more bona fide): the log-odds of the bona fide class,
``logit[bonafide] - logit[other]`` for two classes. Metrics are computed over
the whole set, never averaged over batches (the study 04 source averaged F1 over
batches, which is biased when batches differ in size or class balance).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import precision_recall_fscore_support
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from asvnb import config, metrics
from asvnb.files import run_dir
from asvnb.provenance import module_of
from asvnb.train.loop import EvalFn, TrainConfig, Trainer, TrainResult, load_best, model_config


@dataclass
class Predictions:
    """Per-example logits, labels and ids of one evaluation pass."""

    logits: np.ndarray
    labels: np.ndarray
    ids: list[str] = field(default_factory=list)

    def scores(self, bonafide: int) -> np.ndarray:
        """CM scores, higher = more bona fide: log-odds of the bona fide class against the rest."""
        lp = torch.log_softmax(torch.as_tensor(self.logits, dtype=torch.float64), dim=1)
        own = lp[:, bonafide]
        rest = torch.logsumexp(torch.cat([lp[:, :bonafide], lp[:, bonafide + 1 :]], dim=1), dim=1)
        return (own - rest).numpy()

    @property
    def predicted(self) -> np.ndarray:
        """Arg-max class of each example."""
        return self.logits.argmax(axis=1)


def ce_step(
    model: nn.Module, batch: Any, weight: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """One cross-entropy step (optional class ``weight``) on a ``(x, y[, ids])`` batch; reports the batch accuracy."""
    x, y = batch[0], batch[1]
    logits = model(x)
    weight = None if weight is None else weight.to(logits.device)
    return F.cross_entropy(logits, y, weight=weight), {
        "acc": float((logits.argmax(1) == y).float().mean())
    }


def balanced_weights(labels: Any, n_classes: int = 2) -> torch.Tensor:
    """Class weights ``n / (n_classes * count)`` (sklearn's "balanced"): every class weighs the same in the loss."""
    y = torch.as_tensor(labels).long()
    counts = torch.bincount(y, minlength=n_classes).float()
    if (counts == 0).any():
        raise ValueError(
            f"class counts {counts.tolist()}: every class needs at least one training example"
        )
    return len(y) / (n_classes * counts)


def _labels(ds: Dataset) -> torch.Tensor:
    # ImageSet keeps its labels; a TensorDataset keeps them as its second tensor; anything else is read item by item
    if hasattr(ds, "labels"):
        return torch.as_tensor(ds.labels)
    if hasattr(ds, "tensors"):
        return ds.tensors[1]
    return torch.as_tensor([int(ds[i][1]) for i in range(len(ds))])


@torch.no_grad()
def predict(model: nn.Module, loader: Any, device: torch.device | str | None = None) -> Predictions:
    """Run a model over a loader in eval mode; gather logits, labels and ids."""
    model.eval()
    device = device or next(model.parameters()).device
    logits, labels, ids = [], [], []
    for batch in loader:
        x = batch[0].to(device)
        logits.append(model(x).float().cpu())
        labels.append(torch.as_tensor(batch[1]).cpu())
        if len(batch) > 2:
            ids.extend(list(batch[2]))
    return Predictions(torch.cat(logits).numpy(), torch.cat(labels).numpy(), ids)


def weighted_prf(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 averaged over both classes weighted by their support (sklearn's ``weighted``).

    This is what ``classification_report``'s "weighted avg" row prints, and so
    what a source that quotes it reports; its recall equals the accuracy.
    """
    p, r, f1, _ = precision_recall_fscore_support(
        labels, predicted, labels=[0, 1], average="weighted", zero_division=0
    )
    return {"precision_weighted": float(p), "recall_weighted": float(r), "f1_weighted": float(f1)}


def binary_metrics(pred: Predictions, *, positive: int, bonafide: int) -> dict[str, Any]:
    """Accuracy, P/R/F1 (of ``positive``, and support-weighted), confusion matrix and EER over the whole set."""
    rep = metrics.classification_report(
        pred.labels, pred.predicted, positive=positive, labels=[0, 1]
    )
    scores = pred.scores(bonafide)
    bona, spoof = scores[pred.labels == bonafide], scores[pred.labels != bonafide]
    eer, thr = (
        metrics.eer(bona, spoof) if len(bona) and len(spoof) else (float("nan"), float("nan"))
    )
    return {**rep, **weighted_prf(pred.labels, pred.predicted), "eer": eer, "eer_threshold": thr}


def make_evaluate_fn(*, positive: int, bonafide: int) -> EvalFn:
    """Validation for the trainer: loss, accuracy, F1 and EER over the whole validation set."""

    def evaluate(model: nn.Module, loader: Any) -> dict[str, float]:
        pred = predict(model, loader)
        loss = float(
            F.cross_entropy(torch.as_tensor(pred.logits), torch.as_tensor(pred.labels).long())
        )
        m = binary_metrics(pred, positive=positive, bonafide=bonafide)
        return {"val_loss": loss, "val_acc": m["accuracy"], "val_f1": m["f1"], "val_eer": m["eer"]}

    return evaluate


def loss_accuracy_eval(model: nn.Module, loader: Any) -> dict[str, float]:
    """Validation of a many-class classifier (a speaker classifier): loss and accuracy over the whole set."""
    p = predict(model, loader)
    loss = float(F.cross_entropy(torch.as_tensor(p.logits), torch.as_tensor(p.labels).long()))
    return {"val_loss": loss, "val_acc": float((p.predicted == p.labels).mean())}


@dataclass
class ClassifierSetup:
    """Optimiser and loop settings of one classifier (the sources' values are given by each study)."""

    lr: float = 1e-3
    batch_size: int = 64
    epochs: int = 30
    weight_decay: float = 0.0
    # the best epoch is the one of lowest validation EER: a threshold-free rank measure that an epoch calling
    # everything one class cannot win, unlike the F1 of one class (the all-real model scores 2p / (1 + p))
    monitor: str = "val_eer"
    mode: str = "min"
    num_workers: int = 0
    samples_per_epoch: int | None = (
        None  # None: every training example each epoch; else a fresh random subset
    )
    # class-balanced cross entropy: with 80 % spoofs, the plain loss sits at the prior's entropy while a model
    # learns to call everything spoofed, and (measured on the embedded LA) a small CNN can stay there for epochs
    balanced: bool = False
    # the learning rate over training: "constant" (the sources' plain Adam) or "one_cycle" (warm up to ``lr``,
    # then anneal to near 0, stepped per batch; Smith & Topin 2019): from random weights on a few thousand
    # images it reaches in 20 epochs what a constant rate does not reach in 60 (measured on study 01's images)
    schedule: str = "constant"
    # Adam's fused kernel (torch's ``fused=True``): the same update in one pass over every parameter. Where a
    # big model sees small images the update, not the images, sets a step's cost: on one CPU thread it cut
    # ResNet50's step at 32 px from 0.69 to 0.55 s (the update 0.15 -> 0.035 s), ResNet18's at 112 px by 15 %
    fused: bool = False
    # the share of the epochs, from the first, that are neither validated nor eligible as the best (0: none; 0.5:
    # the best epoch comes from the second half): see TrainConfig.validate_from
    skip_validation: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.skip_validation < 1.0:
            raise ValueError(f"skip_validation must be in [0, 1), got {self.skip_validation}")
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"
            )

    @property
    def validate_from(self) -> int:
        """The first epoch validated: the one after the skipped share of the epochs."""
        return int(self.skip_validation * self.epochs) + 1


SCHEDULES = ("constant", "one_cycle")
# setup fields added after the first runs, left out of a run's key at their defaults (they train as before), so
# that the runs already made keep their folders
_ADDED_DEFAULTS = {"skip_validation": 0.0}


def train_classifier(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset,
    setup: ClassifierSetup,
    *,
    out_dir: str | Path,
    seed: int,
    positive: int | None = None,
    bonafide: int | None = None,
    model_config: dict[str, Any] | None = None,
    evaluate_fn: EvalFn | None = None,
) -> TrainResult:
    """Train with Adam and cross entropy through the shared trainer (checkpoints, resume, history, best model).

    Validation is :func:`make_evaluate_fn` of ``positive`` and ``bonafide``
    unless ``evaluate_fn`` is given (e.g. :func:`loss_accuracy_eval`).
    """
    # no private generator: the shuffle then draws from torch's global RNG, which the trainer seeds and
    # checkpoints, so a resumed run sees the same batches as an uninterrupted one
    sampler = None
    if setup.samples_per_epoch is not None and setup.samples_per_epoch < len(train_set):
        # a different random subset each epoch (the first samples_per_epoch of a fresh permutation)
        sampler = RandomSampler(train_set, num_samples=setup.samples_per_epoch)
    train = DataLoader(
        train_set,
        batch_size=setup.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        num_workers=setup.num_workers,
    )
    val = DataLoader(val_set, batch_size=setup.batch_size, num_workers=setup.num_workers)
    opt = torch.optim.Adam(
        model.parameters(), lr=setup.lr, weight_decay=setup.weight_decay, fused=setup.fused or None
    )
    scheduler = None
    if setup.schedule == "one_cycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=setup.lr, total_steps=setup.epochs * len(train)
        )
    cfg = TrainConfig(
        out_dir=Path(out_dir),
        epochs=setup.epochs,
        seed=seed,
        monitor=setup.monitor,
        mode=setup.mode,
        scheduler_interval="step",
        validate_from=setup.validate_from,
    )
    step = ce_step
    if setup.balanced:
        weight = balanced_weights(_labels(train_set))
        step = lambda m, b: ce_step(m, b, weight=weight)  # noqa: E731
    trainer = Trainer(
        model,
        opt,
        train,
        step,
        cfg,
        scheduler=scheduler,
        val_loader=val,
        evaluate_fn=evaluate_fn or make_evaluate_fn(positive=positive, bonafide=bonafide),
        model_config=model_config,
    )
    return trainer.fit()


# ----------------------------------------------------------------------------- one run per seed


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


def seed_run_dir(
    out: str | Path,
    name: str,
    seed: int,
    kwargs: Mapping[str, Any],
    setup: ClassifierSetup,
    settings: Mapping[str, Any],
    code: Sequence[str] = (),
) -> Path:
    """A run's folder: its name, a hash of the model, the setup, everything else it depends on and the code that
    trains it (this module, and ``code``: the model's and the sets' modules), its seed.

    A rerun with the same settings and code resumes (or reuses) the checkpoint
    there; a change of data, route, optimiser settings or training code starts a
    new folder instead.
    """
    setup_key = {k: v for k, v in vars(setup).items() if _ADDED_DEFAULTS.get(k, ...) != v}
    settings = {"model": kwargs, "setup": setup_key, **settings}
    return run_dir(out, name, settings, seed, code=(__name__, *code))


def train_seed(
    factory: Callable[..., nn.Module],
    kwargs: Mapping[str, Any],
    train: Dataset,
    val: Dataset,
    setup: ClassifierSetup,
    out_dir: str | Path,
    seed: int,
    **fit: Any,
) -> TrainResult:
    """Build ``factory(**kwargs)`` with ``seed`` and train it (:func:`train_classifier` with ``fit``); it must export a best model."""
    config.seed_everything(seed)  # the initial weights depend on the seed
    res = train_classifier(
        factory(**kwargs),
        train,
        val,
        setup,
        out_dir=out_dir,
        seed=seed,
        model_config=model_config(factory, **kwargs),
        **fit,
    )
    if res.best_dir is None:
        raise RuntimeError(
            f"{out_dir}: training exported no best model (monitored {setup.monitor} was never finite)"
        )
    return res


def score_sets(
    model: nn.Module, sets: Mapping[str, Dataset], task: Task, batch_size: int = 64
) -> tuple[dict[str, Predictions], dict[str, dict[str, Any]]]:
    """Predictions and whole-set metrics of a model on named sets."""
    preds = {k: predict(model, DataLoader(s, batch_size=batch_size)) for k, s in sets.items()}
    return preds, {
        k: binary_metrics(p, positive=task.positive, bonafide=task.bonafide)
        for k, p in preds.items()
    }


@dataclass(frozen=True)
class ClassifierJob:
    """What a classifier run trains and scores, whatever its seed: the model, the sets and how to train."""

    factory: Callable[..., nn.Module]
    kwargs: Mapping[str, Any]
    train: Dataset
    val: Dataset
    evals: Mapping[str, Dataset]
    setup: ClassifierSetup
    task: Task
    device: str = "auto"
    # the modules that made the sets (the study's): their code keys the run, with this module's and the model's
    code: tuple[str, ...] = ()


def train_and_score(job: ClassifierJob, out_dir: str | Path, seed: int) -> SeedRun:
    """:func:`train_seed`, then reload the best epoch and score ``job.evals``."""
    task = job.task
    res = train_seed(
        job.factory,
        job.kwargs,
        job.train,
        job.val,
        job.setup,
        out_dir,
        seed,
        positive=task.positive,
        bonafide=task.bonafide,
    )
    best = load_best(res.best_dir).to(config.resolve_device(job.device))
    preds, mets = score_sets(best, job.evals, task, job.setup.batch_size)
    return SeedRun(seed, res.history, res.best_epoch, res.best_dir, preds, mets)


def run_seeds(
    name: str,
    job: ClassifierJob,
    out: str | Path,
    seeds: Sequence[int],
    settings: Mapping[str, Any],
) -> list[SeedRun]:
    """:func:`train_and_score` once per seed, each in its own :func:`seed_run_dir`."""
    runs = []
    for seed in seeds:
        print(f"--- {name}, seed {seed}")
        code = (module_of(job.factory), *job.code)
        out_dir = seed_run_dir(out, name, seed, job.kwargs, job.setup, settings, code)
        runs.append(train_and_score(job, out_dir, seed))
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


def median_run(runs: Sequence[SeedRun], split: str, metric: str = "f1") -> SeedRun:
    """The run whose metric is the median (lower middle) across seeds: the one shown in single-run figures."""
    order = np.argsort(values(runs, split, metric), kind="stable")
    return runs[int(order[(len(order) - 1) // 2])]


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
