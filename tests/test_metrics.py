"""Tests of asvnb.metrics against hand-computed values (scores: higher = more bona fide)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asvnb import metrics as M

# --------------------------------------------------------------------------- DET / EER
# bona fide [1, 2, 3], spoof [0, 1.5]. Stable sort of all scores:
#   0(s) 1(b) 1.5(s) 2(b) 3(b)
#   bona fide counted so far: 0 1 1 2 3            -> frr = [0, 0, 1/3, 1/3, 2/3, 1]
#   spoof above: 2 - ([1..5] - [0,1,1,2,3]) = 1 1 0 0 0  -> far = [1, 1/2, 1/2, 0, 0, 0]
#   thresholds = [0 - 0.001, 0, 1, 1.5, 2, 3]
#   |frr - far| = [1, 1/2, 1/6, 1/3, 2/3, 1] -> index 2: EER = (1/3 + 1/2) / 2 = 5/12 at 1.0
BONA, SPOOF = [1.0, 2.0, 3.0], [0.0, 1.5]


def test_det_curve_hand_computed():
    frr, far, thr = M.det_curve(BONA, SPOOF)
    np.testing.assert_allclose(frr, [0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(far, [1, 1 / 2, 1 / 2, 0, 0, 0])
    np.testing.assert_allclose(thr, [-0.001, 0, 1, 1.5, 2, 3])


def test_eer_hand_computed():
    e, t = M.eer(BONA, SPOOF)
    assert e == pytest.approx(5 / 12) and t == 1.0
    assert isinstance(e, float) and isinstance(t, float)


def test_eer_perfect_separation_is_zero():
    # sorted 0s 1s 2b 3b: frr [0,0,0,1/2,1], far [1,1/2,0,0,0] -> crossing at 0, threshold 1
    assert M.eer([2, 3], [0, 1]) == (0.0, 1.0)


def test_eer_complete_overlap_is_half():
    # identical sets; ties put bona fide first: 1b 1s 2b 2s 3b 3s 4b 4s
    # frr [0,.25,.25,.5,.5,...], far [1,1,.75,.75,.5,...] -> |diff| = 0 at index 4, both 0.5
    assert M.eer([1, 2, 3, 4], [1, 2, 3, 4]) == (0.5, 2.0)


def test_eer_official_tie_order():
    # all equal: sorted b b b s s -> frr [0,1/3,2/3,1,1,1], far [1,1,1,1,1/2,0]: exact crossing at
    # index 3 with frr = far = 1. The official code gives 1.0, not 0.5, for constant scores.
    assert M.eer([5, 5, 5], [5, 5]) == (1.0, 5.0)


def test_eer_invariant_under_increasing_transforms():
    rng = np.random.default_rng(0)
    b, s = rng.normal(1, 1, 40), rng.normal(0, 1, 60)
    e, t = M.eer(b, s)
    assert 0 < e < 0.5
    for f in (np.exp, lambda x: 3.0 * x - 7.0):
        e2, t2 = M.eer(f(b), f(s))
        assert e2 == e
        assert t2 == pytest.approx(f(t))  # the threshold is one of the scores, so it maps along


def test_eer_swap_symmetry():
    # equal counts: |frr - far| crosses 0 exactly once, so both directions pick the same point
    rng = np.random.default_rng(1)
    b, s = rng.normal(0.8, 1, 50), rng.normal(0, 1, 50)
    assert M.eer(-s, -b)[0] == M.eer(b, s)[0]


@pytest.mark.parametrize(
    "b,s,msg",
    [
        ([], [1.0], "bonafide_scores: no scores"),
        ([1.0], [], "spoof_scores: no scores"),
        ([1.0, np.nan], [0.0], "bonafide_scores: 1 NaN/inf"),
        ([1.0], [0.0, np.inf, -np.inf], "spoof_scores: 2 NaN/inf"),
        ([[1.0, 2.0]], [0.0], "1-D"),
        (["a"], [0.0], "not numeric"),
    ],
)
def test_eer_rejects_bad_input(b, s, msg):
    with pytest.raises(ValueError, match=msg):
        M.eer(b, s)


# ------------------------------------------------------------------------------ t-DCF
# ASV: target [2,3,4,5], non-target [0,1,2.5,6], spoof [1,3,5,7].
#   sorted 0n 1n 2t 2.5n 3t 4t 5t 6n -> frr [0,0,0,.25,.25,.5,.75,1,1], far [1,.75,.5,.5,.25,.25,.25,.25,0]
#   |diff| is 0 first at index 4: ASV EER 0.25, threshold 2.5.
#   Official rates (accept when score >= 2.5): Pfa_asv = #{2.5, 6}/4 = 0.5, Pmiss_asv = #{2}/4 = 0.25,
#   Pmiss_spoof_asv = #{1}/4 = 0.25, Pfa_spoof_asv = 0.75.
# Revised (2021): C0 = 0.9405*1*0.25 + 0.0095*10*0.5 = 0.235125 + 0.0475 = 0.282625
#                 C1 = 0.9405 - C0 = 0.657875;  C2 = 0.05*10*0.75 = 0.375
# Legacy (2019):  C1 = 0.9405*(1 - 0.25) - 0.0095*10*0.5 = 0.657875;  C2 = 10*0.05*(1 - 0.25) = 0.375
# CM = the DET case above: Pmiss = [0,0,1/3,1/3,2/3,1], Pfa = [1,1/2,1/2,0,0,0]
#   legacy C1*Pmiss + C2*Pfa = [.375, .1875, .40679, .21929, .43858, .657875] -> min .1875 / .375 = 0.5
#   revised C0 + ... = [.657625, .470125, ...] -> min (C0 + C2/2) / (C0 + C2) = 0.470125 / 0.657625
ASV = dict(asv_target=[2, 3, 4, 5], asv_nontarget=[0, 1, 2.5, 6], asv_spoof=[1, 3, 5, 7])
C0, C1, C2 = 0.282625, 0.657875, 0.375


def test_asv_error_rates_hand_computed():
    r = M.asv_error_rates(**ASV)
    assert (r.eer, r.threshold) == (0.25, 2.5)
    assert (r.Pfa_asv, r.Pmiss_asv, r.Pmiss_spoof_asv, r.Pfa_spoof_asv) == (0.5, 0.25, 0.25, 0.75)


def test_min_tdcf_hand_computed_both_forms():
    assert M.min_tdcf(BONA, SPOOF, **ASV) == pytest.approx(0.470125 / 0.657625)
    assert M.min_tdcf(BONA, SPOOF, **ASV, legacy=True) == pytest.approx(0.5)
    curve, thr = M.tdcf_curve(BONA, SPOOF, **ASV)
    pm, pf = np.array([0, 0, 1 / 3, 1 / 3, 2 / 3, 1]), np.array([1, 0.5, 0.5, 0, 0, 0])
    np.testing.assert_allclose(curve, (C0 + C1 * pm + C2 * pf) / (C0 + C2))
    np.testing.assert_allclose(
        M.tdcf_curve(BONA, SPOOF, **ASV, legacy=True)[0], (C1 * pm + C2 * pf) / C2
    )
    np.testing.assert_allclose(thr, [-0.001, 0, 1, 1.5, 2, 3])


def test_min_tdcf_perfect_cm():
    # legacy: zero cost; revised: only the ASV's own cost C0 is left (the official "optimum value")
    b, s = [2, 3, 4], [0, 0.5, 1]
    assert M.min_tdcf(b, s, **ASV, legacy=True) == 0.0
    assert M.min_tdcf(b, s, **ASV) == pytest.approx(C0 / (C0 + C2))


def test_min_tdcf_useless_cm_is_one():
    # all bona fide below all spoof: the best point is an end of the curve, i.e. accept or reject all,
    # which costs exactly the normaliser (C0 + min(C1, C2)) -> 1.0 in both forms
    b, s = [0, 1, 2], [3, 4, 5]
    assert M.min_tdcf(b, s, **ASV) == pytest.approx(1.0)
    assert M.min_tdcf(b, s, **ASV, legacy=True) == pytest.approx(1.0)


def test_min_tdcf_rejects_hard_decisions_and_bad_asv():
    # official sanity check: fewer than 3 distinct CM scores are decisions, not scores
    with pytest.raises(ValueError, match="fewer than 3 distinct"):
        M.min_tdcf([1, 1, 1], [1, 1], **ASV)
    with pytest.raises(ValueError, match="fewer than 3 distinct"):
        M.min_tdcf([1, 1, 1], [0, 0], **ASV)
    with pytest.raises(ValueError, match="asv_spoof: no scores"):
        M.min_tdcf(BONA, SPOOF, [2, 3], [0, 1], [])
    with pytest.raises(ValueError, match="spoof_cm: 1 NaN/inf"):
        M.min_tdcf(BONA, [0, np.nan], **ASV)
    # an ASV that rejects every spoof: legacy C2 = 0 = min(C1, C2), nothing to normalise by; the
    # revised form still has C0 and gives (C0 + C1*Pmiss_cm)/C0, whose minimum (Pmiss_cm = 0) is 1
    no_spoof_asv = dict(ASV, asv_spoof=[-5, -4])
    with pytest.raises(ValueError, match="nothing to normalise by"):
        M.min_tdcf(BONA, SPOOF, **no_spoof_asv, legacy=True)
    assert M.min_tdcf(BONA, SPOOF, **no_spoof_asv) == pytest.approx(1.0)


def test_cost_model_defaults_and_mapping():
    cm = M.CostModel()
    assert cm.Ptar == pytest.approx((1 - 0.05) * 0.99) and cm.Pnon == pytest.approx(
        (1 - 0.05) * 0.01
    )
    assert cm.as_2019() == dict(
        Pspoof=0.05, Ptar=0.9405, Pnon=0.0095, Cmiss_asv=1, Cfa_asv=10, Cmiss_cm=1, Cfa_cm=10
    )
    assert cm.as_2021() == dict(
        Pspoof=0.05, Ptar=0.9405, Pnon=0.0095, Cmiss=1, Cfa=10, Cfa_spoof=10
    )
    with pytest.raises(ValueError, match="sum to 1"):
        M.CostModel(Pspoof=0.1)
    with pytest.raises(ValueError, match="costs must be >= 0"):
        M.CostModel(Cfa=-1)


def test_min_tdcf_follows_cost_model():
    # Cfa_spoof = 100 makes C2 = 3.75 > C1, so the normaliser becomes C0 + C1 = Ptar*Cmiss = 0.9405
    # revised min: index 3 (Pmiss 1/3, Pfa 0) = (C0 + C1/3) / 0.9405
    cm = M.CostModel(Cfa_spoof=100.0)
    assert M.min_tdcf(BONA, SPOOF, **ASV, cost_model=cm) == pytest.approx((C0 + C1 / 3) / 0.9405)


# ------------------------------------------------------------------------ per attack
def test_per_attack_eer_rows():
    # A01 spoof [0, 1.5] vs bona fide [1,2,3]: the hand case, 5/12 at 1.0
    # A02 spoof [4, 5, 6]: sorted 1b 2b 3b 4s 5s 6s, frr [0,1/3,2/3,1,1,1,1], far [1,1,1,1,2/3,1/3,0]
    #   -> |diff| = 0 at index 3: 1.0 at threshold 3
    # pooled [0,1.5,4,5,6]: sorted 0s 1b 1.5s 2b 3b 4s 5s 6s, frr [0,0,1/3,1/3,2/3,1,1,1,1],
    #   far [1,.8,.8,.6,.6,.6,.4,.2,0] -> smallest |diff| 1/15 at index 4: (2/3 + 3/5)/2 = 19/30 at 2
    scores = [1, 0, 2, 4, 1.5, 3, 5, 6]
    keys = ["bonafide", "spoof", "bonafide", "spoof", "spoof", "bonafide", "spoof", "spoof"]
    systems = ["-", "A01", "-", "A02", "A01", "-", "A02", "A02"]
    df = M.per_attack_eer(scores, keys, systems)
    assert list(df["system"]) == ["A01", "A02", "pooled"]
    assert list(df["n_bonafide"]) == [3, 3, 3] and list(df["n_spoof"]) == [2, 3, 5]
    np.testing.assert_allclose(df["eer"], [5 / 12, 1.0, 19 / 30])
    np.testing.assert_allclose(df["threshold"], [1.0, 3.0, 2.0])
    with pytest.raises(ValueError, match="'bonafide' or 'spoof'"):
        M.per_attack_eer([1, 2], ["bonafide", "fake"], ["-", "A01"])


# ------------------------------------------------------------- classification reports
def test_classification_report_hand_counts():
    # pos:   T T T F F F F T  (1 = positive)
    # pred:  1 0 1 1 1 0 0 1  -> tp 3 (idx 0,2,7), fn 1 (idx 1), fp 2 (idx 3,4), tn 2 (idx 5,6)
    y_true = [1, 1, 1, 0, 0, 0, 0, 1]
    y_pred = [1, 0, 1, 1, 1, 0, 0, 1]
    r = M.classification_report(y_true, y_pred)
    assert (r["tp"], r["fp"], r["fn"], r["tn"], r["n"]) == (3, 2, 1, 2, 8)
    assert r["accuracy"] == pytest.approx(5 / 8)
    assert r["precision"] == pytest.approx(3 / 5) and r["recall"] == pytest.approx(3 / 4)
    assert r["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    np.testing.assert_array_equal(r["confusion_matrix"], [[2, 2], [1, 3]])  # rows true 0, 1
    r0 = M.classification_report(y_true, y_pred, positive=0)
    assert r0["precision"] == pytest.approx(2 / 3) and r0["recall"] == pytest.approx(2 / 4)
    rs = M.classification_report(["bonafide", "spoof"], ["spoof", "spoof"], positive="bonafide")
    assert (rs["precision"], rs["recall"], rs["f1"], rs["accuracy"]) == (0.0, 0.0, 0.0, 0.5)
    with pytest.raises(ValueError, match="positive class 2"):
        M.classification_report(y_true, y_pred, positive=2)
    with pytest.raises(ValueError, match="same length"):
        M.classification_report([1, 0], [1])
    with pytest.raises(ValueError, match=r"\['2'\] are not in \[0, 1\]"):
        M.classification_report([1, 0, 2], [1, 0, 1], labels=[0, 1])


def test_multiclass_report_hand_counts():
    # true SS SS SB SB SB BB / pred SS SB SB SB BB BB
    # SS: P 1/1, R 1/2, F1 2/3, n 2;  SB: P 2/3, R 2/3, F1 2/3, n 3;  BB: P 1/2, R 1/1, F1 2/3, n 1
    r = M.multiclass_report(
        ["SS", "SS", "SB", "SB", "SB", "BB"], ["SS", "SB", "SB", "SB", "BB", "BB"]
    )
    t = r["table"]
    assert list(t.index) == ["SS", "SB", "BB", "macro avg", "weighted avg"]
    np.testing.assert_allclose(t["precision"], [1, 2 / 3, 1 / 2, 13 / 18, (2 + 2 + 0.5) / 6])
    np.testing.assert_allclose(t["recall"], [1 / 2, 2 / 3, 1, 13 / 18, 4 / 6])
    np.testing.assert_allclose(t["f1"], [2 / 3] * 5)
    assert list(t["support"]) == [2, 3, 1, 6, 6]
    assert r["accuracy"] == pytest.approx(4 / 6)
    np.testing.assert_array_equal(
        r["confusion_matrix"].to_numpy(), [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    )
    with pytest.raises(ValueError, match=r"\['XX'\] are not in"):
        M.multiclass_report(["SS", "XX"], ["SS", "SS"])


# ------------------------------------------------------------------------ score files
def test_score_file_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    utts = [f"LA_E_{i:07d}" for i in range(20)]
    scores = rng.normal(size=20) * 10.0 ** rng.integers(-8, 8, 20)
    p = M.write_scores(tmp_path / "s.txt", utts, scores)
    assert p.read_text().splitlines()[0] == f"LA_E_0000000 {float(scores[0])!r}"
    back = M.read_scores(p)
    assert list(back) == utts and np.array_equal(list(back.values()), scores)  # exact floats


def test_cm_score_file_2019_format(tmp_path):
    p = M.write_scores(
        tmp_path / "cm.txt",
        ["LA_E_1", "LA_E_2", "LA_E_3"],
        [1.5, -0.25, 3.0],
        systems=["-", "A07", "-"],
        keys=["bonafide", "spoof", "bonafide"],
    )
    assert p.read_text() == "LA_E_1 - bonafide 1.5\nLA_E_2 A07 spoof -0.25\nLA_E_3 - bonafide 3.0\n"
    assert M.read_scores(p) == {"LA_E_1": 1.5, "LA_E_2": -0.25, "LA_E_3": 3.0}
    df = M.read_cm_score_file(p)
    assert list(df.columns) == ["utt", "system", "key", "score"] and list(df["system"]) == [
        "-",
        "A07",
        "-",
    ]
    assert M.per_attack_eer(df["score"], df["key"], df["system"])["eer"].tolist() == [0.0, 0.0]


# what the two readers of score files say of a bad file (read_scores of x.txt, read_decisions of the
# ``UTT SCORE DECISION`` files of test_metrics_decisions, s.txt): the file, the line and what is wrong
SCORES_FILE_ERRORS = [
    (
        "a 1.0\nb 2.0 3.0\n",
        r"x\.txt:2: expected 'UTT SCORE' or 'UTT SYSTEM KEY SCORE', got 3 fields",
    ),
    ("a 1.0\nb high\n", r"x\.txt:2: score 'high' is not a number"),
    ("a 1.0\n\nb nan\n", r"x\.txt:3: score 'nan' is not finite"),
    ("a 1.0\nb 2.0\na 3.0\n", r"x\.txt:3: utterance a already scored on line 1"),
    ("a - bonafide 1.0\nb 2.0\n", r"x\.txt:2: 2 fields, but earlier lines have 4"),
    ("\n\n", r"x\.txt: no scores in file"),
]
DECISIONS_FILE_ERRORS = [
    ("a 1.0\n", r"s.txt:1: expected 'UTT SCORE DECISION', got 2 fields"),
    ("a 1.0 spoof\nb x spoof\n", r"s.txt:2: score 'x' is not a number"),
    ("a inf spoof\n", r"s.txt:1: score 'inf' is not finite"),
    ("a 1.0 fake\n", r"s.txt:1: decision must be bonafide or spoof, got 'fake'"),
    ("a 1.0 spoof\na 2.0 spoof\n", r"s.txt:2: utterance a already scored on line 1"),
    ("\n\n", r"s.txt: no scores in file"),
]


@pytest.mark.parametrize(
    "read,name,text,msg",
    [(M.read_scores, "x.txt", *case) for case in SCORES_FILE_ERRORS]
    + [(M.read_decisions, "s.txt", *case) for case in DECISIONS_FILE_ERRORS],
)
def test_score_file_readers_name_file_and_line(tmp_path, read, name, text, msg):
    (tmp_path / name).write_text(text)
    with pytest.raises(M.ScoreFileError, match=msg):
        read(tmp_path / name)


@pytest.mark.parametrize(
    "read,name", [(M.read_scores, "missing.txt"), (M.read_decisions, "none.txt")]
)
def test_score_file_readers_refuse_a_missing_file(tmp_path, read, name):
    with pytest.raises(M.ScoreFileError, match="no such score file"):
        read(tmp_path / name)


def test_score_file_writer_and_reader_refuse_bad_input(tmp_path):
    with pytest.raises(ValueError, match="duplicated utterance IDs"):
        M.write_scores(tmp_path / "d.txt", ["a", "a"], [1.0, 2.0])
    with pytest.raises(ValueError, match="whitespace"):
        M.write_scores(tmp_path / "d.txt", ["a b"], [1.0])
    with pytest.raises(ValueError, match="1 NaN/inf"):
        M.write_scores(tmp_path / "d.txt", ["a", "b"], [1.0, math.nan])
    with pytest.raises(ValueError, match="column lengths differ"):
        M.write_scores(tmp_path / "d.txt", ["a", "b"], [1.0])
    assert not (tmp_path / "d.txt").exists()
    (tmp_path / "k.txt").write_text("a - fake 1.0\n")
    with pytest.raises(M.ScoreFileError, match="KEY must be bonafide or spoof, got 'fake' for a"):
        M.read_cm_score_file(tmp_path / "k.txt")


def test_score_file_with_a_utf8_bom_aligns_with_its_protocol(tmp_path):
    p = tmp_path / "bom.txt"
    p.write_bytes(
        b"\xef\xbb\xbfLA_E_1 1.5\r\nLA_E_2 -0.25\r\n"
    )  # a spreadsheet's "UTF-8 with BOM", CRLF
    scores = M.read_scores(p)
    assert scores == {
        "LA_E_1": 1.5,
        "LA_E_2": -0.25,
    }  # no missing 'LA_E_1' and extra '\ufeffLA_E_1'
    np.testing.assert_array_equal(M.align_scores(scores, ["LA_E_2", "LA_E_1"], p), [-0.25, 1.5])


@pytest.mark.parametrize(
    "data, msg",
    [
        (
            b"LA_E_1 1.5\nLA_E_2 \x960.25\n",
            r"x\.txt:2: not UTF-8 text \(byte 0x96 at column 8",
        ),  # cp1252's dash
        ("LA_E_1 1.5\n".encode("utf-16"), r"x\.txt: UTF-16 text"),
    ],
    ids=["cp1252", "utf-16"],
)
def test_score_file_in_another_encoding_names_file_and_line(tmp_path, data, msg):
    (tmp_path / "x.txt").write_bytes(data)
    with pytest.raises(M.ScoreFileError, match=msg):
        M.read_scores(tmp_path / "x.txt")


def test_align_scores_order_and_errors():
    scores = {"u3": 3.0, "u1": 1.0, "u2": 2.0}
    np.testing.assert_array_equal(
        M.align_scores(scores, ["u1", "u2", "u3"], "s.txt"), [1.0, 2.0, 3.0]
    )
    with pytest.raises(
        M.ScoreFileError, match=r"s\.txt: .*3 scores, 4 protocol trials.*1 missing \(u4\)"
    ):
        M.align_scores(scores, ["u1", "u2", "u3", "u4"], "s.txt")
    with pytest.raises(M.ScoreFileError, match=r"1 extra \(u3\)"):
        M.align_scores(scores, ["u1", "u2"], "s.txt")
    with pytest.raises(M.ScoreFileError, match=r"1 duplicated in the protocol \(u2\)"):
        M.align_scores(scores, ["u1", "u2", "u2", "u3"], "s.txt")
    many = {f"x{i}": 0.0 for i in range(8)}
    with pytest.raises(
        M.ScoreFileError, match=r"1 missing \(u1\); 8 extra \(x0, x1, x2, x3, x4, \.\.\.\)"
    ):
        M.align_scores(many, ["u1"], "s.txt")


def test_eer_for_f1_by_hand() -> None:
    from asvnb.metrics import eer_for_f1

    # balanced classes: precision = recall = 1 - e at the EER point, so F1 = 1 - e
    assert eer_for_f1(0.5, 0.8) == pytest.approx(0.2, abs=1e-9)
    # one in six positive, e = 0.07: precision 0.155 / (0.155 + 0.0583) = 0.7267, recall 0.93, F1 = 0.8159
    e = eer_for_f1(1 / 6, 0.8159)
    assert e == pytest.approx(0.07, abs=5e-4)
    assert eer_for_f1(0.1, 0.8) < eer_for_f1(0.3, 0.8)  # a rarer class needs a lower EER
    with pytest.raises(ValueError, match="must lie in"):
        eer_for_f1(0.0, 0.8)
