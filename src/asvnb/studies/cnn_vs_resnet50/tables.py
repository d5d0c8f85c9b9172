"""Study 01's tables: results beside the source's, the key figures with their intervals, and the MP3 shortcut."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from asvnb import comparisons, metrics, report
from asvnb.data.asvspoof import ASVScores
from asvnb.report import ComparisonRow
from asvnb.results import ResultRow, eer_stat, paired_difference
from asvnb.studies.cnn_vs_resnet50.settings import (
    GENUINE,
    SOURCE_NOTES,
    SOURCE_NUMBERS,
    STUDY,
    TASK,
    CnnVsResnet50Config,
)
from asvnb.studies.cnn_vs_resnet50.verification import asv_rows, min_tdcf, tdcf_fn
from asvnb.studies.spectrogram_common import (
    RATE_METRICS,
    comparison_rows,
    difference_row,
    find_row,
    rows_frame,
    seed_row,
)
from asvnb.train.classify import Predictions, SeedRun

METRICS = (
    "accuracy",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "precision",
    "recall",
    "f1",
    "eer",
)

# ----------------------------------------------------------------------------- results beside the source's


def comparison_tables(
    cfg: CnnVsResnet50Config,
    runs: dict[str, list[SeedRun]],
    notes: dict[str, str],
    corpus_asv: ASVScores,
    la_asv: list[ASVScores],
    cv_asv: list[ASVScores],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The countermeasures on LA eval beside the source's figures, and the speaker verifiers (no source figure)."""
    rows: list[ComparisonRow] = []
    for name, rs in runs.items():
        source = {("LA eval", m): v for m, v in SOURCE_NUMBERS[name].items()}
        rows += comparison_rows(name, rs, source, ("LA eval",), METRICS, note=notes[name])
        tdcf = [min_tdcf(r, corpus_asv) for r in rs]
        rows.append(
            ComparisonRow(
                name, "LA eval min t-DCF (ASV: the corpus's GE2E scores)", tdcf, note=notes[name]
            )
        )
    own = [min_tdcf(r, asv) for r, asv in zip(runs["CNN"], la_asv)]
    rows.append(
        ComparisonRow(
            "CNN", "LA eval min t-DCF (ASV: our CNN verifier, same seed)", own, note=notes["CNN"]
        )
    )
    epochs = cfg.setups["ASV CNN"].epochs
    verifiers = [
        ComparisonRow(
            "CNN speaker verifier",
            f"{bed} EER",
            [metrics.eer(s.target, s.nontarget)[0] for s in scores],
            note=f"{epochs} epochs on the LA training speakers",
            percent=True,
        )
        for bed, scores in (("LA eval", la_asv), ("Common Voice", cv_asv))
    ]
    corpus_eer = [metrics.eer(corpus_asv.target, corpus_asv.nontarget)[0]]
    verifiers.append(
        ComparisonRow(
            "corpus ASV (GE2E)",
            "LA eval EER",
            corpus_eer,
            note="shipped with the corpus",
            percent=True,
        )
    )
    return report.comparison_table(rows, cfg.profile), report.comparison_table(
        verifiers, cfg.profile
    )


# ----------------------------------------------------------------------------- the MP3 shortcut


def cv_vs_la_bonafide(run: SeedRun) -> dict[str, float]:
    """How a CM treats Common Voice (MP3) bona fide against LA (FLAC) bona fide speech of held-out speakers.

    ``P(CV > LA)`` is the probability that a random CV clip scores more bona
    fide than a random LA eval bona fide one (the Mann-Whitney AUC): 0.5 when
    the CM does not tell the corpora apart, near 1 when "MP3" reads as "genuine".
    """
    cv, la = run.predictions["CV test"], run.predictions["LA eval"]
    s_cv, s_la = cv.scores(TASK.bonafide), la.scores(TASK.bonafide)
    s_la = s_la[la.labels == GENUINE]
    auc = roc_auc_score(np.r_[np.ones(len(s_cv)), np.zeros(len(s_la))], np.r_[s_cv, s_la])
    return {
        "CV genuine rate": float(np.mean(cv.predicted == GENUINE)),
        "LA genuine rate": float(np.mean(la.predicted[la.labels == GENUINE] == GENUINE)),
        "P(CV > LA)": float(auc),
    }


def shortcut_table(runs: dict[str, list[SeedRun]]) -> pd.DataFrame:
    """Per training recipe and seed: :func:`cv_vs_la_bonafide` and the LA eval EER."""
    rows = [
        {
            "training": name,
            "seed": r.seed,
            **cv_vs_la_bonafide(r),
            "LA eval EER": r.metrics["LA eval"]["eer"],
        }
        for name, rs in runs.items()
        for r in rs
    ]
    return pd.DataFrame(rows)


def _bona_only(p: Predictions) -> Predictions:
    keep = p.labels == GENUINE
    return type(p)(
        p.logits[keep], p.labels[keep], [i for i, k in zip(p.ids, keep) if k] if p.ids else []
    )


def _genuine_rate_row(
    system: str, data: str, runs: list[SeedRun], split: str, reps: int
) -> ResultRow:
    # the share of bona fide clips the CM calls genuine, bootstrapped over clips
    bona = [
        SeedRun(
            r.seed, r.history, r.best_epoch, r.best_dir, {split: _bona_only(r.predictions[split])}
        )
        for r in runs
    ]
    return seed_row(
        "mp3",
        system,
        data,
        bona,
        split,
        "genuine_rate",
        TASK,
        reps=reps,
        fn=lambda y, yhat, s: float(np.mean(yhat == GENUINE)),
    )


def _auc_row(system: str, runs: list[SeedRun], reps: int) -> ResultRow:
    # P(CV > LA) bootstrapped over bona fide clips: the CV and LA bona fide scores pooled into one set
    pooled = []
    for r in runs:
        cv, la = r.predictions["CV test"], _bona_only(r.predictions["LA eval"])
        is_cv = np.r_[np.ones(len(cv.labels), int), np.zeros(len(la.labels), int)]
        bona = type(cv)(np.r_[cv.logits, la.logits], is_cv)
        pooled.append(SeedRun(r.seed, r.history, r.best_epoch, r.best_dir, {"bona": bona}))
    return seed_row(
        "mp3",
        system,
        "CV vs LA19 eval bona fide",
        pooled,
        "bona",
        "p_cv_above_la",
        TASK,
        reps=reps,
        fn=lambda y, yhat, s: float(roc_auc_score(y, s)),
        note="labels here: 1 = Common Voice clip; 0.5 = the CM does not tell the corpora apart",
    )


NO_CV = "CNN, trained without Common Voice"
DIFFERENCE = "CNN minus ResNet50"
SHORTCUT_DIFFERENCE = "CNN minus CNN trained without Common Voice"


def _cv_la_bona(r: SeedRun) -> tuple[np.ndarray, np.ndarray]:
    # a run's bona fide scores of the CV test clips then the LA eval bona fide utterances, and 1 = CV clip
    cv, la = r.predictions["CV test"], _bona_only(r.predictions["LA eval"])
    is_cv = np.r_[np.ones(len(cv.labels), int), np.zeros(len(la.labels), int)]
    return np.r_[cv.scores(TASK.bonafide), la.scores(TASK.bonafide)], is_cv


def shortcut_difference_row(
    with_cv: list[SeedRun], without_cv: list[SeedRun], reps: int = 1000
) -> ResultRow:
    """P(CV > LA) of the CNN trained with Common Voice minus without it: mean over each recipe's seeds, with the
    paired 95 % bootstrap interval over the same bona fide clips (CV and LA resampled apart)."""
    a, b = [_cv_la_bona(r) for r in with_cv], [_cv_la_bona(r) for r in without_cv]
    is_cv = a[0][1]
    if any(not np.array_equal(y, is_cv) for _, y in a + b):
        raise ValueError(f"{SHORTCUT_DIFFERENCE}: the recipes were not scored on the same clips")

    def stat(scores: np.ndarray):
        return lambda idx: float(roc_auc_score(is_cv[idx], scores[idx]))

    d = paired_difference([stat(x) for x, _ in a], [stat(x) for x, _ in b], len(is_cv), is_cv, reps)
    return ResultRow(
        "difference",
        SHORTCUT_DIFFERENCE,
        "CV vs LA19 eval bona fide",
        "p_cv_above_la",
        n_trials=int(len(is_cv)),
        note=f"paired bootstrap over the same bona fide clips; mean over {len(a)} and {len(b)} seeds",
        **d,
    )


def shortcut_rows(rows: list[ResultRow]) -> list[ResultRow]:
    """The key rows of the MP3 shortcut: the mp3 table and the CNN trained without Common Voice."""
    return [r for r in rows if r.table == "mp3" or r.system.endswith("without Common Voice")]


def shortcut_text(rows: list[ResultRow]) -> str:
    """P(CV > LA) with and without Common Voice in training, read from the paired interval of their difference."""
    with_cv = find_row(rows, "mp3", "CNN", "CV vs LA19 eval bona fide", "p_cv_above_la")
    text = (
        f"With Common Voice in training, P(CV > LA) = {with_cv.value:.3f} "
        f"(CI {with_cv.ci95[0]:.3f}-{with_cv.ci95[1]:.3f})."
    )
    if not any(r.system == NO_CV for r in rows):
        return text
    cnn_eer = find_row(rows, "cm", "CNN", "LA19 eval", "eer")
    without = find_row(rows, "mp3", NO_CV, "CV vs LA19 eval bona fide", "p_cv_above_la")
    eer_wo = find_row(rows, "cm", NO_CV, "LA19 eval", "eer")
    d = find_row(
        rows, "difference", SHORTCUT_DIFFERENCE, "CV vs LA19 eval bona fide", "p_cv_above_la"
    )
    lo, hi = d.ci95
    text += (
        f" Without it ({without.n_seeds} seed{'s' if without.n_seeds > 1 else ''}), {without.value:.3f}, and the LA eval EER "
        f"{100 * eer_wo.value:.1f} % (CI {100 * eer_wo.ci95[0]:.1f}-{100 * eer_wo.ci95[1]:.1f} %) against "
        f"{100 * cnn_eer.value:.1f} % with it. The difference in P(CV > LA), with minus without, is "
        f"{d.value:+.3f} (paired 95 % interval {lo:+.3f} to {hi:+.3f}): "
    )
    if lo > 0:
        return text + (
            "training on the MP3s makes the CM rank MP3 bona fide speech as more genuine, the shortcut at work."
        )
    if hi < 0:
        return text + "training on the MP3s makes the CM rank MP3 bona fide speech as less genuine."
    return text + (
        "the interval holds 0, so on this corpus the shortcut is not shown to change how the CM ranks MP3 "
        "bona fide speech."
    )


# ----------------------------------------------------------------------------- key figures


BASELINE_DIFFERENCE = "CNN minus LFCC-GMM"


def baseline_difference_row(cnn: list[SeedRun], gmm: np.ndarray, reps: int = 1000) -> ResultRow:
    """The CNN minus the data chapter's LFCC-GMM, EER on the same LA19 eval trials: mean over the CNN's seeds,
    paired 95 % bootstrap interval over trials (``gmm``: the baseline's scores of those trials, in order)."""
    preds = [r.predictions["LA eval"] for r in cnn]
    bona = preds[0].labels == TASK.bonafide
    if len(gmm) != len(bona):
        raise ValueError(f"{len(gmm)} LFCC-GMM scores for {len(bona)} LA19 eval trials")
    # the baseline is one deterministic model: each seed's difference is that seed's EER minus its EER
    d = paired_difference(
        [eer_stat(p.scores(TASK.bonafide), bona) for p in preds],
        [eer_stat(gmm, bona)] * len(preds),
        len(bona),
        strata=bona.astype(int),
        reps=reps,
    )
    note = "the data chapter's LFCC-GMM scored on the same trials; paired bootstrap over trials"
    return ResultRow(
        "difference", BASELINE_DIFFERENCE, "LA19 eval", "eer", n_trials=len(bona), note=note, **d
    )


def result_rows(
    runs: dict[str, list[SeedRun]],
    corpus_asv: ASVScores,
    own_asv: list[ASVScores],
    no_cv: list[SeedRun] | None = None,
    reps: int = 1000,
    attack_splits: list[str] | None = None,
    gmm: np.ndarray | None = None,
) -> list[ResultRow]:
    """The study's results rows: mean +- std over seeds with 95 % bootstrap intervals over trials.

    ``corpus_asv``: the corpus's ASV scores (the t-DCF's ASV, as in the LA
    layout); ``own_asv``: our CNN verifier's LA eval scores, one per seed (its
    own t-DCF row); ``no_cv``: the CNN trained without Common Voice;
    ``attack_splits``: the ``add_attack_splits`` names, one EER row each per CM; ``gmm``: the data chapter's
    LFCC-GMM scores of the LA19 eval trials (:func:`baseline_scores`), for the CNN's paired difference.
    """
    rows = []
    for name, rs in runs.items():
        for data, split in (("LA19 eval", "LA eval"), ("LA19 eval + CV test", "test")):
            for m in ("eer", *(m for m in RATE_METRICS if m != "eer")):
                if split == "test" and m in ("precision", "recall", "accuracy"):
                    continue
                source, note = SOURCE_NUMBERS[name].get(m), SOURCE_NOTES.get((name, m), "")
                rows.append(
                    seed_row(
                        "cm", name, data, rs, split, m, TASK, source=source, note=note, reps=reps
                    )
                )
        rows.append(
            seed_row(
                "cm",
                name,
                "LA19 eval",
                rs,
                "LA eval",
                "min_tdcf",
                TASK,
                reps=reps,
                fn=tdcf_fn(corpus_asv),
                note="ASV: the corpus's GE2E scores (LA19 eval ASV protocol)",
            )
        )
        for split in attack_splits or []:
            data = split.replace("LA eval", "LA19 eval")
            note = "the group's spoofs and every bona fide trial"
            rows.append(seed_row("cm", name, data, rs, split, "eer", TASK, reps=reps, note=note))
    cnn = runs["CNN"]
    if gmm is not None:
        rows.append(baseline_difference_row(cnn, gmm, reps))
    if "ResNet50" in runs:
        rows.append(
            difference_row(
                "difference",
                DIFFERENCE,
                "LA19 eval",
                cnn,
                runs["ResNet50"],
                "LA eval",
                "eer",
                TASK,
                note="paired bootstrap over the same LA19 eval trials; mean over each model's seeds",
                reps=reps,
            )
        )
    # each seed's CM with the verifier trained with the same seed
    rows.append(
        seed_row(
            "cm",
            "CNN",
            "LA19 eval",
            cnn,
            "LA eval",
            "min_tdcf_own_asv",
            TASK,
            reps=reps,
            fn=[tdcf_fn(a) for a in own_asv],
            note="ASV: our CNN speaker verifier of the same seed",
        )
    )
    rows.append(_genuine_rate_row("CNN", "CV test bona fide", cnn, "CV test", reps))
    rows.append(_genuine_rate_row("CNN", "LA19 eval bona fide", cnn, "LA eval", reps))
    rows.append(_auc_row("CNN", cnn, reps))
    if no_cv:
        rows.append(seed_row("cm", NO_CV, "LA19 eval", no_cv, "LA eval", "eer", TASK, reps=reps))
        rows.append(_genuine_rate_row(NO_CV, "CV test bona fide", no_cv, "CV test", reps))
        rows.append(_genuine_rate_row(NO_CV, "LA19 eval bona fide", no_cv, "LA eval", reps))
        rows.append(_auc_row(NO_CV, no_cv, reps))
        rows.append(shortcut_difference_row(cnn, no_cv, reps))
    return rows


def key_rows(
    runs: dict[str, list[SeedRun]],
    corpus_asv: ASVScores,
    la_asv: list[ASVScores],
    cv_asv: list[ASVScores],
    no_cv: list[SeedRun] | None = None,
    attack_splits: list[str] | None = None,
    gmm: np.ndarray | None = None,
) -> list[ResultRow]:
    """Every row the notebook writes: :func:`result_rows` and the verifiers' EERs (:func:`asv_rows`)."""
    rows = result_rows(runs, corpus_asv, la_asv, no_cv, attack_splits=attack_splits, gmm=gmm)
    return rows + asv_rows(
        {
            ("CNN speaker verifier", "LA19 eval"): la_asv,
            ("CNN speaker verifier", "Common Voice"): cv_asv,
            ("corpus ASV (GE2E)", "LA19 eval"): [corpus_asv],
        }
    )


def la_eval_frame(rows: list[ResultRow]) -> pd.DataFrame:
    """The LA eval key rows of the countermeasures and verifiers as a table."""
    return rows_frame([r for r in rows if r.data == "LA19 eval" and r.table in ("cm", "asv")])


def key_text(rows: list[ResultRow], profile: str) -> str:
    """The key figures in bullets: the CNN's EER beside the source, the challenge baseline (by the paired
    difference on the same trials) and chance (:func:`asvnb.comparisons.weigh_eer`), then ResNet50 and the
    paired difference CNN minus ResNet50."""
    cnn_eer, cnn_f1w = (
        find_row(rows, "cm", "CNN", "LA19 eval", "eer"),
        find_row(rows, "cm", "CNN", "LA19 eval", "f1_weighted"),
    )
    r50_eer, tdcf = (
        find_row(rows, "cm", "ResNet50", "LA19 eval", "eer"),
        find_row(rows, "cm", "CNN", "LA19 eval", "min_tdcf"),
    )
    return (
        f"- **CNN**: EER {100 * cnn_eer.value:.1f} % {cnn_eer.spread(100, 1)} over {cnn_eer.n_seeds} seeds "
        f"(95 % CI {100 * cnn_eer.ci95[0]:.1f}-{100 * cnn_eer.ci95[1]:.1f} %) on LA19 eval. "
        + comparisons.weigh_eer(
            cnn_eer,
            "LA19 eval",
            profile,
            paired=next(
                (
                    r
                    for r in rows
                    if r.key() == ("difference", BASELINE_DIFFERENCE, "LA19 eval", "eer")
                ),
                None,
            ),
        )
        + f" Weighted F1 {cnn_f1w.value:.3f} (CI {cnn_f1w.ci95[0]:.3f}-{cnn_f1w.ci95[1]:.3f}; the source: 0.708). "
        f"min t-DCF with the corpus ASV {tdcf.value:.3f} (CI {tdcf.ci95[0]:.3f}-{tdcf.ci95[1]:.3f}).\n"
        f"- **ResNet50**: EER {100 * r50_eer.value:.1f} % {r50_eer.spread(100, 1)} "
        f"(CI {100 * r50_eer.ci95[0]:.1f}-{100 * r50_eer.ci95[1]:.1f} %).\n"
        + "".join(
            difference_text(r)
            for r in rows
            if r.key() == ("difference", DIFFERENCE, "LA19 eval", "eer")
        )
    )


def difference_text(d: ResultRow) -> str:
    """The source's comparison read from the paired interval of CNN minus ResNet50 (its claim: the CNN is better)."""
    verdict = comparisons.ordering(d.ci95, -1)
    lo, hi = 100 * d.ci95[0], 100 * d.ci95[1]
    said = {
        "reproduces": "the CNN's EER is lower on the same trials: our runs reproduce the source's ordering",
        "contradicts": "ResNet50's EER is lower on the same trials: our runs contradict the source's ordering",
        "cannot tell": "the interval includes 0: on these trials our runs cannot tell the two apart",
    }[verdict]
    return (
        f"- **CNN minus ResNet50**: {100 * d.value:+.1f} points of EER (paired 95 % CI {lo:+.1f} to {hi:+.1f}, "
        f"over the same {d.n_trials:,} LA19 eval trials, mean over {d.n_seeds} seed(s)); {said}. The source "
        "reports accuracy 0.69 for its CNN against 0.52 for ResNet50."
    )


def save_tables(cm: pd.DataFrame, asv: pd.DataFrame) -> Path:
    """The countermeasure and speaker-verification tables as one CSV, ``build/results/<notebook>.csv``."""
    return report.save_results(pd.concat([cm, asv], ignore_index=True), STUDY)
