"""Dataset adapters: one module per real dataset, each a protocol reader plus a torch Dataset.

The same adapters read the real downloads (on Colab) and the embedded corpus,
which is written in the same layouts (docs/LAYOUTS.md).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch.utils.data import Dataset

from asvnb.audio import crop_or_pad, load_audio
from asvnb.errors import SOURCES, DatasetMissing, ProtocolError, Source, text_lines

T = TypeVar("T")

__all__ = [
    "SOURCES",
    "DatasetMissing",
    "ProtocolError",
    "Source",
    "WaveformDataset",
    "balanced_subset",
    "require",
    "read_fields",
    "text_lines",
]


def require(dataset: str, path: str | Path, what: str = "folder") -> Path:
    """Return ``path`` if it exists, else raise :class:`DatasetMissing` naming the dataset and its download."""
    path = Path(path)
    if not path.exists():
        raise DatasetMissing(dataset, path, what)
    return path


def read_fields(
    path: str | Path,
    n_fields: int | tuple[int, ...],
    dataset: str | None = None,
    sep: str | None = None,
) -> Iterator[tuple[int, list[str], str]]:
    """Yield ``(line_no, fields, line)`` of a whitespace-separated text file, checking the field count.

    Blank lines (the real protocols may end with one) carry no record and are
    passed over; any other line with the wrong number of fields is a
    :class:`ProtocolError` with file and line number. Text is read by
    :func:`text_lines`: UTF-8, a byte-order mark dropped, other encodings an error.
    """
    path = Path(path)
    if dataset is not None:
        require(dataset, path, "file")
    counts = (n_fields,) if isinstance(n_fields, int) else n_fields
    for i, line in text_lines(path):
        if not line.strip():
            continue
        fields = line.rstrip("\r\n").split(sep) if sep else line.split()
        if len(fields) not in counts:
            want = " or ".join(str(c) for c in counts)
            raise ProtocolError(path, i, f"expected {want} fields, found {len(fields)}", line)
        yield i, fields, line


def balanced_subset(
    items: Sequence[T], n: int | None, key: Callable[[T], Hashable], seed: int = 0
) -> list[T]:
    """At most ``n`` of ``items``, drawn in turn from each value of ``key`` (a class, a speaker), in their order.

    A seeded draw (the same ``items``, ``n`` and ``seed`` give the same subset)
    that keeps every group as long as ``n`` allows: the way the notebooks'
    ``max_items`` shrinks a set for a quick run through every step. ``n`` None
    (or at least ``len(items)``) keeps them all.
    """
    items = list(items)
    if n is None or n >= len(items):
        return items
    if n < 0:
        raise ValueError(f"max_items must be at least 0, got {n}")
    rng = np.random.default_rng(seed)
    groups: dict[Hashable, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(key(item), []).append(i)
    queues = [
        list(rng.permutation(idx)) for _, idx in sorted(groups.items(), key=lambda kv: str(kv[0]))
    ]
    picked: list[int] = []
    while len(picked) < n:
        for q in queues:
            if q and len(picked) < n:
                picked.append(int(q.pop()))
    return [items[i] for i in sorted(picked)]


# A waveform dataset shared by every adapter: the adapters differ in how they
# list files and labels, not in how they load them.


class WaveformDataset(Dataset):
    """``(waveform, label, item_id)`` for a list of ``(path, label, item_id)``; fixed length when ``n_samples`` is set.

    Audio is read through :func:`asvnb.audio.load_audio` (mono, resampled to
    ``sr`` with a logged note). Crops are deterministic: the random offset of
    item ``i`` depends on ``(seed, epoch, i)`` only, so results do not depend
    on the number of loader workers; call :meth:`set_epoch` to vary them.
    ``augment(wav, rng=...)`` is a callable on numpy waveforms (e.g. :class:`asvnb.data.augment.Augmenter`),
    given the same per-item generator.
    """

    def __init__(
        self,
        items: list[tuple[Path, int, str]],
        sr: int = 16000,
        n_samples: int | None = None,
        random_crop: bool = False,
        seed: int = 0,
        augment=None,
    ):
        self.items, self.sr, self.n_samples = list(items), sr, n_samples
        self.random_crop, self.seed, self.epoch, self.augment = random_crop, seed, 0, augment

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Change the random crops (and nothing else) for a new epoch."""
        self.epoch = epoch

    @property
    def labels(self) -> list[int]:
        """Label of every item, in order (for class weights and samplers)."""
        return [label for _, label, _ in self.items]

    def load(self, index: int) -> np.ndarray:
        """The waveform of one item before cropping."""
        return load_audio(self.items[index][0], sr=self.sr)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str]:
        path, label, item_id = self.items[index]
        wav = self.load(index)
        rng = np.random.default_rng((self.seed, self.epoch, index))
        if self.n_samples:
            wav = crop_or_pad(wav, self.n_samples, random_crop=self.random_crop, rng=rng)
        if self.augment is not None:
            wav = self.augment(wav, rng=rng)
        return torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)), label, item_id
