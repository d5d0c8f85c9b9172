"""The leaderboard's tables: metrics per system and set with intervals, the results rows, the literature."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from asvnb import config, metrics
from asvnb.leaderboard.scores import INPUT_RULE, Scored, TrialSet
from asvnb.results import ResultRow, bootstrap_ci, eer_ci, over_seeds

OTHER_METRICS = ("min_tdcf", "min_dcf", "act_dcf", "cllr")
OTHER_REPS = 200  # bootstrap resamples behind the other metrics' intervals (the EER's take the chapter's count)


def set_metrics(
    scores: np.ndarray, ts: TrialSet, reps: int = 1000, other_reps: int = OTHER_REPS
) -> dict[str, float | tuple[float, float]]:
    """EER, min t-DCF (2021 form, the organisers' ASV scores), minDCF, actDCF and Cllr, each with a 95 % interval.

    Intervals are percentile bootstraps over the CM trials, bona fide and
    spoof resampled apart (``reps`` for the EER, ``other_reps`` for the rest);
    the t-DCF's ASV scores are held fixed.
    """
    y = ts.labels

    def one(metric: str, idx: np.ndarray) -> float:
        b, sp = scores[idx][y[idx] == 1], scores[idx][y[idx] == 0]
        if metric == "min_tdcf":
            return metrics.min_tdcf(b, sp, ts.asv.target, ts.asv.nontarget, ts.asv.spoof)
        return {"min_dcf": metrics.min_dcf, "act_dcf": metrics.act_dcf, "cllr": metrics.cllr}[
            metric
        ](b, sp)

    bona, spoof = scores[y == 1], scores[y == 0]
    m: dict[str, float | tuple[float, float]] = {"eer": metrics.eer(bona, spoof)[0]}
    m["eer_ci95"] = eer_ci(bona, spoof, reps=reps)
    everything = np.arange(len(scores))
    for metric in OTHER_METRICS:
        m[metric] = one(metric, everything)
        m[f"{metric}_ci95"] = bootstrap_ci(
            lambda idx, k=metric: _or_nan(one, k, idx),
            len(scores),
            other_reps,
            strata=y,
            skip_nan=True,
        )
    return m


def _or_nan(one: Callable[[str, np.ndarray], float], metric: str, idx: np.ndarray) -> float:
    """A resample's metric, or NaN when the resample cannot give one (the t-DCF needs 3 distinct CM scores, which a
    resample of a handful of trials may lack): such resamples are left out of the interval."""
    try:
        return one(metric, idx)
    except ValueError:
        return float("nan")


def table(scored: Sequence[Scored], sets: dict[str, TrialSet], reps: int = 1000) -> pd.DataFrame:
    """One row per detector and seed, one column per set and metric, plus parameters, MACs and speed."""
    rows = []
    for s in scored:
        row: dict[str, object] = {
            "study": s.entry.study,
            "system": s.entry.name,
            "seed": s.entry.seed,
            "params": s.params,
            "MACs": s.macs,
            "MACs of": s.macs_of,
        }
        for name, ss in s.sets.items():
            m = set_metrics(ss.scores, sets[name], reps)
            for k, v in m.items():
                row[f"{name} {k}"] = v
            row[f"{name} speed"] = ss.speed
        rows.append(row)
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds, per study and system (what the chapter's table shows)."""
    metric_cols = [
        c
        for c in df.columns
        if c not in ("study", "system", "seed", "MACs of") and not c.endswith("ci95")
    ]
    g = df.groupby(["study", "system"], sort=False)
    mean = g[metric_cols].mean()
    std = g[metric_cols].std(ddof=1)
    out = mean.copy()
    out["n_seeds"] = g.size()
    for c in metric_cols:
        out[f"{c} std"] = std[c]
    out["MACs of"] = g["MACs of"].first()
    return out.reset_index()


def over_seeds_with_ci(values: pd.Series, intervals: pd.Series) -> dict:
    """``value``, ``std``, ``n_seeds`` (:func:`asvnb.results.over_seeds`) and ``ci95``: the mean of the seeds'
    bootstrap intervals."""
    lo = float(np.mean([c[0] for c in intervals]))
    hi = float(np.mean([c[1] for c in intervals]))
    return over_seeds(values.to_numpy(float)) | {"ci95": (lo, hi)}


def result_rows(df: pd.DataFrame, sets: dict[str, TrialSet]) -> list[ResultRow]:
    """Results-file rows: per system, set and metric, the mean over seeds, its std and a 95 % interval.

    The interval of a metric over several seeds is the mean of the seeds'
    bootstrap intervals (trials resampled, :func:`set_metrics`).
    """
    rows = []
    for (study, system), g in df.groupby(["study", "system"], sort=False):
        n = len(g)
        label = f"{study[:2]} {system}"
        note = f"study {study[:2]}; {n} seed(s); {INPUT_RULE.split(';')[0]}"
        for name, ts in sets.items():
            for metric in ("eer", *OTHER_METRICS):
                rows.append(
                    ResultRow(
                        "leaderboard",
                        label,
                        name,
                        metric,
                        n_trials=len(ts.utts),
                        note=note,
                        **over_seeds_with_ci(g[f"{name} {metric}"], g[f"{name} {metric}_ci95"]),
                    )
                )
            sp = g[f"{name} speed"].to_numpy(float)
            rows.append(
                ResultRow(
                    "leaderboard",
                    label,
                    name,
                    "speed_x_realtime",
                    **over_seeds(sp),
                    ci95=(float(sp.min()), float(sp.max())) if n > 1 else None,
                    n_trials=len(ts.utts),
                    note="seconds of audio scored per second, one timing per run (the range over "
                    "seeds as the interval when there are several)",
                )
            )
        for metric, col in (("params", "params"), ("macs", "MACs")):
            rows.append(
                ResultRow(
                    "leaderboard",
                    label,
                    "model",
                    metric,
                    float(g[col].iloc[0]),
                    None,
                    n,
                    None,
                    note=f"torch's counter, {g['MACs of'].iloc[0]}" if metric == "macs" else "",
                )
            )
    return rows


def det_systems(
    scored: Sequence[Scored], sets: dict[str, TrialSet], name: str, seed: int | None = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(bona fide, spoof) scores on set ``name`` of each system's run with ``seed`` (or its only run), for a DET plot."""
    out = {}
    y = sets[name].labels
    for s in scored:
        if s.entry.seed in (seed, None):
            x = s.sets[name].scores
            out[s.entry.label] = (x[y == 1], x[y == 0])
    return out


LITERATURE = (
    {
        "system": "AASIST",
        "data": "LA 2019 eval (real)",
        "EER (%)": 0.83,
        "min t-DCF": 0.0275,
        "parameters": 297_000,
        "reference": "Jung et al. 2022",
    },
    {
        "system": "AASIST-L",
        "data": "LA 2019 eval (real)",
        "EER (%)": 0.99,
        "min t-DCF": 0.0309,
        "parameters": 85_000,
        "reference": "Jung et al. 2022",
    },
    {
        "system": "wav2vec 2.0 XLS-R + AASIST",
        "data": "LA 2021 eval (real)",
        "EER (%)": 0.82,
        "min t-DCF": None,
        "parameters": 317_000_000,
        "reference": "Tak et al. 2022",
    },
    {
        "system": "L-ResNetSE (study 03's source)",
        "data": "LA 2021 eval (real)",
        "EER (%)": 3.54,
        "min t-DCF": None,
        "parameters": 1_400_000,
        "reference": "Liao et al. 2021",
    },
)


def literature_table() -> pd.DataFrame:
    """The published real-data figures the leaderboard is set beside (labelled as such)."""
    df = pd.DataFrame(LITERATURE)
    df["min t-DCF"] = df["min t-DCF"].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.4f}")
    df["parameters"] = df["parameters"].map(
        lambda n: f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.0f} K"
    )
    return df.set_index("system")


def _fmt(mean: float, std: float, n: int, pct: bool, digits: int) -> str:
    k = 100.0 if pct else 1.0
    text = f"{k * mean:.{digits}f}"
    return text + (f" ± {k * std:.{digits}f}" if n > 1 and np.isfinite(std) else "")


def display_table(summary_df: pd.DataFrame, per_run: pd.DataFrame, name: str) -> pd.DataFrame:
    """The leaderboard on one set, best EER first: mean (± std over seeds) and the EER's 95 % interval."""
    rows = []
    for _, r in summary_df.sort_values(f"{name} eer").iterrows():
        runs = per_run[(per_run["study"] == r["study"]) & (per_run["system"] == r["system"])]
        lo = np.mean([c[0] for c in runs[f"{name} eer_ci95"]])
        hi = np.mean([c[1] for c in runs[f"{name} eer_ci95"]])
        n = int(r["n_seeds"])
        rows.append(
            {
                "study": r["study"][:2],
                "system": r["system"],
                "seeds": n,
                "EER (%)": _fmt(r[f"{name} eer"], r[f"{name} eer std"], n, True, 1)
                + f" [{100 * lo:.1f}, {100 * hi:.1f}]",
                "min t-DCF": _fmt(r[f"{name} min_tdcf"], r[f"{name} min_tdcf std"], n, False, 3),
                "minDCF": _fmt(r[f"{name} min_dcf"], r[f"{name} min_dcf std"], n, False, 3),
                "actDCF": _fmt(r[f"{name} act_dcf"], r[f"{name} act_dcf std"], n, False, 3),
                "Cllr": _fmt(r[f"{name} cllr"], r[f"{name} cllr std"], n, False, 3),
                "speed (x real time)": f"{r[f'{name} speed']:.0f}",
            }
        )
    return pd.DataFrame(rows).set_index(["study", "system"])


def complexity_table(summary_df: pd.DataFrame) -> pd.DataFrame:
    """Parameters and MACs of each system (one forward of what it reads), smallest first."""
    df = summary_df[["study", "system", "params", "MACs", "MACs of"]].copy()
    df["study"] = df["study"].str[:2]
    df = df.sort_values("params")
    df["params"] = df["params"].map(lambda n: f"{n / 1e6:.3f} M")
    df["MACs"] = df["MACs"].map(lambda n: f"{n / 1e6:.1f} M")
    return df.rename(columns={"params": "parameters", "MACs of": "one forward of"}).set_index(
        ["study", "system"]
    )


def sentence(summary_df: pd.DataFrame, sets: dict[str, TrialSet], profile: str) -> str:
    """What the leaderboard says, generated from its numbers."""
    parts = []
    for name in sets:
        order = summary_df.sort_values(f"{name} eer")
        best, worst = order.iloc[0], order.iloc[-1]
        parts.append(
            f"On {name} the lowest EER is study {best['study'][:2]}'s {best['system']} "
            f"({100 * best[f'{name} eer']:.1f} %, min t-DCF {best[f'{name} min_tdcf']:.3f}) and the highest "
            f"study {worst['study'][:2]}'s {worst['system']} ({100 * worst[f'{name} eer']:.1f} %)."
        )
    name = next(iter(sets))
    gap = summary_df[f"{name} act_dcf"] - summary_df[f"{name} min_dcf"]
    calibrated = int((summary_df[f"{name} cllr"] < 1).sum())
    parts.append(
        f"On {name}, {calibrated} of {len(summary_df)} systems have Cllr below 1 (better than a system "
        f"that always answers 'do not know'), and actDCF exceeds minDCF by {gap.median():.2f} in the median: "
        "the raw log-odds are not calibrated likelihood ratios."
    )
    if config.generated(profile):
        parts.append(
            "These are embedded-profile numbers: small generated data, stand-in models and short training; "
            "the literature's figures below come from the real data."
        )
    return " ".join(parts)
