"""Throughput of the two spectrogram-image routes of study 04 on the same audio, in one run.

The source route draws ``pyplot.specgram`` into a JPEG and reads it back (what
the study 04 source did); the tensor route computes the same PSD with ``torch.stft`` and
colours it in memory. Both go through ``asvnb.features.render``, the
function the studies use; the tensor route is timed on one thread (how the
studies draw, safe on a busy machine) and on every core. Target: the tensor
route at least 20 times faster.

    .venv/bin/python benchmarks/spectrogram_routes.py [--n 8] [--seconds 30] [--data DIR]

With ``--data`` (a data root holding KAGGLE/AUDIO, e.g. data/embedded) the
segments are DEEP-VOICE recordings cut as the study cuts them; otherwise a
reproducible synthetic signal (harmonic chirp in noise).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from asvnb.data.images import Clip
from asvnb.features import render


def synthetic(n: int, seconds: float, sr: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` segments of a harmonic chirp in noise, different per segment."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    out = []
    for _ in range(n):
        f0 = 100 + 80 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t)
        phase = 2 * np.pi * np.cumsum(f0) / sr
        wav = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.1 + 0.01 * rng.standard_normal(
            len(t)
        )
        out.append(wav.astype(np.float32))
    return out


def deepvoice(root: Path, n: int, seconds: float, sr: int) -> list[np.ndarray]:
    """The first ``n`` DEEP-VOICE segments of ``seconds`` (full-length ones only, so both routes see equal work)."""
    from asvnb.data.deepvoice import DeepVoiceSegments, list_deepvoice

    ds = DeepVoiceSegments(list_deepvoice(root), seconds=seconds, sr=sr)
    full = [i for i, (a, b) in enumerate(ds.spans) if b - a == max(b - a for a, b in ds.spans)]
    if len(full) < n:
        raise SystemExit(
            f"{root}: only {len(full)} full {seconds} s DEEP-VOICE segments, asked for {n}"
        )
    return [ds[i][0].numpy() for i in full[:n]]


def time_route(
    wavs: list[np.ndarray], sr: int, route: str, repeat: int, threads: int | None = 1
) -> float:
    """Best-of-``repeat`` wall time of rendering every segment by ``route`` on ``threads`` torch threads."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        render(
            (Clip(str(i), 0, "bench", w) for i, w in enumerate(wavs)), sr, route, threads=threads
        )
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    """Render the same segments by both routes and print times, throughputs and their ratio."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=8, help="segments")
    ap.add_argument("--seconds", type=float, default=30.0, help="segment length")
    ap.add_argument("--sr", type=int, default=16000)
    ap.add_argument(
        "--data", type=Path, default=None, help="data root with KAGGLE/AUDIO (else synthetic audio)"
    )
    ap.add_argument("--repeat", type=int, default=2, help="best of this many runs per route")
    args = ap.parse_args()
    wavs = (
        deepvoice(args.data, args.n, args.seconds, args.sr)
        if args.data
        else synthetic(args.n, args.seconds, args.sr)
    )
    what = f"DEEP-VOICE segments from {args.data}" if args.data else "synthetic segments"
    print(
        f"{len(wavs)} {what} of {args.seconds:g} s at {args.sr} Hz; torch threads {torch.get_num_threads()}"
    )
    render(
        [Clip("warm-up", 0, "bench", wavs[0])], args.sr, "tensor"
    )  # imports and colour map out of the timing
    # the studies draw on one thread (safe on a busy machine); every core is faster on an idle one
    cores = torch.get_num_threads()
    times = {
        "source": time_route(wavs, args.sr, "source", args.repeat),
        "tensor, 1 thread (as the studies draw)": time_route(wavs, args.sr, "tensor", args.repeat),
        f"tensor, {cores} threads": time_route(wavs, args.sr, "tensor", args.repeat, threads=None),
    }
    for route, t in times.items():
        print(
            f"{route:>40}: {t:8.3f} s  {len(wavs) / t:8.1f} segments/s  "
            f"{len(wavs) * args.seconds / t:9.0f} s of audio/s"
        )
    for route, t in list(times.items())[1:]:
        ratio = times["source"] / t
        print(
            f"throughput ratio {route} / source: {ratio:.1f}x (target >= 20x: {'met' if ratio >= 20 else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
