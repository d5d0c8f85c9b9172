"""Audio I/O and waveform utilities shared by every study.

All file I/O goes through soundfile: torchaudio's own load/save needs torchcodec
and FFmpeg, which the CPU machines this book is built on do not have.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf

from asvnb import files

INT16_FULL_SCALE = 32768.0  # int16 sample -> float: divide by this (the value of -1.0)
INT16_MAX = 32767  # float -> int16: multiply by this, so +1.0 does not overflow

log = logging.getLogger(__name__)


class AudioError(ValueError):
    """An audio file that cannot be used: unreadable, empty, truncated or with NaN/inf samples."""


class AudioConversionWarning(UserWarning):
    """A loader changed the audio to what the caller asked for: channels averaged to mono, or resampled."""


# Conversions already reported by a warning in this process: (channels, file rate, target rate). A dataset
# converts every file alike (Common Voice: thousands of 48 kHz MP3s), so one warning per kind says it all.
_REPORTED: set[tuple[int, int, int | None]] = set()
_EXPECTED = 0  # depth of nested expected_conversions() blocks


@contextmanager
def expected_conversions() -> Iterator[None]:
    """Loads inside this block convert on purpose (e.g. building the corpus from 22.05 kHz TTS): logged, not warned."""
    global _EXPECTED
    _EXPECTED += 1
    try:
        yield
    finally:
        _EXPECTED -= 1


def load_audio(path: str | Path, sr: int | None = 16000, *, expected: bool = False) -> np.ndarray:
    """Read a file as mono float32 at ``sr`` Hz (``None`` keeps the file's rate); NaN/inf samples are an error.

    A downmix or a resampling is logged for every file (INFO) and shown once per
    kind of conversion (channels, rates) by an :class:`AudioConversionWarning`
    naming the first file; ``expected=True`` (a caller that converts on purpose)
    only logs.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    check_complete(path)
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for bad files
        raise AudioError(f"{path}: unreadable audio ({exc})") from exc
    if data.shape[0] == 0:
        raise AudioError(f"{path}: empty audio (0 samples)")
    return _mono_at(data, file_sr, sr, path, expected)


def _check_finite(data: np.ndarray, file_sr: int, path: Path, offset: int = 0) -> None:
    # float WAV/FLAC can hold NaN or inf; one such sample makes every feature and score of the file meaningless
    bad = ~np.isfinite(data).all(axis=1)
    if bad.any():
        first = offset + int(np.flatnonzero(bad)[0])
        raise AudioError(
            f"{path}: {int(bad.sum())} frame(s) with NaN or inf samples, first at frame {first} "
            f"({first / file_sr:.3f} s); the file is corrupt"
        )


def _mono_at(
    data: np.ndarray,
    file_sr: int,
    sr: int | None,
    path: Path,
    expected: bool = False,
    offset: int = 0,
) -> np.ndarray:
    """Frames x channels as read -> mono float32 at ``sr``, each conversion logged with the file's name."""
    _check_finite(data, file_sr, path, offset)
    done = []
    if data.shape[1] > 1:
        log.info("%s: %d channels, averaged to mono", path, data.shape[1])
        done.append(f"{data.shape[1]} channels averaged to mono")
    wav = data.mean(axis=1)
    if sr is not None and file_sr != sr:
        log.info("%s: resampled from %d Hz to %d Hz", path, file_sr, sr)
        done.append(f"resampled from {file_sr} Hz to {sr} Hz")
        wav = resample(wav, file_sr, sr)
    kind = (data.shape[1], file_sr, sr)
    if done and not (expected or _EXPECTED) and kind not in _REPORTED:
        _REPORTED.add(kind)
        warnings.warn(
            f"{path}: {' and '.join(done)} (further files converted the same way are not reported)",
            AudioConversionWarning,
            stacklevel=3,
        )
    return wav.astype(np.float32, copy=False)


def check_complete(path: str | Path) -> None:
    """Raise :class:`AudioError` if a WAV header declares more audio data than the file holds.

    libsndfile reads a truncated WAV as a shorter file without complaint (a
    truncated FLAC fails to decode on its own); its header report says
    ``data : <declared> (should be <present>)``, which is what is checked here.
    """
    info = audio_info(path)
    m = re.search(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", info.extra_info, re.M)
    if m and int(m[1]) > int(m[2]):
        raise AudioError(
            f"{path}: truncated audio (header declares {m[1]} bytes of data, the file holds {m[2]})"
        )


def audio_info(path: str | Path) -> sf._SoundFileInfo:
    """Header of an audio file (rate, channels, frames) without decoding it."""
    try:
        return sf.info(str(path))
    except Exception as exc:
        raise AudioError(f"{path}: unreadable audio header ({exc})") from exc


def save_audio(path: str | Path, wav: np.ndarray, sr: int) -> Path:
    """Write mono audio; the format follows the suffix (.flac, .wav, .mp3, ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1:
        raise ValueError(f"{path}: expected mono audio, got shape {wav.shape}")
    subtype = "PCM_16" if path.suffix.lower() in {".flac", ".wav"} else None
    fmt = path.suffix.lstrip(".").upper()
    with files.atomic_path(path) as tmp:  # an interrupted write never leaves a truncated file
        sf.write(str(tmp), np.clip(wav, -1.0, 1.0), sr, subtype=subtype, format=fmt)
    return path


def resample(wav: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling (librosa's soxr_hq)."""
    if orig_sr == target_sr:
        return wav
    import librosa  # heavy (numba), and only resampling needs it

    return librosa.resample(
        np.asarray(wav, dtype=np.float32), orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq"
    )


def crop_or_pad(
    wav: np.ndarray,
    length: int,
    *,
    random_crop: bool = False,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Fix the length: crop (start or random offset) or repeat-pad as in the ASVspoof baselines."""
    n = len(wav)
    if n == 0:
        raise AudioError("cannot crop or pad an empty waveform")
    if n >= length:
        start = 0
        if random_crop and n > length:
            start = int((rng or np.random.default_rng()).integers(0, n - length + 1))
        return wav[start : start + length]
    reps = int(np.ceil(length / n))
    return np.tile(wav, reps)[:length]


def segment(wav: np.ndarray, seg_len: int, *, drop_last: bool = True) -> list[np.ndarray]:
    """Cut into consecutive non-overlapping segments of ``seg_len`` samples."""
    if seg_len <= 0:
        raise ValueError(f"segment length must be positive, got {seg_len}")
    n_full = len(wav) // seg_len
    out = [wav[i * seg_len : (i + 1) * seg_len] for i in range(n_full)]
    if not drop_last and len(wav) % seg_len:
        out.append(wav[n_full * seg_len :])
    return out


def peak_normalise(wav: np.ndarray, peak: float = 1.0, eps: float = 1e-8) -> np.ndarray:
    """Scale so the largest magnitude is ``peak``; silence is returned unchanged, never divided by zero."""
    m = float(np.max(np.abs(wav))) if len(wav) else 0.0
    if m < eps:
        return wav.copy()
    return wav * (peak / m)


def rms_db(wav: np.ndarray, eps: float = 1e-10) -> float:
    """RMS level in dBFS; silence gives a finite floor instead of -inf."""
    return float(10.0 * np.log10(np.mean(np.square(wav, dtype=np.float64)) + eps))


def load_segment(
    path: str | Path, start: int, stop: int, sr: int | None = 16000, *, expected: bool = False
) -> np.ndarray:
    """Read frames ``[start, stop)`` (in the file's own rate) as mono float32 at ``sr`` Hz.

    Long recordings (DEEP-VOICE: about 600 s of 44.1 kHz stereo) are cut
    without decoding the whole file; a file shorter than ``stop`` is an error.
    NaN/inf samples and conversions are handled as in :func:`load_audio`.
    """
    path = Path(path)
    if not 0 <= start < stop:
        raise ValueError(f"{path}: bad frame range [{start}, {stop})")
    check_complete(path)
    try:
        data, file_sr = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"{path}: unreadable audio ({exc})") from exc
    if data.shape[0] != stop - start:
        raise AudioError(
            f"{path}: truncated audio (frames {start}-{stop} requested, {data.shape[0]} read)"
        )
    return _mono_at(data, file_sr, sr, path, expected, offset=start)


def concatenate_by(
    groups: Mapping[Hashable, Sequence[str | Path]], sr: int = 16000
) -> dict[Hashable, np.ndarray]:
    """Concatenate the files of each group (e.g. key ``(speaker, label)``) in the order given."""
    out = {}
    for key, paths in groups.items():
        if not paths:
            raise ValueError(f"group {key!r} has no files")
        out[key] = np.concatenate([load_audio(p, sr=sr) for p in paths])
    return out


def concat_segments(
    groups: Mapping[Hashable, Sequence[str | Path]],
    seconds: float = 30.0,
    sr: int = 16000,
    drop_last: bool = False,
) -> Iterator[tuple[Hashable, int, np.ndarray]]:
    """Concatenate each group's files and cut the result into ``seconds``-long pieces: yields ``(key, index, piece)``.

    The study 04 source's ASVspoof preprocessing: all utterances of one speaker and one
    label joined, then cut every 30 s with the shorter last piece kept
    (``drop_last=False``, as its ``range(0, len, 30000)`` loop does). Streams
    file by file, so a group of an hour of audio never sits in memory whole.
    """
    seg_len = int(round(seconds * sr))
    if seg_len <= 0:
        raise ValueError(f"segment length must be positive, got {seconds} s")
    for key, paths in groups.items():
        if not paths:
            raise ValueError(f"group {key!r} has no files")
        buf, n, index = [], 0, 0
        for p in paths:
            wav = load_audio(p, sr=sr)
            buf.append(wav)
            n += len(wav)
            while n >= seg_len:
                joined = np.concatenate(buf)
                yield key, index, joined[:seg_len]
                index += 1
                buf, n = [joined[seg_len:]], n - seg_len
        if n and not drop_last:
            yield key, index, np.concatenate(buf)
