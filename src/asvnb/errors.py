"""Errors of the dataset adapters and score readers, the text reader that raises them, and the catalogue of the real datasets' sources (the base layer: no torch, so metrics can use it)."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Source:
    """Where a real dataset is downloaded from, and under which licence."""

    name: str
    url: str
    licence: str


SOURCES: dict[str, Source] = {
    "asvspoof2019_la": Source(
        "ASVspoof 2019 LA", "https://datashare.ed.ac.uk/handle/10283/3336", "ODC-By 1.0"
    ),
    "asvspoof2021_la": Source(
        "ASVspoof 2021 LA eval",
        "https://zenodo.org/record/4837263 (audio), "
        "https://www.asvspoof.org/index2021.html (keys: LA-keys-stage-1 / LA-keys-full)",
        "ODC-By 1.0",
    ),
    "commonvoice": Source(
        "Common Voice 14.0 delta (en)", "https://commonvoice.mozilla.org/datasets", "CC0 1.0"
    ),
    "deepvoice": Source(
        "DEEP-VOICE: DeepFake Voice Recognition (Kaggle)",
        "https://www.kaggle.com/datasets/birdy654/deep-voice-deepfake-voice-recognition",
        "as stated on the Kaggle page (not verified here)",
    ),
    "imitation": Source(
        "Fake voice recordings (Imitation), Mendeley Data",
        "https://data.mendeley.com/datasets/ytkv9w92t6/1",
        "CC BY 4.0",
    ),
    "musan": Source("MUSAN", "https://www.openslr.org/17/", "CC BY 4.0"),
    "rirs_noises": Source("RIRS_NOISES", "https://www.openslr.org/28/", "Apache 2.0"),
}


class DatasetMissing(FileNotFoundError):
    """A dataset (or one of its required folders/files) is not where the adapter looked."""

    def __init__(self, dataset: str, path: str | Path, what: str = "folder"):
        src = SOURCES[dataset]
        self.dataset, self.path = src.name, Path(path)
        super().__init__(
            f"{src.name}: {what} not found at {path}. Download it from {src.url} "
            f"(licence: {src.licence}) and unpack it there, or build the embedded "
            f"corpus with `asvnb data synth`."
        )


class ProtocolError(ValueError):
    """A malformed line of a protocol, key, score or metadata file."""

    def __init__(self, path: str | Path, line_no: int | None, message: str, line: str = ""):
        self.path, self.line_no = Path(path), line_no
        shown = f": {line.rstrip()!r}" if line else ""
        where = f"{path}:{line_no}" if line_no else f"{path}"
        super().__init__(f"{where}: {message}{shown}")


def text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line_no, line)`` of a UTF-8 text file, line endings kept; every protocol, key, score and table reader uses it.

    A UTF-8 byte-order mark is dropped (else it sticks to the first ID: one
    speaker becomes two). Text that is not UTF-8 (Latin-1, UTF-16, binary) is a
    :class:`ProtocolError` naming the file and the line, not a bare
    ``UnicodeDecodeError``.
    """
    path = Path(path)
    with open(path, "rb") as f:  # bytes, decoded line by line, so that an error knows its line
        for i, raw in enumerate(f, start=1):
            if i == 1:
                if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    raise ProtocolError(
                        path,
                        None,
                        "UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8",
                    )
                if raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
            if b"\x00" in raw:  # valid UTF-8, but UTF-16 without a byte-order mark looks like this
                raise ProtocolError(
                    path, i, "NUL bytes: UTF-16 or binary data, not UTF-8 text; save it as UTF-8"
                )
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ProtocolError(
                    path,
                    i,
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}; "
                    "Latin-1 or another encoding?); save it as UTF-8",
                    raw.decode("utf-8", "replace"),
                ) from None
            yield i, line


def json_object(path: str | Path, remedy: str) -> dict:
    """The object a JSON file holds; otherwise a ValueError naming the file, what is wrong and ``remedy``."""
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); {remedy}") from exc
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(content).__name__}")
    return content
