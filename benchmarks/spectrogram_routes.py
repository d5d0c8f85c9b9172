"""Throughput of the two spectrogram-image routes of study 04 on the same audio, in one run.

The source route draws ``pyplot.specgram`` into a JPEG and reads it back (what
the study 04 source did); the tensor route computes the same PSD with ``torch.stft`` and
colours it in memory. Both go through ``asvnb.features.render``, the
function the studies use; the tensor route is timed on one thread (how the
studies draw, safe on a busy machine) and on every core. Target: the tensor
route at least 20 times faster on one thread, as the median of ``--runs`` (5)
runs; each run times both routes (best of ``--repeat``) back to back, so a
change of load between runs moves both. Wall time is the target's measure; the
processor time of this process is printed beside it, a steadier comparison
on a machine that other jobs share.

    .venv/bin/python benchmarks/spectrogram_routes.py [--n 8] [--seconds 30] [--data DIR] [--runs 5]

With ``--data`` (a data root holding KAGGLE/AUDIO, e.g. data/embedded) the
segments are DEEP-VOICE recordings cut as the study cuts them; otherwise a
reproducible synthetic signal (harmonic chirp in noise).
"""

from __future__ import annotations

import argparse
import statistics
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
) -> tuple[float, float]:
    """Best-of-``repeat`` wall and processor times of rendering every segment by ``route`` on ``threads`` torch threads."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        render(
            (Clip(str(i), 0, "bench", w) for i, w in enumerate(wavs)), sr, route, threads=threads
        )
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu


def main() -> None:
    """Render the same segments by both routes ``--runs`` times; print each run's times and ratios, and the medians."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=8, help="segments")
    ap.add_argument("--seconds", type=float, default=30.0, help="segment length")
    ap.add_argument("--sr", type=int, default=16000)
    ap.add_argument(
        "--data", type=Path, default=None, help="data root with KAGGLE/AUDIO (else synthetic audio)"
    )
    ap.add_argument(
        "--repeat", type=int, default=2, help="best of this many timings per route and run"
    )
    ap.add_argument("--runs", type=int, default=5, help="runs; the verdict is their median ratio")
    args = ap.parse_args()
    wavs = (
        deepvoice(args.data, args.n, args.seconds, args.sr)
        if args.data
        else synthetic(args.n, args.seconds, args.sr)
    )
    what = f"DEEP-VOICE segments from {args.data}" if args.data else "synthetic segments"
    cores = torch.get_num_threads()
    print(
        f"{len(wavs)} {what} of {args.seconds:g} s at {args.sr} Hz; torch threads {cores}; "
        f"{args.runs} runs, best of {args.repeat} each"
    )
    # imports and colour map out of the timing
    render([Clip("warm-up", 0, "bench", wavs[0])], args.sr, "tensor")
    render([Clip("warm-up", 0, "bench", wavs[0][: args.sr])], args.sr, "source")
    # the studies draw on one thread (safe on a busy machine); every core is faster on an idle one
    routes = {"1 thread": 1, f"{cores} threads": None}
    ratios: dict[str, list[float]] = {r: [] for r in routes}
    cpu_ratios: list[float] = []
    for run in range(1, args.runs + 1):
        source = time_route(wavs, args.sr, "source", args.repeat)
        line = f"run {run}: source {source[0]:6.3f} s ({len(wavs) / source[0]:5.1f} segments/s)"
        for name, threads in routes.items():
            wall, cpu = time_route(wavs, args.sr, "tensor", args.repeat, threads=threads)
            ratios[name].append(source[0] / wall)
            line += f"; tensor {name} {wall:6.3f} s, {source[0] / wall:5.1f}x"
            if threads == 1:
                cpu_ratios.append(source[1] / cpu)
                line += f" (processor time {source[1] / cpu:5.1f}x)"
        print(line, flush=True)
    for name, r in ratios.items():
        med = statistics.median(r)
        print(
            f"median throughput ratio tensor, {name} / source over {len(r)} runs: {med:.1f}x "
            f"(runs {min(r):.1f}-{max(r):.1f}x)"
            + (
                f"; target >= 20x: {'met' if med >= 20 else 'NOT met'}"
                if name == "1 thread"
                else ""
            )
        )
    print(
        f"median processor-time ratio, 1 thread: {statistics.median(cpu_ratios):.1f}x "
        f"(runs {min(cpu_ratios):.1f}-{max(cpu_ratios):.1f}x)"
    )


if __name__ == "__main__":
    main()
