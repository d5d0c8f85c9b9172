"""What every study chapter does first, before its own work: one start for notebooks 01-04."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from IPython.display import Markdown, display

from asvnb import colab, config, report
from asvnb.train.detector import reset_detector_index


def start(
    profile: str,
    out: str | Path,
    data: str | Path,
    seed: int,
    threads: int | None = None,
    device: str = "auto",
    notes: Sequence[str] = (),
) -> dict:
    """Empty detector index, seeds, torch threads; shows the fingerprint, ``notes`` and the profile banner.

    The detector index lists exactly this run's detectors (for ``asvnb score``
    and the leaderboard); ``threads`` None keeps torch's default (every core).
    Returns the fingerprint, for the results file.
    """
    reset_detector_index(out)
    config.seed_everything(seed)
    torch.set_num_threads(threads or torch.get_num_threads())
    fp = config.fingerprint(data, config.resolve_device(device))
    config.show_fingerprint(fp)
    for line in notes:
        print(line)
    display(Markdown(report.profile_banner(profile)))
    return fp


def setup(
    settings: Any,
    profile: str,
    data_root: str | Path | None = None,
    seed: int = 0,
    threads: int | None = None,
    **params: Any,
) -> tuple[Any, dict]:
    """A chapter's first step: Drive mounted on Colab, ``settings.for_profile`` of its parameters, :func:`start`.

    Returns the settings and the fingerprint.
    """
    colab.mount_drive(data_root)  # on Colab, when the data are on Google Drive; else a no-op
    cfg = settings.for_profile(profile, data_root, **params)
    return cfg, start(profile, cfg.paths.out, cfg.paths.data, seed, threads, cfg.device)
