"""Peak memory of study 01's image sets mapped from their cache file, at a few image counts, projected to the full profile.

Draws ``--n`` synthetic 4 s clips at 16 kHz (FFT 512, as study 01 draws) into
one image cache (:func:`asvnb.data.images.cached_images`, the study's own
path), then reads it as training and scoring do: one epoch of shuffled batches
of 32 through a DataLoader (``__getitem__`` of the mapped set), and one ordered
pass over a view of its second half (``subset`` of a run of indices, as
``where`` gives each corpus of a set). A thread samples ``/proc/self/status``
every 50 ms: anonymous memory (``RssAnon``: what the process itself holds,
the part that must fit in a runtime's RAM) and mapped file pages (``RssFile``:
the images' pages, page cache that the kernel drops when memory runs short;
they count in the resident set until then), and the peak resident set (``VmHWM``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/image_memory.py --n 2000 [--size 224] [--folder DIR] [--random]

Each count runs in its own process (run the script once per count).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

from asvnb.data.images import Clip, cached_images
from asvnb.features import render_rows

GB = 1e9


def status() -> dict[str, int]:
    """``RssAnon``, ``RssFile``, ``VmHWM`` and ``VmRSS`` of this process in bytes."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("RssAnon", "RssFile", "VmHWM", "VmRSS"):
            out[k] = int(v.split()[0]) * 1024
    return out


class Peaks(threading.Thread):
    """Highest value of each :func:`status` field, sampled every ``every`` seconds."""

    def __init__(self, every: float = 0.05):
        super().__init__(daemon=True)
        self.every, self.peak, self.done = every, status(), threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            for k, v in status().items():
                self.peak[k] = max(self.peak[k], v)


def clips(n: int, seconds: float, sr: int):
    """``n`` clips of noise with a tone, different per clip, labels alternating."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    for k in range(n):
        wav = 0.05 * rng.standard_normal(t.size) + 0.1 * np.sin(2 * np.pi * (200 + k % 500) * t)
        yield Clip(f"c{k}", k % 2, "LA" if k < n // 2 else "CV", wav.astype(np.float32), 512)


def noise(n: int, size: int):
    """``n`` rows of random pixels (as :func:`asvnb.features.render_rows` yields)."""
    rng = np.random.default_rng(0)
    for k in range(n):
        img = torch.from_numpy(rng.integers(0, 256, (3, size, size), dtype=np.uint8))
        yield img, k % 2, f"c{k}", "LA" if k < n // 2 else "CV"


def main() -> None:
    """Draw, train-read and score-read one set; print the peaks."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="images")
    ap.add_argument("--size", type=int, default=224, help="image side")
    ap.add_argument(
        "--folder", type=Path, default=None, help="cache folder (default: a temporary one)"
    )
    ap.add_argument(
        "--random",
        action="store_true",
        help="random pixels instead of drawn clips (the reads cost the same; a large count writes in seconds)",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    peaks = Peaks()
    peaks.start()
    with tempfile.TemporaryDirectory(dir=args.folder) as d:
        base = status()
        t0 = time.perf_counter()
        s = cached_images(
            d,
            "bench",
            {"n": args.n, "size": args.size},
            lambda: (
                noise(args.n, args.size)
                if args.random
                else render_rows(clips(args.n, 4.0, 16000), 16000, "tensor", args.size)
            ),
        )
        drawn = time.perf_counter() - t0
        after_draw = dict(peaks.peak)
        total = 0.0
        for x, *_ in DataLoader(s, batch_size=32, sampler=RandomSampler(s)):
            total += float(x.mean())  # one training epoch's reads
        for x, *_ in DataLoader(s.subset(range(args.n // 2, args.n)), batch_size=64):
            total += float(x.mean())  # one scoring pass over a view
        peaks.done.set()
        peaks.join()
        end = status()
    image_bytes = 3 * args.size * args.size
    print(
        f"{args.n} images of {args.size} px ({args.n * image_bytes / GB:.2f} GB in the file), "
        f"{'random pixels written' if args.random else 'drawn'} in {drawn:.0f} s; "
        f"before drawing: RssAnon {base['RssAnon'] / GB:.2f} GB"
    )
    print(
        f"peak while drawing: RssAnon {after_draw['RssAnon'] / GB:.2f} GB, RssFile {after_draw['RssFile'] / GB:.2f} GB"
    )
    print(
        f"peak over drawing, an epoch and a scoring pass: RssAnon {peaks.peak['RssAnon'] / GB:.2f} GB, "
        f"RssFile {peaks.peak['RssFile'] / GB:.2f} GB, VmHWM {max(peaks.peak['VmHWM'], end['VmHWM']) / GB:.2f} GB"
    )


if __name__ == "__main__":
    main()
