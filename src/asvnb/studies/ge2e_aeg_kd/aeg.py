"""Study 03's adversarial example generation: which examples are kept, static AEG once, active AEG every epoch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from asvnb import metrics
from asvnb.files import atomic_path, write_text
from asvnb.studies.ge2e_aeg_kd.settings import GE2EAEGKDConfig
from asvnb.studies.ge2e_aeg_kd.speaker import embed_all, embedding_pairs, pair_scores
from asvnb.train import Trainer
from asvnb.train.adversarial import (
    INT16_FULL_SCALE,
    AdversarialSet,
    FineTuneSet,
    generate_adversarial,
    load_adversarial,
    perturbation_snr_db,
    save_adversarial,
)

AEG_RULES = ("fixed", "sv_eer")
Pool = tuple[torch.Tensor, list[str]]  # bona fide waveforms (N, samples) and their speakers


def aeg_threshold(cfg: GE2EAEGKDConfig, model: nn.Module, pool: Pool) -> float:
    """The similarity at or below which an attacked example is kept, by ``cfg.aeg_threshold_rule``.

    "fixed": ``cfg.aeg_threshold`` (the source's 0.4). "sv_eer": the EER
    threshold of the attacking model's cosine scores on the pool's clean pairs
    (same speaker against different speakers), so an example is kept when the
    attack has pushed the pair to where this model calls two utterances two
    speakers; a fixed cosine means nothing across embeddings that spread
    speakers differently.
    """
    if cfg.aeg_threshold_rule == "fixed":
        return float(cfg.aeg_threshold)
    if cfg.aeg_threshold_rule != "sv_eer":
        raise ValueError(
            f"unknown AEG threshold rule {cfg.aeg_threshold_rule!r}; valid: {', '.join(AEG_RULES)}"
        )
    cos, spk = embedding_pairs(embed_all(model, pool[0], cfg.batch_size), pool[1])
    target, nontarget = pair_scores(cos, spk)
    return float(metrics.eer(target, nontarget)[1])


def attack(
    cfg: GE2EAEGKDConfig, model: nn.Module, pool: Pool, seed: int
) -> tuple[AdversarialSet, AdversarialSet, float]:
    """BIM on the whole pool: (every attacked example with its similarity, those kept, the threshold used)."""
    threshold = aeg_threshold(cfg, model, pool)
    # an infinite threshold keeps every example, so the similarities of the rejected ones can be shown too
    every = generate_adversarial(
        model,
        pool[0],
        pool[1],
        alpha=cfg.aeg_alpha,
        iters=cfg.aeg_iters,
        threshold=float("inf"),
        seed=seed,
        batch_size=cfg.batch_size,
    )
    kept = every.subset(torch.nonzero(every.cos_sim <= threshold).flatten())
    return every, kept, threshold


@torch.no_grad()
def clean_similarity(
    model: nn.Module, pool: Pool, every: AdversarialSet, batch_size: int = 32
) -> torch.Tensor:
    """cos(embed(W1), embed(W2)) of the attacked pairs before any perturbation."""
    was = model.training
    model.eval()
    emb = torch.cat(
        [model.embed(pool[0][i : i + batch_size]) for i in range(0, len(pool[0]), batch_size)]
    )
    model.train(was)
    return F.cosine_similarity(emb[every.reference_index], emb[every.source_index], dim=-1)


def static_aeg(
    cfg: GE2EAEGKDConfig, model: nn.Module, pool: Pool, seed: int, path: Path
) -> tuple[AdversarialSet, pd.DataFrame]:
    """Static AEG: BIM once with the GE2E model, before fine-tuning (cached at ``path``).

    Returns the kept examples and, for every attacked pair, its similarity
    before and after the attack and the perturbation's SNR (dB).
    """
    sims_path = path.with_name(path.stem + "_similarity.csv")
    if path.is_file() and sims_path.is_file():
        return load_adversarial(path), pd.read_csv(sims_path)
    every, kept, threshold = attack(cfg, model, pool, seed)
    sims = pd.DataFrame(
        {
            "before": clean_similarity(model, pool, every).numpy(),
            "after": every.cos_sim.numpy(),
            "snr_db": perturbation_snr_db(pool[0][every.source_index], every.waveforms).numpy(),
        }
    )
    sims["kept"] = sims["after"] <= threshold
    sims["threshold"] = threshold
    save_adversarial(kept, path)
    with atomic_path(sims_path) as tmp:
        sims.to_csv(tmp, index=False)
    return kept, sims


def aeg_scale_table(
    cfg: GE2EAEGKDConfig, pool: Pool, sims: pd.DataFrame | None = None
) -> pd.DataFrame:
    """How large Algorithm 1's perturbation is on the attacked utterances under the two readings of alpha's unit.

    int16 units (this book): steps of alpha / 32768 of full scale, at most
    alpha x iters in all; the SNR is the measured one of the static attack
    (``sims["snr_db"]``) when given, else the bound's. Float units (waveforms in
    [-1, 1]): one step of alpha = 3 moves every sample past full scale, so after
    the clip to the valid range the waveform is sign(gradient), a full-scale
    square wave, whatever the gradient; its SNR against the clean signal is
    10 log10(sum w^2 / sum (s - w)^2), here with the expected sum (s - w)^2 =
    sum (1 + w^2) of a sign s independent of w.
    """
    w = pool[0].double()
    power = w.pow(2).mean(dim=1)
    bound = cfg.aeg_alpha * cfg.aeg_iters / INT16_FULL_SCALE
    int16_snr = (
        sims["snr_db"].to_numpy()
        if sims is not None and "snr_db" in sims
        else (10 * torch.log10(power / bound**2)).numpy()
    )
    float_snr = (10 * torch.log10(power / (1 + power))).numpy()
    rms_dbfs = (10 * torch.log10(power)).numpy()
    return pd.DataFrame(
        [
            {
                "reading of alpha": "int16 units (this book)",
                "step (full scale)": cfg.aeg_alpha / INT16_FULL_SCALE,
                "largest |D| (full scale)": bound,
                "median SNR (dB)": float(np.median(int16_snr)),
                "median signal level (dBFS)": float(np.median(rms_dbfs)),
            },
            {
                "reading of alpha": "float units, [-1, 1]",
                "step (full scale)": cfg.aeg_alpha,
                "largest |D| (full scale)": 2.0,
                "median SNR (dB)": float(np.median(float_snr)),
                "median signal level (dBFS)": float(np.median(rms_dbfs)),
            },
        ]
    )


def unwrap(trainer: Trainer) -> nn.Module:
    """The trainer's model without accelerate's wrapper."""
    return trainer.accelerator.unwrap_model(trainer.model)


class ActiveAEG:
    """Active AEG: before every epoch, BIM with the model being trained replaces the adversarial examples.

    The trainer's ``on_epoch_start``; ``log`` holds one dict per epoch (epoch,
    tried, kept, threshold, mean similarity after the attack, every similarity
    after it), also written to ``log_path`` so that a resumed or finished run
    still reports the epochs it did earlier; the last kept set is saved at
    ``last_path`` for the student that distils this teacher.
    """

    def __init__(
        self,
        cfg: GE2EAEGKDConfig,
        dataset: FineTuneSet,
        pool: Pool,
        seed: int,
        last_path: Path | None = None,
        log_path: Path | None = None,
    ):
        self.cfg, self.dataset, self.pool, self.seed = cfg, dataset, pool, seed
        self.last_path, self.log_path = last_path, log_path
        self.log: list[dict[str, Any]] = []
        if log_path is not None and log_path.is_file():
            self.log = json.loads(log_path.read_text(encoding="utf-8"))

    def __call__(self, trainer: Trainer, epoch: int) -> None:
        """Regenerate the adversarial set with the current model."""
        every, kept, threshold = attack(
            self.cfg, unwrap(trainer), self.pool, self.seed * 1000 + epoch
        )
        self.dataset.set_adversarial(kept)
        # a resumed epoch replaces its old entry
        self.log = [e for e in self.log if e["epoch"] < epoch]
        self.log.append(
            {
                "epoch": epoch,
                "tried": every.n_tried,
                "kept": len(kept),
                "threshold": threshold,
                "mean_after": float(every.cos_sim.mean()),
                "after": every.cos_sim.tolist(),
            }
        )
        if self.last_path is not None:
            save_adversarial(kept, self.last_path)
        if self.log_path is not None:
            write_text(self.log_path, json.dumps(self.log))
