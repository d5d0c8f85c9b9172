"""Spectrogram images held in memory: the clips to draw, the image set, and its cache on disk.

Studies 01 and 04 draw every clip once (:func:`asvnb.features.render`) into
an :class:`ImageSet` of uint8 pictures, like the study 04 source's 8-bit
JPEGs, and keep it as one file per set (:func:`cached_images`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from asvnb.config import stable_hash
from asvnb.files import atomic_path
from asvnb.provenance import code_key, module_of

# hex digits naming an image cache: 12, not the run folders' 10, because the caches of the published runs
# (thousands of drawn images each) carry 12-digit names; a change would redraw every one of them
IMAGE_KEY_CHARS = 12


@dataclass(frozen=True)
class Clip:
    """One piece of audio to render: its id, class label, corpus (``group``) and the FFT size it is drawn with."""

    id: str
    label: int
    group: str
    wav: np.ndarray
    nfft: int = 1024


class ImageSet(Dataset):
    """``(image, label, id)`` of spectrogram images held in memory as uint8 (like the source's 8-bit JPEGs)."""

    def __init__(
        self, images: torch.Tensor, labels: Sequence[int], ids: Sequence[str], groups: Sequence[str]
    ):
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(
                f"images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        if not len(images) == len(labels) == len(ids) == len(groups):
            raise ValueError(
                f"{len(images)} images, {len(labels)} labels, {len(ids)} ids, {len(groups)} groups"
            )
        self.images, self.labels = images, torch.as_tensor(list(labels), dtype=torch.long)
        self.ids, self.groups = list(ids), list(groups)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        return self.images[i].float() / 255.0, self.labels[i], self.ids[i]

    def subset(self, index: Sequence[int]) -> ImageSet:
        """The images at ``index``, in that order."""
        index = list(index)
        return ImageSet(
            self.images[index],
            self.labels[index].tolist(),
            [self.ids[i] for i in index],
            [self.groups[i] for i in index],
        )

    def where(self, group: str) -> ImageSet:
        """The images of one corpus."""
        idx = [i for i, g in enumerate(self.groups) if g == group]
        if not idx:
            raise ValueError(
                f"no images of group {group!r} (groups: {', '.join(sorted(set(self.groups)))})"
            )
        return self.subset(idx)

    def first(self, group: str, label: int) -> int:
        """Index of the first image of ``group`` with class ``label`` (a sample to show)."""
        return next(
            i
            for i, (g, y) in enumerate(zip(self.groups, self.labels.tolist()))
            if (g, y) == (group, label)
        )

    @staticmethod
    def concat(sets: Iterable[ImageSet]) -> ImageSet:
        """One set of the images of several, in order."""
        sets = list(sets)
        return ImageSet(
            torch.cat([s.images for s in sets]),
            [y for s in sets for y in s.labels.tolist()],
            [i for s in sets for i in s.ids],
            [g for s in sets for g in s.groups],
        )

    def resized(self, size: int) -> ImageSet:
        """The same images scaled to ``size`` x ``size`` (bilinear, antialiased), for a model that runs on smaller
        pictures than were drawn."""
        if size == self.images.shape[-1] == self.images.shape[-2]:
            return self
        x = torch.nn.functional.interpolate(
            self.images.float(),
            size=(size, size),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
        return ImageSet(
            x.round().clamp(0, 255).to(torch.uint8), self.labels.tolist(), self.ids, self.groups
        )

    def counts(self, names: Mapping[int, str]) -> pd.Series:
        """Number of images per (corpus, class name)."""
        frame = pd.DataFrame({"corpus": self.groups, "class": [names[int(y)] for y in self.labels]})
        return frame.value_counts().sort_index()


def count_table(sets: Mapping[str, ImageSet], names: Mapping[int, str]) -> pd.DataFrame:
    """Images per set (columns), corpus and class (rows)."""
    return pd.DataFrame({k: s.counts(names) for k, s in sets.items()}).fillna(0).astype(int)


def cache_name(name: str, key: Mapping[str, Any], code: Sequence[str] = ()) -> str:
    """The file name of a cached image set: ``<name>-<12 hex digits of key and of the drawing code>.pt``."""
    keyed = {**key, "code": code_key(*code, __name__)}  # this module and the modules that draw
    return f"{name}-{stable_hash(keyed)[:IMAGE_KEY_CHARS]}.pt"


def cached_images(
    folder: str | Path, name: str, key: Mapping[str, Any], draw: Callable[[], ImageSet]
) -> ImageSet:
    """``draw()`` once per ``key`` (everything the images depend on), kept as ``<folder>/<name>-<hash>.pt``.

    Drawing thousands of clips costs more than a few training epochs on 2
    cores; a rerun with the same data and drawing settings reads them back.
    """
    path = Path(folder) / cache_name(name, key, [module_of(draw)])
    if path.is_file():
        d = torch.load(path, weights_only=True)
        return ImageSet(d["images"], d["labels"], d["ids"], d["groups"])
    images = draw()
    with atomic_path(path) as tmp:
        torch.save(
            {
                "images": images.images,
                "labels": images.labels.tolist(),
                "ids": images.ids,
                "groups": images.groups,
            },
            tmp,
        )
    return images
