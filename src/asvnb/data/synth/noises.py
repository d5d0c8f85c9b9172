"""Augmentation material that stands in for MUSAN music/noise and the RIRS_NOISES simulated rooms.

What each is: music = synthesised notes and chords (harmonic tones with
attack/decay envelopes over a chord progression, plus a percussive noise
burst track); noise = coloured noises (white, pink, brown), mains hum with
harmonics, fan-like band noise and babble-like amplitude-modulated noise;
RIRs = a direct path, sparse early reflections and an exponentially
decaying, progressively low-passed noise tail whose RT60 grows with the room
size (small / medium / large, as in the real simulated_rirs folders).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

from asvnb.data.synth.sources import SR

ROOM_RT60 = {"smallroom": (0.2, 0.4), "mediumroom": (0.4, 0.8), "largeroom": (0.8, 1.3)}
NOISE_KINDS = ("white", "pink", "brown", "hum", "fan", "babble")


def music(seconds: float, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """A few bars of synthesised music: chords, a melody and a percussion track."""
    n = int(seconds * sr)
    out = np.zeros(n)
    bpm = rng.uniform(70, 140)
    beat = int(60 / bpm * sr)
    root = rng.integers(45, 58)  # MIDI note of the key
    progression = [0, 5, 7, 0] if rng.random() < 0.5 else [0, 9, 5, 7]
    harmonics = rng.uniform(0.2, 0.8, size=6) ** np.arange(1, 7)  # timbre of this piece

    def tone(midi: float, length: int, amp: float) -> np.ndarray:
        """One note: this piece's harmonics under a fast attack and exponential decay."""
        t = np.arange(length) / sr
        f = 440.0 * 2 ** ((midi - 69) / 12)
        wave = sum(
            h * np.sin(2 * np.pi * f * (k + 1) * t)
            for k, h in enumerate(harmonics)
            if f * (k + 1) < sr / 2
        )
        env = np.minimum(1.0, t / 0.01) * np.exp(-t * rng.uniform(1.5, 4.0))
        return amp * wave * env

    for i, start in enumerate(range(0, n, 4 * beat)):
        chord = root + progression[i % len(progression)]
        for interval in (0, 4 if rng.random() < 0.6 else 3, 7):
            seg = tone(chord + interval, min(4 * beat, n - start), 0.15)
            out[start : start + len(seg)] += seg
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    for start in range(0, n, beat // 2):
        if rng.random() < 0.7:
            seg = tone(root + 12 + rng.choice(scale), min(beat // 2, n - start), 0.25)
            out[start : start + len(seg)] += seg
    for start in range(0, n, beat):  # percussion: short decaying noise bursts
        length = min(int(0.08 * sr), n - start)
        out[start : start + length] += (
            0.2 * rng.standard_normal(length) * np.exp(-np.arange(length) / (0.015 * sr))
        )
    return (0.5 * out / (np.max(np.abs(out)) + 1e-9)).astype(np.float32)


def noise(kind: str, seconds: float, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """One stationary or slowly varying noise of ``kind`` (see NOISE_KINDS)."""
    n = int(seconds * sr)
    white = rng.standard_normal(n)
    t = np.arange(n) / sr
    if kind == "white":
        x = white
    elif kind == "pink":  # Voss-McCartney-like 1/f filter (Kellet's coefficients)
        x = lfilter(
            [0.049922035, -0.095993537, 0.050612699, -0.004408786],
            [1, -2.494956002, 2.017265875, -0.522189400],
            white,
        )
    elif kind == "brown":
        x = np.cumsum(white)
        x = x - np.convolve(x, np.ones(sr // 10) / (sr // 10), mode="same")  # remove the drift
    elif kind == "hum":
        f0 = rng.choice([50.0, 60.0])
        x = (
            sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) / k for k in range(1, 8))
            + 0.05 * white
        )
    elif kind == "fan":
        lo = rng.uniform(100, 400)
        x = sosfilt(
            butter(4, (lo, lo * rng.uniform(3, 8)), btype="bandpass", fs=sr, output="sos"), white
        )
        x *= 1 + 0.2 * np.sin(2 * np.pi * rng.uniform(5, 30) * t)
    elif kind == "babble":  # speech-shaped noise with syllable-rate modulation
        x = sosfilt(butter(2, (200, 3500), btype="bandpass", fs=sr, output="sos"), white)
        x *= 1 + 0.8 * np.abs(np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 6.28)))
    else:
        raise ValueError(f"unknown noise kind {kind!r}; valid: {', '.join(NOISE_KINDS)}")
    return (0.3 * x / (np.max(np.abs(x)) + 1e-9)).astype(np.float32)


def rir(room: str, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """A simulated room impulse response: direct path, early reflections, exponential low-passed tail."""
    if room not in ROOM_RT60:
        raise ValueError(f"unknown room size {room!r}; valid: {', '.join(ROOM_RT60)}")
    rt60 = rng.uniform(*ROOM_RT60[room])
    n = int((rt60 + 0.05) * sr)
    t = np.arange(n) / sr
    h = np.zeros(n)
    direct = int(rng.uniform(0.001, 0.01) * sr)
    h[direct] = 1.0
    for _ in range(rng.integers(6, 14)):  # early reflections within 5-50 ms of the direct path
        k = direct + int(rng.uniform(0.005, 0.05) * sr)
        if k < n:
            h[k] += rng.uniform(-0.6, 0.6)
    tail = rng.standard_normal(n) * np.exp(-6.91 * t / rt60)  # -60 dB at t = RT60
    tail[:direct] = 0.0
    tail = sosfilt(
        butter(2, rng.uniform(3000, 7000), fs=sr, output="sos"), tail
    )  # walls absorb the highs
    h = h + 0.3 * tail
    return (h / np.max(np.abs(h))).astype(np.float32)
