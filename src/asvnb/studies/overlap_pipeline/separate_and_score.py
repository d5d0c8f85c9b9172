"""Study 02's separation-and-scoring pipeline: separate two-speaker mixtures once (a stream cache), score both streams
with the detector, match streams to sources, label the mixture; the permutation-invariant loss of fine-tuning.

A separator is frozen in the source's study, so its two output streams of a
mixture never change: they are computed once, in batches, and kept on disk
(:class:`StreamCache`, one ``.npy`` per mixture, keyed by the separator and the
mixture's recipe, written atomically, so an interrupted run keeps what it has
and a later run or epoch reuses it). Detection then runs over the cached
streams. The source instead separated every mixture again in every epoch, one
at a time.

Matching streams to the mixture's two sources decides which label each stream
is scored against. The book matches **without the labels**: the permutation
with the higher total SI-SNR between the streams and the reference sources
(rebuilt from the mixture plan's delays and gains), as separation itself is
scored. The source instead matched at evaluation by the permutation with the
lower ``sum |P(spoof) - label|``, which uses the answer: with random scores it
gives a stream EER well below 50 %. It is kept as ``matching="labels"`` to show
how much it flatters. Fine-tuning and validation keep the source's
permutation-invariant cross entropy (``pit_loss``), a training loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from asvnb import metrics
from asvnb.config import stable_hash
from asvnb.data.mixtures import LABELS, Mixture, MixtureSet
from asvnb.files import atomic_path
from asvnb.models import wavlm
from asvnb.models.separation import SR, Separator, si_snr
from asvnb.provenance import code_key, module_of

# --------------------------------------------------------------------------- stream cache


class StreamCache:
    """Streams of one separator: ``root/<separator>-<hash>/<mixture stem>-<recipe hash>.npy``, (2, T) float16.

    A cache, not a run: its folder keeps the 12 hex digits of the first builds
    (not :func:`asvnb.files.run_key`'s 10). The key covers the separator's
    description and the code that mixes and separates (this module, which imports
    the mixture generator, and the separator's module).
    """

    def __init__(self, root: str | Path, separator: Separator):
        self.separator = separator
        key = {"separator": separator.describe(), "code": code_key(__name__, module_of(separator))}
        self.dir = Path(root) / f"{separator.name.replace('@', '_')}-{stable_hash(key)[:12]}"

    def path(self, m: Mixture) -> Path:
        """Cache file of one mixture (its name and recipe: the same name with another delay or gain is another file)."""
        return self.dir / f"{Path(m.mixed_file).stem}-{stable_hash(asdict(m))[:10]}.npy"

    def has(self, m: Mixture) -> bool:
        """True when the streams of ``m`` are on disk."""
        return self.path(m).is_file()

    def load(self, m: Mixture) -> np.ndarray:
        """The (2, T) float32 streams of ``m``."""
        p = self.path(m)
        try:
            s = np.load(p)
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"{p}: unreadable stream cache file ({exc}); delete it to recompute"
            ) from exc
        if s.ndim != 2 or s.shape[0] != 2:
            raise ValueError(
                f"{p}: expected streams of shape (2, T), found {s.shape}; delete it to recompute"
            )
        return s.astype(np.float32)

    def length(self, m: Mixture) -> int:
        """Samples per stream of ``m``, read from the file header only."""
        return int(np.load(self.path(m), mmap_mode="r").shape[1])

    def save(self, m: Mixture, streams: np.ndarray) -> Path:
        """Write atomically (float16: half the disk, ~-66 dB quantisation noise on peak-normalised streams)."""
        p = self.path(m)
        with atomic_path(p) as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(streams, dtype=np.float16))
        return p


def ensure_streams(
    separator: Separator,
    ms: MixtureSet,
    cache: StreamCache,
    batch_size: int = 8,
    progress: bool = False,
) -> int:
    """Separate every mixture of ``ms`` whose streams are not cached, in batches of similar length; returns how many."""
    todo = [i for i, m in enumerate(ms.mixtures) if not cache.has(m)]
    if not todo:
        return 0
    mixes = {i: ms.load(i, sr=SR) for i in todo}
    todo.sort(key=lambda i: len(mixes[i]))  # similar lengths share a batch: little padding
    for s in tqdm(
        range(0, len(todo), batch_size),
        desc=f"separating ({separator.name})",
        disable=not progress,
        leave=False,
    ):
        idx = todo[s : s + batch_size]
        srcs = [ms.sources(i, sr=SR) for i in idx] if separator.needs_sources else None
        for i, streams in zip(idx, separator.separate([mixes[i] for i in idx], srcs)):
            cache.save(ms.mixtures[i], streams)
    return len(todo)


# --------------------------------------------------------------------------- matching and metrics


def pit_match(p_spoof: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per mixture, 0 when streams (1, 2) match labels (1, 2), 1 when swapped: lower ``sum |p - label|`` (ties: 0)."""
    p, y = np.asarray(p_spoof, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if p.shape != y.shape or p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"p_spoof {p.shape} and labels {y.shape} must both be (N, 2)")
    e_same = np.abs(p - y).sum(1)
    e_swap = np.abs(p[:, ::-1] - y).sum(1)
    return (e_swap < e_same).astype(int)


def source_match(streams: np.ndarray, sources: np.ndarray) -> int:
    """0 when streams (1, 2) belong to sources (1, 2), 1 when swapped: the higher total SI-SNR (ties: 0)."""
    n = min(streams.shape[1], sources.shape[1])
    st, src = streams[:, :n].astype(np.float64), sources[:, :n].astype(np.float64)
    same = si_snr(st[0], src[0]) + si_snr(st[1], src[1])
    swap = si_snr(st[0], src[1]) + si_snr(st[1], src[0])
    return int(swap > same)


def source_matches(ms: MixtureSet, cache: StreamCache) -> np.ndarray:
    """:func:`source_match` of every mixture's cached streams against its rebuilt reference sources."""
    return np.array(
        [source_match(cache.load(m), ms.sources(i, sr=SR)) for i, m in enumerate(ms.mixtures)],
        dtype=int,
    )


def mixture_label(spoof_pred: Sequence[int]) -> str:
    """SS / SB / BB of two stream predictions (1 = spoof); order does not matter."""
    n = int(np.sum(spoof_pred))
    return ("BB", "SB", "SS")[n]


@dataclass
class PipelineResult:
    """Per-mixture and per-stream outputs of the pipeline on a mixture set, after PIT matching."""

    mixed_true: list[str]
    mixed_pred: list[str]
    stream_labels: np.ndarray  # (N, 2) 1 = spoof, in metadata order
    stream_logits: np.ndarray  # (N, 2, 2) matched to stream_labels

    @property
    def p_spoof(self) -> np.ndarray:
        """(N, 2) P(spoof) of the matched streams."""
        return wavlm.spoof_probability(self.stream_logits)

    @property
    def scores(self) -> np.ndarray:
        """(N, 2) CM scores (higher = bona fide) of the matched streams."""
        return wavlm.cm_scores(self.stream_logits)

    def mixture_report(self) -> dict:
        """3-class SS/SB/BB report (per-class P/R/F1, weighted avg, accuracy, confusion matrix)."""
        return metrics.multiclass_report(self.mixed_true, self.mixed_pred, labels=LABELS)

    def stream_report(self) -> dict:
        """Stream-level binary metrics as the source computed them (positive = spoof), plus EER and its threshold."""
        y = self.stream_labels.reshape(-1)
        pred = (self.p_spoof.reshape(-1) > 0.5).astype(
            int
        )  # the source: 'spoof' if probs[1] > probs[0]
        rep = metrics.classification_report(y, pred, positive=1, labels=[0, 1])
        s = self.scores.reshape(-1)
        if (y == 0).any() and (y == 1).any():
            e, thr = metrics.eer(s[y == 0], s[y == 1])
            rep.update(eer=e, eer_threshold=thr, eer_threshold_p_spoof=float(1 / (1 + np.exp(thr))))
        else:
            rep.update(
                eer=float("nan"), eer_threshold=float("nan"), eer_threshold_p_spoof=float("nan")
            )
        return rep


MATCHINGS = ("sources", "labels")


def stream_logits(
    ms: MixtureSet,
    cache: StreamCache,
    fe: Any,
    model: nn.Module,
    batch_size: int = 16,
    max_samples: int | None = None,
) -> np.ndarray:
    """(N, 2 streams, 2 classes) detector logits of both cached streams of every mixture, in stream order."""
    lengths = [cache.length(m) for m in ms.mixtures for _ in range(2)]
    flat = wavlm.LazyWaves(lambda k: cache.load(ms.mixtures[k // 2])[k % 2], lengths)
    return wavlm.predict_logits(
        fe, model, flat, batch_size=batch_size, max_samples=max_samples
    ).reshape(-1, 2, 2)


def assemble(
    ms: MixtureSet,
    logits: np.ndarray,
    matching: str = "sources",
    source_swap: np.ndarray | None = None,
) -> PipelineResult:
    """Label each mixture from its two stream predictions and match streams to labels by ``matching``.

    ``"sources"`` uses ``source_swap`` (from :func:`source_matches`), which never
    sees the labels; ``"labels"`` is the source's matching by ``sum |P(spoof) - label|``.
    """
    if matching not in MATCHINGS:
        raise ValueError(f"unknown matching {matching!r}; valid: {', '.join(MATCHINGS)}")
    labels = np.array([m.labels for m in ms.mixtures])
    p = wavlm.spoof_probability(logits)
    if matching == "labels":
        swap = pit_match(p, labels)
    elif source_swap is None or len(source_swap) != len(labels):
        raise ValueError("matching='sources' needs source_swap for every mixture (source_matches)")
    else:
        swap = np.asarray(source_swap, dtype=int)
    matched = np.where(swap[:, None, None] == 1, logits[:, ::-1], logits)
    preds = (p > 0.5).astype(int)
    return PipelineResult(
        [m.mixed_label for m in ms.mixtures], [mixture_label(pr) for pr in preds], labels, matched
    )


def run_pipeline(
    ms: MixtureSet, cache: StreamCache, logits: np.ndarray, matching: str = "sources"
) -> PipelineResult:
    """The pipeline's last steps on the detector's logits of both cached streams of every mixture
    (:func:`stream_logits`): match streams to sources (by SI-SNR against ``cache``), label the mixture."""
    return assemble(
        ms, logits, matching, source_matches(ms, cache) if matching == "sources" else None
    )


def random_control(
    ms: MixtureSet, matching: str, source_swap: np.ndarray | None = None, seed: int = 0
) -> PipelineResult:
    """The pipeline with random logits: what a matching gives a detector that knows nothing (EER 0.5 if fair)."""
    logits = np.random.default_rng(seed).standard_normal((len(ms), 2, 2)).astype(np.float32)
    return assemble(ms, logits, matching, source_swap)


# --------------------------------------------------------------------------- fine-tuning on cached streams


class StreamPairs(torch.utils.data.Dataset):
    """``(streams (2, T), labels (2,))`` of each mixture, read from the stream cache (never from the separator)."""

    def __init__(self, ms: MixtureSet, cache: StreamCache, max_samples: int | None = None):
        missing = [m.mixed_file for m in ms.mixtures if not cache.has(m)]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} mixtures of {ms.root} have no cached streams in {cache.dir} "
                f"(first: {missing[0]}); run ensure_streams first"
            )
        self.ms, self.cache, self.max_samples = ms, cache, max_samples

    def __len__(self) -> int:
        return len(self.ms)

    def __getitem__(self, i: int) -> tuple[np.ndarray, tuple[int, int]]:
        s = self.cache.load(self.ms.mixtures[i])
        return (s[:, : self.max_samples] if self.max_samples else s), self.ms.mixtures[i].labels


def make_pair_collate(fe: Any) -> Callable[[list], dict]:
    """Collate mixtures into feature-extractor inputs of their 2B streams and (B, 2) labels."""

    def collate(items: list) -> dict:
        inputs = wavlm.featurize(fe, [s for st, _ in items for s in st])
        inputs["pair_labels"] = torch.tensor([y for _, y in items], dtype=torch.long)
        return inputs

    return collate


def _pair_logits(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    inputs = {k: v for k, v in batch.items() if k != "pair_labels"}
    return model(**inputs).logits.view(-1, 2, 2)


def pit_ce(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per mixture, the cross entropy (mean over its two streams) under the better permutation, and that permutation."""

    def ce(y: torch.Tensor) -> torch.Tensor:
        return (
            F.cross_entropy(logits.reshape(-1, 2), y.reshape(-1), reduction="none")
            .view(-1, 2)
            .mean(1)
        )

    both = torch.stack([ce(labels), ce(labels.flip(1))], dim=1)  # (B, 2 permutations)
    best, perm = both.min(dim=1)  # ties keep the identity, as the source's strict '<'
    return best, perm


def pit_loss(
    model: nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, float]]:
    """Permutation-invariant cross entropy over the two streams of each mixture (the source's training loss)."""
    logits, labels = _pair_logits(model, batch), batch["pair_labels"]
    best, perm = pit_ce(logits, labels)
    matched = torch.where(perm[:, None] == 1, labels.flip(1), labels)
    acc = float((logits.argmax(-1) == matched).float().mean())
    return best.mean(), {"acc": acc}


def pit_evaluate(model: nn.Module, loader: Any) -> dict[str, float]:
    """Validation over the whole set: PIT loss per stream and stream accuracy under the chosen permutation."""
    total, correct, n = 0.0, 0, 0
    for batch in loader:
        logits, labels = _pair_logits(model, batch), batch["pair_labels"]
        best, perm = pit_ce(logits.float(), labels)
        matched = torch.where(perm[:, None] == 1, labels.flip(1), labels)
        total += float(best.sum())
        correct += int((logits.argmax(-1) == matched).sum())
        n += labels.shape[0]
    return {"val_loss": total / max(n, 1), "val_acc": correct / max(2 * n, 1)}
