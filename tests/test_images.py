"""Image sets mapped from their cache files (issue 28, item 4): views not copies, equal read-back, atomic caches."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from asvnb.data import images as im
from asvnb.data.images import Clip, ImageSet, cached_images, open_images, write_images
from asvnb.features import render, render_rows

SR = 16000


def clips(groups: dict[str, int], seconds: float = 0.3) -> list[Clip]:
    """Noise clips, ``groups[g]`` of group ``g`` in order, labels alternating."""
    rng = np.random.default_rng(0)
    out = []
    for g, n in groups.items():
        for k in range(n):
            wav = (0.1 * rng.standard_normal(int(seconds * SR))).astype(np.float32)
            out.append(Clip(f"{g}-{k}", k % 2, g, wav, 256))
    return out


def mapped_from(t: torch.Tensor, path: Path) -> bool:
    """Whether tensor ``t``'s first byte lies in a mapping of file ``path`` (Linux: /proc/self/maps)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5] == str(path.resolve()):
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if lo <= t.data_ptr() < hi:
                return True
    return False


def test_cached_set_is_mapped_and_reads_back_what_was_drawn(tmp_path: Path) -> None:
    todo = clips({"LA": 5, "CV": 3})
    want = render(todo, SR, "tensor", 32)  # in memory
    calls = []

    def draw():
        calls.append(1)
        return render_rows(todo, SR, "tensor", 32)

    got = cached_images(tmp_path, "toy", {"size": 32}, draw)
    (folder,) = tmp_path.iterdir()
    assert folder.name == im.cache_name("toy", {"size": 32}, [__name__])
    assert got.path == folder / im.IMAGES_FILE
    mapped = np.load(got.path, mmap_mode="r")
    assert mapped_from(got.images, got.path) and not mapped_from(want.images, got.path)
    assert torch.equal(got.images, want.images) and got.ids == want.ids
    assert got.groups == want.groups and torch.equal(got.labels, want.labels)
    assert np.array_equal(mapped, want.images.numpy())
    again = cached_images(tmp_path, "toy", {"size": 32}, draw)  # read back, not drawn
    assert len(calls) == 1 and torch.equal(again.images, want.images)


def test_splits_of_a_mapped_set_are_views_of_the_file(tmp_path: Path) -> None:
    s = cached_images(
        tmp_path, "toy", {"k": 1}, lambda: render_rows(clips({"LA": 4, "CV": 3}), SR, "tensor", 16)
    )
    base = s.images.numpy()
    assert mapped_from(s.images, s.path)
    la, cv = s.where("LA"), s.where("CV")
    for part, (a, b) in ((la, (0, 4)), (cv, (4, 7)), (s.subset(range(2, 6)), (2, 6))):
        # the same memory: a view of the mapped file, starting where the block starts
        assert np.shares_memory(part.images.numpy(), base) and mapped_from(part.images, s.path)
        assert part.images.data_ptr() == s.images[a].data_ptr() and len(part) == b - a
        assert part.ids == s.ids[a:b] and part.path == s.path
        assert torch.equal(part.images, s.images[a:b])
    picked = s.subset([5, 0])  # not a run of consecutive indices: a copy, in that order
    assert not np.shares_memory(picked.images.numpy(), base) and picked.ids == [s.ids[5], s.ids[0]]
    # the map is copy-on-write: writing through a view never changes the file
    la.images[0].zero_()
    assert np.load(s.path, mmap_mode="r")[0].any()
    # a DataLoader reads batches from the map
    batch = next(iter(torch.utils.data.DataLoader(cv, batch_size=3)))
    assert torch.equal(batch[0], cv.images.float() / 255) and list(batch[2]) == cv.ids


def test_writing_holds_one_image_at_a_time_and_keeps_the_npy_readable(tmp_path: Path) -> None:
    seen = []

    def rows():
        for k in range(3):
            seen.append(k)
            yield torch.full((3, 4, 5), k, dtype=torch.uint8), k % 2, f"x{k}", "g"

    assert write_images(tmp_path, rows()) == 3 and seen == [0, 1, 2]
    a = np.load(
        tmp_path / im.IMAGES_FILE
    )  # an ordinary .npy: the header, written last, holds the count
    assert a.shape == (3, 3, 4, 5) and [int(a[k].max()) for k in range(3)] == [0, 1, 2]
    assert json.loads((tmp_path / im.META_FILE).read_text())["ids"] == ["x0", "x1", "x2"]
    with pytest.raises(ValueError, match="no images"):
        write_images(tmp_path, iter(()))
    bad = [(torch.zeros(3, 4, 5, dtype=torch.uint8), 0, "a", "g")] * 2 + [
        (torch.zeros(3, 4, 6, dtype=torch.uint8), 0, "b", "g")
    ]
    with pytest.raises(ValueError, match="'b'"):
        write_images(tmp_path, bad)


def test_an_interrupted_draw_is_never_read_and_starts_again(tmp_path: Path) -> None:
    todo = clips({"LA": 4})

    def broken():
        for k, row in enumerate(render_rows(todo, SR, "tensor", 16)):
            if k == 2:
                raise KeyboardInterrupt  # killed halfway
            yield row

    with pytest.raises(KeyboardInterrupt):
        cached_images(tmp_path, "toy", {"k": 1}, broken)
    assert list(tmp_path.iterdir()) == []  # nothing left that looks like a set
    # a part left by a process that died (no cleanup) is removed; a live process's part is left alone
    name = im.cache_name("toy", {"k": 1}, [__name__])
    dead, live = tmp_path / f"{name}.part999999999", tmp_path / f"{name}.part{os.getppid()}"
    for d in (dead, live):
        d.mkdir()
        (d / im.IMAGES_FILE).write_bytes(b"\x93NUMPY half")
    s = cached_images(tmp_path, "toy", {"k": 1}, lambda: render_rows(todo, SR, "tensor", 16))
    assert len(s) == 4 and not dead.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, live.name])


def test_a_truncated_or_corrupt_cache_is_an_error_naming_the_file(tmp_path: Path) -> None:
    s = cached_images(
        tmp_path, "toy", {"k": 1}, lambda: render_rows(clips({"LA": 3}), SR, "tensor", 16)
    )
    folder = s.path.parent
    data = s.path.read_bytes()
    del s
    s_path = folder / im.IMAGES_FILE
    s_path.write_bytes(data[:-100])  # truncated
    with pytest.raises(ValueError, match=f"{s_path}.*truncated or corrupt.*delete"):
        open_images(folder)
    with pytest.raises(ValueError, match=str(s_path)):  # what a later run meets: not drawn again
        cached_images(tmp_path, "toy", {"k": 1}, lambda: pytest.fail("drawn again"))
    s_path.write_bytes(data + b"\0" * 10)  # trailing bytes: not a file this code wrote
    with pytest.raises(ValueError, match=f"{s_path}.*filling the file"):
        open_images(folder)
    s_path.write_bytes(b"not numpy at all")
    with pytest.raises(ValueError, match=f"{s_path}.*truncated or corrupt"):
        open_images(folder)
    s_path.write_bytes(data)
    (folder / im.META_FILE).write_text('{"ids": [')
    with pytest.raises(ValueError, match=f"{folder / im.META_FILE}.*unreadable"):
        open_images(folder)
    (folder / im.META_FILE).write_text(json.dumps({"labels": [0], "ids": ["a"], "groups": ["g"]}))
    with pytest.raises(ValueError, match=f"{s_path}.*1 ids"):
        open_images(folder)


def test_an_in_memory_set_is_cached_the_same_way(tmp_path: Path) -> None:
    s = render(clips({"LA": 2}), SR, "tensor", 16)
    got = cached_images(tmp_path, "mem", {}, lambda: s)
    assert got.path is not None and torch.equal(got.images, s.images) and got.ids == s.ids
    assert isinstance(ImageSet.concat([got, got]).images, torch.Tensor)


def test_reads_hand_the_maps_pages_back_and_still_read_the_file(
    tmp_path: Path, monkeypatch
) -> None:
    drawn = render(clips({"LA": 6, "CV": 4}), SR, "tensor", 16)
    s = cached_images(tmp_path, "toy", {}, lambda: drawn)
    one = 3 * 16 * 16
    monkeypatch.setattr(
        im._Map, "RELEASE_BYTES", 3 * one
    )  # hand the pages back every 3 images read
    released = []
    real = s._map.array._mmap

    class Spy:  # the mmap object, its madvise calls recorded
        def madvise(self, *a):
            released.append(a)
            return real.madvise(*a)

    monkeypatch.setattr(s._map.array, "_mmap", Spy())
    cv = s.where("CV")
    assert cv._map is s._map  # views count their reads on the file's one map
    got = [x for x, *_ in torch.utils.data.DataLoader(s, batch_size=4)]
    got += [x for x, *_ in torch.utils.data.DataLoader(cv, batch_size=4)]
    # 14 images read: pages handed back after the 3rd, 6th, 9th and 12th; every read still equals the drawing
    assert len(released) == 4 and s._map.read == 2 * one
    assert torch.equal(torch.cat(got[:3]), drawn.images.float() / 255)
    assert torch.equal(torch.cat(got[3:]), drawn.images[6:].float() / 255)
