"""Fake voice recordings (Imitation), Mendeley: ``Fake_voice_recordings_Imitation/{real,fake}/*.wav``.

The study 04 source's unseen test set: whole clips of a few seconds, not cut. Labels
as in the study 04 source: real 1, fake 0 (``real_label`` changes it).
"""

from __future__ import annotations

from pathlib import Path

from asvnb.data import ProtocolError, WaveformDataset, require

FOLDER = "Fake_voice_recordings_Imitation"


def list_imitation(root: str | Path) -> list[tuple[Path, str]]:
    """``(path, 'real'|'fake')`` of every wav, sorted; ``root`` is the data root or the set's folder."""
    root = Path(root).expanduser()
    base = (
        root
        if (root / "real").is_dir() and root.name == FOLDER
        else require("imitation", root / FOLDER)
    )
    out = []
    for label in ("real", "fake"):
        d = require("imitation", base / label)
        files = sorted(p for p in d.iterdir() if p.suffix.lower() == ".wav")
        if not files:
            raise ProtocolError(d, None, "no .wav files in this folder")
        out += [(p, label) for p in files]
    return out


class ImitationDataset(WaveformDataset):
    """``(waveform, label, id)`` of whole clips (``n_samples=None`` keeps every clip's own length)."""

    def __init__(self, root: str | Path, sr: int = 16000, real_label: int = 1, **kwargs):
        items = [
            (p, real_label if lab == "real" else 1 - real_label, f"{lab}/{p.stem}")
            for p, lab in list_imitation(root)
        ]
        super().__init__(items, sr=sr, **kwargs)
