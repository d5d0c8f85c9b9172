"""What study 04's source got wrong, reproduced on demand so that the chapter can show what each slip does.

The class-dependent FFT size and the segment split are measured by training
(:mod:`.training`, :func:`leak_runs`); here: F1 averaged over batches, the
unseen accuracy that is a mean of two batches, and the weight-copy loop.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, f1_score
from torch import nn

from asvnb.models.image_resnet import ResNet18Transfer
from asvnb.studies.spectrogram_resnet18.settings import TASK, SpectrogramResNet18Config
from asvnb.train.classify import Predictions, SeedRun

# the source's last cell prints the accuracy of each batch of its unseen loader (batch 64; 100 clips): 56/64, 29/36
SOURCE_UNSEEN_BATCHES = ((56, 64), (29, 36))


def batch_averaged_metrics(
    pred: Predictions, batch_size: int = 64, seed: int = 0, shuffle: bool = True
) -> dict[str, float]:
    """F1 and accuracy as the source computed them: per shuffled batch with sklearn, then averaged over batches.

    Biased: each batch weighs the same whatever its size and class balance,
    and a batch without real segments has F1 0 (sklearn's zero_division).
    """
    n = len(pred.labels)
    order = (
        np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    )  # the source's loader shuffled
    f1s, accs = [], []
    for start in range(0, len(order), batch_size):
        b = order[start : start + batch_size]
        f1s.append(
            f1_score(pred.labels[b], pred.predicted[b], pos_label=TASK.positive, zero_division=0)
        )
        accs.append(accuracy_score(pred.labels[b], pred.predicted[b]))
    return {"f1": float(np.mean(f1s)), "accuracy": float(np.mean(accs)), "batches": len(f1s)}


def batch_table(cfg: SpectrogramResNet18Config, runs: dict[str, list[SeedRun]]) -> pd.DataFrame:
    """F1 and accuracy of the first seed's models over the whole set and as the mean of batches, on val and test."""
    rows = []
    for name, rs in runs.items():
        for split in ("val", "test"):
            p = rs[0].predictions[split]
            whole = rs[0].metrics[split]
            batched = batch_averaged_metrics(p, batch_size=cfg.setups[name].batch_size)
            rows.append(
                {
                    "model": name,
                    "set": split,
                    "n": len(p.labels),
                    "batches": batched["batches"],
                    "F1 whole set": whole["f1"],
                    "F1 mean of batches": batched["f1"],
                    "accuracy whole set": whole["accuracy"],
                    "accuracy mean of batches": batched["accuracy"],
                }
            )
    return pd.DataFrame(rows)


def batch_mean_vs_whole(
    batches: tuple[tuple[int, int], ...] = SOURCE_UNSEEN_BATCHES,
) -> dict[str, float]:
    """Mean of per-batch accuracies (what the source reports) and the accuracy over the whole set, from
    ``(correct, size)`` per batch."""
    correct, size = np.array(batches, dtype=float).T
    return {
        "mean of batches": float(np.mean(correct / size)),
        "whole set": float(correct.sum() / size.sum()),
    }


def source_weight_copy(model: ResNet18Transfer, donor: nn.Module) -> dict[str, int]:
    """Run the source's "copy the pre-trained weights except conv1" loop; count what it changed.

    ``self.state_dict()`` builds a new dictionary at every call, so assigning
    into it changes nothing; and its keys (``resnet.layer1...``) are not the
    donor's (``layer1...``) anyway.
    """
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state_dict = donor.state_dict()
    for key in list(state_dict.keys()):  # the source's loop, verbatim
        if not key.startswith("conv1"):
            model.state_dict()[key] = state_dict[key]
    after = model.state_dict()
    changed = sum(not torch.equal(before[k], after[k]) for k in before)
    written = [k for k in state_dict if not k.startswith("conv1")]
    return {
        "donor tensors": len(state_dict),
        "keys the loop writes": len(written),
        "of them keys of the model": len(set(written) & set(after)),
        "tensors changed": int(changed),
    }


def batch_mean_table() -> pd.DataFrame:
    """:func:`batch_mean_vs_whole` of the source's two unseen batches, as the chapter shows it."""
    return pd.Series(batch_mean_vs_whole(), name="the source's unseen accuracy").round(4).to_frame()
