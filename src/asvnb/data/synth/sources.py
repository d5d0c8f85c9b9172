"""Bona fide speech from Debian packages: which packages, which speakers, how to decode them.

Speaker identities: one Asterisk voice folder is one speaker (Allison's en_US
and es_MX folders are merged: the same professional speaker); one KLettres
language folder and one KTuberling language folder are one speaker each (a
KLettres folder may mix two speakers and one volunteer may have recorded both
games in a language: the data chapter says so; splits are disjoint by these IDs).
The Italian Menardi prompts are 8 kHz telephone band, so they only feed MUSAN
speech (augmentation), never a class of a detection dataset.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asvnb.audio import INT16_FULL_SCALE, AudioError, audio_info, load_audio

SR = 16000
ASTERISK_ROOT = Path("/usr/share/asterisk/sounds")
KLETTRES_ROOT = Path("/usr/share/klettres")
KTUBERLING_ROOT = Path("/usr/share/ktuberling/sounds")

# Debian packages the corpus needs: speech sources, the espeak-ng TTS engine and ffmpeg (G.722 codec).
DEBIAN_PACKAGES = (
    "asterisk-core-sounds-en-g722",
    "asterisk-core-sounds-es-g722",
    "asterisk-core-sounds-fr-g722",
    "asterisk-core-sounds-it-g722",
    "asterisk-core-sounds-ru-g722",
    "asterisk-prompt-it-menardi-wav",
    "klettres-data",
    "ktuberling-data",
    "espeak-ng",
    "ffmpeg",
)


@dataclass(frozen=True)
class SourceInfo:
    """One family of recordings and its licence (from /usr/share/doc/<package>/copyright)."""

    packages: tuple[str, ...]
    licence: str
    description: str


SOURCES = {
    "asterisk": SourceInfo(
        DEBIAN_PACKAGES[:5],
        "CC-BY-SA-3.0",
        "Asterisk core sound prompts: professional IVR voices, G.722 coded at 16 kHz",
    ),
    "menardi": SourceInfo(
        ("asterisk-prompt-it-menardi-wav",),
        "CC-BY-SA-3.0",
        "Italian Asterisk prompts by Marco Menardi / Paola Dal Zot, 8 kHz PCM",
    ),
    "klettres": SourceInfo(
        ("klettres-data",),
        "GPL-2+",
        "KLettres letters and syllables read by KDE volunteers, one folder per language",
    ),
    "ktuberling": SourceInfo(
        ("ktuberling-data",),
        "GPL-2+",
        "KTuberling object names read by KDE volunteers, one folder per language",
    ),
}


class SystemPackagesMissing(RuntimeError):
    """Debian packages the corpus needs are not installed and we cannot install them."""


def install_line(missing: list[str]) -> str:
    """The exact command that installs ``missing``."""
    return "apt-get update && apt-get install -y --no-install-recommends " + " ".join(missing)


def missing_packages(packages: tuple[str, ...] = DEBIAN_PACKAGES) -> list[str]:
    """Packages of ``packages`` that dpkg does not report as installed."""
    missing = []
    for pkg in packages:
        res = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True
        )
        if res.returncode != 0 or "install ok installed" not in res.stdout:
            missing.append(pkg)
    return missing


def ensure_packages(packages: tuple[str, ...] = DEBIAN_PACKAGES) -> list[str]:
    """Install missing packages with apt when root, else raise with the exact install line; returns what was installed."""
    missing = missing_packages(packages)
    if not missing:
        return []
    line = install_line(missing)
    if os.geteuid() != 0:
        raise SystemPackagesMissing(
            f"the embedded corpus needs Debian packages that are missing: run\n  sudo {line}"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    res = subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemPackagesMissing(f"`{line}` failed:\n{res.stderr[-2000:]}")
    return missing


@dataclass(frozen=True)
class Speaker:
    """One speaker identity: its recordings (paths) and what we know of it."""

    name: str  # e.g. "asterisk/en_US_f_Allison", "klettres/de", "ktuberling/fr"
    source: str
    lang: str
    gender: str | None  # "female"/"male" when the folder says so, else estimated later from F0
    files: tuple[Path, ...]
    seconds: float  # total duration from the headers (silence included)


def _file_seconds(path: Path) -> float:
    if path.suffix == ".g722":
        return path.stat().st_size / 8000.0  # 64 kbit/s: 8000 bytes per second
    return audio_info(path).duration


@functools.lru_cache(
    maxsize=4
)  # reads ~6000 headers; the packages do not change while a process runs
def inventory(
    min_sr: int = SR, min_seconds: float = 40.0, max_file_s: float = 8.0
) -> tuple[Speaker, ...]:
    """All speakers of the installed packages with at least ``min_seconds`` of wideband (>= ``min_sr``) audio."""
    speakers = []
    groups: dict[str, list[Path]] = {}
    for voice in sorted(ASTERISK_ROOT.glob("*_*_[fm]_*")):
        files = [
            p
            for p in sorted(voice.rglob("*.g722"))
            if not any(w in p.stem for w in ("beep", "tone", "silence"))
            and "silence" not in p.parts
        ]
        if files:
            key = "en_US_f_Allison" if voice.name.endswith("_f_Allison") else voice.name
            groups.setdefault(key, []).extend(files)
    for key, files in groups.items():
        lang, _, gender = key.split("_")[:3]
        speakers.append(
            Speaker(
                f"asterisk/{key}",
                "asterisk",
                lang,
                "female" if gender == "f" else "male",
                tuple(files),
                0.0,
            )
        )
    for source, root in (("klettres", KLETTRES_ROOT), ("ktuberling", KTUBERLING_ROOT)):
        for folder in sorted(p for p in root.glob("*") if p.is_dir()):
            files = sorted(
                p for p in folder.rglob("*") if p.suffix in (".ogg", ".wav") and p.is_file()
            )
            if files:
                speakers.append(
                    Speaker(f"{source}/{folder.name}", source, folder.name, None, tuple(files), 0.0)
                )
    out = []
    for spk in speakers:
        keep, total = [], 0.0
        for p in spk.files:
            secs = _file_seconds(p)
            rate = SR if p.suffix == ".g722" else audio_info(p).samplerate
            if (
                rate >= min_sr and 0.2 <= secs <= max_file_s
            ):  # very long files are menus, not utterances
                keep.append(p)
                total += secs
        if total >= min_seconds:
            out.append(Speaker(spk.name, spk.source, spk.lang, spk.gender, tuple(keep), total))
    return tuple(out)


def menardi_files() -> list[Path]:
    """The 8 kHz Italian Menardi prompts (MUSAN speech only)."""
    return sorted((ASTERISK_ROOT / "it_IT_f_Menardi").rglob("*.wav"))


# ffmpeg reading raw G.722 on stdin and writing 16 kHz mono int16 PCM on stdout (also the channel simulation's)
G722_DECODE = f"ffmpeg -v error -f g722 -i - -f s16le -ac 1 -ar {SR} -".split()


def decode_g722(files: list[Path]) -> list[np.ndarray]:
    """Decode many raw G.722 files with one ffmpeg process: concatenate the bytes, split the samples (2 per byte)."""
    if not files:
        return []
    if shutil.which("ffmpeg") is None:
        raise SystemPackagesMissing(f"ffmpeg not found: run\n  {install_line(['ffmpeg'])}")
    blobs = [Path(f).read_bytes() for f in files]
    res = subprocess.run(
        G722_DECODE,
        input=b"".join(blobs),
        capture_output=True,
    )
    if res.returncode != 0:
        raise AudioError(
            f"ffmpeg could not decode G.722 batch starting at {files[0]}: {res.stderr.decode()[-500:]}"
        )
    pcm = np.frombuffer(res.stdout, dtype="<i2").astype(np.float32) / INT16_FULL_SCALE
    out, pos = [], 0
    for f, b in zip(files, blobs):
        n = 2 * len(b)
        if pos + n > len(pcm):
            raise AudioError(f"{f}: G.722 decoding returned fewer samples than its size implies")
        out.append(pcm[pos : pos + n].copy())
        pos += n
    return out


def trim(wav: np.ndarray, top_db: float = 30.0) -> np.ndarray:
    """Cut leading and trailing silence (librosa's energy rule)."""
    import librosa

    return librosa.effects.trim(wav, top_db=top_db, frame_length=512, hop_length=128)[0]


def load_prompts(
    files: list[Path], min_active_s: float = 0.25, top_db: float = 30.0
) -> dict[str, np.ndarray]:
    """Decode files to 16 kHz mono, trim silence, and drop the silence-only ones (keyed by path)."""
    g722 = [f for f in files if f.suffix == ".g722"]
    wavs = dict(zip(map(str, g722), decode_g722(g722)))
    for f in files:
        if f.suffix != ".g722":
            wavs[str(f)] = load_audio(f, SR)
    out = {}
    for f in files:
        w = wavs[str(f)]
        if np.max(np.abs(w)) < 1e-3:  # digital silence: trim() would keep all of it
            continue
        w = trim(w, top_db)
        if len(w) >= min_active_s * SR:
            out[str(f)] = w.astype(np.float32)
    return out


def transcripts(spk: Speaker) -> tuple[str, ...]:
    """Texts of the kind this speaker's prompts hold, in his language, read off the file names the packages ship.

    KLettres names each file by the letter or syllable it holds; Asterisk's
    digits/ and letters/ folders name the number or letter. KTuberling names
    files by an English key, not by the word spoken, so its speakers (and any
    speaker with fewer than 10 such names) get numbers, which espeak-ng reads
    in the speaker's language.
    """
    texts: set[str] = set()
    for p in spk.files:
        spoken_name = spk.source == "klettres" or (
            spk.source == "asterisk"
            and (
                (p.parent.name == "digits" and p.stem.isdigit())
                or (p.parent.name == "letters" and len(p.stem) == 1)
            )
        )
        if spoken_name:  # the file is named for what it says
            texts.add(p.stem)
    if len(texts) < 10:
        texts |= {str(n) for n in range(100)}
    return tuple(sorted(texts))
