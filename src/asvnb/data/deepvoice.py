"""Kaggle DEEP-VOICE: listing of ``KAGGLE/AUDIO/{REAL,FAKE}``, name parsing, and a Dataset of N-second segments.

Real files are named ``<person>-original.wav``; fake files ``<a>-to-<b>.wav``
are person ``a``'s speech converted (retrieval-based voice conversion) to the
voice of person ``b``. The real recordings are long (about 600 s), stereo,
44.1 or 48 kHz: :class:`DeepVoiceSegments` cuts them into segments without
decoding whole files, averaging channels and resampling with a logged note.
Labels follow the study 04 source: real 1, fake 0 (``real_label`` changes it).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asvnb.audio import audio_info, load_segment
from asvnb.data import ProtocolError, WaveformDataset, require

log = logging.getLogger(__name__)

_REAL = re.compile(r"^(?P<src>[A-Za-z0-9_]+)-original$")
_FAKE = re.compile(r"^(?P<src>[A-Za-z0-9_]+)-to-(?P<tgt>[A-Za-z0-9_]+)$")


@dataclass(frozen=True)
class DeepVoiceFile:
    """One recording: ``label`` real/fake, ``source`` the person speaking, ``target`` the voice heard."""

    path: Path
    label: str
    source: str
    target: str


def parse_deepvoice_name(path: str | Path) -> tuple[str, str, str]:
    """``(label, source, target)`` from a file name: ``biden-original.wav`` -> (real, biden, biden),
    ``linus-to-musk.wav`` -> (fake, linus, musk); names are lower-cased."""
    stem = Path(path).stem
    if m := _REAL.match(stem):
        return "real", m["src"].lower(), m["src"].lower()
    if m := _FAKE.match(stem):
        return "fake", m["src"].lower(), m["tgt"].lower()
    raise ProtocolError(
        path, None, "file name is neither '<person>-original.wav' nor '<a>-to-<b>.wav'"
    )


def source_recording(segment_id: str) -> str:
    """The real recording a :class:`DeepVoiceSegments` segment's speech comes from: ``<a>`` of ``<a>-original_3``
    and ``<a>-to-<b>_3``.

    A fake file is a conversion of its source person's real recording, so it
    carries that recording's words and timing: a split that keeps recordings
    apart must keep each real file and the fakes made from it on one side.
    """
    return parse_deepvoice_name(segment_id.rsplit("_", 1)[0] + ".wav")[1]


def audio_root(root: str | Path) -> Path:
    """The ``AUDIO`` folder: under ``root/KAGGLE``, ``root`` being the data root or ``KAGGLE`` itself."""
    root = Path(root).expanduser()
    for cand in (root / "KAGGLE" / "AUDIO", root / "AUDIO"):
        if cand.is_dir():
            return cand
    return require("deepvoice", root / "KAGGLE" / "AUDIO")


def list_deepvoice(root: str | Path) -> list[DeepVoiceFile]:
    """Every REAL and FAKE wav, sorted by name; a name that does not fit its folder is an error."""
    audio = audio_root(root)
    out = []
    for folder, want in (("REAL", "real"), ("FAKE", "fake")):
        d = require("deepvoice", audio / folder)
        files = sorted(p for p in d.iterdir() if p.suffix.lower() == ".wav")
        if not files:
            raise ProtocolError(d, None, "no .wav files in this folder")
        for p in files:
            label, src, tgt = parse_deepvoice_name(p)
            if label != want:
                raise ProtocolError(p, None, f"a {label} file name in the {folder} folder")
            out.append(DeepVoiceFile(p, label, src, tgt))
    return out


class DeepVoiceSegments(WaveformDataset):
    """``(waveform, label, id)`` for consecutive ``seconds``-long segments of each file (id ``<stem>_<k>``, k from 1).

    As the study 04 source cuts (pydub, ``range(0, len, 30000)``), the shorter last
    piece is kept; pieces shorter than ``min_seconds`` are dropped with a note.
    """

    def __init__(
        self,
        files: list[DeepVoiceFile],
        seconds: float = 30.0,  # segment length: the source's 30 s
        sr: int = 16000,  # every segment is read at this rate
        real_label: int = 1,  # fake files get 1 - real_label
        min_seconds: float = 0.0,  # a shorter last piece is dropped, with a log note
        **kwargs: Any,  # WaveformDataset's (crop, augmentation, seed)
    ) -> None:
        items, self.spans = [], []
        for f in files:
            info = audio_info(f.path)
            seg = int(round(seconds * info.samplerate))
            for k, start in enumerate(range(0, info.frames, seg)):
                stop = min(start + seg, info.frames)
                if stop - start < min_seconds * info.samplerate:
                    log.info(
                        "%s: last piece of %.2f s dropped (< %.2f s)",
                        f.path,
                        (stop - start) / info.samplerate,
                        min_seconds,
                    )
                    continue
                label = real_label if f.label == "real" else 1 - real_label
                items.append((f.path, label, f"{f.path.stem}_{k + 1}"))
                self.spans.append((start, stop))
        super().__init__(items, sr=sr, **kwargs)

    def load(self, index: int) -> np.ndarray:
        """Decode only this segment's frames."""
        start, stop = self.spans[index]
        return load_segment(self.items[index][0], start, stop, sr=self.sr)
