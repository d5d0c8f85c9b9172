"""Step functions for :class:`asvnb.train.Trainer`: GE2E pre-training, NLL over log-probabilities, distillation.

A step takes the model and a batch and returns ``(loss, {name: value})``;
the trainer logs the values as ``train_<name>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from asvnb.train.losses import GE2ELoss, distillation_loss

Step = Callable[[nn.Module, Any], tuple[torch.Tensor, dict[str, float]]]


class GE2EPretrainer(nn.Module):
    """A model with an ``embed`` method and the GE2E loss's w, b in one module, so the optimiser and the
    checkpoints hold both.

    Args:
        model: maps a batch (N M, ...) to embeddings (N M, D) through ``model.embed``.
        n_speakers: N of the speaker-major batches (:class:`asvnb.data.samplers.GE2EBatchSampler`).
        n_utts: M.
    """

    def __init__(self, model: nn.Module, n_speakers: int, n_utts: int):
        super().__init__()
        self.model, self.loss = model, GE2ELoss()
        self.n_speakers, self.n_utts = n_speakers, n_utts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """GE2E loss of a speaker-major (N M, samples) batch."""
        emb = self.model.embed(x)
        return self.loss(emb.reshape(self.n_speakers, self.n_utts, -1))


def ge2e_step(module: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
    """One GE2E step of a :class:`GE2EPretrainer` (or its accelerate wrapper); logs the learnt w and b."""
    loss = module(batch[0])
    inner = getattr(module, "module", module)
    return loss, {"w": float(inner.loss.w.detach()), "b": float(inner.loss.b.detach())}


def nll_step(model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
    """One NLL step on a ``(x, y[, ids])`` batch of a model that returns log-probabilities; logs the accuracy."""
    x, y = batch[0], batch[1]
    logp = model(x)
    return F.nll_loss(logp, y), {"acc": float((logp.argmax(1) == y).float().mean())}


def kd_step(teacher: nn.Module, gamma: float, T: float) -> Step:
    """A distillation step against a frozen ``teacher`` (:func:`asvnb.train.losses.distillation_loss`)."""

    def step(student: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch[0], batch[1]
        with torch.no_grad():
            t = teacher(x)
        s = student(x)
        return distillation_loss(s, t, y, gamma=gamma, T=T), {
            "acc": float((s.argmax(1) == y).float().mean())
        }

    return step
