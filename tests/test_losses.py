"""Tests of asvnb.train.losses against hand computations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from asvnb.train.losses import GE2ELoss, distillation_loss

# --------------------------------------------------------------------------- GE2E
# N = 2 speakers, M = 2 utterances, D = 2; w = 10, b = -5.
#   speaker 1: e11 = (1, 0), e12 = (0, 1); speaker 2: e21 = (1, 1), e22 = (-1, 1)
#   centroids c1 = (0.5, 0.5), c2 = (0, 1); with M = 2 the own centroid without the
#   query is the other utterance.
#   e11: own cos(e11, e12) = 0,  other cos(e11, c2) = 0  -> S = [-5, -5]
#   e12: own cos(e12, e11) = 0,  other cos(e12, c2) = 1  -> S = [-5,  5]
#   e21: own cos(e21, e22) = 0,  other cos(e21, c1) = 1  -> S = [ 5, -5] (k = 1 is the other)
#   e22: own cos(e22, e21) = 0,  other cos(e22, c1) = 0  -> S = [-5, -5]
#   losses -S_own + log sum exp S: log 2, 10 + log(1 + e^-10), 10 + log(1 + e^-10), log 2
#   mean = (2 log 2 + 20 + 2 log(1 + e^-10)) / 4
#   Had the own centroid kept the query, e11 would see cos(e11, c1) = 1/sqrt(2): S = 10/sqrt(2) - 5.
E = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [-1.0, 1.0]]])
GE2E_HAND = (2 * math.log(2) + 20 + 2 * math.log1p(math.exp(-10))) / 4


def test_ge2e_similarity_hand_computed():
    sim = GE2ELoss().similarity(E)
    expected = torch.tensor([[[-5.0, -5.0], [-5.0, 5.0]], [[5.0, -5.0], [-5.0, -5.0]]])
    torch.testing.assert_close(sim, expected, atol=1e-5, rtol=0)
    assert (
        abs(sim[0, 0, 0].item() - (10 / math.sqrt(2) - 5)) > 1
    )  # the query is left out of its centroid


def test_ge2e_loss_hand_computed():
    assert GE2ELoss()(E).item() == pytest.approx(GE2E_HAND, abs=1e-5)


def test_ge2e_general_case_against_a_loop():
    torch.manual_seed(0)
    emb = torch.randn(3, 4, 5)
    loss_fn = GE2ELoss(init_w=7.0, init_b=-2.0)
    total = 0.0
    for j in range(3):
        for i in range(4):
            row = []
            for k in range(3):
                others = [emb[k, m] for m in range(4) if not (k == j and m == i)]
                centroid = torch.stack(others).mean(0)
                row.append(7.0 * F.cosine_similarity(emb[j, i], centroid, dim=0).item() - 2.0)
            total += -row[j] + math.log(sum(math.exp(s) for s in row))
    assert loss_fn(emb).item() == pytest.approx(total / 12, abs=1e-5)


def test_ge2e_w_stays_positive_and_learns():
    loss_fn = GE2ELoss()
    with torch.no_grad():
        loss_fn.w.fill_(-3.0)
    # w clamped to 1e-6: every similarity is b, so each utterance costs log N
    assert loss_fn(E).item() == pytest.approx(math.log(2), abs=1e-4)
    loss_fn = GE2ELoss()
    loss_fn(E).backward()
    assert loss_fn.w.grad is not None and loss_fn.b.grad is not None and loss_fn.w.grad != 0


def test_ge2e_rejects_bad_shapes():
    with pytest.raises(ValueError, match="N=2, M=1"):
        GE2ELoss()(torch.randn(2, 1, 4))
    with pytest.raises(ValueError, match="speakers, utterances, dim"):
        GE2ELoss()(torch.randn(4, 4))


# --------------------------------------------------------------------------- distillation
# Two classes, T = 5, gamma = 0.5, target 0.
#   teacher logits (5 ln 3, 0): softmax(t / T) = softmax(ln 3, 0) = (3/4, 1/4)
#   student logits (0, 0):      softmax(s / T) = (1/2, 1/2)
#   KL = 3/4 ln(3/2) + 1/4 ln(1/2) = 0.130812...
#   NLL = -ln(1/2) = ln 2
#   L = 0.5 * 25 * KL + 0.5 * ln 2 = 1.981724...
KL_HAND = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
KD_HAND = 0.5 * 25 * KL_HAND + 0.5 * math.log(2)
TEACHER = torch.tensor([[5 * math.log(3), 0.0]])
STUDENT = torch.tensor([[0.0, 0.0]])
TARGET = torch.tensor([0])


def test_kd_hand_computed():
    assert distillation_loss(STUDENT, TEACHER, TARGET).item() == pytest.approx(KD_HAND, abs=1e-6)


def test_kd_accepts_log_probabilities():
    # ResNetSE returns log-probabilities: same loss as from the logits
    loss = distillation_loss(F.log_softmax(STUDENT, 1), F.log_softmax(TEACHER, 1), TARGET)
    assert loss.item() == pytest.approx(KD_HAND, abs=1e-6)


def test_kd_limits():
    torch.manual_seed(0)
    s, t, y = torch.randn(4, 8), torch.randn(4, 8), torch.tensor([0, 3, 7, 1])
    torch.testing.assert_close(distillation_loss(s, t, y, gamma=0.0), F.cross_entropy(s, y))
    torch.testing.assert_close(
        distillation_loss(s, s.clone(), y, gamma=0.3), 0.7 * F.cross_entropy(s, y)
    )
    assert distillation_loss(s, t, y, gamma=1.0).item() > 0  # pure KL of different outputs


def test_kd_trains_the_student_only():
    s, t = torch.randn(2, 8, requires_grad=True), torch.randn(2, 8, requires_grad=True)
    distillation_loss(s, t, torch.tensor([1, 2])).backward()
    assert s.grad is not None and t.grad is None


def test_kd_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch, classes"):
        distillation_loss(torch.randn(2, 8), torch.randn(2, 7), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="gamma"):
        distillation_loss(STUDENT, TEACHER, TARGET, gamma=1.5)
