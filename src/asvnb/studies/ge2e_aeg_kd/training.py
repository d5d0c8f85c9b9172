"""Study 03's training runs through :class:`asvnb.train.Trainer`: GE2E pre-training, fine-tuning, distillation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from asvnb import config, metrics
from asvnb.data import balanced_subset
from asvnb.data.samplers import EpochSampler, GE2EBatchSampler
from asvnb.models.resnetse import CLASSES, ResNetSE
from asvnb.studies.ge2e_aeg_kd.aeg import ActiveAEG, unwrap
from asvnb.studies.ge2e_aeg_kd.sets import StudyData, ge2e_trials, train_dataset
from asvnb.studies.ge2e_aeg_kd.settings import GE2EAEGKDConfig
from asvnb.train import TrainConfig, Trainer
from asvnb.train.adversarial import FineTuneSet
from asvnb.train.classify import predict
from asvnb.train.steps import GE2EPretrainer, ge2e_step, kd_step, nll_step

BONAFIDE = CLASSES.index("bonafide")
DEV_TRIALS = 280  # 40 per class of LA19 dev (bona fide, A01-A06)


# the one selection rule of every fine-tuning and distillation run: the epoch of lowest EER on the LA19 dev
# trials of :func:`dev_loader` (the source validates on 2019 dev but states no rule)
MONITOR = "val_eer"


def train_config(
    cfg: GE2EAEGKDConfig,
    out: Path,
    epochs: int,
    seed: int,
    progress: bool | None,
    monitor: str = "train_loss",
) -> TrainConfig:
    """The trainer's settings of every run of the study; ``best/`` holds the epoch of lowest ``monitor``."""
    return TrainConfig(
        out_dir=out,
        epochs=epochs,
        seed=seed,
        monitor=monitor,
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


def dev_loader(cfg: GE2EAEGKDConfig, data: StudyData, limit: int = DEV_TRIALS) -> DataLoader | None:
    """The LA19 dev trials every run is validated on after each epoch: a class-balanced subset of ``limit``
    (bona fide and A01-A06 alike), eval crops; None without LA19 dev."""
    if data.dev is None:
        return None
    limits = [n for n in (cfg.max_items, limit) if n is not None]
    trials = balanced_subset(data.dev.trials, min(limits), lambda t: t.system)
    ds = data.dataset(
        trials,
        data.dev.audio_dir,
        sr=cfg.sample_rate,
        n_samples=cfg.eval_samples,
        bonafide_label=BONAFIDE,
    )
    return DataLoader(ds, batch_size=cfg.batch_size if cfg.eval_samples else 1)


def dev_eer(model: nn.Module, loader: DataLoader) -> dict[str, float]:
    """``val_eer``: the EER of the log-odds of bona fide (class 0) against the other classes on ``loader``."""
    pred = predict(model, loader)
    scores, bona = pred.scores(BONAFIDE), pred.labels == BONAFIDE
    return {MONITOR: metrics.eer(scores[bona], scores[~bona])[0]}


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
    val: DataLoader | None = None,
) -> tuple[ResNetSE, pd.DataFrame]:
    """Fine-tune with NLL (or distil from ``teacher``) through the shared trainer; active AEG as the epoch hook.

    Adam at ``lr``, multiplied by ``lr_decay`` every ``decay_every`` epochs;
    ``train_per_epoch`` utterances drawn per epoch. With ``val`` (:func:`dev_loader`) every epoch is scored
    on it and the model returned is the one of ``best/``, the epoch of lowest ``val_eer``: the network the
    chapter evaluates is the one its detector card describes. Without, the last epoch.
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
        train_config(
            cfg, out, cfg.epochs, seed, progress, MONITOR if val is not None else "train_loss"
        ),
        scheduler=sched,
        on_epoch_start=active,
        val_loader=val,
        evaluate_fn=dev_eer if val is not None else None,
    )
    if teacher is not None:
        teacher.to(trainer.device)
    result = trainer.fit(stop_after=stop_after)
    model = unwrap(trainer)
    if val is not None and result.best_dir is not None:
        best = torch.load(result.best_dir / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(best)
    return model, result.history
