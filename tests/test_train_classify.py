"""Binary classification helpers: CM scores, whole-set metrics, training through the shared trainer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from asvnb.train.classify import ClassifierSetup, Predictions, binary_metrics, train_classifier


def test_scores_are_log_odds_of_the_bonafide_class() -> None:
    logits = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    pred = Predictions(logits, np.array([1, 0, 1]))
    # two classes: log-odds of class 1 = logit1 - logit0
    assert pred.scores(bonafide=1) == pytest.approx([-2.0, 3.0, 0.0])
    assert pred.scores(bonafide=0) == pytest.approx([2.0, -3.0, 0.0])
    # three classes: log p0 - log(p1 + p2) with logits (0, 0, 0) = log(1/3) - log(2/3) = -log 2
    three = Predictions(np.zeros((1, 3)), np.array([0]))
    assert three.scores(bonafide=0) == pytest.approx([-np.log(2.0)])


def test_binary_metrics_over_the_whole_set() -> None:
    # labels real=1 (positive, bona fide) / fake=0; predictions by arg-max
    logits = np.array([[0.0, 1.0], [0.0, 2.0], [1.0, 0.0], [3.0, 0.0], [0.0, 0.5]])
    labels = np.array([1, 1, 1, 0, 0])
    m = binary_metrics(Predictions(logits, labels), positive=1, bonafide=1)
    # predicted 1,1,0,0,1: TP=2, FN=1, FP=1, TN=1 -> P=2/3, R=2/3, F1=2/3, acc=3/5
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    # scores bona fide [1, 2, -1], spoof [-3, 0.5]; sorted -3s -1b 0.5s 1b 2b. (frr, far) after each:
    # (0, 1/2) (1/3, 1/2) (1/3, 0) (2/3, 0) (1, 0) -> the smallest gap 1/6 at (1/3, 1/2): EER = 5/12
    assert m["eer"] == pytest.approx(5 / 12)


def test_train_classifier_learns_and_exports(tmp_path) -> None:
    torch.manual_seed(0)
    x = torch.randn(128, 6)
    y = (x[:, 0] > 0).long()
    train, val = TensorDataset(x[:96], y[:96]), TensorDataset(x[96:], y[96:])
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    res = train_classifier(
        model,
        train,
        val,
        ClassifierSetup(lr=0.02, batch_size=16, epochs=5),
        out_dir=tmp_path,
        seed=0,
        positive=1,
        bonafide=1,
    )
    assert list(res.history["epoch"]) == [1, 2, 3, 4, 5]
    assert {"val_f1", "val_eer", "val_acc", "val_loss"} <= set(res.history.columns)
    assert res.best_metrics["val_f1"] > 0.8
    assert (tmp_path / "best" / "model.pt").is_file()


def test_best_epoch_is_the_one_of_lowest_validation_eer(tmp_path, monkeypatch) -> None:
    # a scripted validation: epoch 1 is the all-real model (best F1 of one class, EER at chance),
    # epoch 2 separates the classes best, epoch 3 is worse again
    script = iter(
        [
            {"val_loss": 0.69, "val_acc": 0.44, "val_f1": 0.615, "val_eer": 0.50},
            {"val_loss": 0.40, "val_acc": 0.85, "val_f1": 0.55, "val_eer": 0.10},
            {"val_loss": 0.45, "val_acc": 0.80, "val_f1": 0.60, "val_eer": 0.20},
        ]
    )
    monkeypatch.setattr(
        "asvnb.train.classify.make_evaluate_fn", lambda **kw: lambda model, loader: next(script)
    )
    x = torch.randn(32, 4)
    data = TensorDataset(x, (x[:, 0] > 0).long())
    setup = ClassifierSetup(lr=0.01, batch_size=8, epochs=3)
    assert (setup.monitor, setup.mode) == ("val_eer", "min")
    res = train_classifier(
        nn.Linear(4, 2), data, data, setup, out_dir=tmp_path, seed=0, positive=1, bonafide=1
    )
    assert res.best_epoch == 2 and res.best_metrics["val_eer"] == 0.10


def test_support_weighted_prf_as_sklearn_reports_it() -> None:
    # labels 0,0,0,0,1,1 predicted 0,0,0,1,1,1 (class 1 positive: TP 2, FP 1, FN 0)
    # class 0: P 3/3, R 3/4, F1 6/7 (support 4); class 1: P 2/3, R 2/2, F1 4/5 (support 2)
    labels = np.array([0, 0, 0, 0, 1, 1])
    logits = np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3)
    m = binary_metrics(Predictions(logits, labels), positive=1, bonafide=0)
    assert m["precision_weighted"] == pytest.approx((4 * 1 + 2 * 2 / 3) / 6)
    assert (
        m["recall_weighted"]
        == pytest.approx((4 * 3 / 4 + 2 * 1) / 6)
        == pytest.approx(m["accuracy"])
    )
    assert m["f1_weighted"] == pytest.approx((4 * 6 / 7 + 2 * 4 / 5) / 6)
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx(
        (2 / 3, 1.0, 0.8)
    )  # the positive class alone


def test_samples_per_epoch_draws_a_fresh_subset_each_epoch(tmp_path, monkeypatch) -> None:
    seen: list[list[int]] = []

    def step(model, batch):
        seen[-1].extend(batch[0][:, 0].long().tolist())  # feature 0 is the example's index
        return torch.nn.functional.cross_entropy(model(batch[0]), batch[1]), {}

    monkeypatch.setattr("asvnb.train.classify.ce_step", step)
    from asvnb.train.loop import Trainer

    fit = Trainer.train_epoch

    def epoch(self, e):
        seen.append([])
        return fit(self, e)

    monkeypatch.setattr(Trainer, "train_epoch", epoch)
    x = torch.cat([torch.arange(40.0)[:, None], torch.randn(40, 3)], dim=1)
    data = TensorDataset(x, (x[:, 1] > 0).long())
    setup = ClassifierSetup(lr=0.01, batch_size=8, epochs=2, samples_per_epoch=16)
    train_classifier(
        nn.Linear(4, 2), data, data, setup, out_dir=tmp_path, seed=0, positive=1, bonafide=1
    )
    assert [len(s) for s in seen] == [16, 16] and all(len(set(s)) == 16 for s in seen)
    assert set(seen[0]) != set(seen[1])


def test_balanced_weights_make_each_class_weigh_the_same() -> None:
    from asvnb.train.classify import balanced_weights

    w = balanced_weights([1, 1, 1, 0])  # 3 of class 1, 1 of class 0: n / (2 * count) = 4/2, 4/6
    assert w.tolist() == pytest.approx([2.0, 2 / 3])
    assert float(w[0] * 1 + w[1] * 3) == pytest.approx(4.0)  # each class's total weight is n / 2
    with pytest.raises(ValueError, match="every class needs"):
        balanced_weights([1, 1])


def test_one_cycle_schedule_rises_to_lr_then_anneals(tmp_path) -> None:
    torch.manual_seed(0)
    x = torch.randn(96, 6)
    y = (x[:, 0] > 0).long()
    train = TensorDataset(x, y)
    setup = ClassifierSetup(lr=0.01, batch_size=16, epochs=6, schedule="one_cycle")
    res = train_classifier(
        nn.Linear(6, 2), train, train, setup, out_dir=tmp_path, seed=0, positive=1, bonafide=1
    )
    lr = res.history["lr"].to_numpy()
    # 36 steps, the peak at 30 % of them (step 10.8, in epoch 2): up to near 0.01, then down to near 0
    peak = int(lr.argmax())
    assert peak in (1, 2) and lr[peak] == pytest.approx(0.01, rel=0.15)
    assert np.all(np.diff(lr[peak:]) < 0) and lr[-1] < 1e-4
    constant = train_classifier(
        nn.Linear(6, 2),
        train,
        train,
        ClassifierSetup(lr=0.01, batch_size=16, epochs=2),
        out_dir=tmp_path / "c",
        seed=0,
        positive=1,
        bonafide=1,
    )
    assert constant.history["lr"].tolist() == [0.01, 0.01]
    with pytest.raises(ValueError, match="schedule must be one of constant, one_cycle"):
        ClassifierSetup(schedule="cosine")


def test_fused_adam_takes_the_same_steps(tmp_path, monkeypatch) -> None:
    # `fused` only changes how Adam's update is computed: the same data and seed give the same weights (to
    # float rounding), and the optimiser the trainer steps is the fused one
    made = []
    adam = torch.optim.Adam

    def spy(*args, **kwargs):
        made.append(kwargs.get("fused"))
        return adam(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", spy)
    torch.manual_seed(0)
    x = torch.randn(64, 6)
    train = TensorDataset(x, (x[:, 0] > 0).long())
    weights = []
    for fused in (False, True):
        torch.manual_seed(1)
        model = nn.Linear(6, 2)
        setup = ClassifierSetup(lr=0.01, batch_size=16, epochs=2, fused=fused)
        train_classifier(
            model,
            train,
            train,
            setup,
            out_dir=tmp_path / str(fused),
            seed=0,
            positive=1,
            bonafide=1,
        )
        weights.append(torch.load(tmp_path / str(fused) / "best" / "model.pt", weights_only=True))
    assert made == [None, True]  # None: torch's default, the plain update
    for k in weights[0]:
        torch.testing.assert_close(weights[0][k], weights[1][k], atol=1e-5, rtol=1e-5)
