"""Study 03's scoring: every model on the LA 2021 eval keys (and LA 2019 dev), and its detector card."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from asvnb import config, metrics
from asvnb.data import balanced_subset
from asvnb.data.asvspoof import CMTrial
from asvnb.models.resnetse import CLASSES, ResNetSE
from asvnb.studies.ge2e_aeg_kd.sets import StudyData
from asvnb.studies.ge2e_aeg_kd.settings import STUDY, GE2EAEGKDConfig
from asvnb.train import model_config
from asvnb.train.classify import predict
from asvnb.train.detector import (
    DETECTOR_FILE,
    INDEX_FILE,
    crop_or_pad,
    describe_detector,
    dev_threshold,
    register_detector,
    waveform_frontend,
    whole,
)

BONAFIDE = CLASSES.index("bonafide")
# LA19 dev trials behind a card's threshold: 50 per class (bona fide, A01-A06), seconds a model
CARD_DEV_TRIALS = 350


@dataclass
class CMResult:
    """Scores of one model on the eval trials, and its pooled metrics."""

    scores: np.ndarray
    keys: np.ndarray
    systems: np.ndarray
    min_tdcf: float
    eer: float
    codecs: np.ndarray | None = None  # 2021 codec condition of every trial

    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """(bona fide, spoof) scores."""
        return self.scores[self.keys == "bonafide"], self.scores[self.keys == "spoof"]

    def per_attack(self) -> pd.DataFrame:
        """EER of every attack against all bona fide trials."""
        return metrics.per_attack_eer(self.scores, self.keys, self.systems)


def _scores(
    cfg: GE2EAEGKDConfig, model: nn.Module, data: StudyData, trials: list[CMTrial], audio_dir: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores, keys, systems) of ``trials``: log-odds of bona fide against the 7 other classes."""
    ds = data.dataset(trials, audio_dir, sr=cfg.sample_rate, n_samples=cfg.eval_samples)
    loader = DataLoader(ds, batch_size=cfg.batch_size if cfg.eval_samples else 1)
    device = torch.device(config.resolve_device(cfg.device))
    scores = predict(model.to(device), loader, device).scores(BONAFIDE)
    keys = np.array([t.key for t in trials], dtype=object)
    systems = np.array([t.system for t in trials], dtype=object)
    return scores, keys, systems


def evaluate_dev(
    cfg: GE2EAEGKDConfig, model: nn.Module, data: StudyData, limit: int | None = None
) -> CMResult:
    """Scores on LA 2019 dev (the training attacks A01-A06, held-out speakers): what the model learnt of the
    attacks it was trained on, apart from how it generalises to unseen ones. ``limit``: a class-balanced subset."""
    limits = [n for n in (cfg.max_items, limit) if n is not None]
    trials = balanced_subset(data.dev.trials, min(limits) if limits else None, lambda t: t.system)
    scores, keys, systems = _scores(cfg, model, data, trials, data.dev.audio_dir)
    # no ASV scores are read for dev: the t-DCF is not reported there
    return CMResult(
        scores,
        keys,
        systems,
        float("nan"),
        metrics.eer(scores[keys == "bonafide"], scores[keys == "spoof"])[0],
    )


def la19_eval_trials(cfg: GE2EAEGKDConfig, data: StudyData) -> list[CMTrial]:
    """The LA 2019 eval trials the study scores: all of them, or a class-balanced ``max_items`` subset."""
    return balanced_subset(data.eval19.trials, cfg.max_items, lambda t: t.system)


def evaluate_la19_eval(cfg: GE2EAEGKDConfig, model: nn.Module, data: StudyData) -> CMResult:
    """Scores on LA 2019 eval (unseen attacks A07-A19 without codecs; the set of the corpus's LFCC-GMM figure),
    pooled EER; no t-DCF (the keys' ASV scores are read for LA 2021 only)."""
    trials = la19_eval_trials(cfg, data)
    scores, keys, systems = _scores(cfg, model, data, trials, data.eval19.audio_dir)
    bona, spoof = scores[keys == "bonafide"], scores[keys == "spoof"]
    return CMResult(scores, keys, systems, float("nan"), metrics.eer(bona, spoof)[0])


def evaluate(cfg: GE2EAEGKDConfig, model: nn.Module, data: StudyData) -> CMResult:
    """CM scores (log-odds of bona fide against the 7 other classes) on the eval trials, min t-DCF and EER."""
    scores, keys, systems = _scores(cfg, model, data, data.eval_trials, data.eval.audio_dir)
    bona, spoof = scores[keys == "bonafide"], scores[keys == "spoof"]
    tdcf = metrics.min_tdcf(bona, spoof, data.asv.target, data.asv.nontarget, data.asv.spoof)
    codecs = np.array([getattr(t, "codec", "") or "-" for t in data.eval_trials], dtype=object)
    return CMResult(scores, keys, systems, tdcf, metrics.eer(bona, spoof)[0], codecs)


def detector_name(name: str) -> str:
    """The run name as the leaderboard shows it: ``G static`` -> ``G-ResNetSE static``."""
    size, _, rest = name.partition(" ")
    return f"{size}-ResNetSE {rest}"


def describe_model(
    cfg: GE2EAEGKDConfig, data: StudyData, name: str, model: nn.Module, seed: int, folder: Path
) -> Path | None:
    """A detector card beside a trained model's exported weights, registered in the study's index (once per run).

    Its threshold is the EER threshold on a class-balanced subset of LA19 dev
    (:data:`CARD_DEV_TRIALS`); without LA19 dev the card has none.
    """
    if not (folder / "model.pt").is_file():
        return None
    index, label = cfg.paths.out / INDEX_FILE, detector_name(name)
    # the run folder is keyed by its settings: same weights, same card
    if (folder / DETECTOR_FILE).is_file():
        register_detector(index, folder, name=label, seed=seed)
        return folder / DETECTOR_FILE
    threshold = None
    if data.dev is not None:
        dev = evaluate_dev(cfg, model, data, CARD_DEV_TRIALS)
        e, thr = metrics.eer(*dev.split())
        threshold = dev_threshold(thr, e, f"LA19 dev ({len(dev.scores)} trials)")
    return describe_detector(
        folder,
        model=model_config(ResNetSE, **cfg.model_kwargs(teacher=name.startswith("G"))),
        sample_rate=cfg.sample_rate,
        frontend=waveform_frontend(),
        clip=crop_or_pad(cfg.eval_crop_s) if cfg.eval_crop_s else whole(),
        bonafide_class=BONAFIDE,
        threshold=threshold,
        name=label,
        study=STUDY,
        seed=seed,
        index=index,
    )
