"""The challenge's 2019 baseline on the leaderboard: the corpus audit's LFCC-GMM, scored on the same trials.

The data chapter's audit (:mod:`asvnb.studies.corpus_audit`) trains the
ASVspoof 2019 LFCC-GMM on LA train and scores every LA 2019 dev and eval and
LA 2021 eval trial with it; it caches those scores beside the corpus, keyed by
the corpus build, the audit's configuration and its code. The leaderboard reads
them from there rather than training the GMMs again, so its row is the very
model whose figures the data chapter reports.
"""

from __future__ import annotations

from pathlib import Path

from asvnb.leaderboard.scores import MAC_SECONDS, Entry, Scored, SetScores, TrialSet
from asvnb.studies import corpus_audit

STUDY = "00_embedded_corpus"  # the data chapter's audit trained it
NAME = "LFCC-GMM"


def gmm_macs(n_params: int, seconds: float = MAC_SECONDS) -> tuple[int, str]:
    """Multiply-accumulates of the two diagonal GMMs' log-likelihoods over ``seconds`` of 16 kHz audio (two
    per mean and variance: (x - mean)^2 * precision), and what they are counted on."""
    cfg, sr = corpus_audit.BaselineConfig(), corpus_audit.SR
    win, hop = int(cfg.win_ms * sr / 1000), int(cfg.hop_ms * sr / 1000)
    frames = (round(seconds * sr) - win) // hop + 1
    per_frame = (
        n_params - 2 * cfg.components
    )  # means and variances (the weights add one term per component)
    return frames * per_frame, (
        f"{seconds:g} s at 16 kHz ({frames} LFCC frames; the GMMs' likelihoods, the LFCC not counted)"
    )


def baseline_scored(
    data_root: str | Path, sets: dict[str, TrialSet], progress: bool = False
) -> list[Scored]:
    """The audit's LFCC-GMM as a leaderboard entry scored on ``sets``, or none on data without the embedded
    corpus's MANIFEST.json (the real datasets: the audit, and so the baseline, runs on the embedded corpus).

    Its scores are the audit's, cached by corpus build and audit code; a trial the audit did not score is an
    error naming it. The speed is the audit's: reading, LFCC and the GMMs over each whole set.
    """
    root = Path(data_root)
    if not (root / "MANIFEST.json").is_file():
        return []
    audit = corpus_audit.run_audit(root, progress=progress)
    got = {}
    for name, ts in sets.items():
        got[name] = SetScores(
            corpus_audit.lfcc_gmm_scores(audit, name, ts.utts, root),
            float(audit["scores"][name]["audio_seconds"]),
            float(audit["scores"][name]["wall_seconds"]),
        )
    macs, macs_of = gmm_macs(int(audit["n_params"]))
    return [Scored(Entry(STUDY, NAME, None, root), got, int(audit["n_params"]), macs, macs_of)]
