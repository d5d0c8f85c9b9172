"""The leaderboard: the studies' detector index, batched scoring that changes nothing but speed, cached scores, the
metrics of a row against hand-computed values, and the results rows.

Detectors are the tiny run folders of ``test_scoring`` (built here, nothing from build/); the audio is the real
FLAC files of seeded, amplitude-modulated noise written here (lengths 0.8-3.4 s, as LA utterances), so no
test depends on an installed package or skips without one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from test_scoring import image_run, resnetse_run

from asvnb import audio, leaderboard, scoring
from asvnb.data.asvspoof import ASVScores
from asvnb.train import (
    DetectorCardError,
    read_detector_index,
    register_detector,
    reset_detector_index,
    segments,
)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Eight 16 kHz FLAC files of seeded noise under a slow amplitude envelope, 0.8-3.4 s long."""
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    paths = []
    for i, seconds in enumerate(np.linspace(0.8, 3.4, 8)):
        n = int(seconds * 16000)
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * (2 + i) * np.arange(n) / 16000)
        path = folder / f"clip{i}.flac"
        sf.write(path, (0.1 * envelope * rng.standard_normal(n)).astype(np.float32), 16000)
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------- the index


def test_index_keeps_the_latest_run_per_name_and_seed(tmp_path: Path) -> None:
    old = image_run(tmp_path / "old") / "best"
    new = image_run(tmp_path / "new") / "best"
    other = image_run(tmp_path / "other") / "best"
    index = tmp_path / "runs" / "01_x" / "embedded" / "detectors.json"
    register_detector(index, old, name="CNN", seed=0)
    register_detector(index, other, name="CNN", seed=1)
    register_detector(index, new, name="CNN", seed=0)  # a retrained seed 0 replaces the stale run
    got = read_detector_index(index)
    assert [(n, s) for n, s, _ in got] == [("CNN", 0), ("CNN", 1)]
    assert got[0][2] == new.resolve() and got[1][2] == other.resolve()
    stored = json.loads(index.read_text())["detectors"]
    assert not Path(stored[0]["folder"]).is_absolute()  # relative: the build folder can move


def test_a_new_run_starts_an_empty_index(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "01_x" / "embedded"
    register_detector(
        out / "detectors.json", image_run(tmp_path / "a") / "best", name="CNN-noCV", seed=0
    )
    index = reset_detector_index(out)  # a run that no longer trains CNN-noCV does not list it
    register_detector(index, image_run(tmp_path / "b") / "best", name="CNN", seed=0)
    assert [n for n, _, _ in read_detector_index(index)] == ["CNN"]


def test_index_errors_name_the_file(tmp_path: Path) -> None:
    index = tmp_path / "detectors.json"
    with pytest.raises(DetectorCardError, match="no asvnb_detector.json to register"):
        register_detector(index, tmp_path, name="CNN", seed=0)
    run = image_run(tmp_path / "a") / "best"
    register_detector(index, run, name="CNN", seed=0)
    shutil.rmtree(run)
    with pytest.raises(
        DetectorCardError, match=r"detectors.json: detector 'CNN' seed 0: .* has no asvnb_detector"
    ):
        read_detector_index(index)
    index.write_text('{"version": 1, "detectors": [{"name": "CNN"}]}')
    with pytest.raises(DetectorCardError, match=r"detectors.json: not a version 1 detector index"):
        read_detector_index(index)


def test_registered_reads_every_study_of_a_profile(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for study, seed in (("01_a", 0), ("01_a", 1), ("03_b", 0)):
        run = image_run(tmp_path / f"{study}{seed}") / "best"
        register_detector(runs / study / "embedded" / "detectors.json", run, name="net", seed=seed)
    register_detector(
        runs / "04_c" / "full" / "detectors.json",
        image_run(tmp_path / "f") / "best",
        name="net",
        seed=0,
    )
    got = leaderboard.registered("embedded", runs)
    assert [(e.study, e.seed) for e in got] == [("01_a", 0), ("01_a", 1), ("03_b", 0)]
    assert [(e.study, e.seed) for e in leaderboard.registered("embedded", runs, seeds=[1])] == [
        ("01_a", 1)
    ]
    with pytest.raises(ValueError, match="unknown profile"):
        leaderboard.registered("tiny", runs)


# ----------------------------------------------------------------------------- batched scoring


def test_batches_score_as_single_files(tmp_path: Path, speech: list[Path]) -> None:
    wavs = [audio.load_audio(p, sr=16000) for p in speech[:7]]
    for run in (image_run(tmp_path / "img"), resnetse_run(tmp_path / "rse")):
        det = scoring.load_detector(run, "cpu")
        one = np.array([det.score_waveform(w) for w in wavs])
        batched = det.score_waveforms(wavs, batch_size=3)
        np.testing.assert_allclose(batched, one, atol=1e-4)


def test_segments_pad_the_last_piece(tmp_path: Path, speech: list[Path]) -> None:
    det = scoring.load_detector(
        image_run(tmp_path / "seg", clip=segments(1.0, pad_last=True)), "cpu"
    )
    wav = np.concatenate([audio.load_audio(p, sr=16000) for p in speech[:6]])[:40000]
    assert len(wav) == 40000  # 2.5 s: 1 + 1 + 0.5 s, the last repeat-padded to 1 s
    pieces = det.pieces(wav)
    assert [len(p) for p in pieces] == [16000, 16000, 16000]
    np.testing.assert_array_equal(pieces[2], np.tile(wav[32000:], 2))
    whole = scoring.Detector(det.source, leaderboard_card(det, {"mode": "whole"}), det.network)
    by_hand = np.mean([whole.score_waveform(p) for p in pieces])
    assert det.score_waveform(wav) == pytest.approx(by_hand, abs=1e-6)


def leaderboard_card(det: scoring.Detector, clip: dict):
    import dataclasses

    return dataclasses.replace(det.card, clip=clip)


# ----------------------------------------------------------------------------- a leaderboard row


def trial_set(paths: list[Path], labels: list[int]) -> leaderboard.TrialSet:
    """Real files as a trial set, with ASV scores that give the t-DCF something to weigh."""
    asv = ASVScores(
        np.array([3.0, 2.5, 2.0, 1.5]),
        np.array([-2.0, -1.0, 0.0, -3.0]),
        np.array([1.0, 2.0, -1.0]),
        pd.DataFrame(),
    )
    return leaderboard.TrialSet(
        "test",
        [p.stem for p in paths],
        list(paths),
        np.array(labels),
        ["-" if y else "A01" for y in labels],
        asv,
    )


def test_scores_are_cached_by_weights_and_trial_list(tmp_path: Path, speech: list[Path]) -> None:
    run = image_run(tmp_path / "img")
    runs = tmp_path / "runs"
    register_detector(
        runs / "01_a" / "embedded" / "detectors.json", run / "best", name="CNN", seed=0
    )
    ts = trial_set(speech[:6], [1, 1, 1, 0, 0, 0])
    entries = leaderboard.registered("embedded", runs)
    first = leaderboard.score_all(entries, {"test": ts}, tmp_path / "cache", progress=False)
    files = sorted((tmp_path / "cache").glob("*.npz"))
    assert len(files) == 1
    again = leaderboard.score_all(entries, {"test": ts}, tmp_path / "cache", progress=False)
    np.testing.assert_array_equal(again[0].sets["test"].scores, first[0].sets["test"].scores)
    assert (
        again[0].sets["test"].wall_seconds == first[0].sets["test"].wall_seconds
    )  # read, not re-measured
    # the scores are the detector's own, file by file
    det = scoring.load_detector(run, "cpu")
    own = [det.score_waveform(audio.load_audio(p, sr=16000)) for p in speech[:6]]
    np.testing.assert_allclose(first[0].sets["test"].scores, own, atol=1e-4)
    assert first[0].sets["test"].audio_seconds == pytest.approx(
        sum(audio.audio_info(p).frames / 16000 for p in speech[:6])
    )
    # new weights, or another trial list: scored again
    torch.save(
        {k: v + 0.01 for k, v in torch.load(run / "best" / "model.pt").items()},
        run / "best" / "model.pt",
    )
    leaderboard.score_all(entries, {"test": ts}, tmp_path / "cache", progress=False)
    leaderboard.score_all(
        entries,
        {"test": trial_set(speech[:5], [1, 1, 0, 0, 0])},
        tmp_path / "cache",
        progress=False,
    )
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 3


def test_row_metrics_against_hand_computed_values() -> None:
    # bona fide 3, 2, 0.5; spoof -1, 1, -2: one bona fide (0.5) under one spoof (1)
    scores = np.array([3.0, 2.0, 0.5, -1.0, 1.0, -2.0])
    ts = trial_set([Path(f"/x/{i}.flac") for i in range(6)], [1, 1, 1, 0, 0, 0])
    m = leaderboard.set_metrics(scores, ts, reps=200)
    assert m["eer"] == pytest.approx(1 / 3)  # at a threshold in (0.5, 1): miss 1/3, false alarm 1/3
    # Cllr by hand: bona fide log2(1 + e^-s), spoof log2(1 + e^s), each class averaged, then the mean
    bona = np.log2(1 + np.exp(-np.array([3.0, 2.0, 0.5]))).mean()
    spoof = np.log2(1 + np.exp(np.array([-1.0, 1.0, -2.0]))).mean()
    assert m["cllr"] == pytest.approx((bona + spoof) / 2)
    # actDCF at the Bayes threshold ln(10 * 0.05 / 0.95) = -0.642: no bona fide below it, one spoof of three (1.0)
    # at or above it; the cost 10 * 0.05 / 3 normalised by min(0.95, 0.5) = 0.5
    assert m["act_dcf"] == pytest.approx((0.5 / 3) / 0.5)
    # minDCF: at a threshold above 1 no spoof passes and one bona fide of three (0.5) is missed: 0.95 / 3 / 0.5,
    # the lowest cost of any threshold (passing the 1.0 spoof instead costs 0.5 / 3 / 0.5, lower still)
    assert m["min_dcf"] == pytest.approx(min(0.95 / 3, 0.5 / 3) / 0.5)
    lo, hi = m["eer_ci95"]
    assert lo < m["eer"] < hi  # six trials: the bootstrap interval is wide


def test_results_rows_carry_every_metric_with_an_interval(
    tmp_path: Path, speech: list[Path]
) -> None:
    runs = tmp_path / "runs"
    for seed in (0, 1):
        run = image_run(tmp_path / f"img{seed}") / "best"
        if seed:  # a second seed with other weights
            torch.save(
                {k: v * 1.5 for k, v in torch.load(run / "model.pt").items()}, run / "model.pt"
            )
        register_detector(runs / "01_a" / "embedded" / "detectors.json", run, name="CNN", seed=seed)
    ts = trial_set(speech[:6], [1, 1, 1, 0, 0, 0])
    scored = leaderboard.score_all(
        leaderboard.registered("embedded", runs), {"LA19 eval": ts}, tmp_path / "c", progress=False
    )
    per_run = leaderboard.table(scored, {"LA19 eval": ts}, reps=100)
    rows = {(r.data, r.metric): r for r in leaderboard.result_rows(per_run, {"LA19 eval": ts})}
    for metric in ("eer", "min_tdcf", "min_dcf", "act_dcf", "cllr", "speed_x_realtime"):
        r = rows[("LA19 eval", metric)]
        assert r.n_seeds == 2 and r.n_trials == 6 and r.ci95 is not None and r.system == "01 CNN"
        per_seed = per_run[
            f"LA19 eval {'speed' if metric == 'speed_x_realtime' else metric}"
        ].to_numpy()
        assert r.value == pytest.approx(per_seed.mean()) and r.std == pytest.approx(
            per_seed.std(ddof=1)
        )
    assert rows[("model", "params")].value == sum(
        p.numel()
        for p in scoring.load_detector(
            runs
            / "01_a"
            / "embedded"
            / json.loads((runs / "01_a" / "embedded" / "detectors.json").read_text())["detectors"][
                0
            ]["folder"],
            "cpu",
        ).network.parameters()
    )
    assert rows[("model", "macs")].value > 0
    table = leaderboard.display_table(leaderboard.summary(per_run), per_run, "LA19 eval")
    assert "±" in table.iloc[0]["EER (%)"] and "[" in table.iloc[0]["EER (%)"]


def test_family_rows_split_the_spoofs_by_family(tmp_path: Path, speech: list[Path]) -> None:
    runs = tmp_path / "runs"
    register_detector(
        runs / "03_b" / "embedded" / "detectors.json",
        image_run(tmp_path / "img") / "best",
        name="net",
        seed=0,
    )
    ts = trial_set(speech[:7], [1, 1, 1, 0, 0, 0, 0])
    ts = leaderboard.TrialSet(
        ts.name, ts.utts, ts.paths, ts.labels, ["-", "-", "-", "A01", "A01", "A17", "A17"], ts.asv
    )
    scored = leaderboard.score_all(
        leaderboard.registered("embedded", runs), {"LA19 eval": ts}, tmp_path / "c", progress=False
    )
    fam = leaderboard.family_table(scored, {"LA19 eval": ts}, {"A01": "TTS", "A17": "VC"}, reps=50)
    x = scored[0].sets["LA19 eval"].scores
    from asvnb import metrics

    assert list(fam["family"]) == ["TTS", "VC"]
    assert fam["eer"].iloc[0] == pytest.approx(metrics.eer(x[:3], x[3:5])[0])
    assert fam["eer"].iloc[1] == pytest.approx(metrics.eer(x[:3], x[5:7])[0])
    rows = leaderboard.family_rows(fam)
    assert [r.data for r in rows] == ["LA19 eval, family TTS", "LA19 eval, family VC"]
    assert all(r.n_trials == 5 and r.system == "03 net" for r in rows)
    from asvnb.results import breakdown

    assert breakdown(rows[1]) == ("family", "LA19 eval", "VC")


def test_the_baseline_row_reads_the_audits_scores(
    tmp_path: Path, speech: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The LFCC-GMM joins the leaderboard with the audit's own per-trial scores, in the trial set's order, beside
    the detectors and with the same metrics; a trial the audit did not score is an error."""
    from asvnb import metrics
    from asvnb.studies import corpus_audit

    ts = trial_set(speech[:6], [1, 1, 1, 0, 0, 0])
    audit_scores = {
        u: float(k) for k, u in enumerate(reversed(ts.utts))
    }  # 5, 4, ..., 0 in trial order
    calls = []

    def fake_audit(root, progress=False):
        calls.append(Path(root))
        return {
            "scores": {
                "LA19 eval": {
                    "utt": sorted(audit_scores) + ["unused"],
                    "score": [audit_scores[u] for u in sorted(audit_scores)] + [9.0],
                    "audio_seconds": 12.0,
                    "wall_seconds": 0.5,
                }
            },
            "n_params": 2 * 64 * 121,
        }

    monkeypatch.setattr(corpus_audit, "run_audit", fake_audit)
    assert leaderboard.baseline_scored(tmp_path, {"LA19 eval": ts}) == []  # no embedded corpus here
    (tmp_path / "MANIFEST.json").write_text("{}")
    (got,) = leaderboard.baseline_scored(tmp_path, {"LA19 eval": ts})
    assert calls == [tmp_path]
    np.testing.assert_array_equal(got.sets["LA19 eval"].scores, [5, 4, 3, 2, 1, 0])
    assert got.sets["LA19 eval"].speed == pytest.approx(24.0)
    assert got.entry.label == "00 LFCC-GMM" and got.params == 2 * 64 * 121
    # 399 frames of 4 s; per frame a multiply-add for each mean and variance of both GMMs
    assert got.macs == 399 * 2 * 64 * 120

    runs = tmp_path / "runs"
    register_detector(
        runs / "01_a" / "embedded" / "detectors.json",
        image_run(tmp_path / "img") / "best",
        name="CNN",
        seed=0,
    )
    scored = leaderboard.score_all(
        leaderboard.registered("embedded", runs), {"LA19 eval": ts}, tmp_path / "c", progress=False
    )
    scored += [got]
    per_run = leaderboard.table(scored, {"LA19 eval": ts}, reps=50)
    rows = {
        (r.system, r.data, r.metric): r for r in leaderboard.result_rows(per_run, {"LA19 eval": ts})
    }
    for metric in ("eer", "min_tdcf", "min_dcf", "act_dcf", "cllr", "speed_x_realtime"):
        assert ("01 CNN", "LA19 eval", metric) in rows and (
            "00 LFCC-GMM",
            "LA19 eval",
            metric,
        ) in rows
    x = np.array([5.0, 4, 3, 2, 1, 0])
    assert rows[("00 LFCC-GMM", "LA19 eval", "eer")].value == pytest.approx(
        metrics.eer(x[:3], x[3:])[0]
    )
    table = leaderboard.display_table(leaderboard.summary(per_run), per_run, "LA19 eval")
    assert ("00", "LFCC-GMM") in table.index and ("01", "CNN") in table.index
    fam = leaderboard.family_table(scored, {"LA19 eval": ts}, {"A01": "TTS"}, reps=20)
    assert set(fam["system"]) == {"CNN", "LFCC-GMM"}

    short = trial_set(speech[:7], [1, 1, 1, 0, 0, 0, 0])
    with pytest.raises(ValueError, match=f"trial {speech[6].stem} has no LFCC-GMM score"):
        leaderboard.baseline_scored(tmp_path, {"LA19 eval": short})


def test_family_floor_by_hand() -> None:
    # bona fide 3, 2, 1; TTS spoofs 2.5, 0 (the TTS spoof at 2.5 is the only other error); VC spoofs 1.5, -1
    ts = trial_set([Path(f"/x/{i}.flac") for i in range(7)], [1, 1, 1, 0, 0, 0, 0])
    ts = leaderboard.TrialSet(
        ts.name, ts.utts, ts.paths, ts.labels, ["-", "-", "-", "A01", "A01", "A17", "A17"], ts.asv
    )
    x = np.array([3.0, 2.0, 1.0, 2.5, 0.0, 1.5, -1.0])
    entry = leaderboard.Entry("01_a", "net", 0, Path("/x"))
    scored = [
        leaderboard.Scored(entry, {"LA19 eval": leaderboard.SetScores(x, 1.0, 1.0)}, 1, 1, "")
    ]
    floor = leaderboard.family_floor(
        scored, {"LA19 eval": ts}, {"A01": "TTS", "A17": "VC"}, "VC", reps=20
    )
    row = floor.iloc[0]
    assert row["share"] == 0.5
    # with the TTS spoofs rejected, the DET points are (miss 0, false alarm 1/4: the VC spoof at 1.5 accepted),
    # (1/3, 1/4: the bona fide at 1 missed too) and (1/3, 0); the official EER is the mean of the two rates where
    # they are closest: (1/3 + 1/4) / 2 = 7/24
    from asvnb import metrics

    assert row["floor"] == pytest.approx(7 / 24) and row["floor"] <= row["pooled"]
    assert row["pooled"] == pytest.approx(metrics.eer(x[:3], x[3:])[0])
    (r,) = leaderboard.floor_rows(floor)
    assert (r.table, r.system, r.data, r.metric) == ("floor", "01 net", "LA19 eval", "eer")
    assert "50 % of the spoofs are VC" in r.note


def test_the_chapter_refuses_to_run_without_detectors(build_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="run the study notebooks 01-04 first"):
        leaderboard.registered_detectors("embedded")
