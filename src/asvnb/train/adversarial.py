"""Adversarial example generation (AEG) of the study 03 source: the basic iterative method of its Algorithm 1.

Reading of Algorithm 1 (Kurakin et al.'s BIM applied to a speaker embedding):

- Inputs are two bona fide utterances W1, W2 of one speaker. X1 = embed(W1) is
  fixed; the perturbation D (zeros, the length of W2) is updated ``iters`` times
  by a signed-gradient step of size ``alpha`` on s = cos(X1, embed(W2 + D)).
- Direction: line 6 writes D + alpha sign(grad s), which would raise s, yet the
  text keeps only samples whose s falls below the threshold. The aim is a
  dissimilar example, so the step here descends s: D - alpha sign(grad s).
- Keep rule: line 10 returns NULL when s <= threshold, the text keeps an
  example "with s smaller than threshold". The text wins: kept iff s <= threshold.
- Scale of alpha: 3.0 makes sense only in int16 sample units (3 / 32768 of full
  scale, about -81 dBFS per step, the "tiny perturbation" of the text); on float
  audio in [-1, 1] a step of 3.0 would replace the signal. ``alpha`` and ``eps``
  are therefore in int16 units and scaled by ``full_scale / 32768`` (``full_scale``
  1.0 for float waveforms, 32768 for int16-valued ones).
- clip: the algorithm names no bound. BIM clips D to [-eps, eps] and the signal to
  its valid range; the default eps = alpha * iters (15 int16 units) is the
  distance the iterations can reach anyway, so by default only the range clip
  binds. Pass a smaller ``eps`` for a tighter ball.

Static AEG calls ``generate_adversarial`` once with the GE2E pre-trained model
before fine-tuning; active AEG calls it before every epoch with the current
model (a different ``seed`` per epoch draws different W1 partners). Kept samples
carry the adversarial class (index 7 of ``asvnb.models.resnetse.CLASSES``), the
one name this module takes from ``models``. :func:`save_adversarial` and
:func:`load_adversarial` keep a set on disk; :class:`FineTuneSet` trains on CM
utterances and the current adversarial examples together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from asvnb.audio import INT16_FULL_SCALE
from asvnb.data.asvspoof import CMDataset
from asvnb.files import atomic_path
from asvnb.models.resnetse import ADVERSARIAL_CLASS


def bim_attack(
    embed_fn: Callable[[torch.Tensor], torch.Tensor],
    waveform: torch.Tensor,
    reference: torch.Tensor,
    *,
    alpha: float = 3.0,
    iters: int = 5,
    eps: float | None = None,
    full_scale: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Algorithm 1 on a batch: perturb ``waveform`` (W2) so its embedding turns away from ``reference`` (W1).

    ``waveform`` and ``reference`` are (B, samples) batches (their lengths may
    differ); ``embed_fn`` must embed each sample independently (a model in eval
    mode). Returns the adversarial waveforms and their final cosine similarity to
    the reference embeddings, shape (B,). ``alpha`` and ``eps`` are in int16 units.
    """
    if waveform.dim() != 2 or reference.dim() != 2 or waveform.shape[0] != reference.shape[0]:
        raise ValueError(
            f"waveform and reference must be (batch, samples) with one batch size, got "
            f"{tuple(waveform.shape)} and {tuple(reference.shape)}"
        )
    if iters < 0 or alpha < 0 or (eps is not None and eps < 0):
        raise ValueError(
            f"need iters >= 0, alpha >= 0, eps >= 0; got iters={iters}, alpha={alpha}, eps={eps}"
        )
    unit = full_scale / INT16_FULL_SCALE
    step, bound = alpha * unit, (alpha * iters if eps is None else eps) * unit
    waveform = waveform.detach()
    with torch.no_grad():
        x1 = embed_fn(reference)
    delta = torch.zeros_like(waveform)
    for _ in range(iters):
        delta.requires_grad_(True)
        s = F.cosine_similarity(x1, embed_fn(waveform + delta), dim=-1)
        # the gradient of the summed similarities is per sample, since samples do not interact
        (grad,) = torch.autograd.grad(s.sum(), delta)
        delta = (delta.detach() - step * grad.sign()).clamp(-bound, bound)
        delta = (waveform + delta).clamp(-full_scale, full_scale) - waveform
    adv = waveform + delta
    with torch.no_grad():
        s = F.cosine_similarity(x1, embed_fn(adv), dim=-1)
    return adv, s


def perturbation_snr_db(clean: torch.Tensor, adversarial: torch.Tensor) -> torch.Tensor:
    """Signal-to-perturbation ratio per example, dB: 10 log10(sum clean^2 / sum (adversarial - clean)^2).

    (N, samples) batches; +inf where nothing was changed. With alpha and eps in
    int16 units this is how "tiny" Algorithm 1's perturbation is on a given signal.
    """
    if clean.shape != adversarial.shape:
        raise ValueError(
            f"clean and adversarial batches differ in shape: {tuple(clean.shape)} and "
            f"{tuple(adversarial.shape)}"
        )
    signal = clean.double().pow(2).sum(dim=-1)
    noise = (adversarial.double() - clean.double()).pow(2).sum(dim=-1)
    return (10 * torch.log10(signal / noise)).float()


@dataclass
class AdversarialSet:
    """Kept adversarial examples: waveforms (K, samples), labels (K,) = 7, their similarity and origins."""

    waveforms: torch.Tensor
    labels: torch.Tensor
    cos_sim: torch.Tensor
    source_index: torch.Tensor  # index of W2 (the perturbed utterance) in the input
    reference_index: torch.Tensor  # index of W1 (its same-speaker partner)
    n_tried: int

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> AdversarialSet:
        """The examples at ``index`` (the number tried is kept: it counts the attack, not the set)."""
        return AdversarialSet(
            self.waveforms[index],
            self.labels[index],
            self.cos_sim[index],
            self.source_index[index],
            self.reference_index[index],
            self.n_tried,
        )


def save_adversarial(adv: AdversarialSet, path: str | Path) -> None:
    """Write an adversarial set to ``path`` (torch format), whole or not at all."""
    with atomic_path(path) as tmp:
        torch.save(asdict(adv), tmp)


def load_adversarial(path: str | Path) -> AdversarialSet:
    """An adversarial set written by :func:`save_adversarial`."""
    return AdversarialSet(**torch.load(path))


def same_speaker_partners(speakers: Sequence[str], seed: int = 0) -> np.ndarray:
    """For each utterance, a random other utterance of the same speaker (W1 of Algorithm 1)."""
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[int]] = {}
    for i, spk in enumerate(speakers):
        by_speaker.setdefault(spk, []).append(i)
    single = sorted(s for s, idx in by_speaker.items() if len(idx) < 2)
    if single:
        raise ValueError(
            f"Algorithm 1 pairs two utterances of one speaker; these speakers have only one: "
            f"{', '.join(single)}"
        )
    partners = np.empty(len(speakers), dtype=np.int64)
    for idx in by_speaker.values():
        for i in idx:
            others = [j for j in idx if j != i]
            partners[i] = others[rng.integers(len(others))]
    return partners


def generate_adversarial(
    model: nn.Module,
    waveforms: torch.Tensor,
    speakers: Sequence[str],
    *,
    alpha: float = 3.0,
    iters: int = 5,
    threshold: float = 0.4,
    eps: float | None = None,
    full_scale: float = 1.0,
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = False,
) -> AdversarialSet:
    """Run BIM on every bona fide waveform (N, samples) against a same-speaker partner; keep those with cos <= threshold.

    ``model`` needs an ``embed`` method (``ResNetSE``) or is itself the embedding
    function; it runs in eval mode during the attack and gets its mode back after.
    """
    if waveforms.dim() != 2 or waveforms.shape[0] == 0:
        raise ValueError(
            f"waveforms must be a non-empty (N, samples) batch, got {tuple(waveforms.shape)}"
        )
    if len(speakers) != waveforms.shape[0]:
        raise ValueError(f"{len(speakers)} speaker labels for {waveforms.shape[0]} waveforms")
    partners = torch.from_numpy(same_speaker_partners(speakers, seed))
    embed_fn = getattr(model, "embed", model)
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    advs, sims = [], []
    try:
        starts = range(0, waveforms.shape[0], batch_size)
        for start in tqdm(starts, desc="BIM", disable=not progress):
            sl = slice(start, start + batch_size)
            adv, s = bim_attack(
                embed_fn,
                waveforms[sl].to(device),
                waveforms[partners[sl]].to(device),
                alpha=alpha,
                iters=iters,
                eps=eps,
                full_scale=full_scale,
            )
            advs.append(adv.cpu())
            sims.append(s.cpu())
    finally:
        model.train(was_training)
    adv_all, sim_all = torch.cat(advs), torch.cat(sims)
    keep = torch.nonzero(sim_all <= threshold).flatten()
    return AdversarialSet(
        waveforms=adv_all[keep],
        labels=torch.full((len(keep),), ADVERSARIAL_CLASS),
        cos_sim=sim_all[keep],
        source_index=keep,
        reference_index=partners[keep],
        n_tried=waveforms.shape[0],
    )


class FineTuneSet(Dataset):
    """CM training utterances with their class labels plus the current adversarial examples (class 7), augmented.

    The adversarial part can be replaced between epochs (active AEG); items are
    ``(waveform, label, id)`` as :class:`asvnb.data.asvspoof.CMDataset` gives
    them, the adversarial ones after the CM ones, their augmentation drawn from
    ``(seed, epoch, index)``.
    """

    def __init__(
        self,
        base: CMDataset,
        adversarial: AdversarialSet | None = None,
        augment: Callable[..., Any] | None = None,
        seed: int = 0,
    ):
        self.base, self.augment, self.seed, self.epoch = base, augment, seed, 0
        self.adversarial = adversarial

    def set_adversarial(self, adversarial: AdversarialSet | None) -> None:
        """Replace the adversarial examples (active AEG does this before every epoch)."""
        self.adversarial = adversarial

    def set_epoch(self, epoch: int) -> None:
        """New random crops and augmentations for epoch ``epoch`` (0 for the first)."""
        self.epoch = epoch
        self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base) + (len(self.adversarial) if self.adversarial is not None else 0)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str]:
        if index < len(self.base):
            return self.base[index]
        k = index - len(self.base)
        wav = self.adversarial.waveforms[k]
        if self.augment is not None:
            wav = self.augment(
                wav.numpy(), rng=np.random.default_rng((self.seed, self.epoch, index))
            )
            wav = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
        return wav, ADVERSARIAL_CLASS, f"adv{k}"
