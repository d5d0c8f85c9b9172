"""Study 03: a lightweight countermeasure by GE2E pre-training, adversarial examples and distillation.

The experiments of the source's three tables, per seed:

1. GE2E pre-training of the teacher G-ResNetSE on speaker labels, one batch of
   N speakers x M utterances per epoch (:class:`GE2EBatchSampler`, loss on the
   pooled embedding, learnable w and b: :class:`GE2EPretrainer`).
2. Fine-tuning with NLL over the 8 classes (bona fide, A01-A06, adversarial),
   Adam 3e-4 decayed x0.95 every two epochs, MUSAN + RIR on the fly, of four
   teachers: from scratch (Table 1, "NLL"), from the GE2E model without AEG
   (Table 1 "GE2E + NLL" = Table 2 "None"), with static AEG (BIM run once with
   the GE2E model, :func:`static_aeg`) and with active AEG (BIM run before every
   epoch with the current model, :class:`ActiveAEG`, the trainer's
   ``on_epoch_start`` hook).
3. Distillation of one student L-ResNetSE from each of the three GE2E teachers
   (gamma 0.5, T 5).
4. Evaluation of all seven on the ASVspoof 2021 LA eval keys (phase ``eval``):
   min t-DCF (2021 revised, with the ASV scores of the keys), EER, per-attack
   EER and DET curves.

Everything trains through :class:`asvnb.train.Trainer`, one output folder per
model under ``cfg.paths.out / <hash of the training settings> / seed<k> / <name>``,
so a rerun with the same settings resumes (or skips what has finished) and one
with other settings starts afresh. What the source does not state (crop length, epochs, batch
size, how many utterances AEG attacks, what the student trains on) is a field of
:class:`GE2EAEGKDConfig` with the choice made here in its comment.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from asvnb import config, metrics
from asvnb.data import DatasetMissing, balanced_subset
from asvnb.data.asvspoof import (
    LA2019,
    ASVScores,
    CMDataset,
    CMTrial,
    LA2021Eval,
    attack_families,
)
from asvnb.data.augment import Augmenter
from asvnb.features import preset
from asvnb.models.complexity import count_macs, count_params
from asvnb.models.resnetse import ADVERSARIAL_CLASS, CLASSES, ResNetSE
from asvnb.results import ResultRow, bootstrap_ci, over_seeds
from asvnb.train import TrainConfig, Trainer, model_config
from asvnb.train.adversarial import (
    AdversarialSet,
    generate_adversarial,
    perturbation_snr_db,
)
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
from asvnb.train.losses import GE2ELoss, distillation_loss

STUDY = "03_ge2e_aeg_kd"
CLASS_OF = {
    name: i for i, name in enumerate(CLASSES[:ADVERSARIAL_CLASS])
}  # bonafide 0, A01..A06 1..6
BONAFIDE = CLASSES.index("bonafide")
TEACHER_CHANNELS = (32, 64, 128, 256)
STUDENT_CHANNELS = (16, 32, 64, 128)
AEG_MODES = ("none", "static", "active")
# The full profile's cuts to the book's budget (issue 17: all four studies in at most one GPU-hour; this study
# about 0.4 h at 30 TFLOP/s, benchmarks/gpu_check.py). Kept: the source's architectures, rate, crops, GE2E,
# AEG on every bona fide training utterance, three seeds, the whole LA 2021 eval. Cut: the fine-tuning and
# distillation data, 10 epochs of 5,000 utterances drawn afresh from LA train (about 2 passes over its 25,380)
# instead of 20 over all of it: the study would cost 5 times as much (2 GPU-hours), fine-tuning, distillation and
# AEG being about 90 % of its work there. Fewer, longer epochs also mean fewer active-AEG rounds, each attacking all
# 2,580 bona fide utterances.
FULL_BUDGET: dict[str, Any] = {"epochs": 10, "train_per_epoch": 5000}

# The source's figures (min t-DCF, EER in %), ASVspoof 2021 LA eval.
SOURCE_TABLE1 = {"NLL": (0.3143, 5.78), "GE2E + NLL": (0.3003, 5.10)}
SOURCE_TABLE2 = {
    ("G-ResNetSE", "none"): (0.3003, 5.10),
    ("G-ResNetSE", "static"): (0.2931, 5.05),
    ("G-ResNetSE", "active"): (0.2869, 4.59),
    ("L-ResNetSE", "none"): (0.2826, 4.44),
    ("L-ResNetSE", "static"): (0.2695, 3.54),
    ("L-ResNetSE", "active"): (0.2903, 4.76),
}
# model: (params, MACs, min t-DCF, EER %); the first three are other papers' systems the source quotes
SOURCE_TABLE3 = {
    "RawNet2": ("0.89 M", "1.47 G", 0.3445, 9.26),
    "SE-ResNet18": ("11.2 M", "1.82 G", 0.3129, None),
    "LFCC-LCNN": ("0.37 M", "0.26 G", 0.4257, 9.50),
    "G-ResNetSE": ("6.39 M", "4.62 G", 0.2869, 4.59),
    "L-ResNetSE": ("1.44 M", "0.90 G", 0.2695, 3.54),
}
SOURCE_RATIOS = {"params": 0.225, "macs": 0.211}  # student / teacher, as the abstract states them

# The seven models of one seed: name -> (architecture, GE2E pre-training, AEG mode)
MODELS = {
    "G NLL": ("teacher", False, "none"),
    "G GE2E+NLL": ("teacher", True, "none"),
    "G static": ("teacher", True, "static"),
    "G active": ("teacher", True, "active"),
    "L none": ("student", True, "none"),
    "L static": ("student", True, "static"),
    "L active": ("student", True, "active"),
}


@dataclass
class GE2EAEGKDConfig:
    """Everything study 03 needs, per profile; source values as defaults (:meth:`source_settings`), every departure
    from them (offline reductions, the full profile's budget) in ``reductions``."""

    profile: str
    paths: config.Paths
    sample_rate: int = 22050  # the source's rate
    crop_s: float = 4.0  # not stated; 4 s, the input length Table 3's MACs match
    eval_crop_s: float | None = 4.0  # fixed-length eval crops (repeat-padded), so batches stack
    layers: tuple[int, int, int, int] = (3, 4, 6, 3)
    teacher_channels: tuple[int, int, int, int] = TEACHER_CHANNELS
    student_channels: tuple[int, int, int, int] = STUDENT_CHANNELS
    teacher_layout: str = "L"  # "V2" reproduces Table 3's 6.39 M (see asvnb.models.resnetse)
    emb_dim: int = 512
    ge2e_speakers: int = 7  # N
    ge2e_utts: int = 10  # M
    ge2e_epochs: int = 300  # not stated; one N x M batch per epoch ("70 utterances every epoch")
    ge2e_lr: float = 3e-4
    # the source drew GE2E batches from all of LA train, spoofs labelled with the speaker they imitate; that label
    # is true only where a spoof carries its target's voice (True: bona fide utterances only)
    ge2e_bonafide_only: bool = False
    epochs: int = 20  # fine-tuning and distillation epochs (not stated)
    batch_size: int = 32  # not stated
    lr: float = 3e-4
    lr_decay: float = 0.95
    decay_every: int = 2
    train_per_epoch: int | None = (
        None  # utterances drawn per fine-tuning epoch (None: the whole set)
    )
    augment: bool = True
    # None: voxceleb_trainer's uniform draw over augment_kinds, none included (4 in 5 utterances augmented)
    augment_p: float | None = None
    augment_kinds: tuple[str, ...] = ("none", "reverb", "music", "speech", "noise")
    # additive-noise SNR ranges in dB per MUSAN category (voxceleb_trainer's)
    snr_db: tuple[tuple[str, float, float], ...] = (
        ("noise", 0.0, 15.0),
        ("speech", 13.0, 20.0),
        ("music", 5.0, 15.0),
    )
    aeg_alpha: float = 3.0  # BIM step, int16 units (see asvnb.train.adversarial)
    aeg_iters: int = 5
    # "fixed": kept iff cos <= aeg_threshold (the source's 0.4); "sv_eer": kept iff cos falls below the attacking
    # model's own speaker-verification EER threshold on the pool's clean pairs (the pair then reads as two speakers)
    aeg_threshold_rule: str = "fixed"
    aeg_threshold: float = 0.4
    aeg_pool: int | None = None  # bona fide train utterances attacked per AEG round (None: all)
    kd_gamma: float = 0.5
    kd_T: float = 5.0
    eval_phase: str | None = "eval"  # the 2021 keys' phase reported (None: all trials)
    n_eval: int | None = None  # eval trials (None: all of the phase)
    # a quick run through every step: at most this many utterances in each evaluation set (2021 eval, 2019 dev, the
    # speaker-verification set; both classes, every attack and speaker kept as far as it allows) and in the AEG pool
    # unless aeg_pool says otherwise (None: all)
    max_items: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)  # one set of seven models each; mean +- std over them
    table2_seeds: int | None = (
        None  # how many of the seeds also train the AEG teachers and students (None: all)
    )
    sv_crop_s: float = (
        3.0  # crop of the held-out bona fide utterances for the speaker-verification EER
    )
    bootstrap: int = 1000  # bootstrap resamples of every 95 % interval
    # decoded audio kept in memory (GB; None: all). The full profile's LA 2021 eval alone would take about 30 GB
    # at 22.05 kHz, more than a Colab runtime has: past the budget, files are read again on every use
    audio_cache_gb: float | None = None
    device: str = "auto"
    reductions: tuple[str, ...] = ()  # departures from the source's settings, for the tables' notes

    @classmethod
    def source_settings(
        cls,
        data_root: str | Path | None = None,
        paths: config.Paths | None = None,
        **overrides: Any,
    ) -> GE2EAEGKDConfig:
        """The source's settings on the real data (this class's defaults; where the source states none, our choice
        without a budget): what every departure is measured from. Not a profile: on one GPU they cost about twice
        the whole book's one-hour budget for this study alone (``benchmarks/gpu_check.py --settings source``)."""
        paths = paths or config.Paths.for_profile("full", STUDY, data_root)
        return replace(cls(profile="full", paths=paths), **overrides)

    @classmethod
    def for_profile(
        cls, profile: str, data_root: str | Path | None = None, **overrides: Any
    ) -> GE2EAEGKDConfig:
        """The study's settings for ``embedded`` (2 CPU cores, a few minutes) or ``full`` (real data, GPU, the
        source's architectures and seeds at :data:`FULL_BUDGET`'s training sizes)."""
        paths = config.Paths.for_profile(profile, STUDY, data_root)
        overrides = {k: v for k, v in overrides.items() if v is not None}
        cfg = cls(profile=profile, paths=paths)
        if profile == "full":
            # 6 GB of decoded audio: LA train at 22.05 kHz (about 7 GB in float32) mostly fits, beside the models,
            # in a Colab runtime's 12.7 GB; LA 2021 eval is read from disk for each model
            cfg = replace(cfg, **FULL_BUDGET, audio_cache_gb=6.0)
        if profile == "embedded":
            # sized for about 10 minutes on 2 CPU cores (see the notebook): one block per stage and half the
            # channels (the student stays the teacher with half the channels), short crops of the 1-3 s
            # utterances, a draw of the training set per epoch; three seeds of every model of Tables 1 and 2.
            # The embedded spoofs only approach their target's voice, so GE2E learns from bona fide speech only,
            # and a fixed cosine of 0.4 means nothing in an embedding trained for minutes: AEG keeps what crosses
            # the attacking model's own speaker-verification EER threshold
            # (measured on corpus v2 at 3e-4 and 1.5 s crops: 8 x 500 utterances left training accuracy at 0.42 and
            # GE2E at loss 1.45 after 30 batches, so both learn at 1e-3 here)
            cfg = replace(
                cfg,
                sample_rate=16000,
                crop_s=1.0,
                eval_crop_s=1.5,
                sv_crop_s=1.5,
                layers=(1, 1, 1, 1),
                teacher_channels=(16, 32, 64, 128),
                student_channels=(8, 16, 32, 64),
                emb_dim=128,
                ge2e_epochs=15,
                ge2e_lr=1e-3,
                lr=1e-3,
                epochs=6,
                batch_size=32,
                train_per_epoch=300,
                augment_p=0.2,
                ge2e_bonafide_only=True,
                aeg_threshold_rule="sv_eer",
                aeg_pool=32,
                seeds=(0, 1, 2),
                table2_seeds=None,
            )
        cfg = replace(cfg, **overrides)
        if cfg.max_items is not None and cfg.aeg_pool is None:
            cfg = replace(cfg, aeg_pool=cfg.max_items)
        return replace(
            cfg, seeds=tuple(int(k) for k in cfg.seeds), reductions=cfg.describe_reductions()
        )

    def describe_reductions(self) -> tuple[str, ...]:
        """Short phrases for every departure from the source's settings (:meth:`source_settings`); the full
        profile's cuts to its budget (:data:`FULL_BUDGET`) are labelled as such."""
        full = GE2EAEGKDConfig.source_settings(paths=self.paths)
        out = []
        budget = self.profile == "full" and (self.epochs, self.train_per_epoch) == (
            FULL_BUDGET["epochs"],
            FULL_BUDGET["train_per_epoch"],
        )
        if budget:
            out.append(
                f"one-GPU-hour budget: {self.epochs} epochs of {self.train_per_epoch:,} utterances drawn from "
                f"LA train (unbudgeted: {full.epochs} epochs over all of it; the source states no epochs)"
            )
        if self.sample_rate != full.sample_rate:
            out.append(f"{self.sample_rate} Hz (corpus rate; source 22,050 Hz)")
        if self.layers != full.layers:
            out.append(f"blocks {'-'.join(map(str, self.layers))} (source 3-4-6-3)")
        if (self.teacher_channels, self.student_channels) != (
            full.teacher_channels,
            full.student_channels,
        ):
            out.append(f"channels {self.teacher_channels} / {self.student_channels}")
        if self.emb_dim != full.emb_dim:
            out.append(f"embedding {self.emb_dim} (source 512)")
        if self.crop_s != full.crop_s or self.eval_crop_s != full.eval_crop_s:
            out.append(f"{self.crop_s:g} s train / {self.eval_crop_s or 0:g} s eval crops")
        if self.ge2e_epochs != full.ge2e_epochs:
            out.append(f"GE2E {self.ge2e_epochs} batches of {self.ge2e_speakers}x{self.ge2e_utts}")
        if not budget and (self.epochs != full.epochs or self.train_per_epoch):
            per = f" x {self.train_per_epoch} utts" if self.train_per_epoch else ""
            out.append(f"{self.epochs} epochs{per}")
        if (self.lr, self.ge2e_lr) != (full.lr, full.ge2e_lr):
            out.append(f"learning rate {self.lr:g} (GE2E {self.ge2e_lr:g}; source 3e-4)")
        if self.batch_size != full.batch_size:
            out.append(f"batch {self.batch_size}")
        if self.aeg_pool:
            out.append(f"AEG on {self.aeg_pool} bona fide utts")
        if self.ge2e_bonafide_only != full.ge2e_bonafide_only:
            out.append(
                "GE2E on bona fide only"
                if self.ge2e_bonafide_only
                else "GE2E on bona fide and spoofs"
            )
        if (self.augment, self.augment_p, self.augment_kinds, self.snr_db) != (
            full.augment,
            full.augment_p,
            full.augment_kinds,
            full.snr_db,
        ):
            out.append(self.describe_augmentation())
        if (self.aeg_threshold_rule, self.aeg_threshold, self.aeg_alpha, self.aeg_iters) != (
            full.aeg_threshold_rule,
            full.aeg_threshold,
            full.aeg_alpha,
            full.aeg_iters,
        ):
            rule = (
                f"cos <= {self.aeg_threshold:g}"
                if self.aeg_threshold_rule == "fixed"
                else "cos below the attacker's speaker-verification EER threshold"
            )
            out.append(f"AEG keeps {rule}, BIM {self.aeg_iters} x {self.aeg_alpha:g} int16 units")
        if self.n_eval:
            out.append(f"{self.n_eval} eval trials")
        if self.max_items is not None:
            out.append(f"at most {self.max_items} utterances per evaluation set")
        if self.table2_seeds is not None and self.table2_seeds < len(self.seeds):
            out.append(
                f"AEG teachers and students on {self.table2_seeds} of {len(self.seeds)} seeds"
            )
        return tuple(out)

    def describe_augmentation(self) -> str:
        """Augmentation in words: probability, kinds and SNR ranges."""
        if not self.augment:
            return "no augmentation"
        kinds = [k for k in self.augment_kinds if k != "none"]
        prob = (
            ("uniform over " + ", ".join(self.augment_kinds))
            if self.augment_p is None
            else (f"p = {self.augment_p:g}, one of {', '.join(kinds)}")
        )
        snr = ", ".join(f"{c} {lo:g}-{hi:g} dB" for c, lo, hi in self.snr_db if c in kinds)
        return f"augmentation {prob}" + (f" (SNR {snr})" if snr else "")

    @property
    def crop_samples(self) -> int:
        """Training crop in samples."""
        return int(round(self.crop_s * self.sample_rate))

    @property
    def eval_samples(self) -> int | None:
        """Evaluation crop in samples (None: whole utterances, batch size 1)."""
        return None if self.eval_crop_s is None else int(round(self.eval_crop_s * self.sample_rate))

    def teacher(self) -> ResNetSE:
        """A fresh G-ResNetSE of this configuration (waveform input)."""
        return ResNetSE(
            self.teacher_channels,
            layers=self.layers,
            emb_dim=self.emb_dim,
            layout=self.teacher_layout,
            frontend=preset("logmel40_resnetse", sr=self.sample_rate),
        )

    def student(self) -> ResNetSE:
        """A fresh L-ResNetSE of this configuration (layout L, as the text describes it)."""
        return ResNetSE(
            self.student_channels,
            layers=self.layers,
            emb_dim=self.emb_dim,
            layout="L",
            frontend=preset("logmel40_resnetse", sr=self.sample_rate),
        )

    # fields that do not change what is trained (evaluation, device, notes)
    _NOT_TRAINING = (
        "profile",
        "paths",
        "eval_crop_s",
        "eval_phase",
        "n_eval",
        "seeds",
        "device",
        "reductions",
        "table2_seeds",
        "sv_crop_s",
        "bootstrap",
        "max_items",
        "audio_cache_gb",
    )

    def run_key(self) -> str:
        """A short hash of every setting that changes a trained model: runs of other settings live elsewhere.

        Checkpoints resume whatever settings made them, so a run folder shared by
        two configurations would hand one's models to the other.
        """
        return config.stable_hash(
            {k: v for k, v in asdict(self).items() if k not in self._NOT_TRAINING}
        )[:10]

    def run_root(self, seed: int) -> Path:
        """Output folder of one seed's models: ``paths.out / <run_key> / seed<k>`` (settings in settings.json)."""
        root = self.paths.out / self.run_key()
        root.mkdir(parents=True, exist_ok=True)
        settings = root / "settings.json"
        if not settings.is_file():
            d = {k: v for k, v in asdict(self).items() if k not in self._NOT_TRAINING}
            settings.write_text(json.dumps(d, indent=1, default=str) + "\n")
        return root / f"seed{seed}"

    def as_dict(self) -> dict[str, Any]:
        """Plain settings (for printing in the notebook)."""
        d = asdict(self)
        d["paths"] = {"data": str(self.paths.data), "out": str(self.paths.out)}
        return d


# ----------------------------------------------------------------------------- data


class AudioCache(dict):
    """Decoded waveforms by ``(path, rate)``, up to ``max_bytes`` (None: no limit); past it, nothing more is kept.

    The first files read are kept (the training sets, read every epoch by
    every model); what comes after the budget is decoded again on each use.
    """

    def __init__(self, max_bytes: int | None = None):
        super().__init__()
        self.max_bytes, self.bytes = max_bytes, 0

    def put(self, key: tuple[str, int], wav: np.ndarray) -> None:
        """Keep ``wav`` if the budget allows."""
        if self.max_bytes is None or self.bytes + wav.nbytes <= self.max_bytes:
            self[key] = wav
            self.bytes += wav.nbytes


class CachedCMDataset(CMDataset):
    """A :class:`CMDataset` that decodes each file once and keeps it in ``cache`` (shared between datasets).

    Seven models per seed read the same files tens of times each; decoding them
    once leaves the crops, augmentations and their seeds unchanged.
    """

    def __init__(self, *args: Any, cache: dict | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.cache = {} if cache is None else cache

    def load(self, index: int) -> np.ndarray:
        """The waveform of one item before cropping, from the cache after its first read."""
        key = (str(self.items[index][0]), self.sr)
        wav = self.cache.get(key)
        if wav is None:
            wav = super().load(index)
            if isinstance(self.cache, AudioCache):
                self.cache.put(key, wav)
            else:
                self.cache[key] = wav
        return wav


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
    families: dict[str, str] = field(default_factory=dict)
    audio: dict = field(
        default_factory=AudioCache
    )  # decoded waveforms, shared by every dataset of the study

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
    budget = None if cfg.audio_cache_gb is None else int(cfg.audio_cache_gb * 2**30)
    return StudyData(
        train,
        ev,
        trials,
        ev.asv_scores(phase=cfg.eval_phase),
        make_augmenter(cfg, seed),
        dev,
        attack_families(cfg.paths.data),
        AudioCache(budget),
    )


class GE2EBatchSampler(Sampler[list[int]]):
    """Batches of N distinct speakers x M distinct utterances each, speaker-major (rows of the GE2E matrix).

    Draws depend on (seed, epoch) only (:meth:`set_epoch`), so a resumed run
    sees the batches an uninterrupted one would.
    """

    def __init__(
        self,
        speakers: Sequence[str],
        n_speakers: int = 7,
        n_utts: int = 10,
        n_batches: int = 1,
        seed: int = 0,
    ):
        self.by_speaker: dict[str, list[int]] = {}
        for i, s in enumerate(speakers):
            self.by_speaker.setdefault(s, []).append(i)
        self.eligible = sorted(s for s, idx in self.by_speaker.items() if len(idx) >= n_utts)
        if len(self.eligible) < n_speakers:
            raise ValueError(
                f"GE2E batches of {n_speakers} speakers x {n_utts} utterances: only "
                f"{len(self.eligible)} speakers have {n_utts} or more utterances "
                f"({len(self.by_speaker)} speakers in all)"
            )
        self.n_speakers, self.n_utts, self.n_batches, self.seed, self.epoch = (
            n_speakers,
            n_utts,
            n_batches,
            seed,
            0,
        )

    def set_epoch(self, epoch: int) -> None:
        """Draw the batches of another epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self):
        rng = np.random.default_rng((self.seed, self.epoch))
        for _ in range(self.n_batches):
            spk = rng.choice(len(self.eligible), self.n_speakers, replace=False)
            yield [
                int(i)
                for k in spk
                for i in rng.choice(self.by_speaker[self.eligible[k]], self.n_utts, replace=False)
            ]


class FineTuneSet(Dataset):
    """CM training utterances with 8-class labels plus the current adversarial examples (class 7), augmented.

    The adversarial part can be replaced between epochs (active AEG); items are
    ``(waveform, label, id)`` as :class:`asvnb.data.asvspoof.CMDataset` gives them.
    """

    def __init__(
        self,
        base: CMDataset,
        adversarial: AdversarialSet | None = None,
        augment=None,
        seed: int = 0,
    ):
        self.base, self.augment, self.seed, self.epoch = base, augment, seed, 0
        self.adversarial = adversarial

    def set_adversarial(self, adversarial: AdversarialSet | None) -> None:
        """Replace the adversarial examples (active AEG does this before every epoch)."""
        self.adversarial = adversarial

    def set_epoch(self, epoch: int) -> None:
        """New random crops and augmentations for the epoch."""
        self.epoch = epoch
        self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base) + (len(self.adversarial) if self.adversarial is not None else 0)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str]:
        if index < len(self.base):
            return self.base[index]
        k = index - len(self.base)
        wav = self.adversarial.waveforms[k]
        if self.augment is not None:
            wav = self.augment(
                wav.numpy(), rng=np.random.default_rng((self.seed, self.epoch, index))
            )
            wav = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
        return wav, ADVERSARIAL_CLASS, f"adv{k}"


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


# ----------------------------------------------------------------------------- speaker verification


@torch.no_grad()
def embed_all(model: nn.Module, waveforms: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """Pooled embeddings (N, D) of a waveform batch, the model in eval mode (its mode restored after)."""
    was = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        return torch.cat(
            [
                model.embed(waveforms[i : i + batch_size].to(device)).cpu()
                for i in range(0, len(waveforms), batch_size)
            ]
        )
    finally:
        model.train(was)


def pair_scores(
    cos: np.ndarray, speakers: np.ndarray, idx: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(same-speaker, different-speaker) cosines of every pair of two distinct utterances among ``idx``.

    ``idx`` may repeat an utterance (a bootstrap resample): pairs of an
    utterance with itself are left out.
    """
    idx = np.arange(len(speakers)) if idx is None else np.asarray(idx)
    i, j = np.triu_indices(len(idx), 1)
    a, b = idx[i], idx[j]
    a, b = a[a != b], b[a != b]
    same = speakers[a] == speakers[b]
    return cos[a, b][same], cos[a, b][~same]


@dataclass
class SpeakerEER:
    """Speaker-verification EER of an embedding on held-out bona fide utterances, every pair a trial."""

    eer: float
    ci95: tuple[float, float]
    threshold: float
    target: np.ndarray  # cosines of same-speaker pairs
    nontarget: np.ndarray  # cosines of different-speaker pairs
    n_utts: int
    n_speakers: int


def speaker_eer_of(
    emb: torch.Tensor, speakers: Sequence[str], reps: int = 1000, seed: int = 0
) -> SpeakerEER:
    """EER of cosine scoring over all pairs of the embeddings; its 95 % interval resamples utterances.

    Pairs share utterances, so resampling pairs would understate the spread:
    each bootstrap draws utterances with replacement and rebuilds the pairs.
    """
    e = F.normalize(emb.double(), dim=-1)
    cos = (e @ e.T).numpy()
    spk = np.asarray(speakers, dtype=object)
    target, nontarget = pair_scores(cos, spk)
    if not len(target) or not len(nontarget):
        raise ValueError(
            "speaker-verification EER needs two speakers and two utterances of one speaker"
        )
    value, thr = metrics.eer(target, nontarget)

    def stat(idx: np.ndarray) -> float:
        t, n = pair_scores(cos, spk, idx)
        return metrics.eer(t, n)[0] if len(t) and len(n) else value

    ci = bootstrap_ci(stat, len(spk), reps=reps, seed=seed)
    return SpeakerEER(value, ci, thr, target, nontarget, len(spk), len(set(speakers)))


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


def speaker_eer(
    cfg: GE2EAEGKDConfig, model: nn.Module, sv: tuple[torch.Tensor, list[str]], seed: int = 0
) -> SpeakerEER:
    """Speaker-verification EER of ``model.embed`` on the held-out bona fide set ``sv``."""
    return speaker_eer_of(
        embed_all(model, sv[0], cfg.batch_size), sv[1], reps=cfg.bootstrap, seed=seed
    )


# ----------------------------------------------------------------------------- training


class GE2EPretrainer(nn.Module):
    """The model and the GE2E loss's w, b in one module, so the optimiser and the checkpoints hold both."""

    def __init__(self, model: ResNetSE, n_speakers: int, n_utts: int):
        super().__init__()
        self.model, self.loss = model, GE2ELoss()
        self.n_speakers, self.n_utts = n_speakers, n_utts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """GE2E loss of a speaker-major (N M, samples) batch."""
        emb = self.model.embed(x)
        return self.loss(emb.reshape(self.n_speakers, self.n_utts, -1))


def ge2e_step(module: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
    """One GE2E step; logs the learnt w and b."""
    loss = module(batch[0])
    inner = getattr(module, "module", module)
    return loss, {"w": float(inner.loss.w.detach()), "b": float(inner.loss.b.detach())}


def nll_step(model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
    """One NLL step over the 8 classes (the model returns log-probabilities)."""
    x, y = batch[0], batch[1]
    logp = model(x)
    return F.nll_loss(logp, y), {"acc": float((logp.argmax(1) == y).float().mean())}


def kd_step(
    teacher: nn.Module, gamma: float, T: float
) -> Callable[[nn.Module, Any], tuple[torch.Tensor, dict]]:
    """A distillation step against a frozen teacher (the study 03 source eq. 4)."""

    def step(student: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch[0], batch[1]
        with torch.no_grad():
            t = teacher(x)
        s = student(x)
        return distillation_loss(s, t, y, gamma=gamma, T=T), {
            "acc": float((s.argmax(1) == y).float().mean())
        }

    return step


def _epoch_hook(
    *items: Any, then: Callable[[Trainer, int], None] | None = None
) -> Callable[[Trainer, int], None]:
    """on_epoch_start: set the epoch of samplers/datasets (resume-safe draws), then run ``then``."""

    def hook(trainer: Trainer, epoch: int) -> None:
        # accelerate's prepared loader calls set_epoch(<its own pass counter>) on the sampler and the dataset
        # when iterated, and that counter restarts at 0 on resume; pinning it to the trainer's epoch keeps
        # crops, augmentations and shuffles the same in a resumed run
        if hasattr(trainer.train_loader, "set_epoch"):
            trainer.train_loader.set_epoch(epoch)
        for it in items:
            it.set_epoch(epoch)
        if then is not None:
            then(trainer, epoch)

    return hook


def _optimiser(cfg: GE2EAEGKDConfig, params, lr: float) -> tuple[torch.optim.Optimizer, Any]:
    opt = torch.optim.Adam(params, lr=lr)
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.decay_every, gamma=cfg.lr_decay)


def _train_config(
    cfg: GE2EAEGKDConfig, out: Path, epochs: int, seed: int, progress: bool | None
) -> TrainConfig:
    # no validation set (the source validates on 2019 dev but reports no selection rule): the last epoch is kept
    return TrainConfig(
        out_dir=out,
        epochs=epochs,
        seed=seed,
        monitor="train_loss",
        mode="min",
        progress=progress,
        cpu=config.resolve_device(cfg.device) == "cpu",
    )


def _unwrap(trainer: Trainer) -> nn.Module:
    return trainer.accelerator.unwrap_model(trainer.model)


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
    loader = DataLoader(ds, batch_sampler=sampler)
    # constant rate: the source's x0.95 every two epochs is for the end-to-end (NLL/KD) training, and a GE2E
    # "epoch" is a single batch
    opt = torch.optim.Adam(pre.parameters(), lr=cfg.ge2e_lr)
    trainer = Trainer(
        pre,
        opt,
        loader,
        ge2e_step,
        _train_config(cfg, out, cfg.ge2e_epochs, seed, progress),
        on_epoch_start=_epoch_hook(sampler, ds),
    )
    result = trainer.fit()
    return _unwrap(trainer).model, result.history


AEG_RULES = ("fixed", "sv_eer")


def aeg_threshold(
    cfg: GE2EAEGKDConfig, model: nn.Module, pool: tuple[torch.Tensor, list[str]]
) -> float:
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
    e = F.normalize(embed_all(model, pool[0], cfg.batch_size).double(), dim=-1)
    target, nontarget = pair_scores((e @ e.T).numpy(), np.asarray(pool[1], dtype=object))
    return float(metrics.eer(target, nontarget)[1])


def _attack(
    cfg: GE2EAEGKDConfig, model: nn.Module, pool: tuple[torch.Tensor, list[str]], seed: int
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
    keep = torch.nonzero(every.cos_sim <= threshold).flatten()
    kept = AdversarialSet(
        every.waveforms[keep],
        every.labels[keep],
        every.cos_sim[keep],
        every.source_index[keep],
        every.reference_index[keep],
        every.n_tried,
    )
    return every, kept, threshold


def _save(adv: AdversarialSet, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(asdict(adv), path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)


def load_adversarial(path: Path) -> AdversarialSet:
    """An adversarial set saved by :func:`static_aeg` or :class:`ActiveAEG`."""
    return AdversarialSet(**torch.load(path))


@torch.no_grad()
def clean_similarity(
    model: nn.Module,
    pool: tuple[torch.Tensor, list[str]],
    every: AdversarialSet,
    batch_size: int = 32,
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
    cfg: GE2EAEGKDConfig,
    model: nn.Module,
    pool: tuple[torch.Tensor, list[str]],
    seed: int,
    path: Path,
) -> tuple[AdversarialSet, pd.DataFrame]:
    """Static AEG: BIM once with the GE2E model, before fine-tuning (cached at ``path``).

    Returns the kept examples and, for every attacked pair, its similarity
    before and after the attack and the perturbation's SNR (dB).
    """
    sims_path = path.with_name(path.stem + "_similarity.csv")
    if path.is_file() and sims_path.is_file():
        return load_adversarial(path), pd.read_csv(sims_path)
    every, kept, threshold = _attack(cfg, model, pool, seed)
    sims = pd.DataFrame(
        {
            "before": clean_similarity(model, pool, every).numpy(),
            "after": every.cos_sim.numpy(),
            "snr_db": perturbation_snr_db(pool[0][every.source_index], every.waveforms).numpy(),
        }
    )
    sims["kept"] = sims["after"] <= threshold
    sims["threshold"] = threshold
    _save(kept, path)
    sims.to_csv(sims_path, index=False)
    return kept, sims


def aeg_scale_table(
    cfg: GE2EAEGKDConfig, pool: tuple[torch.Tensor, list[str]], sims: pd.DataFrame | None = None
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
    bound = cfg.aeg_alpha * cfg.aeg_iters / 32768.0
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
                "step (full scale)": cfg.aeg_alpha / 32768.0,
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


class ActiveAEG:
    """Active AEG: before every epoch, BIM with the model being trained replaces the adversarial examples.

    Passed as (part of) the trainer's ``on_epoch_start``; ``log`` holds one dict
    per epoch (epoch, tried, kept, threshold, mean similarity after the attack,
    every similarity after it), also written to ``log_path`` so that a resumed or
    finished run still reports the epochs it did earlier; the last kept set is
    saved at ``last_path`` for the student that distils this teacher.
    """

    def __init__(
        self,
        cfg: GE2EAEGKDConfig,
        dataset: FineTuneSet,
        pool: tuple[torch.Tensor, list[str]],
        seed: int,
        last_path: Path | None = None,
        log_path: Path | None = None,
    ):
        self.cfg, self.dataset, self.pool, self.seed, self.last_path = (
            cfg,
            dataset,
            pool,
            seed,
            last_path,
        )
        self.log_path = log_path
        self.log: list[dict[str, Any]] = []
        if log_path is not None and log_path.is_file():
            self.log = json.loads(log_path.read_text(encoding="utf-8"))

    def __call__(self, trainer: Trainer, epoch: int) -> None:
        """Regenerate the adversarial set with the current model."""
        every, kept, threshold = _attack(
            self.cfg, _unwrap(trainer), self.pool, self.seed * 1000 + epoch
        )
        self.dataset.set_adversarial(kept)
        self.log = [
            e for e in self.log if e["epoch"] < epoch
        ]  # a resumed epoch replaces its old entry
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
            _save(kept, self.last_path)
        if self.log_path is not None:
            tmp = self.log_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.log), encoding="utf-8")
            tmp.replace(self.log_path)


class EpochSampler(Sampler[int]):
    """A shuffle of ``num_samples`` items (default: all) drawn from (seed, epoch) only.

    Written rather than ``RandomSampler`` because accelerate gives a
    ``RandomSampler`` a private generator that its checkpoints do not save, so a
    resumed run would replay the first epoch's order; the dataset's length is read
    at each epoch (active AEG changes it).
    """

    def __init__(self, dataset: Dataset, num_samples: int | None = None, seed: int = 0):
        self.dataset, self.num_samples, self.seed, self.epoch = dataset, num_samples, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Draw another epoch's order."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples or len(self.dataset)

    def __iter__(self):
        rng, n = np.random.default_rng((self.seed, self.epoch)), len(self.dataset)
        order = np.concatenate([rng.permutation(n) for _ in range(-(-len(self) // n))])[: len(self)]
        return iter(order.tolist())


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
    """Fine-tune with NLL (or distil from ``teacher``) through the shared trainer; active AEG as the epoch hook."""
    opt, sched = _optimiser(cfg, model.parameters(), cfg.lr)
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
        _train_config(cfg, out, cfg.epochs, seed, progress),
        scheduler=sched,
        on_epoch_start=_epoch_hook(ds, sampler, then=active),
    )
    if teacher is not None:
        teacher.to(trainer.device)
    result = trainer.fit(stop_after=stop_after)
    return _unwrap(trainer), result.history


# ----------------------------------------------------------------------------- evaluation


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


def evaluate_dev(
    cfg: GE2EAEGKDConfig, model: nn.Module, data: StudyData, limit: int | None = None
) -> CMResult:
    """Scores on LA 2019 dev (the training attacks A01-A06, held-out speakers): what the model learnt of the
    attacks it was trained on, apart from how it generalises to unseen ones. ``limit``: a class-balanced subset."""
    limits = [n for n in (cfg.max_items, limit) if n is not None]
    trials = balanced_subset(data.dev.trials, min(limits) if limits else None, lambda t: t.system)
    ds = data.dataset(trials, data.dev.audio_dir, sr=cfg.sample_rate, n_samples=cfg.eval_samples)
    loader = DataLoader(ds, batch_size=cfg.batch_size if cfg.eval_samples else 1)
    device = torch.device(config.resolve_device(cfg.device))
    scores = predict(model.to(device), loader, device).scores(BONAFIDE)
    keys = np.array([t.key for t in trials], dtype=object)
    systems = np.array([t.system for t in trials], dtype=object)
    # no ASV scores are read for dev: the t-DCF is not reported there
    return CMResult(
        scores,
        keys,
        systems,
        float("nan"),
        metrics.eer(scores[keys == "bonafide"], scores[keys == "spoof"])[0],
    )


def evaluate(cfg: GE2EAEGKDConfig, model: nn.Module, data: StudyData) -> CMResult:
    """CM scores (log-odds of bona fide against the 7 other classes) on the eval trials, min t-DCF and EER."""
    ds = data.dataset(
        data.eval_trials, data.eval.audio_dir, sr=cfg.sample_rate, n_samples=cfg.eval_samples
    )
    loader = DataLoader(ds, batch_size=cfg.batch_size if cfg.eval_samples else 1)
    device = torch.device(config.resolve_device(cfg.device))
    pred = predict(model.to(device), loader, device)
    scores = pred.scores(BONAFIDE)
    keys = np.array([t.key for t in data.eval_trials], dtype=object)
    systems = np.array([t.system for t in data.eval_trials], dtype=object)
    bona, spoof = scores[keys == "bonafide"], scores[keys == "spoof"]
    tdcf = metrics.min_tdcf(bona, spoof, data.asv.target, data.asv.nontarget, data.asv.spoof)
    codecs = np.array([getattr(t, "codec", "") or "-" for t in data.eval_trials], dtype=object)
    return CMResult(scores, keys, systems, tdcf, metrics.eer(bona, spoof)[0], codecs)


# ----------------------------------------------------------------------------- detector cards

CARD_DEV_TRIALS = 350  # LA19 dev trials behind a card's threshold: 50 per class (bona fide, A01-A06), seconds a model


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
    if (
        folder / DETECTOR_FILE
    ).is_file():  # the run folder is keyed by its settings: same weights, same card
        register_detector(index, folder, name=label, seed=seed)
        return folder / DETECTOR_FILE
    teacher = name.startswith("G")
    kwargs = {
        "channels": cfg.teacher_channels if teacher else cfg.student_channels,
        "layers": cfg.layers,
        "emb_dim": cfg.emb_dim,
        "layout": cfg.teacher_layout if teacher else "L",
        "frontend": preset("logmel40_resnetse", sr=cfg.sample_rate),
    }
    threshold = None
    if data.dev is not None:
        dev = evaluate_dev(cfg, model, data, CARD_DEV_TRIALS)
        e, thr = metrics.eer(*dev.split())
        threshold = dev_threshold(thr, e, f"LA19 dev ({len(dev.scores)} trials)")
    return describe_detector(
        folder,
        model=model_config(ResNetSE, **kwargs),
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


# ----------------------------------------------------------------------------- one seed


@dataclass
class SeedRun:
    """The models of one seed: eval results, training histories, AEG counts and the GE2E speaker EERs."""

    seed: int
    results: dict[str, CMResult] = field(default_factory=dict)
    histories: dict[str, pd.DataFrame] = field(default_factory=dict)
    aeg: dict[str, Any] = field(default_factory=dict)
    speaker: dict[str, SpeakerEER] = field(
        default_factory=dict
    )  # "before" / "after" GE2E pre-training
    dev: dict[str, CMResult] = field(
        default_factory=dict
    )  # LA19 dev scores of the GE2E + NLL teacher


TABLE1_MODELS = ("G NLL", "G GE2E+NLL")


def run_seed(
    cfg: GE2EAEGKDConfig,
    data: StudyData,
    seed: int,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
    table2: bool = True,
) -> SeedRun:
    """Train and evaluate the models of Table 1 for one seed, and with ``table2`` the other five of Table 2."""
    root = cfg.run_root(seed)
    run = SeedRun(seed)

    def finish(name: str, model: nn.Module, hist: pd.DataFrame) -> nn.Module:
        run.histories[name] = hist
        t0 = time.perf_counter()
        run.results[name] = r = evaluate(cfg, model, data)
        log(
            f"seed {seed} {name}: min t-DCF {r.min_tdcf:.4f}, EER {100 * r.eer:.2f}% "
            f"(training {hist['seconds'].sum():.0f} s, evaluation {time.perf_counter() - t0:.0f} s)"
        )
        describe_model(cfg, data, name, model, seed, root / name / "best")
        return model

    def ft_set(adv: AdversarialSet | None) -> FineTuneSet:
        return FineTuneSet(train_dataset(cfg, data, seed), adv, data.augmenter, seed)

    config.seed_everything(seed)
    sv = sv_set(cfg, data) if data.dev is not None else None
    if sv is not None:
        torch.manual_seed(
            seed
        )  # the initial model GE2E starts from (pretrain_ge2e seeds the same way)
        run.speaker["before"] = speaker_eer(cfg, cfg.teacher(), sv, seed)
    ge2e, run.histories["GE2E"] = pretrain_ge2e(cfg, data, seed, root / "GE2E", progress)
    if sv is not None:
        run.speaker["after"] = speaker_eer(cfg, ge2e, sv, seed)
        log(
            f"seed {seed} GE2E: speaker EER on LA19 dev bona fide {100 * run.speaker['before'].eer:.1f}% before, "
            f"{100 * run.speaker['after'].eer:.1f}% after pre-training"
        )
    ge2e_state = {k: v.detach().clone() for k, v in ge2e.state_dict().items()}

    def from_ge2e() -> ResNetSE:
        m = cfg.teacher()
        m.load_state_dict(ge2e_state)
        return m

    teachers: dict[str, nn.Module] = {}
    config.seed_everything(seed)
    finish(
        "G NLL",
        *fine_tune(cfg, cfg.teacher(), ft_set(None), seed, root / "G NLL", progress=progress),
    )
    teachers["none"] = finish(
        "G GE2E+NLL",
        *fine_tune(cfg, from_ge2e(), ft_set(None), seed, root / "G GE2E+NLL", progress=progress),
    )
    if data.dev is not None:
        run.dev["G GE2E+NLL"] = evaluate_dev(cfg, teachers["none"], data)
    if not table2:
        return run
    pool = aeg_pool(cfg, data, seed)
    static, run.aeg["static_similarity"] = static_aeg(cfg, ge2e, pool, seed, root / "static_aeg.pt")
    run.aeg["static"] = (static.n_tried, len(static))
    if len(static):
        teachers["static"] = finish(
            "G static",
            *fine_tune(
                cfg, from_ge2e(), ft_set(static), seed, root / "G static", progress=progress
            ),
        )
    else:
        # no example kept: the static run would see exactly the data, seed and initial model of the run
        # without AEG, so it would repeat it bit for bit; its result is reused instead of recomputed
        log(f"seed {seed}: static AEG kept no example; G static = G GE2E+NLL and L static = L none")
        teachers["static"] = teachers["none"]
        run.results["G static"], run.histories["G static"] = (
            run.results["G GE2E+NLL"],
            run.histories["G GE2E+NLL"],
        )
    ds = ft_set(None)
    active = ActiveAEG(
        cfg, ds, pool, seed, root / "active_aeg_last.pt", root / "active_aeg_log.json"
    )
    teachers["active"] = finish(
        "G active",
        *fine_tune(cfg, from_ge2e(), ds, seed, root / "G active", active=active, progress=progress),
    )
    run.aeg["active"] = active.log
    last_active = (
        load_adversarial(root / "active_aeg_last.pt")
        if (root / "active_aeg_last.pt").is_file()
        else None
    )
    # the student learns from the data its teacher was fine-tuned on (the source does not say)
    student_adv = {"none": None, "static": static, "active": last_active}
    for mode in AEG_MODES:
        if mode == "static" and not len(static):
            run.results["L static"], run.histories["L static"] = (
                run.results["L none"],
                run.histories["L none"],
            )
            continue
        torch.manual_seed(seed)
        finish(
            f"L {mode}",
            *fine_tune(
                cfg,
                cfg.student(),
                ft_set(student_adv[mode]),
                seed,
                root / f"L {mode}",
                teacher=teachers[mode],
                progress=progress,
            ),
        )
    return run


def run_all(
    cfg: GE2EAEGKDConfig,
    data: StudyData,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
) -> list[SeedRun]:
    """Every seed's Table 1 models; the first ``table2_seeds`` seeds also train Table 2's other five."""
    n2 = len(cfg.seeds) if cfg.table2_seeds is None else cfg.table2_seeds
    runs = []
    for k, seed in enumerate(cfg.seeds):
        t0 = time.perf_counter()
        runs.append(run_seed(cfg, data, seed, progress, log, table2=k < n2))
        log(f"seed {seed}: {time.perf_counter() - t0:.0f} s")
    return runs


# ----------------------------------------------------------------------------- tables


def seeds_note(runs: Sequence[SeedRun]) -> str:
    """The number of seeds behind a row when it is fewer than the three a mean +- std asks for ("" otherwise)."""
    n = len(runs)
    return (
        ""
        if n >= 3
        else f"{n} seed{'s' if n > 1 else ''} (fewer than 3: {'no std' if n == 1 else 'std of 2'})"
    )


def _note(cfg: GE2EAEGKDConfig, extra: str = "", runs: Sequence[SeedRun] = ()) -> str:
    parts = [p for p in (extra, seeds_note(runs) if runs else "") if p] + list(cfg.reductions)
    return "; ".join(parts)


def table1_rows(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig) -> list[dict]:
    """Table 1 rows (NLL vs GE2E + NLL) for report.comparison_table."""
    rows = []
    for label, name in (("NLL", "G NLL"), ("GE2E + NLL", "G GE2E+NLL")):
        src = SOURCE_TABLE1[label]
        rows.append(
            {
                "model": f"G-ResNetSE, {label}",
                "metric": "min t-DCF",
                "source": src[0],
                "ours": [r.results[name].min_tdcf for r in runs],
                "digits": 4,
                "note": _note(cfg, runs=runs),
            }
        )
        rows.append(
            {
                "model": f"G-ResNetSE, {label}",
                "metric": "EER",
                "source": src[1] / 100,
                "percent": True,
                "ours": [r.results[name].eer for r in runs],
                "note": _note(cfg, runs=runs),
            }
        )
    return rows


def table2_runs(runs: Sequence[SeedRun]) -> list[SeedRun]:
    """The seeds that trained Table 2's AEG teachers and students."""
    return [r for r in runs if "L static" in r.results]


def aeg_summary(runs: Sequence[SeedRun]) -> dict[str, str]:
    """How many adversarial examples static and active AEG kept, over all seeds (for the tables' notes)."""
    runs = table2_runs(runs)
    tried = sum(r.aeg["static"][0] for r in runs)
    kept = sum(r.aeg["static"][1] for r in runs)
    empty = sum(r.aeg["static"][1] == 0 for r in runs)
    static = f"static AEG kept {kept} of {tried} attacked utts"
    if empty:
        static += f"; none in {empty} of {len(runs)} seeds, where the run equals AEG none"
    a_tried = sum(e["tried"] for r in runs for e in r.aeg["active"])
    a_kept = sum(e["kept"] for r in runs for e in r.aeg["active"])
    return {
        "none": "",
        "static": static,
        "active": f"active AEG kept {a_kept} of {a_tried} over all epochs",
    }


def table2_rows(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig) -> list[dict]:
    """Table 2 rows (none / static / active AEG, teacher and distilled student)."""
    rows = []
    kept = aeg_summary(runs)
    for arch, prefix in (("G-ResNetSE", "G"), ("L-ResNetSE", "L")):
        for mode in AEG_MODES:
            name = f"{prefix} {mode}" if not (prefix == "G" and mode == "none") else "G GE2E+NLL"
            src = SOURCE_TABLE2[(arch, mode)]
            runs_of = runs if name == "G GE2E+NLL" else table2_runs(runs)
            extra = "same runs as Table 1, GE2E + NLL" if name == "G GE2E+NLL" else kept[mode]
            rows.append(
                {
                    "model": f"{arch}, AEG {mode}",
                    "metric": "min t-DCF",
                    "source": src[0],
                    "digits": 4,
                    "ours": [r.results[name].min_tdcf for r in runs_of],
                    "note": _note(cfg, extra, runs_of),
                }
            )
            rows.append(
                {
                    "model": f"{arch}, AEG {mode}",
                    "metric": "EER",
                    "source": src[1] / 100,
                    "percent": True,
                    "ours": [r.results[name].eer for r in runs_of],
                    "note": _note(cfg, extra, runs_of),
                }
            )
    return rows


@dataclass
class Complexity:
    """Parameters and MACs of one model at a stated input (log-mel frames in, front-end excluded)."""

    model: str
    params: int
    macs: int
    frames: int


def complexity(model: ResNetSE, name: str, frames: int) -> Complexity:
    """Parameters and thop MACs on (1, 40, frames) log-mel features, front-end excluded (as in Table 3)."""
    frontend, model.frontend = model.frontend, None
    try:
        return Complexity(
            name, count_params(model), count_macs(model, (1, model.n_mels, frames)), frames
        )
    finally:
        model.frontend = frontend


def complexity_table(cfg: GE2EAEGKDConfig, seconds: float = 4.0) -> pd.DataFrame:
    """Params/MACs of the source's architectures at ``seconds`` of input, and of the models trained here."""
    frames = int(round(seconds * 100)) + 1  # 10 ms hop, centred frames
    src = GE2EAEGKDConfig.source_settings(
        paths=cfg.paths
    )  # the source's architectures, at its 512-d embedding
    rows = [
        complexity(src.teacher(), "G-ResNetSE, layout L (the text's description)", frames),
        complexity(replace(src, teacher_layout="V2").teacher(), "G-ResNetSE, layout V2", frames),
        complexity(src.student(), "L-ResNetSE, layout L", frames),
    ]
    if (cfg.layers, cfg.teacher_channels, cfg.student_channels) != (
        src.layers,
        src.teacher_channels,
        src.student_channels,
    ):
        rows += [
            complexity(
                cfg.teacher(),
                f"G-ResNetSE as trained here (blocks {'-'.join(map(str, cfg.layers))})",
                frames,
            ),
            complexity(
                cfg.student(),
                f"L-ResNetSE as trained here (blocks {'-'.join(map(str, cfg.layers))})",
                frames,
            ),
        ]
    df = pd.DataFrame([asdict(r) for r in rows])
    df["params (M)"] = (df["params"] / 1e6).round(3)
    df["MACs (G)"] = (df["macs"] / 1e9).round(3)
    df["input"] = f"{seconds:g} s = {frames} frames x 40 log-mel"
    return df


def table3_rows(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig, cx: pd.DataFrame) -> list[dict]:
    """Table 3 rows: the source's comparison systems (source only) and our teacher (active) and student (static)."""
    rows = []
    runs = table2_runs(runs)
    for name in ("RawNet2", "SE-ResNet18", "LFCC-LCNN"):
        p, m, t, e = SOURCE_TABLE3[name]
        for metric, src in (
            ("params", p),
            ("MACs", m),
            ("min t-DCF", t),
            ("EER", None if e is None else e / 100),
        ):
            rows.append(
                {
                    "model": name,
                    "metric": metric,
                    "source": src,
                    "ours": "-",
                    "digits": 2 if metric == "EER" else 4,
                    "percent": metric == "EER",
                    "note": "quoted by the source, not rebuilt",
                }
            )
    layout_v2 = cx.iloc[1]
    lt = cx.iloc[0]
    st = cx.iloc[2]
    for arch, name, c, extra in (
        (
            "G-ResNetSE",
            "G active",
            layout_v2,
            f"params/MACs of layout V2; the text's layout L gives {lt['params (M)']:.2f} M / {lt['MACs (G)']:.2f} G",
        ),
        ("L-ResNetSE", "L static", st, ""),
    ):
        p, m, t, e = SOURCE_TABLE3[arch]
        rows += [
            {
                "model": arch,
                "metric": "params",
                "source": p,
                "ours": f"{c['params (M)']:.2f} M",
                "note": f"{c['input']}; {extra}".rstrip("; "),
            },
            {
                "model": arch,
                "metric": "MACs",
                "source": m,
                "ours": f"{c['MACs (G)']:.2f} G",
                "note": f"thop, {c['input']}, front-end excluded",
            },
            {
                "model": arch,
                "metric": "min t-DCF",
                "source": t,
                "digits": 4,
                "ours": [r.results[name].min_tdcf for r in runs],
                "note": _note(cfg, f"our {name}", runs),
            },
            {
                "model": arch,
                "metric": "EER",
                "source": e / 100,
                "percent": True,
                "ours": [r.results[name].eer for r in runs],
                "note": _note(cfg, f"our {name}", runs),
            },
        ]
    return rows


def summary(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig) -> str:
    """A few lines on what the runs learnt: EER and min t-DCF against chance, the GE2E loss, AEG's similarities."""
    n_eval = len(next(iter(runs[0].results.values())).scores)
    lines = [f"{len(runs)} seed(s), {n_eval} eval trials; chance: EER 50%, min t-DCF 1"]
    for name in MODELS:
        eer = np.array([r.results[name].eer for r in runs if name in r.results])
        tdcf = np.array([r.results[name].min_tdcf for r in runs if name in r.results])
        plural = "s" if len(eer) > 1 else ""
        lines.append(
            f"  {name:11s} EER {100 * eer.mean():5.1f}%  min t-DCF {tdcf.mean():.3f}  "
            f"({len(eer)} seed{plural})"
        )
    first = np.mean([r.histories["GE2E"]["train_loss"].iloc[:5].mean() for r in runs])
    last = np.mean([r.histories["GE2E"]["train_loss"].iloc[-5:].mean() for r in runs])
    lines.append(
        f"GE2E loss (mean of 5 batches) {first:.3f} at the start, {last:.3f} at the end of "
        f"{cfg.ge2e_epochs} batches; log N = {np.log(cfg.ge2e_speakers):.3f} is chance"
    )
    for r in runs:
        if r.speaker:
            lines.append(
                f"seed {r.seed}: speaker EER on LA19 dev bona fide {100 * r.speaker['before'].eer:.1f}% "
                f"before GE2E, {100 * r.speaker['after'].eer:.1f}% after"
            )
    t2 = table2_runs(runs)
    if t2:
        sims = pd.concat([r.aeg["static_similarity"] for r in t2])
        lines.append(
            f"static AEG: cosine {sims['before'].mean():.3f} before the attack, {sims['after'].mean():.3f} "
            f"after (lowest {sims['after'].min():.3f}); kept {int(sims['kept'].sum())} of {len(sims)} at "
            f"<= {sims['threshold'].mean():.3f} (mean threshold)"
        )
        act = [x for r in t2 for x in r.aeg["active"]]
        if act:
            lines.append(
                f"active AEG: kept {sum(e['kept'] for e in act)} of {sum(e['tried'] for e in act)} over "
                f"{len(act)} epoch(s); mean cosine after the attack "
                f"{np.mean([e['mean_after'] for e in act]):.3f}"
            )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- machine-readable results


def groups(result: CMResult, families: dict[str, str]) -> dict[str, np.ndarray]:
    """Trial masks of the breakdowns: "" (pooled), each attack family (its spoofs and every bona fide trial),
    each codec condition (its bona fide and spoof trials). A condition without bona fide or without spoofed
    trials (a subset of the eval set: ``n_eval``, ``max_items``) has no EER and is left out."""
    bona = result.keys == "bonafide"
    fam = np.array(
        [families.get(s, "?") if k == "spoof" else "" for s, k in zip(result.systems, result.keys)],
        dtype=object,
    )
    out = {"": np.ones(len(result.keys), bool)}
    for f in sorted(set(fam[~bona])):
        out[f"family {f}"] = bona | (fam == f)
    if result.codecs is not None:
        for c in sorted(set(result.codecs)):
            mask = result.codecs == c
            if (mask & bona).any() and (mask & ~bona).any():
                out[f"codec {c}"] = mask
    return out


def seed_mean_ci(
    results: Sequence[CMResult],
    mask: np.ndarray,
    stat: Callable[[np.ndarray, np.ndarray], float],
    reps: int = 1000,
    seed: int = 0,
) -> tuple[float, tuple[float, float], int]:
    """Mean over seeds of ``stat(bona fide, spoof)`` on the trials of ``mask``, its 95 % interval, and the trials.

    The interval resamples trials (bona fide and spoof apart, the same draw for
    every seed), so it is the trial-sampling spread of the mean over seeds.
    """
    idx = np.flatnonzero(mask)
    keys = results[0].keys[idx]
    scores = np.stack([r.scores[idx] for r in results])
    labels = (keys == "bonafide").astype(int)

    def value(sel: np.ndarray) -> float:
        y = labels[sel]
        return float(np.mean([stat(s[sel][y == 1], s[sel][y == 0]) for s in scores]))

    ci = bootstrap_ci(value, len(idx), reps=reps, seed=seed, strata=labels)
    return value(np.arange(len(idx))), ci, len(idx)


def _eer(bona: np.ndarray, spoof: np.ndarray) -> float:
    return metrics.eer(bona, spoof)[0]


def cm_rows(
    table: str,
    system: str,
    results: Sequence[CMResult],
    data: StudyData,
    cfg: GE2EAEGKDConfig,
    source: tuple[float, float] | None = None,
    note: str = "",
    breakdown: bool = False,
) -> list[ResultRow]:
    """EER and min t-DCF rows of one system over its seeds (mean, std, 95 % interval), with per-family and
    per-codec EER when ``breakdown``."""
    asv = data.asv
    rows = []
    tdcfs = [r.min_tdcf for r in results]

    def tdcf(b: np.ndarray, s: np.ndarray) -> float:
        return metrics.min_tdcf(b, s, asv.target, asv.nontarget, asv.spoof)

    masks = groups(results[0], data.families)
    for name, mask in masks.items():
        if name and not breakdown:
            continue
        where = "LA21 eval" + (f", {name}" if name else "")
        value, ci, n = seed_mean_ci(results, mask, _eer, cfg.bootstrap)
        per_seed = [
            _eer(r.scores[mask & (r.keys == "bonafide")], r.scores[mask & (r.keys == "spoof")])
            for r in results
        ]
        stats = over_seeds(per_seed)
        rows.append(
            ResultRow(
                table,
                system,
                where,
                "eer",
                stats["value"],
                stats["std"],
                stats["n_seeds"],
                ci,
                n,
                None if name or source is None else source[1] / 100,
                note,
            )
        )
        if not name:
            tv, tci, _ = seed_mean_ci(results, mask, tdcf, max(cfg.bootstrap // 5, 50))
            st = over_seeds(tdcfs)
            rows.append(
                ResultRow(
                    table,
                    system,
                    where,
                    "min_tdcf",
                    st["value"],
                    st["std"],
                    st["n_seeds"],
                    tci,
                    n,
                    None if source is None else source[0],
                    note,
                )
            )
    return rows


def kept_row(
    system: str, kept: np.ndarray, per_seed: Sequence[float], note: str, reps: int
) -> ResultRow:
    """Kept fraction of one AEG mode: mean over seeds, 95 % interval over the attacked utterances."""
    kept = np.asarray(kept, dtype=float)
    ci = bootstrap_ci(lambda i: float(kept[i].mean()), len(kept), reps=reps)
    st = over_seeds(per_seed)
    return ResultRow(
        "aeg",
        system,
        "LA19 train",
        "kept_fraction",
        st["value"],
        st["std"],
        st["n_seeds"],
        ci,
        len(kept),
        None,
        note,
    )


def speaker_rows(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig) -> list[ResultRow]:
    """Speaker-verification EER on LA19 dev bona fide before and after GE2E, mean over seeds."""
    rows = []
    with_sv = [r for r in runs if r.speaker]
    if not with_sv:
        return rows
    for when, system in (("before", "G-ResNetSE, initial"), ("after", "G-ResNetSE, GE2E")):
        sv = [r.speaker[when] for r in with_sv]
        st = over_seeds([x.eer for x in sv])
        lo = float(np.mean([x.ci95[0] for x in sv]))
        hi = float(np.mean([x.ci95[1] for x in sv]))
        note = (
            f"every pair of {sv[0].n_utts} utterances of {sv[0].n_speakers} held-out speakers, cosine scoring; "
            f"interval: mean over seeds of each seed's bootstrap over utterances"
        )
        rows.append(
            ResultRow(
                "ge2e",
                system,
                "LA19 dev bona fide",
                "speaker_eer",
                st["value"],
                st["std"],
                st["n_seeds"],
                (lo, hi),
                len(sv[0].target) + len(sv[0].nontarget),
                None,
                note,
            )
        )
    return rows


def complexity_rows(cx: pd.DataFrame) -> list[ResultRow]:
    """Table 3's parameters and MACs of every architecture of :func:`complexity_table`, and student / teacher ratios."""
    names = [
        "G-ResNetSE, layout L",
        "G-ResNetSE, layout V2",
        "L-ResNetSE, layout L",
        "G-ResNetSE, as trained",
        "L-ResNetSE, as trained",
    ]
    rows = []
    for (_, c), name in zip(cx.iterrows(), names):
        arch = name.split(",")[0]
        src = SOURCE_TABLE3[arch] if "as trained" not in name else (None, None)
        where = f"{c['frames']} frames x 40 log-mel"
        for metric, v, text in (("params", c["params"], src[0]), ("macs", c["macs"], src[1])):
            num = (
                None
                if text is None
                else float(text.split()[0]) * (1e6 if text.endswith("M") else 1e9)
            )
            rows.append(
                ResultRow(
                    "3",
                    name,
                    where,
                    metric,
                    float(v),
                    source=num,
                    note="thop, front-end excluded; a count, no interval",
                )
            )
    pairs = [("layout V2 teacher", 1, 2)] + ([("as trained", 3, 4)] if len(cx) > 4 else [])
    for what, t, st in pairs:
        where = f"{cx.iloc[t]['frames']} frames x 40 log-mel"
        for metric, col in (("params_ratio", "params"), ("macs_ratio", "macs")):
            rows.append(
                ResultRow(
                    "3",
                    f"L-ResNetSE / G-ResNetSE, {what}",
                    where,
                    metric,
                    float(cx.iloc[st][col] / cx.iloc[t][col]),
                    source=SOURCE_RATIOS[col],
                    note="source: the abstract's ratio (its Table 3 gives 19.5% for MACs)"
                    if col == "macs"
                    else "source: the abstract's ratio",
                )
            )
    return rows


def result_rows(
    runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig, data: StudyData, cx: pd.DataFrame | None = None
) -> list[ResultRow]:
    """Every key figure of the study as typed rows for ``build/results/03_ge2e_aeg_kd.json``."""
    rows: list[ResultRow] = []
    for label, name in (("NLL", "G NLL"), ("GE2E+NLL", "G GE2E+NLL")):
        src = SOURCE_TABLE1["GE2E + NLL" if label == "GE2E+NLL" else label]
        rows += cm_rows(
            "1",
            f"G-ResNetSE, {label}",
            [r.results[name] for r in runs],
            data,
            cfg,
            src,
            _note(cfg, runs=runs),
            breakdown=True,
        )
    t2 = table2_runs(runs)
    for arch, prefix in (("G-ResNetSE", "G"), ("L-ResNetSE", "L")):
        for mode in AEG_MODES:
            name = "G GE2E+NLL" if (prefix, mode) == ("G", "none") else f"{prefix} {mode}"
            runs_of = runs if name == "G GE2E+NLL" else t2
            if not runs_of:
                continue
            label = "no AEG" if mode == "none" else f"{mode} AEG"
            rows += cm_rows(
                "2",
                f"{arch}, {label}",
                [r.results[name] for r in runs_of],
                data,
                cfg,
                SOURCE_TABLE2[(arch, mode)],
                _note(cfg, runs=runs_of),
                breakdown=prefix == "L",
            )
    rows += speaker_rows(runs, cfg)
    with_dev = [r.dev["G GE2E+NLL"] for r in runs if "G GE2E+NLL" in r.dev]
    if with_dev:
        bona = with_dev[0].keys == "bonafide"
        for system in ["", *sorted(set(with_dev[0].systems[~bona]))]:
            mask = bona | (with_dev[0].systems == system) if system else np.ones(len(bona), bool)
            _, ci, n = seed_mean_ci(with_dev, mask, _eer, cfg.bootstrap)
            st = over_seeds([_eer(r.scores[mask & bona], r.scores[mask & ~bona]) for r in with_dev])
            rows.append(
                ResultRow(
                    "1",
                    "G-ResNetSE, GE2E+NLL",
                    "LA19 dev" + (f", {system}" if system else ""),
                    "eer",
                    st["value"],
                    st["std"],
                    st["n_seeds"],
                    ci,
                    n,
                    None,
                    "the training attacks A01-A06 on held-out speakers",
                )
            )
    if t2:
        sims = [r.aeg["static_similarity"] for r in t2]
        thr = float(np.mean([s["threshold"].mean() for s in sims]))
        note = (
            f"BIM {cfg.aeg_iters} steps of {cfg.aeg_alpha:g} int16 units ({cfg.aeg_alpha / 32768:.2e} of full "
            f"scale); kept at cos <= threshold, rule {cfg.aeg_threshold_rule} (mean threshold {thr:.3f})"
        )
        rows.append(
            kept_row(
                "static",
                np.concatenate([s["kept"].to_numpy() for s in sims]),
                [s["kept"].mean() for s in sims],
                note + "; with the GE2E model",
                cfg.bootstrap,
            )
        )
        act = [[e for e in r.aeg["active"]] for r in t2]
        if all(act):
            kept = np.concatenate(
                [np.asarray(e["after"]) <= e["threshold"] for a in act for e in a]
            )
            per_seed = [sum(e["kept"] for e in a) / sum(e["tried"] for e in a) for a in act]
            rows.append(
                kept_row(
                    "active",
                    kept,
                    per_seed,
                    note + "; before every epoch with the model in training",
                    cfg.bootstrap,
                )
            )
    if cx is not None:
        rows += complexity_rows(cx)
    return rows


# ----------------------------------------------------------------------------- figures


def plot_similarities(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig):
    """Histograms: the GE2E embedding's same- and different-speaker cosines on held-out speakers (before and after
    pre-training), and the AEG pairs' cosines before and after BIM with the keep threshold (static and active)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.6))
    axes = fig.subplots(1, 3)
    r0 = runs[0]
    bins = np.linspace(-1, 1, 41)
    if r0.speaker:
        for when, ls in (("before", ":"), ("after", "-")):
            sv = r0.speaker[when]
            for scores, label, colour in (
                (sv.target, "same speaker", "C0"),
                (sv.nontarget, "different", "C1"),
            ):
                axes[0].hist(
                    scores,
                    bins=bins,
                    density=True,
                    histtype="step",
                    ls=ls,
                    color=colour,
                    label=f"{label}, {when}",
                )
        axes[0].set_title(f"GE2E, held-out speakers (seed {r0.seed})")
        axes[0].legend(fontsize=7)
    t2 = table2_runs(runs)
    if t2:
        sims = t2[0].aeg["static_similarity"]
        axes[1].hist(sims["before"], bins=bins, alpha=0.5, label="before BIM")
        axes[1].hist(sims["after"], bins=bins, alpha=0.5, label="after BIM")
        axes[1].axvline(sims["threshold"].iloc[0], color="k", ls="--", label="keep threshold")
        axes[1].set_title(f"static AEG: kept {int(sims['kept'].sum())} of {len(sims)}")
        axes[1].legend(fontsize=7)
        act = t2[0].aeg["active"]
        for e in act:
            axes[2].hist(
                e["after"],
                bins=bins,
                histtype="step",
                label=f"epoch {e['epoch']}: kept {e['kept']}",
            )
        if act:
            axes[2].axvline(
                np.mean([e["threshold"] for e in act]), color="k", ls="--", label="mean threshold"
            )
        axes[2].set_title("active AEG: cosine after BIM, per epoch")
        axes[2].legend(fontsize=6, ncol=2)
    for ax in axes:
        ax.set_xlabel("cosine similarity")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- claims


def _find(
    rows: Sequence[ResultRow], table: str, system: str, data: str, metric: str
) -> ResultRow | None:
    return next((r for r in rows if r.key() == (table, system, data, metric)), None)


def _pct(r: ResultRow) -> str:
    ci = "" if r.ci95 is None else f" [{100 * r.ci95[0]:.1f}, {100 * r.ci95[1]:.1f}]"
    sd = "" if r.std is None else f" ± {100 * r.std:.1f}"
    return f"{100 * r.value:.1f}%{sd}{ci} ({r.n_seeds} seed{'s' if r.n_seeds > 1 else ''})"


def compare(a: ResultRow, b: ResultRow) -> str:
    """ "lower", "higher" or "not distinguishable": ``a`` against ``b`` by their 95 % intervals (disjoint or not)."""
    if a.ci95 is None or b.ci95 is None:
        return "not distinguishable"
    if a.ci95[1] < b.ci95[0]:
        return "lower"
    if a.ci95[0] > b.ci95[1]:
        return "higher"
    return "not distinguishable"


def claims(
    rows: Sequence[ResultRow],
    cfg: GE2EAEGKDConfig,
    target_eer: float = 0.15,
    student_margin: float = 0.03,
    kept_target: float = 0.20,
) -> str:
    """The chapter's conclusions as markdown bullets, each decided by the rows' values and intervals."""
    out = []
    nll = _find(rows, "1", "G-ResNetSE, NLL", "LA21 eval", "eer")
    ge2e = _find(rows, "1", "G-ResNetSE, GE2E+NLL", "LA21 eval", "eer")
    if ge2e is not None:
        met = "meets" if ge2e.value <= target_eer else "misses"
        sure = (
            "; its whole interval lies below it"
            if ge2e.ci95 and ge2e.ci95[1] <= target_eer
            else "; its interval reaches above it"
            if ge2e.value <= target_eer
            else ""
        )
        out.append(
            f"The teacher G-ResNetSE, GE2E + NLL reaches an EER of {_pct(ge2e)} on the 2021 LA eval trials: "
            f"it {met} the {100 * target_eer:.0f}% target{sure}."
        )
    if nll is not None and ge2e is not None:
        c = compare(ge2e, nll)
        out.append(
            f"Against NLL alone ({_pct(nll)}), GE2E pre-training gives an EER that is {c}"
            + (
                " (the intervals overlap)."
                if c == "not distinguishable"
                else " (disjoint intervals)."
            )
        )
    before = _find(rows, "ge2e", "G-ResNetSE, initial", "LA19 dev bona fide", "speaker_eer")
    after = _find(rows, "ge2e", "G-ResNetSE, GE2E", "LA19 dev bona fide", "speaker_eer")
    if before is not None and after is not None:
        c = compare(after, before)
        verdict = {
            "lower": "learns speakers it never saw",
            "higher": "separates held-out speakers worse",
            "not distinguishable": "does not measurably separate held-out speakers better",
        }[c]
        out.append(
            f"GE2E pre-training {verdict}: speaker-verification EER on LA19 dev bona fide {_pct(before)} "
            f"with the initial weights, {_pct(after)} after."
        )
    for mode in ("static", "active"):
        k = _find(rows, "aeg", mode, "LA19 train", "kept_fraction")
        if k is not None:
            met = "meets" if k.value >= kept_target else "misses"
            out.append(
                f"{mode.capitalize()} AEG keeps {100 * k.value:.0f}% of the {k.n_trials} attacked utterances "
                f"(95% interval {100 * k.ci95[0]:.0f}-{100 * k.ci95[1]:.0f}%): it {met} the "
                f"{100 * kept_target:.0f}% target."
            )
    student = _find(rows, "2", "L-ResNetSE, static AEG", "LA21 eval", "eer")
    if student is not None and ge2e is not None:
        gap = student.value - ge2e.value
        met = "within" if gap <= student_margin else "not within"
        out.append(
            f"The student L-ResNetSE (static AEG) reaches {_pct(student)}, {100 * gap:+.1f} points from "
            f"the teacher: {met} {100 * student_margin:.0f} points."
        )
    if ge2e is not None:
        fam = [
            r
            for r in rows
            if r.table == "1"
            and r.system == ge2e.system
            and r.metric == "eer"
            and r.data.startswith("LA21 eval, ")
        ]
        if fam:
            worst = max(fam, key=lambda r: r.value)
            best = min(fam, key=lambda r: r.value)
            out.append(
                f"Per family and codec the teacher ranges from {_pct(best)} ({best.data[11:]}) to "
                f"{_pct(worst)} ({worst.data[11:]})."
            )
    dev = [r for r in rows if r.table == "1" and r.data.startswith("LA19 dev, ")]
    if dev:
        text = ", ".join(
            f"{r.data[10:]} {100 * r.value:.0f}%" for r in sorted(dev, key=lambda r: r.data)
        )
        worst = max(dev, key=lambda r: r.value)
        out.append(
            f"On LA19 dev, whose attacks A01-A06 are the ones it was trained on, the teacher's EER per attack "
            f"is {text}: the hardest, {worst.data[10:]}, at {_pct(worst)}"
            + (
                ", is not learnt even though it was seen in training, so unseen attacks of its kind on "
                "2021 LA eval are not detected either."
                if worst.ci95 and worst.ci95[0] > 0.3
                else "."
            )
        )
    t2 = [r for r in rows if r.table == "2" and r.metric == "eer" and r.data == "LA21 eval"]
    if len(t2) >= 2:
        pairs = [
            (a, b)
            for i, a in enumerate(t2)
            for b in t2[i + 1 :]
            if compare(a, b) != "not distinguishable"
        ]
        out.append(
            "In Table 2, "
            + (
                f"{len(pairs)} of {len(t2) * (len(t2) - 1) // 2} pairs of rows have disjoint "
                "intervals: "
                + "; ".join(f"{a.system} {compare(a, b)} than {b.system}" for a, b in pairs)
                if pairs
                else "no two rows have disjoint intervals: on this corpus and budget "
                "the AEG modes and distillation cannot be told apart"
            )
            + "."
        )
    return "\n".join(f"- {s}" for s in out)
