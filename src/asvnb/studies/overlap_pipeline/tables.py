"""Study 02's tables: the source's figures, the chapter's tables and its typed result rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from asvnb import comparisons, report
from asvnb.data import mixtures
from asvnb.metrics import eer
from asvnb.models import separation
from asvnb.results import (
    ResultRow,
    Stat,
    bootstrap_ci,
    eer_ci,
    eer_stat,
    over_seeds,
    paired_difference,
)
from asvnb.studies.overlap_pipeline.evaluation import Pretrained, stream_eer_ci
from asvnb.studies.overlap_pipeline.separate_and_score import PipelineResult
from asvnb.train import TrainResult

# The source's figures (reproduction-targets section 2).
SOURCE = {
    "clean": {
        "accuracy": 0.9831,
        "precision": 0.9829,
        "recall": 0.9983,
        "f1": 0.9905,
        "eer": "1.57% (chapters 6-7: 1.15%)",
    },
    "pretrained_3class": {
        "SS": (0.35, 0.99, 0.52, 2535),
        "SB": (0.50, 0.19, 0.27, 4979),
        "BB": (0.93, 0.35, 0.50, 2486),
        "accuracy": 0.4298,
        "weighted": (0.59, 0.51, 0.43),
    },
    "pretrained_stream": {
        "accuracy": 0.6792,
        "precision": 0.6106,
        "recall": 0.9904,
        "f1": 0.7562,
        "eer": 0.2390,
        "eer_threshold_p_spoof": 0.9999,
    },
    "history": pd.DataFrame(
        {
            "epoch": [1, 2, 3, 4, 5, 6],
            "train_loss": [0.5155, 0.3772, 0.3413, 0.3167, 0.3084, 0.3277],
            "val_loss": [0.4292, 0.4028, 0.3836, 0.3826, 0.3826, 0.3831],
            "val_acc": [0.8028, 0.8195, 0.8280, 0.8292, 0.8292, 0.8300],
        }
    ),
    "finetuned_3class": {
        "SS": (0.55, 0.45, 0.49, None),
        "SB": (0.63, 0.38, 0.47, None),
        "BB": (0.47, 0.93, 0.62, None),
        "accuracy": "53%",
    },
    "finetuned_stream": {
        "accuracy": 0.7441,
        "precision": 0.8472,
        "recall": 0.5987,
        "f1": 0.7016,
        "eer": 0.2198,
        "eer_threshold_p_spoof": 0.1935,
    },
    "sepformer_si_snri_db": separation.SEPFORMER_SI_SNRI_WSJ0_2MIX,
}


# ----------------------------------------------------------------------------- the chapter's tables

STREAM_METRICS = ("accuracy", "precision", "recall", "f1", "eer")


def clean_table(clean: dict) -> pd.DataFrame:
    """The detector alone on clean LA eval: accuracy, P/R/F1 (positive = spoof), EER and trials."""
    return pd.DataFrame(
        [{k: clean[k] for k in ("accuracy", "precision", "recall", "f1", "eer", "n")}]
    )


def mixture_counts(mixes: dict[str, mixtures.MixtureSet]) -> pd.DataFrame:
    """Mixtures per split and mixed label (SS/SB/BB), with totals."""
    counts = pd.DataFrame({split: ms.counts() for split, ms in mixes.items()}).T
    return counts.assign(total=lambda d: d.sum(axis=1))


def si_snr_display(si: pd.DataFrame) -> pd.DataFrame:
    """:func:`~asvnb.studies.overlap_pipeline.evaluation.si_snr_table` beside the hub SepFormer's published figure."""
    published = f"{separation.SEPFORMER_SI_SNRI_WSJ0_2MIX} dB ({separation.HUB_SEPFORMER})"
    return si.assign(
        **{
            "published (WSJ0-2mix)": [
                published if s == "sepformer" else "-" for s in si["separator"]
            ]
        }
    ).round(2)


def pipeline_table(
    results: dict, key: str, metrics: tuple[str, ...] = STREAM_METRICS
) -> pd.DataFrame:
    """One row per pipeline (``key``: its column name): 3-class accuracy and the stream metrics."""
    return pd.DataFrame(
        [
            {
                key: name,
                "3-class accuracy": r.mixture_report()["accuracy"],
                **{f"stream {k}": r.stream_report()[k] for k in metrics},
            }
            for name, r in results.items()
        ]
    ).round(4)


def pairing_table(pre: Pretrained) -> pd.DataFrame:
    """The source's label pairing and the random-score controls under both pairings."""
    rows = {"sepformer (source's label pairing)": pre.label_matched} if pre.label_matched else {}
    rows |= {f"random scores, {k} pairing": v for k, v in pre.controls.items()}
    return pipeline_table(rows, "pairing", ("accuracy", "eer"))


def det_systems(clean: dict, pre: Pretrained) -> dict[str, tuple]:
    """Bona fide and spoof scores of the clean detector and of every separator's streams, for a DET plot."""
    s, y = clean["scores"], clean["labels"]
    out = {"clean LA eval": (s[y == 0], s[y == 1])}
    for name, r in pre.results.items():
        y, s = r.stream_labels.reshape(-1), r.scores.reshape(-1)
        out[f"streams: {name}"] = (s[y == 0], s[y == 1])
    return out


def history_table(ft: dict[int, TrainResult]) -> pd.DataFrame:
    """Fine-tuning losses and accuracy per epoch, mean and std over seeds, beside the source's."""
    hist = pd.concat([r.history.assign(seed=s) for s, r in ft.items()])
    table = (
        hist.groupby("epoch")[["train_loss", "val_loss", "val_acc"]].agg(["mean", "std"]).round(4)
    )
    src = SOURCE["history"].set_index("epoch")
    for m in ("train_loss", "val_loss", "val_acc"):
        table[("source", m)] = src[m]
    return table


def rows_3class(
    name: str, reps: list[dict], source: dict | None, note: str = "", per_class: bool = True
) -> list[dict]:
    """comparison_table rows of 3-class reports (one per seed): accuracy and, with ``per_class``, each class's P/R/F1."""
    rows = [
        {
            "model": name,
            "metric": "mixture accuracy (3-class)",
            "ours": [r["accuracy"] for r in reps],
            "source": source["accuracy"] if source else None,
            "note": note,
        }
    ]
    for lab in mixtures.LABELS if per_class else ():
        for j, m in ((0, "precision"), (1, "recall"), (2, "f1")):
            rows.append(
                {
                    "model": name,
                    "metric": f"{lab} {m}",
                    "ours": [r["table"].loc[lab, m] for r in reps],
                    "source": source[lab][j] if source else None,
                    "digits": 2,
                }
            )
    return rows


def rows_stream(
    name: str,
    reps: list[dict],
    source: dict | None,
    note: str = "",
    which: tuple[str, ...] = STREAM_METRICS,
) -> list[dict]:
    """comparison_table rows of stream-level binary reports (positive = spoof) with EER."""
    return [
        {
            "model": name,
            "metric": f"stream {m}" + (" (%)" if m == "eer" else ""),
            "ours": [r[m] for r in reps],
            "source": source[m] if source else None,
            "percent": m == "eer",
            "note": note if k == 0 else "",
        }
        for k, m in enumerate(which)
    ]


def ordering_sentence(rows: list[ResultRow]) -> str:
    """What the pipeline rows' intervals support: the expected order none > sepformer > oracle (stream EER), told
    pair by pair as 'below' (intervals apart), 'not distinguishable' (they overlap) or 'above'."""
    by = {r.system: r for r in rows if r.table == "pipeline" and r.metric == "stream_eer"}

    def fmt(r: ResultRow) -> str:
        lo, hi = r.ci95 or (r.value, r.value)
        return f"{r.value:.1%} [{lo:.1%}, {hi:.1%}]"

    def compare(a: str, b: str) -> str:
        ra, rb = by[a], by[b]
        (alo, ahi), (blo, bhi) = ra.ci95, rb.ci95
        verdict = "below" if ahi < blo else ("above" if alo > bhi else "not distinguishable from")
        return f"{a} {fmt(ra)} is {verdict} {b} {fmt(rb)}"

    pairs = [
        ("oracle, pre-trained", "sepformer, pre-trained"),
        ("sepformer, pre-trained", "none, pre-trained"),
        ("oracle, pre-trained", "oracle@8k, pre-trained"),
        ("sepformer, fine-tuned", "sepformer, pre-trained"),
    ]
    parts = [compare(a, b) for a, b in pairs if a in by and b in by]
    return "Stream EER with 95 % intervals: " + "; ".join(parts) + "." if parts else ""


def comparison_rows(
    clean: dict,
    si: pd.DataFrame,
    pre: Pretrained,
    ft: dict[int, TrainResult],
    post: dict[int, PipelineResult],
) -> list[dict]:
    """The rows of the results table beside the source (:func:`asvnb.report.comparison_table`)."""
    S = SOURCE
    rows = [
        {
            "model": "detector alone, clean LA eval",
            "metric": m,
            "ours": [clean[m]],
            "source": S["clean"][m],
            "percent": m == "eer",
        }
        for m in ("accuracy", "precision", "recall", "f1", "eer")
    ]
    has_sep = (si.separator == "sepformer").any()
    rows.append(
        {
            "model": "SepFormer",
            "metric": "SI-SNRi (dB) on held-out mixtures",
            "ours": [float(si.loc[si.separator == "sepformer", "mean"].iloc[0])]
            if has_sep
            else None,
            "source": S["sepformer_si_snri_db"],
            "digits": 1,
            "note": "source column: the published WSJ0-2mix figure of the hub model",
        }
    )
    for name, r in pre.results.items():
        model = f"pre-trained pipeline, {name}"
        if name == "sepformer":
            rows += rows_3class(model, [r.mixture_report()], S["pretrained_3class"])
            rows += rows_stream(model, [r.stream_report()], S["pretrained_stream"])
        else:  # the reference rows the source did not have: accuracy and EER only
            rows += rows_3class(model, [r.mixture_report()], None, "not in the source", False)
            rows += rows_stream(model, [r.stream_report()], None, which=("accuracy", "eer"))
    rows += [
        {
            "model": "fine-tuning, last epoch",
            "metric": m,
            "ours": [r.history[m].iloc[-1] for r in ft.values()],
            "source": float(S["history"][m].iloc[-1]),
        }
        for m in ("train_loss", "val_loss", "val_acc")
    ]
    reps = list(post.values())
    model = "fine-tuned pipeline, sepformer"
    rows += rows_3class(model, [r.mixture_report() for r in reps], S["finetuned_3class"])
    rows += rows_stream(model, [r.stream_report() for r in reps], S["finetuned_stream"])
    return rows


def results_table(
    profile: str,
    clean: dict,
    si: pd.DataFrame,
    pre: Pretrained,
    ft: dict[int, TrainResult],
    post: dict[int, PipelineResult],
) -> pd.DataFrame:
    """The results beside the source, one row per metric (:func:`comparison_rows`)."""
    return report.comparison_table(comparison_rows(clean, si, pre, ft, post), profile)


CLEAN_BASELINE = "clean minus LFCC-GMM"


def clean_row(clean: dict) -> ResultRow:
    """The detector alone on clean LA19 eval: its EER with a 95 % bootstrap interval, beside the source's."""
    s, y = clean["scores"], clean["labels"]
    return ResultRow(
        "detector",
        "clean",
        "LA19 eval",
        "eer",
        clean["eer"],
        ci95=eer_ci(s[y == 0], s[y == 1]),
        n_trials=int(len(y)),
        source=0.0157,
        note="the source's chapters 6-7 say 1.15 %",
    )


def clean_baseline_row(clean: dict, gmm: np.ndarray, reps: int = 1000) -> ResultRow:
    """The clean detector minus the data chapter's LFCC-GMM, EER on the same LA19 eval trials, with its paired
    95 % bootstrap interval over trials (``gmm``: the baseline's scores of those trials, in order)."""
    s, bona = clean["scores"], clean["labels"] == 0
    if len(gmm) != len(bona):
        raise ValueError(f"{len(gmm)} LFCC-GMM scores for {len(bona)} clean LA19 eval trials")
    d = paired_difference(
        [eer_stat(s, bona)], [eer_stat(gmm, bona)], len(bona), strata=bona.astype(int), reps=reps
    )
    note = "the data chapter's LFCC-GMM scored on the same trials; paired bootstrap over trials"
    return ResultRow(
        "difference", CLEAN_BASELINE, "LA19 eval", "eer", n_trials=len(bona), note=note, **d
    )


def clean_text(clean: dict, paired: ResultRow | None, profile: str) -> str:
    """The clean detector's EER weighed against the source, the challenge baseline (by ``paired``, the
    difference on the same trials) and chance (:func:`asvnb.comparisons.weigh_eer`)."""
    row = clean_row(clean)
    return (
        f"The detector alone: EER {comparisons.pct(row.value, row.ci95)} on {row.n_trials:,} clean LA19 eval "
        "trials. " + comparisons.weigh_eer(row, "LA19 eval", profile, paired=paired)
    )


def result_rows(
    clean: dict,
    si_values: dict[str, np.ndarray],
    pretrained: Pretrained,
    post: list[PipelineResult],
) -> list[ResultRow]:
    """The chapter's key figures as typed result rows (``build/results/02_overlap_pipeline.json``).

    ``si_values``: SI-SNRi per mixture of each separator but ``none`` (its streams are the mixture).
    """
    pre, controls = pretrained.results, pretrained.controls
    label_matched = pretrained.label_matched
    data = "LA19 eval mixtures"
    rows = [clean_row(clean)]
    for name, v in si_values.items():
        rows.append(
            ResultRow(
                "separation",
                name,
                data,
                "si_snri_db",
                float(v.mean()),
                n_trials=int(len(v)),
                ci95=bootstrap_ci(lambda i, v=v: float(v[i].mean()), len(v)),
                source=SOURCE["sepformer_si_snri_db"] if name == "sepformer" else None,
                note="scored at 8 kHz; source column: the hub model on WSJ0-2mix",
            )
        )
    n = len(next(iter(pre.values())).stream_labels) if pre else 0

    def stream_row(
        table: str, system: str, runs: list[PipelineResult], note: str, source: float | None = None
    ) -> ResultRow:
        """The stream EER on the mixtures: the mean over ``runs`` (seeds; the EER itself for one run)."""
        return ResultRow(
            table,
            system,
            data,
            "stream_eer",
            **over_seeds([r.stream_report()["eer"] for r in runs]),
            ci95=stream_eer_ci(runs),
            n_trials=2 * n,
            source=source,
            note=note,
        )

    pretrained_source = SOURCE["pretrained_stream"]["eer"]
    for name, r in pre.items():
        rows.append(
            stream_row(
                "pipeline",
                f"{name}, pre-trained",
                [r],
                "streams matched to reference sources by SI-SNR",
                pretrained_source if name == "sepformer" else None,
            )
        )
    if label_matched is not None:
        rows.append(
            stream_row(
                "pipeline",
                "sepformer, pre-trained, label matching",
                [label_matched],
                "the source's matching: the permutation with the lower sum |P(spoof) - label|",
                pretrained_source,
            )
        )
    for matching, r in controls.items():
        rows.append(
            stream_row(
                "control",
                f"random scores, {matching} matching",
                [r],
                "a detector that knows nothing: a fair matching gives 0.5",
            )
        )
    if post:
        rows.append(
            stream_row(
                "pipeline",
                "sepformer, fine-tuned",
                post,
                "streams matched to reference sources by SI-SNR; mean over seeds",
                SOURCE["finetuned_stream"]["eer"],
            )
        )
    return rows


def key_rows_table(rows: list[ResultRow]) -> pd.DataFrame:
    """The typed result rows as the chapter shows them: value, spread, interval and trials."""
    cols = ["table", "system", "metric", "value", "std", "ci95", "n_trials"]
    return pd.DataFrame([r.as_json() for r in rows])[cols]


# ----------------------------------------------------------------------------- paired differences


def stream_eer_stat(r: PipelineResult) -> Stat:
    """The stream EER of a pipeline on a resample of mixtures (both streams of a mixture stay together); 0.5
    when the resample holds one class only."""
    y, s = np.asarray(r.stream_labels), np.asarray(r.scores)
    return _stream_stat(s, y)


def _stream_stat(scores: np.ndarray, labels: np.ndarray) -> Stat:
    def stat(idx: np.ndarray) -> float:
        yy, ss = labels[idx].reshape(-1), scores[idx].reshape(-1)
        if not ((yy == 0).any() and (yy == 1).any()):
            return 0.5
        return eer(ss[yy == 0], ss[yy == 1])[0]

    return stat


def clean_source_scores(clean: dict, utts: list[tuple[str, str]]) -> np.ndarray:
    """(N, 2) clean CM scores of each mixture's two source utterances (metadata order); NaN where the clean
    evaluation did not score one (a ``max_items`` subset)."""
    if "utts" not in clean:
        raise ValueError(
            "clean_source_scores: the clean evaluation has no 'utts' (from clean_eval)"
        )
    by_utt = dict(zip(clean["utts"], clean["scores"]))
    return np.array([[by_utt.get(u, np.nan) for u in pair] for pair in utts], dtype=float)


# the expected sign of each difference in the source's story (stream EER: lower is better)
DIFFERENCES = {
    "fine-tuned minus pre-trained, sepformer": -1,  # fine-tuning helps
    "sepformer minus none, pre-trained": -1,  # separation wins part of the loss back
    "oracle minus sepformer, pre-trained": -1,  # a perfect separator does better still
    "oracle minus oracle@8k, pre-trained": -1,  # the 4-8 kHz band an 8 kHz separator throws away
}
CLEAN_DIFFERENCE = "{best} minus clean"  # overlap costs a great deal: expected +1


def difference_rows(
    clean: dict,
    pretrained: Pretrained,
    post: list[PipelineResult],
    utts: list[tuple[str, str]],
    reps: int = 1000,
    seed: int = 0,
) -> list[ResultRow]:
    """Paired differences of stream EER over the eval mixtures (table ``difference``), each with the 95 % paired
    bootstrap interval of :func:`asvnb.results.paired_difference` (strata: the mixture label SS/SB/BB).

    ``utts``: the two source utterances of each eval mixture (metadata order), which pair the clean detector's
    scores with the streams. The clean row compares the best stream result of a real separator (the lowest stream
    EER among SepFormer pre-trained and fine-tuned and no separation) with the clean detector on the same
    utterances.
    """
    pre = pretrained.results
    if not pre:
        return []
    first = next(iter(pre.values()))
    n = len(first.stream_labels)
    if len(utts) != n:
        raise ValueError(f"difference_rows: {len(utts)} source pairs for {n} scored mixtures")
    strata = np.asarray(first.mixed_true)
    data = "LA19 eval mixtures"
    stat = {f"{k}, pre-trained": [stream_eer_stat(r)] for k, r in pre.items()}
    if post:
        stat["sepformer, fine-tuned"] = [stream_eer_stat(r) for r in post]
    pairs = {
        "fine-tuned minus pre-trained, sepformer": (
            "sepformer, fine-tuned",
            "sepformer, pre-trained",
        ),
        "sepformer minus none, pre-trained": ("sepformer, pre-trained", "none, pre-trained"),
        "oracle minus sepformer, pre-trained": ("oracle, pre-trained", "sepformer, pre-trained"),
        "oracle minus oracle@8k, pre-trained": ("oracle, pre-trained", "oracle@8k, pre-trained"),
    }

    def row(system: str, d: dict, note: str, trials: int) -> ResultRow:
        return ResultRow(
            "difference",
            system,
            data,
            "stream_eer",
            d["value"],
            std=d["std"],
            n_seeds=d["n_seeds"],
            ci95=tuple(d["ci95"]),
            n_trials=trials,
            note=note,
        )

    rows = []
    for system, (a, b) in pairs.items():
        if a in stat and b in stat:
            d = paired_difference(stat[a], stat[b], n, strata=strata, reps=reps, seed=seed)
            rows.append(row(system, d, "paired bootstrap over mixtures; mean over seeds", 2 * n))
    real = [
        k
        for k in ("sepformer, pre-trained", "sepformer, fine-tuned", "none, pre-trained")
        if k in stat
    ]
    c = clean_source_scores(clean, utts)
    keep = np.flatnonzero(~np.isnan(c).any(axis=1))
    if real and len(keep) >= 2:
        labels = first.stream_labels[keep]
        best = min(real, key=lambda k: np.mean([s(np.arange(n)) for s in stat[k]]))
        sub = [lambda idx, s=s: s(keep[idx]) for s in stat[best]]
        d = paired_difference(
            sub,
            [_stream_stat(c[keep], labels)],
            len(keep),
            strata=strata[keep],
            reps=reps,
            seed=seed,
        )
        rows.append(
            row(
                CLEAN_DIFFERENCE.format(best=best),
                d,
                "clean: the detector on the two clean source utterances of each mixture",
                2 * len(keep),
            )
        )
    return rows


def _verdict(r: ResultRow, expected: int) -> str:
    lo, hi = r.ci95
    if (expected < 0 and hi < 0) or (expected > 0 and lo > 0):
        return "reproduces"
    if (expected < 0 and lo > 0) or (expected > 0 and hi < 0):
        return "contradicts"
    return "cannot tell"


def difference_sentences(rows: list[ResultRow]) -> str:
    """The chapter's reading of the paired intervals: for each difference, whether it reproduces the source's
    story (its interval on the expected side of 0), contradicts it (on the other side) or cannot tell (across
    0)."""
    story = {
        "fine-tuned minus pre-trained, sepformer": "fine-tuning on separated streams lowers the stream EER",
        "sepformer minus none, pre-trained": "separation wins part of the loss back",
        "oracle minus sepformer, pre-trained": "a perfect separator would win more",
        "oracle minus oracle@8k, pre-trained": "the band above 4 kHz, which an 8 kHz separator drops, matters",
    }
    out = []
    for r in rows:
        if r.table != "difference":
            continue
        if r.system in story:
            claim, expected = story[r.system], DIFFERENCES[r.system]
        elif r.system.endswith(" minus clean"):
            claim, expected = (
                "overlap costs a great deal (best stream result against clean speech)",
                1,
            )
        else:
            continue
        lo, hi = r.ci95
        out.append(
            f"- *{claim}*: {r.system} = {r.value:+.3f} [{lo:+.3f}, {hi:+.3f}]: "
            f"ours **{_verdict(r, expected)}** the source's story."
        )
    return "\n".join(out)
