"""Study 02's fine-tuning: the detector on cached separated streams (separator frozen), through the shared trainer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from asvnb.data import mixtures
from asvnb.files import run_dir
from asvnb.models import wavlm
from asvnb.studies.overlap_pipeline.separate_and_score import (
    StreamCache,
    StreamPairs,
    make_pair_collate,
    pit_evaluate,
    pit_loss,
)
from asvnb.studies.overlap_pipeline.settings import OverlapConfig
from asvnb.train import TrainConfig, Trainer, TrainResult
from asvnb.train.standins import standin_settings


class EpochShuffle(torch.utils.data.Sampler):
    """A new order every epoch that depends on (seed, epoch) only, so a resumed run sees the orders an uninterrupted
    one would (the source re-shuffled with ``random.seed(42)`` every epoch: the same order each time)."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 1

    def set_epoch(self, epoch: int) -> None:
        """Choose the order of ``epoch`` (0-based); the orders are drawn from ``epoch + 1``, as before the one
        protocol, when the study counted epochs from 1."""
        self.epoch = epoch + 1

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        return iter(np.random.default_rng((self.seed, self.epoch)).permutation(self.n).tolist())


def lr_factor(cfg: OverlapConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Learning-rate factor per optimiser step: linear decay to 0 over all epochs but the last, then the last epoch
    restarts at ``last_epoch_lr`` and decays to 0 over its own steps.

    The source meant to raise the rate for its last epoch, but its linear schedule
    (counted over ``len(train) // 2 * 4`` steps) had already reached 0 after epoch
    4; a step-counted lambda makes the raise take effect, and resumes exactly.
    """
    first = steps_per_epoch * max(cfg.epochs - (1 if cfg.last_epoch_lr else 0), 1)
    last_ratio = (cfg.last_epoch_lr or cfg.lr) / cfg.lr

    def factor(step: int) -> float:
        if step < first or not cfg.last_epoch_lr:
            return max(0.0, 1.0 - step / first)
        return last_ratio * max(0.0, 1.0 - (step - first) / steps_per_epoch)

    return factor


FINETUNE_KEYS = (
    "n_mixtures",
    "mixture_seed",
    "max_seconds",
    "epochs",
    "lr",
    "last_epoch_lr",
    "grad_accum",
    "max_grad_norm",
    "batch_size",
    "freeze_feature_encoder",
    "detector",
)


def finetune_settings(cfg: OverlapConfig) -> dict:
    """Everything a fine-tuning run depends on besides its streams and seed: what names its folder."""
    return {k: getattr(cfg, k) for k in FINETUNE_KEYS} | {
        "standin": standin_settings(cfg.detector_standin),
        "schedule": "linear to 0, last epoch restarted",
    }


def finetune_dir(cfg: OverlapConfig, cache: StreamCache, seed: int) -> Path:
    """``out/finetune/<stream cache>-<run key>/seed<seed>``: the run folder of one seed's fine-tuning."""
    return run_dir(
        cfg.paths.out / "finetune", cache.dir.name, finetune_settings(cfg), seed, code=(__name__,)
    )


def finetune(
    cfg: OverlapConfig,
    detector_dir: str,
    train: mixtures.MixtureSet,
    dev: mixtures.MixtureSet,
    cache: StreamCache,
    seed: int,
    stop_after: int | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Fine-tune the detector on cached separated streams (separator frozen): AdamW, linear schedule per optimiser
    step, gradient accumulation and clipping, PIT loss, validation every epoch; resumes from its checkpoint."""
    fe, model = wavlm.load_detector(detector_dir)
    model.train()
    if cfg.freeze_feature_encoder:
        model.freeze_feature_encoder()
    collate = make_pair_collate(fe)
    loader = torch.utils.data.DataLoader(
        StreamPairs(train, cache, cfg.max_samples),
        batch_size=cfg.batch_size,
        sampler=EpochShuffle(len(train), seed),
        collate_fn=collate,
    )
    val = torch.utils.data.DataLoader(
        StreamPairs(dev, cache, cfg.max_samples), batch_size=cfg.batch_size, collate_fn=collate
    )
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lr_factor(cfg, -(-len(loader) // cfg.grad_accum))
    )
    trainer = Trainer(
        model,
        opt,
        loader,
        pit_loss,
        TrainConfig(
            finetune_dir(cfg, cache, seed),
            epochs=cfg.epochs,
            seed=seed,
            grad_accum=cfg.grad_accum,
            max_grad_norm=cfg.max_grad_norm,
            scheduler_interval="step",
            monitor="val_loss",
            progress=progress,
            cpu=cfg.run_device() == "cpu",
        ),
        val_loader=val,
        evaluate_fn=pit_evaluate,
        scheduler=sched,
    )
    res = trainer.fit(stop_after=stop_after)
    if res.best_dir is not None:
        fe.save_pretrained(str(res.best_dir))  # the exported best model loads like the hub model
    return res
