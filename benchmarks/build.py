"""Measure and print: a cold book build (time, peak memory) and a warm rebuild with nothing changed.

The cold build uses a fresh build folder (every notebook executed, the HTML
rendered from scratch) but the existing embedded corpus; the warm rebuild
repeats it with nothing changed (target: under 60 s, nothing executed).

    .venv/bin/python benchmarks/build.py [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def timed_build(build: Path) -> tuple[float, float, str]:
    """Run `asvnb book` in a child process; return seconds, peak RSS of its process tree in MB, and its output."""
    env = dict(os.environ, ASVNB_BUILD=str(build))
    log = build / "benchmark.log"
    build.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "asvnb.cli", "book"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ps, peak = psutil.Process(proc.pid), 0.0
        while proc.poll() is None:
            try:
                rss = sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)])
                peak = max(peak, rss / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.2)
    seconds = time.perf_counter() - t0
    out = log.read_text()
    if proc.returncode != 0:
        sys.exit(out + f"\nbook build failed with exit code {proc.returncode}")
    return seconds, peak, out


def main() -> None:
    """Cold build into a temporary build folder, then a warm rebuild of the same folder."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the temporary build folder")
    args = ap.parse_args()
    build = Path(tempfile.mkdtemp(prefix="asvnb-bench-"))
    try:
        cold_s, cold_mb, cold_out = timed_build(build)
        warm_s, warm_mb, warm_out = timed_build(build)
    finally:
        if not args.keep:
            shutil.rmtree(build, ignore_errors=True)
    executed = cold_out.count("[run]")
    re_executed = warm_out.count("[run]")
    print(
        f"cold build : {cold_s:7.1f} s, peak memory {cold_mb:7.0f} MB, {executed} notebook(s) executed"
    )
    print(
        f"warm build : {warm_s:7.1f} s, peak memory {warm_mb:7.0f} MB, {re_executed} notebook(s) executed "
        f"(target: under 60 s and 0 executed: {'met' if warm_s < 60 and re_executed == 0 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
