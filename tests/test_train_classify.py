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
    res = train_classifier(model, train, val, ClassifierSetup(lr=0.02, batch_size=16, epochs=5),
                           out_dir=tmp_path, seed=0, positive=1, bonafide=1)
    assert list(res.history["epoch"]) == [1, 2, 3, 4, 5]
    assert {"val_f1", "val_eer", "val_acc", "val_loss"} <= set(res.history.columns)
    assert res.best_metrics["val_f1"] > 0.8
    assert (tmp_path / "best" / "model.pt").is_file()
