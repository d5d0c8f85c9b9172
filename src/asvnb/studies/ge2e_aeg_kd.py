"""Study 03 (source 002): a lightweight countermeasure by GE2E pre-training, adversarial examples and distillation.

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
from asvnb.data.asvspoof import ASVScores, CMDataset, CMTrial, LA2019, LA2021Eval
from asvnb.data.augment import Augmenter
from asvnb.features import preset
from asvnb.models.complexity import count_macs, count_params
from asvnb.models.resnetse import ADVERSARIAL_CLASS, CLASSES, ResNetSE
from asvnb.train import TrainConfig, Trainer
from asvnb.train.adversarial import AdversarialSet, generate_adversarial, perturbation_snr_db
from asvnb.train.classify import predict
from asvnb.train.losses import GE2ELoss, distillation_loss

STUDY = "03_ge2e_aeg_kd"
CLASS_OF = {name: i for i, name in enumerate(CLASSES[:ADVERSARIAL_CLASS])}  # bonafide 0, A01..A06 1..6
BONAFIDE = CLASSES.index("bonafide")
TEACHER_CHANNELS = (32, 64, 128, 256)
STUDENT_CHANNELS = (16, 32, 64, 128)
AEG_MODES = ("none", "static", "active")

# The source's figures (min t-DCF, EER in %), ASVspoof 2021 LA eval.
SOURCE_TABLE1 = {"NLL": (0.3143, 5.78), "GE2E + NLL": (0.3003, 5.10)}
SOURCE_TABLE2 = {("G-ResNetSE", "none"): (0.3003, 5.10), ("G-ResNetSE", "static"): (0.2931, 5.05),
                 ("G-ResNetSE", "active"): (0.2869, 4.59), ("L-ResNetSE", "none"): (0.2826, 4.44),
                 ("L-ResNetSE", "static"): (0.2695, 3.54), ("L-ResNetSE", "active"): (0.2903, 4.76)}
# model: (params, MACs, min t-DCF, EER %); the first three are other papers' systems the source quotes
SOURCE_TABLE3 = {"RawNet2": ("0.89 M", "1.47 G", 0.3445, 9.26), "SE-ResNet18": ("11.2 M", "1.82 G", 0.3129, None),
                 "LFCC-LCNN": ("0.37 M", "0.26 G", 0.4257, 9.50), "G-ResNetSE": ("6.39 M", "4.62 G", 0.2869, 4.59),
                 "L-ResNetSE": ("1.44 M", "0.90 G", 0.2695, 3.54)}
SOURCE_RATIOS = {"params": 0.225, "macs": 0.211}  # student / teacher, as the abstract states them

# The seven models of one seed: name -> (architecture, GE2E pre-training, AEG mode)
MODELS = {"G NLL": ("teacher", False, "none"), "G GE2E+NLL": ("teacher", True, "none"),
          "G static": ("teacher", True, "static"), "G active": ("teacher", True, "active"),
          "L none": ("student", True, "none"), "L static": ("student", True, "static"),
          "L active": ("student", True, "active")}


@dataclass
class GE2EAEGKDConfig:
    """Everything study 03 needs, per profile; source values as defaults, offline reductions in ``reductions``."""

    profile: str
    paths: config.Paths
    sample_rate: int = 22050           # the source's rate
    crop_s: float = 4.0                # not stated; 4 s, the input length Table 3's MACs match
    eval_crop_s: float | None = 4.0    # fixed-length eval crops (repeat-padded), so batches stack
    layers: tuple[int, int, int, int] = (3, 4, 6, 3)
    teacher_channels: tuple[int, int, int, int] = TEACHER_CHANNELS
    student_channels: tuple[int, int, int, int] = STUDENT_CHANNELS
    teacher_layout: str = "L"          # "V2" reproduces Table 3's 6.39 M (see asvnb.models.resnetse)
    emb_dim: int = 512
    ge2e_speakers: int = 7             # N
    ge2e_utts: int = 10                # M
    ge2e_epochs: int = 300             # not stated; one N x M batch per epoch ("70 utterances every epoch")
    ge2e_lr: float = 3e-4
    epochs: int = 20                   # fine-tuning and distillation epochs (not stated)
    batch_size: int = 32               # not stated
    lr: float = 3e-4
    lr_decay: float = 0.95
    decay_every: int = 2
    train_per_epoch: int | None = None  # utterances drawn per fine-tuning epoch (None: the whole set)
    augment: bool = True
    aeg_alpha: float = 3.0
    aeg_iters: int = 5
    aeg_threshold: float = 0.4
    aeg_pool: int | None = None        # bona fide train utterances attacked per AEG round (None: all)
    kd_gamma: float = 0.5
    kd_T: float = 5.0
    eval_phase: str | None = "eval"    # the 2021 keys' phase reported (None: all trials)
    n_eval: int | None = None          # eval trials (None: all of the phase)
    seeds: tuple[int, ...] = (0, 1, 2)  # one set of seven models each; mean +- std over them
    device: str = "auto"
    reductions: tuple[str, ...] = ()   # offline departures from the source, for the tables' notes

    @classmethod
    def for_profile(cls, profile: str, data_root: str | Path | None = None, **overrides: Any) -> "GE2EAEGKDConfig":
        """The study's settings for ``embedded`` (2 CPU cores, a few minutes) or ``full`` (real data, GPU)."""
        paths = config.Paths.for_profile(profile, STUDY, data_root)
        overrides = {k: v for k, v in overrides.items() if v is not None}
        cfg = cls(profile=profile, paths=paths)
        if profile == "embedded":
            # sized for the 8-minute budget on 2 CPU cores, one seed (see the notebook): 2 s crops of the 1-3 s
            # utterances, every training utterance in every epoch, 3 s eval crops (the longest eval utterance
            # is 3.4 s); GE2E needs tens of batches to leave chance level, fine-tuning a few passes
            cfg = replace(cfg, sample_rate=16000, crop_s=2.0, eval_crop_s=3.0, layers=(1, 1, 1, 1), ge2e_epochs=40,
                          epochs=6, batch_size=16, train_per_epoch=None, aeg_pool=16, seeds=(0,))
        cfg = replace(cfg, **overrides)
        return replace(cfg, seeds=tuple(int(k) for k in cfg.seeds), reductions=cfg.describe_reductions())

    def describe_reductions(self) -> tuple[str, ...]:
        """Short phrases for every departure from the source's (or the full profile's) settings."""
        full = GE2EAEGKDConfig(profile="full", paths=self.paths)
        out = []
        if self.sample_rate != full.sample_rate:
            out.append(f"{self.sample_rate} Hz (corpus rate; source 22,050 Hz)")
        if self.layers != full.layers:
            out.append(f"blocks {'-'.join(map(str, self.layers))} (source 3-4-6-3)")
        if (self.teacher_channels, self.student_channels) != (full.teacher_channels, full.student_channels):
            out.append(f"channels {self.teacher_channels} / {self.student_channels}")
        if self.crop_s != full.crop_s or self.eval_crop_s != full.eval_crop_s:
            out.append(f"{self.crop_s:g} s train / {self.eval_crop_s or 0:g} s eval crops")
        if self.ge2e_epochs != full.ge2e_epochs:
            out.append(f"GE2E {self.ge2e_epochs} batches of {self.ge2e_speakers}x{self.ge2e_utts}")
        if self.epochs != full.epochs or self.train_per_epoch:
            per = f" x {self.train_per_epoch} utts" if self.train_per_epoch else ""
            out.append(f"{self.epochs} epochs{per}")
        if self.batch_size != full.batch_size:
            out.append(f"batch {self.batch_size}")
        if self.aeg_pool:
            out.append(f"AEG on {self.aeg_pool} bona fide utts")
        if self.n_eval:
            out.append(f"{self.n_eval} eval trials")
        return tuple(out)

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
        return ResNetSE(self.teacher_channels, layers=self.layers, emb_dim=self.emb_dim, layout=self.teacher_layout,
                        frontend=preset("source002", sr=self.sample_rate))

    def student(self) -> ResNetSE:
        """A fresh L-ResNetSE of this configuration (layout L, as the text describes it)."""
        return ResNetSE(self.student_channels, layers=self.layers, emb_dim=self.emb_dim, layout="L",
                        frontend=preset("source002", sr=self.sample_rate))

    # fields that do not change what is trained (evaluation, device, notes)
    _NOT_TRAINING = ("profile", "paths", "eval_crop_s", "eval_phase", "n_eval", "seeds", "device", "reductions")

    def run_key(self) -> str:
        """A short hash of every setting that changes a trained model: runs of other settings live elsewhere.

        Checkpoints resume whatever settings made them, so a run folder shared by
        two configurations would hand one's models to the other.
        """
        return config.stable_hash({k: v for k, v in asdict(self).items() if k not in self._NOT_TRAINING})[:10]

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


@dataclass
class StudyData:
    """The three sets of the study: LA 2019 train (fine-tuning and GE2E), LA 2021 eval with its ASV scores."""

    train: LA2019
    eval: LA2021Eval
    eval_trials: list[CMTrial]
    asv: ASVScores
    augmenter: Augmenter | None


def load_data(cfg: GE2EAEGKDConfig, seed: int = 0) -> StudyData:
    """Read the protocols and keys of the profile's data root; check that train has only A01-A06."""
    train = LA2019(cfg.paths.data, "train")
    unknown = sorted({t.system for t in train.trials} - set(CLASS_OF))
    if unknown:
        raise ValueError(f"{train.protocol_path}: systems {unknown} are not among the 8 classes {CLASSES}")
    ev = LA2021Eval(cfg.paths.data, phase=cfg.eval_phase)
    trials = ev.trials
    if cfg.n_eval and cfg.n_eval < len(trials):
        pick = np.random.default_rng(seed).choice(len(trials), cfg.n_eval, replace=False)
        trials = [trials[i] for i in sorted(pick)]
    aug = Augmenter(cfg.paths.data, cfg.paths.data, sr=cfg.sample_rate, seed=seed) if cfg.augment else None
    return StudyData(train, ev, trials, ev.asv_scores(phase=cfg.eval_phase), aug)


class GE2EBatchSampler(Sampler[list[int]]):
    """Batches of N distinct speakers x M distinct utterances each, speaker-major (rows of the GE2E matrix).

    Draws depend on (seed, epoch) only (:meth:`set_epoch`), so a resumed run
    sees the batches an uninterrupted one would.
    """

    def __init__(self, speakers: Sequence[str], n_speakers: int = 7, n_utts: int = 10, n_batches: int = 1,
                 seed: int = 0):
        self.by_speaker: dict[str, list[int]] = {}
        for i, s in enumerate(speakers):
            self.by_speaker.setdefault(s, []).append(i)
        self.eligible = sorted(s for s, idx in self.by_speaker.items() if len(idx) >= n_utts)
        if len(self.eligible) < n_speakers:
            raise ValueError(f"GE2E batches of {n_speakers} speakers x {n_utts} utterances: only "
                             f"{len(self.eligible)} speakers have {n_utts} or more utterances "
                             f"({len(self.by_speaker)} speakers in all)")
        self.n_speakers, self.n_utts, self.n_batches, self.seed, self.epoch = n_speakers, n_utts, n_batches, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the batches of another epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self):
        rng = np.random.default_rng((self.seed, self.epoch))
        for _ in range(self.n_batches):
            spk = rng.choice(len(self.eligible), self.n_speakers, replace=False)
            yield [int(i) for k in spk
                   for i in rng.choice(self.by_speaker[self.eligible[k]], self.n_utts, replace=False)]


class FineTuneSet(Dataset):
    """CM training utterances with 8-class labels plus the current adversarial examples (class 7), augmented.

    The adversarial part can be replaced between epochs (active AEG); items are
    ``(waveform, label, id)`` as :class:`asvnb.data.asvspoof.CMDataset` gives them.
    """

    def __init__(self, base: CMDataset, adversarial: AdversarialSet | None = None, augment=None, seed: int = 0):
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
            wav = self.augment(wav.numpy(), rng=np.random.default_rng((self.seed, self.epoch, index)))
            wav = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
        return wav, ADVERSARIAL_CLASS, f"adv{k}"


def train_dataset(cfg: GE2EAEGKDConfig, data: StudyData, seed: int) -> CMDataset:
    """LA 2019 train as 8-class, randomly cropped, augmented waveforms."""
    return data.train.dataset(sr=cfg.sample_rate, n_samples=cfg.crop_samples, class_of=CLASS_OF, random_crop=True,
                              seed=seed, augment=data.augmenter)


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
            for (spk, trials), q in zip(by_spk.items(), queues):
                for _ in range(2 if len(picked) < 2 * len(by_spk) else 1):
                    if q and len(picked) < cfg.aeg_pool:
                        picked.append(trials[q.pop()])
        bona = picked
    ds = CMDataset(bona, data.train.audio_dir, sr=cfg.sample_rate, n_samples=cfg.crop_samples, random_crop=True,
                   seed=seed)
    return torch.stack([ds[i][0] for i in range(len(ds))]), [t.speaker for t in bona]


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


def kd_step(teacher: nn.Module, gamma: float, T: float) -> Callable[[nn.Module, Any], tuple[torch.Tensor, dict]]:
    """A distillation step against a frozen teacher (source 002 eq. 4)."""

    def step(student: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch[0], batch[1]
        with torch.no_grad():
            t = teacher(x)
        s = student(x)
        return distillation_loss(s, t, y, gamma=gamma, T=T), {"acc": float((s.argmax(1) == y).float().mean())}

    return step


def _epoch_hook(*items: Any, then: Callable[[Trainer, int], None] | None = None) -> Callable[[Trainer, int], None]:
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


def _train_config(cfg: GE2EAEGKDConfig, out: Path, epochs: int, seed: int, progress: bool | None) -> TrainConfig:
    # no validation set (the source validates on 2019 dev but reports no selection rule): the last epoch is kept
    return TrainConfig(out_dir=out, epochs=epochs, seed=seed, monitor="train_loss", mode="min", progress=progress,
                       cpu=config.resolve_device(cfg.device) == "cpu")


def _unwrap(trainer: Trainer) -> nn.Module:
    return trainer.accelerator.unwrap_model(trainer.model)


def pretrain_ge2e(cfg: GE2EAEGKDConfig, data: StudyData, seed: int, out: Path,
                  progress: bool | None = None) -> tuple[ResNetSE, pd.DataFrame]:
    """GE2E pre-training of a fresh teacher on speaker labels; returns the model and its history."""
    torch.manual_seed(seed)
    pre = GE2EPretrainer(cfg.teacher(), cfg.ge2e_speakers, cfg.ge2e_utts)
    ds = train_dataset(cfg, data, seed)
    sampler = GE2EBatchSampler([t.speaker for t in data.train.trials], cfg.ge2e_speakers, cfg.ge2e_utts, seed=seed)
    loader = DataLoader(ds, batch_sampler=sampler)
    # constant rate: the source's x0.95 every two epochs is for the end-to-end (NLL/KD) training, and a GE2E
    # "epoch" is a single batch
    opt = torch.optim.Adam(pre.parameters(), lr=cfg.ge2e_lr)
    trainer = Trainer(pre, opt, loader, ge2e_step, _train_config(cfg, out, cfg.ge2e_epochs, seed, progress),
                      on_epoch_start=_epoch_hook(sampler, ds))
    result = trainer.fit()
    return _unwrap(trainer).model, result.history


def _attack(cfg: GE2EAEGKDConfig, model: nn.Module, pool: tuple[torch.Tensor, list[str]],
            seed: int) -> tuple[AdversarialSet, AdversarialSet]:
    """BIM on the whole pool: (every attacked example with its similarity, those kept by the threshold)."""
    # an infinite threshold keeps every example, so the similarities of the rejected ones can be shown too
    every = generate_adversarial(model, pool[0], pool[1], alpha=cfg.aeg_alpha, iters=cfg.aeg_iters,
                                 threshold=float("inf"),
                                 seed=seed, batch_size=cfg.batch_size)
    keep = torch.nonzero(every.cos_sim <= cfg.aeg_threshold).flatten()
    kept = AdversarialSet(every.waveforms[keep], every.labels[keep], every.cos_sim[keep], every.source_index[keep],
                          every.reference_index[keep], every.n_tried)
    return every, kept


def _save(adv: AdversarialSet, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(asdict(adv), path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)


def load_adversarial(path: Path) -> AdversarialSet:
    """An adversarial set saved by :func:`static_aeg` or :class:`ActiveAEG`."""
    return AdversarialSet(**torch.load(path))


@torch.no_grad()
def clean_similarity(model: nn.Module, pool: tuple[torch.Tensor, list[str]], every: AdversarialSet,
                     batch_size: int = 32) -> torch.Tensor:
    """cos(embed(W1), embed(W2)) of the attacked pairs before any perturbation."""
    was = model.training
    model.eval()
    emb = torch.cat([model.embed(pool[0][i:i + batch_size]) for i in range(0, len(pool[0]), batch_size)])
    model.train(was)
    return F.cosine_similarity(emb[every.reference_index], emb[every.source_index], dim=-1)


def static_aeg(cfg: GE2EAEGKDConfig, model: nn.Module, pool: tuple[torch.Tensor, list[str]], seed: int,
               path: Path) -> tuple[AdversarialSet, pd.DataFrame]:
    """Static AEG: BIM once with the GE2E model, before fine-tuning (cached at ``path``).

    Returns the kept examples and, for every attacked pair, its similarity
    before and after the attack and the perturbation's SNR (dB).
    """
    sims_path = path.with_name(path.stem + "_similarity.csv")
    if path.is_file() and sims_path.is_file():
        return load_adversarial(path), pd.read_csv(sims_path)
    every, kept = _attack(cfg, model, pool, seed)
    sims = pd.DataFrame({"before": clean_similarity(model, pool, every).numpy(), "after": every.cos_sim.numpy(),
                         "snr_db": perturbation_snr_db(pool[0][every.source_index], every.waveforms).numpy()})
    sims["kept"] = sims["after"] <= cfg.aeg_threshold
    _save(kept, path)
    sims.to_csv(sims_path, index=False)
    return kept, sims


def aeg_scale_table(cfg: GE2EAEGKDConfig, pool: tuple[torch.Tensor, list[str]],
                    sims: pd.DataFrame | None = None) -> pd.DataFrame:
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
    int16_snr = (sims["snr_db"].to_numpy() if sims is not None and "snr_db" in sims
                 else (10 * torch.log10(power / bound ** 2)).numpy())
    float_snr = (10 * torch.log10(power / (1 + power))).numpy()
    rms_dbfs = (10 * torch.log10(power)).numpy()
    return pd.DataFrame([
        {"reading of alpha": "int16 units (this book)", "step (full scale)": cfg.aeg_alpha / 32768.0,
         "largest |D| (full scale)": bound, "median SNR (dB)": float(np.median(int16_snr)),
         "median signal level (dBFS)": float(np.median(rms_dbfs))},
        {"reading of alpha": "float units, [-1, 1]", "step (full scale)": cfg.aeg_alpha,
         "largest |D| (full scale)": 2.0, "median SNR (dB)": float(np.median(float_snr)),
         "median signal level (dBFS)": float(np.median(rms_dbfs))}])


class ActiveAEG:
    """Active AEG: before every epoch, BIM with the model being trained replaces the adversarial examples.

    Passed as (part of) the trainer's ``on_epoch_start``; ``log`` records
    (epoch, tried, kept, mean similarity after the attack); the last kept set is
    saved at ``last_path`` for the student that distils this teacher.
    """

    def __init__(self, cfg: GE2EAEGKDConfig, dataset: FineTuneSet, pool: tuple[torch.Tensor, list[str]],
                 seed: int, last_path: Path | None = None):
        self.cfg, self.dataset, self.pool, self.seed, self.last_path = cfg, dataset, pool, seed, last_path
        self.log: list[tuple[int, int, int, float]] = []

    def __call__(self, trainer: Trainer, epoch: int) -> None:
        """Regenerate the adversarial set with the current model."""
        every, kept = _attack(self.cfg, _unwrap(trainer), self.pool, self.seed * 1000 + epoch)
        self.dataset.set_adversarial(kept)
        self.log.append((epoch, every.n_tried, len(kept), float(every.cos_sim.mean())))
        if self.last_path is not None:
            _save(kept, self.last_path)


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
        order = np.concatenate([rng.permutation(n) for _ in range(-(-len(self) // n))])[:len(self)]
        return iter(order.tolist())


def fine_tune(cfg: GE2EAEGKDConfig, model: ResNetSE, ds: FineTuneSet, seed: int, out: Path,
              active: ActiveAEG | None = None, teacher: nn.Module | None = None, progress: bool | None = None,
              stop_after: int | None = None) -> tuple[ResNetSE, pd.DataFrame]:
    """Fine-tune with NLL (or distil from ``teacher``) through the shared trainer; active AEG as the epoch hook."""
    opt, sched = _optimiser(cfg, model.parameters(), cfg.lr)
    if teacher is not None:
        teacher.eval()
        step = kd_step(teacher, cfg.kd_gamma, cfg.kd_T)
    else:
        step = nll_step
    sampler = EpochSampler(ds, cfg.train_per_epoch, seed)
    trainer = Trainer(model, opt, DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler), step,
                      _train_config(cfg, out, cfg.epochs, seed, progress), scheduler=sched,
                      on_epoch_start=_epoch_hook(ds, sampler, then=active))
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

    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """(bona fide, spoof) scores."""
        return self.scores[self.keys == "bonafide"], self.scores[self.keys == "spoof"]

    def per_attack(self) -> pd.DataFrame:
        """EER of every attack against all bona fide trials."""
        return metrics.per_attack_eer(self.scores, self.keys, self.systems)


def evaluate(cfg: GE2EAEGKDConfig, model: nn.Module, data: StudyData) -> CMResult:
    """CM scores (log-odds of bona fide against the 7 other classes) on the eval trials, min t-DCF and EER."""
    ds = CMDataset(data.eval_trials, data.eval.audio_dir, sr=cfg.sample_rate, n_samples=cfg.eval_samples)
    loader = DataLoader(ds, batch_size=cfg.batch_size if cfg.eval_samples else 1)
    device = torch.device(config.resolve_device(cfg.device))
    pred = predict(model.to(device), loader, device)
    scores = pred.scores(BONAFIDE)
    keys = np.array([t.key for t in data.eval_trials], dtype=object)
    systems = np.array([t.system for t in data.eval_trials], dtype=object)
    bona, spoof = scores[keys == "bonafide"], scores[keys == "spoof"]
    tdcf = metrics.min_tdcf(bona, spoof, data.asv.target, data.asv.nontarget, data.asv.spoof)
    return CMResult(scores, keys, systems, tdcf, metrics.eer(bona, spoof)[0])


# ----------------------------------------------------------------------------- one seed


@dataclass
class SeedRun:
    """The seven models of one seed: eval results, training histories and AEG counts."""

    seed: int
    results: dict[str, CMResult] = field(default_factory=dict)
    histories: dict[str, pd.DataFrame] = field(default_factory=dict)
    aeg: dict[str, Any] = field(default_factory=dict)


def run_seed(cfg: GE2EAEGKDConfig, data: StudyData, seed: int, progress: bool | None = None,
             log: Callable[[str], None] = print) -> SeedRun:
    """Train and evaluate the seven models of Tables 1 and 2 for one seed."""
    root = cfg.run_root(seed)
    run = SeedRun(seed)
    pool = aeg_pool(cfg, data, seed)

    def finish(name: str, model: nn.Module, hist: pd.DataFrame) -> nn.Module:
        run.histories[name] = hist
        t0 = time.perf_counter()
        run.results[name] = r = evaluate(cfg, model, data)
        log(f"seed {seed} {name}: min t-DCF {r.min_tdcf:.4f}, EER {100 * r.eer:.2f}% "
            f"(training {hist['seconds'].sum():.0f} s, evaluation {time.perf_counter() - t0:.0f} s)")
        return model

    def ft_set(adv: AdversarialSet | None) -> FineTuneSet:
        return FineTuneSet(train_dataset(cfg, data, seed), adv, data.augmenter, seed)

    config.seed_everything(seed)
    ge2e, run.histories["GE2E"] = pretrain_ge2e(cfg, data, seed, root / "GE2E", progress)
    ge2e_state = {k: v.detach().clone() for k, v in ge2e.state_dict().items()}

    def from_ge2e() -> ResNetSE:
        m = cfg.teacher()
        m.load_state_dict(ge2e_state)
        return m

    teachers: dict[str, nn.Module] = {}
    config.seed_everything(seed)
    finish("G NLL", *fine_tune(cfg, cfg.teacher(), ft_set(None), seed, root / "G NLL", progress=progress))
    teachers["none"] = finish("G GE2E+NLL", *fine_tune(cfg, from_ge2e(), ft_set(None), seed, root / "G GE2E+NLL",
                                                        progress=progress))
    static, run.aeg["static_similarity"] = static_aeg(cfg, ge2e, pool, seed, root / "static_aeg.pt")
    run.aeg["static"] = (static.n_tried, len(static))
    if len(static):
        teachers["static"] = finish("G static", *fine_tune(cfg, from_ge2e(), ft_set(static), seed,
                                                          root / "G static", progress=progress))
    else:
        # no example kept: the static run would see exactly the data, seed and initial model of the run
        # without AEG, so it would repeat it bit for bit; its result is reused instead of recomputed
        log(f"seed {seed}: static AEG kept no example; G static = G GE2E+NLL and L static = L none")
        teachers["static"] = teachers["none"]
        run.results["G static"], run.histories["G static"] = run.results["G GE2E+NLL"], run.histories["G GE2E+NLL"]
    ds = ft_set(None)
    active = ActiveAEG(cfg, ds, pool, seed, root / "active_aeg_last.pt")
    teachers["active"] = finish("G active", *fine_tune(cfg, from_ge2e(), ds, seed, root / "G active", active=active,
                                                      progress=progress))
    run.aeg["active"] = active.log
    last_active = load_adversarial(root / "active_aeg_last.pt") if (root / "active_aeg_last.pt").is_file() else None
    # the student learns from the data its teacher was fine-tuned on (the source does not say)
    student_adv = {"none": None, "static": static, "active": last_active}
    for mode in AEG_MODES:
        if mode == "static" and not len(static):
            run.results["L static"], run.histories["L static"] = run.results["L none"], run.histories["L none"]
            continue
        torch.manual_seed(seed)
        finish(f"L {mode}", *fine_tune(cfg, cfg.student(), ft_set(student_adv[mode]), seed, root / f"L {mode}",
                                       teacher=teachers[mode], progress=progress))
    return run


# ----------------------------------------------------------------------------- tables


def seeds_note(runs: Sequence[SeedRun]) -> str:
    """The number of seeds behind a row when it is fewer than the three a mean +- std asks for ("" otherwise)."""
    n = len(runs)
    return "" if n >= 3 else f"{n} seed{'s' if n > 1 else ''} (fewer than 3: {'no std' if n == 1 else 'std of 2'})"


def _note(cfg: GE2EAEGKDConfig, extra: str = "", runs: Sequence[SeedRun] = ()) -> str:
    parts = [p for p in (extra, seeds_note(runs) if runs else "") if p] + list(cfg.reductions)
    return "; ".join(parts)


def table1_rows(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig) -> list[dict]:
    """Table 1 rows (NLL vs GE2E + NLL) for report.comparison_table."""
    rows = []
    for label, name in (("NLL", "G NLL"), ("GE2E + NLL", "G GE2E+NLL")):
        src = SOURCE_TABLE1[label]
        rows.append({"model": f"G-ResNetSE, {label}", "metric": "min t-DCF", "source": src[0],
                     "ours": [r.results[name].min_tdcf for r in runs], "digits": 4, "note": _note(cfg, runs=runs)})
        rows.append({"model": f"G-ResNetSE, {label}", "metric": "EER", "source": src[1] / 100, "percent": True,
                     "ours": [r.results[name].eer for r in runs], "note": _note(cfg, runs=runs)})
    return rows


def aeg_summary(runs: Sequence[SeedRun]) -> dict[str, str]:
    """How many adversarial examples static and active AEG kept, over all seeds (for the tables' notes)."""
    tried = sum(r.aeg["static"][0] for r in runs)
    kept = sum(r.aeg["static"][1] for r in runs)
    empty = sum(r.aeg["static"][1] == 0 for r in runs)
    static = f"static AEG kept {kept} of {tried} attacked utts"
    if empty:
        static += f"; none in {empty} of {len(runs)} seeds, where the run equals AEG none"
    a_tried = sum(t for r in runs for _, t, _, _ in r.aeg["active"])
    a_kept = sum(k for r in runs for _, _, k, _ in r.aeg["active"])
    return {"none": "", "static": static, "active": f"active AEG kept {a_kept} of {a_tried} over all epochs"}


def table2_rows(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig) -> list[dict]:
    """Table 2 rows (none / static / active AEG, teacher and distilled student)."""
    rows = []
    kept = aeg_summary(runs)
    for arch, prefix in (("G-ResNetSE", "G"), ("L-ResNetSE", "L")):
        for mode in AEG_MODES:
            name = f"{prefix} {mode}" if not (prefix == "G" and mode == "none") else "G GE2E+NLL"
            src = SOURCE_TABLE2[(arch, mode)]
            extra = "same run as Table 1, GE2E + NLL" if name == "G GE2E+NLL" else kept[mode]
            rows.append({"model": f"{arch}, AEG {mode}", "metric": "min t-DCF", "source": src[0], "digits": 4,
                         "ours": [r.results[name].min_tdcf for r in runs], "note": _note(cfg, extra, runs)})
            rows.append({"model": f"{arch}, AEG {mode}", "metric": "EER", "source": src[1] / 100, "percent": True,
                         "ours": [r.results[name].eer for r in runs], "note": _note(cfg, extra, runs)})
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
        return Complexity(name, count_params(model), count_macs(model, (1, model.n_mels, frames)), frames)
    finally:
        model.frontend = frontend


def complexity_table(cfg: GE2EAEGKDConfig, seconds: float = 4.0) -> pd.DataFrame:
    """Params/MACs of the source's architectures at ``seconds`` of input, and of the models trained here."""
    frames = int(round(seconds * 100)) + 1  # 10 ms hop, centred frames
    src = GE2EAEGKDConfig(profile="full", paths=cfg.paths, emb_dim=cfg.emb_dim)  # the source's architectures
    rows = [complexity(src.teacher(), "G-ResNetSE, layout L (the text's description)", frames),
            complexity(replace(src, teacher_layout="V2").teacher(), "G-ResNetSE, layout V2", frames),
            complexity(src.student(), "L-ResNetSE, layout L", frames)]
    if (cfg.layers, cfg.teacher_channels, cfg.student_channels) != (src.layers, src.teacher_channels,
                                                                     src.student_channels):
        rows += [complexity(cfg.teacher(), f"G-ResNetSE as trained here (blocks {'-'.join(map(str, cfg.layers))})",
                            frames),
                 complexity(cfg.student(), f"L-ResNetSE as trained here (blocks {'-'.join(map(str, cfg.layers))})",
                            frames)]
    df = pd.DataFrame([asdict(r) for r in rows])
    df["params (M)"] = (df["params"] / 1e6).round(3)
    df["MACs (G)"] = (df["macs"] / 1e9).round(3)
    df["input"] = f"{seconds:g} s = {frames} frames x 40 log-mel"
    return df


def table3_rows(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig, cx: pd.DataFrame) -> list[dict]:
    """Table 3 rows: the source's comparison systems (source only) and our teacher (active) and student (static)."""
    rows = []
    for name in ("RawNet2", "SE-ResNet18", "LFCC-LCNN"):
        p, m, t, e = SOURCE_TABLE3[name]
        for metric, src in (("params", p), ("MACs", m), ("min t-DCF", t), ("EER", None if e is None else e / 100)):
            rows.append({"model": name, "metric": metric, "source": src, "ours": "-",
                         "digits": 2 if metric == "EER" else 4, "percent": metric == "EER",
                         "note": "quoted by the source, not rebuilt"})
    layout_v2 = cx.iloc[1]
    lt = cx.iloc[0]
    st = cx.iloc[2]
    for arch, name, c, extra in (
            ("G-ResNetSE", "G active", layout_v2,
             f"params/MACs of layout V2; the text's layout L gives {lt['params (M)']:.2f} M / {lt['MACs (G)']:.2f} G"),
            ("L-ResNetSE", "L static", st, "")):
        p, m, t, e = SOURCE_TABLE3[arch]
        rows += [{"model": arch, "metric": "params", "source": p, "ours": f"{c['params (M)']:.2f} M",
                  "note": f"{c['input']}; {extra}".rstrip("; ")},
                 {"model": arch, "metric": "MACs", "source": m, "ours": f"{c['MACs (G)']:.2f} G",
                  "note": f"thop, {c['input']}, front-end excluded"},
                 {"model": arch, "metric": "min t-DCF", "source": t, "digits": 4,
                  "ours": [r.results[name].min_tdcf for r in runs], "note": _note(cfg, f"our {name}", runs)},
                 {"model": arch, "metric": "EER", "source": e / 100, "percent": True,
                  "ours": [r.results[name].eer for r in runs], "note": _note(cfg, f"our {name}", runs)}]
    return rows


def summary(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig) -> str:
    """A few lines on what the runs learnt: EER and min t-DCF against chance, the GE2E loss, AEG's similarities."""
    n_eval = len(next(iter(runs[0].results.values())).scores)
    lines = [f"{len(runs)} seed(s), {n_eval} eval trials; chance: EER 50%, min t-DCF 1"]
    for name in MODELS:
        eer = np.array([r.results[name].eer for r in runs])
        tdcf = np.array([r.results[name].min_tdcf for r in runs])
        lines.append(f"  {name:11s} EER {100 * eer.mean():5.1f}%  min t-DCF {tdcf.mean():.3f}")
    first = np.mean([r.histories["GE2E"]["train_loss"].iloc[:5].mean() for r in runs])
    last = np.mean([r.histories["GE2E"]["train_loss"].iloc[-5:].mean() for r in runs])
    lines.append(f"GE2E loss (mean of 5 batches) {first:.3f} at the start, {last:.3f} at the end of "
                 f"{cfg.ge2e_epochs} batches; log N = {np.log(cfg.ge2e_speakers):.3f} is chance")
    sims = pd.concat([r.aeg["static_similarity"] for r in runs])
    lines.append(f"static AEG: cosine {sims['before'].mean():.3f} before the attack, {sims['after'].mean():.3f} "
                 f"after (lowest {sims['after'].min():.3f}); kept {int(sims['kept'].sum())} of {len(sims)} at "
                 f"<= {cfg.aeg_threshold}")
    act = [x for r in runs for x in r.aeg["active"]]
    if act:
        lines.append(f"active AEG: kept {sum(k for _, _, k, _ in act)} of {sum(t for _, t, _, _ in act)} over "
                     f"{len(act)} epoch(s); mean cosine after the attack {np.mean([m for *_, m in act]):.3f}")
    return "\n".join(lines)
