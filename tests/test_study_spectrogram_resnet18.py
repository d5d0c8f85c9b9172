"""Study 04: data preparation, the source's slips, scoring new audio, and resuming a killed training run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchvision
from replicas import SR, write_mini_corpus
from replicas import harmonic as tone

from asvnb.config import Paths
from asvnb.data.images import Clip, cached_images
from asvnb.features import render
from asvnb.metrics import eer
from asvnb.studies import spectrogram_common as common
from asvnb.studies import spectrogram_resnet18 as study
from asvnb.studies.spectrogram_resnet18.settings import DV, LA, MPL_DEFAULT_NFFT, TASK
from asvnb.train import load_best
from asvnb.train.classify import Predictions, SeedRun, binary_metrics, join_sets

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mini")
    write_mini_corpus(root)
    return root


def mini_cfg(root: Path, out: Path, epochs: int = 3) -> study.SpectrogramResNet18Config:
    cfg = study.SpectrogramResNet18Config.for_profile(
        "embedded", data_root=root, epochs=epochs, seconds=1.0
    )
    cfg.paths = Paths(root, out)
    cfg.setups[
        "SimpleCNN"
    ].batch_size = 4  # several shuffled batches per epoch: the RNG state matters on resume
    return cfg


def test_sets_follow_the_source_preparation(corpus: Path, tmp_path: Path) -> None:
    cfg = mini_cfg(corpus, tmp_path)
    sets = study.load_sets(cfg)
    # LA: per split 2 speakers x 2 labels, each 2.1 s joined -> pieces of 1, 1 and 0.1 s = 12 segments
    la_train = sets["train"].where(LA)
    assert len(la_train) == 12 and sorted(la_train.labels.tolist()) == [0] * 6 + [1] * 6
    assert "LA_00t1_real_3" in la_train.ids and "LA_00t1_fake_1" in la_train.ids
    assert len(sets["test"].where(LA)) == 12 and len(sets["val"].where(LA)) == 12
    # DEEP-VOICE: 6 files of 3 s -> 18 one-second segments, split 20% test then 20% of the rest validation
    dv = [sets[k].where(DV) for k in ("train", "val", "test")]
    assert [len(d) for d in dv] == [11, 3, 4]
    ids = [i for d in dv for i in d.ids]
    assert len(set(ids)) == 18 and "ann-original_3" in ids and "cat-to-ann_1" in ids
    assert all(
        set(d.labels.tolist()) == {0, 1} for d in dv
    )  # stratified: both classes in every part
    # Imitation, whole clips: 2 real + 2 fake, labels real 1 / fake 0
    assert sorted(zip(sets["unseen"].ids, sets["unseen"].labels.tolist()))[:2] == [
        ("fake/fake0", 0),
        ("fake/fake1", 0),
    ]
    x, y, uid = sets["train"][0]
    assert (
        x.shape == (3, 224, 224)
        and x.dtype == torch.float32
        and 0 <= float(x.min()) <= float(x.max()) <= 1
    )


def test_leaky_fft_changes_only_the_real_images(corpus: Path, tmp_path: Path) -> None:
    cfg = mini_cfg(corpus, tmp_path)
    fixed, leaky = (
        study.deepvoice_images(cfg),
        study.deepvoice_images(cfg, nfft_real=MPL_DEFAULT_NFFT),
    )
    assert fixed.ids == leaky.ids
    real = fixed.labels == study.REAL
    diff = (fixed.images.float() - leaky.images.float()).abs().mean(dim=(1, 2, 3))
    assert bool((diff[~real] == 0).all()) and bool((diff[real] > 1).all())


def test_batch_averaged_f1_differs_from_whole_set() -> None:
    # labels 1,1,0,0,0 predicted 1,0,0,0,1; batches of 2 in order: {1,1 vs 1,0}, {0,0 vs 0,0}, {0 vs 1}
    logits = np.array([[0, 1], [1, 0], [1, 0], [1, 0], [0, 1]], dtype=float)
    pred = Predictions(logits, np.array([1, 1, 0, 0, 0]))
    m = study.batch_averaged_metrics(pred, batch_size=2, shuffle=False)
    # per-batch F1: 2/3, 0 (no real segment), 0 -> mean 2/9; accuracy 1/2, 1, 0 -> 1/2
    assert (
        m["f1"] == pytest.approx(2 / 9)
        and m["accuracy"] == pytest.approx(0.5)
        and m["batches"] == 3
    )
    whole = binary_metrics(pred, positive=study.REAL, bonafide=study.REAL)
    assert whole["f1"] == pytest.approx(0.5) and whole["accuracy"] == pytest.approx(
        0.6
    )  # TP 1, FP 1, FN 1


def test_source_weight_copy_loop_copies_nothing() -> None:
    torch.manual_seed(0)
    model, donor = study.ResNet18Transfer(weights=None), torchvision.models.resnet18(weights=None)
    out = study.source_weight_copy(model, donor)
    assert out["tensors changed"] == 0 and out["of them keys of the model"] == 0
    assert out["donor tensors"] == len(donor.state_dict()) > 100
    assert out["keys the loop writes"] == out["donor tensors"] - 1  # all but conv1.weight


def test_unknown_model_and_route_are_refused(corpus: Path, tmp_path: Path) -> None:
    cfg = mini_cfg(corpus, tmp_path)
    with pytest.raises(ValueError, match="unknown model 'ResNet34'"):
        cfg.model("ResNet34")
    with pytest.raises(ValueError, match="route must be one of"):
        render([Clip("a", 1, "x", np.zeros(2000))], SR, route="png")
    with pytest.raises(Exception, match="KAGGLE"):
        study.deepvoice_images(mini_cfg(tmp_path / "empty", tmp_path))


def test_segment_length_is_the_source_s_in_full_and_shorter_embedded(tmp_path: Path) -> None:
    full = study.SpectrogramResNet18Config.for_profile("full", data_root=tmp_path)
    emb = study.SpectrogramResNet18Config.for_profile("embedded", data_root=tmp_path)
    assert (full.seconds, emb.seconds) == (30.0, 5.0) and emb.seconds < 30.0
    assert (
        study.SpectrogramResNet18Config.for_profile(
            "embedded", data_root=tmp_path, seconds=30
        ).seconds
        == 30
    )
    with pytest.raises(ValueError, match="segment length must be positive"):
        study.SpectrogramResNet18Config.for_profile("embedded", data_root=tmp_path, seconds=0)


KILL_AFTER_FIRST_CHECKPOINT = """
import os, signal, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from asvnb.train.loop import Trainer
sys.path.insert(0, {tests!r})
from test_study_spectrogram_resnet18 import mini_cfg
from asvnb.studies import spectrogram_resnet18 as study

save = Trainer.save_checkpoint
def save_then_die(self):
    path = save(self)
    if self.epoch == 1:
        os.kill(os.getpid(), signal.SIGKILL)  # as a lost Colab session: no clean-up, no final files
    return path
Trainer.save_checkpoint = save_then_die
cfg = mini_cfg(Path({root!r}), Path({out!r}))
study.train_models(cfg, "SimpleCNN", study.load_sets(cfg), [0])
"""


def test_killed_run_resumes_and_ends_as_an_uninterrupted_one(
    corpus: Path, tmp_path: Path, capsys
) -> None:
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    code = KILL_AFTER_FIRST_CHECKPOINT.format(
        tests=str(Path(__file__).parent), root=str(corpus), out=str(killed)
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ASVNB_NONINTERACTIVE": "1"},
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    (state,) = killed.glob("SimpleCNN-*/seed0/checkpoint/trainer_state.json")
    assert json.loads(state.read_text())["epoch"] == 1

    cfg = mini_cfg(corpus, killed)
    sets = study.load_sets(cfg)
    (resumed,) = study.train_models(cfg, "SimpleCNN", sets, [0])
    out = capsys.readouterr().out
    assert "resumed from" in out and "after epoch 1" in out
    (fresh,) = study.train_models(
        replace(cfg, paths=Paths(corpus, straight)), "SimpleCNN", sets, [0]
    )
    assert list(resumed.history["epoch"]) == [1, 2, 3]
    for col in ("train_loss", "val_loss", "val_f1"):
        assert resumed.history[col].tolist() == pytest.approx(
            fresh.history[col].tolist(), rel=1e-6, abs=1e-9
        )
    assert resumed.best_epoch == fresh.best_epoch
    for split in ("val", "test", "unseen"):
        np.testing.assert_allclose(
            resumed.predictions[split].logits, fresh.predictions[split].logits, rtol=1e-5, atol=1e-6
        )
        assert resumed.metrics[split]["f1"] == fresh.metrics[split]["f1"]


def test_best_model_scores_new_audio_per_segment(corpus: Path, tmp_path: Path) -> None:
    cfg = mini_cfg(corpus, tmp_path, epochs=1)
    (run,) = study.train_models(cfg, "SimpleCNN", study.load_sets(cfg), [0])
    wav = tone(2.5, 150, np.random.default_rng(1))
    sf.write(tmp_path / "new.wav", wav, SR)
    table = study.score_audio(load_best(run.best_dir), tmp_path / "new.wav", cfg)
    assert table["segment"].tolist() == ["new_1", "new_2", "new_3"]
    assert table["seconds"].tolist() == pytest.approx([1.0, 1.0, 0.5])
    assert (
        set(table["decision"]) <= {"real", "fake"}
        and np.isfinite(table["score (log-odds real)"]).all()
    )


def test_render_runs_on_one_thread_and_restores_the_count() -> None:
    seen = []
    before = torch.get_num_threads()
    torch.set_num_threads(2)

    def clips():
        seen.append(torch.get_num_threads())  # read while render is consuming the clips
        yield Clip("a", 1, "x", tone(0.5, 200, np.random.default_rng(0)).astype(np.float32))

    try:
        images = render(clips(), SR, "tensor", size=32)
        assert (
            seen == [1] and torch.get_num_threads() == 2 and images.images.shape == (1, 3, 32, 32)
        )
        again = render(clips(), SR, "tensor", size=32, threads=None)  # None: the current count
        assert (
            seen == [1, 2]
            and torch.get_num_threads() == 2
            and torch.equal(again.images, images.images)
        )
    finally:
        torch.set_num_threads(before)


def test_recording_split_keeps_each_source_recording_on_one_side(
    corpus: Path, tmp_path: Path
) -> None:
    cfg = mini_cfg(corpus, tmp_path)
    dv = study.deepvoice_images(cfg)
    assert (
        study.source_recording("ann-to-bob_3") == "ann" == study.source_recording("ann-original_1")
    )
    part = study.split_deepvoice_by_recording(dv, cfg)
    assert sorted(part["train"] + part["val"] + part["test"]) == list(range(len(dv)))
    sources = {k: {study.source_recording(dv.ids[i]) for i in v} for k, v in part.items()}
    assert not sources["train"] & sources["test"] and not sources["val"] & sources["test"]
    assert not sources["train"] & sources["val"]
    # the mini corpus: three sources (ann, bob, cat), each a real file and the fake made from it -> one per part
    assert sorted(len(s) for s in sources.values()) == [1, 1, 1]
    assert all(set(dv.labels[v].tolist()) == {0, 1} for v in part.values())
    # the source's segment split, by contrast, puts segments of every recording on both sides
    seg = study.split_deepvoice(dv, cfg)
    seg_sources = {k: {study.source_recording(dv.ids[i]) for i in v} for k, v in seg.items()}
    assert seg_sources["train"] & seg_sources["test"]


def test_source_unseen_accuracy_is_a_mean_of_two_batches() -> None:
    out = study.batch_mean_vs_whole()
    assert (
        out["mean of batches"] == pytest.approx((56 / 64 + 29 / 36) / 2)
        and round(out["mean of batches"], 4) == 0.8403
    )
    assert out["whole set"] == pytest.approx(0.85)


def test_fast_metrics_agree_with_sklearn() -> None:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    y, yhat, s = rng.integers(0, 2, 200), rng.integers(0, 2, 200), rng.normal(size=200)
    task = TASK
    p, r, f, _ = precision_recall_fscore_support(y, yhat, pos_label=task.positive, average="binary")
    pw, rw, fw, _ = precision_recall_fscore_support(y, yhat, average="weighted")
    want = {
        "accuracy": accuracy_score(y, yhat),
        "precision": p,
        "recall": r,
        "f1": f,
        "precision_weighted": pw,
        "recall_weighted": rw,
        "f1_weighted": fw,
    }
    for m, v in want.items():
        assert common.fast_metric(y, yhat, s, m, task) == pytest.approx(v), m
    bona = y == task.bonafide
    assert common.fast_metric(y, yhat, s, "eer", task) == pytest.approx(eer(s[bona], s[~bona])[0])
    with pytest.raises(ValueError, match="unknown metric"):
        common.fast_metric(y, yhat, s, "auc", task)


def test_seed_row_is_the_mean_over_seeds_with_an_interval_over_trials() -> None:
    labels = np.array([1, 1, 1, 0, 0, 0])
    # seed 0 predicts 1,1,0,0,0,1 (F1 of real 2/3); seed 1 predicts all right (F1 1)
    l0 = np.array([[0, 1], [0, 1], [1, 0], [1, 0], [1, 0], [0, 1]], dtype=float)
    l1 = np.array([[0, 1]] * 3 + [[1, 0]] * 3, dtype=float)
    runs = [
        SeedRun(k, None, 1, Path("."), {"test": Predictions(lg, labels)})
        for k, lg in enumerate((l0, l1))
    ]
    row = common.seed_row("test", "toy", "six", runs, "test", "f1", TASK, reps=200)
    assert row.value == pytest.approx((2 / 3 + 1) / 2) and row.std == pytest.approx(
        np.std([2 / 3, 1], ddof=1)
    )
    assert row.n_seeds == 2 and row.n_trials == 6 and row.ci95[0] <= row.value <= row.ci95[1]
    # a metric given as a function, one per seed
    row = common.seed_row(
        "test",
        "toy",
        "six",
        runs,
        "test",
        "custom",
        TASK,
        reps=50,
        fn=[lambda y, p, s: 0.25, lambda y, p, s: 0.75],
    )
    assert row.value == 0.5 and row.ci95 == (0.5, 0.5)
    other = SeedRun(2, None, 1, Path("."), {"test": Predictions(l1, labels[::-1])})
    with pytest.raises(ValueError, match="different trials"):
        common.seed_row("test", "toy", "six", runs + [other], "test", "f1", TASK)


def test_difference_row_pairs_two_models_on_the_same_trials() -> None:
    labels = np.array([1, 1, 1, 0, 0, 0])
    right = np.array([[0, 1]] * 3 + [[1, 0]] * 3, dtype=float)  # F1 of real 1
    half = np.array([[0, 1], [0, 1], [1, 0], [1, 0], [1, 0], [0, 1]], dtype=float)  # F1 2/3
    ids = list("abcdef")

    def runs(*logits):
        return [
            SeedRun(k, None, 1, Path("."), {"test": Predictions(lg, labels, ids)})
            for k, lg in enumerate(logits)
        ]

    row = common.difference_row(
        "difference",
        "A minus B",
        "six",
        runs(right, right),
        runs(half, right),
        "test",
        "f1",
        TASK,
        reps=300,
    )
    # seeds: (1 - 2/3) and (1 - 1) -> mean 1/6, std of the two per-seed differences
    assert row.value == pytest.approx(1 / 6) and row.std == pytest.approx(
        np.std([1 / 3, 0], ddof=1)
    )
    assert row.n_seeds == 2 and row.n_trials == 6 and row.ci95[0] <= row.value <= row.ci95[1]
    same = common.difference_row(
        "d", "A minus A", "six", runs(half), runs(half), "test", "eer", TASK
    )
    assert same.value == 0.0 and same.ci95 == (
        0.0,
        0.0,
    )  # a model against itself: every replicate 0
    shuffled = [SeedRun(0, None, 1, Path("."), {"test": Predictions(half, labels[::-1], ids)})]
    with pytest.raises(ValueError, match="not scored on the same trials"):
        common.difference_row("d", "x", "six", runs(half), shuffled, "test", "f1", TASK)
    # two test sets paired on the trials both hold, in one order
    cut = common.on_trials(runs(half), "test", ["f", "a"])[0].predictions["test"]
    assert cut.ids == ["f", "a"] and cut.labels.tolist() == [0, 1]
    assert cut.logits.tolist() == [half[5].tolist(), half[0].tolist()]
    with pytest.raises(ValueError, match="1 trial.s. not scored, e.g. 'z'"):
        common.on_trials(runs(half), "test", ["a", "z"])


def test_images_are_drawn_once_per_key(tmp_path: Path) -> None:
    calls = []

    def draw():
        calls.append(1)
        clip = Clip("a", 1, "x", tone(0.5, 200, np.random.default_rng(0)).astype(np.float32))
        return render([clip], SR, "tensor", size=32)

    first = cached_images(tmp_path, "toy", {"size": 32}, draw)
    again = cached_images(tmp_path, "toy", {"size": 32}, draw)
    assert len(calls) == 1 and torch.equal(first.images, again.images) and again.ids == ["a"]
    cached_images(tmp_path, "toy", {"size": 33}, draw)  # another key: drawn again
    assert len(calls) == 2
    assert first.resized(16).images.shape == (1, 3, 16, 16) and first.resized(32) is first


def test_join_sets_scores_the_whole_set_from_its_parts() -> None:
    a = Predictions(np.array([[0.0, 2.0], [1.0, 0.0]]), np.array([1, 0]), ["a1", "a2"])
    b = Predictions(np.array([[0.0, 1.0], [0.0, 3.0]]), np.array([0, 1]), ["b1", "b2"])
    run = join_sets(SeedRun(0, None, 1, Path("."), {"A": a, "B": b}), "AB", ("A", "B"), TASK)
    assert run.predictions["AB"].ids == ["a1", "a2", "b1", "b2"]
    # predicted 1,0,1,1 against 1,0,0,1 (real 1 positive): TP 2, FP 1, FN 0 -> F1 0.8, accuracy 3/4
    assert run.metrics["AB"]["f1"] == pytest.approx(0.8) and run.metrics["AB"][
        "accuracy"
    ] == pytest.approx(0.75)


def test_batch_mean_table_shows_the_sources_two_batches() -> None:
    # 2 unseen batches: the source reports the mean of per-batch accuracies, not the whole set's
    table = study.batch_mean_table()
    got = table["the source's unseen accuracy"].to_dict()
    (c1, n1), (c2, n2) = study.SOURCE_UNSEEN_BATCHES
    assert got == {
        "mean of batches": round((c1 / n1 + c2 / n2) / 2, 4),
        "whole set": round((c1 + c2) / (n1 + n2), 4),
    }
