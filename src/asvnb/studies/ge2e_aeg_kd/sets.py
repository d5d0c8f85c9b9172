"""Study 03's data: LA 2019 train and dev, the LA 2021 eval keys with their ASV scores, and the sets cut from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asvnb.data import DatasetMissing, balanced_subset
from asvnb.data.asvspoof import (
    LA2019,
    ASVScores,
    CMDataset,
    CMTrial,
    LA2021Eval,
    attack_families,
)
from asvnb.data.audio_cache import AudioCache, CachedCMDataset
from asvnb.data.augment import Augmenter
from asvnb.models.resnetse import ADVERSARIAL_CLASS, CLASSES
from asvnb.studies.ge2e_aeg_kd.settings import GE2EAEGKDConfig

CLASS_OF = {
    name: i for i, name in enumerate(CLASSES[:ADVERSARIAL_CLASS])
}  # bonafide 0, A01..A06 1..6


@dataclass
class StudyData:
    """The sets of the study: LA 2019 train (fine-tuning and GE2E), LA 2019 dev bona fide (held-out speakers for
    the speaker-verification EER), LA 2021 eval with its ASV scores, and the attack families."""

    train: LA2019
    eval: LA2021Eval
    eval_trials: list[CMTrial]
    asv: ASVScores
    augmenter: Augmenter | None
    dev: LA2019 | None = None
    eval19: LA2019 | None = None  # LA 2019 eval: the teacher's figure beside the corpus's LFCC-GMM
    families: dict[str, str] = field(default_factory=dict)
    # decoded waveforms, shared by every dataset of the study
    audio: dict = field(default_factory=AudioCache)

    def dataset(self, trials: Sequence[CMTrial], audio_dir: Path, **kwargs: Any) -> CachedCMDataset:
        """A dataset over ``trials`` that reads through the study's audio cache."""
        return CachedCMDataset(list(trials), audio_dir, cache=self.audio, **kwargs)


def make_augmenter(cfg: GE2EAEGKDConfig, seed: int = 0) -> Augmenter | None:
    """The configured MUSAN + RIR augmentation (None when off)."""
    if not cfg.augment:
        return None
    snr = {c: (float(lo), float(hi)) for c, lo, hi in cfg.snr_db}
    return Augmenter(
        cfg.paths.data,
        cfg.paths.data,
        sr=cfg.sample_rate,
        seed=seed,
        kinds=tuple(cfg.augment_kinds),
        p=cfg.augment_p,
        snr_db=snr
        | {
            c: v
            for c, v in Augmenter.__dataclass_fields__["snr_db"].default_factory().items()
            if c not in snr
        },
    )


def load_data(cfg: GE2EAEGKDConfig, seed: int = 0) -> StudyData:
    """Read the protocols and keys of the profile's data root; check that train has only A01-A06."""
    train = LA2019(cfg.paths.data, "train")
    unknown = sorted({t.system for t in train.trials} - set(CLASS_OF))
    if unknown:
        raise ValueError(
            f"{train.protocol_path}: systems {unknown} are not among the 8 classes {CLASSES}"
        )
    ev = LA2021Eval(cfg.paths.data, phase=cfg.eval_phase)
    trials = ev.trials
    if cfg.n_eval and cfg.n_eval < len(trials):
        pick = np.random.default_rng(seed).choice(len(trials), cfg.n_eval, replace=False)
        trials = [trials[i] for i in sorted(pick)]
    trials = balanced_subset(
        trials, cfg.max_items, lambda t: (t.key, getattr(t, "codec", "")), seed
    )
    try:
        dev = LA2019(cfg.paths.data, "dev")
    except DatasetMissing:  # no dev split: the speaker-verification EER is then not measured
        dev = None
    try:
        eval19 = LA2019(cfg.paths.data, "eval")
    except DatasetMissing:
        eval19 = None
    budget = None if cfg.audio_cache_gb is None else int(cfg.audio_cache_gb * 2**30)
    return StudyData(
        train,
        ev,
        trials,
        ev.asv_scores(phase=cfg.eval_phase),
        make_augmenter(cfg, seed),
        dev,
        eval19,
        attack_families(cfg.paths.data),
        AudioCache(budget),
    )


def train_dataset(
    cfg: GE2EAEGKDConfig, data: StudyData, seed: int, trials: Sequence[CMTrial] | None = None
) -> CMDataset:
    """LA 2019 train (or ``trials`` of it) as 8-class, randomly cropped, augmented waveforms."""
    return data.dataset(
        data.train.trials if trials is None else trials,
        data.train.audio_dir,
        sr=cfg.sample_rate,
        n_samples=cfg.crop_samples,
        class_of=CLASS_OF,
        random_crop=True,
        seed=seed,
        augment=data.augmenter,
    )


def ge2e_trials(cfg: GE2EAEGKDConfig, data: StudyData) -> list[CMTrial]:
    """The utterances GE2E batches are drawn from: LA train, or its bona fide part (``ge2e_bonafide_only``)."""
    return [t for t in data.train.trials if t.is_bonafide or not cfg.ge2e_bonafide_only]


def aeg_pool(cfg: GE2EAEGKDConfig, data: StudyData, seed: int) -> tuple[torch.Tensor, list[str]]:
    """The bona fide train utterances BIM attacks (crops of the training length) and their speakers.

    With ``aeg_pool`` set, that many are drawn, spread over the speakers
    (round robin, at least two each: Algorithm 1 pairs two of one speaker).
    """
    bona = [t for t in data.train.trials if t.is_bonafide]
    if cfg.aeg_pool:
        rng = np.random.default_rng((seed, 7))
        by_spk: dict[str, list[CMTrial]] = {}
        for t in bona:
            by_spk.setdefault(t.speaker, []).append(t)
        queues = [list(rng.permutation(len(v))) for v in by_spk.values()]
        picked: list[CMTrial] = []
        while len(picked) < cfg.aeg_pool and any(queues):
            for trials, q in zip(by_spk.values(), queues):
                for _ in range(2 if len(picked) < 2 * len(by_spk) else 1):
                    if q and len(picked) < cfg.aeg_pool:
                        picked.append(trials[q.pop()])
        bona = picked
    ds = data.dataset(
        bona,
        data.train.audio_dir,
        sr=cfg.sample_rate,
        n_samples=cfg.crop_samples,
        random_crop=True,
        seed=seed,
    )
    return torch.stack([ds[i][0] for i in range(len(ds))]), [t.speaker for t in bona]


def sv_set(cfg: GE2EAEGKDConfig, data: StudyData) -> tuple[torch.Tensor, list[str]]:
    """LA 2019 dev bona fide (speakers disjoint from train), cut or repeat-padded to ``sv_crop_s``, and speakers."""
    if data.dev is None:
        raise ValueError(
            "the speaker-verification EER needs LA 2019 dev (held-out speakers); none was found"
        )
    bona = balanced_subset(
        [t for t in data.dev.trials if t.is_bonafide], cfg.max_items, lambda t: t.speaker
    )
    ds = data.dataset(
        bona,
        data.dev.audio_dir,
        sr=cfg.sample_rate,
        n_samples=int(round(cfg.sv_crop_s * cfg.sample_rate)),
    )
    return torch.stack([ds[i][0] for i in range(len(ds))]), [t.speaker for t in bona]
