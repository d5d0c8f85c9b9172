"""Study 01: countermeasure data, the speaker CNN and its cosine scoring, min t-DCF of a countermeasure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from replicas import CV_HEADER, SR, write_mini_corpus
from replicas import harmonic as tone

from asvnb import metrics, report
from asvnb.audio import save_audio
from asvnb.config import Paths
from asvnb.results import ResultRow
from asvnb.studies import cnn_vs_resnet50 as study
from asvnb.train.classify import Predictions, SeedRun

pytestmark = pytest.mark.usefixtures("one_thread")
CV_DIR = "cv-corpus-14.0-delta-2023-06-23/en"


def add_asv_and_cv(root: Path) -> None:
    """ASV protocols of LA eval (enrolment + trials) and a Common Voice table of 4 speakers x 3 clips."""
    rng = np.random.default_rng(3)
    la = root / "LA"
    flac = la / "ASVspoof2019_LA_eval" / "flac"
    proto = (
        (la / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.eval.trl.txt")
        .read_text()
        .split("\n")
    )
    trials = [line.split() for line in proto if line]
    asv = la / "ASVspoof2019_LA_asv_protocols"
    asv.mkdir(parents=True, exist_ok=True)
    enrol, lines = {}, []
    for k, spk in enumerate(sorted({t[0] for t in trials})):
        enrol[spk] = [f"LA_E_{9000000 + 10 * k + i}" for i in range(2)]
        for u in enrol[spk]:
            save_audio(flac / f"{u}.flac", tone(0.8, 120 + 40 * k, rng), SR)
    for spk, utt, _, system, key in trials:
        for claim in enrol:
            if key == "spoof":
                if claim == spk:
                    lines.append(f"{claim} {utt} {system} spoof")
            else:
                lines.append(f"{claim} {utt} bonafide {'target' if claim == spk else 'nontarget'}")
    (asv / "ASVspoof2019.LA.asv.eval.female.trn.txt").write_text(
        "\n".join(f"{s} {','.join(u)}" for s, u in list(enrol.items())[:1]) + "\n"
    )
    (asv / "ASVspoof2019.LA.asv.eval.male.trn.txt").write_text(
        "\n".join(f"{s} {','.join(u)}" for s, u in list(enrol.items())[1:]) + "\n"
    )
    (asv / "ASVspoof2019.LA.asv.eval.gi.trl.txt").write_text("\n".join(lines) + "\n")
    rows = [CV_HEADER]
    for s in range(4):
        for i in range(3):
            name = f"common_voice_en_{100 * s + i}.mp3"
            save_audio(root / CV_DIR / "clips" / name, tone(1.2, 100 + 50 * s, rng), 48000)
            rows.append(f"{'%064x' % (s + 1)}\t{name}\tsome text\t2\t0\t\t\t\t\ten\t")
    (root / CV_DIR / "validated.tsv").write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mini01")
    write_mini_corpus(root)
    add_asv_and_cv(root)
    return root


def mini_cfg(root: Path, out: Path) -> study.CnnVsResnet50Config:
    cfg = study.CnnVsResnet50Config.for_profile(
        "embedded", data_root=root, epochs=2, clip_seconds=1.0, asv_seconds=0.5
    )
    cfg.paths = Paths(root, out)
    return cfg


def test_cm_sets_join_la_and_common_voice_without_sharing_speakers(
    corpus: Path, tmp_path: Path
) -> None:
    cfg = mini_cfg(corpus, tmp_path)
    sets = study.cm_images(cfg, 32)
    # LA: 2 speakers x 3 bona fide (genuine 0) + 3 spoofed (1) per split; CV: 4 speakers split 2 / 2, 3 clips each
    assert sorted(sets["train"].where(study.LA).labels.tolist()) == [0] * 6 + [1] * 6
    assert len(sets["val"]) == 12 and set(sets["val"].groups) == {study.LA}
    cv_train, cv_test = sets["train"].where(study.CV), sets["test"].where(study.CV)
    assert (
        len(cv_train) == 6
        and len(cv_test) == 6
        and set(cv_train.labels.tolist()) == {study.GENUINE}
    )
    spk = lambda ids: {int(i.rsplit("_", 1)[1]) // 100 for i in ids}  # noqa: E731  clip number encodes speaker
    assert spk(cv_train.ids) == {0, 1} and spk(cv_test.ids) == {2, 3}
    assert sets["train"].images.shape[1:] == (3, 32, 32)
    per_model = study.cm_image_sets(cfg)
    for name, size in cfg.sizes.items():
        assert per_model[name]["test"].images.shape[1:] == (3, size, size)
        assert per_model[name]["test"].ids == sets["test"].ids


def test_cosine_scoring_against_mean_enrolment(corpus: Path, tmp_path: Path) -> None:
    cfg = mini_cfg(corpus, tmp_path)
    la = study.LA2019(corpus, "eval")
    enrol = la.asv_enrolment()
    spk = sorted(enrol)[0]
    # enrolment embeddings (2, 0) and (0, 1) -> unit mean (1, 1)/sqrt(2); every test utterance embeds as (3, 0)
    vectors = {enrol[spk][0]: np.array([2.0, 0.0]), enrol[spk][1]: np.array([0.0, 1.0])}
    seen: list[int] = []

    def embed(wav: np.ndarray) -> np.ndarray:
        seen.append(len(wav))
        return vectors.get(order[len(seen) - 1], np.array([3.0, 0.0]))

    order = (
        enrol[spk]
        + [u for s in sorted(enrol)[1:] for u in enrol[s]]
        + [t.utt for t in la.asv_trials()]
    )
    scores = study.la_asv_scores(study.Verifier("toy", embed), cfg)
    first = scores.frame[scores.frame["speaker"] == spk]
    assert first["score"].to_numpy() == pytest.approx(np.full(len(first), 1 / np.sqrt(2)))
    assert len(scores.target) == len(scores.nontarget) == 6 and len(scores.spoof) == 6


def test_speaker_cnn_trains_and_embeds(corpus: Path, tmp_path: Path) -> None:
    cfg = mini_cfg(corpus, tmp_path)
    data = study.speaker_data(cfg)
    assert data[2] == ["LA_00t1", "LA_00t2"] and len(data[0]) + len(data[1]) == 6
    model, history = study.train_speaker_cnn(cfg, data, seed=0)
    assert list(history["epoch"]) == [1, 2] and {"val_loss", "val_acc"} <= set(history.columns)
    assert model.fc3.out_features == 2
    emb = study.cnn_verifier(model, cfg).embed(
        tone(1.3, 150, np.random.default_rng(0)).astype(np.float32)
    )
    assert emb.shape == (128,) and np.isfinite(emb).all()
    with pytest.raises(ValueError, match="needs at least 2"):
        study.cv_asv_scores(
            study.Verifier("toy", lambda w: np.ones(2)),
            study.CnnVsResnet50Config(**{**vars(cfg), "cv_max_clips": 3}),
        )  # one speaker's clips


def asv_scores(
    rng: np.random.Generator, n: int, means: tuple[float, float, float]
) -> study.ASVScores:
    """``n`` target, ``n`` non-target and ``n`` spoof ASV scores ~ N(mean, 1), drawn from ``rng`` in that order."""
    keys = ("target", "nontarget", "spoof")
    return study.ASVScores.from_frame(
        pd.DataFrame(
            {
                "key": [k for k in keys for _ in range(n)],
                "score": np.concatenate([rng.normal(mean, 1, n) for mean in means]),
            }
        )
    )


def test_min_tdcf_ranks_countermeasures_and_reports_hard_decisions() -> None:
    rng = np.random.default_rng(0)
    asv = asv_scores(rng, 50, (2, -2, 1.5))
    labels = np.r_[np.zeros(40, int), np.ones(40, int)]
    good = np.c_[
        np.r_[rng.normal(3, 1, 40), rng.normal(-3, 1, 40)], np.zeros(80)
    ]  # logit of genuine (0) high
    poor = np.c_[rng.normal(0, 1, 80), np.zeros(80)]
    run = lambda logits: SeedRun(0, None, 1, Path("."), {"LA eval": Predictions(logits, labels)})  # noqa: E731
    t_good, t_poor = study.min_tdcf(run(good), asv), study.min_tdcf(run(poor), asv)
    assert 0 < t_good < t_poor <= 1
    s = good[:, 0]
    assert t_good == pytest.approx(
        metrics.min_tdcf(s[:40], s[40:], asv.target, asv.nontarget, asv.spoof)
    )
    hard = np.c_[np.r_[np.ones(40), -np.ones(40)], np.zeros(80)]  # two distinct scores: no t-DCF
    assert np.isnan(study.min_tdcf(run(hard), asv))


def test_source_figures_keep_both_cnn_rows_and_models_are_named() -> None:
    assert "0.710 (§7)" in study.SOURCE_FIGURES["CNN"][("test", "precision")]
    assert "0.54 (§6.1)" in study.SOURCE_FIGURES["CNN"][("test", "precision")]
    assert study.SOURCE_FIGURES["ResNet50"][("test", "accuracy")] == 0.52
    cfg = study.CnnVsResnet50Config.for_profile("embedded", data_root="/nonexistent")
    assert cfg.weights is None and cfg.sizes == {"CNN": 96, "ResNet50": 32}
    assert study.CnnVsResnet50Config.for_profile("embedded", data_root="/x", size=64).sizes == {
        "CNN": 64,
        "ResNet50": 64,
    }
    assert study.CnnVsResnet50Config.for_profile("full", data_root="/x").sizes == {
        "CNN": 224,
        "ResNet50": 224,
    }
    # the full profile's epochs are cut to the book's GPU budget; the settings without it give every model 20
    full = study.CnnVsResnet50Config.for_profile("full", data_root="/x")
    assert {k: s.epochs for k, s in full.setups.items()} == {
        "CNN": 20,
        "ResNet50": 5,
        "ASV CNN": 20,
    }
    src = study.CnnVsResnet50Config.source_settings("/x")
    assert (
        {s.epochs for s in src.setups.values()} == {20}
        and src.profile == "full"
        and src.sizes == full.sizes
    )
    assert {k: s.epochs for k, s in cfg.setups.items()} == {"CNN": 24, "ResNet50": 8, "ASV CNN": 20}
    assert torch.nn.Module in type(cfg.model("CNN")[0](**cfg.model("CNN")[1])).__mro__
    with pytest.raises(ValueError, match="unknown model 'VGG'"):
        cfg.model("VGG")


def _run(seed: int, preds: dict) -> SeedRun:
    return SeedRun(seed, None, 1, Path("."), preds)


def test_mp3_shortcut_probability_that_cv_scores_above_la() -> None:
    # logits (genuine, spoofed): the score is logit0 - logit1. CV clips score 2, 3; LA bona fide 1, 2.5; LA spoof -4
    cv = Predictions(np.array([[2.0, 0.0], [3.0, 0.0]]), np.zeros(2, int))
    la = Predictions(np.array([[1.0, 0.0], [2.5, 0.0], [-4.0, 0.0]]), np.array([0, 0, 1]))
    out = study.cv_vs_la_bonafide(_run(0, {"CV test": cv, "LA eval": la}))
    # pairs (CV, LA bona fide): 2>1, 2<2.5, 3>1, 3>2.5 -> 3 of 4
    assert out["P(CV > LA)"] == pytest.approx(0.75)
    assert (
        out["CV genuine rate"] == 1.0 and out["LA genuine rate"] == 1.0
    )  # all four scores are positive


def test_mp3_shortcut_is_read_from_the_paired_difference_of_the_two_recipes() -> None:
    la = Predictions(np.array([[1.0, 0.0], [2.5, 0.0], [-4.0, 0.0]]), np.array([0, 0, 1]))

    def run(seed: int, cv_scores: list[float]) -> SeedRun:
        cv = Predictions(np.c_[cv_scores, np.zeros(len(cv_scores))], np.zeros(len(cv_scores), int))
        return _run(seed, {"CV test": cv, "LA eval": la})

    # P(CV > LA) against LA bona fide 1, 2.5: CV (2, 3) -> 3/4; (3, 4) -> 4/4; (0, 1) -> (0 + 0 + 0.5 + 0)/4
    with_cv, without = [run(0, [2.0, 3.0]), run(1, [3.0, 4.0])], [run(0, [0.0, 1.0])]
    row = study.shortcut_difference_row(with_cv, without, reps=200)
    assert row.table == "difference" and row.metric == "p_cv_above_la" and row.n_trials == 4
    assert row.value == pytest.approx((0.75 + 1.0) / 2 - 0.125)
    # every clip scores higher with Common Voice than without: every paired resample's difference is positive
    assert 0 < row.ci95[0] <= row.value <= row.ci95[1]
    mp3 = [
        ResultRow(
            "mp3", "CNN", "CV vs LA19 eval bona fide", "p_cv_above_la", 0.875, ci95=(0.8, 0.9)
        ),
        ResultRow(
            "mp3", study.NO_CV, "CV vs LA19 eval bona fide", "p_cv_above_la", 0.125, ci95=(0.0, 0.3)
        ),
        ResultRow("cm", "CNN", "LA19 eval", "eer", 0.1, ci95=(0.08, 0.12)),
        ResultRow("cm", study.NO_CV, "LA19 eval", "eer", 0.11, ci95=(0.09, 0.13)),
        row,
    ]
    text = study.shortcut_text(mp3)
    assert "+0.750" in text and "the shortcut at work" in text
    zero = ResultRow(
        "difference", row.system, row.data, row.metric, 0.02, ci95=(-0.05, 0.09)
    )  # an interval that holds 0
    assert "not shown" in study.shortcut_text(mp3[:-1] + [zero])
    other_la = Predictions(la.logits[:2], np.array([0, 0]))
    odd = _run(2, {"CV test": with_cv[0].predictions["CV test"], "LA eval": other_la})
    bad = run(2, [1.0])
    with pytest.raises(ValueError, match="same clips"):
        study.shortcut_difference_row(with_cv, [bad], reps=10)
    assert study.shortcut_difference_row([odd], [odd], reps=10).value == 0.0


def test_result_rows_carry_the_key_figures_with_the_corpus_asv() -> None:
    rng = np.random.default_rng(1)
    asv = asv_scores(rng, 40, (2, -2, 1.5))
    weak = asv_scores(rng, 40, (0.5, -0.5, 0.5))
    labels = np.r_[np.zeros(30, int), np.ones(30, int)]

    def runs(shift: float) -> list[SeedRun]:
        out = []
        for seed in range(3):
            g = np.c_[np.r_[rng.normal(shift, 1, 30), rng.normal(-shift, 1, 30)], np.zeros(60)]
            la = Predictions(g, labels)
            cv = Predictions(np.c_[rng.normal(shift, 1, 10), np.zeros(10)], np.zeros(10, int))
            test = Predictions(np.r_[g, cv.logits], np.r_[labels, cv.labels])
            out.append(_run(seed, {"LA eval": la, "CV test": cv, "test": test}))
        return out

    cms = {"CNN": runs(2.0), "ResNet50": runs(0.2)}
    rows = {r.key(): r for r in study.result_rows(cms, asv, [weak] * 3, no_cv=runs(2.0), reps=50)}
    for key in [("cm", "CNN", "LA19 eval", m) for m in ("eer", "f1_weighted", "min_tdcf", "f1")] + [
        ("cm", "ResNet50", "LA19 eval", "eer"),
        ("cm", "CNN, trained without Common Voice", "LA19 eval", "eer"),
        ("mp3", "CNN", "CV vs LA19 eval bona fide", "p_cv_above_la"),
        ("difference", study.SHORTCUT_DIFFERENCE, "CV vs LA19 eval bona fide", "p_cv_above_la"),
    ]:
        assert (
            key in rows
            and rows[key].n_seeds == 3
            and rows[key].ci95[0] <= rows[key].value <= rows[key].ci95[1]
        )
    cnn = rows[("cm", "CNN", "LA19 eval", "min_tdcf")]
    by_hand = [
        metrics.min_tdcf(s[:30], s[30:], asv.target, asv.nontarget, asv.spoof)
        for s in (r.predictions["LA eval"].scores(0) for r in cms["CNN"])
    ]
    assert cnn.value == pytest.approx(np.mean(by_hand)) and cnn.n_trials == 60
    # a weaker ASV system makes the same countermeasures' t-DCF worse
    assert rows[("cm", "CNN", "LA19 eval", "min_tdcf_own_asv")].value > cnn.value
    assert rows[("cm", "CNN", "LA19 eval", "f1_weighted")].source == 0.707735
    assert (
        rows[("cm", "CNN", "LA19 eval", "eer")].value
        < rows[("cm", "ResNet50", "LA19 eval", "eer")].value
    )


def _la_eval_run(seed: int, logits: np.ndarray, labels: np.ndarray, ids: list[str]) -> SeedRun:
    return SeedRun(
        seed, pd.DataFrame(), 1, Path("."), {"LA eval": Predictions(logits, labels, ids)}, {}
    )


def test_attack_splits_score_each_group_against_every_bona_fide_trial():
    # 2 bona fide (b1, b2), spoofs s1, s2 of attack A07 and s3 of A17; class 0 = genuine and the score is the
    # log-odds of class 0, so logits (x, 0) score x. A07's spoofs score below every bona fide trial (EER 0);
    # A17's one spoof scores above both (worse than chance)
    ids = ["b1", "b2", "s1", "s2", "s3"]
    labels = np.array([0, 0, 1, 1, 1])
    logits = np.array([[2.0, 0], [3.0, 0], [-1.0, 0], [-2.0, 0], [5.0, 0]])
    runs = {"CNN": [_la_eval_run(0, logits, labels, ids)]}
    groups = {"family TTS": {"s1", "s2"}, "A07": {"s1", "s2"}, "A17": {"s3"}, "A99": {"not-scored"}}
    names = study.add_attack_splits(runs, groups)
    assert names == [
        "LA eval, family TTS",
        "LA eval, A07",
        "LA eval, A17",
    ]  # A99 has no scored spoof: no split
    r = runs["CNN"][0]
    assert r.predictions["LA eval, A07"].ids == ["b1", "b2", "s1", "s2"]
    assert r.metrics["LA eval, A07"]["eer"] == 0.0
    bona, spoof = np.array([2.0, 3.0]), np.array([5.0])
    assert r.metrics["LA eval, A17"]["eer"] == pytest.approx(metrics.eer(bona, spoof)[0])
    assert r.metrics["LA eval, A17"]["eer"] > 0.5


def test_attack_groups_read_families_from_the_corpus_manifest(tmp_path):
    write_mini_corpus(tmp_path)
    root = tmp_path
    groups = study.attack_groups(root)
    fams = [g for g in groups if g.startswith("family")]
    assert fams and list(groups)[: len(fams)] == fams  # families first, then attacks
    la_spoofs = {t.utt for t in study.LA2019(root, "eval").trials if not t.is_bonafide}
    assert set().union(*(groups[g] for g in fams)) == la_spoofs
    assert set().union(*(v for g, v in groups.items() if not g.startswith("family"))) == la_spoofs


def test_trained_cm_leaves_a_card_that_scores_audio_as_the_study_did(
    corpus: Path, tmp_path: Path
) -> None:
    from asvnb import scoring
    from asvnb.audio import load_audio
    from asvnb.train.detector import read_card

    cfg = mini_cfg(corpus, tmp_path)
    cfg.setups["CNN"].epochs = 1
    run = study.train_cms(cfg, "CNN", study.cm_image_sets(cfg)["CNN"], [0])[0]
    dev = run.predictions["LA dev"]
    card = read_card(run.best_dir)
    assert card.threshold["value"] == pytest.approx(run.metrics["LA dev"]["eer_threshold"])
    assert card.bonafide_class == study.GENUINE and card.sample_rate == cfg.sr
    # the card rebuilds the network and its front end: each LA dev file, read and scored on its own, gets the
    # score the study gave it from its cached image
    det = scoring.load_detector(run.best_dir, device="cpu")
    la = study.LA2019(corpus, "dev")
    got = [det.score_waveform(load_audio(la.audio_path(u), cfg.sr)) for u in dev.ids]
    np.testing.assert_allclose(got, dev.scores(study.GENUINE), rtol=0, atol=1e-3)


def test_save_tables_writes_both_tables_as_one_csv(build_dir) -> None:
    cm = pd.DataFrame([["CNN", "eer", "-", "0.30", "embedded", ""]], columns=report.COLUMNS)
    asv = pd.DataFrame([["ASV CNN", "eer", "-", "0.10", "embedded", ""]], columns=report.COLUMNS)
    path = study.save_tables(cm, asv)
    assert path == build_dir / "results" / "01_cnn_vs_resnet50.csv"
    back = pd.read_csv(path, keep_default_na=False, dtype=str)
    assert back["model"].tolist() == ["CNN", "ASV CNN"]
    assert back["this book"].tolist() == ["0.30", "0.10"]


def test_cnn_minus_the_lfcc_gmm_is_paired_on_the_same_trials() -> None:
    # 4 genuine (label 0) then 4 spoofed trials; the score is logit0 - logit1 (logit1 = 0)
    labels = np.r_[np.zeros(4, int), np.ones(4, int)]
    perfect = np.r_[3.0, 2.0, 1.0, 0.2, -0.5, -1.0, -2.0, -3.0]  # EER 0
    # one spoof (0.5) above one genuine trial (0.2): between them 1 of 4 rejected and 1 of 4 accepted, EER 0.25
    crossed = np.r_[3.0, 2.0, 1.0, 0.2, 0.5, -1.0, -2.0, -3.0]
    runs = [
        _run(s, {"LA eval": Predictions(np.c_[x, np.zeros(8)], labels)})
        for s, x in ((0, perfect), (1, crossed))
    ]
    gmm = np.r_[0.2, 3.0, 2.0, 1.0, -1.0, -2.0, 0.5, -3.0]  # the same 0.25 case, in another order
    row = study.baseline_difference_row(runs, gmm, reps=200)
    assert row.key() == ("difference", "CNN minus LFCC-GMM", "LA19 eval", "eer")
    # mean CNN EER (0 + 0.25) / 2 minus the baseline's 0.25; per seed: -0.25 and 0
    assert row.value == pytest.approx(-0.125)
    assert row.n_seeds == 2 and row.std == pytest.approx(
        0.125 * np.sqrt(2)
    )  # ddof 1 and row.n_trials == 8
    assert row.ci95[0] <= row.value <= row.ci95[1]
    with pytest.raises(ValueError, match="7 LFCC-GMM scores for 8 LA19 eval trials"):
        study.baseline_difference_row(runs, gmm[:7])


def test_the_baseline_scores_are_looked_up_by_trial() -> None:
    from asvnb.studies import corpus_audit

    audit = {"scores": {"LA19 eval": {"utt": ["a", "b", "c"], "score": [1.0, 2.0, 3.0]}}}
    got = corpus_audit.lfcc_gmm_scores(audit, "LA19 eval", ["c", "a"], "/corpus")
    assert got.tolist() == [3.0, 1.0]
    with pytest.raises(
        ValueError, match=r"trial d has no LFCC-GMM score in the audit of /corpus \(1 of 2"
    ):
        corpus_audit.lfcc_gmm_scores(audit, "LA19 eval", ["a", "d"], "/corpus")
    with pytest.raises(ValueError, match="no per-trial LFCC-GMM scores of 'LA21 eval'"):
        corpus_audit.lfcc_gmm_scores(audit, "LA21 eval", ["a"], "/corpus")


def test_the_setup_notes_say_how_many_seeds_train_the_control() -> None:
    cfg = study.CnnVsResnet50Config.for_profile("embedded", data_root="/nonexistent")
    notes = study.setup_notes(cfg)
    assert cfg.control_seeds == 1 and cfg.control_seeds_of([0, 1, 2]) == [0]
    assert notes["CNN without Common Voice"] == "the CNN's settings, on the first seed"
    assert (
        notes["CNN"].startswith("24 epochs")
        and "best epoch chosen from epoch 16 on" in notes["CNN"]
    )
    two = study.CnnVsResnet50Config.for_profile("embedded", data_root="/x", control_seeds=2)
    assert (
        study.setup_notes(two)["CNN without Common Voice"]
        == "the CNN's settings, on the first 2 seeds"
    )
