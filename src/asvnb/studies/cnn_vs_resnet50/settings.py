"""Study 01's settings (``configs/01_cnn_vs_resnet50/*.yaml``), names, the source's figures, and the notebook's start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from asvnb import config
from asvnb.config import Paths
from asvnb.models.cnn import SpectrogramCNN
from asvnb.models.image_resnet import resnet50_classifier
from asvnb.studies import chapter
from asvnb.studies.spectrogram_common import backbone, image_tree
from asvnb.train.classify import ClassifierSetup, Task

STUDY = "01_cnn_vs_resnet50"
GENUINE, SPOOFED = 0, 1
TASK = Task(bonafide=GENUINE, positive=SPOOFED, names={GENUINE: "genuine", SPOOFED: "spoofed"})
LA, CV = "ASVspoof 2019 LA", "Common Voice"
CM_MODELS = ("CNN", "ResNet50")

# The source's figures (reproduction-targets section 1); its two CNN rows contradict each other: both are shown.
SOURCE_FIGURES: dict[str, dict[tuple[str, str], Any]] = {
    "CNN": {
        ("test", "accuracy"): "0.69, also 70% (§7); 0.69 (§6.1)",
        ("test", "precision"): "0.710 (§7); 0.54 (§6.1)",
        ("test", "recall"): "0.705 (§7); 0.69 (§6.1)",
        ("test", "f1"): "0.708 (§7); 0.57 (§6.1)",
    },
    "ResNet50": {
        ("test", "accuracy"): 0.52,
        ("test", "precision"): 0.564,
        ("test", "recall"): 0.525,
        ("test", "f1"): 0.540,
    },
}
# The same figures as numbers for the results file. The source's precision, recall and F1 are support-weighted
# averages over both classes (its recall equals its accuracy in every set), so they sit on the *_weighted rows;
# where its two CNN rows differ, the conclusions' (§7) figure is the value and the other is in the note.
SOURCE_NUMBERS: dict[str, dict[str, float]] = {
    "CNN": {
        "accuracy": 0.69,
        "precision_weighted": 0.710,
        "recall_weighted": 0.705,
        "f1_weighted": 0.707735,
    },
    "ResNet50": {
        "accuracy": 0.52,
        "precision_weighted": 0.564,
        "recall_weighted": 0.525,
        "f1_weighted": 0.540,
    },
}
SOURCE_NOTES = {
    ("CNN", "accuracy"): "source: 0.69 (§6.1), 70% (§7)",
    ("CNN", "precision_weighted"): "§6.1: 0.54",
    ("CNN", "recall_weighted"): "§6.1: 0.69",
    ("CNN", "f1_weighted"): "§6.1: 0.57",
}


@dataclass
class CnnVsResnet50Config(config.StudySettings):
    """Everything study 01 depends on; the values are in the profile's YAML file (the source states none)."""

    profile: str
    paths: Paths
    sr: int
    clip_seconds: float  # every CM utterance cropped or repeat-padded to this length
    nfft: int  # spectrogram images: Hann frames of this size, half overlap, viridis
    sizes: dict[str, int]  # image side per CM
    weights: str | None  # ResNet50 backbone: "imagenet", None (random init) or a state_dict path
    cv_train_fraction: float  # Common Voice speakers whose clips join CM training (the rest: test)
    cv_max_clips: int | None  # cap on Common Voice clips (the full release has many thousands)
    asv_seconds: float  # speaker-classifier training crops
    # a quick run: at most this many utterances per LA split and CV part, both classes kept
    # (data.balanced_subset); None: all
    max_items: int | None
    control_seeds: (
        int | None
    )  # how many of the seeds (the first) also train the no-Common-Voice CNN (None: all)
    setups: dict[str, ClassifierSetup]
    device: str = "auto"

    STUDY = STUDY

    @classmethod
    def _tree(cls, file: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``epochs`` sets every model's epochs, ``size`` both countermeasures' image side; None keeps the
        profile's value, as does ``weights="default"`` (None there means random initialisation)."""
        size = params.pop("size", None)
        sizes = {f"sizes.{name}": size for name in CM_MODELS} if size else {}
        return image_tree(STUDY, file, {**sizes, **params})

    def model(self, name: str) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
        """Factory and keyword arguments of a countermeasure."""
        if name == "CNN":
            return SpectrogramCNN, {"n_classes": 2, "in_channels": 3, "batch_norm": True}
        if name == "ResNet50":
            return resnet50_classifier, {"n_classes": 2, "weights": self.weights}
        raise ValueError(f"unknown model {name!r}; valid: CNN, ResNet50")

    def __post_init__(self) -> None:
        if self.control_seeds is not None and self.control_seeds < 1:
            raise ValueError(f"control_seeds must be at least 1 or null, got {self.control_seeds}")

    def control_seeds_of(self, seeds: list[int]) -> list[int]:
        """The seeds that also train the no-Common-Voice control: the first ``control_seeds`` of ``seeds``."""
        return list(seeds) if self.control_seeds is None else list(seeds)[: self.control_seeds]

    def settings(self, **extra: Any) -> dict[str, Any]:
        """What a run depends on besides model and optimiser (its folder hash)."""
        return {
            "profile": self.profile,
            "sr": self.sr,
            "clip_seconds": self.clip_seconds,
            "nfft": self.nfft,
            "cv": [self.cv_train_fraction, self.cv_max_clips],
            **({"max_items": self.max_items} if self.max_items is not None else {}),
            "data": config.data_fingerprint(self.paths.data),
            **extra,
        }


def setup(
    profile: str, data_root: str | Path | None = None, **params: Any
) -> tuple[CnnVsResnet50Config, dict]:
    """The notebook's start (:func:`asvnb.studies.chapter.setup`) with study 01's settings."""
    return chapter.setup(CnnVsResnet50Config, profile, data_root, **params)


def setup_notes(cfg: CnnVsResnet50Config) -> dict[str, str]:
    """Per countermeasure: what it trained with (epochs, images, side, optimiser; ResNet50's backbone)."""
    notes = {
        name: f"{s.epochs} epochs"
        + (f" of {s.samples_per_epoch} random training images" if s.samples_per_epoch else "")
        + f", {cfg.sizes[name]} x {cfg.sizes[name]} images, lr {s.lr:g}"
        + (" (one-cycle)" if s.schedule == "one_cycle" else "")
        + f", batch {s.batch_size}"
        for name, s in cfg.setups.items()
        if name in CM_MODELS
    }
    for name, s in cfg.setups.items():
        if name in CM_MODELS and s.validate_from > 1:
            notes[name] += f", best epoch chosen from epoch {s.validate_from} on"
    notes["ResNet50"] += ", " + backbone(cfg.weights)
    if cfg.control_seeds is not None:
        notes["CNN without Common Voice"] = "the CNN's settings, on " + (
            "the first seed" if cfg.control_seeds == 1 else f"the first {cfg.control_seeds} seeds"
        )
    return notes
