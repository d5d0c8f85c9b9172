"""Study 04's settings (``configs/04_spectrogram_resnet18/*.yaml``), names, the source's figures, the notebook's start.

The full profile is the source's own settings: every value of a run that
differs from ``full.yaml`` is a departure from the source, and the notes say
each one (:func:`setup_notes`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from torch import nn

from asvnb import config
from asvnb.config import Paths
from asvnb.models.cnn import SimpleCNN
from asvnb.models.image_resnet import ResNet18Transfer
from asvnb.studies import chapter
from asvnb.studies.spectrogram_common import backbone, image_tree
from asvnb.train.classify import ClassifierSetup, Task

STUDY = "04_spectrogram_resnet18"
REAL, FAKE = 1, 0
TASK = Task(bonafide=REAL, positive=REAL, names={REAL: "real", FAKE: "fake"})
DV, LA, IMITATION = "DEEP-VOICE", "ASVspoof 2019 LA", "Imitation"
MPL_DEFAULT_NFFT = (
    256  # what pyplot.specgram uses when NFFT is not given, as for the source's real clips
)

# The source's figures (reproduction-targets section 4): best validation epoch, test, unseen Imitation set.
SOURCE_FIGURES: dict[str, dict[tuple[str, str], Any]] = {
    "SimpleCNN": {
        ("val", "f1"): 0.91,
        ("val", "accuracy"): 0.98,
        ("test", "f1"): 0.785,
        ("test", "accuracy"): 0.927,
    },
    "ResNet18 transfer": {
        ("val", "f1"): 0.98,
        ("val", "accuracy"): "about 1.0",
        ("test", "f1"): 0.894,
        ("test", "accuracy"): 0.969,
        ("unseen", "f1"): 0.828,
        ("unseen", "accuracy"): 0.840,
    },
}
SOURCE_TRAIN_IMAGES = 2986  # the source's training set: 30 s segments of LA train and DEEP-VOICE


def source_settings() -> dict[str, Any]:
    """The source's settings as a settings tree: the full profile's file."""
    return config.load_settings(STUDY, "full")


@dataclass
class SpectrogramResNet18Config(config.StudySettings):
    """Everything study 04 depends on; the values are in the profile's YAML file."""

    profile: str
    paths: Paths
    route: str  # "tensor" (STFT on the fly) or "source" (specgram -> JPEG -> read back)
    seconds: float  # segment length
    sr: int  # every clip is read at this rate
    size: int  # image side as drawn (SimpleCNN's input)
    resnet_size: int  # image side ResNet18 trains on (the drawn images scaled)
    nfft: int  # the FFT size (noverlap half of it) for every class once the leak is fixed
    split_seed: int  # the source's train_test_split(random_state=42)
    test_fraction: float
    val_fraction: float
    weights: str | None  # ResNet18 backbone: "imagenet", None (random init) or a state_dict path
    setups: dict[str, ClassifierSetup]
    leak_epochs: int  # epochs of the DEEP-VOICE-only SimpleCNN runs that measure the leaks
    device: str = "auto"

    STUDY = STUDY

    @classmethod
    def source_settings(
        cls, data_root: str | Path | None = None, **params: Any
    ) -> SpectrogramResNet18Config:
        """The source's settings on the real data: the full profile (study 04 has no ``source.yaml``)."""
        return cls.for_profile("full", data_root, **params)

    @classmethod
    def _tree(cls, file: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``epochs`` sets every model's epochs; None keeps the profile's value, as does ``weights="default"``
        (None there means random initialisation)."""
        tree, extra = image_tree(STUDY, file, params)
        if tree["seconds"] <= 0:
            raise ValueError(f"segment length must be positive, got {tree['seconds']} s")
        return tree, extra

    def as_settings(self) -> dict[str, Any]:
        """The settings as the YAML files hold them (without profile, paths and device)."""
        tree = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("profile", "paths", "device")
        }
        return tree | {"setups": {k: vars(v) for k, v in self.setups.items()}}

    def model(self, name: str) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
        """Factory and keyword arguments of a model (what the exported best model is rebuilt from)."""
        if name == "SimpleCNN":
            return SimpleCNN, {}
        if name == "ResNet18 transfer":
            return ResNet18Transfer, {"weights": self.weights}
        raise ValueError(f"unknown model {name!r}; valid: SimpleCNN, ResNet18 transfer")

    def side(self, name: str) -> int:
        """The image side model ``name`` trains on."""
        return self.resnet_size if name == "ResNet18 transfer" else self.size

    def drawing(self, **extra: Any) -> dict[str, Any]:
        """What a set of images depends on: data, segment length, rate, size, FFT size, route (the cache key)."""
        return {
            "data": config.data_fingerprint(self.paths.data),
            "seconds": self.seconds,
            "sr": self.sr,
            "size": self.size,
            "nfft": self.nfft,
            "route": self.route,
            **extra,
        }

    def settings(self, **extra: Any) -> dict[str, Any]:
        """What a run depends on besides the model and optimiser: its folder hash (train.classify.seed_run_dir)."""
        return {"profile": self.profile, **self.drawing(**extra)}  # the profile and its images


def setup(
    profile: str, data_root: str | Path | None = None, **params: Any
) -> tuple[SpectrogramResNet18Config, dict]:
    """The notebook's start (:func:`asvnb.studies.chapter.setup`) with study 04's settings."""
    return chapter.setup(SpectrogramResNet18Config, profile, data_root, **params)


# How a note says a departure from the source's settings, by the setting's last key: (ours, the source's) ->
# phrase; in this order. A departure without a phrase here is said as "<key> <ours> (source <theirs>)".
DEPARTURES: dict[str, Callable[[Any, Any], str]] = {
    "seconds": lambda ours, src: f"{ours:g} s segments (source {src:g} s)",
    "route": lambda ours, src: f"images drawn by the {ours} route",
    "epochs": lambda ours, src: f"{ours} epochs (source {src})",
    "samples_per_epoch": lambda ours, src: f"{ours} random training images per epoch (source: all)",
    "lr": lambda ours, src: f"lr {ours:g} (source {src:g})",
    "schedule": lambda ours, src: f"{ours.replace('_', '-')} learning rate (source: {src})",
    "batch_size": lambda ours, src: f"batch {ours} (source {src})",
    "balanced": lambda ours, src: "class-balanced loss" if ours else "plain loss",
    "resnet_size": lambda ours, src: f"{ours} x {ours} images (source {src})",
    "weights": lambda ours, src: backbone(ours),
}
# settings that concern one model only (the others concern every model)
ONLY = {"resnet_size": "ResNet18 transfer", "weights": "ResNet18 transfer"}


def departures(cfg: SpectrogramResNet18Config, name: str) -> list[str]:
    """Every departure of ``cfg`` from the source's settings that concerns model ``name``, as phrases."""
    found = {}
    for key, src, ours in config.departures(source_settings(), cfg.as_settings()):
        parts = key.split(".")
        leaf = parts[-1]
        if parts[0] == "setups" and parts[1] != name or ONLY.get(leaf, name) != name:
            continue
        say = DEPARTURES.get(leaf, lambda o, s, k=key: f"{k} {o} (source {s})")
        found[leaf] = say(ours, src)
    order = list(DEPARTURES)
    return [
        found[k] for k in sorted(found, key=lambda k: order.index(k) if k in order else len(order))
    ]


def setup_notes(cfg: SpectrogramResNet18Config) -> dict[str, str]:
    """Per model: every departure from the source's settings, then its image side and backbone if not said."""
    notes = {}
    for name in cfg.setups:
        said = departures(cfg, name)
        facts = [f"{cfg.side(name)} x {cfg.side(name)} images"]
        facts += [backbone(cfg.weights)] if name == "ResNet18 transfer" else []
        notes[name] = ", ".join(said + [f for f in facts if not any(p.startswith(f) for p in said)])
    return notes
