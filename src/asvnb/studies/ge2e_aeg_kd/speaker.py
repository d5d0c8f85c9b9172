"""Speaker verification with the models' pooled embedding: does GE2E pre-training learn speakers?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from asvnb import metrics
from asvnb.results import bootstrap_ci
from asvnb.studies.ge2e_aeg_kd.settings import GE2EAEGKDConfig


@torch.no_grad()
def embed_all(model: nn.Module, waveforms: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """Pooled embeddings (N, D) of a waveform batch, the model in eval mode (its mode restored after)."""
    was = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        return torch.cat(
            [
                model.embed(waveforms[i : i + batch_size].to(device)).cpu()
                for i in range(0, len(waveforms), batch_size)
            ]
        )
    finally:
        model.train(was)


def pair_scores(
    cos: np.ndarray, speakers: np.ndarray, idx: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(same-speaker, different-speaker) cosines of every pair of two distinct utterances among ``idx``.

    ``idx`` may repeat an utterance (a bootstrap resample): pairs of an
    utterance with itself are left out.
    """
    idx = np.arange(len(speakers)) if idx is None else np.asarray(idx)
    i, j = np.triu_indices(len(idx), 1)
    a, b = idx[i], idx[j]
    a, b = a[a != b], b[a != b]
    same = speakers[a] == speakers[b]
    return cos[a, b][same], cos[a, b][~same]


def embedding_pairs(emb: torch.Tensor, speakers: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cosines of every pair of embeddings and the speakers as an array: :func:`pair_scores`' inputs."""
    e = F.normalize(emb.double(), dim=-1)
    return (e @ e.T).numpy(), np.asarray(speakers, dtype=object)


@dataclass
class SpeakerEER:
    """Speaker-verification EER of an embedding on held-out bona fide utterances, every pair a trial."""

    eer: float
    ci95: tuple[float, float]
    threshold: float
    target: np.ndarray  # cosines of same-speaker pairs
    nontarget: np.ndarray  # cosines of different-speaker pairs
    n_utts: int
    n_speakers: int


def speaker_eer_of(
    emb: torch.Tensor, speakers: Sequence[str], reps: int = 1000, seed: int = 0
) -> SpeakerEER:
    """EER of cosine scoring over all pairs of the embeddings; its 95 % interval resamples utterances.

    Pairs share utterances, so resampling pairs would understate the spread:
    each bootstrap draws utterances with replacement and rebuilds the pairs.
    """
    cos, spk = embedding_pairs(emb, speakers)
    target, nontarget = pair_scores(cos, spk)
    if not len(target) or not len(nontarget):
        raise ValueError(
            "speaker-verification EER needs two speakers and two utterances of one speaker"
        )
    value, thr = metrics.eer(target, nontarget)

    def stat(idx: np.ndarray) -> float:
        t, n = pair_scores(cos, spk, idx)
        return metrics.eer(t, n)[0] if len(t) and len(n) else value

    ci = bootstrap_ci(stat, len(spk), reps=reps, seed=seed)
    return SpeakerEER(value, ci, thr, target, nontarget, len(spk), len(set(speakers)))


def speaker_eer(
    cfg: GE2EAEGKDConfig, model: nn.Module, sv: tuple[torch.Tensor, list[str]], seed: int = 0
) -> SpeakerEER:
    """Speaker-verification EER of ``model.embed`` on the held-out bona fide set ``sv``."""
    return speaker_eer_of(
        embed_all(model, sv[0], cfg.batch_size), sv[1], reps=cfg.bootstrap, seed=seed
    )
