"""Samplers whose draws depend on (seed, epoch) only, so a resumed run sees what an uninterrupted one would.

The :class:`asvnb.train.Trainer` tells them the epoch (``set_epoch``, 0 for
the first) before every epoch; nothing else does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Dataset, Sampler


class GE2EBatchSampler(Sampler[list[int]]):
    """Batches of N distinct speakers x M distinct utterances each, speaker-major (rows of the GE2E matrix).

    Args:
        speakers: the speaker of every item of the dataset.
        n_speakers: N, speakers per batch (each with at least ``n_utts`` items).
        n_utts: M, utterances per speaker.
        n_batches: batches per epoch.
        seed: with the epoch, all the draws depend on.

    Yields lists of N M dataset indices, the M of one speaker together.
    """

    def __init__(
        self,
        speakers: Sequence[str],
        n_speakers: int = 7,
        n_utts: int = 10,
        n_batches: int = 1,
        seed: int = 0,
    ):
        self.by_speaker: dict[str, list[int]] = {}
        for i, s in enumerate(speakers):
            self.by_speaker.setdefault(s, []).append(i)
        self.eligible = sorted(s for s, idx in self.by_speaker.items() if len(idx) >= n_utts)
        if len(self.eligible) < n_speakers:
            raise ValueError(
                f"GE2E batches of {n_speakers} speakers x {n_utts} utterances: only "
                f"{len(self.eligible)} speakers have {n_utts} or more utterances "
                f"({len(self.by_speaker)} speakers in all)"
            )
        self.n_speakers, self.n_utts, self.n_batches = n_speakers, n_utts, n_batches
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the batches of epoch ``epoch`` (0 for the first)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng((self.seed, self.epoch))
        for _ in range(self.n_batches):
            spk = rng.choice(len(self.eligible), self.n_speakers, replace=False)
            yield [
                int(i)
                for k in spk
                for i in rng.choice(self.by_speaker[self.eligible[k]], self.n_utts, replace=False)
            ]


class EpochSampler(Sampler[int]):
    """A shuffle of ``num_samples`` items (default: all) drawn from (seed, epoch) only.

    Written rather than ``RandomSampler`` because accelerate gives a
    ``RandomSampler`` a private generator that its checkpoints do not save, so a
    resumed run would replay the first epoch's order. The dataset's length is
    read at each epoch (a dataset may grow or shrink between epochs, as active
    AEG's does); ``num_samples`` above it repeats whole shuffles.
    """

    def __init__(self, dataset: Dataset, num_samples: int | None = None, seed: int = 0):
        self.dataset, self.num_samples, self.seed, self.epoch = dataset, num_samples, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the order of epoch ``epoch`` (0 for the first)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples or len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        rng, n = np.random.default_rng((self.seed, self.epoch)), len(self.dataset)
        order = np.concatenate([rng.permutation(n) for _ in range(-(-len(self) // n))])[: len(self)]
        return iter(order.tolist())
