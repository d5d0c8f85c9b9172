"""Study 02's settings: one YAML file per profile (``configs/02_overlap_pipeline``), and the notebook's setup call."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asvnb import config
from asvnb.config import Paths
from asvnb.models.separation import SepformerStandinConfig
from asvnb.models.wavlm import WavLMStandinConfig
from asvnb.studies.chapter import start
from asvnb.train import standins

STUDY = "02_overlap_pipeline"
SPLITS = ("train", "dev", "eval")
# the stand-ins are data with their own settings (asvnb.train.standins), not in the profile files: a test passes
# smaller ones to for_profile as objects
STANDIN_FIELDS = ("sepformer_standin", "detector_standin")


@dataclass
class OverlapConfig(config.StudySettings):
    """Everything study 02 depends on, per profile (the values: ``configs/02_overlap_pipeline/<profile>.yaml``)."""

    profile: str
    paths: Paths
    n_mixtures: dict[str, int]  # used per split
    mixture_seed: int
    separators: tuple[str, ...]
    sepformer: str | None  # hub id or local speechbrain directory (None: profile default)
    detector: str | None  # hub id or local transformers directory (None: profile default)
    max_seconds: float | None  # detector input crop (None: whole streams, as the source)
    epochs: int
    lr: float
    last_epoch_lr: float | None  # the last epoch restarts at this rate
    grad_accum: int
    max_grad_norm: float
    batch_size: int  # mixtures per micro-batch
    freeze_feature_encoder: bool
    sep_batch: int  # mixtures per separator call
    det_batch: int
    si_snr_n: int  # held-out eval mixtures for SI-SNRi
    max_items: (
        int | None
    )  # a quick run: at most this many mixtures per split and LA eval utterances
    device: str
    sepformer_standin: SepformerStandinConfig = field(default_factory=SepformerStandinConfig)
    detector_standin: WavLMStandinConfig = field(default_factory=WavLMStandinConfig)

    STUDY = STUDY

    @classmethod
    def _tree(cls, file: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The stand-ins' settings come as objects (not keys of the file); ``max_items`` caps every split's mixtures."""
        given = {k: params.pop(k) for k in STANDIN_FIELDS if k in params}
        # the profile's stand-ins (the CI profile trains its own, in a few steps), unless given
        sep, det = standins.for_profile(file)
        extra = {"sepformer_standin": sep, "detector_standin": det} | given
        data = config.load_settings(STUDY, file, params)
        if data.get("max_items") is not None:
            data["n_mixtures"] = {
                k: min(n, data["max_items"]) for k, n in data["n_mixtures"].items()
            }
        return data, extra

    @property
    def models_dir(self) -> Path:
        """Where stand-in models are cached: beside the corpus (``data/models``)."""
        return standins.models_dir(self.paths.data)

    @property
    def max_samples(self) -> int | None:
        """Detector crop in samples at 16 kHz."""
        return int(self.max_seconds * 16000) if self.max_seconds else None

    def run_device(self) -> str:
        """The resolved device."""
        return config.resolve_device(self.device)


def setup(
    profile: str,
    data_root: str | Path | None = None,
    *,
    seed: int = 0,
    n_train: int | None = None,
    n_dev: int | None = None,
    n_eval: int | None = None,
    **overrides: Any,
) -> tuple[OverlapConfig, dict]:
    """The notebook's first step: its parameters as the profile's settings, an empty detector index, the seed, the
    environment fingerprint and the profile banner shown; returns the configuration and the fingerprint.

    ``n_train``/``n_dev``/``n_eval`` set ``n_mixtures``; every other parameter is
    a key of the profile file. None keeps the profile's value.
    """
    counts = {"n_mixtures.train": n_train, "n_mixtures.dev": n_dev, "n_mixtures.eval": n_eval}
    cfg = OverlapConfig.for_profile(profile, data_root, **counts, **overrides)
    return cfg, start(profile, cfg.paths.out, cfg.paths.data, seed, device=cfg.device)
