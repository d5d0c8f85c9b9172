"""Supervised bona fide / spoof classification with the shared trainer (studies 01 and 04).

Batches are ``(x, y)`` or ``(x, y, ids)``. Scores follow the ASVspoof
convention (higher = more bona fide): the log-odds of the bona fide class,
``logit[bonafide] - logit[other]`` for two classes. Metrics are computed over
the whole set, never averaged over batches (the study 04 source averaged F1 over
batches, which is biased when batches differ in size or class balance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import precision_recall_fscore_support
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from asvnb import metrics
from asvnb.train.loop import TrainConfig, Trainer, TrainResult


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


def make_evaluate_fn(*, positive: int, bonafide: int):
    """Validation for the trainer: loss, accuracy, F1 and EER over the whole validation set."""

    def evaluate(model: nn.Module, loader: Any) -> dict[str, float]:
        pred = predict(model, loader)
        loss = float(
            F.cross_entropy(torch.as_tensor(pred.logits), torch.as_tensor(pred.labels).long())
        )
        m = binary_metrics(pred, positive=positive, bonafide=bonafide)
        return {"val_loss": loss, "val_acc": m["accuracy"], "val_f1": m["f1"], "val_eer": m["eer"]}

    return evaluate


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


def train_classifier(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset,
    setup: ClassifierSetup,
    *,
    out_dir: str | Path,
    seed: int,
    positive: int,
    bonafide: int,
    model_config: dict[str, Any] | None = None,
) -> TrainResult:
    """Train with Adam and cross entropy through the shared trainer (checkpoints, resume, history, best model)."""
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
    opt = torch.optim.Adam(model.parameters(), lr=setup.lr, weight_decay=setup.weight_decay)
    cfg = TrainConfig(
        out_dir=Path(out_dir),
        epochs=setup.epochs,
        seed=seed,
        monitor=setup.monitor,
        mode=setup.mode,
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
        val_loader=val,
        evaluate_fn=make_evaluate_fn(positive=positive, bonafide=bonafide),
        model_config=model_config,
    )
    return trainer.fit()
