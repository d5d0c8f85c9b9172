"""Study 03's tables: the data, Tables 1-3 beside the source's figures, speaker EERs, AEG counts, key figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from asvnb import report
from asvnb.results import ResultRow
from asvnb.studies.ge2e_aeg_kd.published import TABLE1, TABLE2, TABLE3
from asvnb.studies.ge2e_aeg_kd.runs import AEG_MODES, MODELS, SeedRun
from asvnb.studies.ge2e_aeg_kd.sets import StudyData
from asvnb.studies.ge2e_aeg_kd.settings import STUDY, GE2EAEGKDConfig


def data_tables(data: StudyData) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Utterances per system of LA 2019 train and LA 2021 eval, the attack families, and the other counts in words."""
    train = pd.Series([t.system for t in data.train.trials]).value_counts().sort_index()
    ev = pd.Series([t.system for t in data.eval_trials]).value_counts().sort_index()
    counts = pd.DataFrame({"LA 2019 train": train, "LA 2021 eval": ev}).fillna(0).astype(int).T
    families = pd.DataFrame({"family": pd.Series(data.families)}).T
    codecs = pd.Series([t.codec for t in data.eval_trials]).value_counts().sort_index()
    bona = [t for t in data.train.trials if t.is_bonafide]
    dev_bona = sum(t.is_bonafide for t in data.dev.trials) if data.dev else 0
    text = (
        "LA 2021 eval trials per codec: " + ", ".join(f"{c} {n}" for c, n in codecs.items()) + "\n"
        f"train: {len(data.train.trials)} utterances, {len(bona)} bona fide of "
        f"{len({t.speaker for t in bona})} speakers; LA19 dev bona fide (held-out speakers): {dev_bona}\n"
        f"ASV trials for the t-DCF: {len(data.asv.target)} target, {len(data.asv.nontarget)} "
        f"non-target, {len(data.asv.spoof)} spoof"
    )
    return counts, families, text


def seeds_note(runs: Sequence[SeedRun]) -> str:
    """The number of seeds behind a row when it is fewer than the three a mean +- std asks for ("" otherwise)."""
    n = len(runs)
    return (
        ""
        if n >= 3
        else f"{n} seed{'s' if n > 1 else ''} (fewer than 3: {'no std' if n == 1 else 'std of 2'})"
    )


def _note(cfg: GE2EAEGKDConfig, extra: str = "", runs: Sequence[SeedRun] = ()) -> str:
    parts = [p for p in (extra, seeds_note(runs) if runs else "") if p] + list(cfg.reductions)
    return "; ".join(parts)


def table2_runs(runs: Sequence[SeedRun]) -> list[SeedRun]:
    """The seeds that trained Table 2's AEG teachers and students."""
    return [r for r in runs if "L static" in r.results]


def _metric_rows(model: str, src: tuple[float, float], results: list, note: str) -> list[dict]:
    """min t-DCF and EER rows of one model for report.comparison_table."""
    return [
        {
            "model": model,
            "metric": "min t-DCF",
            "source": src[0],
            "digits": 4,
            "ours": [r.min_tdcf for r in results],
            "note": note,
        },
        {
            "model": model,
            "metric": "EER",
            "source": src[1] / 100,
            "percent": True,
            "ours": [r.eer for r in results],
            "note": note,
        },
    ]


def table1_rows(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig) -> list[dict]:
    """Table 1 rows (NLL vs GE2E + NLL) for report.comparison_table."""
    rows = []
    for label, name in (("NLL", "G NLL"), ("GE2E + NLL", "G GE2E+NLL")):
        results = [r.results[name] for r in runs]
        rows += _metric_rows(f"G-ResNetSE, {label}", TABLE1[label], results, _note(cfg, runs=runs))
    return rows


def aeg_summary(runs: Sequence[SeedRun]) -> dict[str, str]:
    """How many adversarial examples static and active AEG kept, over all seeds (for the tables' notes)."""
    runs = table2_runs(runs)
    tried = sum(r.aeg["static"][0] for r in runs)
    kept = sum(r.aeg["static"][1] for r in runs)
    empty = sum(r.aeg["static"][1] == 0 for r in runs)
    static = f"static AEG kept {kept} of {tried} attacked utts"
    if empty:
        static += f"; none in {empty} of {len(runs)} seeds, where the run equals AEG none"
    a_tried = sum(e["tried"] for r in runs for e in r.aeg["active"])
    a_kept = sum(e["kept"] for r in runs for e in r.aeg["active"])
    return {
        "none": "",
        "static": static,
        "active": f"active AEG kept {a_kept} of {a_tried} over all epochs",
    }


def table2_rows(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig) -> list[dict]:
    """Table 2 rows (none / static / active AEG, teacher and distilled student)."""
    rows = []
    kept = aeg_summary(runs)
    for arch, prefix in (("G-ResNetSE", "G"), ("L-ResNetSE", "L")):
        for mode in AEG_MODES:
            name = f"{prefix} {mode}" if not (prefix == "G" and mode == "none") else "G GE2E+NLL"
            runs_of = runs if name == "G GE2E+NLL" else table2_runs(runs)
            extra = "same runs as Table 1, GE2E + NLL" if name == "G GE2E+NLL" else kept[mode]
            results = [r.results[name] for r in runs_of]
            note = _note(cfg, extra, runs_of)
            rows += _metric_rows(f"{arch}, AEG {mode}", TABLE2[(arch, mode)], results, note)
    return rows


def table3_rows(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig, cx: pd.DataFrame) -> list[dict]:
    """Table 3 rows: the source's comparison systems (source only) and our teacher (active) and student (static)."""
    rows = []
    runs = table2_runs(runs)
    for name in ("RawNet2", "SE-ResNet18", "LFCC-LCNN"):
        p, m, t, e = TABLE3[name]
        for metric, src in (
            ("params", p),
            ("MACs", m),
            ("min t-DCF", t),
            ("EER", None if e is None else e / 100),
        ):
            rows.append(
                {
                    "model": name,
                    "metric": metric,
                    "source": src,
                    "ours": "-",
                    "digits": 2 if metric == "EER" else 4,
                    "percent": metric == "EER",
                    "note": "quoted by the source, not rebuilt",
                }
            )
    lt, layout_v2, st = cx.iloc[0], cx.iloc[1], cx.iloc[2]
    text_l = f"the text's layout L gives {lt['params (M)']:.2f} M / {lt['MACs (G)']:.2f} G"
    for arch, name, c, extra in (
        ("G-ResNetSE", "G active", layout_v2, f"params/MACs of layout V2; {text_l}"),
        ("L-ResNetSE", "L static", st, ""),
    ):
        p, m, t, e = TABLE3[arch]
        rows += [
            {
                "model": arch,
                "metric": "params",
                "source": p,
                "ours": f"{c['params (M)']:.2f} M",
                "note": f"{c['input']}; {extra}".rstrip("; "),
            },
            {
                "model": arch,
                "metric": "MACs",
                "source": m,
                "ours": f"{c['MACs (G)']:.2f} G",
                "note": f"thop, {c['input']}, front-end excluded",
            },
        ]
        results = [r.results[name] for r in runs]
        rows += _metric_rows(arch, (t, e), results, _note(cfg, f"our {name}", runs))
    return rows


def ge2e_losses_text(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig) -> str:
    """The GE2E loss of every seed, mean of its first and last 5 batches, against log N."""
    return (
        "GE2E loss, mean of the first / last 5 batches per seed: "
        + ", ".join(
            f"{r.histories['GE2E']['train_loss'].iloc[:5].mean():.3f} -> "
            f"{r.histories['GE2E']['train_loss'].iloc[-5:].mean():.3f}"
            for r in runs
        )
        + f" (log N = {np.log(cfg.ge2e_speakers):.3f})"
    )


def speaker_table(runs: Sequence[SeedRun]) -> pd.DataFrame:
    """Speaker-verification EER of every seed before and after GE2E pre-training, with its interval."""
    return pd.DataFrame(
        [
            {
                "seed": r.seed,
                "when": when,
                "speaker EER": f"{100 * s.eer:.1f}%",
                "95% CI": f"[{100 * s.ci95[0]:.1f}, {100 * s.ci95[1]:.1f}]%",
                "target / non-target pairs": f"{len(s.target)} / {len(s.nontarget)}",
            }
            for r in runs
            for when, s in r.speaker.items()
        ]
    )


def aeg_table(runs: Sequence[SeedRun]) -> pd.DataFrame:
    """Every AEG round of every seed: tried, kept, threshold and similarities (static: also the SNR)."""
    rows = []
    for r in table2_runs(runs):
        sims = r.aeg["static_similarity"]
        rows.append(
            {
                "seed": r.seed,
                "AEG": "static",
                "epoch": "-",
                "tried": len(sims),
                "kept": int(sims["kept"].sum()),
                "threshold": sims["threshold"].iloc[0],
                "mean cos before": sims["before"].mean(),
                "mean cos after": sims["after"].mean(),
                "median SNR (dB)": sims["snr_db"].median(),
            }
        )
        rows += [
            {
                "seed": r.seed,
                "AEG": "active",
                "epoch": e["epoch"],
                "tried": e["tried"],
                "kept": e["kept"],
                "threshold": e["threshold"],
                "mean cos after": e["mean_after"],
            }
            for e in r.aeg["active"]
        ]
    return pd.DataFrame(rows)


def key_figures(rows: Sequence[ResultRow]) -> pd.DataFrame:
    """The result rows as a table, the interval as text."""
    return pd.DataFrame(
        [
            {
                "table": r.table,
                "system": r.system,
                "data": r.data,
                "metric": r.metric,
                "value": r.value,
                "std": r.std,
                "seeds": r.n_seeds,
                "95% CI": None if r.ci95 is None else f"[{r.ci95[0]:.4f}, {r.ci95[1]:.4f}]",
                "trials": r.n_trials,
                "source": r.source,
            }
            for r in rows
        ]
    )


def breakdown_table(key: pd.DataFrame) -> pd.DataFrame:
    """EER in % of Tables 1 and 2's systems (columns) pooled, per attack family and per codec (rows)."""
    eer = key[(key["metric"] == "eer") & key["table"].isin(["1", "2"])]
    return (
        eer.pivot_table(index="data", columns="system", values="value", sort=False)
        .mul(100)
        .round(1)
    )


def dev_table(key: pd.DataFrame) -> pd.DataFrame:
    """The teacher's (GE2E + NLL) EER on LA19 dev, pooled and per training attack, mean over seeds."""
    dev = key[(key["table"] == "1") & key["data"].str.startswith("LA19 dev")]
    return dev[["data", "value", "std", "95% CI", "trials"]].round(4)


def difference_table(key: pd.DataFrame) -> pd.DataFrame:
    """The source's claims as LA21 eval EER differences in points: ours (mean over seeds), the paired 95 %
    interval, the per-seed std, and the source's difference."""
    d = key[key["table"] == "difference"]
    return pd.DataFrame(
        {
            "difference": d["system"],
            "ours (points)": (100 * d["value"]).round(2),
            "95% CI (points)": [
                f"[{100 * float(a):+.2f}, {100 * float(b):+.2f}]"
                for a, b in (c.strip("[]").split(",") for c in d["95% CI"])
            ],
            "std over seeds": (100 * d["std"]).round(2),
            "seeds": d["seeds"],
            "source (points)": (100 * d["source"]).round(2),
        }
    ).reset_index(drop=True)


def per_attack_table(run: SeedRun) -> pd.DataFrame:
    """EER in % per attack (rows) of every model (columns) of one seed."""
    per_attack = pd.concat(
        {name: res.per_attack().set_index("system")["eer"] for name, res in run.results.items()},
        axis=1,
    )
    return (100 * per_attack).round(2)


def summary(runs: Sequence[SeedRun], cfg: GE2EAEGKDConfig) -> str:
    """A few lines on what the runs learnt: EER and min t-DCF against chance, the GE2E loss, AEG's similarities."""
    n_eval = len(next(iter(runs[0].results.values())).scores)
    lines = [f"{len(runs)} seed(s), {n_eval} eval trials; chance: EER 50%, min t-DCF 1"]
    for name in MODELS:
        eer = np.array([r.results[name].eer for r in runs if name in r.results])
        tdcf = np.array([r.results[name].min_tdcf for r in runs if name in r.results])
        plural = "s" if len(eer) > 1 else ""
        lines.append(
            f"  {name:11s} EER {100 * eer.mean():5.1f}%  min t-DCF {tdcf.mean():.3f}  "
            f"({len(eer)} seed{plural})"
        )
    first = np.mean([r.histories["GE2E"]["train_loss"].iloc[:5].mean() for r in runs])
    last = np.mean([r.histories["GE2E"]["train_loss"].iloc[-5:].mean() for r in runs])
    lines.append(
        f"GE2E loss (mean of 5 batches) {first:.3f} at the start, {last:.3f} at the end of "
        f"{cfg.ge2e_epochs} batches; log N = {np.log(cfg.ge2e_speakers):.3f} is chance"
    )
    for r in runs:
        if r.speaker:
            lines.append(
                f"seed {r.seed}: speaker EER on LA19 dev bona fide {100 * r.speaker['before'].eer:.1f}% "
                f"before GE2E, {100 * r.speaker['after'].eer:.1f}% after"
            )
    t2 = table2_runs(runs)
    if t2:
        sims = pd.concat([r.aeg["static_similarity"] for r in t2])
        lines.append(
            f"static AEG: cosine {sims['before'].mean():.3f} before the attack, {sims['after'].mean():.3f} "
            f"after (lowest {sims['after'].min():.3f}); kept {int(sims['kept'].sum())} of {len(sims)} at "
            f"<= {sims['threshold'].mean():.3f} (mean threshold)"
        )
        act = [x for r in t2 for x in r.aeg["active"]]
        if act:
            lines.append(
                f"active AEG: kept {sum(e['kept'] for e in act)} of {sum(e['tried'] for e in act)} over "
                f"{len(act)} epoch(s); mean cosine after the attack "
                f"{np.mean([e['mean_after'] for e in act]):.3f}"
            )
    return "\n".join(lines)


def save_tables(tables: Mapping[str, pd.DataFrame]) -> Path:
    """Tables 1-3 (by number) as one CSV of :data:`asvnb.report.COLUMNS` with their table number."""
    df = pd.concat([t.assign(table=n) for n, t in tables.items()], ignore_index=True)
    return report.save_results(df[["table", *report.COLUMNS]], STUDY)
