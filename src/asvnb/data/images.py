"""Spectrogram images: the clips to draw, the image set, and its cache on disk.

Studies 01 and 04 draw every clip once (:func:`asvnb.features.render_rows`)
into an :class:`ImageSet` of uint8 pictures, like the study 04 source's 8-bit
JPEGs, kept as one ``.npy`` file per set (:func:`cached_images`) and mapped
from it, not read into memory: study 01's full profile has some 125,000
images of 224 px, 19 GB.
"""

from __future__ import annotations

import io
import json
import mmap
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from asvnb.config import stable_hash
from asvnb.provenance import code_key, module_of

# hex digits naming an image cache: 12, not the run folders' 10, because the caches of the published runs
# (thousands of drawn images each) carry 12-digit names; a change would redraw every one of them
IMAGE_KEY_CHARS = 12
IMAGES_FILE, META_FILE = (
    "images.npy",
    "meta.json",
)  # a cache folder's images and their labels, ids, groups


@dataclass(frozen=True)
class Clip:
    """One piece of audio to render: its id, class label, corpus (``group``) and the FFT size it is drawn with."""

    id: str
    label: int
    group: str
    wav: np.ndarray
    nfft: int = 1024


class _Map:
    """The memory map of an image cache file, shared by every view of it, and the bytes read since its pages were
    last handed back."""

    # Pages read from the map count in the process's resident set until the kernel reclaims them, which it does
    # only when memory runs short: an epoch over study 01's 19 GB of full-profile images would show as 19 GB
    # resident. Every RELEASE_BYTES read, the process's mapping of the pages is dropped (madvise DONTNEED; the
    # file's pages stay in the page cache, as cache), so the resident set stays about that size.
    RELEASE_BYTES = 1 << 30

    def __init__(self, array: np.memmap):
        self.array, self.read = array, 0

    def count(self, nbytes: int) -> None:
        self.read += nbytes
        if self.read >= self.RELEASE_BYTES:
            self.read = 0
            self.array._mmap.madvise(mmap.MADV_DONTNEED)


class ImageSet(Dataset):
    """``(image, label, id)`` of spectrogram images kept as uint8 (like the source's 8-bit JPEGs).

    ``images`` is a ``(N, 3, H, W)`` uint8 tensor, in memory or mapped from an
    image cache's ``.npy`` file (:func:`open_images`; ``path`` names the file): a
    mapped set holds no image in memory until one is read, and the operating
    system keeps the pages it reads as cache it can drop. A contiguous
    :meth:`subset` or :meth:`where` is a view of the same images, not a copy.
    """

    def __init__(
        self,
        images: torch.Tensor | np.ndarray,
        labels: Sequence[int],
        ids: Sequence[str],
        groups: Sequence[str],
        path: Path | None = None,
    ):
        if isinstance(images, np.ndarray):
            images = torch.from_numpy(
                images
            )  # shares the array's memory: a memory map stays mapped
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(
                f"images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        if not len(images) == len(labels) == len(ids) == len(groups):
            raise ValueError(
                f"{len(images)} images, {len(labels)} labels, {len(ids)} ids, {len(groups)} groups"
            )
        self.images, self.labels = images, torch.as_tensor(list(labels), dtype=torch.long)
        self.ids, self.groups, self.path = list(ids), list(groups), path
        self._map: _Map | None = None  # set by open_images, shared with the views

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        x = self.images[i].float() / 255.0
        if self._map is not None:
            self._map.count(self.images[i].numel())
        return x, self.labels[i], self.ids[i]

    def _view(self, a: int, b: int) -> ImageSet:
        out = ImageSet(
            self.images[a:b], self.labels[a:b].tolist(), self.ids[a:b], self.groups[a:b], self.path
        )
        out._map = self._map
        return out

    def rows(self) -> Iterator[tuple[torch.Tensor, int, str, str]]:
        """``(image, label, id, group)`` of every image in order (what :func:`write_images` stores)."""
        for i in range(len(self)):
            yield self.images[i], int(self.labels[i]), self.ids[i], self.groups[i]

    def subset(self, index: Iterable[int]) -> ImageSet:
        """The images at ``index``, in that order: a view if ``index`` is a run of consecutive indices, else a copy."""
        index = [int(i) for i in index]
        if index and index == list(range(index[0], index[0] + len(index))):
            return self._view(index[0], index[0] + len(index))
        return ImageSet(
            self.images[index],
            self.labels[index].tolist(),
            [self.ids[i] for i in index],
            [self.groups[i] for i in index],
        )

    def where(self, group: str) -> ImageSet:
        """The images of one corpus (a view when they lie in one block, as each corpus of study 01's sets does)."""
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
        """One set of the images of several, in order: a copy in memory (study 01 draws the parts of a set into
        one cache file instead)."""
        sets = list(sets)
        return ImageSet(
            torch.cat([s.images for s in sets]),
            [y for s in sets for y in s.labels.tolist()],
            [i for s in sets for i in s.ids],
            [g for s in sets for g in s.groups],
        )

    def resized(self, size: int) -> ImageSet:
        """The same images scaled to ``size`` x ``size`` (bilinear, antialiased), for a model that runs on smaller
        pictures than were drawn; a copy in memory."""
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
    """The folder name of a cached image set: ``<name>-<12 hex digits of key and of the drawing code>``."""
    keyed = {**key, "code": code_key(*code, __name__)}  # this module and the modules that draw
    return f"{name}-{stable_hash(keyed)[:IMAGE_KEY_CHARS]}"


Row = tuple[torch.Tensor | np.ndarray, int, str, str]  # (uint8 image (3, H, W), label, id, group)


def _npy_header(shape: tuple[int, ...]) -> bytes:
    # numpy pads the header so that the first axis can grow to 21 digits: its length never depends on the count
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out, {"descr": "|u1", "fortran_order": False, "shape": shape}
    )
    return out.getvalue()


def write_images(folder: str | Path, rows: Iterable[Row]) -> int:
    """Write the images of ``rows`` one at a time to ``<folder>/images.npy`` and their labels, ids and groups to
    ``<folder>/meta.json``; return the count.

    Only one image is in memory at a time: the ``.npy`` header, which holds the
    count, is written last over the room kept for it.
    """
    folder = Path(folder)
    labels: list[int] = []
    ids: list[str] = []
    groups: list[str] = []
    shape: tuple[int, ...] | None = None
    with open(folder / IMAGES_FILE, "wb") as f:
        for image, label, id_, group in rows:
            a = np.ascontiguousarray(
                image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
            )
            if shape is None:
                if a.dtype != np.uint8 or a.ndim != 3 or a.shape[0] != 3:
                    raise ValueError(f"images must be uint8 (3, H, W), got {a.dtype} {a.shape}")
                shape = a.shape
                f.write(_npy_header((0, *shape)))  # room for the header
            elif a.shape != shape or a.dtype != np.uint8:
                raise ValueError(f"image {id_!r}: {a.dtype} {a.shape}, the first was uint8 {shape}")
            f.write(memoryview(a).cast("B"))
            labels.append(int(label))
            ids.append(str(id_))
            groups.append(str(group))
        if shape is None:
            raise ValueError("no images to write")
        header = _npy_header((len(ids), *shape))
        if len(header) != f.tell() - len(ids) * int(np.prod(shape)):
            raise RuntimeError(f"{folder / IMAGES_FILE}: the .npy header changed length")
        f.seek(0)
        f.write(header)
    (folder / META_FILE).write_text(json.dumps({"labels": labels, "ids": ids, "groups": groups}))
    return len(ids)


def open_images(folder: str | Path) -> ImageSet:
    """The image set of a cache folder, its images mapped from ``images.npy`` (copy-on-write: never written back).

    A truncated or corrupt file is a ValueError that names it.
    """
    folder = Path(folder)
    meta_file, images_file = folder / META_FILE, folder / IMAGES_FILE
    again = f"delete {folder} to draw the set again"
    try:
        meta = json.loads(meta_file.read_text())
        labels, ids, groups = meta["labels"], meta["ids"], meta["groups"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{meta_file}: unreadable image cache index ({e!r}); {again}") from e
    try:
        images = np.load(images_file, mmap_mode="c")
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"{images_file}: truncated or corrupt image cache ({e}); {again}") from e
    size = images_file.stat().st_size
    if (
        images.dtype != np.uint8
        or images.ndim != 4
        or len(images) != len(ids)
        or size != images.offset + images.nbytes
    ):
        raise ValueError(
            f"{images_file}: {images.dtype} {images.shape} in {size} bytes, expected uint8 images for the "
            f"{len(ids)} ids of {meta_file.name} filling the file; {again}"
        )
    out = ImageSet(images, labels, ids, groups, path=images_file)
    out._map = _Map(images)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cached_images(
    folder: str | Path,
    name: str,
    key: Mapping[str, Any],
    draw: Callable[[], ImageSet | Iterable[Row]],
) -> ImageSet:
    """``draw()`` once per ``key`` (everything the images depend on), kept as the folder ``<folder>/<name>-<hash>``.

    Drawing thousands of clips costs more than a few training epochs on 2
    cores; a rerun with the same data and drawing settings reads them back.
    ``draw`` returns an :class:`ImageSet` or, so that no set is ever whole in
    memory, an iterable of ``(image, label, id, group)`` rows (what
    :func:`asvnb.features.render_rows` yields), written to disk as they come.
    The set returned is mapped from the file (:func:`open_images`).

    The folder is written as ``<name>-<hash>.part<pid>`` and renamed when
    complete, so a half-drawn set is never read; an interrupted draw starts
    again (the parts its dead process left are removed).
    """
    final = Path(folder) / cache_name(name, key, [module_of(draw)])
    if final.is_dir():
        return open_images(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for part in final.parent.glob(f"{final.name}.part*"):
        pid = part.name.rsplit(".part", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(part, ignore_errors=True)  # left by a killed draw
    tmp = final.with_name(f"{final.name}.part{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        drawn = draw()
        write_images(tmp, drawn.rows() if isinstance(drawn, ImageSet) else drawn)
        try:
            os.rename(tmp, final)  # atomic; refused if another process finished the same set first
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return open_images(final)
