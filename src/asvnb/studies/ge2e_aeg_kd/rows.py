"""Study 03's key figures as typed result rows, each with its 95 % interval (``build/results/03_ge2e_aeg_kd.json``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from asvnb import metrics
from asvnb.audio import INT16_FULL_SCALE
from asvnb.results import ResultRow, bootstrap_ci, eer_stat, over_seeds, paired_difference
from asvnb.studies import corpus_audit
from asvnb.studies.ge2e_aeg_kd.complexity import complexity_rows
from asvnb.studies.ge2e_aeg_kd.evaluation import CMResult, la19_eval_trials
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


# the source's claims as differences of LA21 eval EER, (system, minuend, subtrahend, published figures, table 2):
# system names "A minus B"; the minuend and subtrahend are run names of a seed (runs.MODELS)
DIFFERENCES = (
    (
        "G-ResNetSE, GE2E+NLL minus NLL",
        "G GE2E+NLL",
        "G NLL",
        (TABLE1["GE2E + NLL"], TABLE1["NLL"]),
        False,
    ),
    (
        "G-ResNetSE, static AEG minus none",
        "G static",
        "G GE2E+NLL",
        (TABLE2[("G-ResNetSE", "static")], TABLE2[("G-ResNetSE", "none")]),
        True,
    ),
    (
        "G-ResNetSE, active AEG minus none",
        "G active",
        "G GE2E+NLL",
        (TABLE2[("G-ResNetSE", "active")], TABLE2[("G-ResNetSE", "none")]),
        True,
    ),
    (
        "L-ResNetSE, static AEG minus none",
        "L static",
        "L none",
        (TABLE2[("L-ResNetSE", "static")], TABLE2[("L-ResNetSE", "none")]),
        True,
    ),
    (
        "L-ResNetSE, active AEG minus none",
        "L active",
        "L none",
        (TABLE2[("L-ResNetSE", "active")], TABLE2[("L-ResNetSE", "none")]),
        True,
    ),
    (
        "static AEG, student L-ResNetSE minus teacher G-ResNetSE",
        "L static",
        "G static",
        (TABLE2[("L-ResNetSE", "static")], TABLE2[("G-ResNetSE", "static")]),
        True,
    ),
)


def difference_rows(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig) -> list[ResultRow]:
    """LA21 eval EER differences of :data:`DIFFERENCES`, mean over seeds, with the paired 95 % bootstrap
    interval over trials (:func:`asvnb.results.paired_difference`: both systems scored on every resample;
    bona fide and spoof trials resampled apart); ``source`` is the published difference."""
    t2 = table2_runs(runs)
    rows = []
    for system, a, b, (src_a, src_b), needs_t2 in DIFFERENCES:
        runs_of = t2 if needs_t2 else list(runs)
        if not runs_of:
            continue
        bona = runs_of[0].results[a].keys == "bonafide"
        rows.append(
            _eer_difference(
                system,
                "LA21 eval",
                [r.results[a].scores for r in runs_of],
                [r.results[b].scores for r in runs_of],
                bona,
                cfg.bootstrap,
                (src_a[1] - src_b[1]) / 100,
                f"{a} minus {b} on the same trials",
            )
        )
    return rows


def _eer_difference(
    system: str,
    data: str,
    a: Sequence[np.ndarray],
    b: Sequence[np.ndarray],
    bona: np.ndarray,
    reps: int,
    source: float | None,
    note: str,
) -> ResultRow:
    # a "difference" row: mean EER of a's scores minus b's over seeds, paired bootstrap over the shared trials
    d = paired_difference(
        [eer_stat(s, bona) for s in a],
        [eer_stat(s, bona) for s in b],
        len(bona),
        strata=bona.astype(int),
        reps=reps,
    )
    return ResultRow(
        "difference",
        system,
        data,
        "eer",
        d["value"],
        d["std"],
        d["n_seeds"],
        d["ci95"],
        len(bona),
        source,
        f"{note}; paired bootstrap over trials, {reps} resamples",
    )


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


BASELINE_DIFFERENCE = "G-ResNetSE, GE2E+NLL minus LFCC-GMM"


def baseline_difference_rows(
    runs: Sequence[SeedRun], data: StudyData, cfg: GE2EAEGKDConfig
) -> list[ResultRow]:
    """The teacher minus the corpus's LFCC-GMM on the study's own trials (LA21 eval of its phase, LA19 eval):
    mean over seeds, paired 95 % bootstrap interval over trials; none off the embedded corpus.

    The LFCC-GMM's scores are the data chapter's (:func:`asvnb.studies.corpus_audit.run_audit`, cached beside
    the corpus), looked up by utterance, so the comparison holds on a subset of the trials too (the phase
    ``eval`` of the LA21 keys is 1,801 of the 2,010 the data chapter pools); a trial the audit did not score
    is an error naming it.
    """
    root = Path(cfg.paths.data)
    if not (
        root / "MANIFEST.json"
    ).is_file():  # the real datasets: the audit runs on the embedded corpus
        return []
    sets = [("LA21 eval", "results", data.eval_trials)]
    if data.eval19 is not None:
        sets.append(("LA19 eval", "eval19", la19_eval_trials(cfg, data)))
    audit = corpus_audit.run_audit(root, progress=False)
    rows = []
    for name, attr, trials in sets:
        ours = [getattr(r, attr)["G GE2E+NLL"] for r in runs if "G GE2E+NLL" in getattr(r, attr)]
        if not ours:
            continue
        gmm = corpus_audit.lfcc_gmm_scores(audit, name, [t.utt for t in trials], root)
        # the baseline is one deterministic model: each seed's difference is that seed's EER minus its EER
        rows.append(
            _eer_difference(
                BASELINE_DIFFERENCE,
                name,
                [r.scores for r in ours],
                [gmm] * len(ours),
                ours[0].keys == "bonafide",
                cfg.bootstrap,
                None,
                "the teacher and the data chapter's LFCC-GMM on the same trials",
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
            if system:  # the names of the same figures
                rows.append(replace(rows[-1], table="dev", data=f"LA19 dev {system}"))
    with_eval19 = [r.eval19["G GE2E+NLL"] for r in runs if "G GE2E+NLL" in r.eval19]
    if with_eval19:
        bona = with_eval19[0].keys == "bonafide"
        _, ci, n = seed_mean_ci(with_eval19, np.ones(len(bona), bool), _eer, cfg.bootstrap)
        st = over_seeds([r.eer for r in with_eval19])
        rows.append(
            ResultRow(
                "1",
                "G-ResNetSE, GE2E+NLL",
                "LA19 eval",
                "eer",
                st["value"],
                st["std"],
                st["n_seeds"],
                ci,
                n,
                None,
                "LA 2019 eval (attacks A07-A19, no codecs): the set of the corpus's LFCC-GMM figure",
            )
        )
    rows += difference_rows(runs, cfg)
    rows += baseline_difference_rows(runs, data, cfg)
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
