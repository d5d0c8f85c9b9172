"""One leaderboard across the studies: every countermeasure they trained, scored on the same trials by one rule.

Every study registers the detectors it trained in its ``detectors.json``
(:func:`asvnb.train.register_detector`). This module loads each one through
:func:`asvnb.scoring.load_detector`, the loader of ``asvnb score``, and scores
every trial of the embedded LA 2019 eval and LA 2021 eval with it.

**The input rule** (:data:`INPUT_RULE`): each file is read from its flac at the
detector's own sample rate, mono, and given to the detector the way its study
evaluated it, as its card states: the first *n* seconds repeat-padded (the
image CNNs, ResNetSE), consecutive segments whose scores are averaged (SimpleCNN,
ResNet18), or the whole recording (WavLM). The score is the log-odds of bona
fide against spoof from the network's output, so minDCF, actDCF and Cllr read it
as a log-likelihood ratio without any calibration: actDCF and Cllr then say how
far each system is from calibrated, which is part of the comparison.

Scores are cached per detector and trial set, keyed by the card, the weights
and the trial list, so a rebuild scores only what changed; the speed column is
measured when the scores are computed (wall time of reading, front end and
network over the whole set, in seconds of audio per second).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from asvnb import colab, config
from asvnb.leaderboard.baseline import baseline_scored
from asvnb.leaderboard.families import (
    family_floor,
    family_pivot,
    family_rows,
    family_table,
    floor_rows,
    floor_sentence,
)
from asvnb.leaderboard.scores import (
    INPUT_RULE,
    Entry,
    Scored,
    SetScores,
    TrialSet,
    card_summary,
    registered,
    score_all,
    trial_sets,
)
from asvnb.leaderboard.tables import (
    OTHER_REPS,
    complexity_table,
    det_systems,
    display_table,
    literature_table,
    result_rows,
    sentence,
    set_metrics,
    summary,
    table,
)
from asvnb.results import write_results

__all__ = [
    "INPUT_RULE",
    "OTHER_REPS",
    "baseline_scored",
    "Entry",
    "Scored",
    "SetScores",
    "TrialSet",
    "card_summary",
    "complexity_table",
    "det_systems",
    "display_table",
    "family_floor",
    "family_pivot",
    "family_rows",
    "family_table",
    "floor_rows",
    "floor_sentence",
    "floor_table",
    "literature_table",
    "registered",
    "registered_detectors",
    "result_rows",
    "save_results",
    "score_all",
    "sentence",
    "set_heading",
    "set_metrics",
    "setup",
    "summary",
    "table",
    "trial_sets",
]


NOTEBOOK = "05_leaderboard"


def setup(
    profile: str, data_root: str | Path | None, device: str, threads: int | None
) -> config.Paths:
    """The chapter's set-up: Drive mounted on Colab, torch's CPU threads, the paths, the fingerprint shown."""
    colab.mount_drive(data_root)  # on Colab, when the data are on Google Drive; else a no-op
    torch.set_num_threads(threads or torch.get_num_threads())
    paths = config.Paths.for_profile(profile, NOTEBOOK, data_root)
    config.show_fingerprint(config.fingerprint(paths.data, config.resolve_device(device)))
    return paths


def registered_detectors(profile: str, seeds: Sequence[int] | None = None) -> list[Entry]:
    """:func:`registered`, refusing none: the leaderboard scores what the study notebooks trained."""
    entries = registered(profile, seeds=seeds)
    if not entries:
        raise RuntimeError(
            f"no detector is registered for profile {profile!r}: run the study notebooks 01-04 first"
        )
    return entries


def set_heading(sets: dict[str, TrialSet], name: str) -> str:
    """A set's name with its numbers of trials and bona fide trials (Markdown)."""
    ts = sets[name]
    return f"**{name}** ({len(ts.utts):,} trials, {int(ts.labels.sum()):,} bona fide)"


def floor_table(floor: pd.DataFrame) -> pd.DataFrame:
    """:func:`family_floor` for reading: pooled EER and floor in percent, per study and system, by set."""
    return floor.assign(
        study=floor["study"].str[:2],
        pooled=(100 * floor["pooled"]).round(1),
        floor=(100 * floor["floor"]).round(1),
    ).pivot_table(index=["study", "system"], columns="set", values=["pooled", "floor"], sort=False)


def save_results(
    per_run: pd.DataFrame,
    sets: dict[str, TrialSet],
    fam: pd.DataFrame,
    floor: pd.DataFrame,
    profile: str,
    paths: config.Paths,
    device: str,
) -> Path:
    """Every row of the chapter (:func:`result_rows`, :func:`family_rows`, :func:`floor_rows`) to its results file."""
    rows = result_rows(per_run, sets) + family_rows(fam) + floor_rows(floor)
    fingerprint = config.fingerprint(paths.data, config.resolve_device(device))
    return write_results(NOTEBOOK, profile, rows, fingerprint)
