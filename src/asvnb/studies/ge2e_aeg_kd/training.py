"""Study 03's training runs through :class:`asvnb.train.Trainer`: GE2E pre-training, fine-tuning, distillation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from asvnb import config
from asvnb.data.samplers import EpochSampler, GE2EBatchSampler
from asvnb.models.resnetse import ResNetSE
from asvnb.studies.ge2e_aeg_kd.aeg import ActiveAEG, unwrap
from asvnb.studies.ge2e_aeg_kd.sets import StudyData, ge2e_trials, train_dataset
from asvnb.studies.ge2e_aeg_kd.settings import GE2EAEGKDConfig
from asvnb.train import TrainConfig, Trainer
from asvnb.train.adversarial import FineTuneSet
from asvnb.train.steps import GE2EPretrainer, ge2e_step, kd_step, nll_step


def train_config(
    cfg: GE2EAEGKDConfig, out: Path, epochs: int, seed: int, progress: bool | None
) -> TrainConfig:
    """The trainer's settings of every run of the study; the last epoch is kept.

    No validation set: the source validates on 2019 dev but reports no
    selection rule.
    """
    return TrainConfig(
        out_dir=out,
        epochs=epochs,
        seed=seed,
        monitor="train_loss",
        mode="min",
        progress=progress,
        cpu=config.resolve_device(cfg.device) == "cpu",
    )


def pretrain_ge2e(
    cfg: GE2EAEGKDConfig, data: StudyData, seed: int, out: Path, progress: bool | None = None
) -> tuple[ResNetSE, pd.DataFrame]:
    """GE2E pre-training of a fresh teacher on speaker labels; returns the model and its history."""
    torch.manual_seed(seed)
    pre = GE2EPretrainer(cfg.teacher(), cfg.ge2e_speakers, cfg.ge2e_utts)
    trials = ge2e_trials(cfg, data)
    ds = train_dataset(cfg, data, seed, trials)
    sampler = GE2EBatchSampler(
        [t.speaker for t in trials], cfg.ge2e_speakers, cfg.ge2e_utts, seed=seed
    )
    # constant rate: the source's x0.95 every two epochs is for the end-to-end (NLL/KD) training, and a
    # GE2E "epoch" is a single batch
    opt = torch.optim.Adam(pre.parameters(), lr=cfg.ge2e_lr)
    trainer = Trainer(
        pre,
        opt,
        DataLoader(ds, batch_sampler=sampler),
        ge2e_step,
        train_config(cfg, out, cfg.ge2e_epochs, seed, progress),
    )
    result = trainer.fit()
    return unwrap(trainer).model, result.history


def fine_tune(
    cfg: GE2EAEGKDConfig,
    model: ResNetSE,
    ds: FineTuneSet,
    seed: int,
    out: Path,
    active: ActiveAEG | None = None,
    teacher: nn.Module | None = None,
    progress: bool | None = None,
    stop_after: int | None = None,
) -> tuple[ResNetSE, pd.DataFrame]:
    """Fine-tune with NLL (or distil from ``teacher``) through the shared trainer; active AEG as the epoch hook.

    Adam at ``lr``, multiplied by ``lr_decay`` every ``decay_every`` epochs;
    ``train_per_epoch`` utterances drawn per epoch.
    """
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.decay_every, gamma=cfg.lr_decay)
    if teacher is not None:
        teacher.eval()
        step = kd_step(teacher, cfg.kd_gamma, cfg.kd_T)
    else:
        step = nll_step
    sampler = EpochSampler(ds, cfg.train_per_epoch, seed)
    trainer = Trainer(
        model,
        opt,
        DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler),
        step,
        train_config(cfg, out, cfg.epochs, seed, progress),
        scheduler=sched,
        on_epoch_start=active,
    )
    if teacher is not None:
        teacher.to(trainer.device)
    result = trainer.fit(stop_after=stop_after)
    return unwrap(trainer), result.history
