"""Study 03's conclusions in words, each decided by the result rows' values and intervals."""

from __future__ import annotations

from collections.abc import Sequence

from asvnb import comparisons
from asvnb.results import ResultRow
from asvnb.studies.ge2e_aeg_kd.rows import BASELINE_DIFFERENCE
from asvnb.studies.ge2e_aeg_kd.settings import GE2EAEGKDConfig


def _find(
    rows: Sequence[ResultRow], table: str, system: str, data: str, metric: str
) -> ResultRow | None:
    return next((r for r in rows if r.key() == (table, system, data, metric)), None)


def _pct(r: ResultRow) -> str:
    ci = "" if r.ci95 is None else f" [{100 * r.ci95[0]:.1f}, {100 * r.ci95[1]:.1f}]"
    sd = "" if r.std is None else f" ± {100 * r.std:.1f}"
    return f"{100 * r.value:.1f}%{sd}{ci} ({r.n_seeds} seed{'s' if r.n_seeds > 1 else ''})"


def compare(a: ResultRow, b: ResultRow) -> str:
    """ "lower", "higher" or "not distinguishable": ``a`` against ``b`` by their 95 % intervals (disjoint or not)."""
    if a.ci95 is None or b.ci95 is None:
        return "not distinguishable"
    if a.ci95[1] < b.ci95[0]:
        return "lower"
    if a.ci95[0] > b.ci95[1]:
        return "higher"
    return "not distinguishable"


# the source's claim behind each difference row (rows.DIFFERENCES), as a phrase: the published difference's sign
CLAIMS = {
    "G-ResNetSE, GE2E+NLL minus NLL": "GE2E pre-training lowers the teacher's EER",
    "G-ResNetSE, static AEG minus none": "static AEG lowers the teacher's EER",
    "G-ResNetSE, active AEG minus none": "active AEG lowers the teacher's EER",
    "L-ResNetSE, static AEG minus none": "static AEG lowers the student's EER",
    "L-ResNetSE, active AEG minus none": "active AEG raises the student's EER",
    "static AEG, student L-ResNetSE minus teacher G-ResNetSE": "the student equals or beats its teacher",
}


def verdict(row: ResultRow) -> str:
    """ "reproduces", "contradicts" or "cannot tell": a difference row's paired 95 % interval against the sign of
    the source's difference (a student that "equals or beats" its teacher: contradicted only when worse)."""
    lo, hi = row.ci95
    if row.system.startswith("static AEG, student"):
        return "contradicts" if lo > 0 else ("reproduces" if hi < 0 else "cannot tell")
    if lo <= 0 <= hi:
        return "cannot tell"
    return "reproduces" if (lo > 0) == (row.source > 0) else "contradicts"


def difference_claims(rows: Sequence[ResultRow]) -> list[str]:
    """One sentence per difference row: the source's claim, its figure, ours with the paired interval, verdict."""
    out = []
    for r in rows:
        if r.table != "difference" or r.ci95 is None or r.system not in CLAIMS:
            continue
        v = verdict(r)
        says = {
            "reproduces": "our runs reproduce it",
            "contradicts": "our runs contradict it",
            "cannot tell": "our runs cannot tell (the interval holds 0)",
        }[v]
        src = "" if r.source is None else f" (source: {100 * r.source:+.2f} points)"
        out.append(
            f"{CLAIMS.get(r.system, r.system)}{src}: {r.system} is {100 * r.value:+.1f} points of LA21 eval "
            f"EER, paired 95% interval [{100 * r.ci95[0]:+.1f}, {100 * r.ci95[1]:+.1f}] over {r.n_seeds} "
            f"seed{'s' if r.n_seeds > 1 else ''}: {says}."
        )
    return out


def _baseline(rows: Sequence[ResultRow], data: str) -> ResultRow | None:
    # the teacher minus the LFCC-GMM on the same trials: the row weigh_eer ranks the two by
    return next(
        (r for r in rows if r.key() == ("difference", BASELINE_DIFFERENCE, data, "eer")), None
    )


def claims(rows: Sequence[ResultRow], cfg: GE2EAEGKDConfig) -> str:
    """The chapter's conclusions as markdown bullets, each decided by the rows' values and intervals; the
    teacher's EER is weighed against the source, the challenge baseline on the same trials and chance."""
    out = []
    ge2e = _find(rows, "1", "G-ResNetSE, GE2E+NLL", "LA21 eval", "eer")
    if ge2e is not None:
        out.append(
            f"The teacher G-ResNetSE, GE2E + NLL reaches an EER of {_pct(ge2e)} on the 2021 LA eval trials. "
            + comparisons.weigh_eer(
                ge2e, "LA21 eval", cfg.profile, paired=_baseline(rows, "LA21 eval")
            )
        )
    la19 = _find(rows, "1", "G-ResNetSE, GE2E+NLL", "LA19 eval", "eer")
    if la19 is not None:
        out.append(
            f"On the 2019 LA eval trials (unseen attacks, no codecs) it reaches {_pct(la19)}. "
            + comparisons.weigh_eer(
                la19, "LA19 eval", cfg.profile, source=None, paired=_baseline(rows, "LA19 eval")
            )
        )
    before = _find(rows, "ge2e", "G-ResNetSE, initial", "LA19 dev bona fide", "speaker_eer")
    after = _find(rows, "ge2e", "G-ResNetSE, GE2E", "LA19 dev bona fide", "speaker_eer")
    if before is not None and after is not None:
        c = compare(after, before)
        verdict = {
            "lower": "learns speakers it never saw",
            "higher": "separates held-out speakers worse",
            "not distinguishable": "does not measurably separate held-out speakers better",
        }[c]
        out.append(
            f"GE2E pre-training {verdict}: speaker-verification EER on LA19 dev bona fide {_pct(before)} "
            f"with the initial weights, {_pct(after)} after."
        )
    for mode in ("static", "active"):
        k = _find(rows, "aeg", mode, "LA19 train", "kept_fraction")
        if k is not None:  # the source gives no kept fraction to set beside it
            out.append(
                f"{mode.capitalize()} AEG keeps {100 * k.value:.0f}% of the {k.n_trials} attacked utterances "
                f"(95% interval {100 * k.ci95[0]:.0f}-{100 * k.ci95[1]:.0f}%): the attack pushed these far "
                "enough that the model takes them for another speaker."
            )
    student = _find(rows, "2", "L-ResNetSE, static AEG", "LA21 eval", "eer")
    if student is not None and ge2e is not None:
        gap = student.value - ge2e.value
        out.append(
            f"The student L-ResNetSE (static AEG) reaches {_pct(student)}, {100 * gap:+.1f} points from "
            "the teacher G-ResNetSE, GE2E + NLL"
            + (
                ""
                if student.source is None or ge2e.source is None
                else f" (in the source, {100 * (student.source - ge2e.source):+.1f} points)"
            )
            + "; whether it equals or beats its own teacher is decided by the paired difference below."
        )
    if ge2e is not None:
        fam = [
            r
            for r in rows
            if r.table == "1"
            and r.system == ge2e.system
            and r.metric == "eer"
            and r.data.startswith("LA21 eval, ")
        ]
        if fam:
            worst = max(fam, key=lambda r: r.value)
            best = min(fam, key=lambda r: r.value)
            out.append(
                f"Per family and codec the teacher ranges from {_pct(best)} ({best.data[11:]}) to "
                f"{_pct(worst)} ({worst.data[11:]})."
            )
    dev = [r for r in rows if r.table == "1" and r.data.startswith("LA19 dev, ")]
    if dev:
        text = ", ".join(
            f"{r.data[10:]} {100 * r.value:.0f}%" for r in sorted(dev, key=lambda r: r.data)
        )
        worst = max(dev, key=lambda r: r.value)
        out.append(
            f"On LA19 dev, whose attacks A01-A06 are the ones it was trained on, the teacher's EER per attack "
            f"is {text}: the hardest, {worst.data[10:]}, at {_pct(worst)}"
            + (
                ", is not learnt even though it was seen in training, so unseen attacks of its kind on "
                "2021 LA eval are not detected either."
                if worst.ci95 and worst.ci95[0] > 0.3
                else "."
            )
        )
    out += difference_claims(rows)
    return "\n".join(f"- {s}" for s in out)
