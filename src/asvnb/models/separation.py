"""Two-speaker separators behind one interface: SepFormer (speechbrain), ConvTasNet (torchaudio), oracle, none.

Every separator turns a 16 kHz mixture into two 16 kHz streams (2, T). The
8 kHz models (``speechbrain/sepformer-wsj02mix``, torchaudio's
``CONVTASNET_BASE_LIBRI2MIX``) see the mixture resampled to 8 kHz and their
outputs are resampled back to 16 kHz; each stream is then peak-normalised, as
speechbrain's ``separate_file`` (the call the source used) does.

Bad input: a mixture with NaN/inf samples, or an empty one, is a ValueError.
Short mixtures are fine: a model's batch shorter than ``MIN_MODEL_SECONDS``
(0.1 s) at its own rate is zero-padded to it (silence after the signal, so that
every encoder window fits) and the streams are cropped back to each mixture.

Offline, the SepFormer is a small model of the same speechbrain family
(:class:`SepformerNet`, trained on embedded mixtures by
:mod:`asvnb.train.standins`), written as a local speechbrain model directory
(:func:`write_sepformer`: ``hyperparams.yaml`` + ``encoder.ckpt``,
``masknet.ckpt``, ``decoder.ckpt``) and loaded by the same
``SepformerSeparation.from_hparams(source=...)`` call as the hub id.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from asvnb import audio
from asvnb.features import check_finite

SR = 16000
HUB_SEPFORMER = "speechbrain/sepformer-wsj02mix"
SEPFORMER_SI_SNRI_WSJ0_2MIX = (
    22.3  # dB, published for speechbrain/sepformer-wsj02mix on the WSJ0-2mix test set
)


MIN_MODEL_SECONDS = (
    0.1  # a model's batch is zero-padded to at least this (SepFormer's encoder window is 2 ms)
)


def _peak(x: np.ndarray) -> np.ndarray:
    return audio.peak_normalise(np.asarray(x, dtype=np.float32))


def _check_mixtures(mixtures: Sequence[np.ndarray], who: str) -> None:
    for i, m in enumerate(mixtures):
        if len(m) == 0:
            raise ValueError(f"{who}: mixture {i} is empty (0 samples)")
        check_finite(np.asarray(m), f"{who}: mixture {i}")


class Separator(ABC):
    """Base: ``separate(mixtures, sources)`` -> one (2, T) float32 array at 16 kHz per mixture."""

    name = "separator"
    sample_rate = SR  # the model's own rate
    needs_sources = False  # True: ``items`` must give the true sources (the oracle)

    def describe(self) -> dict:
        """What identifies this separator's outputs (the stream cache key)."""
        return {"name": self.name}

    @abstractmethod
    def separate(
        self, mixtures: Sequence[np.ndarray], sources: Sequence[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        """Two 16 kHz streams per mixture (``sources``: the true sources, for separators that need them)."""


class ModelSeparator(Separator):
    """A neural separator at its own rate: resample in, separate a zero-padded batch, resample out."""

    @abstractmethod
    def _separate_model_rate(self, batch: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` mixtures at ``sample_rate`` -> ``(B, T, 2)`` streams."""

    @torch.no_grad()
    def separate(
        self, mixtures: Sequence[np.ndarray], sources: Sequence[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        """Separate a batch of 16 kHz mixtures (any lengths: zero-padded to the longest, cropped back)."""
        _check_mixtures(mixtures, self.name)
        low = [audio.resample(m, SR, self.sample_rate) for m in mixtures]
        n = max(max(len(x) for x in low), int(MIN_MODEL_SECONDS * self.sample_rate))
        batch = torch.zeros(len(low), n)
        for i, x in enumerate(low):
            batch[i, : len(x)] = torch.from_numpy(np.asarray(x, dtype=np.float32))
        est = self._separate_model_rate(batch).cpu().numpy()
        out = []
        for i, (m, x) in enumerate(zip(mixtures, low)):
            streams = [audio.resample(est[i, : len(x), c], self.sample_rate, SR) for c in range(2)]
            streams = [audio.crop_or_pad(s, len(m)) if len(s) != len(m) else s for s in streams]
            out.append(np.stack([_peak(s) for s in streams]).astype(np.float32))
        return out


class SepformerSeparator(ModelSeparator):
    """speechbrain ``SepformerSeparation.from_hparams(source)``: a hub id or a local model directory."""

    name = "sepformer"

    def __init__(
        self,
        source: str | Path = HUB_SEPFORMER,
        savedir: str | Path | None = None,
        device: str = "cpu",
    ):
        # speechbrain, an optional heavy dependency of this one class, loads only when a SepFormer is used
        from speechbrain.inference.separation import SepformerSeparation

        self.source = str(source)
        local = Path(source).is_dir()
        if local and not (Path(source) / "hyperparams.yaml").is_file():
            raise FileNotFoundError(
                f"{source}: not a speechbrain model directory (no hyperparams.yaml)"
            )
        # hub models go to torch's cache folder (~/.cache/torch/speechbrain/<id>), local ones are used in place
        savedir = str(
            savedir
            or (source if local else Path(torch.hub.get_dir()).parent / "speechbrain" / self.source)
        )
        self.model = SepformerSeparation.from_hparams(
            source=self.source, savedir=savedir, run_opts={"device": device}
        )
        self.model.eval()
        self.sample_rate = int(self.model.hparams.sample_rate)
        self.fingerprint = _dir_fingerprint(Path(source)) if local else self.source

    def describe(self) -> dict:
        """Name, source and (for a local directory) a hash of its files."""
        return {"name": self.name, "source": self.fingerprint}

    def _separate_model_rate(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model.separate_batch(batch.to(self.model.device))

    def n_params(self) -> int:
        """Number of parameters of encoder, masknet and decoder."""
        return sum(p.numel() for p in self.model.mods.parameters())


class ConvTasNetSeparator(ModelSeparator):
    """torchaudio ConvTasNet: the ``CONVTASNET_BASE_LIBRI2MIX`` bundle (8 kHz, downloaded) or a local state dict."""

    name = "convtasnet"

    def __init__(self, state_dict: str | Path | None = None, device: str = "cpu"):
        import torchaudio  # heavy, and needed by this one separator only

        if state_dict is None:
            bundle = torchaudio.pipelines.CONVTASNET_BASE_LIBRI2MIX
            self.model, self.sample_rate = bundle.get_model(), bundle.sample_rate
            self.source = "CONVTASNET_BASE_LIBRI2MIX"
        else:
            self.model = torchaudio.models.conv_tasnet_base(num_sources=2)
            self.model.load_state_dict(torch.load(state_dict, map_location="cpu"))
            self.sample_rate, self.source = 8000, str(state_dict)
        self.model = self.model.to(device).eval()
        self.device = device

    def describe(self) -> dict:
        """Name and weights."""
        return {"name": self.name, "source": self.source}

    def _separate_model_rate(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch.unsqueeze(1).to(self.device)).transpose(1, 2)


class OracleSeparator(Separator):
    """Returns the true (delayed, gained, scaled) sources: the upper bound of any separator.

    ``band_limit`` (Hz) sends them through that rate and back, which isolates
    what an 8 kHz separator loses by bandwidth alone.
    """

    needs_sources = True

    def __init__(self, band_limit: int | None = None):
        self.band_limit = band_limit
        self.name = "oracle" if band_limit is None else f"oracle@{band_limit // 1000}k"

    def describe(self) -> dict:
        """Name and bandwidth."""
        return {"name": self.name, "band_limit": self.band_limit}

    def separate(
        self, mixtures: Sequence[np.ndarray], sources: Sequence[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        """The true sources of each mixture (peak-normalised per stream like the model outputs)."""
        if sources is None:
            raise ValueError("the oracle separator needs the true sources of each mixture")
        _check_mixtures(mixtures, self.name)
        out = []
        for m, s in zip(mixtures, sources):
            s = np.asarray(s, dtype=np.float32)
            if s.shape != (2, len(m)):
                raise ValueError(
                    f"true sources of shape {s.shape} do not match a mixture of {len(m)} samples"
                )
            if self.band_limit:
                s = np.stack(
                    [
                        audio.crop_or_pad(
                            audio.resample(
                                audio.resample(c, SR, self.band_limit), self.band_limit, SR
                            ),
                            len(m),
                        )
                        for c in s
                    ]
                )
            out.append(np.stack([_peak(c) for c in s]))
        return out


class NoSeparation(Separator):
    """The mixture itself, as both streams: the detector scores the overlapped speech directly."""

    name = "none"

    def separate(
        self, mixtures: Sequence[np.ndarray], sources: Sequence[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        """Two copies of each mixture."""
        _check_mixtures(mixtures, self.name)
        return [np.stack([m, m]).astype(np.float32) for m in mixtures]


def make_separator(kind: str, source: str | Path | None = None, device: str = "cpu") -> Separator:
    """A separator by name: ``sepformer`` (hub id or local dir), ``convtasnet``, ``oracle``, ``oracle@8k``, ``none``."""
    if kind == "sepformer":
        return SepformerSeparator(source or HUB_SEPFORMER, device=device)
    if kind == "convtasnet":
        return ConvTasNetSeparator(source, device=device)
    if kind == "oracle":
        return OracleSeparator()
    if kind == "oracle@8k":
        return OracleSeparator(band_limit=8000)
    if kind == "none":
        return NoSeparation()
    raise ValueError(
        f"unknown separator {kind!r}; valid: sepformer, convtasnet, oracle, oracle@8k, none"
    )


# --------------------------------------------------------------------------- SI-SNR


def si_snr(est: np.ndarray, ref: np.ndarray, eps: float = 1e-8) -> float:
    """Scale-invariant SNR in dB of one estimate against one reference (both zero-meaned first)."""
    est = np.asarray(est, dtype=np.float64) - np.mean(est)
    ref = np.asarray(ref, dtype=np.float64) - np.mean(ref)
    target = np.dot(est, ref) / (np.dot(ref, ref) + eps) * ref
    noise = est - target
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


def si_snr_improvement(est: np.ndarray, ref: np.ndarray, mix: np.ndarray) -> float:
    """SI-SNRi (dB) of two estimates, under the better of the two permutations, over the mixture as estimate."""
    best = max((si_snr(est[0], ref[a]) + si_snr(est[1], ref[1 - a])) / 2 for a in (0, 1))
    base = (si_snr(mix, ref[0]) + si_snr(mix, ref[1])) / 2
    return best - base


# --------------------------------------------------------------------------- the SepFormer, defined once


@dataclass(frozen=True)
class SepformerStandinConfig:
    """A small SepFormer (same speechbrain blocks as the hub model: 256 channels, 2x8 layers, 8 heads there).

    The last fields say how :mod:`asvnb.train.standins` trains it; all of them
    name its cached folder, so none may be renamed or dropped.
    """

    channels: int = 64
    layers: int = 1  # transformer layers in each intra/inter block
    heads: int = 4
    ffn: int = 128
    dual_path_layers: int = 1
    chunk: int = 100  # K: frames per chunk (250 in the hub model)
    kernel: int = 16  # encoder kernel, stride kernel // 2, as the hub model
    sample_rate: int = 8000
    steps_per_epoch: int = 100
    # 3,000 steps of 1 s crops: ~0.1 s each on 2 idle CPU cores, about 5 minutes, once per corpus (`asvnb data
    # standins`). Corpus v1, 2,000 steps of 1.5 s on 8 speakers: validation SI-SNR 3.5 dB, eval SI-SNRi 1.5 dB;
    # the limit was speaker variety, so the stand-in now sees every LA speaker outside eval (19)
    epochs: int = 30
    batch: int = 4
    seconds: float = 1.0  # training crops at 8 kHz
    lr: float = 1e-3
    max_grad_norm: float = 5.0  # the speechbrain recipe's clipping
    seed: int = 0
    # added for the separator's release v2 (issue 29); their defaults train as before.
    # "constant", or "cosine": a linear warm-up from lr / 20 over warmup_steps optimiser steps, then a cosine decay
    # to lr / 20 at the last step
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    # Common Voice validation mixtures: they choose the best epoch and give the release's dev figure
    val_mixtures: int = 32


@dataclass(frozen=True)
class _Ref:
    """A reference to another part (hyperpyyaml's ``!ref <name>``)."""

    name: str


SEPFORMER_PARTS = (
    "encoder",
    "masknet",
    "decoder",
)  # the modules, as speechbrain's pretrainer names them


def _sepformer_spec(c: SepformerStandinConfig) -> dict[str, tuple[str, dict]]:
    """The SepFormer's parts in construction order: ``name -> (dual_path class, keyword arguments)``.

    The one definition of the architecture: :func:`sepformer_hyperparams` writes
    it as speechbrain's ``hyperparams.yaml`` and :class:`SepformerNet` builds it
    in Python, in the same order (so the same seed gives the same weights).
    """
    block = (
        "SBTransformerBlock",
        {
            "num_layers": c.layers,
            "d_model": c.channels,
            "nhead": c.heads,
            "d_ffn": c.ffn,
            "dropout": 0,
            "use_positional_encoding": True,
            "norm_before": True,
        },
    )
    return {
        "Encoder": ("Encoder", {"kernel_size": c.kernel, "out_channels": c.channels}),
        "SBtfintra": block,
        "SBtfinter": block,
        "MaskNet": (
            "Dual_Path_Model",
            {
                "num_spks": 2,
                "in_channels": c.channels,
                "out_channels": c.channels,
                "num_layers": c.dual_path_layers,
                "K": c.chunk,
                "intra_model": _Ref("SBtfintra"),
                "inter_model": _Ref("SBtfinter"),
                "norm": "ln",
                "linear_layer_after_inter_intra": False,
                "skip_around_intra": True,
            },
        ),
        "Decoder": (
            "Decoder",
            {
                "in_channels": c.channels,
                "out_channels": 1,
                "kernel_size": c.kernel,
                "stride": c.kernel // 2,
                "bias": False,
            },
        ),
    }


def _yaml_value(v: object) -> str:
    if isinstance(v, _Ref):
        return f"!ref <{v.name}>"
    if isinstance(v, bool):
        return str(v).lower()
    return str(v)


def sepformer_hyperparams(c: SepformerStandinConfig) -> str:
    """speechbrain's ``hyperparams.yaml`` of the SepFormer ``c`` (what ``SepformerSeparation.from_hparams`` reads).

    Its bytes name the stand-in's stream cache (:meth:`SepformerSeparator.describe`
    hashes the model folder): the text, the comment line included, is kept as it was.
    """
    parts = "".join(
        f"{name}: !new:speechbrain.lobes.models.dual_path.{cls}\n"
        + "".join(f"    {k}: {_yaml_value(v)}\n" for k, v in kwargs.items())
        for name, (cls, kwargs) in _sepformer_spec(c).items()
    )
    return (
        "# SepFormer stand-in built by asvnb (models/separation.py); same blocks as "
        "speechbrain/sepformer-wsj02mix\n"
        f"sample_rate: {c.sample_rate}\n"
        "num_spks: 2\n"
        f"{parts}"
        "modules:\n"
        "    encoder: !ref <Encoder>\n"
        "    decoder: !ref <Decoder>\n"
        "    masknet: !ref <MaskNet>\n"
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer\n"
        "    loadables:\n"
        "        encoder: !ref <Encoder>\n"
        "        masknet: !ref <MaskNet>\n"
        "        decoder: !ref <Decoder>\n"
    )


class SepformerNet(nn.Module):
    """Encoder, masknet and decoder of a speechbrain SepFormer as one module (what the trainer trains)."""

    def __init__(self, c: SepformerStandinConfig):
        super().__init__()
        # speechbrain, an optional heavy dependency, loads only when a SepFormer is built (as above)
        from speechbrain.lobes.models import dual_path

        built: dict[str, nn.Module] = {}
        for name, (cls, kwargs) in _sepformer_spec(c).items():
            args = {k: built[v.name] if isinstance(v, _Ref) else v for k, v in kwargs.items()}
            built[name] = getattr(dual_path, cls)(**args)
        self.encoder, self.masknet, self.decoder = (
            built["Encoder"],
            built["MaskNet"],
            built["Decoder"],
        )

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, T, 2), as ``SepformerSeparation.separate_batch``."""
        w = self.encoder(mix)
        h = torch.stack([w] * 2) * self.masknet(w)
        est = torch.cat([self.decoder(h[i]).unsqueeze(-1) for i in range(2)], dim=-1)
        t = mix.shape[1]
        return (
            nn.functional.pad(est, (0, 0, 0, t - est.shape[1])) if est.shape[1] < t else est[:, :t]
        )


def write_sepformer(net: SepformerNet, c: SepformerStandinConfig, folder: str | Path) -> int:
    """Write ``net`` as a speechbrain model directory (``hyperparams.yaml`` and one ``.ckpt`` per part).

    Returns the number of parameters. ``folder`` is the final name's temporary
    twin (the caller renames it into place), so the files are written plainly.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in SEPFORMER_PARTS:
        torch.save(getattr(net, name).state_dict(), folder / f"{name}.ckpt")
    (folder / "hyperparams.yaml").write_text(sepformer_hyperparams(c))
    return sum(p.numel() for p in net.parameters())


def _dir_fingerprint(d: Path) -> str:
    """Hash of the model files' contents: two trainings of one architecture have equal sizes, not equal weights."""
    h = hashlib.sha256()
    for p in sorted(d.iterdir()):
        if p.is_file() and (p.suffix in (".ckpt", ".yaml")):
            h.update(p.name.encode())
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:16]
