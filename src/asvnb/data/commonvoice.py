"""Common Voice (14.0 delta, English): tsv tables and a Dataset of bona fide clips.

Layout: ``cv-corpus-14.0-delta-2023-06-23/en/`` with ``clips/*.mp3`` and the
tab-separated tables ``validated.tsv``, ``invalidated.tsv``, ``other.tsv``
(header ``client_id path sentence up_votes down_votes age gender accents
variant locale segment``; ``client_id`` is the speaker hash). Clips are MP3
at 48 kHz (mostly) and are read with soundfile (libsndfile >= 1.1 decodes MP3).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from asvnb.data import ProtocolError, WaveformDataset, require, text_lines

RELEASE = "cv-corpus-14.0-delta-2023-06-23"
REQUIRED_COLUMNS = ("client_id", "path", "sentence")


@dataclass(frozen=True)
class CVClip:
    """One row of a Common Voice table; ``meta`` holds the other columns (age, gender, accents, ...)."""

    client_id: str
    path: str
    sentence: str
    meta: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


def read_cv_tsv(path: str | Path) -> list[CVClip]:
    """Read a Common Voice table (validated.tsv, other.tsv, ...), checking its header and every row's width."""
    path = Path(path)
    # sentences contain quotes: the tables are not CSV-quoted, so quoting is off (one record per line)
    reader = csv.reader(
        (line for _, line in text_lines(path)), delimiter="\t", quoting=csv.QUOTE_NONE
    )
    header = next(reader, None)
    if header is None:
        raise ProtocolError(path, 1, "empty table (no header)")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ProtocolError(
            path, 1, f"header lacks column(s) {', '.join(missing)}", "\t".join(header)
        )
    out = []
    for row in reader:
        i = reader.line_num
        if not row or row == [""]:
            continue
        if len(row) != len(header):
            raise ProtocolError(
                path,
                i,
                f"expected {len(header)} tab-separated fields, found {len(row)}",
                "\t".join(row),
            )
        rec = dict(zip(header, row))
        if not rec["client_id"] or not rec["path"]:
            raise ProtocolError(path, i, "empty client_id or path", "\t".join(row))
        out.append(CVClip(rec.pop("client_id"), rec.pop("path"), rec.pop("sentence"), rec))
    return out


class CommonVoice:
    """One language of a Common Voice release: its tables and clip paths."""

    def __init__(self, root: str | Path, lang: str = "en", release: str = RELEASE):
        root = Path(root).expanduser()
        # accept the data root, the release folder, or the language folder itself
        for cand in (root / release / lang, root / lang, root):
            if (cand / "clips").is_dir():
                self.dir = cand
                break
        else:
            self.dir = require("commonvoice", root / release / lang / "clips").parent
        self.clips_dir = self.dir / "clips"

    def table(self, name: str = "validated") -> list[CVClip]:
        """Rows of ``<name>.tsv``; an unknown name is an error listing the tables there are."""
        path = self.dir / f"{name}.tsv"
        # reported.tsv lists sentence reports, not clips (other columns): never a table to read here
        if not path.is_file() and (
            present := sorted(p.stem for p in self.dir.glob("*.tsv") if p.stem != "reported")
        ):
            # a typo ('valdated') is not a missing download: name what can be read
            raise ValueError(f"{self.dir}: no table {name!r}; valid: {', '.join(present)}")
        return read_cv_tsv(require("commonvoice", path, f"table {name}.tsv"))

    def audio_path(self, clip: CVClip) -> Path:
        """The MP3 file of a clip."""
        return self.clips_dir / clip.path

    def dataset(self, table: str = "validated", label: int = 1, **kwargs) -> WaveformDataset:
        """Clips of one table, all with ``label`` (Common Voice is bona fide only); kwargs as WaveformDataset."""
        items = [(self.audio_path(c), label, Path(c.path).stem) for c in self.table(table)]
        return WaveformDataset(items, **kwargs)

    def speakers(self, table: str = "validated") -> dict[str, list[CVClip]]:
        """Clips grouped by speaker (``client_id``)."""
        out: dict[str, list[CVClip]] = {}
        for c in self.table(table):
            out.setdefault(c.client_id, []).append(c)
        return out
