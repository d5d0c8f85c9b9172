"""Study 03's settings: :class:`GE2EAEGKDConfig`, read from ``asvnb/configs/03_ge2e_aeg_kd/<profile>.yaml``.

``source.yaml`` holds the source's settings (where it states none, our choice
without a budget); ``embedded.yaml`` and ``full.yaml`` the two profiles. Every
departure of a run's settings from the source's is computed
(:func:`asvnb.config.departures`) and put in words by :data:`DEPARTURES`, one
phrase per group of settings, for the tables' notes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from asvnb import config, files
from asvnb.audio import INT16_FULL_SCALE
from asvnb.features import preset
from asvnb.models.resnetse import ResNetSE

STUDY = "03_ge2e_aeg_kd"
# the modules a seed's runs execute (GE2E, AEG, fine-tuning, distillation, evaluation): their code keys the runs
TRAINING_CODE = ("asvnb.studies.ge2e_aeg_kd.runs",)
RUN_NAME = "ResNetSE"  # run folders: ResNetSE-<run_key>/seed<k> (asvnb.files.run_dir)
# fields that do not change what is trained (evaluation, device, notes): left out of the run key
NOT_TRAINING = (
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


@dataclass
class GE2EAEGKDConfig(config.StudySettings):
    """Everything study 03 needs; the YAML files give every value and say why (:meth:`for_profile`)."""

    profile: str
    paths: config.Paths
    sample_rate: int  # Hz of every waveform the models see
    crop_s: float  # training crop, s
    eval_crop_s: float | None  # eval crop, s, repeat-padded (None: whole utterances, batch size 1)
    sv_crop_s: float  # crop of the speaker-verification utterances, s
    layers: tuple[int, int, int, int]  # ResNetSE blocks per stage
    teacher_channels: tuple[int, int, int, int]
    student_channels: tuple[int, int, int, int]
    teacher_layout: str  # "L" or "V2" (asvnb.models.resnetse)
    emb_dim: int
    ge2e_speakers: int  # N of a GE2E batch
    ge2e_utts: int  # M of a GE2E batch
    ge2e_epochs: int  # GE2E epochs of one N x M batch each
    ge2e_lr: float
    ge2e_bonafide_only: bool  # GE2E batches from bona fide utterances only
    epochs: int  # fine-tuning and distillation epochs
    batch_size: int
    lr: float
    lr_decay: float  # factor of the rate ...
    decay_every: int  # ... every this many epochs
    train_per_epoch: int | None  # utterances drawn per fine-tuning epoch (None: the whole set)
    augment: bool
    augment_p: float | None  # probability of augmenting (None: uniform over augment_kinds)
    augment_kinds: tuple[str, ...]
    snr_db: tuple[tuple[str, float, float], ...]  # (MUSAN category, lowest, highest SNR in dB)
    aeg_alpha: float  # BIM step, int16 units
    aeg_iters: int
    aeg_threshold_rule: str  # "fixed" or "sv_eer" (see aeg.aeg_threshold)
    aeg_threshold: float  # the "fixed" rule's cosine
    aeg_pool: int | None  # bona fide train utterances attacked per AEG round (None: all)
    kd_gamma: float
    kd_T: float
    eval_phase: str | None  # the 2021 keys' phase reported (None: all trials)
    n_eval: int | None  # eval trials (None: all of the phase)
    max_items: (
        int | None
    )  # at most this many utterances per evaluation set and AEG pool (None: all)
    seeds: tuple[int, ...]
    table2_seeds: int | None  # how many of the seeds also train Table 2's models (None: all)
    bootstrap: int  # resamples of every 95 % interval
    audio_cache_gb: float | None  # decoded audio kept in memory (None: all)
    device: str
    reductions: tuple[str, ...] = ()  # departures from the source's settings, for the tables' notes

    STUDY = STUDY

    def _finish(self) -> GE2EAEGKDConfig:
        """The AEG pool capped by ``max_items``, integer seeds and the departures in words."""
        cfg = self
        if cfg.max_items is not None and cfg.aeg_pool is None:
            cfg = replace(cfg, aeg_pool=cfg.max_items)
        cfg = replace(cfg, seeds=tuple(int(k) for k in cfg.seeds))
        return replace(cfg, reductions=cfg.describe_reductions())

    def settings(self) -> dict[str, Any]:
        """Every setting as plain data, as the YAML files write it (no profile, paths or notes)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("profile", "paths", "reductions")}
        return json.loads(json.dumps(d))

    def describe_reductions(self) -> tuple[str, ...]:
        """Short phrases for every departure from the source's settings, in :data:`DEPARTURES`' order."""
        source = config.load_settings(STUDY, "source")
        changed = {key for key, _, _ in config.departures(source, self.settings())}
        phrases = (say(self, source) for keys, say in DEPARTURES if changed & set(keys))
        return tuple(p for p in phrases if p)

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

    def describe_steps(self) -> str:
        """Augmentation, BIM's step and keep rule, and the GE2E batches, in words."""
        step = self.aeg_alpha / INT16_FULL_SCALE
        keep = (
            f"cos <= {self.aeg_threshold:g}"
            if self.aeg_threshold_rule == "fixed"
            else "cos <= the attacking model's speaker-verification EER threshold on the attacked "
            "utterances' clean pairs"
        )
        drawn = (
            "bona fide only"
            if self.ge2e_bonafide_only
            else "bona fide and spoofs (labelled with their target)"
        )
        return "\n".join(
            [
                f"augmentation: {self.describe_augmentation()}",
                f"BIM: {self.aeg_iters} steps of alpha = {self.aeg_alpha:g} int16 units = {step:.2e} of "
                f"full scale ({20 * math.log10(step):.1f} dBFS per sample per step), at most "
                f"{self.aeg_alpha * self.aeg_iters:g} int16 units in all",
                f"keep rule: {keep}",
                f"GE2E batches: {self.ge2e_speakers} speakers x {self.ge2e_utts} utterances, {drawn}",
            ]
        )

    @property
    def crop_samples(self) -> int:
        """Training crop in samples."""
        return int(round(self.crop_s * self.sample_rate))

    @property
    def eval_samples(self) -> int | None:
        """Evaluation crop in samples (None: whole utterances, batch size 1)."""
        return None if self.eval_crop_s is None else int(round(self.eval_crop_s * self.sample_rate))

    def model_kwargs(self, teacher: bool) -> dict[str, Any]:
        """:class:`ResNetSE` arguments of the teacher (layout ``teacher_layout``) or the student (layout L)."""
        return {
            "channels": self.teacher_channels if teacher else self.student_channels,
            "layers": self.layers,
            "emb_dim": self.emb_dim,
            "layout": self.teacher_layout if teacher else "L",
            "frontend": preset("logmel40_resnetse", sr=self.sample_rate),
        }

    def teacher(self) -> ResNetSE:
        """A fresh G-ResNetSE of this configuration (waveform input)."""
        return ResNetSE(**self.model_kwargs(teacher=True))

    def student(self) -> ResNetSE:
        """A fresh L-ResNetSE of this configuration (layout L, as the text describes it)."""
        return ResNetSE(**self.model_kwargs(teacher=False))

    def training_settings(self) -> dict[str, Any]:
        """Every setting that changes a trained model (all but :data:`NOT_TRAINING`)."""
        return {k: v for k, v in asdict(self).items() if k not in NOT_TRAINING}

    def run_key(self) -> str:
        """A short hash of :meth:`training_settings`: runs of other settings live elsewhere.

        Checkpoints resume whatever settings made them, so a run folder shared by
        two configurations would hand one's models to the other.
        """
        return files.run_key(self.training_settings(), TRAINING_CODE)

    def run_root(self, seed: int) -> Path:
        """Output folder of one seed's models: ``paths.out / ResNetSE-<run_key> / seed<k>`` (settings in settings.json)."""
        seed_dir = files.run_dir(
            self.paths.out, RUN_NAME, self.training_settings(), seed, code=TRAINING_CODE
        )
        if not (seed_dir.parent / "settings.json").is_file():
            files.write_json(seed_dir.parent / "settings.json", self.training_settings())
        return seed_dir


# ----------------------------------------------------------------------------- departures in words

Phrase = Callable[[GE2EAEGKDConfig, dict[str, Any]], str | None]


def _budget(c: GE2EAEGKDConfig, src: dict[str, Any]) -> str | None:
    # the full profile's own epochs and draw are its budget cut; other values are plain departures
    full = config.load_settings(STUDY, "full")
    if c.profile != "full" or (c.epochs, c.train_per_epoch) != (
        full["epochs"],
        full["train_per_epoch"],
    ):
        return None
    return (
        f"one-GPU-hour budget: {c.epochs} epochs of {c.train_per_epoch:,} utterances drawn from "
        f"LA train (unbudgeted: {src['epochs']} epochs over all of it; the source states no epochs)"
    )


def _epochs(c: GE2EAEGKDConfig, src: dict[str, Any]) -> str | None:
    if _budget(c, src):
        return None
    per = f" x {c.train_per_epoch} utts" if c.train_per_epoch else ""
    return f"{c.epochs} epochs{per}"


def _aeg_rule(c: GE2EAEGKDConfig, src: dict[str, Any]) -> str:
    rule = (
        f"cos <= {c.aeg_threshold:g}"
        if c.aeg_threshold_rule == "fixed"
        else "cos below the attacker's speaker-verification EER threshold"
    )
    return f"AEG keeps {rule}, BIM {c.aeg_iters} x {c.aeg_alpha:g} int16 units"


def _dash(xs: Any) -> str:
    return "-".join(map(str, xs))


def _rate(x: float) -> str:
    return f"{x:.0e}".replace("e-0", "e-")  # 0.0003 -> 3e-4


# (settings, phrase): a phrase is written when any of its settings departs from source.yaml (and it
# returns text), in this order
DEPARTURES: tuple[tuple[tuple[str, ...], Phrase], ...] = (
    (("epochs", "train_per_epoch"), _budget),
    (
        ("sample_rate",),
        lambda c, s: f"{c.sample_rate} Hz (corpus rate; source {s['sample_rate']:,} Hz)",
    ),
    (("layers",), lambda c, s: f"blocks {_dash(c.layers)} (source {_dash(s['layers'])})"),
    (
        ("teacher_channels", "student_channels"),
        lambda c, s: f"channels {c.teacher_channels} / {c.student_channels}",
    ),
    (("emb_dim",), lambda c, s: f"embedding {c.emb_dim} (source {s['emb_dim']})"),
    (
        ("crop_s", "eval_crop_s"),
        lambda c, s: f"{c.crop_s:g} s train / {c.eval_crop_s or 0:g} s eval crops",
    ),
    (
        ("ge2e_epochs", "ge2e_speakers", "ge2e_utts"),
        lambda c, s: f"GE2E {c.ge2e_epochs} batches of {c.ge2e_speakers}x{c.ge2e_utts}",
    ),
    (("epochs", "train_per_epoch"), _epochs),
    (
        ("lr", "ge2e_lr"),
        lambda c, s: f"learning rate {c.lr:g} (GE2E {c.ge2e_lr:g}; source {_rate(s['lr'])})",
    ),
    (("lr_decay", "decay_every"), lambda c, s: f"rate x{c.lr_decay:g} every {c.decay_every}"),
    (("batch_size",), lambda c, s: f"batch {c.batch_size}"),
    (("aeg_pool",), lambda c, s: f"AEG on {c.aeg_pool} bona fide utts" if c.aeg_pool else None),
    (
        ("ge2e_bonafide_only",),
        lambda c, s: (
            "GE2E on bona fide only" if c.ge2e_bonafide_only else "GE2E on bona fide and spoofs"
        ),
    ),
    (
        ("augment", "augment_p", "augment_kinds", "snr_db"),
        lambda c, s: c.describe_augmentation(),
    ),
    (("aeg_threshold_rule", "aeg_threshold", "aeg_alpha", "aeg_iters"), _aeg_rule),
    (("kd_gamma", "kd_T"), lambda c, s: f"distillation gamma {c.kd_gamma:g}, T {c.kd_T:g}"),
    (("eval_phase",), lambda c, s: f"eval phase {c.eval_phase or 'all'}"),
    (("n_eval",), lambda c, s: f"{c.n_eval} eval trials" if c.n_eval else None),
    (
        ("max_items",),
        lambda c, s: (
            None if c.max_items is None else f"at most {c.max_items} utterances per evaluation set"
        ),
    ),
    (
        ("table2_seeds",),
        lambda c, s: (
            f"AEG teachers and students on {c.table2_seeds} of {len(c.seeds)} seeds"
            if c.table2_seeds is not None and c.table2_seeds < len(c.seeds)
            else None
        ),
    ),
)
# settings whose departures the notes leave out, and why
UNLISTED = {
    "sv_crop_s": "the speaker-verification test is this book's, not the source's",
    "teacher_layout": "Table 3 names the layout of every row (the source's is ambiguous)",
    "seeds": "the tables say how many seeds a row has when it has fewer than three",
    "bootstrap": "intervals are this book's, not the source's",
    "audio_cache_gb": "memory, not what is computed",
    "device": "where, not what, is computed",
}
