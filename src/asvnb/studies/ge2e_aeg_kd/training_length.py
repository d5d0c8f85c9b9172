"""How far training length carries the teacher: ``benchmarks/teacher_training_length.py``'s measurement, read
from the file it writes (committed with the code), as a table, result rows and sentences.

The study's 21 networks each train for the profile's short budget; the benchmark
trains its teacher alone for longer (and once without the instance
normalisation), so that the chapter can tell an undertrained network from one
that cannot see an attack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from asvnb import comparisons
from asvnb.results import ResultRow, benchmark_record

BENCHMARK = "benchmarks/teacher_training_length.py"
RECORD = "benchmarks/results/teacher_training_length.json"
BASE_ARM = "1x"  # the profile's own settings
NETWORKS_PER_SEED = 7  # the study's fine-tuned and distilled networks (GE2E pre-training aside)


def load_training_length(path: str | Path | None = None) -> dict[str, Any] | None:
    """The benchmark's record (``RECORD`` under the project root), or None when it has not been run there."""

    def required(record: dict) -> str | None:
        arms = record.get("arms")
        return (
            None
            if isinstance(arms, dict) and BASE_ARM in arms
            else f"arm {BASE_ARM!r} under 'arms'"
        )

    return benchmark_record(RECORD, BENCHMARK, required, path)


def _cell(v: dict[str, Any]) -> str:
    return f"{v['eer']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]"


def training_length_table(record: dict[str, Any]) -> pd.DataFrame:
    """One row per arm: its crops (and as a multiple of the profile's), instance normalisation, best epoch, and
    the EERs (95 % interval) on LA19 dev pooled, per training attack, and LA19 eval."""
    base = record["arms"][BASE_ARM]["crops"]
    rows = []
    for arm, a in record["arms"].items():
        dev = a["LA19 dev"]
        rows.append(
            {"arm": arm, "crops": a["crops"], "x profile": round(a["crops"] / base, 1)}
            | {"instance norm": a["settings"].get("normalise", True)}
            | {"best epoch": f"{a['best_epoch']}/{a['epochs']}", "LA19 dev": _cell(dev["pooled"])}
            | {k: f"{v['eer']:.3f}" for k, v in dev.items() if k != "pooled"}
            | {"LA19 eval": _cell(a["LA19 eval"]["pooled"])}
        )
    return pd.DataFrame(rows).set_index("arm")


def training_length_rows(record: dict[str, Any]) -> list[ResultRow]:
    """The benchmark's figures as result rows: table "training length", one system per arm, one seed."""
    commit = str(record.get("fingerprint", {}).get("git_commit", "unknown"))[:10]
    out = []
    for arm, a in record["arms"].items():
        note = f"{BENCHMARK} at {commit}, seed {record['seed']}: {a['crops']} crops, settings {a['settings']}"
        for data, figures in (("LA19 dev", a["LA19 dev"]), ("LA19 eval", a["LA19 eval"])):
            for part, v in figures.items():
                out.append(
                    ResultRow(
                        "training length",
                        f"G-ResNetSE, NLL, {arm}",
                        data if part == "pooled" else f"{data} {part}",
                        "eer",
                        float(v["eer"]),
                        None,
                        1,
                        (float(v["ci95"][0]), float(v["ci95"][1])),
                        int(v["n_trials"]),
                        None,
                        note,
                    )
                )
    return out


def _disjoint(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    # "lower" / "higher" when a's interval is entirely below / above b's, else None
    if a["ci95"][1] < b["ci95"][0]:
        return "lower"
    if a["ci95"][0] > b["ci95"][1]:
        return "higher"
    return None


def training_length_text(
    record: dict[str, Any], profile: str, seeds: int, limit: float = 0.15
) -> str:
    """What the arms show, in numbers read from the record and decided by its intervals: the training attacks
    learnt with length, the longest arm against the LFCC-GMM, what the normalisation costs, and what the study
    would cost at that length."""
    arms = record["arms"]
    base = arms[BASE_ARM]
    normed = {k: a for k, a in arms.items() if a["settings"].get("normalise", True)}
    longest = max(normed, key=lambda k: normed[k]["crops"])
    top = normed[longest]
    attacks = [k for k in base["LA19 dev"] if k != "pooled"]
    missed = [k for k in attacks if base["LA19 dev"][k]["eer"] > limit]
    still = [k for k in attacks if top["LA19 dev"][k]["eer"] > limit]
    out = [
        f"At the profile's budget ({base['crops']:,} crops) the teacher trained alone misses "
        + (
            ", ".join(f"{k} ({base['LA19 dev'][k]['eer']:.2f})" for k in missed)
            or "no training attack"
        )
        + f" on LA19 dev (more than {limit:g} EER). At {top['crops'] / base['crops']:.1f} times the crops "
        f"({longest}) LA19 dev falls from {_cell(base['LA19 dev']['pooled'])} to "
        f"{_cell(top['LA19 dev']['pooled'])} and LA19 eval from {_cell(base['LA19 eval']['pooled'])} to "
        f"{_cell(top['LA19 eval']['pooled'])}; "
        + ", ".join(
            f"{k} from {base['LA19 dev'][k]['eer']:.2f} to {top['LA19 dev'][k]['eer']:.2f}"
            for k in missed
        )
        + ". "
        + (
            "Every training attack is then under the limit: the network was undertrained, not blind."
            if not still
            else f"{', '.join(still)} {'is' if len(still) == 1 else 'are'} still above the limit "
            f"({', '.join(_cell(top['LA19 dev'][k]) for k in still)})."
        )
    ]
    base19 = comparisons.baseline_eer("LA19 eval", profile, top["LA19 eval"]["pooled"]["n_trials"])
    if base19 is not None:
        ci = base19.ci95 or (base19.eer, base19.eer)
        side = _disjoint(top["LA19 eval"]["pooled"], {"ci95": ci})
        out.append(
            f"On LA19 eval the {longest} teacher is "
            + (
                f"{side} than the challenge baseline LFCC-GMM on the same trials"
                if side
                else "not distinguishable from the challenge baseline LFCC-GMM on the same trials (their "
                "intervals overlap)"
            )
            + f", {comparisons.pct(base19.eer, ci)} (one seed; intervals over trials)."
        )
    for k, a in arms.items():
        twin = next(
            (
                n
                for n, b in normed.items()
                if b["crops"] == a["crops"] and b["epochs"] == a["epochs"]
            ),
            None,
        )
        if a["settings"].get("normalise", True) or twin is None:
            continue
        with_norm = normed[twin]["LA19 dev"]
        worse = [x for x in attacks if _disjoint(with_norm[x], a["LA19 dev"][x]) == "higher"]
        better = [x for x in attacks if _disjoint(with_norm[x], a["LA19 dev"][x]) == "lower"]
        figures = ", ".join(
            f"{x} {a['LA19 dev'][x]['eer']:.2f} against {with_norm[x]['eer']:.2f}" for x in attacks
        )
        verdict = (
            f"the normalisation costs {', '.join(worse)} part of {'its' if len(worse) == 1 else 'their'} cue"
            if worse
            else "on these trials no attack's interval separates the two"
        ) + (f", and helps {', '.join(better)}" if better else "")
        out.append(
            f"Without the instance normalisation, at the same length ({k} against {twin}), LA19 dev per attack "
            f"is {figures}: {verdict}; LA19 eval {_cell(a['LA19 eval']['pooled'])} against "
            f"{_cell(normed[twin]['LA19 eval']['pooled'])}."
        )
    minutes = top["train_seconds"] / 60
    n = NETWORKS_PER_SEED * seeds
    out.append(
        f"The {longest} arm trained for {minutes:.1f} min on {record['threads']} thread"
        f"{'s' if record['threads'] > 1 else ''}; the study's {n} networks ({NETWORKS_PER_SEED} per seed, "
        f"{seeds} seeds) at that length would take about {n * minutes:.0f} min at that rate, more than the "
        "whole book's hour on two cores: within it, Tables 1 and 2 compare networks trained for the profile's "
        "budget."
    )
    return " ".join(out)
