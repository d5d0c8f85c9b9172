"""The final channel every file of the corpus passes through, bona fide or spoofed.

Without it a detector could learn the recording chain instead of the spoofing:
TTS output is clean and full band, the prompts carry room noise, and silences
differ. So every file is trimmed, padded with the same random silence, given
the same noise floor, band-limited to 50-7000 Hz (the band of the Asterisk
prompts, whose G.722 coding stops there), and normalised to the same level
(with a random jitter independent of the class).

Version 1 of the corpus also sent every file through a G.722 round trip. Its
2-bit upper sub-band buries 4-7 kHz under coding noise, which hid most vocoder
artefacts from the challenge's LFCC baseline (measured: a WORLD-vocoder VC at
30 % dev EER with it, 12 % without). The real 2019 LA has no codec either; the
2021 LA evaluation set adds codecs as its conditions, and so does ours.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfiltfilt

from asvnb.audio import INT16_FULL_SCALE, INT16_MAX, AudioError, resample
from asvnb.data.synth.sources import G722_DECODE, SR, trim

G722_DELAY = 22  # samples: ffmpeg's G.722 encoder + decoder QMF delay, measured with an impulse


@dataclass(frozen=True)
class Channel:
    """Parameters of the shared channel (G.722 input band, P.56-like -26 dBFS level)."""

    band_hz: tuple[float, float] = (50.0, 7000.0)
    trim_top_db: float = 30.0
    pad_s: tuple[float, float] = (0.05, 0.25)  # leading and trailing silence, each drawn uniformly
    noise_floor_db: float = -60.0  # white noise relative to the speech RMS, before the band limit
    level_dbfs: float = -26.0
    level_jitter_db: float = 3.0  # uniform +- jitter, drawn per file independently of its class
    gap_s: float = 0.1  # zeros between files inside one G.722 batch
    codec: bool = False  # a G.722 round trip on top (version 1 did this; see the module docstring)


def prepare(
    wav: np.ndarray, sr: int, rng: np.random.Generator, ch: Channel = Channel()
) -> np.ndarray:
    """Everything of the channel before the codec: 16 kHz, trim, pad, noise floor, band limit, level."""
    x = resample(np.asarray(wav, dtype=np.float32), sr, SR).astype(np.float64)
    x = x - x.mean()
    if np.max(np.abs(x)) < 1e-4:
        raise AudioError("channel input is silent")
    x = trim(x.astype(np.float32), ch.trim_top_db).astype(np.float64)
    speech_rms = np.sqrt(np.mean(x**2))
    lead, tail = (int(rng.uniform(*ch.pad_s) * SR) for _ in range(2))
    x = np.concatenate([np.zeros(lead), x, np.zeros(tail)])
    x = x + rng.standard_normal(len(x)) * speech_rms * 10 ** (ch.noise_floor_db / 20)
    sos = butter(8, ch.band_hz, btype="bandpass", fs=SR, output="sos")
    x = sosfiltfilt(sos, x)
    target = 10 ** ((ch.level_dbfs + rng.uniform(-ch.level_jitter_db, ch.level_jitter_db)) / 20)
    x = x * target / np.sqrt(np.mean(x**2))
    return x.astype(np.float32)


def _round_trip(
    wavs: list[np.ndarray], name: str, encode: str, decode: list[str], delay: int, gap_s: float
) -> list[np.ndarray]:
    """Encode and decode 16 kHz waveforms with two ffmpeg processes for the whole batch (``encode``: the
    encoder's options and container, ``delay``: the samples the round trip adds in front, measured)."""
    gap = np.zeros(int(gap_s * SR), dtype=np.float32)
    parts, starts, pos = [], [], 0
    for w in wavs:
        parts += [gap, w]
        starts.append(pos + len(gap))
        pos += len(gap) + len(w)
    parts.append(np.zeros(len(gap) + delay, dtype=np.float32))
    pcm = (np.clip(np.concatenate(parts), -1.0, 1.0) * INT16_MAX).astype("<i2").tobytes()
    enc = f"ffmpeg -v error -f s16le -ar {SR} -ac 1 -i - {encode} -".split()
    coded = subprocess.run(enc, input=pcm, capture_output=True)
    if coded.returncode != 0:
        raise AudioError(f"ffmpeg {name} encoding failed: {coded.stderr.decode()[-500:]}")
    out = subprocess.run(decode, input=coded.stdout, capture_output=True)
    if out.returncode != 0:
        raise AudioError(f"ffmpeg {name} decoding failed: {out.stderr.decode()[-500:]}")
    y = np.frombuffer(out.stdout, dtype="<i2").astype(np.float32) / INT16_FULL_SCALE
    y = np.pad(y, (0, max(0, pos + delay - len(y))))
    return [y[s + delay : s + delay + len(w)].copy() for s, w in zip(starts, wavs)]


def g722_round_trip(wavs: list[np.ndarray], gap_s: float = 0.1) -> list[np.ndarray]:
    """Encode and decode 16 kHz waveforms through G.722 with two ffmpeg processes for the whole batch.

    The codec state carries over between files of a batch, so the output of a file
    depends (slightly) on its batch: callers keep batch composition fixed.
    """
    return _round_trip(wavs, "G.722", "-c:a g722 -f g722", G722_DECODE, G722_DELAY, gap_s)


OPUS_KBPS = 16  # wideband VoIP: Opus's SILK mode at 16 kHz (the real LA 2021's condition C7, "Opus, VoIP, 16 kHz")
OPUS_DECODE = f"ffmpeg -v error -f ogg -i - -f s16le -ac 1 -ar {SR} -".split()


def opus_round_trip(wavs: list[np.ndarray], gap_s: float = 0.1) -> list[np.ndarray]:
    """Encode and decode 16 kHz waveforms through Opus (libopus, VoIP mode, 16 kbit/s) for the whole batch.

    The Ogg decoder drops the encoder's pre-skip, so the round trip adds no delay
    (measured with a noise burst); as for G.722, a file's output depends slightly
    on its batch.
    """
    encode = f"-c:a libopus -b:a {OPUS_KBPS}k -application voip -f ogg"
    return _round_trip(wavs, "Opus", encode, OPUS_DECODE, 0, gap_s)


def apply(
    wavs: list[np.ndarray], srs: list[int], rngs: list[np.random.Generator], ch: Channel = Channel()
) -> list[np.ndarray]:
    """The whole channel for a fixed batch of files; outputs are 16 kHz float32 in [-1, 1]."""
    prepared = [prepare(w, sr, rng, ch) for w, sr, rng in zip(wavs, srs, rngs)]
    if not ch.codec:
        return [np.clip(y, -1.0, 1.0) for y in prepared]
    return [np.clip(y, -1.0, 1.0) for y in g722_round_trip(prepared, ch.gap_s)]
