"""On-the-fly MUSAN noise addition and RIR reverberation (the study 03 source), as voxceleb_trainer does it.

Each call picks one augmentation uniformly from ``kinds`` (default: none,
reverb, music, speech, noise), as voxceleb_trainer does: four calls in five
augment. With ``p`` set, a call augments with probability ``p`` and then picks
uniformly among the kinds other than none, so how much of the training data is
clean is a number of its own. Additive noise is scaled to a random SNR per
category (noise 0-15 dB; speech 13-20 dB with 3-7 babble speakers summed;
music 5-15 dB), the noise cropped or repeat-padded to the utterance length.
Reverberation convolves with a simulated room impulse response normalised to
unit energy and keeps the utterance length. Silent input or noise never
divides by zero (levels come from :func:`asvnb.audio.rms_db`, floored).
The optional ``telephone`` kind (not in the default list) sends the utterance
through 8 kHz narrow band and 8-bit G.711 companding (mu-law or A-law, drawn
per call), the two narrow-band conditions of the ASVspoof 2021 LA channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.signal import fftconvolve, resample_poly

from asvnb.audio import crop_or_pad, load_audio, rms_db
from asvnb.data import require

CATEGORIES = ("music", "speech", "noise")
KINDS = ("none", "reverb", *CATEGORIES, "telephone")
TELEPHONE_SR = 8000  # G.711's rate
MU, A = 255.0, 87.6  # the G.711 companding constants (ITU-T G.711)


def g711(x: np.ndarray, law: str) -> np.ndarray:
    """An 8-bit G.711 round trip of samples in [-1, 1] (``law`` "ulaw" or "alaw"), by the companding formulas."""
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    a = np.abs(x)
    if law == "ulaw":
        y = np.sign(x) * np.log1p(MU * a) / np.log1p(MU)
    elif law == "alaw":
        small = a < 1.0 / A
        y = (
            np.sign(x)
            * np.where(small, A * a, 1.0 + np.log(np.maximum(A * a, 1.0)))
            / (1.0 + np.log(A))
        )
    else:
        raise ValueError(f"unknown G.711 law {law!r}; valid: ulaw, alaw")
    y = np.round(y * 127.0) / 127.0  # 8 bits: a sign and 7 bits of magnitude
    b = np.abs(y)
    if law == "ulaw":
        out = np.sign(y) * np.expm1(b * np.log1p(MU)) / MU
    else:
        t = b * (1.0 + np.log(A))
        out = np.sign(y) * np.where(t < 1.0, t / A, np.exp(t - 1.0) / A)
    return out.astype(np.float32)


@dataclass
class Augmenter:
    """Seeded MUSAN + RIR augmentation; call it on a 1-D numpy array or torch tensor."""

    musan_root: str | Path
    rir_root: str | Path
    sr: int = 16000
    snr_db: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"noise": (0.0, 15.0), "speech": (13.0, 20.0), "music": (5.0, 15.0)}
    )
    n_sources: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {"noise": (1, 1), "speech": (3, 7), "music": (1, 1)}
    )
    kinds: tuple[str, ...] = ("none", "reverb", "music", "speech", "noise")
    seed: int = 0
    p: float | None = (
        None  # probability of augmenting a call; None: uniform over kinds, none included
    )

    def __post_init__(self):
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(
                f"unknown augmentation kind(s) {sorted(unknown)}; valid: {', '.join(KINDS)}"
            )
        if self.p is not None and not (
            0.0 <= self.p <= 1.0 and any(k != "none" for k in self.kinds)
        ):
            raise ValueError(
                f"augmentation probability p={self.p} needs 0 <= p <= 1 and a kind other than none"
            )
        self.files: dict[str, list[Path]] = {}
        cats = [
            c for c in CATEGORIES if c in self.kinds
        ]  # only the folders this augmenter will use
        if cats:
            musan = Path(self.musan_root).expanduser()
            musan = musan / "musan" if (musan / "musan").is_dir() else require("musan", musan)
            for cat in cats:
                d = require("musan", musan / cat, f"{cat} folder")
                self.files[cat] = sorted(d.glob("*/*.wav"))
                if not self.files[cat]:
                    raise FileNotFoundError(f"MUSAN: no wav files in {d}/<subset>/")
        self.rirs: list[Path] = []
        if "reverb" in self.kinds:
            self.rirs = self._find_rirs()
        self.rng = np.random.default_rng(self.seed)

    def _find_rirs(self) -> list[Path]:
        rir = Path(self.rir_root).expanduser()
        for cand in (rir / "RIRS_NOISES" / "simulated_rirs", rir / "simulated_rirs", rir):
            if cand.is_dir() and any(cand.glob("*/*/*.wav")):
                return sorted(cand.glob("*/*/*.wav"))
        require("rirs_noises", rir / "simulated_rirs", "simulated_rirs folder")
        raise FileNotFoundError(
            f"RIRS_NOISES: no <room size>/<Room>/*.wav files under {rir / 'simulated_rirs'}"
        )

    def add_noise(self, wav: np.ndarray, category: str, rng: np.random.Generator) -> np.ndarray:
        """Add ``category`` noise at a random SNR (several babble speakers for speech)."""
        lo, hi = self.n_sources[category]
        k = int(rng.integers(lo, hi + 1))
        picks = rng.choice(
            len(self.files[category]), size=min(k, len(self.files[category])), replace=False
        )
        clean_db = rms_db(wav)
        total = np.zeros_like(wav)
        for i in picks:
            noise = crop_or_pad(
                load_audio(self.files[category][i], sr=self.sr), len(wav), random_crop=True, rng=rng
            )
            snr = rng.uniform(*self.snr_db[category])
            total += np.sqrt(10 ** ((clean_db - rms_db(noise) - snr) / 10)) * noise
        return wav + total

    def reverberate(self, wav: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Convolve with a random room impulse response of unit energy, same length as the input."""
        rir = load_audio(self.rirs[int(rng.integers(len(self.rirs)))], sr=self.sr)
        energy = float(np.sqrt(np.sum(rir.astype(np.float64) ** 2)))
        if energy < 1e-10:  # an all-zero RIR would silence the utterance; leave it dry
            return wav
        return fftconvolve(wav, rir / energy, mode="full")[: len(wav)].astype(np.float32)

    def telephone(self, wav: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Narrow band and G.711: resample to 8 kHz, mu-law or A-law round trip, back to ``sr``, same length."""
        law = ("ulaw", "alaw")[int(rng.integers(2))]
        narrow = resample_poly(wav.astype(np.float64), TELEPHONE_SR, self.sr)
        wide = resample_poly(g711(narrow, law).astype(np.float64), self.sr, TELEPHONE_SR)
        return crop_or_pad(wide.astype(np.float32), len(wav))

    def pick(self, rng: np.random.Generator) -> str:
        """The kind of one call: uniform over ``kinds``, or with ``p`` set none with probability 1 - p."""
        if self.p is None:
            return self.kinds[int(rng.integers(len(self.kinds)))]
        if rng.random() >= self.p:
            return "none"
        active = [k for k in self.kinds if k != "none"]
        return active[int(rng.integers(len(active)))]

    def __call__(self, wav, kind: str | None = None, rng: np.random.Generator | None = None):
        """Augment one waveform (numpy or torch, 1-D); ``kind`` forces one augmentation, ``rng`` overrides the seed."""
        if kind not in (
            None,
            "none",
            *self.kinds,
        ):  # also a kind whose files this augmenter did not load
            valid = ", ".join(dict.fromkeys(("none", *self.kinds)))
            raise ValueError(f"unknown augmentation kind {kind!r}; valid here: {valid}")
        rng = rng if rng is not None else self.rng
        kind = kind or self.pick(rng)
        is_torch = hasattr(wav, "detach")
        x = wav.detach().cpu().numpy() if is_torch else np.asarray(wav)
        x = x.astype(np.float32, copy=True)
        if x.ndim != 1:
            raise ValueError(f"expected a 1-D waveform, got shape {x.shape}")
        if kind == "reverb":
            x = self.reverberate(x, rng)
        elif kind in CATEGORIES:
            x = self.add_noise(x, kind, rng).astype(np.float32)
        elif kind == "telephone":
            x = self.telephone(x, rng)
        elif kind != "none":
            raise ValueError(f"unknown augmentation kind {kind!r}")
        if is_torch:
            return torch.from_numpy(x).to(wav.device)
        return x
