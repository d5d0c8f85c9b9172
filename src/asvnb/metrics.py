"""Evaluation metrics of the ASVspoof challenges, and score files.

Score convention (the one of ASVspoof, used everywhere in this book): a higher
countermeasure (CM) score means more bona fide; a higher ASV score means more
target speaker. A model that outputs P(spoof) must be turned around (e.g.
``1 - p`` or a negated logit) before it reaches this module.

Which official code each function follows (ASVspoof 2021 evaluation package,
``eval-package/LA/package-stage-1/eval_metrics.py`` and ``evaluate.py``; the
2019 ``eval_metrics.py`` / ``evaluate_tDCF_asvspoof19.py`` carry the same
``compute_det_curve``/``compute_eer`` and the 2019 t-DCF):

- ``det_curve``        = ``compute_det_curve``: stable (mergesort) sort of all
  scores, cumulative counts, a first point at ``min(score) - 0.001``. At
  ``thresholds[i]`` the rates count trials sorted up to position ``i`` as
  rejected; tied scores keep bona fide before spoof (the official order).
- ``eer``              = ``compute_eer``: the point where ``|frr - far|`` is
  smallest (``argmin``: the first one, and two equal gaps on either side of
  the crossing are told apart by floating-point rounding, as in the official
  code), EER = mean of the two rates there, as a fraction.
- ``asv_error_rates``  = ``compute_eer`` on target vs non-target ASV scores,
  then ``obtain_asv_error_rates`` (accept when ``score >= threshold``).
- ``tdcf_curve`` / ``min_tdcf`` = 2021 ``compute_tDCF`` (revised t-DCF, C0 + C1
  Pmiss_cm + C2 Pfa_cm normalised by C0 + min(C1, C2)) and, with
  ``legacy=True``, ``compute_tDCF_legacy`` = the ASVspoof 2019 t-DCF (C1 Pmiss_cm
  + C2 Pfa_cm normalised by min(C1, C2)); the official sanity checks become
  ``ValueError`` instead of ``sys.exit``. The minimum is at most 1 (accepting or
  rejecting everything costs the normaliser); an error-free CM gives 0 in the
  2019 form but C0 / (C0 + min(C1, C2)), the ASV's own cost, in the 2021 form.
- ``write_scores`` / ``read_scores``: the submission format ``UTT SCORE`` of
  2021 and the 2019 CM score file ``UTT SYSTEM KEY SCORE``.
- ``write_decisions`` / ``read_decisions``: ``UTT SCORE DECISION``, the 2021
  columns followed by ``bonafide`` or ``spoof`` at a threshold (``asvnb score``).

ASVspoof 5 Track 1 (evaluation package ``evaluation-package/calculate_modules.py``
and ``calculate_metrics.py`` of the asvspoof5 repository; the parameters are
:class:`DcfCosts`, :data:`ASVSPOOF5`):

- ``min_dcf``  = ``compute_mindcf`` over the official DET points;
- ``act_dcf``  = ``compute_actDCF``: the DCF at the Bayes threshold ``-log(beta)``,
  meaningful for calibrated LLR scores only;
- ``cllr``     = ``calculate_CLLR``;
- ``asvspoof5_metrics`` = ``calculate_minDCF_EER_CLLR`` (the four figures at once).

tests/test_metrics_reference.py checks EER, min t-DCF (both forms), minDCF,
actDCF and Cllr against figures the official code computed on seeded random
score sets (tests/fixtures/README.md says how they were made).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn import metrics as skm

from asvnb import files
from asvnb.errors import ProtocolError, text_lines

__all__ = [
    "det_curve",
    "eer",
    "CostModel",
    "AsvErrorRates",
    "asv_error_rates",
    "tdcf_curve",
    "min_tdcf",
    "split_by_key",
    "per_attack_eer",
    "classification_report",
    "multiclass_report",
    "ScoreFileError",
    "write_scores",
    "read_scores",
    "read_cm_score_file",
    "align_scores",
    "ASVSPOOF5",
    "DcfCosts",
    "dcf_curve",
    "min_dcf",
    "bayes_threshold",
    "act_dcf",
    "cllr",
    "asvspoof5_metrics",
    "DECISIONS",
    "decision_lines",
    "write_decisions",
    "read_decisions",
]


# --------------------------------------------------------------------------- EER


def _scores(x, name: str) -> np.ndarray:
    """1-D float64 copy of a score vector; empty, NaN or inf scores are refused."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: scores are not numeric ({exc})") from exc
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D score vector, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name}: no scores (empty array)")
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}: {int(bad.sum())} NaN/inf score(s), first at index {i} ({a[i]})")
    return a


def det_curve(bonafide_scores, spoof_scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Official DET curve: (frr, far, thresholds), one point more than there are scores."""
    tar = _scores(bonafide_scores, "bonafide_scores")
    non = _scores(spoof_scores, "spoof_scores")
    all_scores = np.concatenate((tar, non))
    labels = np.concatenate((np.ones(tar.size), np.zeros(non.size)))
    # mergesort is stable: among tied scores bona fide comes first, as in the official code
    order = np.argsort(all_scores, kind="mergesort")
    tar_sums = np.cumsum(labels[order])
    non_sums = non.size - (np.arange(1, all_scores.size + 1) - tar_sums)
    frr = np.concatenate(([0.0], tar_sums / tar.size))
    far = np.concatenate(([1.0], non_sums / non.size))
    thresholds = np.concatenate(([all_scores[order[0]] - 0.001], all_scores[order]))
    return frr, far, thresholds


def eer(bonafide_scores, spoof_scores) -> tuple[float, float]:
    """Official EER as a fraction, and its threshold (the point where |frr - far| is smallest)."""
    frr, far, thresholds = det_curve(bonafide_scores, spoof_scores)
    i = int(np.argmin(np.abs(frr - far)))
    return float(np.mean((frr[i], far[i]))), float(thresholds[i])


# ------------------------------------------------------------------------- t-DCF


@dataclass(frozen=True)
class CostModel:
    """t-DCF priors and costs; defaults are those of ASVspoof 2019 and 2021.

    2021 names are used as is. The 2019 (legacy) cost model maps onto them as
    Cmiss_asv = Cmiss_cm = ``Cmiss`` (a target rejected, by ASV or by CM),
    Cfa_asv = ``Cfa`` (a non-target accepted) and Cfa_cm = ``Cfa_spoof`` (a spoof
    accepted), which gives the official 1, 10, 1, 10.
    """

    Pspoof: float = 0.05
    Ptar: float = 0.9405  # (1 - Pspoof) * 0.99 in the official scripts
    Pnon: float = 0.0095  # (1 - Pspoof) * 0.01
    Cmiss: float = 1.0
    Cfa: float = 10.0
    Cfa_spoof: float = 10.0

    def __post_init__(self) -> None:
        priors = (self.Ptar, self.Pnon, self.Pspoof)
        if min(priors) < 0 or abs(sum(priors) - 1) > 1e-10:
            raise ValueError(
                f"CostModel: priors Ptar, Pnon, Pspoof must be >= 0 and sum to 1, got {priors}"
            )
        # the official code only warns here; a negative cost makes the minimum meaningless
        if min(self.Cmiss, self.Cfa, self.Cfa_spoof) < 0:
            raise ValueError(f"CostModel: costs must be >= 0, got {self}")

    def as_2021(self) -> dict[str, float]:
        """The cost_model dict of the 2021 ``compute_tDCF``."""
        return self._priors() | {"Cmiss": self.Cmiss, "Cfa": self.Cfa, "Cfa_spoof": self.Cfa_spoof}

    def as_2019(self) -> dict[str, float]:
        """The cost_model dict of the 2019 (legacy) ``compute_tDCF``."""
        costs = {"Cmiss_asv": self.Cmiss, "Cfa_asv": self.Cfa, "Cmiss_cm": self.Cmiss}
        return self._priors() | costs | {"Cfa_cm": self.Cfa_spoof}

    def _priors(self) -> dict[str, float]:
        return {"Pspoof": self.Pspoof, "Ptar": self.Ptar, "Pnon": self.Pnon}


@dataclass(frozen=True)
class AsvErrorRates:
    """ASV operating point fixed at its EER threshold (fractions)."""

    eer: float
    threshold: float
    Pfa_asv: float
    Pmiss_asv: float
    Pmiss_spoof_asv: float
    Pfa_spoof_asv: float


def asv_error_rates(asv_target, asv_nontarget, asv_spoof) -> AsvErrorRates:
    """ASV error rates at the ASV EER threshold (target vs non-target), official rule score >= thr."""
    tar = _scores(asv_target, "asv_target")
    non = _scores(asv_nontarget, "asv_nontarget")
    spf = _scores(asv_spoof, "asv_spoof")  # the official code stops without spoof trials too
    asv_eer, thr = eer(tar, non)
    return AsvErrorRates(
        eer=asv_eer,
        threshold=thr,
        Pfa_asv=float(np.mean(non >= thr)),
        Pmiss_asv=float(np.mean(tar < thr)),
        Pmiss_spoof_asv=float(np.mean(spf < thr)),
        Pfa_spoof_asv=float(np.mean(spf >= thr)),
    )


def tdcf_curve(
    bonafide_cm: ArrayLike,
    spoof_cm: ArrayLike,
    asv_target: ArrayLike,
    asv_nontarget: ArrayLike,
    asv_spoof: ArrayLike,
    cost_model: CostModel | None = None,
    *,
    legacy: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised t-DCF at every CM threshold: (tdcf_norm, cm_thresholds); 2021 form unless legacy."""
    cm = cost_model or CostModel()
    bona = _scores(bonafide_cm, "bonafide_cm")
    spoof = _scores(spoof_cm, "spoof_cm")
    if np.unique(np.concatenate((bona, spoof))).size < 3:
        raise ValueError(
            "CM scores: fewer than 3 distinct values; the official t-DCF needs soft "
            "scores, not hard decisions"
        )
    asv = asv_error_rates(asv_target, asv_nontarget, asv_spoof)
    pmiss_cm, pfa_cm, thresholds = det_curve(bona, spoof)
    if legacy:  # compute_tDCF_legacy (ASVspoof 2019)
        c0 = 0.0
        c1 = cm.Ptar * (cm.Cmiss - cm.Cmiss * asv.Pmiss_asv) - cm.Pnon * cm.Cfa * asv.Pfa_asv
        c2 = cm.Cfa_spoof * cm.Pspoof * (1 - asv.Pmiss_spoof_asv)
    else:  # compute_tDCF (ASVspoof 2021)
        c0 = cm.Ptar * cm.Cmiss * asv.Pmiss_asv + cm.Pnon * cm.Cfa * asv.Pfa_asv
        c1 = cm.Ptar * cm.Cmiss - c0
        c2 = cm.Pspoof * cm.Cfa_spoof * asv.Pfa_spoof_asv
    if c0 < 0 or c1 < 0 or c2 < 0:
        raise ValueError(
            f"t-DCF weights must be >= 0, got C0={c0}, C1={c1}, C2={c2}: check the ASV scores"
        )
    if c0 + min(c1, c2) == 0:  # the official code returns inf/NaN here
        raise ValueError(
            f"t-DCF of the default system is 0 (C0={c0}, C1={c1}, C2={c2}): "
            "nothing to normalise by (does the ASV reject every spoof?)"
        )
    return (c0 + c1 * pmiss_cm + c2 * pfa_cm) / (c0 + min(c1, c2)), thresholds


def min_tdcf(*scores: ArrayLike, **options: Any) -> float:
    """Normalised minimum t-DCF: the minimum of :func:`tdcf_curve`, which takes the same arguments."""
    # one signature, tdcf_curve's, so the two cannot drift apart (2021 form unless legacy=True)
    curve, _ = tdcf_curve(*scores, **options)
    return float(curve.min())


# ------------------------------------------------------- ASVspoof 5 (Track 1)
@dataclass(frozen=True)
class DcfCosts:
    """The ASVspoof 5 DCF's prior and costs, as calculate_metrics.py sets them (dcf_cost_model; plan Eq. (3)-(4))."""

    Pspoof: float = 0.05  # prior probability of a spoofing attack
    Cmiss: float = 1.0  # cost of the CM rejecting a bona fide utterance
    Cfa: float = 10.0  # cost of the CM accepting a spoofed utterance

    def __post_init__(self) -> None:
        # the normalised DCF is undefined for a prior outside (0, 1) or a non-positive cost
        if not 0.0 < self.Pspoof < 1.0:
            raise ValueError(f"Pspoof must be in (0, 1), got {self.Pspoof}")
        if not (self.Cmiss > 0 and self.Cfa > 0):
            raise ValueError(f"costs must be > 0, got Cmiss={self.Cmiss}, Cfa={self.Cfa}")


ASVSPOOF5 = DcfCosts()


def dcf_curve(
    bonafide_scores: ArrayLike, spoof_scores: ArrayLike, costs: DcfCosts = ASVSPOOF5
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised DCF at every official DET point: (dcf, thresholds); see :func:`min_dcf` for the formula."""
    frr, far, thresholds = det_curve(bonafide_scores, spoof_scores)
    Pspoof, Cmiss, Cfa = costs.Pspoof, costs.Cmiss, costs.Cfa
    p_target = 1 - Pspoof
    # compute_mindcf's terms in its order of operations, so every point is bit for bit the official one
    c_det = Cmiss * frr * p_target + Cfa * far * (1 - p_target)
    return c_det / min(Cmiss * p_target, Cfa * (1 - p_target)), thresholds


def min_dcf(
    bonafide_scores: ArrayLike, spoof_scores: ArrayLike, costs: DcfCosts = ASVSPOOF5
) -> float:
    """minDCF = min_t [Cmiss (1-Pspoof) Pmiss(t) + Cfa Pspoof Pfa(t)] / min(Cmiss (1-Pspoof), Cfa Pspoof) (ASVspoof 5).

    ``compute_mindcf`` of the evaluation package: the minimum runs over the
    official DET points (:func:`det_curve`: a trial scoring at the threshold
    counts as rejected, ties with bona fide first). It depends only on the
    ranking of the scores; 1 is the cost of accepting or rejecting everything.
    """
    curve, _ = dcf_curve(bonafide_scores, spoof_scores, costs)
    return float(curve.min())


def bayes_threshold(costs: DcfCosts = ASVSPOOF5) -> float:
    """Bayes threshold on LLR scores: -log(beta), beta = Cmiss (1-Pspoof) / (Cfa Pspoof); -0.642 for ASVspoof 5."""
    Pspoof, Cmiss, Cfa = costs.Pspoof, costs.Cmiss, costs.Cfa
    return float(-np.log(Cmiss * (1 - Pspoof) / (Cfa * Pspoof)))


def act_dcf(
    bonafide_scores: ArrayLike, spoof_scores: ArrayLike, costs: DcfCosts = ASVSPOOF5
) -> float:
    """actDCF = [Cmiss (1-Pspoof) Pmiss(tau) + Cfa Pspoof Pfa(tau)] / min(Cfa Pspoof, Cmiss (1-Pspoof)), tau = -log beta.

    ``compute_actDCF`` of the evaluation package: the threshold is
    :func:`bayes_threshold`, fixed by the priors and costs, not chosen on the
    scores; Pmiss = share of bona fide scores < tau, Pfa = share of spoof scores
    >= tau. This is only meaningful when the scores are calibrated
    log-likelihood ratios (natural log, bona fide over spoof): the log-odds of a
    classifier's posterior are LLRs plus the log prior odds of its training
    data, and uncalibrated scores give an actDCF above the minDCF (up to the
    cost of always deciding wrong).
    """
    bona = _scores(bonafide_scores, "bonafide_scores")
    spoof = _scores(spoof_scores, "spoof_scores")
    tau = bayes_threshold(costs)
    Pspoof, Cmiss, Cfa = costs.Pspoof, costs.Cmiss, costs.Cfa
    rate_miss = np.sum(bona < tau) / bona.size
    rate_fa = np.sum(spoof >= tau) / spoof.size
    cost = Cmiss * (1 - Pspoof) * rate_miss + Cfa * Pspoof * rate_fa
    return float(cost / min(Cfa * Pspoof, Cmiss * (1 - Pspoof)))


def cllr(bonafide_scores, spoof_scores) -> float:
    """Cllr (bits) = [mean_bonafide log(1 + e^-s) + mean_spoof log(1 + e^s)] / (2 log 2), the scores read as LLRs.

    ``calculate_CLLR`` of the evaluation package, which writes each term as
    ``log1p(exp(-s))``; here ``logaddexp(0, -s)``, the same value (to
    rounding) that stays finite where ``exp`` overflows (|s| > 709), where the
    package gives inf. 0 is a perfect calibrated system, 1 one that always
    outputs 0 (no information); like actDCF it assumes LLR scores.
    """
    bona = _scores(bonafide_scores, "bonafide_scores")
    spoof = _scores(spoof_scores, "spoof_scores")
    return float(
        0.5 * (np.mean(np.logaddexp(0.0, -bona)) + np.mean(np.logaddexp(0.0, spoof))) / np.log(2)
    )


def asvspoof5_metrics(bonafide_scores, spoof_scores) -> dict[str, float]:
    """minDCF, actDCF, Cllr and EER (a fraction) at the ASVspoof 5 parameters, as calculate_minDCF_EER_CLLR."""
    return {
        "min_dcf": min_dcf(bonafide_scores, spoof_scores),
        "act_dcf": act_dcf(bonafide_scores, spoof_scores),
        "cllr": cllr(bonafide_scores, spoof_scores),
        "eer": eer(bonafide_scores, spoof_scores)[0],
    }


# ------------------------------------------------------------ per-attack tables


def split_by_key(scores, keys) -> tuple[np.ndarray, np.ndarray]:
    """Split CM scores by protocol KEY ('bonafide' / 'spoof') into (bonafide, spoof)."""
    s = np.asarray(scores, dtype=np.float64)
    k = np.asarray(keys, dtype=object)
    if s.shape != k.shape or s.ndim != 1:
        raise ValueError(f"scores {s.shape} and keys {k.shape} must be 1-D of the same length")
    unknown = sorted(set(k.tolist()) - {"bonafide", "spoof"})
    if unknown:
        raise ValueError(f"keys: expected 'bonafide' or 'spoof', got {unknown[:5]}")
    return s[k == "bonafide"], s[k == "spoof"]


def per_attack_eer(scores, keys, systems) -> pd.DataFrame:
    """EER of each attack system's spoofs vs all bona fide, plus a 'pooled' row (EER as a fraction)."""
    sysarr = np.asarray(systems, dtype=object)
    bona, _ = split_by_key(scores, keys)
    s, k = np.asarray(scores, dtype=np.float64), np.asarray(keys, dtype=object)
    if sysarr.shape != s.shape:
        raise ValueError(f"systems {sysarr.shape} and scores {s.shape} must have the same length")
    rows = []
    for name in sorted(set(sysarr[k == "spoof"].tolist())):
        spoof = s[(k == "spoof") & (sysarr == name)]
        rows.append((name, bona.size, spoof.size, *eer(bona, spoof)))
    rows.append(("pooled", bona.size, int((k == "spoof").sum()), *eer(bona, s[k == "spoof"])))
    return pd.DataFrame(rows, columns=["system", "n_bonafide", "n_spoof", "eer", "threshold"])


# --------------------------------------------------------- classification reports


def eer_for_f1(prevalence: float, f1: float) -> float:
    """The EER at which a detector, operated at its EER point, reaches ``f1`` for a class of share ``prevalence``.

    At the EER point recall is 1 - e and the false-positive rate e, so
    precision is p(1-e) / (p(1-e) + (1-p)e): F1 falls as e rises, and more
    steeply the rarer the class. Solved by bisection (F1 is monotone in e).
    """
    if not 0.0 < prevalence < 1.0 or not 0.0 < f1 < 1.0:
        raise ValueError(f"prevalence and f1 must lie in (0, 1), got {prevalence!r} and {f1!r}")

    def f1_at(e: float) -> float:
        tp, fp = prevalence * (1 - e), (1 - prevalence) * e
        precision, recall = tp / (tp + fp), 1 - e
        return 2 * precision * recall / (precision + recall)

    lo, hi = 0.0, 0.5
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f1_at(mid) >= f1 else (lo, mid)
    return lo


def classification_report(y_true, y_pred, positive=1, labels=None) -> dict:
    """Accuracy, precision, recall, F1 of class ``positive`` and the confusion matrix, over the whole set."""
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    if yt.shape != yp.shape or yt.ndim != 1 or yt.size == 0:
        raise ValueError(
            f"y_true {yt.shape} and y_pred {yp.shape} must be non-empty 1-D of the same length"
        )
    labels = list(labels) if labels is not None else sorted(set(yt.tolist()) | set(yp.tolist()))
    if positive not in labels:
        raise ValueError(f"positive class {positive!r} is not among the labels {labels}")
    unknown = sorted(map(str, (set(yt.tolist()) | set(yp.tolist())) - set(labels)))
    if unknown:  # sklearn's confusion_matrix would drop them silently
        raise ValueError(f"labels {unknown[:5]} are not in {labels}")
    # binary average on the positive class; an empty denominator gives 0, not a warning
    p, r, f1, _ = skm.precision_recall_fscore_support(
        yt == positive, yp == positive, average="binary", pos_label=True, zero_division=0
    )
    tp = int(np.sum((yt == positive) & (yp == positive)))
    fp = int(np.sum((yt != positive) & (yp == positive)))
    fn = int(np.sum((yt == positive) & (yp != positive)))
    return dict(
        accuracy=float(skm.accuracy_score(yt, yp)),
        precision=float(p),
        recall=float(r),
        f1=float(f1),
        tp=tp,
        fp=fp,
        fn=fn,
        tn=int(yt.size - tp - fp - fn),
        n=int(yt.size),
        labels=labels,
        confusion_matrix=skm.confusion_matrix(yt, yp, labels=labels),
    )


def multiclass_report(y_true, y_pred, labels: Sequence = ("SS", "SB", "BB")) -> dict:
    """Per-class precision/recall/F1/support table (+ macro and weighted avg), accuracy, confusion matrix."""
    yt, yp = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    labels = list(labels)
    if yt.shape != yp.shape or yt.ndim != 1 or yt.size == 0:
        raise ValueError(
            f"y_true {yt.shape} and y_pred {yp.shape} must be non-empty 1-D of the same length"
        )
    unknown = sorted(map(str, (set(yt.tolist()) | set(yp.tolist())) - set(labels)))
    if unknown:
        raise ValueError(f"labels {unknown[:5]} are not in {labels}")
    table = pd.DataFrame(
        dict(
            zip(
                ("precision", "recall", "f1", "support"),
                skm.precision_recall_fscore_support(yt, yp, labels=labels, zero_division=0),
            )
        ),
        index=labels,
    )
    for avg in ("macro", "weighted"):
        p, r, f1, _ = skm.precision_recall_fscore_support(
            yt, yp, labels=labels, average=avg, zero_division=0
        )
        table.loc[f"{avg} avg"] = (p, r, f1, yt.size)
    table["support"] = table["support"].astype(int)
    cm = pd.DataFrame(skm.confusion_matrix(yt, yp, labels=labels), index=labels, columns=labels)
    cm.index.name, cm.columns.name = "true", "predicted"
    return dict(table=table, accuracy=float(skm.accuracy_score(yt, yp)), confusion_matrix=cm)


# ------------------------------------------------------------------- score files


class ScoreFileError(ValueError):
    """A score file that is malformed or does not match its protocol."""


def write_scores(
    path: str | Path,
    utt_ids: Sequence[str],
    scores,
    systems: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
) -> Path:
    """Write ``UTT SCORE`` lines, or ``UTT SYSTEM KEY SCORE`` (2019 CM format) with systems and keys."""
    path = Path(path)
    s = _scores(scores, f"{path}: scores")
    cols = [list(map(str, utt_ids))]
    if (systems is None) != (keys is None):
        raise ValueError(f"{path}: give both systems and keys (2019 CM format) or neither")
    if systems is not None:
        cols += [list(map(str, systems)), list(map(str, keys))]
    _check_columns(path, cols, s)
    # repr() is the shortest text that reads back as the same float
    files.write_text(path, "".join(" ".join(f) + f" {float(v)!r}\n" for *f, v in zip(*cols, s)))
    return path


def _check_columns(path: Path, cols: list[list[str]], s: np.ndarray) -> None:
    """Every text column as long as the scores, fields non-empty without whitespace, the first (IDs) unique."""
    if any(len(c) != s.size for c in cols):
        raise ValueError(
            f"{path}: column lengths differ: {[len(c) for c in cols]} vs {s.size} scores"
        )
    for c in cols:
        bad = [v for v in c if not v or v.split() != [v]]
        if bad:
            raise ValueError(f"{path}: empty or whitespace-containing field {bad[0]!r}")
    dup = [u for u, n in Counter(cols[0]).items() if n > 1]
    if dup:
        raise ValueError(f"{path}: {len(dup)} duplicated utterance IDs, e.g. {dup[:5]}")


DECISIONS = ("bonafide", "spoof")


def decision_lines(
    utt_ids: Sequence[str], scores, decisions: Sequence[str], where: str | Path = "scores"
) -> list[str]:
    """Lines ``UTT SCORE DECISION``: the 2021 ``UTT SCORE`` columns, then ``bonafide`` or ``spoof``."""
    s = _scores(scores, f"{where}: scores")
    cols = [list(map(str, utt_ids)), list(map(str, decisions))]
    _check_columns(Path(where), cols, s)
    bad = sorted(set(cols[1]) - set(DECISIONS))
    if bad:
        raise ValueError(f"{where}: decisions must be 'bonafide' or 'spoof', got {bad[:5]}")
    return [f"{u} {float(v)!r} {d}\n" for u, v, d in zip(cols[0], s, cols[1])]


def write_decisions(
    path: str | Path, utt_ids: Sequence[str], scores, decisions: Sequence[str]
) -> Path:
    """Write ``UTT SCORE DECISION`` lines atomically (``cut -d' ' -f1,2`` leaves a 2021 submission file)."""
    path = Path(path)
    lines = decision_lines(utt_ids, scores, decisions, path)
    files.write_text(path, "".join(lines))
    return path


def read_decisions(path: str | Path) -> pd.DataFrame:
    """Read a ``UTT SCORE DECISION`` file (:func:`write_decisions`) into columns utt, score, decision."""
    path = Path(path)
    if not path.is_file():
        raise ScoreFileError(f"{path}: no such score file")
    rows, seen = [], {}
    for n, line in _score_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise ScoreFileError(
                f"{path}:{n}: expected 'UTT SCORE DECISION', got {len(fields)} fields: "
                f"{line.strip()!r}"
            )
        utt, score, decision = fields
        try:
            value = float(score)
        except ValueError:
            raise ScoreFileError(f"{path}:{n}: score {score!r} is not a number") from None
        if not math.isfinite(value):
            raise ScoreFileError(f"{path}:{n}: score {score!r} is not finite")
        if decision not in DECISIONS:
            raise ScoreFileError(
                f"{path}:{n}: decision must be bonafide or spoof, got {decision!r}"
            )
        if utt in seen:
            raise ScoreFileError(f"{path}:{n}: utterance {utt} already scored on line {seen[utt]}")
        seen[utt] = n
        rows.append((utt, value, decision))
    if not rows:
        raise ScoreFileError(f"{path}: no scores in file")
    return pd.DataFrame(rows, columns=["utt", "score", "decision"])


def _score_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Lines of a score file through the adapters' text reader (UTF-8, BOM dropped), its errors as ScoreFileError."""
    try:
        yield from text_lines(path)
    except ProtocolError as exc:
        raise ScoreFileError(str(exc)) from None


def _parse_score_file(path: str | Path) -> list[tuple[str, ...]]:
    """Rows (fields..., score) of a score file with 2 or 4 fields per line, all lines alike."""
    path = Path(path)
    if not path.is_file():
        raise ScoreFileError(f"{path}: no such score file")
    rows, seen, width = [], {}, None
    for n, line in _score_lines(path):
        fields = line.split()
        if not fields:  # blank lines carry no trial
            continue
        if len(fields) not in (2, 4):
            raise ScoreFileError(
                f"{path}:{n}: expected 'UTT SCORE' or 'UTT SYSTEM KEY SCORE', "
                f"got {len(fields)} fields: {line.strip()!r}"
            )
        if width is None:
            width = len(fields)
        elif len(fields) != width:
            raise ScoreFileError(
                f"{path}:{n}: {len(fields)} fields, but earlier lines have {width}"
            )
        try:
            score = float(fields[-1])
        except ValueError:
            raise ScoreFileError(f"{path}:{n}: score {fields[-1]!r} is not a number") from None
        if not math.isfinite(score):
            raise ScoreFileError(f"{path}:{n}: score {fields[-1]!r} is not finite")
        if fields[0] in seen:
            raise ScoreFileError(
                f"{path}:{n}: utterance {fields[0]} already scored on line {seen[fields[0]]}"
            )
        seen[fields[0]] = n
        rows.append((*fields[:-1], score))
    if not rows:
        raise ScoreFileError(f"{path}: no scores in file")
    return rows


def read_scores(path: str | Path) -> dict[str, float]:
    """Read a score file (``UTT SCORE`` or ``UTT SYSTEM KEY SCORE``) into {utt: score}, in file order."""
    return {row[0]: row[-1] for row in _parse_score_file(path)}


def read_cm_score_file(path: str | Path) -> pd.DataFrame:
    """Read a 2019 CM score file ``UTT SYSTEM KEY SCORE`` into columns utt, system, key, score."""
    rows = _parse_score_file(path)
    if len(rows[0]) != 4:
        raise ScoreFileError(f"{path}: expected 'UTT SYSTEM KEY SCORE' lines, got 'UTT SCORE'")
    df = pd.DataFrame(rows, columns=["utt", "system", "key", "score"])
    bad = df.index[~df["key"].isin(["bonafide", "spoof"])]
    if len(bad):
        raise ScoreFileError(
            f"{path}: KEY must be bonafide or spoof, got {df['key'][bad[0]]!r} "
            f"for {df['utt'][bad[0]]}"
        )
    return df


def align_scores(
    scores: dict[str, float], protocol_utts: Iterable[str], path_for_errors: str | Path = "scores"
) -> np.ndarray:
    """Scores in protocol order; any missing, extra or duplicated utterance ID is an error."""
    utts = list(protocol_utts)
    dup = [u for u, n in Counter(utts).items() if n > 1]
    wanted = set(utts)
    missing = [u for u in dict.fromkeys(utts) if u not in scores]
    extra = [u for u in scores if u not in wanted]
    if dup or missing or extra:

        def few(xs: list[str]) -> str:
            return ", ".join(xs[:5]) + (", ..." if len(xs) > 5 else "")

        problems = [
            f"{len(xs)} {what} ({few(xs)})"
            for what, xs in (
                ("missing", missing),
                ("extra", extra),
                ("duplicated in the protocol", dup),
            )
            if xs
        ]
        raise ScoreFileError(
            f"{path_for_errors}: scores do not match the protocol ({len(scores)} scores, "
            f"{len(utts)} protocol trials): " + "; ".join(problems)
        )
    return np.array([scores[u] for u in utts], dtype=np.float64)
