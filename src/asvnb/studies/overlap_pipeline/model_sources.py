"""Which separator and detector study 02 loads: a given one, the hub model (full profile) or the cached stand-in."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from torch import nn

from asvnb import plots
from asvnb.models import separation, wavlm
from asvnb.studies.overlap_pipeline.settings import OverlapConfig
from asvnb.train import standins
from asvnb.train.standins import standin_info


def _source(cfg: OverlapConfig, given: str | None, hub: str, standin: Callable[[], Path]) -> str:
    """The model to load: ``given``, the hub id (full profile), or the cached stand-in (``standin()`` trains it
    once)."""
    if given:
        return given
    if cfg.profile == "full":
        return hub
    return str(standin())


def sepformer_source(cfg: OverlapConfig, progress: bool | None = None) -> str:
    """The SepFormer to load: the given one, the hub id (full), or the cached stand-in (trained once)."""
    standin = partial(standins.sepformer_standin, cfg.paths.data, cfg.sepformer_standin, progress)
    return _source(cfg, cfg.sepformer, separation.HUB_SEPFORMER, standin)


def detector_source(cfg: OverlapConfig, progress: bool | None = None) -> str:
    """The detector to load: the given one, the hub id (full), or the cached stand-in (trained once)."""
    standin = partial(standins.wavlm_standin, cfg.paths.data, cfg.detector_standin, progress)
    return _source(cfg, cfg.detector, wavlm.HUB_WAVLM, standin)


def ensure_standins(cfg: OverlapConfig, progress: bool | None = None) -> dict[str, str]:
    """Train (once) the stand-ins this configuration loads; their directories (hub ids in the full profile)."""
    return {
        "sepformer": sepformer_source(cfg, progress),
        "detector": detector_source(cfg, progress),
    }


def make_separators(cfg: OverlapConfig) -> dict[str, separation.Separator]:
    """Every separator of the study, by name."""
    dev = cfg.run_device()
    return {
        k: separation.make_separator(
            k, sepformer_source(cfg) if k == "sepformer" else None, device=dev
        )
        for k in cfg.separators
    }


def models_table(
    det_dir: str, det: nn.Module, seps: dict[str, separation.Separator]
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """The detector and the SepFormer: source, parameters, training steps and time (stand-ins only); and the
    folders of those with a training history (``history.csv``), by role."""
    info = {"detector (WavLM)": (det_dir, sum(p.numel() for p in det.parameters()))}
    if "sepformer" in seps:
        info["separator (SepFormer)"] = (seps["sepformer"].source, seps["sepformer"].n_params())
    rows, histories = [], {}
    for role, (src, n) in info.items():
        i = standin_info(src)
        rows.append(
            {
                "model": role,
                "source": src,
                "parameters": n,
                "training steps": i.get("steps", "not recorded" if i else "- (hub model)"),
                "trained here in (s)": i.get("train_seconds", "- (hub model)"),
            }
        )
        if i and (Path(src) / "history.csv").is_file():
            histories[role] = Path(src) / "history.csv"
    return pd.DataFrame(rows), histories


def standin_curves(histories: dict[str, Path]) -> list[Figure]:
    """The stand-ins' training curves, one figure per role, from :func:`models_table`'s history files."""
    return [
        plots.plot_history(pd.read_csv(path), title=f"stand-in {role}: training")
        for role, path in histories.items()
    ]
