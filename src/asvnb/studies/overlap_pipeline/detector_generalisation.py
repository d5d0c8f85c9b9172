"""Why the detector stand-in misses the Griffin-Lim attacks: ``benchmarks/detector_generalisation.py``'s pilot,
read from the file it writes (committed with the code), as a table, result rows and sentences.

The clean detector's EER on LA19 eval is set by a few unseen attacks, all of
whose phase is Griffin-Lim's. The pilot trains the stand-in's architecture
again under a few variants (the release's recipe at equal epochs, the field's
RawBoost augmentation, a wider encoder, and the eval attacks seen in training
for some speakers) and scores each per attack, so that the chapter can tell an
attack the architecture cannot see from one its training data never showed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asvnb.results import ResultRow, benchmark_record, read_results, results_path

BENCHMARK = "benchmarks/detector_generalisation.py"
RECORD = "benchmarks/results/detector_generalisation.json"
GRIFFIN_LIM = (
    "A09",
    "A10",
    "A15",
    "A18",
)  # the eval attacks whose phase is Griffin-Lim's (data chapter)
DATA_CHAPTER = "00_embedded_corpus"  # whose results hold the LFCC-GMM's EERs on the same trials
UNTRAINED_LOSS = (
    0.68  # a training loss that never falls below it: the model did not learn (ln 2 = 0.693)
)
MISSED = 0.25  # a mean EER at or above it on the Griffin-Lim attacks: "misses" them (chance is 0.5)
BASE_KERNEL = (
    10  # WavLM Base's first convolution, in samples (0.6 ms at 16 kHz: a 1.6 kHz resolution)
)
SR = 16000
NEEDED = ("variant", "epochs", "best_epoch", "dev_eer", "eval_pooled_eer", "eval_pooled_ci95")


def load_generalisation(path: str | Path | None = None) -> dict[str, Any] | None:
    """The pilot's record (``RECORD`` under the project root), or None when it has not been run there."""

    def required(record: dict) -> str | None:
        runs = record.get("runs")
        if not isinstance(runs, list) or not runs:
            return "'runs' list"
        bad = [k for r in runs for k in NEEDED if k not in r]
        return f"{bad[0]!r} in every run" if bad else None

    return benchmark_record(RECORD, BENCHMARK, required, path)


def baseline_eers(rows: list[ResultRow]) -> dict[str, float]:
    """The LFCC-GMM's LA19 eval EER, pooled and per attack, from the data chapter's result rows."""
    out = {}
    for r in rows:
        if r.system == "lfcc_gmm" and r.metric == "eer" and r.data.startswith("LA19 eval"):
            out[r.data.removeprefix("LA19 eval").strip(", ") or "pooled"] = float(r.value)
    return out


def data_chapter_baseline() -> dict[str, float] | None:
    """:func:`baseline_eers` of the data chapter's results file, or None when that chapter has not run here."""
    if not results_path(DATA_CHAPTER).is_file():
        return None
    return baseline_eers(read_results(DATA_CHAPTER)) or None


def learnt(run: dict[str, Any]) -> bool:
    """Whether a run's training loss ever fell below :data:`UNTRAINED_LOSS` (runs without a history: assumed)."""
    losses = [h["train_loss"] for h in run.get("history", []) if "train_loss" in h]
    return not losses or min(losses) < UNTRAINED_LOSS


def first_kernel(run: dict[str, Any]) -> int:
    """The length in samples of a variant's first convolution (runs recorded before it was configurable: Base's)."""
    return int(run.get("config", {}).get("conv_kernels", [BASE_KERNEL])[0])


def _attack(run: dict[str, Any], attack: str) -> float:
    return float(run.get("eval_per_attack_eer", {}).get(attack, np.nan))


def _others(run: dict[str, Any]) -> float:
    per = run.get("eval_per_attack_eer", {})
    vals = [v for a, v in per.items() if a not in GRIFFIN_LIM]
    return float(np.mean(vals)) if vals else np.nan


def generalisation_table(
    record: dict[str, Any], baseline: dict[str, float] | None = None
) -> pd.DataFrame:
    """One row per variant: how it trained, its LA19 dev EER, LA19 eval EER (95 % interval), the EER on each
    Griffin-Lim attack and the mean over the other attacks; the LFCC-GMM's row when ``baseline`` is given."""
    rows = []
    for r in record["runs"]:
        lo, hi = r["eval_pooled_ci95"]
        rows.append(
            {
                "variant": r["variant"],
                "first kernel (ms)": round(1000 * first_kernel(r) / SR, 1),
                "epochs (best)": f"{r['epochs']} ({r['best_epoch']})",
                "LA19 dev EER": round(r["dev_eer"], 3),
                "LA19 eval EER": f"{r['eval_pooled_eer']:.3f} [{lo:.3f}, {hi:.3f}]",
                **{a: round(_attack(r, a), 3) for a in GRIFFIN_LIM},
                "other attacks (mean)": round(_others(r), 3),
            }
        )
    if baseline:
        others = [v for a, v in baseline.items() if a != "pooled" and a not in GRIFFIN_LIM]
        rows.append(
            {
                "variant": "LFCC-GMM (data chapter)",
                "LA19 eval EER": f"{baseline.get('pooled', np.nan):.3f}",
                **{a: round(baseline.get(a, np.nan), 3) for a in GRIFFIN_LIM},
                "other attacks (mean)": round(float(np.mean(others)), 3) if others else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("variant")


def generalisation_rows(record: dict[str, Any]) -> list[ResultRow]:
    """Result rows (table ``detector generalisation``): each variant's pooled LA19 eval EER with its interval,
    and its EER on each Griffin-Lim attack where the record holds that EER's interval."""
    out = []
    for r in record["runs"]:
        trials = r.get("eval_trials", {})
        n = int(sum(trials.values())) if isinstance(trials, dict) and trials else None
        note = f"{r['epochs']} epochs, best {r['best_epoch']} by LA19 dev; {BENCHMARK}"
        out.append(
            ResultRow(
                "detector generalisation",
                r["variant"],
                "LA19 eval",
                "eer",
                float(r["eval_pooled_eer"]),
                ci95=(float(r["eval_pooled_ci95"][0]), float(r["eval_pooled_ci95"][1])),
                n_trials=n,
                note=note,
            )
        )
        cis = r.get("eval_per_attack_ci95", {})
        for a in (
            GRIFFIN_LIM
        ):  # only where the record has the attack's interval (a reported number has one)
            if a in cis and not np.isnan(_attack(r, a)):
                out.append(
                    ResultRow(
                        "detector generalisation",
                        r["variant"],
                        f"LA19 eval, {a}",
                        "eer",
                        _attack(r, a),
                        ci95=(float(cis[a][0]), float(cis[a][1])),
                        note=note,
                    )
                )
    return out


def front_end_text(
    unseen: list[dict[str, Any]], gl: dict[str, float], other: dict[str, float]
) -> str:
    """How the variants with a longer first convolution than Base's compare with Base's on the Griffin-Lim
    attacks, the other attacks and LA19 dev (empty when every variant keeps Base's); untrained runs left out."""
    longer = [r for r in unseen if first_kernel(r) > BASE_KERNEL and learnt(r)]
    base = [r for r in unseen if first_kernel(r) == BASE_KERNEL and learnt(r)]
    if not longer or not base:
        return ""

    def span(runs: list[dict[str, Any]], of: dict[str, float] | None = None) -> str:
        vals = [of[r["variant"]] for r in runs] if of is not None else [r["dev_eer"] for r in runs]
        return f"{min(vals):.2f}" if len(vals) == 1 else f"{min(vals):.2f}-{max(vals):.2f}"

    res = sorted({round(SR / first_kernel(r)) for r in longer})
    text = (
        f"A longer first convolution ({', '.join(r['variant'] for r in longer)}: a frequency resolution of "
        f"{'-'.join(str(x) for x in res)} Hz, against {SR // BASE_KERNEL} Hz for Base's) brings the Griffin-Lim "
        f"mean to {span(longer, gl)} (Base's kernel: {span(base, gl)}), the other attacks to {span(longer, other)} "
        f"({span(base, other)}) and LA19 dev to {span(longer)} ({span(base)}). "
    )
    worse_dev = min(r["dev_eer"] for r in longer) > max(r["dev_eer"] for r in base)
    if min(gl[r["variant"]] for r in base) > max(gl[r["variant"]] for r in longer) and worse_dev:
        text += (
            "The finer front end sees more of what Griffin-Lim leaves, and generalises worse to LA19 dev, whose "
            "attacks are the training ones spoken by other speakers: its gain does not carry over to new speakers. "
        )
    return text


def generalisation_text(record: dict[str, Any], baseline: dict[str, float] | None = None) -> str:
    """What the pilot shows: how the variants trained on A01-A06 do on the Griffin-Lim attacks against the other
    attacks, and, when it was run, whether seeing the attacks in training lets the architecture find them."""
    unseen = [r for r in record["runs"] if not r.get("seen")]
    seen = [r for r in record["runs"] if r.get("seen")]
    gl = {r["variant"]: float(np.nanmean([_attack(r, a) for a in GRIFFIN_LIM])) for r in unseen}
    other = {r["variant"]: _others(r) for r in unseen}
    verdict = (
        "every variant ({}) misses the Griffin-Lim attacks"
        if min(gl.values()) >= MISSED
        else "the variants ({}) differ on the Griffin-Lim attacks"
    )
    text = (
        f"Trained on LA19 train (A01-A06) and chosen by LA19 dev, {verdict.format(', '.join(gl))}: their mean EER "
        f"is {min(gl.values()):.2f}-{max(gl.values()):.2f}, against "
        f"{min(other.values()):.2f}-{max(other.values()):.2f} on the other eval attacks. "
    )
    for r in unseen:
        losses = [h["train_loss"] for h in r.get("history", []) if "train_loss" in h]
        if not learnt(r):
            text += (
                f"{r['variant']} did not learn in its {r['epochs']} epochs (training loss never below "
                f"{min(losses):.3f}; a two-class guess scores ln 2 = 0.693): its row measures an untrained model, "
                "not the recipe. "
            )
    text += front_end_text(unseen, gl, other)
    above = sorted(
        {a for r in unseen for a in GRIFFIN_LIM if _attack(r, a) > 0.5}
    )  # ranked more bona fide than bona fide speech
    if above:
        text += (
            f"On {', '.join(above)} some variants are above 0.5: the detector ranks those spoofs as more bona fide "
            "than bona fide speech, so what it learnt from the training attacks is a cue these attacks lack. "
        )
    if baseline and all(a in baseline for a in GRIFFIN_LIM):
        text += (
            "The LFCC-GMM, which models the magnitude envelope alone, finds them at "
            + ", ".join(f"{a} {baseline[a]:.3f}" for a in GRIFFIN_LIM)
            + ". "
        )
    for r in seen:
        lo, hi = r["eval_pooled_ci95"]
        text += (
            f"With the eval attacks of some speakers in training ({r['variant']}), the same architecture scores "
            f"{r['eval_pooled_eer']:.3f} [{lo:.3f}, {hi:.3f}] on the other speakers' eval trials, and "
            + ", ".join(f"{a} {_attack(r, a):.3f}" for a in GRIFFIN_LIM)
            + ": "
            + (
                "it can see these attacks once it is shown them, so the miss is one of generalisation from the "
                "training attacks, not of the architecture. "
                if np.nanmax([_attack(r, a) for a in GRIFFIN_LIM]) < 0.15
                else f"even when shown them it does not separate them all, so the architecture at this size, in "
                f"{r['epochs']} epochs"
                + (
                    " (its best dev epoch the last: still learning)"
                    if r["best_epoch"] == r["epochs"]
                    else ""
                )
                + ", misses what sets them apart. "
            )
        )
    return text.strip()
