"""Decoded audio kept in memory across the datasets of a study, up to a byte budget."""

from __future__ import annotations

from typing import Any

import numpy as np

from asvnb.data.asvspoof import CMDataset


class AudioCache(dict):
    """Decoded waveforms by ``(path, rate)``, up to ``max_bytes`` (None: no limit); past it, nothing more is kept.

    The first files read are kept (the training sets, read every epoch by
    every model); what comes after the budget is decoded again on each use.
    """

    def __init__(self, max_bytes: int | None = None):
        super().__init__()
        self.max_bytes, self.bytes = max_bytes, 0

    def put(self, key: tuple[str, int], wav: np.ndarray) -> None:
        """Keep ``wav`` if the budget allows."""
        if self.max_bytes is None or self.bytes + wav.nbytes <= self.max_bytes:
            self[key] = wav
            self.bytes += wav.nbytes


class CachedCMDataset(CMDataset):
    """A :class:`CMDataset` that decodes each file once and keeps it in ``cache`` (shared between datasets).

    A study that trains several models on one set reads its files tens of
    times; decoding them once leaves the crops, augmentations and their seeds
    unchanged.
    """

    def __init__(self, *args: Any, cache: dict | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.cache = {} if cache is None else cache

    def load(self, index: int) -> np.ndarray:
        """The waveform of one item before cropping, from the cache after its first read."""
        key = (str(self.items[index][0]), self.sr)
        wav = self.cache.get(key)
        if wav is None:
            wav = super().load(index)
            if isinstance(self.cache, AudioCache):
                self.cache.put(key, wav)
            else:
                self.cache[key] = wav
        return wav
