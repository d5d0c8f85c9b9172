"""Figures a reader can weigh a result against: the source's own, the challenge baseline's on the same trials,
and chance.

A chapter's generated sentences compare an EER with these three, never with a target of the project's plan (a
reader cannot know what such a target is). The baseline is the ASVspoof challenges' LFCC-GMM:

- on the generated corpora (``embedded``, ``ci``), the data chapter trains and scores it on the very trials the
  studies score (its results file, rows ``baseline`` / ``lfcc_gmm`` / ``LA19 eval`` or ``LA21 eval`` / ``eer``,
  with a 95 % bootstrap interval);
- on the real data (``full``), the challenges' published figure on the same eval sets.

Chance is an EER of 0.5: a detector that scores at random.
"""

from __future__ import annotations

import dataclasses

from asvnb import config, results
from asvnb.results import ResultRow, ResultsFileError

CHANCE_EER = 0.5
DATA_CHAPTER = "00_embedded_corpus"  # the notebook whose results file holds the baseline's rows
BASELINE = "LFCC-GMM"
# The challenges' LFCC-GMM on the real eval sets (pooled EER): ASVspoof 2019 LA (Wang et al., 2020) and
# ASVspoof 2021 LA (Yamagishi et al., 2021, baseline B02).
PUBLISHED_BASELINE = {"LA19 eval": 0.0809, "LA21 eval": 0.1930}


@dataclasses.dataclass(frozen=True)
class Baseline:
    """The baseline's EER on one set of trials, and where the figure comes from."""

    eer: float
    ci95: tuple[float, float] | None
    origin: str  # "the data chapter, same trials" / "published, the real eval set"


def baseline_row(data: str, profile: str) -> ResultRow | None:
    """The data chapter's row ``baseline / lfcc_gmm / <data> / eer`` of ``profile`` in this build, whatever its
    trials; None without one (the data chapter not run yet at this profile, or a broken file: its own error)."""
    config.check_profile(profile)
    path = results.results_path(DATA_CHAPTER)
    if profile == "full" or not path.is_file():
        return None
    try:
        file = results.load_results_file(path)
    except ResultsFileError:
        return None  # a broken file is the data chapter's error to report, not this sentence's
    if file.profile != profile:
        return None  # another profile's corpus: other trials
    return next((r for r in file.rows if r.key() == ("baseline", "lfcc_gmm", data, "eer")), None)


def baseline_eer(data: str, profile: str, n_trials: int | None = None) -> Baseline | None:
    """The challenge baseline's EER on the trials ``data`` ("LA19 eval", "LA21 eval") of ``profile``; None when
    this build has no such figure (the data chapter not run yet at this profile, or trials it does not score).

    ``n_trials``, when given, must be the baseline row's count too: a run on a subset (``max_items``) is not on
    the same trials.
    """
    config.check_profile(profile)
    if profile == "full":
        eer = PUBLISHED_BASELINE.get(data)
        return None if eer is None else Baseline(eer, None, "published, on the real eval set")
    row = baseline_row(data, profile)
    if row is None or (n_trials is not None and row.n_trials != n_trials):
        return None
    return Baseline(row.value, row.ci95, "the data chapter, on the same trials")


def pct(value: float, ci95: tuple[float, float] | None = None) -> str:
    """A rate in percent with its 95 % interval: ``31.0 % [29.1, 33.0]``."""
    ci = "" if ci95 is None else f" [{100 * ci95[0]:.1f}, {100 * ci95[1]:.1f}]"
    return f"{100 * value:.1f} %{ci}"


def versus(ours: ResultRow, value: float, ci95: tuple[float, float] | None = None) -> str:
    """How ``ours`` stands against a figure, decided by the intervals: "lower", "higher" or "not
    distinguishable" (a figure without an interval is a point; ours without one is never distinguishable)."""
    if ours.ci95 is None:
        return "not distinguishable"
    lo, hi = ci95 if ci95 is not None else (value, value)
    if ours.ci95[1] < lo:
        return "lower"
    if ours.ci95[0] > hi:
        return "higher"
    return "not distinguishable"


def _verdict(ours: ResultRow, value: float, ci95: tuple[float, float] | None = None) -> str:
    v = versus(ours, value, ci95)
    return "the intervals cannot tell them apart" if v == "not distinguishable" else f"ours is {v}"


def weigh_eer(
    ours: ResultRow,
    data: str,
    profile: str,
    source: float | None = None,
    paired: ResultRow | None = None,
) -> str:
    """Sentences that set an EER beside the source's figure, the challenge baseline on the same trials and
    chance (ours is ``ours.ci95``).

    Against the baseline scored on the same trials, ``paired`` (ours minus the baseline, with its paired
    interval) decides; without it the sentence gives the baseline's figure and leaves the ranking open, since
    two intervals over the same trials do not rank the systems. A published figure (the full profile) and
    chance are points without per-trial scores: our interval decides.
    """
    source = ours.source if source is None else source
    out = []
    if source is not None:
        where = "" if profile == "full" else ", on the real data"
        out.append(f"The source: {pct(source)}{where}; {_verdict(ours, source)}.")
    else:
        out.append("The source reports no EER for it.")
    base = baseline_eer(data, profile, ours.n_trials)
    if data not in PUBLISHED_BASELINE:
        out.append(
            f"The challenge baseline {BASELINE} scores whole LA eval utterances, not these trials (the "
            "leaderboard scores every detector on those)."
        )
    elif base is not None and base.ci95 is None:  # published: a point
        out.append(
            f"The challenge baseline {BASELINE} ({base.origin}): {pct(base.eer)}; "
            f"{_verdict(ours, base.eer)}."
        )
    elif base is not None:
        out.append(
            f"The challenge baseline {BASELINE} ({base.origin}): {pct(base.eer, base.ci95)}; "
            + (
                paired_verdict(paired)
                if paired is not None
                else "no paired interval on these trials ranks the two here"
            )
            + "."
        )
    elif (other := baseline_row(data, profile)) is not None:
        out.append(
            f"The data chapter's {BASELINE} figure, {pct(other.value, other.ci95)}, pools {other.n_trials} "
            f"{data} trials, not these {ours.n_trials}"
            + (
                f"; scored on these trials, {paired_verdict(paired)}."
                if paired is not None
                else ": the two are not set side by side here."
            )
        )
    elif (
        paired is not None
    ):  # the data chapter's file not in this build, the audit's per-trial scores are
        out.append(
            f"The challenge baseline {BASELINE}, scored on these trials: {paired_verdict(paired)}."
        )
    else:
        out.append(
            f"The challenge baseline {BASELINE} on these trials is not in this build (the data chapter "
            "scores it)."
        )
    out.append(f"Chance: {pct(CHANCE_EER)}; {_verdict(ours, CHANCE_EER)}.")
    return " ".join(out)


def paired_verdict(d: ResultRow) -> str:
    """What a paired difference "ours minus the baseline" (EER) says, from its 95 % interval alone."""
    if d.ci95 is None:
        raise ValueError(f"{d.system}: a paired difference needs its ci95")
    lo, hi = d.ci95
    said = (
        ", so ours is lower"
        if hi < 0
        else ", so ours is higher"
        if lo > 0
        else "; the interval includes 0, so these trials cannot tell the two apart"
    )
    return (
        f"ours minus it, paired over the same {d.n_trials:,} trials: {100 * d.value:+.1f} points "
        f"[{100 * lo:+.1f}, {100 * hi:+.1f}]{said}"
    )


def ordering(ci95: tuple[float, float] | None, source_sign: int) -> str:
    """What a paired difference's interval says of a source's ordering: "reproduces", "contradicts" or "cannot
    tell". ``source_sign`` is the sign the source's own figures give the same difference (a minus b); only an
    interval that excludes 0 decides, never two overlapping intervals."""
    if source_sign not in (-1, 1):
        raise ValueError(f"source_sign must be -1 or 1, got {source_sign!r}")
    if ci95 is None or ci95[0] <= 0 <= ci95[1]:
        return "cannot tell"
    return "reproduces" if (1 if ci95[0] > 0 else -1) == source_sign else "contradicts"
