"""ASVspoof 5 metrics (minDCF, actDCF, Cllr) on tiny score sets worked out by hand (higher = more bona fide)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asvnb import metrics as M

# ASVspoof 5: Pspoof 0.05, Cmiss 1, Cfa 10, so Cmiss (1 - Pspoof) = 0.95, Cfa Pspoof = 0.5, the normaliser is
# min(0.95, 0.5) = 0.5 and the normalised DCF of a point is (0.95 Pmiss + 0.5 Pfa) / 0.5 = 1.9 Pmiss + Pfa.
TAU = -math.log(0.95 / 0.5)  # the Bayes threshold -log(beta) = -log 1.9 = -0.6419


def test_parameters_are_the_packages():
    assert (M.ASVSPOOF5.Pspoof, M.ASVSPOOF5.Cmiss, M.ASVSPOOF5.Cfa) == (0.05, 1.0, 10.0)
    assert M.DcfCosts() == M.ASVSPOOF5
    assert M.bayes_threshold() == pytest.approx(-0.6418538861723947, abs=1e-15)


def test_min_dcf_hand_computed():
    # bona fide [1, 2, 3], spoof [0, 1.5]; the official DET points (see test_metrics.py):
    #   frr = [0, 0, 1/3, 1/3, 2/3, 1], far = [1, 1/2, 1/2, 0, 0, 0]
    #   1.9 frr + far = [1, 0.5, 1.1333, 0.6333, 1.2667, 1.9] -> minimum 0.5 (reject only the score 0)
    assert M.min_dcf([1.0, 2.0, 3.0], [0.0, 1.5]) == pytest.approx(0.5, abs=1e-15)
    curve, thr = M.dcf_curve([1.0, 2.0, 3.0], [0.0, 1.5])
    np.testing.assert_allclose(curve, [1, 0.5, 1.9 / 3 + 0.5, 1.9 / 3, 3.8 / 3, 1.9], atol=1e-15)
    np.testing.assert_allclose(thr, [-0.001, 0, 1, 1.5, 2, 3])


def test_min_dcf_with_other_parameters():
    # Pspoof 0.5, Cmiss = Cfa = 1: (0.5 frr + 0.5 far) / 0.5 = frr + far = [1, .5, .8333, .3333, .6667, 1] -> 1/3
    assert M.min_dcf(
        [1.0, 2.0, 3.0], [0.0, 1.5], M.DcfCosts(Pspoof=0.5, Cmiss=1, Cfa=1)
    ) == pytest.approx(1 / 3, abs=1e-15)


def test_min_dcf_perfect_and_useless():
    # separated: the point between the classes has frr = far = 0
    assert M.min_dcf([2.0, 3.0], [0.0, 1.0]) == 0.0
    # reversed: 1.9 frr + far = [1, 1.95, 2.9, 2.4, 1.9]: nothing beats accepting everything (cost 1)
    assert M.min_dcf([0.0, 1.0], [2.0, 3.0]) == 1.0


def test_min_dcf_depends_on_the_ranking_only():
    rng = np.random.default_rng(0)
    b, s = rng.normal(1, 1, 40), rng.normal(0, 1, 60)
    assert M.min_dcf(np.exp(b), np.exp(s)) == M.min_dcf(b, s) == M.min_dcf(3 * b - 7, 3 * s - 7)


def test_act_dcf_hand_computed():
    # tau = -0.642. bona fide [-1, 2, 3]: -1 < tau is a miss, Pmiss = 1/3; spoof [-2, 0]: 0 >= tau is accepted,
    # Pfa = 1/2. actDCF = 1.9 / 3 + 1/2 = 1.1333
    assert M.act_dcf([-1.0, 2.0, 3.0], [-2.0, 0.0]) == pytest.approx(1.9 / 3 + 0.5, abs=1e-15)
    # every score above tau: Pmiss 0, Pfa 1 -> 1; every score below: Pmiss 1, Pfa 0 -> 1.9
    assert M.act_dcf([1.0, 2.0, 3.0], [0.0, 1.5]) == 1.0
    assert M.act_dcf([-5.0], [-6.0, -7.0]) == pytest.approx(1.9, abs=1e-15)
    # calibrated and separated at tau: no error
    assert M.act_dcf([0.0, 1.0], [-1.0, -2.0]) == 0.0


def test_act_dcf_at_the_threshold():
    # a score equal to tau is accepted (the package: miss = bona fide < tau, false alarm = spoof >= tau)
    assert M.act_dcf([TAU], [TAU]) == 1.0  # Pmiss 0, Pfa 1
    below = np.nextafter(TAU, -np.inf)
    assert M.act_dcf([below], [below]) == pytest.approx(1.9, abs=1e-15)  # Pmiss 1, Pfa 0


def test_act_dcf_is_not_rank_invariant():
    # same ranking as the hand case above, but shifted by +1: both -1 -> 0 and 0 -> 1 now sit above tau
    assert M.act_dcf([0.0, 3.0, 4.0], [-1.0, 1.0]) == 0.5  # Pmiss 0, Pfa 1/2
    assert M.min_dcf([0.0, 3.0, 4.0], [-1.0, 1.0]) == M.min_dcf([-1.0, 2.0, 3.0], [-2.0, 0.0])


def test_cllr_hand_computed():
    # all scores 0 (no information): each term is log 2 -> 0.5 (log 2 + log 2) / log 2 = 1
    assert M.cllr([0.0, 0.0], [0.0]) == pytest.approx(1.0, abs=1e-15)
    # bona fide [log 3], spoof [-log 3]: each term log(1 + 1/3) = log(4/3) -> log2(4/3) = 0.41504
    assert M.cllr([math.log(3)], [-math.log(3)]) == pytest.approx(math.log2(4 / 3), abs=1e-15)
    # bona fide [0, log 3]: terms log 2 and log(4/3), mean log(8/3) / 2; spoof [log 3]: log(1 + 3) = log 4
    # Cllr = 0.5 (log2(8/3) / 2 + 2) = 1.35376
    assert M.cllr([0.0, math.log(3)], [math.log(3)]) == pytest.approx(
        0.5 * (math.log2(8 / 3) / 2 + 2), abs=1e-15
    )
    # confident and right: close to 0; confident and wrong: large
    assert M.cllr([50.0], [-50.0]) < 1e-20
    assert M.cllr([-10.0], [10.0]) == pytest.approx(
        0.5 * 2 * (10 + math.log1p(math.exp(-10))) / math.log(2)
    )


def test_cllr_stays_finite_where_the_package_overflows():
    # the package's log1p(exp(800)) is inf; log(1 + e^800) = 800 + log(1 + e^-800) = 800 to double precision
    assert M.cllr([-800.0], [-800.0]) == pytest.approx(0.5 * 800 / math.log(2), rel=1e-15)


def test_asvspoof5_metrics_together():
    got = M.asvspoof5_metrics([-1.0, 2.0, 3.0], [-2.0, 0.0])
    assert set(got) == {"min_dcf", "act_dcf", "cllr", "eer"}
    assert got["act_dcf"] == M.act_dcf([-1.0, 2.0, 3.0], [-2.0, 0.0])
    assert got["eer"] == M.eer([-1.0, 2.0, 3.0], [-2.0, 0.0])[0]
    assert all(isinstance(v, float) for v in got.values())


@pytest.mark.parametrize("fn", [M.min_dcf, M.act_dcf, M.cllr])
@pytest.mark.parametrize(
    "b,s,msg",
    [
        ([], [1.0], "bonafide_scores: no scores"),
        ([1.0], [np.nan], "spoof_scores: 1 NaN/inf"),
        ([np.inf], [0.0], "bonafide_scores: 1 NaN/inf"),
    ],
)
def test_bad_scores_are_refused(fn, b, s, msg):
    with pytest.raises(ValueError, match=msg):
        fn(b, s)


@pytest.mark.parametrize(
    "kw,msg",
    [
        ({"Pspoof": 0.0}, "Pspoof must be in"),
        ({"Pspoof": 1.0}, "Pspoof must be in"),
        ({"Cmiss": 0.0}, "costs must be > 0"),
        ({"Cfa": -1.0}, "costs must be > 0"),
    ],
)
def test_bad_parameters_are_refused(kw, msg):
    with pytest.raises(ValueError, match=msg):
        M.DcfCosts(**kw)
