"""Losses of the study 03 source: GE2E pre-training (Wan et al., 2018) and knowledge distillation (Hinton et al., 2015)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class GE2ELoss(nn.Module):
    """Generalised end-to-end loss, softmax variant, on embeddings shaped (N speakers, M utterances, D).

    S[j, i, k] = w cos(e_ji, c_k) + b, where c_k is the mean of speaker k's
    utterances, except that for k = j the centroid leaves e_ji out
    (c_j^(-i) = (M c_j - e_ji) / (M - 1)), as in Wan et al. (2018) eq. 8 and the
    text of the study 03 source ("except the query itself"; its eq. 1, which sums over all
    M, contradicts that text). The loss of one utterance is
    -S[j, i, j] + log sum_k exp S[j, i, k]; this returns the mean over the N M
    utterances (Wan et al. sum), so the scale does not grow with the batch. w and b
    are learnt from 10 and -5 (Wan et al.'s initial values). w is used clamped at
    1e-6, so the scale stays positive as Wan et al. require (w > 0) even if the
    optimiser pushes it below. voxceleb_trainer's GE2E (``loss/ge2e.py``) calls
    ``torch.clamp(self.w, 1e-6)`` but discards the result, so its w is not clamped;
    it clamps the cosines at 1e-6 instead, which this loss does not (a negative
    cosine stays negative here).
    """

    def __init__(self, init_w: float = 10.0, init_b: float = -5.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(float(init_w)))
        self.b = nn.Parameter(torch.tensor(float(init_b)))

    def similarity(self, emb: torch.Tensor) -> torch.Tensor:
        """Scaled cosine similarity matrix (N, M, N) of utterances against speaker centroids."""
        if emb.dim() != 3:
            raise ValueError(
                f"GE2E expects embeddings of shape (speakers, utterances, dim), got {tuple(emb.shape)}"
            )
        n, m, _ = emb.shape
        if n < 2 or m < 2:
            raise ValueError(
                f"GE2E needs at least 2 speakers and 2 utterances each, got N={n}, M={m}"
            )
        centroids = emb.mean(dim=1)  # (N, D)
        own = (emb.sum(dim=1, keepdim=True) - emb) / (m - 1)  # (N, M, D), query left out
        cos_all = F.cosine_similarity(emb.unsqueeze(2), centroids[None, None], dim=-1)  # (N, M, N)
        cos_own = F.cosine_similarity(emb, own, dim=-1)  # (N, M)
        is_own = torch.eye(n, dtype=torch.bool, device=emb.device)[:, None, :]
        cos = torch.where(is_own, cos_own.unsqueeze(-1), cos_all)
        return torch.clamp(self.w, min=1e-6) * cos + self.b

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        """Mean GE2E softmax loss of a (N, M, D) batch."""
        sim = self.similarity(emb)
        n, m, _ = sim.shape
        target = torch.arange(n, device=emb.device).repeat_interleave(m)
        return F.cross_entropy(sim.reshape(n * m, n), target)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    gamma: float = 0.5,
    T: float = 5.0,
) -> torch.Tensor:
    """gamma T^2 KL(softmax(O_t/T) || softmax(O_s/T)) + (1 - gamma) NLL(student, targets), the study 03 source eq. 4.

    Both outputs may be logits or log-probabilities (``ResNetSE.forward`` returns
    log-probabilities): log-softmax only shifts a row by a constant, and the
    softmax of (row + c) / T is the softmax of row / T, so the two give the same
    loss. The KL is averaged over the batch (``batchmean``, the true KL per
    sample); T^2 keeps its gradients on the scale of the NLL term (Hinton et al.).
    The teacher is detached: distillation trains the student only.
    """
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2:
        raise ValueError(
            f"student and teacher outputs must both be (batch, classes), got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )
    if not 0.0 <= gamma <= 1.0 or T <= 0:
        raise ValueError(f"need 0 <= gamma <= 1 and T > 0, got gamma={gamma}, T={T}")
    log_p_s = F.log_softmax(student_logits / T, dim=1)
    log_p_t = F.log_softmax(teacher_logits.detach() / T, dim=1)
    kl = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)
    nll = F.nll_loss(F.log_softmax(student_logits, dim=1), targets)
    return gamma * T * T * kl + (1.0 - gamma) * nll
