"""Study 03's key figures as typed result rows, each with its 95 % interval (``build/results/03_ge2e_aeg_kd.json``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from asvnb import metrics
from asvnb.audio import INT16_FULL_SCALE
from asvnb.results import ResultRow, bootstrap_ci, over_seeds
from asvnb.studies.ge2e_aeg_kd.complexity import complexity_rows
from asvnb.studies.ge2e_aeg_kd.evaluation import CMResult
from asvnb.studies.ge2e_aeg_kd.published import TABLE1, TABLE2
from asvnb.studies.ge2e_aeg_kd.runs import AEG_MODES, SeedRun
from asvnb.studies.ge2e_aeg_kd.sets import StudyData
from asvnb.studies.ge2e_aeg_kd.settings import GE2EAEGKDConfig
from asvnb.studies.ge2e_aeg_kd.tables import _note, table2_runs


def groups(result: CMResult, families: dict[str, str]) -> dict[str, np.ndarray]:
    """Trial masks of the breakdowns: "" (pooled), each attack family (its spoofs and every bona fide trial),
    each codec condition (its bona fide and spoof trials). A condition without bona fide or without spoofed
    trials (a subset of the eval set: ``n_eval``, ``max_items``) has no EER and is left out."""
    bona = result.keys == "bonafide"
    fam = np.array(
        [families.get(s, "?") if k == "spoof" else "" for s, k in zip(result.systems, result.keys)],
        dtype=object,
    )
    out = {"": np.ones(len(result.keys), bool)}
    for f in sorted(set(fam[~bona])):
        out[f"family {f}"] = bona | (fam == f)
    if result.codecs is not None:
        for c in sorted(set(result.codecs)):
            mask = result.codecs == c
            if (mask & bona).any() and (mask & ~bona).any():
                out[f"codec {c}"] = mask
    return out


def seed_mean_ci(
    results: Sequence[CMResult],
    mask: np.ndarray,
    stat: Callable[[np.ndarray, np.ndarray], float],
    reps: int = 1000,
    seed: int = 0,
) -> tuple[float, tuple[float, float], int]:
    """Mean over seeds of ``stat(bona fide, spoof)`` on the trials of ``mask``, its 95 % interval, and the trials.

    The interval resamples trials (bona fide and spoof apart, the same draw for
    every seed), so it is the trial-sampling spread of the mean over seeds.
    """
    idx = np.flatnonzero(mask)
    keys = results[0].keys[idx]
    scores = np.stack([r.scores[idx] for r in results])
    labels = (keys == "bonafide").astype(int)

    def value(sel: np.ndarray) -> float:
        y = labels[sel]
        return float(np.mean([stat(s[sel][y == 1], s[sel][y == 0]) for s in scores]))

    ci = bootstrap_ci(value, len(idx), reps=reps, seed=seed, strata=labels)
    return value(np.arange(len(idx))), ci, len(idx)


def _eer(bona: np.ndarray, spoof: np.ndarray) -> float:
    return metrics.eer(bona, spoof)[0]


def cm_rows(
    table: str,
    system: str,
    results: Sequence[CMResult],
    data: StudyData,
    cfg: GE2EAEGKDConfig,
    source: tuple[float, float] | None = None,
    note: str = "",
    breakdown: bool = False,
) -> list[ResultRow]:
    """EER and min t-DCF rows of one system over its seeds (mean, std, 95 % interval), with per-family and
    per-codec EER when ``breakdown``."""
    asv = data.asv
    rows = []
    tdcfs = [r.min_tdcf for r in results]

    def tdcf(b: np.ndarray, s: np.ndarray) -> float:
        return metrics.min_tdcf(b, s, asv.target, asv.nontarget, asv.spoof)

    masks = groups(results[0], data.families)
    for name, mask in masks.items():
        if name and not breakdown:
            continue
        where = "LA21 eval" + (f", {name}" if name else "")
        value, ci, n = seed_mean_ci(results, mask, _eer, cfg.bootstrap)
        per_seed = [
            _eer(r.scores[mask & (r.keys == "bonafide")], r.scores[mask & (r.keys == "spoof")])
            for r in results
        ]
        stats = over_seeds(per_seed)
        rows.append(
            ResultRow(
                table,
                system,
                where,
                "eer",
                stats["value"],
                stats["std"],
                stats["n_seeds"],
                ci,
                n,
                None if name or source is None else source[1] / 100,
                note,
            )
        )
        if not name:
            tv, tci, _ = seed_mean_ci(results, mask, tdcf, max(cfg.bootstrap // 5, 50))
            st = over_seeds(tdcfs)
            rows.append(
                ResultRow(
                    table,
                    system,
                    where,
                    "min_tdcf",
                    st["value"],
                    st["std"],
                    st["n_seeds"],
                    tci,
                    n,
                    None if source is None else source[0],
                    note,
                )
            )
    return rows


def kept_row(
    system: str, kept: np.ndarray, per_seed: Sequence[float], note: str, reps: int
) -> ResultRow:
    """Kept fraction of one AEG mode: mean over seeds, 95 % interval over the attacked utterances."""
    kept = np.asarray(kept, dtype=float)
    ci = bootstrap_ci(lambda i: float(kept[i].mean()), len(kept), reps=reps)
    st = over_seeds(per_seed)
    return ResultRow(
        "aeg",
        system,
        "LA19 train",
        "kept_fraction",
        st["value"],
        st["std"],
        st["n_seeds"],
        ci,
        len(kept),
        None,
        note,
    )


def speaker_rows(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig) -> list[ResultRow]:
    """Speaker-verification EER on LA19 dev bona fide before and after GE2E, mean over seeds."""
    rows = []
    with_sv = [r for r in runs if r.speaker]
    if not with_sv:
        return rows
    for when, system in (("before", "G-ResNetSE, initial"), ("after", "G-ResNetSE, GE2E")):
        sv = [r.speaker[when] for r in with_sv]
        st = over_seeds([x.eer for x in sv])
        lo = float(np.mean([x.ci95[0] for x in sv]))
        hi = float(np.mean([x.ci95[1] for x in sv]))
        note = (
            f"every pair of {sv[0].n_utts} utterances of {sv[0].n_speakers} held-out speakers, cosine scoring; "
            f"interval: mean over seeds of each seed's bootstrap over utterances"
        )
        rows.append(
            ResultRow(
                "ge2e",
                system,
                "LA19 dev bona fide",
                "speaker_eer",
                st["value"],
                st["std"],
                st["n_seeds"],
                (lo, hi),
                len(sv[0].target) + len(sv[0].nontarget),
                None,
                note,
            )
        )
    return rows


def result_rows(
    runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig, data: StudyData, cx: pd.DataFrame | None = None
) -> list[ResultRow]:
    """Every key figure of the study as typed rows for ``build/results/03_ge2e_aeg_kd.json``."""
    rows: list[ResultRow] = []
    cms = []  # table, system, the runs' result name, the runs, the published figures, breakdown
    for label, name in (("NLL", "G NLL"), ("GE2E+NLL", "G GE2E+NLL")):
        src = TABLE1["GE2E + NLL" if label == "GE2E+NLL" else label]
        cms.append(("1", f"G-ResNetSE, {label}", name, runs, src, True))
    t2 = table2_runs(runs)
    for arch, prefix in (("G-ResNetSE", "G"), ("L-ResNetSE", "L")):
        for mode in AEG_MODES:
            name = "G GE2E+NLL" if (prefix, mode) == ("G", "none") else f"{prefix} {mode}"
            runs_of = runs if name == "G GE2E+NLL" else t2
            if runs_of:
                label = "no AEG" if mode == "none" else f"{mode} AEG"
                cms.append(
                    ("2", f"{arch}, {label}", name, runs_of, TABLE2[(arch, mode)], prefix == "L")
                )
    for table, system, name, runs_of, src, breakdown in cms:
        results = [r.results[name] for r in runs_of]
        note = _note(cfg, runs=runs_of)
        rows += cm_rows(table, system, results, data, cfg, src, note, breakdown=breakdown)
    rows += speaker_rows(runs, cfg)
    with_dev = [r.dev["G GE2E+NLL"] for r in runs if "G GE2E+NLL" in r.dev]
    if with_dev:
        bona = with_dev[0].keys == "bonafide"
        for system in ["", *sorted(set(with_dev[0].systems[~bona]))]:
            mask = bona | (with_dev[0].systems == system) if system else np.ones(len(bona), bool)
            _, ci, n = seed_mean_ci(with_dev, mask, _eer, cfg.bootstrap)
            st = over_seeds([_eer(r.scores[mask & bona], r.scores[mask & ~bona]) for r in with_dev])
            rows.append(
                ResultRow(
                    "1",
                    "G-ResNetSE, GE2E+NLL",
                    "LA19 dev" + (f", {system}" if system else ""),
                    "eer",
                    st["value"],
                    st["std"],
                    st["n_seeds"],
                    ci,
                    n,
                    None,
                    "the training attacks A01-A06 on held-out speakers",
                )
            )
    if t2:
        sims = [r.aeg["static_similarity"] for r in t2]
        thr = float(np.mean([s["threshold"].mean() for s in sims]))
        note = (
            f"BIM {cfg.aeg_iters} steps of {cfg.aeg_alpha:g} int16 units ({cfg.aeg_alpha / INT16_FULL_SCALE:.2e} of full "
            f"scale); kept at cos <= threshold, rule {cfg.aeg_threshold_rule} (mean threshold {thr:.3f})"
        )
        rows.append(
            kept_row(
                "static",
                np.concatenate([s["kept"].to_numpy() for s in sims]),
                [s["kept"].mean() for s in sims],
                note + "; with the GE2E model",
                cfg.bootstrap,
            )
        )
        act = [[e for e in r.aeg["active"]] for r in t2]
        if all(act):
            kept = np.concatenate(
                [np.asarray(e["after"]) <= e["threshold"] for a in act for e in a]
            )
            per_seed = [sum(e["kept"] for e in a) / sum(e["tried"] for e in a) for a in act]
            rows.append(
                kept_row(
                    "active",
                    kept,
                    per_seed,
                    note + "; before every epoch with the model in training",
                    cfg.bootstrap,
                )
            )
    if cx is not None:
        rows += complexity_rows(cx)
    return rows
